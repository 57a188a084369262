/**
 * global-scheduler is the GS: it keeps the live view of instances attached to the backend, leases instances through
 * the placement policy and counts demand. view.ts holds what exists, placement.ts picks one, demand.ts counts;
 * everything outside gs/ reaches them through this class's methods. It never sets replicas: a request for a function
 * at zero waits, counted as demand, and asks the scaler (the one writer of the replica count) to look at it now.
 */
import type { Counter } from 'prom-client';
import type { FunctionBackend } from '../backends/backend.js';
import type { Instance } from '../backends/backend.js';
import type { Logger } from '../logger.js';
import { DemandTracker, type DemandFigures } from './demand.js';
import { pick, type Candidate, type Rng } from './placement.js';
import type { RerouteReason } from '../invoke/attempts.js';
import { functionKey } from '../names.js';
import { InstanceView, type ViewListener } from './view.js';

/** Lease is one request's claim on an instance; release it exactly once when the response has ended. */
export interface Lease {
  readonly instance: Instance;
  release(): void;
}

/** AcquireOptions bound a wait for a ready instance. */
export interface AcquireOptions {
  /** signal aborts the wait (the client went away). */
  signal?: AbortSignal;
  /** timeoutMs bounds the wait, cold start included; defaults to the scheduler's coldStartTimeoutMs. */
  timeoutMs?: number;
  /** exclude lists instance ids not to use (already tried for this request). */
  exclude?: ReadonlySet<string>;
}

/** SchedulerErrorKind: timeout (nothing became ready in time) or aborted (the caller gave up). */
export type SchedulerErrorKind = 'timeout' | 'aborted';

/** SchedulerError is thrown by acquire when no instance could be leased; unknown functions throw BackendError NotFound. */
export class SchedulerError extends Error {
  override readonly name = 'SchedulerError';
  constructor(
    readonly kind: SchedulerErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/**
 * SchedulerBackend is the part of the backend the GS uses: reading a function and following its instances. It leaves
 * out scale on purpose: the replica count has one writer, the scaler.
 */
export type SchedulerBackend = Pick<FunctionBackend, 'get' | 'watchInstances' | 'instances'>;

/** GlobalSchedulerOptions configure a GlobalScheduler. */
export interface GlobalSchedulerOptions {
  backend: SchedulerBackend;
  logger: Logger;
  /** rng drives the power of two choices; Math.random by default. */
  rng?: Rng;
  /** coldStartTimeoutMs is the default bound of acquire (30 s). */
  coldStartTimeoutMs?: number;
  /** reroutes counts requests offered to another instance after one refused them, by reason. */
  reroutes?: Counter<'reason'>;
  /** view is the instance view to keep (a fresh one by default); tests pass one to set up instances directly. */
  view?: InstanceView;
}


/**
 * Waker asks the scaler to decide about one function now, because a request waits for it at zero replicas; it
 * settles once the scaler has acted, and rejects with the error of a scale-up that failed.
 */
export type Waker = (namespace: string, name: string) => Promise<void>;

/** GlobalScheduler leases instances to requests and wakes functions that have none ready. */
export class GlobalScheduler {
  /** view is the live instance view, fed by the backend's watch, load reports and guest slots. */
  private readonly view: InstanceView;
  /** demand counts arrivals, lease times, waiters and bounces per function, for the scaling policies. */
  private readonly demand = new DemandTracker();
  private readonly backend: SchedulerBackend;
  private readonly logger: Logger;
  private readonly rng: Rng;
  private readonly coldStartTimeoutMs: number;
  private readonly reroutes: Counter<'reason'> | undefined;
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly waking = new Map<string, Promise<void>>();
  private waker: Waker | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(opts: GlobalSchedulerOptions) {
    this.backend = opts.backend;
    this.logger = opts.logger.child({ component: 'scheduler' });
    this.rng = opts.rng ?? Math.random;
    this.coldStartTimeoutMs = opts.coldStartTimeoutMs ?? 30_000;
    this.reroutes = opts.reroutes;
    this.view = opts.view ?? new InstanceView();
  }

  /** candidatesOf returns the live placement records of one function's instances and lent guest slots. */
  candidatesOf(namespace: string, name: string): readonly Candidate[] {
    return this.view.candidates(namespace, name);
  }

  /** instanceOf returns one instance the view holds, if any. */
  instanceOf(id: string): Instance | undefined {
    return this.view.candidate(id)?.instance;
  }

  /** demandOf reads a function's demand window ("name.namespace") at nowMs. */
  demandOf(key: string, nowMs: number): DemandFigures {
    return this.demand.figures(key, nowMs);
  }

  /** onInstanceChange calls listener after every change of the view; returns the unsubscribe function. */
  onInstanceChange(listener: ViewListener): () => void {
    return this.view.subscribe(listener);
  }

  /** setRoutable limits which of a function's own instances placement may use (a policy's choice); undefined lifts it. */
  setRoutable(namespace: string, name: string, ids: readonly string[] | undefined): void {
    this.view.setRoutable(namespace, name, ids);
  }

  /** known tells whether the view holds this instance (load reports of unknown instances are ignored). */
  known(id: string): boolean {
    return this.view.known(id);
  }

  /** setBlocked marks an instance as over its high watermark or draining: placement then avoids it. */
  setBlocked(id: string, blocked: boolean): void {
    this.view.setBlocked(id, blocked);
  }

  /** addGuest adds host's guest slot, now serving namespace/name, to that function's placement. */
  addGuest(hostId: string, namespace: string, name: string): boolean {
    return this.view.addGuest(hostId, namespace, name);
  }

  /** removeGuest takes host's lent guest slot out of placement; returns the function it served, if any. */
  removeGuest(hostId: string): { namespace: string; name: string } | undefined {
    return this.view.removeGuest(hostId);
  }

  /** bounced counts one request an instance bounced back as demand of its function. */
  bounced(namespace: string, name: string, nowMs: number): void {
    this.demand.bounce(functionKey(name, namespace), nowMs);
  }

  /** rerouted counts one request the router or invoker sends to another instance after the first refused it. */
  rerouted(reason: RerouteReason): void {
    this.reroutes?.inc({ reason });
  }

  /** setWaker connects the scaler: acquire asks it about a function at zero replicas that a request waits for. */
  setWaker(waker: Waker): void {
    this.waker = waker;
  }

  /** start attaches the view to the backend; call once before serving. */
  start(): void {
    this.unsubscribe = this.view.subscribe((ev, key) => {
      if (ev.type === 'deleted' || !ev.instance.ready) return;
      const set = this.waiters.get(key);
      if (set) for (const wake of [...set]) wake();
    });
    this.view.attach(this.backend);
  }

  /** close detaches from the backend; waiting acquires time out on their own. */
  close(): void {
    this.view.detach();
    this.unsubscribe?.();
  }

  /** tryAcquire leases a ready instance at once, or returns null when none is ready (the hot path: no promise). */
  tryAcquire(namespace: string, name: string, exclude?: ReadonlySet<string>): Lease | null {
    const p = pick(this.view.candidates(namespace, name), this.rng, exclude);
    if (!p) return null;
    const started = Date.now();
    const demand = this.demand;
    let done = false;
    return {
      instance: p.instance,
      release() {
        if (done) return;
        done = true;
        p.release();
        const now = Date.now();
        demand.served(functionKey(name, namespace), now, now - started);
      },
    };
  }

  /**
   * hasRoom tells whether a request could go somewhere useful right now: some ready, routable instance (or lent guest
   * slot) of the function, not excluded, that has not reported itself over its high watermark. The bounce responder
   * asks it so a request bounced while every other instance is full stays queued where it is instead of hopping.
   */
  hasRoom(namespace: string, name: string, exclude?: ReadonlySet<string>): boolean {
    for (const c of this.view.candidates(namespace, name)) {
      if (c.instance.ready && !c.held && !c.blocked && !exclude?.has(c.instance.id)) return true;
    }
    return false;
  }

  /**
   * lessBusyThan tells whether another ready, routable instance (or lent guest slot) of the function has a clearly
   * shorter backlog (e.g. requests queued, from its load report) than fromId: by at least `margin`, so near-equal
   * loads do not ping-pong (each bounce costs a NATS round trip and a hop). The bounce responder re-runs a request there even when every instance is over its high
   * watermark: otherwise traffic that reaches one instance directly would all queue there while others drain.
   * Instances without a fresh report are not compared.
   */
  lessBusyThan(namespace: string, name: string, fromId: string, backlog: (instanceId: string) => number | undefined, margin = 2): boolean {
    const mine = backlog(fromId);
    if (mine === undefined) return false;
    for (const c of this.view.candidates(namespace, name)) {
      const id = c.guestOf ?? c.instance.id;
      if (id === fromId || !c.instance.ready || c.held) continue;
      const theirs = backlog(id);
      if (theirs !== undefined && theirs <= mine - margin) return true;
    }
    return false;
  }

  /** arrival counts one request for a function (the router and the invoker call it once per request). */
  arrival(namespace: string, name: string): void {
    this.demand.arrival(functionKey(name, namespace), Date.now());
  }

  /**
   * acquire leases a ready instance, waiting for one when the function has none: when its desired replicas are 0 it
   * first asks the scaler to wake it (the request already counts as waiting, which is the demand the scaler's floor
   * answers). Rejects with BackendError NotFound for an unknown function, with the scaler's error when the wake
   * failed, and with SchedulerError when the wait times out or is aborted.
   */
  async acquire(namespace: string, name: string, opts: AcquireOptions = {}): Promise<Lease> {
    const now = this.tryAcquire(namespace, name, opts.exclude);
    if (now) return now;
    const timeoutMs = opts.timeoutMs ?? this.coldStartTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    const status = await this.backend.get(namespace, name); // NotFound propagates
    const fn = functionKey(name, namespace);
    this.demand.waitStart(fn);
    try {
      if (status.replicas === 0) await this.wake(namespace, name);
      for (;;) {
        const lease = this.tryAcquire(namespace, name, opts.exclude);
        if (lease) return lease;
        await this.waitForReady(functionKey(name, namespace), deadline - Date.now(), opts.signal, fn);
      }
    } finally {
      this.demand.waitEnd(fn);
    }
  }

  /** wake asks the scaler about a function at zero once, however many requests ask at the same time. */
  private wake(namespace: string, name: string): Promise<void> {
    const key = functionKey(name, namespace);
    let p = this.waking.get(key);
    if (!p) {
      if (!this.waker) {
        this.logger.warn('a request waits for a function at zero replicas, but no scaler is connected to wake it', { namespace, function: name });
        return Promise.resolve();
      }
      this.logger.info('waking from zero', { namespace, function: name });
      p = this.waker(namespace, name).finally(() => this.waking.delete(key));
      this.waking.set(key, p);
    }
    return p;
  }

  private waitForReady(key: string, remainingMs: number, signal: AbortSignal | undefined, label: string): Promise<void> {
    if (signal?.aborted) return Promise.reject(new SchedulerError('aborted', `request for ${label} was aborted`));
    if (remainingMs <= 0) return Promise.reject(new SchedulerError('timeout', `no ready instance of ${label} in time`));
    return new Promise<void>((resolve, reject) => {
      let set = this.waiters.get(key);
      if (!set) this.waiters.set(key, (set = new Set()));
      const waiting = set;
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        waiting.delete(wake);
        if (waiting.size === 0 && this.waiters.get(key) === waiting) this.waiters.delete(key);
      };
      const wake = (): void => {
        done();
        resolve();
      };
      const onAbort = (): void => {
        done();
        reject(new SchedulerError('aborted', `request for ${label} was aborted`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new SchedulerError('timeout', `no ready instance of ${label} in time`));
      }, remainingMs);
      waiting.add(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
