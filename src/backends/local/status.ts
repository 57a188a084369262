/**
 * status holds the pure mappings at the local backend's edge: a stored function to the
 * faas-provider FunctionStatus, and limits to cgroup values.
 */
import type { FunctionDeployment, FunctionStatus } from '../../types/index.js';
import type { ResourceLimits } from '../backend.js';
import { parseCpu, parseMemory, positiveQuantity as positive } from '../../units.js';

/**
 * toFunctionStatus maps a stored function and its ready-instance count to the status clients see: labels always
 * with faas_function, annotations at least {}, envVars only what the user set, limits and requests as the same
 * strings, createdAt RFC 3339, the namespace always filled, invocationCount 0 (the gateway fills it).
 */
export function toFunctionStatus(
  spec: FunctionDeployment & { namespace: string },
  createdAt: string,
  replicas: number,
  availableReplicas: number,
): FunctionStatus {
  const st: FunctionStatus = {
    name: spec.service,
    image: spec.image,
    namespace: spec.namespace,
    labels: { ...(spec.labels ?? {}), faas_function: spec.service },
    annotations: { ...(spec.annotations ?? {}) },
    invocationCount: 0,
    replicas,
    availableReplicas,
    createdAt,
  };
  if (spec.envProcess) st.envProcess = spec.envProcess;
  if (spec.envVars && Object.keys(spec.envVars).length > 0) st.envVars = { ...spec.envVars };
  if (spec.secrets && spec.secrets.length > 0) st.secrets = [...spec.secrets];
  if (spec.constraints && spec.constraints.length > 0) st.constraints = [...spec.constraints];
  if (spec.limits && Object.keys(spec.limits).length > 0) st.limits = { ...spec.limits };
  if (spec.requests && Object.keys(spec.requests).length > 0) st.requests = { ...spec.requests };
  if (spec.readOnlyRootFilesystem) st.readOnlyRootFilesystem = true;
  return st;
}

/**
 * limitsOf reads a deployment's limits into cores and bytes, raising memory to floorBytes (the watchdog itself needs
 * that much; OpenFaaS's 5Mi examples would otherwise be killed at start). Throws a message naming the bad field.
 */
export function limitsOf(spec: FunctionDeployment, floorBytes: number): ResourceLimits {
  const out: ResourceLimits = {};
  const cpu = spec.limits?.cpu;
  if (cpu !== undefined && cpu !== '') {
    const c = positive(parseCpu, cpu);
    if (c === undefined) throw new Error(`limits.cpu ${JSON.stringify(cpu)} is not a cpu quantity such as 100m or 0.5`);
    out.cpu = c;
  }
  const mem = spec.limits?.memory;
  if (mem !== undefined && mem !== '') {
    const m = positive(parseMemory, mem);
    if (m === undefined) throw new Error(`limits.memory ${JSON.stringify(mem)} is not a memory quantity such as 128Mi`);
    out.memoryBytes = Math.max(m, floorBytes);
  }
  return out;
}

/**
 * restartDelayMs is the exponential back-off before restart number `restarts` (0-based) of a crashed instance:
 * min, 2*min, 4*min... capped at max. With the defaults (500 ms, 30 s): 0.5, 1, 2, 4, 8, 16, 30, 30 s.
 */
export function restartDelayMs(restarts: number, minMs: number, maxMs: number): number {
  return Math.min(maxMs, minMs * 2 ** Math.min(restarts, 30));
}
