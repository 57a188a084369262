// Builders for policy inputs, so each test states only what matters to it.
import { createHyperfaasPolicy, type HyperfaasParams, type HyperfaasState } from '../../../src/scaling/hyperfaas.js';
import { labelDefaults } from '../../../src/scaling/labels.js';
import type { SimResult } from '../../../src/scaling/simulate.js';
import type { Decision, FunctionSpec, InstanceObservation, PolicyInput, ScalingLabels } from '../../../src/scaling/types.js';

/** spec builds a FunctionSpec for "fn.openfaas-fn" with the default labels plus overrides. */
export function spec(over: Partial<Omit<FunctionSpec, 'labels'>> = {}, labels: Partial<ScalingLabels> = {}): FunctionSpec {
  return {
    key: 'fn.openfaas-fn',
    capacity: 4,
    cpuRequest: 0.5,
    cpuLimit: 0.5,
    ...over,
    labels: { ...labelDefaults, ...labels },
  };
}

/** inst builds a ready, idle instance started at 0. */
export function inst(id: string, over: Partial<InstanceObservation> = {}): InstanceObservation {
  return { id, ready: true, startedAt: 0, readyAt: 80, cpuUsed: 0, cpuLimit: 0.5, inflight: 0, capacity: 4, overHigh: false, ...over };
}

/** input builds a PolicyInput; replicas defaults to the number of instances. */
export function input(nowMs: number, s: FunctionSpec, over: Partial<PolicyInput> = {}): PolicyInput {
  const instances = over.instances ?? [];
  return {
    nowMs,
    spec: s,
    replicas: instances.length,
    instances,
    demand: { windowMs: 1000, arrivalRate: 0, queued: 0, bounced: 0 },
    guests: [],
    node: { cpuCores: 2, cpuFree: 1 },
    ...over,
  };
}

/** timeline drives the hyperfaas policy tick by tick, carrying its state, as the control loop would. */
export function timeline(params: Partial<HyperfaasParams> = {}): (i: PolicyInput) => Decision<HyperfaasState> {
  const policy = createHyperfaasPolicy(params);
  let state: HyperfaasState = policy.initialState(0);
  return (i) => {
    const d = policy.decide(i, state);
    state = d.state;
    return d;
  };
}

/** recoverAfter: ms from the onset until the model's latency is <= slo and stays so for holdMs (null if never). */
export function recoverAfter(r: SimResult, onset: number, slo: number, holdMs = 10_000): number | null {
  let start: number | null = null;
  for (const p of r.points.filter((x) => x.t >= onset)) {
    if (p.latencyMs > slo) start = null;
    else {
      start ??= p.t;
      if (p.t - start >= holdMs) return start - onset;
    }
  }
  return null;
}
