/**
 * pods holds the pure pod-level mappings: a Pod as a scheduler Instance, the resize plan for phase-1 scale-up and
 * where a resize stands, and a timestamped log line as a LogMessage. No I/O, table-tested.
 */
import { parseQuantity } from '../../units.js';
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

type ResourceMap = Record<string, string>;
const computeKeys = ['cpu', 'memory'] as const;

/** amount reads a quantity; undefined when absent or unreadable. */
function amount(q: string | undefined): number | undefined {
  if (q === undefined) return undefined;
  try {
    return parseQuantity(String(q));
  } catch {
    return undefined;
  }
}

/** qosOf computes the QoS class of a set of containers' resources, as the API server does for a pod. */
export function qosOf(resources: { requests?: ResourceMap; limits?: ResourceMap }[]): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const any = resources.some((r) => computeKeys.some((k) => r.requests?.[k] !== undefined || r.limits?.[k] !== undefined));
  if (!any) return 'BestEffort';
  const guaranteed = resources.every((r) =>
    computeKeys.every((k) => {
      const lim = amount(r.limits?.[k]);
      const req = amount(r.requests?.[k]) ?? lim;
      return lim !== undefined && lim === req;
    }),
  );
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

/** ResizePlan is the resize patch and the patch that would undo it, or why the pod cannot be resized in place. */
export type ResizePlan = { container: string; patch: object; undo: object } | { skip: string };

/**
 * resizePlan builds the strategic merge patch for a pod's resize subresource within what Kubernetes allows: the QoS
 * class may not change and no request may exceed its limit. So a BestEffort pod (no requests or limits: it may
 * already use any free CPU) is skipped; a resource without a limit is left alone (it is not capped); a Guaranteed
 * pod gets the same value as request and limit; a Burstable limit never goes below its request, nor onto it where
 * that would make the pod Guaranteed. Returns undefined when `limits` names nothing to change.
 */
export function resizePlan(pod: V1Pod, limits: ResourceLimits): ResizePlan | undefined {
  const fn = pod.metadata?.labels?.[functionLabel];
  const containers = pod.spec?.containers ?? [];
  const c = containers.find((x) => x.name === fn) ?? containers[0];
  if (!c?.name) return undefined;
  const asked: ResourceMap = {};
  if (limits.cpu !== undefined && limits.cpu > 0) asked.cpu = cpuQuantity(limits.cpu);
  if (limits.memoryBytes !== undefined && limits.memoryBytes > 0) asked.memory = memoryQuantity(limits.memoryBytes);
  if (Object.keys(asked).length === 0) return undefined;
  const all = containers.map((x) => ({ requests: { ...(x.resources?.requests ?? {}) }, limits: { ...(x.resources?.limits ?? {}) } }));
  const qos = qosOf(all);
  if (qos === 'BestEffort') {
    return { skip: `pod ${pod.metadata?.name} has no requests or limits (BestEffort): there is no limit to raise, and Kubernetes cannot add one in place` };
  }
  const mine = all[containers.indexOf(c)]!;
  const oldLimits = c.resources?.limits ?? {};
  const oldRequests = c.resources?.requests ?? {};
  const newLimits: ResourceMap = {};
  const newRequests: ResourceMap = {};
  for (const k of computeKeys) {
    const want = asked[k];
    if (want === undefined || oldLimits[k] === undefined) continue;
    const req = oldRequests[k];
    if (qos === 'Guaranteed') {
      newLimits[k] = want;
      newRequests[k] = want;
    } else {
      newLimits[k] = req !== undefined && amount(want)! < amount(req)! ? req : want;
    }
  }
  if (Object.keys(newLimits).length === 0) {
    return { skip: `pod ${pod.metadata?.name} has no ${Object.keys(asked).join(' or ')} limit to change` };
  }
  Object.assign(mine.limits, newLimits);
  Object.assign(mine.requests, newRequests);
  if (qos === 'Burstable' && qosOf(all) === 'Guaranteed') {
    // Every request would equal its limit: keep one limit a step above its request so the pod stays Burstable.
    const k = Object.keys(newLimits)[0] as 'cpu' | 'memory';
    newLimits[k] = k === 'cpu' ? cpuQuantity(amount(newLimits[k])! + 0.001) : memoryQuantity(amount(newLimits[k])! + 1024 * 1024);
  }
  const part = (m: ResourceMap) => (Object.keys(m).length > 0 ? m : undefined);
  const resources = { limits: newLimits, ...(part(newRequests) ? { requests: newRequests } : {}) };
  const pick = (from: ResourceMap, keys: string[]) => Object.fromEntries(keys.filter((k) => from[k] !== undefined).map((k) => [k, from[k]!]));
  const undoRequests = pick(oldRequests, Object.keys(newRequests));
  const undo = { limits: pick(oldLimits, Object.keys(newLimits)), ...(part(undoRequests) ? { requests: undoRequests } : {}) };
  return {
    container: c.name,
    patch: { spec: { containers: [{ name: c.name, resources }] } },
    undo: { spec: { containers: [{ name: c.name, resources: undo }] } },
  };
}

/** ResizeState is where an accepted resize stands in the pod's status. */
export type ResizeState = { state: 'applied' } | { state: 'waiting' } | { state: 'pending'; reason: string; message: string } | { state: 'gone' };

/**
 * resizeState reads whether the kubelet applied a container's resize (its status resources match the spec), has
 * it pending (the PodResizePending condition, Deferred or Infeasible; status.resize before Kubernetes 1.33), or
 * not looked at it yet. A pod being deleted will never apply it.
 */
export function resizeState(pod: V1Pod, container: string): ResizeState {
  if (pod.metadata?.deletionTimestamp) return { state: 'gone' };
  const pending = (pod.status?.conditions ?? []).find((c) => c.type === 'PodResizePending' && c.status === 'True');
  if (pending) return { state: 'pending', reason: pending.reason ?? 'Pending', message: pending.message ?? '' };
  const legacy = (pod.status as { resize?: string } | undefined)?.resize;
  if (legacy === 'Deferred' || legacy === 'Infeasible') return { state: 'pending', reason: legacy, message: '' };
  const spec = pod.spec?.containers.find((c) => c.name === container)?.resources ?? {};
  const have = pod.status?.containerStatuses?.find((c) => c.name === container)?.resources;
  if (!have) return { state: 'waiting' };
  const same = (a: ResourceMap | undefined, b: ResourceMap | undefined) => computeKeys.every((k) => amount(a?.[k]) === amount(b?.[k]));
  return same(spec.limits, have.limits) && same(spec.requests, have.requests) ? { state: 'applied' } : { state: 'waiting' };
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
