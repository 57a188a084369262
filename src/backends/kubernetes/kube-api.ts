/**
 * kube-api is the narrow port between the Kubernetes backend and the API server, and the ONLY module that imports
 * @kubernetes/client-node. It lists exactly the calls the backend makes (and so exactly what the RBAC in
 * yaml/base/rbac.yaml grants), and every failure leaves it as a BackendError (errors.ts has the one table).
 */
import type { Writable } from 'node:stream';
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  Log,
  PatchStrategy,
  makeInformer,
  setHeaderOptions,
  type KubernetesObject,
  type V1Deployment,
  type V1Namespace,
  type V1Pod,
  type V1Secret,
  type V1Service,
} from '@kubernetes/client-node';
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

  /** listNamespaces returns the names of the namespaces matching a label selector. */
  listNamespaces(labelSelector: string): Promise<string[]>;

  listSecrets(namespace: string, labelSelector: string): Promise<V1Secret[]>;
  readSecret(namespace: string, name: string): Promise<V1Secret>;
  createSecret(namespace: string, body: V1Secret): Promise<V1Secret>;
  patchSecret(namespace: string, name: string, patch: object): Promise<V1Secret>;
  deleteSecret(namespace: string, name: string): Promise<void>;

  listPods(namespace: string, labelSelector: string): Promise<V1Pod[]>;
  /** podLog pipes one container's log (with RFC 3339 timestamps) into sink; abort the controller to stop following. */
  podLog(namespace: string, pod: string, container: string, opts: PodLogOptions, sink: Writable): Promise<AbortController>;
  /** resizePod patches the pod's resize subresource (Kubernetes 1.33+) with a strategic merge patch. */
  resizePod(namespace: string, name: string, patch: object): Promise<V1Pod>;
  /** supportsPodResize asks API discovery (/api/v1) whether pods/resize exists. */
  supportsPodResize(): Promise<boolean>;

  /** watch lists and then watches one kind in every namespace, filtered by a label selector, retrying on errors. */
  watch<T extends WatchKind>(kind: T, labelSelector: string, handlers: WatchHandlers<T extends 'pods' ? V1Pod : V1Deployment>): Watcher;
}

/** KubePermission is one RBAC rule's worth of what the port calls: API group, resource (or subresource), verbs. */
export interface KubePermission {
  group: string;
  resource: string;
  verbs: readonly string[];
}

/**
 * kubePermissions lists every permission the methods of KubeApi need, and nothing else. yaml/base/rbac.yaml grants
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
  { group: '', resource: 'namespaces', verbs: ['list'] },
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

/**
 * createKubeApi connects the port to a real API server through @kubernetes/client-node 1.4. A broken watch is
 * retried after retryMs, doubling up to maxRetryMs while it keeps failing (a missing RBAC rule must not spin).
 */
export function createKubeApi(conn: KubeConnection, opts: { retryMs?: number; maxRetryMs?: number } = {}): KubeApi {
  const kc = loadKubeConfig(conn);
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const log = new Log(kc);
  const retryMs = opts.retryMs ?? 1000;
  const maxRetryMs = opts.maxRetryMs ?? 30_000;

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

    listNamespaces: (labelSelector) =>
      call('list namespaces', async () => {
        const list = await core.listNamespace({ labelSelector });
        return list.items.map((n: V1Namespace) => n.metadata?.name ?? '').filter((n) => n !== '');
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
    podLog: (namespace, pod, container, o, sink) =>
      call(`read log of pod ${namespace}/${pod}`, () =>
        log.log(namespace, pod, container, sink, {
          follow: o.follow,
          timestamps: true,
          ...(o.tailLines !== undefined && o.tailLines > 0 ? { tailLines: o.tailLines } : {}),
          ...(o.sinceTime ? { sinceTime: o.sinceTime } : {}),
        }),
      ),
    resizePod: (namespace, name, patch) =>
      call(`resize pod ${namespace}/${name}`, () => core.patchNamespacedPodResize({ namespace, name, body: patch }, strategicPatch)),
    supportsPodResize: () =>
      call('discover /api/v1', async () => {
        const list = await core.getAPIResources();
        return list.resources.some((r) => r.name === 'pods/resize');
      }),

    watch(kind, labelSelector, handlers) {
      const path = kind === 'pods' ? '/api/v1/pods' : '/apis/apps/v1/deployments';
      let resolveSynced!: () => void;
      const synced = new Promise<void>((r) => (resolveSynced = r));
      let stopped = false;
      let timer: NodeJS.Timeout | undefined;
      let delay = retryMs;
      const listAll = async (): Promise<{ items: KubernetesObject[]; metadata?: { resourceVersion?: string } }> => {
        const list =
          kind === 'pods'
            ? await core.listPodForAllNamespaces({ labelSelector })
            : await apps.listDeploymentForAllNamespaces({ labelSelector });
        // The informer stores the items right after this promise settles; report the sync one macrotask later.
        setImmediate(resolveSynced);
        delay = retryMs;
        return list;
      };
      type T = Parameters<typeof handlers.upsert>[0];
      const informer = makeInformer<KubernetesObject>(kc, path, listAll, labelSelector);
      informer.on('add', (o) => handlers.upsert(o as T));
      informer.on('update', (o) => handlers.upsert(o as T));
      informer.on('delete', (o) => handlers.remove(o as T));
      informer.on('error', (err: unknown) => {
        if (stopped) return;
        handlers.error?.(toBackendError(err, `watch ${kind}`));
        // The informer stops on an error; start it again (a fresh list, then a watch) after a pause.
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
