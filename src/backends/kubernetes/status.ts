/**
 * status maps a function's Deployment back to a FunctionStatus with faas-netes' AsFunctionStatus semantics:
 * labels and annotations from the pod template, limits and requests as the same strings that went in, envProcess
 * from the fprocess env var, and never envVars (contract §1.2). Pure: no I/O, table-tested.
 */
import type { FunctionResources, FunctionStatus } from '../../types/index.js';
import { secretsVolumeName } from './manifests.js';
import type { V1Deployment } from './kube-api.js';

/** zeroTime is what Go clients expect for an unknown time (never ""). */
export const zeroTime = '0001-01-01T00:00:00Z';

/**
 * toIsoTime normalises a Kubernetes timestamp: the client deserialises list results into Date objects while
 * watch events carry RFC 3339 strings; both come out as RFC 3339, anything unusable as zeroTime.
 */
export function toIsoTime(t: unknown): string {
  if (t instanceof Date) return Number.isNaN(t.getTime()) ? zeroTime : t.toISOString().replace(/\.000Z$/, 'Z');
  if (typeof t === 'string' && t !== '' && !Number.isNaN(Date.parse(t))) return t;
  return zeroTime;
}

function toResources(m: Record<string, string> | undefined): FunctionResources | undefined {
  if (!m) return undefined;
  const out: FunctionResources = {};
  for (const k of ['memory', 'cpu', 'nvidia.com/gpu', 'amd.com/gpu', 'intel.com/gpu'] as const) {
    const v = m[k];
    if (v !== undefined && v !== null && String(v) !== '') out[k] = String(v);
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function nonNegativeInt(n: unknown, def: number): number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : def;
}

/** toFunctionStatus reads a function's status from its Deployment. */
export function toFunctionStatus(dep: V1Deployment): FunctionStatus {
  const meta = dep.metadata ?? {};
  const tpl = dep.spec?.template;
  const c = tpl?.spec?.containers?.[0];
  const envProcess = c?.env?.find((e) => e.name === 'fprocess')?.value;
  const secrets = (tpl?.spec?.volumes ?? [])
    .filter((v) => v.name === secretsVolumeName)
    .flatMap((v) => v.projected?.sources ?? [])
    .map((s) => s.secret?.name)
    .filter((n): n is string => typeof n === 'string' && n !== '');
  // Registry secrets became imagePullSecrets; they were asked for as secrets, so they are reported as such.
  for (const p of tpl?.spec?.imagePullSecrets ?? []) if (p.name && !secrets.includes(p.name)) secrets.push(p.name);
  const nodeSelector = tpl?.spec?.nodeSelector;
  const constraints = nodeSelector ? Object.keys(nodeSelector).map((k) => `${k}=${nodeSelector[k]}`) : [];
  const limits = toResources(c?.resources?.limits);
  const requests = toResources(c?.resources?.requests);
  return {
    name: meta.name ?? '',
    image: c?.image ?? '',
    namespace: meta.namespace ?? '',
    ...(envProcess ? { envProcess } : {}),
    ...(constraints.length > 0 ? { constraints } : {}),
    ...(secrets.length > 0 ? { secrets } : {}),
    labels: { ...(tpl?.metadata?.labels ?? meta.labels ?? {}) },
    annotations: { ...(tpl?.metadata?.annotations ?? meta.annotations ?? {}) },
    ...(limits ? { limits } : {}),
    ...(requests ? { requests } : {}),
    ...(c?.securityContext?.readOnlyRootFilesystem ? { readOnlyRootFilesystem: true } : {}),
    invocationCount: 0,
    replicas: nonNegativeInt(dep.spec?.replicas, 1),
    availableReplicas: nonNegativeInt(dep.status?.availableReplicas, 0),
    createdAt: toIsoTime(meta.creationTimestamp),
  };
}
