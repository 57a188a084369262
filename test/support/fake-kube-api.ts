/**
 * fake-kube-api is an in-process Kubernetes API server over real HTTP (or HTTPS) on 127.0.0.1, for the calls the
 * Kubernetes backend makes and with the real API's semantics for them: resource versions, Status bodies for errors,
 * label selectors, list+watch streams (timeoutSeconds, bookmarks, 410 Expired after compaction), optimistic
 * concurrency on PUT, merge and strategic merge patches, the pods/log and pods/resize subresources, API discovery,
 * a small Deployment controller that keeps `replicas` pods per Deployment (rolling with maxUnavailable 0), graceful
 * pod deletion (Terminating pods with deletionTimestamp until their grace period ends), a garbage collector that
 * removes a deleted Deployment's pods later, not at once, and a kubelet that admits in-place resizes against the
 * node's allocatable resources or reports them pending (PodResizePending Deferred/Infeasible).
 *
 * Pods never run anything: a test marks them ready, as a kubelet would after the readiness probe passes. Each pod
 * gets its own IP on the loopback network (127.0.0.2, 127.0.0.3, ...) and keeps its containers' ports.
 *
 * Test hooks stand in for what other actors do on a real cluster: other writers changing an object between our
 * read and our update, watch connections that go silent (a dead API server replica), compaction of the event
 * history, a container restart, a log transfer broken off, a slow response.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { createHash, randomUUID } from 'node:crypto';
import { parseQuantity } from '../../src/units.js';
import { isBackendError, type BackendErrorKind } from '../../src/backends/backend.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Resource is a kind the fake serves. */
export type Resource = 'deployments' | 'services' | 'secrets' | 'pods' | 'namespaces';

/** FakeCall is one request the fake received, for tests that check which API calls were made. */
export interface FakeCall {
  method: string;
  /** resource is e.g. "deployments", "pods/log", "pods/resize", "namespaces"; "" for discovery. */
  resource: string;
  verb: string;
  namespace?: string;
  contentType?: string;
  /** query holds the request's query parameters (watch options, selectors, propagationPolicy). */
  query: Record<string, string>;
}

/** FakeKubeOptions configure the fake cluster. */
export interface FakeKubeOptions {
  /** resize: whether the cluster offers the pods/resize subresource (Kubernetes 1.33+); default true. */
  resize?: boolean;
  /** namespaces and their labels; default openfaas-fn (openfaas=1), openfaas and default. */
  namespaces?: Record<string, Record<string, string>>;
  /** terminationMs is how long a deleted pod stays Terminating; 'manual' keeps it until finishTerminating(). Default 20. */
  terminationMs?: number | 'manual';
  /** gcMs is how long the garbage collector takes to delete a deleted Deployment's pods; 'manual' waits for collectGarbage(). Default 10. */
  gcMs?: number | 'manual';
  /** kubelet: 'auto' acts on accepted resizes on the next tick; 'manual' leaves them until kubeletSync(). Default auto. */
  kubelet?: 'auto' | 'manual';
  /** node is the allocatable CPU and memory of the one node; default 64 cores and 256Gi. */
  node?: { cpu: string; memory: string };
  /** bookmarkMs is how often a watch that allows bookmarks gets one; default 60000, like the API server's minute. */
  bookmarkMs?: number;
  /** tls serves HTTPS with this key and certificate (PEM) instead of HTTP. */
  tls?: { key: string; cert: string };
}

/** FakeKube is a running fake API server. */
export interface FakeKube {
  url: string;
  /** kubeconfig is kubeconfig text (JSON) pointing at the fake with a bearer token it checks. */
  kubeconfig: string;
  /** token is the bearer token the fake accepts (for an in-cluster service account token file). */
  token: string;
  calls: FakeCall[];
  /** markReady marks every running pod of a function ready (Ready=True), like a passing readiness probe. */
  markReady(namespace: string, fn: string): Promise<void>;
  setPodReady(namespace: string, pod: string, ready: boolean): void;
  /** appendLog adds a line to a pod's current container log. */
  appendLog(namespace: string, pod: string, text: string, at?: Date): void;
  /** pods lists the pods of a namespace (of one function), Terminating ones included. */
  pods(namespace: string, fn?: string): Obj[];
  object(resource: Resource, namespace: string, name: string): Obj | undefined;
  addNamespace(name: string, labels?: Record<string, string>): void;
  /** forbid makes every call on a resource answer 403, as a missing RBAC rule does; allow lifts it. */
  forbid(resource: string): void;
  allow(resource: string): void;
  /** dropWatches ends every open watch stream, as an API server does when a watch times out. */
  dropWatches(): void;
  /** silenceWatches leaves every open watch connection open but sends nothing on it any more (a dead replica). */
  silenceWatches(): void;
  /** openWatches counts the watch connections the fake still writes to. */
  openWatches(resource?: Resource): number;
  /** compact forgets the event history: a watch from an older resourceVersion gets ERROR 410 Expired. */
  compact(): void;
  /** bookmark sends a BOOKMARK with the current resourceVersion on every watch that allows bookmarks. */
  bookmark(): void;
  /** modify changes an object as another writer would (a controller, kubectl), bumping its resourceVersion. */
  modify(resource: Resource, namespace: string, name: string, mutate: (o: Obj) => void): void;
  /** onNextRead runs `writer` right after the next GET of that object is answered (a concurrent writer). */
  onNextRead(resource: Resource, namespace: string, name: string, writer: () => void): void;
  /** hold delays the answers to requests on a resource or subresource (e.g. "pods/resize") until release(). */
  hold(resource: string): { release(): void };
  /** deletePod deletes a pod as kubectl would: Terminating for its grace period, at once with graceSeconds 0. */
  deletePod(namespace: string, pod: string, graceSeconds?: number): void;
  /** finishTerminating removes every Terminating pod now (their grace periods ended). */
  finishTerminating(): void;
  /** collectGarbage deletes the pods whose Deployment is gone, as the garbage collector does. */
  collectGarbage(): void;
  /** kubeletSync makes the kubelet act on pending resizes now. */
  kubeletSync(): void;
  /** setNode changes the node's allocatable CPU and memory (then the kubelet looks at pending resizes again). */
  setNode(node: { cpu: string; memory: string }): void;
  /** restartContainer restarts a pod's container: its log stream ends, the new container starts with an empty log. */
  restartContainer(namespace: string, pod: string): void;
  /** breakNextLog makes the next log request for a pod send its first line, then lose the connection. */
  breakNextLog(namespace: string, pod: string): void;
  close(): Promise<void>;
}

const groupOf: Record<Resource, string> = { deployments: 'apps', services: '', secrets: '', pods: '', namespaces: '' };
const kindOf: Record<Resource, string> = {
  deployments: 'Deployment',
  services: 'Service',
  secrets: 'Secret',
  pods: 'Pod',
  namespaces: 'Namespace',
};
const qualified = (r: string) => (groupOf[r as Resource] ? `${r}.${groupOf[r as Resource]}` : r);
const clone = <T>(o: T): T => structuredClone(o);
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const nowRfc3339 = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const dns1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** mergePatch applies an RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return clone(patch);
  const out: Obj = isObj(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * strategicMergePatch applies the part of Kubernetes' strategic merge patch we use: like a merge patch, except that
 * lists of objects that all carry `name` (containers, env, volumes, ports) are merged element by element by name.
 */
export function strategicMergePatch(target: unknown, patch: unknown): unknown {
  if (Array.isArray(patch) && Array.isArray(target) && [...patch, ...target].every((e) => isObj(e) && typeof e.name === 'string')) {
    const out = (target as Obj[]).map((e) => clone(e));
    for (const p of patch as Obj[]) {
      const i = out.findIndex((e) => e.name === p.name);
      if (i >= 0) out[i] = strategicMergePatch(out[i], p) as Obj;
      else out.push(clone(p));
    }
    return out;
  }
  if (!isObj(patch)) return clone(patch);
  const out: Obj = isObj(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = strategicMergePatch(out[k], v);
  }
  return out;
}

/** matchesSelector evaluates a label selector: k, !k, k=v, k==v, k!=v, k in (a,b), k notin (a,b). */
export function matchesSelector(labels: Record<string, string> | undefined, selector: string | null): boolean {
  if (!selector) return true;
  const l = labels ?? {};
  const terms = selector.match(/(?:[^,(]|\([^)]*\))+/g) ?? [];
  return terms.every((raw) => {
    const t = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(t))) {
      const vals = m[3]!.split(',').map((s) => s.trim());
      const has = m[1]! in l && vals.includes(l[m[1]!]!);
      return m[2] === 'in' ? has : !has;
    }
    if ((m = /^([^!=\s]+)\s*!=\s*(\S*)$/.exec(t))) return l[m[1]!] !== m[2];
    if ((m = /^([^!=\s]+)\s*==?\s*(\S*)$/.exec(t))) return l[m[1]!] === m[2];
    if ((m = /^!(\S+)$/.exec(t))) return !(m[1]! in l);
    return t in l;
  });
}

function status(code: number, reason: string, message: string, details?: Obj): Obj {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

class HttpStatus extends Error {
  constructor(readonly body: Obj) {
    super(body.message);
  }
}
const notFound = (r: string, name: string) =>
  new HttpStatus(status(404, 'NotFound', `${qualified(r)} "${name}" not found`, { name, group: groupOf[r as Resource] || undefined, kind: r }));

/** invalid is the 422 a validation failure gives, naming the object and the field. */
const invalid = (kind: string, name: string, detail: string) =>
  new HttpStatus(status(422, 'Invalid', `${kind} "${name}" is invalid: ${detail}`, { name, kind: kind.toLowerCase() }));

const computeResources = ['cpu', 'memory'] as const;

/** qosClass computes a pod's QoS class from its containers' requests and limits, as the API server does. */
export function qosClass(spec: Obj): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const cs: Obj[] = spec.containers ?? [];
  const any = cs.some((c) => computeResources.some((r) => c.resources?.requests?.[r] !== undefined || c.resources?.limits?.[r] !== undefined));
  if (!any) return 'BestEffort';
  const guaranteed = cs.every((c) =>
    computeResources.every((r) => {
      const lim = c.resources?.limits?.[r];
      const req = c.resources?.requests?.[r] ?? lim;
      return lim !== undefined && parseQuantity(String(lim)) === parseQuantity(String(req));
    }),
  );
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

/** defaultRequests copies a limit into a missing request of the same resource, as pod defaulting does. */
function defaultRequests(spec: Obj): void {
  for (const c of spec.containers ?? []) {
    const lim = c.resources?.limits;
    if (!lim) continue;
    c.resources.requests ??= {};
    for (const r of computeResources) if (lim[r] !== undefined && c.resources.requests[r] === undefined) c.resources.requests[r] = lim[r];
  }
}

/** podRequests sums a pod's cpu (cores) and memory (bytes) requests from a list of container resources. */
function sumRequests(resources: Obj[]): { cpu: number; memory: number } {
  let cpu = 0;
  let memory = 0;
  for (const r of resources) {
    if (r?.requests?.cpu !== undefined) cpu += parseQuantity(String(r.requests.cpu));
    if (r?.requests?.memory !== undefined) memory += parseQuantity(String(r.requests.memory));
  }
  return { cpu, memory };
}

interface Watcher {
  resource: Resource;
  namespace?: string;
  selector: string | null;
  res: ServerResponse;
  bookmarks: boolean;
  silent: boolean;
  timers: NodeJS.Timeout[];
}
interface LogLine {
  at: Date;
  text: string;
}

/** startFakeKubeApi starts the fake API server on a free port of 127.0.0.1. */
export async function startFakeKubeApi(opts: FakeKubeOptions = {}): Promise<FakeKube> {
  const resize = opts.resize ?? true;
  const terminationMs = opts.terminationMs ?? 20;
  const gcMs = opts.gcMs ?? 10;
  const kubeletMode = opts.kubelet ?? 'auto';
  const bookmarkMs = opts.bookmarkMs ?? 60_000;
  let node = opts.node ?? { cpu: '64', memory: '256Gi' };
  const token = `fake-${randomUUID()}`;
  let rv = 100;
  let compactedRv = 0;
  let nextIp = 2;
  const store = new Map<Resource, Map<string, Obj>>();
  for (const r of Object.keys(kindOf) as Resource[]) store.set(r, new Map());
  const history: { resource: Resource; type: string; obj: Obj; rv: number }[] = [];
  const watchers = new Set<Watcher>();
  const logs = new Map<string, LogLine[]>();
  const followers = new Map<string, Set<{ res: ServerResponse; timestamps: boolean }>>();
  const calls: FakeCall[] = [];
  const forbidden = new Set<string>();
  const readHooks = new Map<string, () => void>();
  const holds = new Map<string, Promise<void>>();
  const brokenLogs = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  /** orphans are the uids of deleted Deployments whose pods the garbage collector has not removed yet. */
  const orphans = new Set<string>();
  let closed = false;

  const key = (ns: string | undefined, name: string) => `${ns ?? ''}/${name}`;
  const nsOf = (o: Obj) => o.metadata?.namespace as string | undefined;
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!closed) fn();
    }, ms);
    timers.add(t);
  };

  const writeEvent = (w: Watcher, ev: Obj) => {
    if (!w.silent && !w.res.writableEnded) w.res.write(`${JSON.stringify(ev)}\n`);
  };

  /** record stores a change, bumps the resourceVersion and tells the watchers. */
  const record = (resource: Resource, type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: Obj) => {
    rv += 1;
    obj.metadata.resourceVersion = String(rv);
    const m = store.get(resource)!;
    if (type === 'DELETED') m.delete(key(nsOf(obj), obj.metadata.name));
    else m.set(key(nsOf(obj), obj.metadata.name), obj);
    const snap = clone(obj);
    history.push({ resource, type, obj: snap, rv });
    for (const w of watchers) {
      if (w.resource !== resource) continue;
      if (w.namespace && w.namespace !== nsOf(snap)) continue;
      if (!matchesSelector(snap.metadata?.labels, w.selector)) continue;
      writeEvent(w, { type, object: snap });
    }
  };

  const newObject = (resource: Resource, ns: string | undefined, body: Obj): Obj => {
    const o = clone(body);
    o.apiVersion = groupOf[resource] ? `${groupOf[resource]}/v1` : 'v1';
    o.kind = kindOf[resource];
    o.metadata = { ...(o.metadata ?? {}), uid: randomUUID(), creationTimestamp: nowRfc3339(), generation: 1 };
    if (ns) o.metadata.namespace = ns;
    else delete o.metadata.namespace;
    return o;
  };

  for (const [name, labels] of Object.entries(
    opts.namespaces ?? { 'openfaas-fn': { openfaas: '1' }, openfaas: {}, default: {} },
  )) {
    record('namespaces', 'ADDED', newObject('namespaces', undefined, { metadata: { name, labels }, status: { phase: 'Active' } }));
  }

  // ---- pods: the kubelet's part ---------------------------------------------------------------------------

  const podReady = (p: Obj) => (p.status?.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True');
  const terminating = (p: Obj) => p.metadata.deletionTimestamp !== undefined;
  const endFollowers = (k: string) => {
    for (const f of followers.get(k) ?? []) f.res.end();
    followers.delete(k);
  };

  /** removePod ends a pod for good: gone from the store, a DELETED event, its log followers closed. */
  const removePod = (p: Obj) => {
    const k = key(nsOf(p), p.metadata.name);
    if (!store.get('pods')!.has(k)) return;
    endFollowers(k);
    record('pods', 'DELETED', clone(store.get('pods')!.get(k)!));
    kubeletSync();
    reconcileOwner(p);
  };

  /**
   * deletePod is a graceful deletion: deletionTimestamp and deletionGracePeriodSeconds are set, the kubelet marks
   * the pod not ready while its container stops, and the pod is gone once the grace period (terminationMs) ends.
   */
  const deletePod = (ns: string, podName: string, graceSeconds?: number) => {
    const cur = store.get('pods')!.get(key(ns, podName));
    if (!cur) return;
    const grace = graceSeconds ?? cur.spec?.terminationGracePeriodSeconds ?? 30;
    if (grace === 0) return removePod(cur);
    if (terminating(cur)) return;
    const upd = clone(cur);
    upd.metadata.deletionTimestamp = new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    upd.metadata.deletionGracePeriodSeconds = grace;
    record('pods', 'MODIFIED', upd);
    // The kubelet sees the deletion and takes the pod out of service.
    const stopping = clone(upd);
    for (const c of stopping.status.conditions ?? []) if (c.type === 'Ready' || c.type === 'ContainersReady') c.status = 'False';
    for (const cs of stopping.status.containerStatuses ?? []) cs.ready = false;
    record('pods', 'MODIFIED', stopping);
    reconcileOwner(stopping);
    if (terminationMs !== 'manual') later(terminationMs, () => removePod(stopping));
  };

  /**
   * kubeletSync admits resizes whose spec differs from what the containers were given: applied when the pod's new
   * requests fit beside the other pods' on the node, Deferred when they would fit an empty node, else Infeasible.
   */
  const kubeletSync = () => {
    const alloc = { cpu: parseQuantity(node.cpu), memory: parseQuantity(node.memory) };
    const pods = [...store.get('pods')!.values()].filter((p) => !terminating(p));
    for (const p of pods) {
      const want = (p.spec.containers ?? []).map((c: Obj) => c.resources ?? {});
      const have = (p.status.containerStatuses ?? []).map((cs: Obj) => cs.resources ?? {});
      if (JSON.stringify(want) === JSON.stringify(have)) continue;
      const mine = sumRequests(want);
      const others = sumRequests(pods.filter((o) => o !== p).flatMap((o) => (o.status.containerStatuses ?? []).map((cs: Obj) => cs.resources ?? {})));
      const upd = clone(p);
      upd.status.conditions = (upd.status.conditions ?? []).filter((c: Obj) => c.type !== 'PodResizePending' && c.type !== 'PodResizeInProgress');
      const short = (['cpu', 'memory'] as const).find((r) => mine[r] > alloc[r]);
      const busy = (['cpu', 'memory'] as const).find((r) => mine[r] + others[r] > alloc[r]);
      if (short || busy) {
        const r = (short ?? busy)!;
        const fmt = (v: number) => (r === 'cpu' ? String(Math.round(v * 1000)) : String(Math.round(v)));
        const reason = short ? 'Infeasible' : 'Deferred';
        const message = short
          ? `Node didn't have enough capacity: ${r}, requested: ${fmt(mine[r])}, capacity: ${fmt(alloc[r])}`
          : `Node didn't have enough resource: ${r}, requested: ${fmt(mine[r])}, used: ${fmt(others[r])}, capacity: ${fmt(alloc[r])}`;
        const prev = (p.status.conditions ?? []).find((c: Obj) => c.type === 'PodResizePending');
        if (prev?.reason === reason && prev?.message === message) continue;
        upd.status.conditions.push({ type: 'PodResizePending', status: 'True', reason, message, lastTransitionTime: nowRfc3339(), observedGeneration: p.metadata.generation });
      } else {
        for (const cs of upd.status.containerStatuses ?? []) {
          const c = upd.spec.containers.find((x: Obj) => x.name === cs.name);
          if (c) {
            cs.resources = clone(c.resources ?? {});
            cs.allocatedResources = clone(c.resources?.requests ?? {});
          }
        }
      }
      upd.status.observedGeneration = p.metadata.generation;
      record('pods', 'MODIFIED', upd);
    }
  };
  const kubeletSoon = () => {
    if (kubeletMode === 'auto') later(0, kubeletSync);
  };

  // ---- the Deployment controller and the garbage collector -----------------------------------------------

  const templateHash = (dep: Obj) => createHash('sha256').update(JSON.stringify(dep.spec?.template ?? {})).digest('hex').slice(0, 10);
  const ownedPods = (uid: string) => [...store.get('pods')!.values()].filter((p) => p.metadata.ownerReferences?.[0]?.uid === uid);
  const activePods = (dep: Obj) => ownedPods(dep.metadata.uid).filter((p) => !terminating(p));
  const suffix = () => Array.from({ length: 5 }, () => 'bcdfghjklmnpqrstvwxz2456789'[Math.floor(Math.random() * 27)]).join('');

  const createPod = (dep: Obj, hash: string) => {
    const ns = nsOf(dep)!;
    let name: string;
    do name = `${dep.metadata.name}-${hash.slice(0, 9)}-${suffix()}`;
    while (store.get('pods')!.has(key(ns, name)));
    const spec = clone(dep.spec.template.spec ?? {});
    defaultRequests(spec);
    spec.nodeName = 'fake-node';
    spec.terminationGracePeriodSeconds ??= 30;
    const n = nextIp++;
    const ip = `127.0.${Math.floor((n - 2) / 250)}.${((n - 2) % 250) + 2}`;
    const pod = newObject('pods', ns, {
      metadata: {
        name,
        labels: { ...(dep.spec.template.metadata?.labels ?? {}), 'pod-template-hash': hash },
        annotations: { ...(dep.spec.template.metadata?.annotations ?? {}) },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${dep.metadata.name}-${hash}`, uid: dep.metadata.uid, controller: true }],
      },
      spec,
      status: {
        phase: 'Running',
        podIP: ip,
        podIPs: [{ ip }],
        hostIP: '127.0.0.1',
        startTime: nowRfc3339(),
        qosClass: qosClass(spec),
        conditions: [
          { type: 'PodScheduled', status: 'True' },
          { type: 'Ready', status: 'False' },
        ],
        containerStatuses: (spec.containers ?? []).map((c: Obj) => ({
          name: c.name,
          image: c.image,
          containerID: `containerd://${randomUUID().replace(/-/g, '')}`,
          ready: false,
          started: true,
          restartCount: 0,
          resources: clone(c.resources ?? {}),
          allocatedResources: clone(c.resources?.requests ?? {}),
        })),
      },
    });
    logs.set(key(ns, name), []);
    record('pods', 'ADDED', pod);
  };

  /** reconcile makes a Deployment's pods match its spec and writes its status. */
  const reconcile = (ns: string, name: string) => {
    const dep = store.get('deployments')!.get(key(ns, name));
    if (!dep) return;
    const hash = templateHash(dep);
    const desired = dep.spec?.replicas ?? 1;
    const pods = activePods(dep);
    const current = pods.filter((p) => p.metadata.labels?.['pod-template-hash'] === hash);
    const old = pods.filter((p) => p.metadata.labels?.['pod-template-hash'] !== hash);
    for (let i = current.length; i < desired; i++) createPod(dep, hash);
    if (current.length > desired) {
      // Scale down the pods that are not ready first, then the youngest (the ReplicaSet controller's order).
      const byPreference = [...current].sort((a, b) => Number(podReady(a)) - Number(podReady(b)) || Number(b.metadata.resourceVersion) - Number(a.metadata.resourceVersion));
      for (const p of byPreference.slice(0, current.length - desired)) deletePod(ns, p.metadata.name);
    }
    const readyNew = activePods(dep).filter((p) => p.metadata.labels?.['pod-template-hash'] === hash && podReady(p)).length;
    // maxUnavailable 0: old pods go only once the new ones can carry the desired count.
    if (old.length > 0 && readyNew >= desired) for (const p of old) deletePod(ns, p.metadata.name);
    const all = activePods(dep);
    const ready = all.filter(podReady).length;
    const updated = all.filter((p) => p.metadata.labels?.['pod-template-hash'] === hash).length;
    const next: Obj = {
      observedGeneration: dep.metadata.generation,
      ...(all.length ? { replicas: all.length } : {}),
      ...(updated ? { updatedReplicas: updated } : {}),
      ...(ready ? { readyReplicas: ready, availableReplicas: ready } : {}),
      ...(all.length - ready ? { unavailableReplicas: all.length - ready } : {}),
    };
    const cur = store.get('deployments')!.get(key(ns, name))!;
    if (JSON.stringify(next) !== JSON.stringify(cur.status ?? {})) {
      const upd = clone(cur);
      upd.status = next;
      record('deployments', 'MODIFIED', upd);
    }
  };
  function reconcileOwner(p: Obj): void {
    const uid = p.metadata.ownerReferences?.[0]?.uid;
    const owner = [...store.get('deployments')!.values()].find((d) => d.metadata.uid === uid);
    if (owner) reconcile(nsOf(owner)!, owner.metadata.name);
  }

  const collectGarbage = () => {
    for (const uid of [...orphans]) {
      orphans.delete(uid);
      for (const p of ownedPods(uid)) deletePod(nsOf(p)!, p.metadata.name);
    }
  };

  const setPodReady = (ns: string, podName: string, ready: boolean) => {
    const p = store.get('pods')!.get(key(ns, podName));
    if (!p) throw new Error(`no pod ${ns}/${podName}`);
    if (ready && terminating(p)) return;
    const upd = clone(p);
    const cond = upd.status.conditions.find((c: Obj) => c.type === 'Ready');
    if (cond.status === (ready ? 'True' : 'False')) return;
    cond.status = ready ? 'True' : 'False';
    cond.lastTransitionTime = nowRfc3339();
    for (const cs of upd.status.containerStatuses ?? []) cs.ready = ready;
    record('pods', 'MODIFIED', upd);
    reconcileOwner(upd);
  };

  // ---- HTTP -----------------------------------------------------------------------------------------------

  const send = (res: ServerResponse, code: number, body: Obj) => {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  const readBody = async (req: IncomingMessage): Promise<Obj> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() === '') return {};
    try {
      return JSON.parse(text) as Obj;
    } catch (e) {
      throw new HttpStatus(status(400, 'BadRequest', `the body of the request was in an unknown format: ${(e as Error).message}`));
    }
  };

  const discovery = (): Obj => ({
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: 'v1',
    resources: [
      { name: 'namespaces', singularName: 'namespace', namespaced: false, kind: 'Namespace', verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] },
      { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] },
      { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
      ...(resize ? [{ name: 'pods/resize', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get', 'patch', 'update'] }] : []),
      { name: 'secrets', singularName: 'secret', namespaced: true, kind: 'Secret', verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] },
      { name: 'services', singularName: 'service', namespaced: true, kind: 'Service', verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] },
    ],
  });

  const applyPatch = (req: IncomingMessage, target: Obj, patch: Obj): Obj => {
    const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
    if (ct === 'application/merge-patch+json') return mergePatch(target, patch) as Obj;
    if (ct === 'application/strategic-merge-patch+json') return strategicMergePatch(target, patch) as Obj;
    throw new HttpStatus(status(415, 'UnsupportedMediaType', `the fake API server does not support patch type ${JSON.stringify(ct)}`));
  };

  const list = (resource: Resource, ns: string | undefined, selector: string | null) =>
    [...store.get(resource)!.values()]
      .filter((o) => (!ns || nsOf(o) === ns) && matchesSelector(o.metadata?.labels, selector))
      .map(clone);

  const endWatch = (w: Watcher) => {
    for (const t of w.timers) clearTimeout(t), clearInterval(t);
    watchers.delete(w);
    if (!w.res.writableEnded) w.res.end();
  };

  const watch = (req: IncomingMessage, res: ServerResponse, resource: Resource, ns: string | undefined, url: URL) => {
    const selector = url.searchParams.get('labelSelector');
    const from = url.searchParams.get('resourceVersion') ?? '';
    const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds') ?? '0');
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const w: Watcher = { resource, namespace: ns, selector, res, bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true', silent: false, timers: [] };
    if (from === '' || from === '0') {
      for (const o of list(resource, ns, selector)) writeEvent(w, { type: 'ADDED', object: o });
    } else if (!/^\d+$/.test(from) || Number(from) < compactedRv) {
      // The history before this resourceVersion is gone: the client must list again.
      writeEvent(w, { type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${compactedRv})`) });
      res.end();
      return;
    } else {
      const since = Number(from);
      for (const ev of history) {
        if (ev.rv <= since || ev.resource !== resource) continue;
        if (ns && nsOf(ev.obj) !== ns) continue;
        if (!matchesSelector(ev.obj.metadata?.labels, selector)) continue;
        writeEvent(w, { type: ev.type, object: ev.obj });
      }
    }
    watchers.add(w);
    if (timeoutSeconds > 0) w.timers.push(setTimeout(() => endWatch(w), timeoutSeconds * 1000));
    if (w.bookmarks) w.timers.push(setInterval(() => sendBookmark(w), bookmarkMs));
    const drop = () => endWatch(w);
    req.on('close', drop);
    res.on('close', drop);
  };

  const sendBookmark = (w: Watcher) => {
    const r = w.resource;
    writeEvent(w, { type: 'BOOKMARK', object: { kind: kindOf[r], apiVersion: groupOf[r] ? `${groupOf[r]}/v1` : 'v1', metadata: { resourceVersion: String(rv) } } });
  };

  const podLog = (req: IncomingMessage, res: ServerResponse, ns: string, podName: string, url: URL) => {
    const pod = store.get('pods')!.get(key(ns, podName));
    if (!pod) throw notFound('pods', podName);
    const container = url.searchParams.get('container') ?? pod.spec.containers?.[0]?.name;
    if (!(pod.spec.containers ?? []).some((c: Obj) => c.name === container)) {
      throw new HttpStatus(status(400, 'BadRequest', `container ${container} is not valid for pod ${podName}`));
    }
    const timestamps = url.searchParams.get('timestamps') === 'true';
    const follow = url.searchParams.get('follow') === 'true';
    const tail = Number(url.searchParams.get('tailLines') ?? '-1');
    const since = url.searchParams.get('sinceTime');
    let lines = logs.get(key(ns, podName)) ?? [];
    // sinceTime has whole-second precision on the API server.
    if (since) lines = lines.filter((l) => Math.floor(l.at.getTime() / 1000) * 1000 >= Date.parse(since));
    if (tail >= 0) lines = tail === 0 ? [] : lines.slice(-tail);
    res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const fmt = (l: LogLine) => `${timestamps ? `${l.at.toISOString()} ` : ''}${l.text}\n`;
    const k = key(ns, podName);
    if (brokenLogs.delete(k)) {
      // Half the transfer, then the connection is lost.
      if (lines[0]) res.write(fmt(lines[0]));
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    for (const l of lines) res.write(fmt(l));
    if (!follow || terminating(pod)) {
      res.end();
      return;
    }
    const f = { res, timestamps };
    if (!followers.has(k)) followers.set(k, new Set());
    followers.get(k)!.add(f);
    req.on('close', () => followers.get(k)?.delete(f));
  };

  /**
   * resizePod validates a resize as the API server does (container resources only; no request or limit removed;
   * requests at most the limits; the QoS class unchanged), stores the new spec and leaves the rest to the kubelet.
   */
  const resizePod = (req: IncomingMessage, ns: string, podName: string, patch: Obj): Obj => {
    const pod = store.get('pods')!.get(key(ns, podName));
    if (!pod) throw notFound('pods', podName);
    const ok =
      Object.keys(patch).every((k) => k === 'spec') &&
      isObj(patch.spec) &&
      Object.keys(patch.spec).every((k) => k === 'containers') &&
      Array.isArray(patch.spec.containers) &&
      patch.spec.containers.every((c: unknown) => isObj(c) && Object.keys(c).every((k) => k === 'name' || k === 'resources'));
    if (!ok) throw invalid('Pod', podName, 'spec: Forbidden: only cpu and memory resources are mutable');
    const upd = clone(pod);
    upd.spec = applyPatch(req, upd.spec, patch.spec);
    (upd.spec.containers as Obj[]).forEach((c, i) => {
      const before = (pod.spec.containers as Obj[]).find((x) => x.name === c.name);
      if (!before) throw invalid('Pod', podName, `spec.containers[${i}].name: Forbidden: containers may not be added`);
      for (const kind of ['requests', 'limits'] as const) {
        for (const r of Object.keys(before.resources?.[kind] ?? {})) {
          if (c.resources?.[kind]?.[r] === undefined) {
            throw invalid('Pod', podName, `spec.containers[${i}].resources.${kind}[${r}]: Forbidden: resource ${kind} cannot be removed`);
          }
        }
      }
      for (const r of computeResources) {
        const req = c.resources?.requests?.[r];
        const lim = c.resources?.limits?.[r];
        if (req !== undefined && lim !== undefined && parseQuantity(String(req)) > parseQuantity(String(lim))) {
          throw invalid('Pod', podName, `spec.containers[${i}].resources.requests: Invalid value: "${req}": must be less than or equal to ${r} limit of ${lim}`);
        }
      }
    });
    const qos = qosClass(upd.spec);
    if (qos !== pod.status.qosClass) throw invalid('Pod', podName, `spec: Invalid value: "${qos}": Pod QOS Class may not change as a result of resizing`);
    if (JSON.stringify(upd.spec) === JSON.stringify(pod.spec)) return clone(pod);
    upd.metadata.generation = (upd.metadata.generation ?? 1) + 1;
    record('pods', 'MODIFIED', upd);
    kubeletSoon();
    return clone(upd);
  };

  const gate = async (resource: string) => {
    const h = holds.get(resource);
    if (h) await h;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.headers.authorization !== `Bearer ${token}`) {
      throw new HttpStatus(status(401, 'Unauthorized', 'Unauthorized'));
    }
    const method = req.method ?? 'GET';
    const query = Object.fromEntries(url.searchParams.entries());
    if (url.pathname === '/api/v1' || url.pathname === '/api/v1/') {
      calls.push({ method, resource: '', verb: 'discovery', query });
      return send(res, 200, discovery());
    }
    const m = /^\/(?:api\/v1|apis\/apps\/v1)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(url.pathname);
    if (!m) throw new HttpStatus(status(404, 'NotFound', 'the server could not find the requested resource'));
    const [, ns, resourceText, name, sub] = m as unknown as [string, string | undefined, string, string | undefined, string | undefined];
    const resource = resourceText as Resource;
    const apps = url.pathname.startsWith('/apis/apps/v1');
    if (!(resource in kindOf) || (resource === 'deployments') !== apps) {
      throw new HttpStatus(status(404, 'NotFound', 'the server could not find the requested resource'));
    }
    const isWatch = url.searchParams.get('watch') === 'true';
    const verb = isWatch ? 'watch' : name ? ({ GET: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Obj)[method] : ({ GET: 'list', POST: 'create' } as Obj)[method];
    calls.push({
      method,
      resource: sub ? `${resource}/${sub}` : resource,
      verb: sub === 'log' ? 'get' : (verb ?? method.toLowerCase()),
      ...(ns ? { namespace: ns } : {}),
      ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}),
      query,
    });
    const fullResource = sub ? `${resource}/${sub}` : resource;
    if (forbidden.has(fullResource)) {
      const v = calls[calls.length - 1]!.verb;
      throw new HttpStatus(
        status(403, 'Forbidden', `${fullResource} is forbidden: User "system:serviceaccount:openfaas:hyperfaas-provider" cannot ${v} resource "${fullResource}" in API group "${groupOf[resource]}"${ns ? ` in the namespace "${ns}"` : ' at the cluster scope'}`),
      );
    }
    const nsStored = resource === 'namespaces' ? undefined : ns;
    if (ns && resource !== 'namespaces' && !store.get('namespaces')!.has(key(undefined, ns)) && method !== 'GET') {
      throw new HttpStatus(status(404, 'NotFound', `namespaces "${ns}" not found`, { name: ns, kind: 'namespaces' }));
    }
    const objects = store.get(resource)!;

    if (sub) {
      if (resource === 'pods' && sub === 'log' && method === 'GET') return podLog(req, res, ns!, name!, url);
      if (resource === 'pods' && sub === 'resize' && resize && method === 'PATCH') {
        const body = resizePod(req, ns!, name!, await readBody(req));
        await gate(fullResource);
        return send(res, 200, body);
      }
      throw new HttpStatus(status(404, 'NotFound', 'the server could not find the requested resource'));
    }

    if (!name) {
      if (method === 'GET' && isWatch) return watch(req, res, resource, nsStored, url);
      if (method === 'GET') {
        return send(res, 200, {
          kind: `${kindOf[resource]}List`,
          apiVersion: groupOf[resource] ? `${groupOf[resource]}/v1` : 'v1',
          metadata: { resourceVersion: String(rv) },
          items: list(resource, nsStored, url.searchParams.get('labelSelector')),
        });
      }
      if (method === 'POST') {
        const body = await readBody(req);
        const n = body.metadata?.name as string | undefined;
        if (!n || !dns1123.test(n) || n.length > 63) {
          throw new HttpStatus(
            status(422, 'Invalid', `${kindOf[resource]} "${n ?? ''}" is invalid: metadata.name: Invalid value: "${n ?? ''}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'`),
          );
        }
        if (objects.has(key(nsStored, n))) {
          throw new HttpStatus(status(409, 'AlreadyExists', `${qualified(resource)} "${n}" already exists`, { name: n, kind: resource }));
        }
        const o = newObject(resource, nsStored, body);
        if (resource === 'deployments') o.status = {};
        if (resource === 'services') o.spec = { ...(o.spec ?? {}), clusterIP: `10.96.0.${Math.floor(Math.random() * 250) + 2}` };
        if (resource === 'secrets') o.type ??= 'Opaque';
        record(resource, 'ADDED', o);
        if (resource === 'deployments') reconcile(nsStored!, n);
        await gate(fullResource);
        return send(res, 201, clone(objects.get(key(nsStored, n))!));
      }
      throw new HttpStatus(status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`));
    }

    const cur = objects.get(key(nsStored, name));
    if (!cur) throw notFound(resource, name);
    if (method === 'GET') {
      send(res, 200, clone(cur));
      const hook = readHooks.get(`${resource}|${nsStored ?? ''}|${name}`);
      if (hook) {
        readHooks.delete(`${resource}|${nsStored ?? ''}|${name}`);
        hook();
      }
      return;
    }
    if (method === 'DELETE') {
      const body = await readBody(req);
      if (resource === 'pods') {
        const g = url.searchParams.get('gracePeriodSeconds') ?? body.gracePeriodSeconds;
        deletePod(nsStored!, name, g === undefined || g === null ? undefined : Number(g));
      } else {
        record(resource, 'DELETED', clone(cur));
        const policy = url.searchParams.get('propagationPolicy') ?? body.propagationPolicy ?? 'Background';
        if (resource === 'deployments' && policy !== 'Orphan') {
          // The garbage collector deletes the dependents later; until then the pods keep running.
          orphans.add(cur.metadata.uid);
          if (gcMs !== 'manual') later(gcMs, collectGarbage);
        }
      }
      await gate(fullResource);
      return send(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, kind: resource, uid: cur.metadata.uid } });
    }
    if (method === 'PUT' || method === 'PATCH') {
      const body = await readBody(req);
      let next: Obj;
      if (method === 'PUT') {
        const want = body.metadata?.resourceVersion;
        if (want && want !== cur.metadata.resourceVersion) {
          throw new HttpStatus(
            status(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(resource)} "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, kind: resource }),
          );
        }
        next = clone(body);
        next.apiVersion = cur.apiVersion;
        next.kind = cur.kind;
        next.metadata = { ...(body.metadata ?? {}), name, uid: cur.metadata.uid, creationTimestamp: cur.metadata.creationTimestamp, generation: cur.metadata.generation };
        if (nsStored) next.metadata.namespace = nsStored;
        if (cur.status !== undefined) next.status = clone(cur.status);
        if (resource === 'services') next.spec = { ...(next.spec ?? {}), clusterIP: cur.spec?.clusterIP };
      } else {
        next = applyPatch(req, cur, body);
        next.metadata = { ...next.metadata, name, uid: cur.metadata.uid, creationTimestamp: cur.metadata.creationTimestamp };
        if (cur.status !== undefined && resource === 'deployments') next.status = clone(cur.status);
      }
      if (resource === 'deployments') {
        if (JSON.stringify(next.spec?.selector) !== JSON.stringify(cur.spec?.selector)) {
          throw new HttpStatus(
            status(422, 'Invalid', `Deployment.apps "${name}" is invalid: spec.selector: Invalid value: field is immutable`, { name, kind: 'deployments' }),
          );
        }
        if (JSON.stringify(next.spec) !== JSON.stringify(cur.spec)) next.metadata.generation = (cur.metadata.generation ?? 1) + 1;
      }
      record(resource, 'MODIFIED', next);
      if (resource === 'deployments') reconcile(nsStored!, name);
      await gate(fullResource);
      return send(res, 200, clone(objects.get(key(nsStored, name))!));
    }
    throw new HttpStatus(status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`));
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof HttpStatus) send(res, e.body.code as number, e.body);
      else send(res, 500, status(500, 'InternalError', `fake API server: ${(e as Error).stack ?? String(e)}`));
    });
  };
  const server: Server = opts.tls ? (createTlsServer({ key: opts.tls.key, cert: opts.tls.cert }, onRequest) as unknown as Server) : createServer(onRequest);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;

  const kubeconfig = JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'fake',
        cluster: opts.tls
          ? { server: url, 'certificate-authority-data': Buffer.from(opts.tls.cert).toString('base64') }
          : { server: url, 'insecure-skip-tls-verify': true },
      },
    ],
    users: [{ name: 'fake', user: { token } }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake', namespace: 'openfaas-fn' } }],
    'current-context': 'fake',
  });

  return {
    url,
    kubeconfig,
    token,
    calls,
    async markReady(ns, fn) {
      for (const p of [...store.get('pods')!.values()]) {
        if (nsOf(p) === ns && p.metadata.labels?.faas_function === fn && !podReady(p) && !terminating(p)) setPodReady(ns, p.metadata.name, true);
      }
    },
    setPodReady,
    appendLog(ns, podName, text, at = new Date()) {
      const k = key(ns, podName);
      const line = { at, text };
      if (!logs.has(k)) logs.set(k, []);
      logs.get(k)!.push(line);
      for (const f of followers.get(k) ?? []) f.res.write(`${f.timestamps ? `${at.toISOString()} ` : ''}${text}\n`);
    },
    pods: (ns, fn) => list('pods', ns, fn ? `faas_function=${fn}` : null),
    object: (resource, ns, name) => {
      const o = store.get(resource)!.get(key(resource === 'namespaces' ? undefined : ns, name));
      return o ? clone(o) : undefined;
    },
    addNamespace(name, labels = {}) {
      record('namespaces', 'ADDED', newObject('namespaces', undefined, { metadata: { name, labels }, status: { phase: 'Active' } }));
    },
    forbid: (r) => void forbidden.add(r),
    allow: (r) => void forbidden.delete(r),
    dropWatches() {
      for (const w of [...watchers]) endWatch(w);
    },
    silenceWatches() {
      for (const w of watchers) w.silent = true;
    },
    openWatches: (r) => [...watchers].filter((w) => !w.silent && (!r || w.resource === r)).length,
    compact() {
      compactedRv = rv;
      history.length = 0;
    },
    bookmark() {
      for (const w of watchers) if (w.bookmarks) sendBookmark(w);
    },
    modify(resource, ns, name, mutate) {
      const nsStored = resource === 'namespaces' ? undefined : ns;
      const cur = store.get(resource)!.get(key(nsStored, name));
      if (!cur) throw new Error(`no ${resource} ${ns}/${name}`);
      const upd = clone(cur);
      mutate(upd);
      if (resource === 'deployments' && JSON.stringify(upd.spec) !== JSON.stringify(cur.spec)) upd.metadata.generation = (cur.metadata.generation ?? 1) + 1;
      record(resource, 'MODIFIED', upd);
      if (resource === 'deployments') reconcile(ns, name);
    },
    onNextRead(resource, ns, name, writer) {
      readHooks.set(`${resource}|${resource === 'namespaces' ? '' : ns}|${name}`, writer);
    },
    hold(resource) {
      let release!: () => void;
      const p = new Promise<void>((r) => (release = r));
      holds.set(resource, p);
      return {
        release() {
          if (holds.get(resource) === p) holds.delete(resource);
          release();
        },
      };
    },
    deletePod: (ns, pod, graceSeconds) => deletePod(ns, pod, graceSeconds),
    finishTerminating() {
      for (const p of [...store.get('pods')!.values()]) if (terminating(p)) removePod(p);
    },
    collectGarbage,
    kubeletSync,
    setNode(n) {
      node = n;
      kubeletSync();
    },
    restartContainer(ns, podName) {
      const k = key(ns, podName);
      const p = store.get('pods')!.get(k);
      if (!p) throw new Error(`no pod ${ns}/${podName}`);
      endFollowers(k);
      logs.set(k, []);
      const upd = clone(p);
      for (const c of upd.status.conditions ?? []) if (c.type === 'Ready' || c.type === 'ContainersReady') c.status = 'False';
      for (const cs of upd.status.containerStatuses ?? []) {
        cs.lastState = { terminated: { exitCode: 137, reason: 'Error', containerID: cs.containerID } };
        cs.containerID = `containerd://${randomUUID().replace(/-/g, '')}`;
        cs.restartCount = (cs.restartCount ?? 0) + 1;
        cs.ready = false;
      }
      record('pods', 'MODIFIED', upd);
      reconcileOwner(upd);
    },
    breakNextLog(ns, podName) {
      brokenLogs.add(key(ns, podName));
    },
    async close() {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const w of [...watchers]) endWatch(w);
      for (const set of followers.values()) for (const f of set) f.res.end();
      followers.clear();
      for (const [r] of holds) holds.delete(r);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** errorKindOf settles a backend call to 'ok' or its BackendError kind (anything else is rethrown). */
export async function errorKindOf(p: Promise<unknown>): Promise<BackendErrorKind | 'ok'> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (isBackendError(e)) return e.kind;
    throw e;
  }
}
