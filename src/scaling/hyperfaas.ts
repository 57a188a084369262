/**
 * hyperfaas is the multi-phase scaling policy ("scale up, then out"), evaluated per function on every tick:
 *
 * - phase 1, scale up: an instance whose CPU use is over its high watermark gets a larger CPU limit at once (and
 *   memory headroom when its memory is high too), bounded by what the node has free; it is given back once the
 *   instance would fit its normal limit again for `giveBackAfterMs`. An instance short of concurrency rather than CPU
 *   (its home slot full, requests waiting, its CPU under the high watermark: a function that waits on I/O, or a fork
 *   function whose requests are processes) gets a higher concurrency limit instead, at most `inflightBoost` x
 *   max_inflight (label com.hyperfaas.max-inflight.boost), given back the same way;
 * - phase 2, multiplex: when concurrency demand still exceeds the function's own capacity for `multiplexAfterMs`,
 *   the generic slots of under-used instances of other functions of the same runtime are specialised with it;
 * - phase 3, scale out: when the shortfall lasts `scaleOutAfterMs` (or borrowed slots have carried load for
 *   `borrowMaxMs`), new instances are started in the background, at most `maxConcurrentStarts` at a time so cold
 *   starts do not starve the running instances on a small host (measured on 2 cores: 8 parallel Node cold starts
 *   take about a third of a second of both cores). Once own capacity covers demand, borrowed slots go back after the calm period;
 * - scale-in waits until every recommendation of the last `scaleInWindowMs` (or `com.openfaas.scale.down.window`)
 *   is lower; scale to zero after `com.openfaas.scale.zero-duration` idle when `com.openfaas.scale.zero=true`, and back
 *   from zero as soon as a request arrives (borrowing a warm generic slot meanwhile when one is free).
 *
 * Sizing is by concurrency (Little's law): demand D = max(in-flight + queued, arrival rate x mean service time); one
 * instance is good for capacity x high-watermark of it. Worked example (an I/O-bound function: 50 ms requests,
 * max_inflight 4, high watermark 0.8): 400 req/s x 0.05 s = 20 in flight; 20 / (4 x 0.8) = 6.25 -> 7 instances.
 */
import type {
  Decision,
  FunctionSpec,
  GuestSlotObservation,
  InstanceObservation,
  Phase,
  PolicyInput,
  ScalingAction,
  ScalingPolicy,
} from './types.js';
import type { TimedValue } from './hpa.js';
import { wakeReplicas } from './labels.js';

/** HyperfaasParams tune the policy; HYPERFAAS_DEFAULTS documents the defaults. */
export interface HyperfaasParams {
  /** maxCpuBoost caps a scaled-up CPU limit at this multiple of the normal one. */
  maxCpuBoost: number;
  /** minCpuStep: a scale-up smaller than this many cores is not worth a resize. */
  minCpuStep: number;
  /** memoryHeadroom multiplies the memory limit of an instance whose memory is over its high watermark. */
  memoryHeadroom: number;
  /** giveBackAfterMs is how long things must be calm before a scale-up or a borrowed slot is given back. */
  giveBackAfterMs: number;
  /** multiplexAfterMs is how long a concurrency shortfall must last before phase 2. */
  multiplexAfterMs: number;
  /** scaleOutAfterMs is how long a shortfall must last before phase 3. */
  scaleOutAfterMs: number;
  /** borrowMaxMs: borrowed slots that carried load this long are replaced by own instances (phase 3). */
  borrowMaxMs: number;
  /** maxConcurrentStarts bounds instances starting at once. */
  maxConcurrentStarts: number;
  /** maxSpecialisePerTick bounds phase-2 actions per tick. */
  maxSpecialisePerTick: number;
  /** scaleInWindowMs is the scale-in stabilisation window when the function has no down.window label. */
  scaleInWindowMs: number;
  /** specialiseTimeoutMs: a requested specialisation not visible in reports by then is forgotten (and may be retried). */
  specialiseTimeoutMs: number;
  /**
   * drainWithinMs sizes scale-out for a backlog: the queued requests should be served within this long on top of the
   * arrivals, so they add queued x meanService / drainWithinMs to the concurrency instances are started for.
   */
  drainWithinMs: number;
  /**
   * inflightBoost is how far phase 1 may raise a concurrency-bound instance's concurrency limit, as a multiple of
   * max_inflight (the label com.hyperfaas.max-inflight.boost overrides it per function; 1 = never).
   */
  inflightBoost: number;
  /** scaleUp enables phase 1; false gives the A/B's ablation arm without phase 1. */
  scaleUp: boolean;
  /** multiplex enables phase 2; false gives the "B minus phase 2" ablation arm. */
  multiplex: boolean;
}

/**
 * HYPERFAAS_DEFAULTS: scale-up to at most 4x the normal CPU limit, or to 2x max_inflight for an instance short of
 * concurrency; give back after 2 s calm; multiplex on the first tick that sees a shortfall and scale out once it has
 * lasted 0.25 s (one more tick) when borrowed slots cover it, at once when they cannot (no lender has a free slot),
 * sized so a backlog drains within 1 s; replace borrowed slots after 20 s; 3 cold starts at a time; scale in after a
 * 30 s window (10x shorter than the HPA's 300 s, which keeps container-seconds near the oracle).
 * Why 2x max_inflight: at a 10x step with no lender, the first new instances took ~1 s to become ready on a busy
 * 2-core host; an I/O-bound instance at 2x serves 160 instead of 80 req/s of a 50 ms function within one tick, which
 * halves the backlog they find (bench/results/relief-2026-12-04.md).
 * Why so short: a concurrency shortfall is a queue that grows every millisecond (F-io at 10x: 320 req/s more than one
 * replica serves), and phase 1 cannot fix it, since more CPU does not raise max_inflight. In the fluid model
 * (simulate.ts, W1 with two lendable slots) 0.5 s / 1.5 s recovers in 2.75 s, 0.25 s / 0.5 s in 1.5 s.
 * Why sized by drain rate and not by the backlog's length: every cold start costs ~0.3 CPU-s on this kind of host
 * (watchdog, function and generic runtime: three Node processes), and ten at once took the 2 cores for ~1.5 s that the
 * running instances needed to serve the backlog (bench/results, A/B notes).
 */
export const HYPERFAAS_DEFAULTS: Readonly<HyperfaasParams> = Object.freeze({
  maxCpuBoost: 4,
  minCpuStep: 0.05,
  memoryHeadroom: 1.5,
  giveBackAfterMs: 2_000,
  multiplexAfterMs: 0,
  scaleOutAfterMs: 250,
  borrowMaxMs: 20_000,
  maxConcurrentStarts: 3,
  maxSpecialisePerTick: 4,
  scaleInWindowMs: 30_000,
  specialiseTimeoutMs: 5_000,
  drainWithinMs: 1_000,
  inflightBoost: 2,
  scaleUp: true,
  multiplex: true,
});

/** BoostRecord remembers one scaled-up instance. */
export interface BoostRecord {
  since: number;
  /** calmSince is when the instance last started fitting its normal limit (undefined while it does not). */
  calmSince?: number;
}

/** BorrowRecord remembers one slot we asked to specialise (or saw serving us). */
export interface BorrowRecord {
  since: number;
  /** confirmed is true once a report shows the slot specialising or serving our function. */
  confirmed: boolean;
}

/** HyperfaasState is the policy's memory between ticks. */
export interface HyperfaasState {
  firstTickAt?: number;
  lastActiveAt?: number;
  /** shortSince is when the current concurrency shortfall began. */
  shortSince?: number;
  /** calmServiceMs is an EWMA of the mean service time over ticks without a shortfall (sizing during one uses it). */
  calmServiceMs?: number;
  /** calmSince is when own capacity started covering demand (borrowed slots are released after giveBackAfterMs). */
  calmSince?: number;
  boosted: Record<string, BoostRecord>;
  /** inflightBoosted remembers instances whose concurrency limit phase 1 raised. */
  inflightBoosted?: Record<string, BoostRecord>;
  borrowed: Record<string, BorrowRecord>;
  /** releasing maps hosts we asked to release to when we asked, so a stale report does not count them again. */
  releasing?: Record<string, number>;
  /** recommendations are the replica counts wanted over the scale-in window. */
  recommendations: TimedValue[];
}

/** DemandEstimate is the sizing arithmetic of one tick, exported for logs and tests. */
export interface DemandEstimate {
  /** concurrency is D, the requests that need a slot right now. */
  concurrency: number;
  /**
   * sizing is the concurrency new instances are started for: the sustained part of D (arrivals x service time, or
   * what is in flight) plus the backlog spread over drainWithinMs. Equal to D when the service time is unknown.
   */
  sizing: number;
  /** perInstance is what one instance is good for: capacity x high watermark (in requests in flight). */
  perInstance: number;
  /** own is the usable concurrency of ready own instances. */
  own: number;
  /** borrowed is the usable concurrency of borrowed guest slots (confirmed or pending). */
  borrowed: number;
  /** needed is own instances that would cover D alone (ceil(D / perInstance)), before clamping. */
  needed: number;
}

const isLive = (i: InstanceObservation): boolean => !i.draining;

/**
 * estimateDemand works out D and what covers it. Functions with unlimited concurrency (capacity 0) are sized by the
 * rps target instead: needed = ceil(rate / (target x proportion)), e.g. 400 req/s at target 50 x 0.9 -> 9 instances.
 */
export function estimateDemand(input: PolicyInput, borrowedCount: number, drainWithinMs = HYPERFAAS_DEFAULTS.drainWithinMs): DemandEstimate {
  const { spec, demand } = input;
  const high = spec.labels.watermarkHigh;
  const ready = input.instances.filter((i) => i.ready && isLive(i));
  const ours = input.guests.filter((g) => g.function === input.spec.key);
  const inflight = ready.reduce((a, i) => a + i.inflight, 0) + ours.reduce((a, g) => a + g.inflight, 0);
  const little = demand.meanServiceMs !== undefined ? (demand.arrivalRate * demand.meanServiceMs) / 1000 : 0;
  const concurrency = Math.max(inflight + demand.queued, little);
  // Sizing, worked example (F-io at a 10x step, 0.5 s in): 8 being served (4 + 4 borrowed), 80 waiting (in the GS, in
  // an ICS queue, or sent over capacity), 160 req/s x 50 ms = 8 sustained; the backlog adds 80 x 50 / 1000 = 4 ->
  // 12 / 3.2 -> 4 instances, where D = 88 would have started 10 (and their cold starts would have taken the CPU the
  // running instances need to drain the backlog).
  const cap = (c: number): number => (c > 0 ? c : Infinity);
  const serving =
    ready.reduce((a, i) => a + Math.min(i.inflight, cap(i.capacity || spec.capacity)), 0) + ours.reduce((a, g) => a + Math.min(g.inflight, cap(g.capacity)), 0);
  const backlog = Math.max(0, concurrency - Math.max(serving, little));
  const sizing =
    demand.meanServiceMs !== undefined && drainWithinMs > 0
      ? Math.min(concurrency, Math.max(serving, little) + (backlog * demand.meanServiceMs) / drainWithinMs)
      : concurrency;
  if (spec.capacity > 0) {
    const perInstance = spec.capacity * high;
    return {
      concurrency,
      sizing,
      perInstance,
      own: ready.length * perInstance,
      borrowed: borrowedCount * perInstance,
      needed: Math.ceil(sizing / perInstance - 1e-9),
    };
  }
  // Unlimited concurrency: express everything in req/s against the rps target.
  const perInstance = spec.labels.target * spec.labels.targetProportion;
  const rate = Math.max(demand.arrivalRate, demand.queued > 0 ? perInstance * ready.length + demand.queued : 0);
  return {
    concurrency: rate,
    sizing: rate,
    perInstance,
    own: ready.length * perInstance,
    borrowed: borrowedCount * perInstance,
    needed: Math.ceil(rate / perInstance - 1e-9),
  };
}

/**
 * planScaleUp is phase 1 for one tick: which instances get more CPU and how much.
 * Clamp, worked example: a 2-core host with 0.8 cores free; three instances of 0.5 core, two of them at 0.45 cores
 * (over 0.8 x 0.5). Each hot one may get 0.8 / 2 = 0.4 more -> 0.9 cores, under the cap 4 x 0.5 = 2.0. With only
 * 0.06 cores free the share would be 0.03 < minCpuStep 0.05, so nobody is resized (the bounce path carries the load).
 */
export function planScaleUp(spec: FunctionSpec, instances: InstanceObservation[], freeCpu: number, freeMemory: number | undefined, p: Readonly<HyperfaasParams>): ScalingAction[] {
  if (spec.cpuLimit <= 0) return []; // no limit: nothing to raise
  const high = spec.labels.watermarkHigh;
  const cap = spec.cpuLimit * p.maxCpuBoost;
  const hot = instances.filter((i) => i.ready && isLive(i) && i.cpuLimit > 0 && i.cpuUsed >= high * i.cpuLimit && i.cpuLimit < cap - 1e-9);
  if (hot.length === 0 || freeCpu <= 0) return [];
  const share = freeCpu / hot.length;
  const actions: ScalingAction[] = [];
  let memLeft = freeMemory;
  for (const i of hot) {
    const cpu = Math.min(cap, i.cpuLimit + share);
    if (cpu - i.cpuLimit < p.minCpuStep) continue;
    const a: ScalingAction = { kind: 'resize', instance: i.id, cpu: round3(cpu) };
    const memLimit = i.memoryLimit ?? spec.memoryLimitBytes ?? 0;
    const normalMem = spec.memoryLimitBytes ?? 0;
    if (normalMem > 0 && memLimit > 0 && (i.memoryUsed ?? 0) >= high * memLimit) {
      const want = Math.round(normalMem * p.memoryHeadroom);
      if (want > memLimit && (memLeft === undefined || memLeft >= want - memLimit)) {
        a.memoryBytes = want;
        if (memLeft !== undefined) memLeft -= want - memLimit;
      }
    }
    actions.push(a);
  }
  return actions;
}

/**
 * planInflightBoost is phase 1 for instances short of concurrency rather than CPU: its home slot is full, requests
 * wait or bounce (pressure), and its CPU is under the high watermark of its limit
 * (or is being raised this tick) and its memory too. Such an instance gets its concurrency limit raised to
 * boostTo at once. Worked example: max_inflight 4, boost 2, a 50 ms sleep at 0.2 of 0.36 cores, 4 in flight, 30
 * queued: limit 8, so it serves 160 instead of 80 req/s within a tick; a CPU-bound instance (0.34 of 0.36 cores, no
 * CPU left to give) is left alone, since more requests at once would only share the same CPU.
 */
export function planInflightBoost(spec: FunctionSpec, instances: InstanceObservation[], pressure: boolean, cpuRaised: ReadonlySet<string>, boostTo: number): ScalingAction[] {
  if (spec.capacity <= 0 || boostTo <= spec.capacity) return [];
  const high = spec.labels.watermarkHigh;
  const out: ScalingAction[] = [];
  for (const i of instances) {
    if (!i.ready || !isLive(i)) continue;
    const cap = i.capacity || spec.capacity;
    // Full, and requests wait or bounce: a raise serves someone at once. Full with nobody waiting is 80 % busy at most.
    if (!pressure || cap >= boostTo || i.inflight < cap) continue;
    const cpuBound = i.cpuLimit > 0 && i.cpuUsed >= high * i.cpuLimit && !cpuRaised.has(i.id);
    const memHigh = (i.memoryLimit ?? 0) > 0 && (i.memoryUsed ?? 0) >= high * i.memoryLimit!;
    if (cpuBound || memHigh) continue;
    out.push({ kind: 'inflight', instance: i.id, capacity: boostTo });
  }
  return out;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** createHyperfaasPolicy builds the policy with the given parameters (defaults: HYPERFAAS_DEFAULTS). */
export function createHyperfaasPolicy(params: Partial<HyperfaasParams> = {}): ScalingPolicy<HyperfaasState> {
  const p: HyperfaasParams = { ...HYPERFAAS_DEFAULTS, ...params };
  return {
    name: 'hyperfaas',
    initialState: (): HyperfaasState => ({ boosted: {}, borrowed: {}, recommendations: [] }),
    decide: (input, state) => decideHyperfaas(p, input, state),
  };
}

const phaseRank: Phase[] = ['steady', 'waiting', 'give-back', 'scale-in', 'scale-up', 'multiplex', 'scale-out', 'to-zero', 'from-zero'];

/** decideHyperfaas is one tick of the policy. */
export function decideHyperfaas(params: Readonly<HyperfaasParams>, input: PolicyInput, state: HyperfaasState): Decision<HyperfaasState> {
  const { nowMs, spec, demand } = input;
  const labels = spec.labels;
  // com.hyperfaas.ablate switches phases off per function (the A/B ablation arms share one provider).
  const p: Readonly<HyperfaasParams> = labels.ablate?.length
    ? { ...params, scaleUp: params.scaleUp && !labels.ablate.includes('scale-up'), multiplex: params.multiplex && !labels.ablate.includes('multiplex') }
    : params;
  const actions: ScalingAction[] = [];
  const reasons: string[] = [];
  let phase: Phase = 'steady';
  const bump = (ph: Phase): void => {
    if (phaseRank.indexOf(ph) > phaseRank.indexOf(phase)) phase = ph;
  };
  const next: HyperfaasState = {
    ...state,
    firstTickAt: state.firstTickAt ?? nowMs,
    boosted: {},
    borrowed: {},
    recommendations: [...state.recommendations],
  };
  const live = input.instances.filter(isLive);
  const ready = live.filter((i) => i.ready);
  const starting = Math.max(input.replicas - ready.length, live.filter((i) => !i.ready).length, 0);
  const floor = wakeReplicas(labels);

  // Activity (for scale to zero).
  const busy = demand.arrivalRate > 0 || demand.queued > 0 || input.instances.some((i) => i.inflight > 0);
  next.lastActiveAt = busy ? nowMs : (state.lastActiveAt ?? nowMs);

  // Borrowed slots: what reports confirm, plus requests still in flight (forgotten after specialiseTimeoutMs).
  const confirmed = new Map<string, GuestSlotObservation>();
  next.releasing = {};
  for (const [host, at] of Object.entries(state.releasing ?? {})) if (nowMs - at < p.specialiseTimeoutMs) next.releasing[host] = at;
  for (const g of input.guests) {
    if (next.releasing[g.hostInstance] !== undefined) continue;
    if (g.function === spec.key && (g.state === 'serving' || g.state === 'specialising')) confirmed.set(g.hostInstance, g);
  }
  for (const host of confirmed.keys()) next.borrowed[host] = { since: state.borrowed[host]?.since ?? nowMs, confirmed: true };
  for (const [host, rec] of Object.entries(state.borrowed)) {
    if (confirmed.has(host)) continue;
    if (!rec.confirmed && nowMs - rec.since < p.specialiseTimeoutMs) next.borrowed[host] = rec;
  }

  // ---- scale from zero: a request for a function at 0 replicas.
  if (input.replicas === 0) {
    // At zero replicas every new request waits (queued) for an instance. Arrivals alone are not enough: they may
    // predate a deliberate scale to zero (faas-cli scale --replicas 0 right after a call) and must not undo it.
    if (demand.queued > 0) {
      actions.push({ kind: 'scaleTo', replicas: floor });
      // A warm generic slot elsewhere serves in milliseconds while the instance cold-starts (phase 2 at once).
      const est = estimateDemand(input, Object.keys(next.borrowed).length, p.drainWithinMs);
      if (est.borrowed === 0 && p.multiplex) actions.push(...pickGuests(input, next, Math.max(1, est.needed), p, nowMs));
      next.shortSince = nowMs;
      next.lastActiveAt = nowMs;
      next.recommendations = [{ at: nowMs, value: floor }];
      return { actions, state: next, phase: 'from-zero', replicas: floor, reasons: [`demand at zero replicas: start ${floor}`] };
    }
    return { actions, state: { ...next, recommendations: [] }, phase: 'zero', replicas: 0, reasons };
  }

  // ---- scale to zero: idle for zero-duration.
  if (labels.zero && !busy && nowMs - (next.lastActiveAt ?? nowMs) >= labels.zeroDurationMs) {
    for (const host of Object.keys(next.borrowed)) {
      actions.push({ kind: 'release', hostInstance: host, function: spec.key });
      next.releasing[host] = nowMs;
    }
    actions.push({ kind: 'scaleTo', replicas: 0 });
    reasons.push(`idle for ${nowMs - next.lastActiveAt!} ms >= zero-duration ${labels.zeroDurationMs} ms`);
    return { actions, state: { ...next, borrowed: {}, boosted: {}, inflightBoosted: {}, recommendations: [], shortSince: undefined, calmSince: undefined }, phase: 'to-zero', replicas: 0, reasons };
  }

  // ---- phase 1: scale up hot instances; give back calm ones.
  const resizes = p.scaleUp ? planScaleUp(spec, live, input.node.cpuFree, input.node.memoryFreeBytes, p) : [];
  const resized = new Set(resizes.map((a) => (a.kind === 'resize' ? a.instance : '')));
  if (resizes.length) {
    actions.push(...resizes);
    bump('scale-up');
    reasons.push(`phase 1: ${resizes.length} instance(s) over the high watermark get more CPU`);
  }
  for (const inst of live) {
    const wasBoosted = state.boosted[inst.id];
    const isBoosted = spec.cpuLimit > 0 && inst.cpuLimit > spec.cpuLimit + 1e-9;
    if (resized.has(inst.id)) {
      next.boosted[inst.id] = { since: wasBoosted?.since ?? nowMs };
      continue;
    }
    if (!isBoosted && !wasBoosted) continue;
    // A starting instance may run under the backend's start CPU limit (HYPERFAAS_START_CPU), which the backend itself
    // lowers once it is ready: not a phase-1 boost to give back.
    if (!inst.ready && !wasBoosted) continue;
    // Calm = the instance would sit under its high watermark with its normal limit.
    const fits = inst.cpuUsed <= labels.watermarkHigh * spec.cpuLimit;
    const calmSince = fits ? (wasBoosted?.calmSince ?? nowMs) : undefined;
    if (isBoosted && calmSince !== undefined && nowMs - calmSince >= p.giveBackAfterMs) {
      const a: ScalingAction = { kind: 'restore', instance: inst.id, cpu: spec.cpuLimit };
      if (spec.memoryLimitBytes) a.memoryBytes = spec.memoryLimitBytes;
      actions.push(a);
      bump('give-back');
      reasons.push(`phase 1 give-back: ${inst.id} calm for ${nowMs - calmSince} ms`);
      continue;
    }
    if (isBoosted) next.boosted[inst.id] = { since: wasBoosted?.since ?? nowMs, calmSince };
  }

  // ---- phase 1 for concurrency-bound instances: a higher concurrency limit; given back after the calm period.
  next.inflightBoosted = {};
  const boostTo = Math.floor(spec.capacity * (labels.inflightBoost ?? p.inflightBoost));
  const raised = p.scaleUp ? planInflightBoost(spec, live, demand.queued > 0 || demand.bounced > 0, resized, boostTo) : [];
  const raisedIds = new Set(raised.map((a) => (a.kind === 'inflight' ? a.instance : '')));
  if (raised.length) {
    actions.push(...raised);
    bump('scale-up');
    reasons.push(`phase 1: ${raised.length} instance(s) short of concurrency, not CPU: max in flight ${spec.capacity} -> ${boostTo}`);
  }
  for (const inst of live) {
    const was = state.inflightBoosted?.[inst.id];
    if (raisedIds.has(inst.id)) {
      next.inflightBoosted[inst.id] = { since: was?.since ?? nowMs };
      continue;
    }
    const isRaised = spec.capacity > 0 && inst.capacity > spec.capacity;
    if (!isRaised) continue;
    // Calm = its requests in flight would fit under the high watermark of max_inflight again.
    const fits = inst.inflight <= labels.watermarkHigh * spec.capacity;
    const calmSince = fits ? (was?.calmSince ?? nowMs) : undefined;
    if (calmSince !== undefined && nowMs - calmSince >= p.giveBackAfterMs) {
      actions.push({ kind: 'inflight', instance: inst.id, capacity: spec.capacity });
      bump('give-back');
      reasons.push(`phase 1 give-back: ${inst.id} back to max in flight ${spec.capacity}, calm for ${nowMs - calmSince} ms`);
      continue;
    }
    next.inflightBoosted[inst.id] = { since: was?.since ?? nowMs, calmSince };
  }

  // ---- demand vs capacity.
  // The service time the function has when it is not short of capacity: under a burst the measured one grows with
  // queueing in the ICS and CPU contention, which more instances do not cure (their cold starts make it worse), so
  // sizing during a shortfall uses the calm one (an EWMA of calm ticks). Worked example: calm 52 ms; at the burst the
  // window says 140 ms; 200 req/s is sized as 200 x 0.052 = 10.4 in flight, not 28.
  const measured = demand.meanServiceMs;
  if (measured !== undefined && state.shortSince === undefined) {
    next.calmServiceMs = state.calmServiceMs === undefined ? measured : state.calmServiceMs + 0.2 * (measured - state.calmServiceMs);
  }
  const sizingInput =
    state.shortSince !== undefined && next.calmServiceMs !== undefined && measured !== undefined && measured > next.calmServiceMs
      ? { ...input, demand: { ...demand, meanServiceMs: next.calmServiceMs } }
      : input;
  const est = estimateDemand(sizingInput, Object.keys(next.borrowed).length, p.drainWithinMs);
  // Every ready instance over its high watermark (CPU or memory, as the ICS reports it) while phase 1 had nothing
  // left to give is a shortfall too, even if in-flight counts look fine: ask for one more instance than are ready.
  const allHot = ready.length > 0 && ready.every((i) => i.overHigh) && resizes.length === 0;
  if (allHot) est.needed = Math.max(est.needed, ready.length + 1);
  const pressure = demand.queued > 0 || demand.bounced > 0 || allHot;
  const pendingBorrow = Object.values(next.borrowed).some((b) => !b.confirmed);
  const shortfall =
    est.concurrency > est.own + est.borrowed + 1e-9 ||
    ((demand.queued > 0 || demand.bounced > 0) && est.own + est.borrowed <= est.concurrency) ||
    (allHot && !pendingBorrow);
  const ownShort = est.concurrency > est.own + 1e-9 || pressure;
  next.shortSince = ownShort ? (state.shortSince ?? nowMs) : undefined;
  next.calmSince = ownShort ? undefined : (state.calmSince ?? nowMs);
  const shortFor = next.shortSince !== undefined ? nowMs - next.shortSince : 0;

  // ---- phase 2: borrow generic slots of under-used instances of other functions.
  let picked = 0;
  if (p.multiplex && shortfall && shortFor >= p.multiplexAfterMs) {
    const missing = Math.ceil((est.concurrency - est.own - est.borrowed) / est.perInstance - 1e-9);
    const picks = pickGuests(input, next, Math.max(1, missing), p, nowMs);
    picked = picks.length;
    if (picks.length) {
      actions.push(...picks);
      bump('multiplex');
      reasons.push(`phase 2: D=${est.concurrency.toFixed(1)} > own ${est.own.toFixed(1)} + borrowed ${est.borrowed.toFixed(1)}: specialise ${picks.length}`);
    }
  }

  // ---- phase 3: scale out, rate-limited.
  const target = Math.min(labels.max, Math.max(floor, est.needed));
  const borrowedSince = Math.min(...Object.values(next.borrowed).map((b) => b.since), Infinity);
  const borrowTooLong = Object.keys(next.borrowed).length > 0 && nowMs - borrowedSince >= p.borrowMaxMs && ownShort;
  let replicas = input.replicas;
  // Waiting scaleOutAfterMs gives borrowed slots the chance to cover a short burst; with nothing to borrow (no lender
  // has a free generic slot, none is borrowed or being specialised) the wait only lets the backlog grow, so instances
  // start on the first tick of the shortfall.
  // A burst shows as at least an instance's worth of requests waiting or bounced (max_inflight, or 1 when unlimited);
  // a busy moment at the base load (one or two waiting for a tick, Poisson arrivals) keeps the wait, and mostly clears
  // within it. Worked example: a 10x step on max_inflight 4 has ~30 waiting on its first tick; 20 req/s of 50 ms has 1.
  const nothingToBorrow = !p.multiplex || (picked === 0 && Object.keys(next.borrowed).length === 0 && freeGuests(input, next).length === 0);
  const burst = demand.queued + demand.bounced >= Math.max(1, spec.capacity);
  const scaleOutNow = shortfall && (shortFor >= p.scaleOutAfterMs || (nothingToBorrow && burst));
  if (target > replicas && (scaleOutNow || borrowTooLong)) {
    // Rate limit, worked example: max 10, needed 10, 1 ready, maxConcurrentStarts 2: replicas 1 -> 3; while those two
    // start nothing more; when both are ready -> 5, and so on. 80 ms per Node start -> 10 replicas within ~0.5 s.
    const room = Math.max(0, p.maxConcurrentStarts - starting);
    const to = Math.min(target, replicas + room);
    if (to > replicas) {
      actions.push({ kind: 'scaleTo', replicas: to });
      reasons.push(`phase 3: need ${target} (D=${est.concurrency.toFixed(1)}, sized for ${est.sizing.toFixed(1)}, ${est.perInstance.toFixed(1)} per instance), ${starting} starting -> ${to}`);
      replicas = to;
      bump('scale-out');
    }
  }

  // ---- give borrowed slots back once own capacity has covered demand for giveBackAfterMs.
  if (!ownShort && next.calmSince !== undefined && nowMs - next.calmSince >= p.giveBackAfterMs && Object.keys(next.borrowed).length) {
    for (const host of Object.keys(next.borrowed)) {
      actions.push({ kind: 'release', hostInstance: host, function: spec.key });
      next.releasing[host] = nowMs;
    }
    reasons.push(`own capacity ${est.own.toFixed(1)} covers D=${est.concurrency.toFixed(1)} for ${nowMs - next.calmSince} ms: release ${Object.keys(next.borrowed).length} borrowed slot(s)`);
    next.borrowed = {};
    bump('give-back');
  }

  // ---- scale in after the stabilisation window: the highest recommendation of the window wins.
  const windowMs = labels.downWindowMs ?? p.scaleInWindowMs;
  const cutoff = nowMs - windowMs;
  next.recommendations = next.recommendations.filter((r) => r.at > cutoff);
  next.recommendations.push({ at: nowMs, value: target });
  if (replicas === input.replicas && replicas > floor && starting === 0 && !ownShort && nowMs - next.firstTickAt! >= windowMs) {
    const stable = Math.max(floor, ...next.recommendations.map((r) => r.value));
    if (stable < replicas) {
      actions.push({ kind: 'scaleTo', replicas: stable });
      reasons.push(`scale-in: highest recommendation over ${windowMs} ms is ${stable} < ${replicas}`);
      replicas = stable;
      bump('scale-in');
    }
  }
  if (replicas > labels.max) {
    actions.push({ kind: 'scaleTo', replicas: labels.max });
    replicas = labels.max;
    bump('scale-in');
  }
  return { actions, state: next, phase, replicas, reasons };
}

/** freeGuests are the generic guest slots phase 2 may borrow now, least-loaded host first (ties by id). */
function freeGuests(input: PolicyInput, next: HyperfaasState): GuestSlotObservation[] {
  const low = input.spec.labels.watermarkLow;
  return input.guests
    .filter((g) => g.state === 'generic' && !g.function && g.hostLoad < low && !next.borrowed[g.hostInstance])
    .sort((a, b) => a.hostLoad - b.hostLoad || a.hostInstance.localeCompare(b.hostInstance));
}

/**
 * pickGuests chooses up to `want` generic guest slots (at most maxSpecialisePerTick) on instances whose own load is
 * below the low watermark, least loaded first (ties by id, so the choice is deterministic), and records them.
 */
function pickGuests(input: PolicyInput, next: HyperfaasState, want: number, p: Readonly<HyperfaasParams>, nowMs: number): ScalingAction[] {
  const free = freeGuests(input, next);
  const out: ScalingAction[] = [];
  for (const g of free.slice(0, Math.min(want, p.maxSpecialisePerTick))) {
    out.push({ kind: 'specialise', hostInstance: g.hostInstance, function: input.spec.key });
    next.borrowed[g.hostInstance] = { since: nowMs, confirmed: false };
  }
  return out;
}
