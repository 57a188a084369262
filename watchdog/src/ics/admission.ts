import type { Watermark } from '../protocol.js';

/** AdmissionInput is everything the ICS knows when a request arrives. */
export interface AdmissionInput {
  /** queueing is hyperfaas_overflow=queue: what the slot cannot take is bounced or parked, not refused at once. */
  queueing: boolean;
  /** serving: the slot serves its function (not generic, loading or down). */
  serving: boolean;
  /** full: the slot is at its concurrency limit. */
  full: boolean;
  watermark: Watermark;
  /** bounces: how many times this request was already bounced (x-hyperfaas-bounces). */
  bounces: number;
  maxBounces: number;
  /**
   * canBounce: NATS is up and the body is small enough for one NATS message. A function is asked only when a
   * bounce is considered, so the common path never computes it.
   */
  canBounce: boolean | (() => boolean);
  /** queueLength is how many requests already wait for this slot. */
  queueLength: number;
  maxQueue: number;
}

/**
 * Admission is what the ICS does with the request: run it now, bounce it to the GS, park it in the slot's queue,
 * refuse it with 429 (full), or answer 503 (the slot does not serve).
 */
export type Admission = 'run' | 'bounce' | 'queue' | 'reject' | 'unavailable';

/**
 * admit is the ICS's whole admission decision. A request runs here when its slot has room, nobody waits before it
 * and the container is below its high watermark (over it, a request that may still bounce goes to the GS first).
 * Otherwise it is bounced to the GS, at most maxBounces times in its life, so a request cannot ping-pong between
 * full instances (each bounce costs a NATS round trip and a hop). After that, or with NATS down or a body too large
 * for NATS, it waits here in a FIFO queue for a slot. Only a full queue rejects (429). Without queueing, or for a
 * slot that does not serve, the answer is of-watchdog's: run when there is room, else 429 when full, else 503.
 *
 * Example: maxBounces=2. A request arrives fresh at a full instance: bounce (1). The GS places it on a second
 * instance that filled up meanwhile: bounce (2). A third full instance keeps it: queue.
 */
export function admit(i: AdmissionInput): Admission {
  const free = i.serving && !i.full;
  if (!i.queueing || !i.serving) return free ? 'run' : i.full ? 'reject' : 'unavailable';
  const mayBounce = (): boolean => i.bounces < i.maxBounces && (typeof i.canBounce === 'function' ? i.canBounce() : i.canBounce);
  if (free && i.queueLength === 0 && !(i.watermark === 'high' && mayBounce())) return 'run';
  if (mayBounce()) return 'bounce';
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
