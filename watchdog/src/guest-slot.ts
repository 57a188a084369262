/**
 * guest-slot runs the instance's second worker slot: a generic runtime (no function code) that the GS can
 * specialise with another function's code under a burst and release afterwards. Operations on the slot run one at a
 * time; its requests go over an HttpExecutor to the runtime while it runs.
 */
import { resolve as resolvePath } from 'node:path';
import type { WatchdogConfig } from './config.js';
import { childEnv } from './executors/executor.js';
import { HttpExecutor } from './executors/http.js';
import { log } from './logs.js';
import type { ControlReply } from './protocol.js';
import type { SlotTable } from './slots.js';
import { GuestWorker } from './workers.js';

/** GuestSlotHost is what the guest slot reads from the watchdog, and where it says that the slots changed. */
export interface GuestSlotHost {
  readonly config: WatchdogConfig;
  readonly slots: SlotTable;
  /** runtime is the Node runtime's server.js that the generic slot runs. */
  readonly runtime: string;
  /** stopping is true once the watchdog ends: a runtime that dies then is not replaced. */
  stopping(): boolean;
  /** changed re-checks the watermark after the slot began serving. */
  changed(): void;
}

/** GuestSlot owns the guest runtime process and the executor that reaches it. */
export class GuestSlot {
  private guest: GuestWorker | undefined;
  private exec: HttpExecutor | undefined;
  private busy: Promise<unknown> = Promise.resolve();

  constructor(private readonly h: GuestSlotHost) {}

  /** executor reaches the running runtime (undefined while none runs). */
  get executor(): HttpExecutor | undefined {
    return this.exec;
  }

  /** stop ends the runtime and closes its connections; it is not replaced. */
  stop(): void {
    this.guest?.stop();
    this.exec?.close();
  }

  /** start forks a generic runtime into the slot (again after it dies or is released). */
  start(): void {
    if (this.h.stopping()) return;
    const g = new GuestWorker(this.h.runtime, childEnv(), { prefix: this.h.config.prefixLogs, bufferSize: this.h.config.logBufferSize });
    this.guest = g;
    const slot = this.h.slots.guest;
    slot.state = 'down';
    slot.function = undefined;
    g.child.on('exit', (code, signal) => {
      if (this.guest !== g || this.h.stopping()) return;
      log(`Guest runtime exited (${signal ?? code}); forking a new generic runtime`);
      this.exec?.close();
      this.exec = undefined;
      setTimeout(() => this.start(), 100).unref();
    });
    g.started.then(
      (port) => {
        if (this.guest !== g) return;
        this.exec?.close();
        this.exec = new HttpExecutor({ host: '127.0.0.1', port, prefix: '' }, this.h.config);
        slot.state = 'generic';
        // Open one pooled connection now (the generic runtime answers 503) so the first guest request reuses it.
        this.exec.warm();
      },
      (err: Error) => log(`Guest runtime failed to start: ${err.message}`),
    );
  }

  /** specialise loads a function directory into the generic guest slot; it resolves once the slot serves. */
  specialise(fn: string, dir: string, env: Record<string, string> = {}, capacity?: number): Promise<ControlReply> {
    return this.serialise(async () => {
      const t0 = performance.now();
      const g = this.guest;
      const slot = this.h.slots.guest;
      if (!g) return { ok: false, error: 'this instance has no guest slot' };
      await g.started.catch(() => undefined);
      if (slot.state !== 'generic') return { ok: false, error: `guest slot is ${slot.state}${slot.function ? ` (${slot.function})` : ''}` };
      slot.state = 'specialising';
      slot.function = fn;
      if (capacity !== undefined) slot.capacity = capacity;
      try {
        await g.specialise(resolvePath(dir), env);
      } catch (err) {
        slot.function = undefined;
        slot.state = 'generic';
        if (g.child.exitCode !== null || g.child.signalCode !== null) slot.state = 'down';
        return { ok: false, error: (err as Error).message, ms: performance.now() - t0 };
      }
      slot.state = 'serving';
      this.h.changed();
      return { ok: true, ms: performance.now() - t0 };
    });
  }

  /** release stops admitting to the guest slot, waits for its requests, and replaces it with a fresh generic runtime. */
  release(): Promise<ControlReply> {
    return this.serialise(async () => {
      const t0 = performance.now();
      const slot = this.h.slots.guest;
      const g = this.guest;
      if (!g) return { ok: false, error: 'this instance has no guest slot' };
      if (slot.state === 'generic') return { ok: true, ms: 0 };
      slot.state = 'releasing';
      const deadline = Date.now() + this.h.config.writeTimeoutMs;
      while (slot.inflight > 0 && Date.now() < deadline) await sleep(5);
      this.guest = undefined;
      const exited = new Promise((r) => (g.child.exitCode !== null || g.child.signalCode !== null ? r(null) : g.child.once('exit', r)));
      g.stop();
      await exited;
      this.exec?.close();
      this.exec = undefined;
      this.start();
      await this.guest!.started.catch(() => undefined);
      await sleep(0);
      return { ok: true, ms: performance.now() - t0 };
    });
  }

  private serialise(op: () => Promise<ControlReply>): Promise<ControlReply> {
    const run = this.busy.then(op, op);
    this.busy = run.catch(() => undefined);
    return run;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
