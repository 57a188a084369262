import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../logger.js';
import { functionKey } from '../names.js';
import { labelKeys, parseScalingLabels, wakeReplicasOf } from '../scaling/labels.js';
import type { Decision, FunctionSpec, Phase, PolicyInput, PolicyName, ScalingAction, ScalingPolicy } from '../scaling/types.js';
import type { FunctionStatus } from '../types/index.js';
import { parseCpu, parseMemory } from '../units.js';

/** Observation is the part of a PolicyInput the GS gathers for one function on one tick. */
export type Observation = Omit<PolicyInput, 'spec' | 'nowMs' | 'replicas'>;

/** ScalerPorts is everything the loop touches outside itself: the backend's functions, the GS's view, the actuators. */
export interface ScalerPorts {
  /** functions lists every function of every namespace (from memory). */
  functions(): Promise<FunctionStatus[]>;
  /** observe gathers one function's instances, demand, guest slots and node figures. */
  observe(fn: FunctionStatus, spec: FunctionSpec, nowMs: number): Observation;
  /** waiting counts the requests waiting in the GS for an instance of the function right now. */
  waiting(fn: FunctionStatus, nowMs: number): number;
  /** act carries out one action (resize, specialise, scale...). */
  act(fn: FunctionStatus, action: ScalingAction): Promise<void>;
  /** setRoutable applies a policy's routable list (undefined: every ready instance may take requests). */
  setRoutable?(fn: FunctionStatus, ids: string[] | undefined): void;
}

/** Ticker calls back periodically; tests use a manual one. */
export interface Ticker {
  start(onTick: () => void): void;
  stop(): void;
}

/** intervalTicker is the real ticker. */
export function intervalTicker(everyMs: number): Ticker {
  let t: NodeJS.Timeout | undefined;
  return {
    start(onTick) {
      t = setInterval(onTick, everyMs);
      t.unref();
    },
    stop() {
      if (t) clearInterval(t);
    },
  };
}

/** ScalerLoopOptions wire a ScalerLoop. */
export interface ScalerLoopOptions {
  ports: ScalerPorts;
  policies: Partial<Record<PolicyName, ScalingPolicy<unknown>>>;
  /** defaultPolicy applies when a function has no com.hyperfaas.policy label. */
  defaultPolicy: PolicyName;
  now: () => number;
  ticker: Ticker;
  logger: Logger;
  registry?: Registry;
  /** onAction hears every action carried out, after it succeeded (e.g. to count CPU boosts per function). */
  onAction?: (key: string, action: ScalingAction) => void;
  /** minPokeGapMs: a poke within this long of the last tick's start is ignored (default 50). */
  minPokeGapMs?: number;
}

/** DecisionRecord is one tick that changed the phase or acted, kept for the status API with its reasons. */
export interface DecisionRecord {
  /** at is epoch milliseconds. */
  at: number;
  policy: PolicyName;
  phase: Phase;
  replicas: number;
  reasons: string[];
  /** actions are the kinds of action taken, with a failure's error when one failed. */
  actions: { kind: ScalingAction['kind']; error?: string }[];
}

/** HISTORY_LENGTH bounds the decisions kept per function. */
export const HISTORY_LENGTH = 20;

/** specFor derives a policy's FunctionSpec from a function's status (labels, max_inflight, limits, requests). */
export function specFor(fn: FunctionStatus, defaultPolicy: PolicyName): { spec?: FunctionSpec; errors: string[] } {
  const hasPolicy = fn.labels[labelKeys.policy] !== undefined;
  const parsed = parseScalingLabels(hasPolicy ? fn.labels : { ...fn.labels, [labelKeys.policy]: defaultPolicy });
  if (!parsed.ok) return { errors: parsed.errors };
  const capacity = Number(fn.envVars?.max_inflight ?? 0);
  const cpuLimit = fn.limits?.cpu ? parseCpu(fn.limits.cpu) : 0;
  const cpuRequest = fn.requests?.cpu ? parseCpu(fn.requests.cpu) : cpuLimit || 1;
  const mem = fn.limits?.memory ? parseMemory(fn.limits.memory) : 0;
  return {
    spec: {
      key: functionKey(fn.name, fn.namespace),
      labels: parsed.labels,
      capacity: Number.isFinite(capacity) && capacity > 0 ? capacity : 0,
      cpuRequest: Number.isFinite(cpuRequest) && cpuRequest > 0 ? cpuRequest : 1,
      cpuLimit: Number.isFinite(cpuLimit) ? cpuLimit : 0,
      ...(Number.isFinite(mem) && mem > 0 ? { memoryLimitBytes: mem } : {}),
    },
    errors: [],
  };
}

/**
 * ScalerLoop is the impure shell around the pure scaling policies: on every tick it asks each function's policy
 * (label com.hyperfaas.policy, else the provider default) for a decision and carries out its actions. One tick runs
 * at a time; a slow tick makes the next one skip, never pile up. Every phase change is a metric and a log line.
 *
 * It is the only part of the provider that changes replica counts on its own (the scale API is the user's). Its
 * floor applies whatever the policy (hpa and none included, and labels that no longer parse): a function at zero
 * replicas that requests wait for goes to wakeReplicas (min, at least 1). The GS asks for that at once through wake, so a cold request does not wait for the next tick; decisions
 * about one function never overlap, so concurrent wakes and ticks scale it up once.
 */
export class ScalerLoop {
  private readonly states = new Map<string, { policy: PolicyName; state: unknown; phase: Phase }>();
  private readonly history = new Map<string, DecisionRecord[]>();
  private readonly warned = new Set<string>();
  private running = false;
  /** lanes chain the decisions about each function, so a wake and a tick never decide about it at once. */
  private readonly lanes = new Map<string, Promise<unknown>>();
  /** listing numbers each read of the functions; decided holds the newest listing each function was decided on. */
  private listing = 0;
  private readonly decided = new Map<string, number>();
  private lastTickAt = -Infinity;
  /** loggedKinds is, per function, the kinds of reasons (figures left out) of the last acting tick that was logged. */
  private readonly loggedKinds = new Map<string, string>();
  private readonly log: Logger;
  private readonly phases?: Counter<'function' | 'phase'>;
  private readonly actions?: Counter<'function' | 'kind'>;
  private readonly desired?: Gauge<'function'>;

  constructor(private readonly o: ScalerLoopOptions) {
    this.log = o.logger.child({ component: 'scaler' });
    if (o.registry) {
      this.phases = new Counter({ name: 'hyperfaas_scaler_phase_changes_total', help: 'Scaling phase changes per function', labelNames: ['function', 'phase'], registers: [o.registry] });
      this.actions = new Counter({ name: 'hyperfaas_scaler_actions_total', help: 'Scaling actions carried out', labelNames: ['function', 'kind'], registers: [o.registry] });
      this.desired = new Gauge({ name: 'hyperfaas_scaler_desired_replicas', help: 'Desired replicas after the last tick', labelNames: ['function'], registers: [o.registry] });
    }
  }

  /** start begins ticking. */
  start(): void {
    this.o.ticker.start(() => void this.tick());
  }

  /** stop ends ticking. */
  stop(): void {
    this.o.ticker.stop();
  }

  /** phaseOf returns the last phase of a function ("name.namespace"), for tests and status. */
  phaseOf(key: string): Phase | undefined {
    return this.states.get(key)?.phase;
  }

  /** decisions returns a function's recent decisions that changed its phase or acted, oldest first. */
  decisions(key: string): readonly DecisionRecord[] {
    return this.history.get(key) ?? [];
  }

  /** policyOf returns the policy that last ran for a function. */
  policyOf(key: string): PolicyName | undefined {
    return this.states.get(key)?.policy;
  }

  /**
   * poke runs a tick out of turn, for an event the next tick should not wait for (an instance just reported itself over
   * its high watermark: a burst began). Ignored while a tick runs or within minPokeGapMs of the last one, so a storm of
   * reports costs at most one tick per gap. Worked example: tick every 250 ms; a step starts 10 ms after a tick; the
   * first ICS crossing its watermark pokes the loop about 20 ms later instead of the next tick 240 ms later.
   */
  poke(): void {
    if (this.running || this.o.now() - this.lastTickAt < (this.o.minPokeGapMs ?? 50)) return;
    void this.tick();
  }

  /** tick runs one pass over every function; it returns at once when the previous pass is still running. */
  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const nowMs = this.o.now();
      const listing = ++this.listing;
      this.lastTickAt = nowMs;
      const fns = await this.o.ports.functions();
      const seen = new Set<string>();
      for (const fn of fns) {
        const key = functionKey(fn.name, fn.namespace);
        seen.add(key);
        await this.inLane(key, () => this.tickOne(fn, key, nowMs, listing));
      }
      for (const k of this.states.keys()) if (!seen.has(k)) this.states.delete(k);
      for (const k of this.history.keys()) if (!seen.has(k)) this.history.delete(k);
      for (const k of this.decided.keys()) if (!seen.has(k)) this.decided.delete(k);
      for (const k of this.loggedKinds.keys()) if (!seen.has(k)) this.loggedKinds.delete(k);
    } catch (e) {
      this.log.warn('scaler tick failed', { error: String(e) });
    } finally {
      this.running = false;
    }
  }

  /**
   * wake decides about one function now, outside the ticks, because a request waits for it at zero replicas: the
   * floor (or the policy's own from-zero step) scales it up. It rejects with the error of a scale-up that failed, so
   * the waiting request can answer with it; it resolves when there was nothing to do (already scaled up, deleted).
   */
  async wake(namespace: string, name: string): Promise<void> {
    const key = functionKey(name, namespace);
    const failed = await this.inLane(key, async () => {
      // Listed inside the lane, so a scale-up another decision just made is seen and not repeated.
      const listing = ++this.listing;
      const fn = (await this.o.ports.functions()).find((f) => f.name === name && f.namespace === namespace);
      return fn ? this.tickOne(fn, key, this.o.now(), listing) : undefined;
    });
    if (failed) throw failed.error;
  }

  /** inLane runs f once every decision about key queued before it has settled. */
  private inLane<T>(key: string, f: () => Promise<T>): Promise<T> {
    const run = (this.lanes.get(key) ?? Promise.resolve()).then(f);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.lanes.set(key, settled);
    void settled.then(() => {
      if (this.lanes.get(key) === settled) this.lanes.delete(key);
    });
    return run;
  }

  /**
   * tickOne decides about one function from the listing numbered `listing` (skipped when a newer listing was already
   * decided on), carries out the actions and returns the first failed scale-up, if any.
   */
  private async tickOne(fn: FunctionStatus, key: string, nowMs: number, listing: number): Promise<{ error: unknown } | undefined> {
    if ((this.decided.get(key) ?? 0) > listing) return undefined;
    this.decided.set(key, listing);
    const { spec, errors } = specFor(fn, this.o.defaultPolicy);
    if (!spec) {
      if (!this.warned.has(key)) this.log.warn('scaling labels ignored', { function: key, errors });
      this.warned.add(key);
    }
    const name: PolicyName = spec?.labels.policy ?? 'none';
    const policy = name === 'none' ? undefined : this.o.policies[name];
    let st = spec && policy ? this.states.get(key) : undefined;
    let d: Decision<unknown> | undefined;
    if (spec && policy) {
      if (!st || st.policy !== policy.name) {
        st = { policy: policy.name, state: policy.initialState(nowMs), phase: 'steady' };
        this.states.set(key, st);
      }
      const input: PolicyInput = { nowMs, spec, replicas: fn.replicas, ...this.o.ports.observe(fn, spec, nowMs) };
      d = policy.decide(input, st.state);
      st.state = d.state;
    }
    // Without a policy (none, or labels that do not parse) only the floor may act, and nothing is remembered.
    d = this.withFloor(fn, d, nowMs);
    if (!d) return undefined;
    const changed = d.phase !== st?.phase;
    // A tick that acts for a new kind of reason inside the same phase (phase 1 for CPU after phase 1 for concurrency,
    // both 'scale-up') is logged too; the same reasons with other figures are not, so a long burst logs a few lines.
    const kinds = d.actions.length > 0 ? reasonKinds(d.reasons) : undefined;
    if (changed || (kinds !== undefined && kinds !== this.loggedKinds.get(key))) {
      this.log.info('scaling phase', { function: key, policy: name, from: st?.phase, to: d.phase, replicas: d.replicas, reasons: d.reasons });
      if (kinds !== undefined) this.loggedKinds.set(key, kinds);
    }
    if (changed) {
      this.phases?.inc({ function: key, phase: d.phase });
      if (st) st.phase = d.phase;
    }
    this.desired?.set({ function: key }, d.replicas);
    if (st) this.o.ports.setRoutable?.(fn, d.routable);
    const done: DecisionRecord['actions'] = [];
    let failed: { error: unknown } | undefined;
    for (const a of d.actions) {
      try {
        await this.o.ports.act(fn, a);
        this.actions?.inc({ function: key, kind: a.kind });
        this.o.onAction?.(key, a);
        done.push({ kind: a.kind });
        this.log.debug('scaling action', { function: key, action: a });
      } catch (e) {
        done.push({ kind: a.kind, error: String(e) });
        this.log.warn('scaling action failed', { function: key, action: a, error: String(e) });
        if (a.kind === 'scaleTo' && !failed) failed = { error: e };
      }
    }
    if (changed || done.length > 0) {
      let h = this.history.get(key);
      if (!h) this.history.set(key, (h = []));
      h.push({ at: nowMs, policy: name, phase: d.phase, replicas: d.replicas, reasons: d.reasons, actions: done });
      if (h.length > HISTORY_LENGTH) h.splice(0, h.length - HISTORY_LENGTH);
    }
    return failed;
  }

  /**
   * withFloor adds the floor to a decision (undefined: no policy ran): a function at zero replicas with requests
   * waiting goes to wakeReplicas, unless the policy already scales it up. It returns undefined when no policy ran and
   * the floor has nothing to do.
   */
  private withFloor(fn: FunctionStatus, d: Decision<unknown> | undefined, nowMs: number): Decision<unknown> | undefined {
    if (fn.replicas !== 0 || d?.actions.some((a) => a.kind === 'scaleTo' && a.replicas > 0)) return d;
    const waiting = this.o.ports.waiting(fn, nowMs);
    if (waiting === 0) return d;
    const floor = wakeReplicasOf(fn.labels);
    const reason = `floor: ${waiting} request(s) waiting at zero replicas: start ${floor}`;
    const base = d ?? { actions: [], state: undefined, reasons: [] };
    return { ...base, actions: [...base.actions, { kind: 'scaleTo', replicas: floor }], phase: 'from-zero', replicas: floor, reasons: [...base.reasons, reason] };
  }
}

/** reasonKinds is a decision's reasons with their figures and instance names left out, one string to compare. */
function reasonKinds(reasons: readonly string[]): string {
  return reasons.map((r) => r.replace(/[\w.-]*\d[\w.-]*/g, '#')).join('\n');
}
