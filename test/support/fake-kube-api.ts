/**
 * fake-kube-api is an in-process Kubernetes API server over real HTTP on 127.0.0.1, for the calls the Kubernetes
 * backend makes and with the real API's semantics for them: resource versions, Status bodies for errors, label
 * selectors, list+watch streams, merge and strategic merge patches, the pods/log and pods/resize subresources,
 * API discovery, and a small Deployment controller that keeps `replicas` pods per Deployment (rolling with
 * maxUnavailable 0). Pods never run anything: a test marks them ready, as a kubelet would after the readiness
 * probe passes. All pods share podIP 127.0.0.1, so each gets its own port in place of the container's "http" port.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, randomUUID } from 'node:crypto';

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
}

/** FakeKubeOptions configure the fake cluster. */
export interface FakeKubeOptions {
  /** resize: whether the cluster offers the pods/resize subresource (Kubernetes 1.33+); default true. */
  resize?: boolean;
  /** namespaces and their labels; default openfaas-fn (openfaas=1), openfaas and default. */
  namespaces?: Record<string, Record<string, string>>;
  /** podPort gives each new pod its port on 127.0.0.1; default a counter. */
  podPort?: () => number;
}

/** FakeKube is a running fake API server. */
export interface FakeKube {
  url: string;
  /** kubeconfig is kubeconfig text (JSON) pointing at the fake with a bearer token it checks. */
  kubeconfig: string;
  calls: FakeCall[];
  /** markReady marks every pod of a function ready (Ready=True), like a passing readiness probe. */
  markReady(namespace: string, fn: string): Promise<void>;
  setPodReady(namespace: string, pod: string, ready: boolean): void;
  /** appendLog adds a line to a pod's container log. */
  appendLog(namespace: string, pod: string, text: string, at?: Date): void;
  pods(namespace: string, fn?: string): Obj[];
  object(resource: Resource, namespace: string, name: string): Obj | undefined;
  addNamespace(name: string, labels?: Record<string, string>): void;
  /** forbid makes every call on a resource answer 403, as a missing RBAC rule does; allow lifts it. */
  forbid(resource: string): void;
  allow(resource: string): void;
  /** dropWatches ends every open watch stream, as an API server does when a watch times out. */
  dropWatches(): void;
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

interface Watcher {
  resource: Resource;
  namespace?: string;
  selector: string | null;
  res: ServerResponse;
}
interface LogLine {
  at: Date;
  text: string;
}

/** startFakeKubeApi starts the fake API server on a free port of 127.0.0.1. */
export async function startFakeKubeApi(opts: FakeKubeOptions = {}): Promise<FakeKube> {
  const resize = opts.resize ?? true;
  const token = `fake-${randomUUID()}`;
  let rv = 100;
  let nextPort = 20_000 + Math.floor(Math.random() * 20_000);
  const podPort = opts.podPort ?? (() => nextPort++);
  const store = new Map<Resource, Map<string, Obj>>();
  for (const r of Object.keys(kindOf) as Resource[]) store.set(r, new Map());
  const history: { resource: Resource; type: string; obj: Obj; rv: number }[] = [];
  const watchers = new Set<Watcher>();
  const logs = new Map<string, LogLine[]>();
  const followers = new Map<string, Set<{ res: ServerResponse; timestamps: boolean }>>();
  const calls: FakeCall[] = [];
  const forbidden = new Set<string>();

  const key = (ns: string | undefined, name: string) => `${ns ?? ''}/${name}`;
  const nsOf = (o: Obj) => o.metadata?.namespace as string | undefined;

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
      w.res.write(`${JSON.stringify({ type, object: snap })}\n`);
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

  // ---- the Deployment controller --------------------------------------------------------------------------

  const templateHash = (dep: Obj) => createHash('sha256').update(JSON.stringify(dep.spec?.template ?? {})).digest('hex').slice(0, 10);
  const podReady = (p: Obj) => (p.status?.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True');
  const ownedPods = (dep: Obj) =>
    [...store.get('pods')!.values()].filter((p) => p.metadata.ownerReferences?.[0]?.uid === dep.metadata.uid);
  const suffix = () => Array.from({ length: 5 }, () => 'bcdfghjklmnpqrstvwxz2456789'[Math.floor(Math.random() * 27)]).join('');

  const deletePod = (p: Obj) => {
    const k = key(nsOf(p), p.metadata.name);
    p.metadata.deletionTimestamp = nowRfc3339();
    record('pods', 'DELETED', p);
    for (const f of followers.get(k) ?? []) f.res.end();
    followers.delete(k);
  };

  const createPod = (dep: Obj, hash: string) => {
    const ns = nsOf(dep)!;
    let name: string;
    do name = `${dep.metadata.name}-${hash.slice(0, 9)}-${suffix()}`;
    while (store.get('pods')!.has(key(ns, name)));
    const spec = clone(dep.spec.template.spec ?? {});
    const port = podPort();
    for (const c of spec.containers ?? []) {
      for (const p of c.ports ?? []) if (p.name === 'http') p.containerPort = port;
    }
    spec.nodeName = 'fake-node';
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
        podIP: '127.0.0.1',
        podIPs: [{ ip: '127.0.0.1' }],
        hostIP: '127.0.0.1',
        startTime: nowRfc3339(),
        qosClass: 'Burstable',
        conditions: [
          { type: 'PodScheduled', status: 'True' },
          { type: 'Ready', status: 'False' },
        ],
        containerStatuses: (spec.containers ?? []).map((c: Obj) => ({
          name: c.name,
          image: c.image,
          ready: false,
          started: true,
          restartCount: 0,
          resources: clone(c.resources ?? {}),
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
    const pods = ownedPods(dep);
    const current = pods.filter((p) => p.metadata.labels?.['pod-template-hash'] === hash);
    const old = pods.filter((p) => p.metadata.labels?.['pod-template-hash'] !== hash);
    for (let i = current.length; i < desired; i++) createPod(dep, hash);
    if (current.length > desired) {
      // Scale down the pods that are not ready first, then the youngest (the ReplicaSet controller's order).
      const byPreference = [...current].sort((a, b) => Number(podReady(a)) - Number(podReady(b)) || Number(b.metadata.resourceVersion) - Number(a.metadata.resourceVersion));
      for (const p of byPreference.slice(0, current.length - desired)) deletePod(p);
    }
    const readyNew = ownedPods(dep).filter((p) => p.metadata.labels?.['pod-template-hash'] === hash && podReady(p)).length;
    // maxUnavailable 0: old pods go only once the new ones can carry the desired count.
    if (old.length > 0 && readyNew >= desired) for (const p of old) deletePod(p);
    const all = ownedPods(dep);
    const ready = all.filter(podReady).length;
    const next: Obj = {
      observedGeneration: dep.metadata.generation,
      ...(all.length ? { replicas: all.length } : {}),
      ...(all.filter((p) => p.metadata.labels?.['pod-template-hash'] === hash).length
        ? { updatedReplicas: all.filter((p) => p.metadata.labels?.['pod-template-hash'] === hash).length }
        : {}),
      ...(ready ? { readyReplicas: ready, availableReplicas: ready } : {}),
      ...(all.length - ready ? { unavailableReplicas: all.length - ready } : {}),
    };
    if (JSON.stringify(next) !== JSON.stringify(dep.status ?? {})) {
      const upd = clone(dep);
      upd.status = next;
      record('deployments', 'MODIFIED', upd);
    }
  };

  const setPodReady = (ns: string, podName: string, ready: boolean) => {
    const p = store.get('pods')!.get(key(ns, podName));
    if (!p) throw new Error(`no pod ${ns}/${podName}`);
    const upd = clone(p);
    const cond = upd.status.conditions.find((c: Obj) => c.type === 'Ready');
    if (cond.status === (ready ? 'True' : 'False')) return;
    cond.status = ready ? 'True' : 'False';
    cond.lastTransitionTime = nowRfc3339();
    for (const cs of upd.status.containerStatuses ?? []) cs.ready = ready;
    record('pods', 'MODIFIED', upd);
    const owner = store.get('deployments')!.get(key(ns, p.metadata.labels?.faas_function ?? ''));
    if (owner) reconcile(ns, owner.metadata.name);
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

  const watch = (req: IncomingMessage, res: ServerResponse, resource: Resource, ns: string | undefined, url: URL) => {
    const selector = url.searchParams.get('labelSelector');
    const from = url.searchParams.get('resourceVersion') ?? '';
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const w: Watcher = { resource, namespace: ns, selector, res };
    if (from === '' || from === '0') {
      for (const o of list(resource, ns, selector)) res.write(`${JSON.stringify({ type: 'ADDED', object: o })}\n`);
    } else {
      const since = Number(from);
      for (const ev of history) {
        if (ev.rv <= since || ev.resource !== resource) continue;
        if (ns && nsOf(ev.obj) !== ns) continue;
        if (!matchesSelector(ev.obj.metadata?.labels, selector)) continue;
        res.write(`${JSON.stringify({ type: ev.type, object: ev.obj })}\n`);
      }
    }
    watchers.add(w);
    const drop = () => watchers.delete(w);
    req.on('close', drop);
    res.on('close', drop);
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
    if (since) lines = lines.filter((l) => l.at.getTime() >= Date.parse(since));
    if (tail >= 0) lines = tail === 0 ? [] : lines.slice(-tail);
    res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const fmt = (l: LogLine) => `${timestamps ? `${l.at.toISOString()} ` : ''}${l.text}\n`;
    for (const l of lines) res.write(fmt(l));
    if (!follow) {
      res.end();
      return;
    }
    const k = key(ns, podName);
    const f = { res, timestamps };
    if (!followers.has(k)) followers.set(k, new Set());
    followers.get(k)!.add(f);
    req.on('close', () => followers.get(k)?.delete(f));
  };

  const resizePod = (req: IncomingMessage, ns: string, podName: string, patch: Obj): Obj => {
    const pod = store.get('pods')!.get(key(ns, podName));
    if (!pod) throw notFound('pods', podName);
    // The resize subresource takes container resources only.
    const ok =
      Object.keys(patch).every((k) => k === 'spec') &&
      isObj(patch.spec) &&
      Object.keys(patch.spec).every((k) => k === 'containers') &&
      Array.isArray(patch.spec.containers) &&
      patch.spec.containers.every((c: unknown) => isObj(c) && Object.keys(c).every((k) => k === 'name' || k === 'resources'));
    if (!ok) {
      throw new HttpStatus(status(422, 'Invalid', `Pod "${podName}" is invalid: spec: Forbidden: only cpu and memory resources are mutable`));
    }
    const upd = clone(pod);
    upd.spec = applyPatch(req, upd.spec, patch.spec);
    for (const cs of upd.status.containerStatuses ?? []) {
      const c = upd.spec.containers.find((x: Obj) => x.name === cs.name);
      if (c) cs.resources = clone(c.resources ?? {});
    }
    upd.metadata.generation = (upd.metadata.generation ?? 1) + 1;
    record('pods', 'MODIFIED', upd);
    return clone(upd);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.headers.authorization !== `Bearer ${token}`) {
      throw new HttpStatus(status(401, 'Unauthorized', 'Unauthorized'));
    }
    const method = req.method ?? 'GET';
    if (url.pathname === '/api/v1' || url.pathname === '/api/v1/') {
      calls.push({ method, resource: '', verb: 'discovery' });
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
        return send(res, 200, resizePod(req, ns!, name!, await readBody(req)));
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
        record(resource, 'ADDED', o);
        if (resource === 'deployments') reconcile(nsStored!, n);
        return send(res, 201, clone(objects.get(key(nsStored, n))!));
      }
      throw new HttpStatus(status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`));
    }

    const cur = objects.get(key(nsStored, name));
    if (!cur) throw notFound(resource, name);
    if (method === 'GET') return send(res, 200, clone(cur));
    if (method === 'DELETE') {
      if (resource === 'pods') {
        deletePod(clone(cur));
        const owner = store.get('deployments')!.get(key(nsStored, cur.metadata.labels?.faas_function ?? ''));
        if (owner) reconcile(nsStored!, owner.metadata.name);
      } else {
        record(resource, 'DELETED', clone(cur));
        if (resource === 'deployments') for (const p of ownedPods(cur)) deletePod(clone(p));
      }
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
      return send(res, 200, clone(objects.get(key(nsStored, name))!));
    }
    throw new HttpStatus(status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`));
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof HttpStatus) send(res, e.body.code as number, e.body);
      else send(res, 500, status(500, 'InternalError', `fake API server: ${(e as Error).stack ?? String(e)}`));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const url = `http://127.0.0.1:${port}`;

  const kubeconfig = JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'fake', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'fake', user: { token } }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake', namespace: 'openfaas-fn' } }],
    'current-context': 'fake',
  });

  return {
    url,
    kubeconfig,
    calls,
    async markReady(ns, fn) {
      for (const p of [...store.get('pods')!.values()]) {
        if (nsOf(p) === ns && p.metadata.labels?.faas_function === fn && !podReady(p)) setPodReady(ns, p.metadata.name, true);
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
      for (const w of watchers) w.res.end();
      watchers.clear();
    },
    async close() {
      for (const w of watchers) w.res.end();
      watchers.clear();
      for (const set of followers.values()) for (const f of set) f.res.end();
      followers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
