// Builders for policy inputs, so each test states only what matters to it.
import { labelDefaults } from '../../../src/scaling/labels.js';
import type { FunctionSpec, InstanceObservation, PolicyInput, ScalingLabels } from '../../../src/scaling/types.js';

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
