/**
 * pods holds the pure pod-level mappings: a Pod as a scheduler Instance, the resize patch for phase-1 scale-up,
 * and a timestamped log line as a LogMessage. No I/O, table-tested.
 */
import type { Instance, ResourceLimits } from '../backend.js';
import type { LogMessage } from '../../types/index.js';
import { functionLabel, runtimeLabel } from './manifests.js';
import type { V1Pod } from './kube-api.js';

/**
 * podToInstance maps a pod to an Instance, or undefined while it is not one yet (no IP), or no longer one (it
 * finished or failed). The URL uses the container port named "http" (the watchdog), defaulting to `port`; a pod
 * being deleted stays an instance but is not ready, so the scheduler drains it instead of losing track of it.
 */
export function podToInstance(pod: V1Pod, port = 8080): Instance | undefined {
  const name = pod.metadata?.name;
  const fn = pod.metadata?.labels?.[functionLabel];
  const ip = pod.status?.podIP;
  const phase = pod.status?.phase;
  if (!name || !fn || !ip || phase === 'Succeeded' || phase === 'Failed') return undefined;
  const containers = pod.spec?.containers ?? [];
  const main = containers.find((c) => c.name === fn) ?? containers[0];
  const p = main?.ports?.find((x) => x.name === 'http')?.containerPort ?? port;
  const ready =
    !pod.metadata?.deletionTimestamp && (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  const started = pod.status?.startTime ?? pod.metadata?.creationTimestamp;
  const startedAt = started instanceof Date ? started.getTime() : typeof started === 'string' ? Date.parse(started) : NaN;
  const runtime = pod.metadata?.labels?.[runtimeLabel];
  return {
    id: name,
    function: fn,
    namespace: pod.metadata?.namespace ?? '',
    url: `http://${ip.includes(':') ? `[${ip}]` : ip}:${p}`,
    ready,
    startedAt: Number.isNaN(startedAt) ? 0 : startedAt,
    ...(runtime ? { runtime } : {}),
  };
}

/** sameInstance tells whether two views of an instance differ in anything a watcher cares about. */
export function sameInstance(a: Instance, b: Instance): boolean {
  return a.url === b.url && a.ready === b.ready && a.runtime === b.runtime && a.startedAt === b.startedAt;
}

/** cpuQuantity writes cores as millicores: 1.5 -> "1500m" (at least 1m). */
export function cpuQuantity(cores: number): string {
  return `${Math.max(1, Math.round(cores * 1000))}m`;
}

/** memoryQuantity writes bytes in whole MiB, rounded up: 300 MiB + 1 byte -> "301Mi". */
export function memoryQuantity(bytes: number): string {
  const mib = 1024 * 1024;
  return `${Math.max(1, Math.ceil(bytes / mib))}Mi`;
}

/**
 * resizePatch builds the strategic merge patch for a pod's resize subresource: new limits for the function's
 * container, and the same values as requests for each resource whose request equalled its limit before (a
 * Guaranteed pod must stay Guaranteed: Kubernetes refuses a resize that would change the QoS class).
 * Returns undefined when limits names nothing to change.
 */
export function resizePatch(pod: V1Pod, limits: ResourceLimits): object | undefined {
  const fn = pod.metadata?.labels?.[functionLabel];
  const containers = pod.spec?.containers ?? [];
  const c = containers.find((x) => x.name === fn) ?? containers[0];
  if (!c?.name) return undefined;
  const newLimits: Record<string, string> = {};
  if (limits.cpu !== undefined && limits.cpu > 0) newLimits.cpu = cpuQuantity(limits.cpu);
  if (limits.memoryBytes !== undefined && limits.memoryBytes > 0) newLimits.memory = memoryQuantity(limits.memoryBytes);
  if (Object.keys(newLimits).length === 0) return undefined;
  const oldLimits = c.resources?.limits ?? {};
  const oldRequests = c.resources?.requests ?? {};
  const newRequests: Record<string, string> = {};
  for (const k of Object.keys(newLimits)) {
    if (oldRequests[k] !== undefined && oldRequests[k] === oldLimits[k]) newRequests[k] = newLimits[k]!;
  }
  const resources = { limits: newLimits, ...(Object.keys(newRequests).length > 0 ? { requests: newRequests } : {}) };
  return { spec: { containers: [{ name: c.name, resources }] } };
}

/**
 * parseLogLine splits a line the API server wrote with timestamps=true ("2026-01-02T03:04:05.123456789Z text")
 * into a LogMessage; a line without a timestamp keeps its text and gets `now`.
 */
export function parseLogLine(line: string, name: string, namespace: string, instance: string, now: () => Date = () => new Date()): LogMessage {
  const sp = line.indexOf(' ');
  const head = sp > 0 ? line.slice(0, sp) : line;
  if (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(head)) {
    return { name, namespace, instance, timestamp: head, text: sp > 0 ? line.slice(sp + 1) : '' };
  }
  return { name, namespace, instance, timestamp: now().toISOString(), text: line };
}
