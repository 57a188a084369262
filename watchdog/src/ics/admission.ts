import type { Watermark } from '../protocol.js';

/** AdmissionInput is everything the ICS knows when a request arrives. */
export interface AdmissionInput {
  /** slotFree: the target slot is serving and below its concurrency limit. */
  slotFree: boolean;
  watermark: Watermark;
  /** bounces: how many times this request was already bounced (x-hyperfaas-bounces). */
  bounces: number;
  maxBounces: number;
  /** canBounce: NATS is up and the body is small enough for one NATS message. */
  canBounce: boolean;
  queueLength: number;
  maxQueue: number;
}

/** Admission is what the ICS does with the request. */
export type Admission = 'run' | 'bounce' | 'queue' | 'reject';

/**
 * admit is the ICS's admission policy (DESIGN.md, bounce-back). A request runs here when its slot has room and the
 * container is below its high watermark. Otherwise it is bounced to the GS, at most maxBounces times in its life,
 * so a request cannot ping-pong between full instances (a retry storm, performance.md §5.5). After that, or with
 * NATS down or a body too large for NATS, it waits here in a FIFO queue for a slot. Only a full queue rejects (429).
 *
 * Example: maxBounces=2. A request arrives fresh at a full instance: bounce (1). The GS places it on a second
 * instance that filled up meanwhile: bounce (2). A third full instance keeps it: queue.
 */
export function admit(i: AdmissionInput): Admission {
  if (i.slotFree && i.watermark !== 'high') return 'run';
  if (i.canBounce && i.bounces < i.maxBounces) return 'bounce';
  if (i.queueLength < i.maxQueue) return 'queue';
  return 'reject';
}

/**
 * WaitQueue parks requests until a slot frees up: wake() resolves the oldest waiter with true; a waiter whose timeout
 * passes or whose signal aborts resolves false and leaves the queue.
 */
export class WaitQueue {
  private readonly waiters: ((ok: boolean) => void)[] = [];

  /** length is how many requests wait. */
  get length(): number {
    return this.waiters.length;
  }

  /** wait parks until woken (true), timeoutMs passes or signal aborts (false). */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (ok: boolean) => {
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(ok);
      };
      const onAbort = () => done(false);
      if (signal?.aborted) return resolve(false);
      signal?.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(() => done(false), timeoutMs);
      this.waiters.push(done);
    });
  }

  /** wake hands the freed slot to the oldest waiter; returns false when nobody waits. */
  wake(): boolean {
    const w = this.waiters[0];
    if (!w) return false;
    w(true);
    return true;
  }
}
