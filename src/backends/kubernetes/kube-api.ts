/**
 * kube-api is the narrow port between the Kubernetes backend and the API server, and the ONLY module that imports
 * @kubernetes/client-node. It lists exactly the calls the backend makes (and so exactly what the RBAC in
 * yaml/base/rbac.yaml grants), and every failure leaves it as a BackendError (errors.ts has the one table).
 */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Writable } from 'node:stream';
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  ListWatch,
  PatchStrategy,
  Watch,
  setHeaderOptions,
  type KubernetesObject,
  type V1Deployment,
  type V1Pod,
  type V1Secret,
  type V1Service,
} from '@kubernetes/client-node';
import { BackendError } from '../backend.js';
import type { KubeConnection } from './config.js';
import { toBackendError } from './errors.js';

export type {
  V1Container,
  V1Deployment,
  V1EnvVar,
  V1Pod,
  V1Probe,
  V1ResourceRequirements,
  V1Secret,
  V1Service,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';

/** WatchKind is what the backend watches: the functions' Deployments and their Pods. */
export type WatchKind = 'deployments' | 'pods';

/** WatchHandlers receive a watched object's life; error is told about a broken list or watch (it is retried). */
export interface WatchHandlers<T> {
  upsert(obj: T): void;
  remove(obj: T): void;
  error?(err: Error): void;
}

/** Watcher is a running list+watch; synced resolves after the first successful list. */
export interface Watcher {
  synced: Promise<void>;
  stop(): Promise<void>;
}

/** LogStream is one open pod log request: done settles when the transfer ends (rejects when it broke off). */
export interface LogStream {
  abort(): void;
  done: Promise<void>;
}

/** PodLogOptions are the log options we pass through to the API server; timestamps are always on. */
export interface PodLogOptions {
  follow: boolean;
  tailLines?: number;
  sinceTime?: string;
}

/** KubeApi is every Kubernetes call the backend makes, and nothing more. Errors are BackendErrors. */
export interface KubeApi {
  createDeployment(namespace: string, body: V1Deployment): Promise<V1Deployment>;
  readDeployment(namespace: string, name: string): Promise<V1Deployment>;
  /** replaceDeployment is a PUT: with metadata.resourceVersion set, a concurrent change gives Conflict. */
  replaceDeployment(namespace: string, name: string, body: V1Deployment): Promise<V1Deployment>;
  /** patchDeployment is a JSON merge patch (RFC 7386), e.g. {spec:{replicas:2}}. */
  patchDeployment(namespace: string, name: string, patch: object): Promise<V1Deployment>;
  deleteDeployment(namespace: string, name: string): Promise<void>;

  createService(namespace: string, body: V1Service): Promise<V1Service>;
  /** patchService is a JSON merge patch (labels, annotations). */
  patchService(namespace: string, name: string, patch: object): Promise<V1Service>;
  deleteService(namespace: string, name: string): Promise<void>;

  listSecrets(namespace: string, labelSelector: string): Promise<V1Secret[]>;
  readSecret(namespace: string, name: string): Promise<V1Secret>;
  createSecret(namespace: string, body: V1Secret): Promise<V1Secret>;
  patchSecret(namespace: string, name: string, patch: object): Promise<V1Secret>;
  deleteSecret(namespace: string, name: string): Promise<void>;

  listPods(namespace: string, labelSelector: string): Promise<V1Pod[]>;
  /**
   * podLog pipes one container's log (with RFC 3339 timestamps) into sink and ends the sink when the transfer ends,
   * cleanly or not; the returned stream's done tells which, and abort stops following.
   */
  podLog(namespace: string, pod: string, container: string, opts: PodLogOptions, sink: Writable): Promise<LogStream>;
  /** resizePod patches the pod's resize subresource (Kubernetes 1.33+) with a strategic merge patch. */
  resizePod(namespace: string, name: string, patch: object): Promise<V1Pod>;
  /** supportsPodResize asks API discovery (/api/v1) whether pods/resize exists. */
  supportsPodResize(): Promise<boolean>;

  /** watch lists and then watches one kind in one namespace, filtered by a label selector, retrying on errors. */
  watch<T extends WatchKind>(
    kind: T,
    namespace: string,
    labelSelector: string,
    handlers: WatchHandlers<T extends 'pods' ? V1Pod : V1Deployment>,
  ): Watcher;
}

/** KubePermission is one RBAC rule's worth of what the port calls: API group, resource (or subresource), verbs. */
export interface KubePermission {
  group: string;
  resource: string;
  verbs: readonly string[];
}

/**
 * kubePermissions lists every permission the methods of KubeApi need, and nothing else; every call is made inside a
 * function namespace, so a namespaced Role per function namespace grants them all. yaml/base/rbac.yaml grants
 * exactly these (test/unit/kubernetes/manifests-render.test.ts compares them) and the fake API server records that
 * the backend never makes a call outside them (test/integration/kubernetes-backend.test.ts).
 */
export const kubePermissions: readonly KubePermission[] = Object.freeze([
  { group: 'apps', resource: 'deployments', verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
  { group: '', resource: 'services', verbs: ['create', 'patch', 'delete'] },
  { group: '', resource: 'secrets', verbs: ['get', 'list', 'create', 'patch', 'delete'] },
  { group: '', resource: 'pods', verbs: ['list', 'watch'] },
  { group: '', resource: 'pods/log', verbs: ['get'] },
  { group: '', resource: 'pods/resize', verbs: ['patch'] },
]);

/** loadKubeConfig builds a client-node KubeConfig for a connection. */
function loadKubeConfig(conn: KubeConnection): KubeConfig {
  const kc = new KubeConfig();
  if (conn.kind === 'in-cluster') kc.loadFromCluster();
  else if (conn.kind === 'file') kc.loadFromFile(conn.path);
  else kc.loadFromString(conn.text);
  return kc;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const strategicPatch = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

/** call runs one API call and turns whatever it throws into a BackendError naming what was being done. */
async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toBackendError(e, what);
  }
}

/** KubeApiOptions tune retries and watch liveness; the defaults suit a real API server. */
export interface KubeApiOptions {
  /** retryMs is the first pause before a failed list or watch is tried again; it doubles up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
  /** watchTimeoutSeconds asks the API server to end each watch after this long (it is then resumed). */
  watchTimeoutSeconds?: number;
  /**
   * watchIdleMs is how long a watch may stay silent, without an event or a bookmark, before it is dropped and
   * resumed: a connection to an API server that went away can stay open without a word for many minutes.
   */
  watchIdleMs?: number;
}

/**
 * LiveWatch is client-node's Watch with liveness: every watch asks for bookmarks (so a quiet watch still hears
 * from the server, and resumes from a fresh resourceVersion) and for a server-side timeout, and one that stays
 * silent longer than idleMs is cut off and reported as a normal end, so the informer watches again at once.
 */
class LiveWatch extends Watch {
  constructor(
    kc: KubeConfig,
    private readonly timeoutSeconds: number,
    private readonly idleMs: number,
  ) {
    super(kc);
  }

  override async watch(
    path: string,
    queryParams: Record<string, unknown>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    let finished = false;
    let inner: AbortController | undefined;
    let timer: NodeJS.Timeout | undefined;
    const finish = (err: unknown) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      done(err);
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        finish(null);
        inner?.abort();
      }, this.idleMs);
    };
    arm();
    inner = await super.watch(
      path,
      { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: this.timeoutSeconds },
      (phase, obj, raw) => {
        if (finished) return;
        arm();
        callback(phase, obj, raw);
      },
      finish,
    );
    // Cut off while still connecting: drop the late connection.
    if (finished) inner.abort();
    const outer = new AbortController();
    outer.signal.addEventListener('abort', () => {
      finished = true;
      clearTimeout(timer);
      inner?.abort();
    });
    return outer;
  }
}

/** readAll collects a response body as text. */
async function readAll(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * createKubeApi connects the port to a real API server through @kubernetes/client-node 1.4. A broken watch is
 * retried after retryMs, doubling up to maxRetryMs while it keeps failing (a missing RBAC rule must not spin).
 */
export function createKubeApi(conn: KubeConnection, opts: KubeApiOptions = {}): KubeApi {
  const kc = loadKubeConfig(conn);
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const retryMs = opts.retryMs ?? 1000;
  const maxRetryMs = opts.maxRetryMs ?? 30_000;
  const watchTimeoutSeconds = opts.watchTimeoutSeconds ?? 300;
  const watchIdleMs = opts.watchIdleMs ?? 120_000;

  /**
   * openLog makes the pods/log request itself (client-node's Log does not tell when a transfer breaks off, so a
   * request without follow could wait forever): the sink is ended either way, and done says how it went.
   */
  const openLog = async (namespace: string, pod: string, container: string, o: PodLogOptions, sink: Writable): Promise<LogStream> => {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('no current cluster in the kubeconfig');
    const url = new URL(`${cluster.server}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/log`);
    url.searchParams.set('container', container);
    url.searchParams.set('timestamps', 'true');
    url.searchParams.set('follow', String(o.follow));
    if (o.tailLines !== undefined && o.tailLines > 0) url.searchParams.set('tailLines', String(o.tailLines));
    if (o.sinceTime) url.searchParams.set('sinceTime', o.sinceTime);
    const reqOpts: RequestOptions = { headers: {} };
    await kc.applyToHTTPSOptions(reqOpts);
    const ac = new AbortController();
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(url, { ...reqOpts, method: 'GET', signal: ac.signal }, resolve);
      req.on('error', reject);
      req.end();
    });
    if (res.statusCode !== 200) {
      const body = await readAll(res);
      throw Object.assign(new Error(`HTTP ${res.statusCode}`), { code: res.statusCode, body });
    }
    const done = new Promise<void>((resolve, reject) => {
      res.on('end', () => {
        sink.end();
        resolve();
      });
      res.on('close', () => {
        if (res.complete) return;
        sink.end();
        reject(new BackendError('Unavailable', `the log of pod ${namespace}/${pod} broke off${ac.signal.aborted ? ' (aborted)' : ''}`));
      });
      res.on('error', () => undefined); // reported by 'close'
    });
    done.catch(() => undefined); // a caller that aborts need not wait for it
    res.pipe(sink, { end: false });
    return { abort: () => ac.abort(), done };
  };

  return {
    createDeployment: (namespace, body) =>
      call(`create deployment ${namespace}/${body.metadata?.name}`, () => apps.createNamespacedDeployment({ namespace, body })),
    readDeployment: (namespace, name) =>
      call(`read deployment ${namespace}/${name}`, () => apps.readNamespacedDeployment({ namespace, name })),
    replaceDeployment: (namespace, name, body) =>
      call(`replace deployment ${namespace}/${name}`, () => apps.replaceNamespacedDeployment({ namespace, name, body })),
    patchDeployment: (namespace, name, patch) =>
      call(`patch deployment ${namespace}/${name}`, () => apps.patchNamespacedDeployment({ namespace, name, body: patch }, mergePatch)),
    deleteDeployment: (namespace, name) =>
      call(`delete deployment ${namespace}/${name}`, async () => {
        await apps.deleteNamespacedDeployment({ namespace, name, propagationPolicy: 'Background' });
      }),

    createService: (namespace, body) =>
      call(`create service ${namespace}/${body.metadata?.name}`, () => core.createNamespacedService({ namespace, body })),
    patchService: (namespace, name, patch) =>
      call(`patch service ${namespace}/${name}`, () => core.patchNamespacedService({ namespace, name, body: patch }, mergePatch)),
    deleteService: (namespace, name) =>
      call(`delete service ${namespace}/${name}`, async () => {
        await core.deleteNamespacedService({ namespace, name });
      }),

    listSecrets: (namespace, labelSelector) =>
      call(`list secrets in ${namespace}`, async () => (await core.listNamespacedSecret({ namespace, labelSelector })).items),
    readSecret: (namespace, name) => call(`read secret ${namespace}/${name}`, () => core.readNamespacedSecret({ namespace, name })),
    createSecret: (namespace, body) =>
      call(`create secret ${namespace}/${body.metadata?.name}`, () => core.createNamespacedSecret({ namespace, body })),
    patchSecret: (namespace, name, patch) =>
      call(`patch secret ${namespace}/${name}`, () => core.patchNamespacedSecret({ namespace, name, body: patch }, mergePatch)),
    deleteSecret: (namespace, name) =>
      call(`delete secret ${namespace}/${name}`, async () => {
        await core.deleteNamespacedSecret({ namespace, name });
      }),

    listPods: (namespace, labelSelector) =>
      call(`list pods in ${namespace}`, async () => (await core.listNamespacedPod({ namespace, labelSelector })).items),
    podLog: (namespace, pod, container, o, sink) => call(`read log of pod ${namespace}/${pod}`, () => openLog(namespace, pod, container, o, sink)),
    resizePod: (namespace, name, patch) =>
      call(`resize pod ${namespace}/${name}`, () => core.patchNamespacedPodResize({ namespace, name, body: patch }, strategicPatch)),
    supportsPodResize: () =>
      call('discover /api/v1', async () => {
        const list = await core.getAPIResources();
        return list.resources.some((r) => r.name === 'pods/resize');
      }),

    watch(kind, namespace, labelSelector, handlers) {
      const path = kind === 'pods' ? `/api/v1/namespaces/${namespace}/pods` : `/apis/apps/v1/namespaces/${namespace}/deployments`;
      let resolveSynced!: () => void;
      const synced = new Promise<void>((r) => (resolveSynced = r));
      let stopped = false;
      let timer: NodeJS.Timeout | undefined;
      let delay = retryMs;
      const listAll = async (): Promise<{ items: KubernetesObject[]; metadata?: { resourceVersion?: string } }> => {
        const list =
          kind === 'pods'
            ? await core.listNamespacedPod({ namespace, labelSelector })
            : await apps.listNamespacedDeployment({ namespace, labelSelector });
        // The informer stores the items right after this promise settles; report the sync one macrotask later.
        setImmediate(resolveSynced);
        delay = retryMs;
        return list;
      };
      type T = Parameters<typeof handlers.upsert>[0];
      const informer = new ListWatch<KubernetesObject>(path, new LiveWatch(kc, watchTimeoutSeconds, watchIdleMs), listAll, false, labelSelector);
      informer.on('add', (o) => handlers.upsert(o as T));
      informer.on('update', (o) => handlers.upsert(o as T));
      informer.on('delete', (o) => handlers.remove(o as T));
      informer.on('error', (err: unknown) => {
        if (stopped) return;
        handlers.error?.(toBackendError(err, `watch ${kind} in ${namespace}`));
        // The informer stops on an error; start it again (a watch from where it was, else a fresh list) after a pause.
        clearTimeout(timer);
        timer = setTimeout(() => void startOnce(), delay);
        delay = Math.min(delay * 2, maxRetryMs);
      });
      const startOnce = async () => {
        if (stopped) return;
        await informer.start();
      };
      void startOnce();
      return {
        synced,
        async stop() {
          stopped = true;
          clearTimeout(timer);
          await informer.stop();
        },
      };
    },
  };
}
