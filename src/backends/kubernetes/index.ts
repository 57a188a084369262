/**
 * The Kubernetes backend: functions as Deployments and Services like faas-netes, instances from a pod watch,
 * phase-1 scale-up by in-place pod resize. get/list/instances answer from memory, kept current by watches.
 */
import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import {
  BackendError,
  isBackendError,
  type FunctionBackend,
  type Instance,
  type InstanceEvent,
  type ResourceLimits,
  type SecretInfo,
} from '../backend.js';
import type { Logger } from '../../logger.js';
import type { FunctionDeployment, FunctionStatus, LogMessage, LogRequest } from '../../types/index.js';
import type { KubernetesBackendConfig } from './config.js';
import { createKubeApi, type KubeApi, type V1Deployment, type V1Pod, type Watcher } from './kube-api.js';
import {
  functionLabel,
  initialReplicas,
  parseConstraints,
  secretLabelKey,
  secretLabelValue,
  toDeployment,
  toService,
} from './manifests.js';
import { parseLogLine, podToInstance, resizePatch, sameInstance } from './pods.js';
import { toFunctionStatus } from './status.js';

export { readKubernetesConfig, type KubernetesBackendConfig, type KubeConnection } from './config.js';
export type { KubeApi } from './kube-api.js';

const key = (namespace: string, name: string) => `${namespace}/${name}`;

/** isNewer compares resourceVersions: numerically when both are integers (etcd revisions), else trusts arrival order. */
function isNewer(candidate: string | undefined, current: string | undefined): boolean {
  if (!candidate || !current || !/^\d+$/.test(candidate) || !/^\d+$/.test(current)) return true;
  return BigInt(candidate) >= BigInt(current);
}

/** AsyncQueue is a tiny push-to-pull bridge for streaming log lines to a for-await loop. */
class AsyncQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private waiting: (() => void) | undefined;
  private ended = false;
  private failure: unknown;
  push(v: T): void {
    this.items.push(v);
    this.wake();
  }
  end(err?: unknown): void {
    this.ended = true;
    this.failure ??= err;
    this.wake();
  }
  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.items.length > 0) {
        yield this.items.shift()!;
        continue;
      }
      if (this.ended) {
        if (this.failure) throw this.failure;
        return;
      }
      await new Promise<void>((r) => (this.waiting = r));
    }
  }
}

/** KubernetesBackend implements FunctionBackend over a KubeApi (real or, in tests, pointed at the fake API server). */
export class KubernetesBackend implements FunctionBackend {
  readonly name = 'kubernetes';
  readonly orchestration = 'kubernetes';

  private readonly deployments = new Map<string, V1Deployment>();
  /** tombstones hold the uid of each Deployment we deleted, so a late watch event cannot bring it back. */
  private readonly tombstones = new Map<string, string>();
  private readonly pods = new Map<string, V1Pod>();
  private readonly live = new Map<string, Instance>();
  private readonly listeners = new Set<(ev: InstanceEvent) => void>();
  /** podListeners see every pod change; log streams that follow use them to pick up new pods. */
  private readonly podListeners = new Set<(p: V1Pod) => void>();
  private readonly watchers: Watcher[] = [];
  private resizeSupported: boolean | undefined;
  private readonly log: Logger;

  constructor(
    private readonly api: KubeApi,
    private readonly cfg: KubernetesBackendConfig,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'backend-kubernetes' });
    if (cfg.resize === 'on') this.resizeSupported = true;
  }

  /** start lists and watches the functions' Deployments and Pods; resolves once both are listed or after timeoutMs. */
  async start(timeoutMs = 30_000): Promise<void> {
    const onError = (what: string) => (err: Error) => this.log.warn(`watch of ${what} failed, retrying: ${err.message}`);
    const deps = this.api.watch('deployments', functionLabel, {
      upsert: (d) => this.upsertDeployment(d),
      remove: (d) => this.removeDeployment(d),
      error: onError('deployments'),
    });
    const pods = this.api.watch('pods', functionLabel, {
      upsert: (p) => this.upsertPod(p),
      remove: (p) => this.removePod(p),
      error: onError('pods'),
    });
    this.watchers.push(deps, pods);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs)));
    const synced = Promise.all([deps.synced, pods.synced]).then(() => false);
    const late = await Promise.race([synced, timedOut]);
    clearTimeout(timer);
    if (late) this.log.warn(`the Kubernetes API did not answer within ${timeoutMs} ms; function lists stay empty until it does`);
  }

  // ---- watch handlers -------------------------------------------------------------------------------------

  private upsertDeployment(d: V1Deployment): void {
    const ns = d.metadata?.namespace ?? '';
    const name = d.metadata?.name ?? '';
    const k = key(ns, name);
    const dead = this.tombstones.get(k);
    if (dead !== undefined && dead === d.metadata?.uid) return;
    if (dead !== undefined) this.tombstones.delete(k);
    const cur = this.deployments.get(k);
    if (cur && cur.metadata?.uid === d.metadata?.uid && !isNewer(d.metadata?.resourceVersion, cur.metadata?.resourceVersion)) return;
    this.deployments.set(k, d);
  }

  private removeDeployment(d: V1Deployment): void {
    const k = key(d.metadata?.namespace ?? '', d.metadata?.name ?? '');
    const cur = this.deployments.get(k);
    if (cur && (!d.metadata?.uid || cur.metadata?.uid === d.metadata.uid)) this.deployments.delete(k);
  }

  private emit(ev: InstanceEvent): void {
    for (const l of this.listeners) {
      try {
        l(ev);
      } catch (e) {
        this.log.error(`instance listener threw: ${String(e)}`);
      }
    }
  }

  private upsertPod(p: V1Pod): void {
    const k = key(p.metadata?.namespace ?? '', p.metadata?.name ?? '');
    this.pods.set(k, p);
    for (const l of this.podListeners) l(p);
    const next = podToInstance(p, this.cfg.watchdogPort);
    const prev = this.live.get(k);
    if (!next) {
      if (prev) {
        this.live.delete(k);
        this.emit({ type: 'deleted', instance: { ...prev, ready: false } });
      }
      return;
    }
    this.live.set(k, next);
    if (!prev) this.emit({ type: 'added', instance: next });
    else if (!sameInstance(prev, next)) this.emit({ type: 'modified', instance: next });
  }

  private removePod(p: V1Pod): void {
    const k = key(p.metadata?.namespace ?? '', p.metadata?.name ?? '');
    this.pods.delete(k);
    const prev = this.live.get(k);
    if (prev) {
      this.live.delete(k);
      this.emit({ type: 'deleted', instance: { ...prev, ready: false } });
    }
  }

  // ---- functions ------------------------------------------------------------------------------------------

  /** checkSpec refuses what the API server would accept but the function could not use: bad constraints, missing secrets. */
  private async checkSpec(fd: FunctionDeployment & { namespace: string }): Promise<void> {
    const { bad } = parseConstraints(fd.constraints);
    if (bad.length > 0) throw new BackendError('Invalid', `constraints must look like key=value: ${bad.join(', ')}`);
    for (const s of fd.secrets ?? []) {
      try {
        await this.api.readSecret(fd.namespace, s);
      } catch (e) {
        if (isBackendError(e, 'NotFound')) {
          throw new BackendError('Invalid', `secret "${s}" not found in namespace "${fd.namespace}"`, { cause: e });
        }
        throw e;
      }
    }
  }

  async deploy(fd: FunctionDeployment & { namespace: string }): Promise<void> {
    await this.checkSpec(fd);
    let created: V1Deployment;
    try {
      created = await this.api.createDeployment(fd.namespace, toDeployment(fd, this.cfg));
    } catch (e) {
      // A missing namespace is a bad request here, not a missing function.
      if (isBackendError(e, 'NotFound')) throw new BackendError('Invalid', e.message, { cause: e });
      throw e;
    }
    this.upsertDeployment(created);
    try {
      await this.api.createService(fd.namespace, toService(fd, this.cfg));
    } catch (e) {
      // A Service left over from an earlier function of the same name selects the same pods: keep it.
      if (!isBackendError(e, 'Conflict')) {
        this.log.warn(`service for ${fd.namespace}/${fd.service} could not be created: ${(e as Error).message}`);
        throw e;
      }
    }
  }

  async update(fd: FunctionDeployment & { namespace: string }): Promise<void> {
    const existing = await this.api.readDeployment(fd.namespace, fd.service);
    await this.checkSpec(fd);
    const current = existing.spec?.replicas ?? 1;
    const min = fd.labels?.['com.openfaas.scale.min'] !== undefined ? initialReplicas(fd.labels) : 0;
    const next = toDeployment(fd, this.cfg, Math.max(current, min));
    next.metadata!.resourceVersion = existing.metadata?.resourceVersion;
    this.upsertDeployment(await this.api.replaceDeployment(fd.namespace, fd.service, next));
    const svc = toService(fd, this.cfg);
    try {
      await this.api.patchService(fd.namespace, fd.service, {
        metadata: { labels: svc.metadata!.labels, annotations: svc.metadata!.annotations },
      });
    } catch (e) {
      if (!isBackendError(e, 'NotFound')) throw e;
      await this.api.createService(fd.namespace, svc);
    }
  }

  async remove(namespace: string, name: string): Promise<void> {
    const k = key(namespace, name);
    const uid = this.deployments.get(k)?.metadata?.uid;
    await this.api.deleteDeployment(namespace, name);
    if (uid) this.tombstones.set(k, uid);
    this.deployments.delete(k);
    try {
      await this.api.deleteService(namespace, name);
    } catch (e) {
      if (!isBackendError(e, 'NotFound')) this.log.warn(`service ${k} was not deleted: ${(e as Error).message}`);
    }
  }

  async get(namespace: string, name: string): Promise<FunctionStatus> {
    const d = this.deployments.get(key(namespace, name));
    if (!d) throw new BackendError('NotFound', `function "${name}" not found in namespace "${namespace}"`);
    return toFunctionStatus(d);
  }

  async list(namespace: string): Promise<FunctionStatus[]> {
    const out: FunctionStatus[] = [];
    for (const d of this.deployments.values()) if (d.metadata?.namespace === namespace) out.push(toFunctionStatus(d));
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async scale(namespace: string, name: string, replicas: number): Promise<void> {
    if (!Number.isSafeInteger(replicas) || replicas < 0) throw new BackendError('Invalid', `replicas must be a non-negative integer, got ${replicas}`);
    this.upsertDeployment(await this.api.patchDeployment(namespace, name, { spec: { replicas } }));
  }

  async namespaces(): Promise<string[]> {
    const def = this.cfg.defaultNamespace;
    try {
      const found = await this.api.listNamespaces(this.cfg.namespaceSelector);
      return [def, ...found.filter((n) => n !== def).sort()];
    } catch (e) {
      this.log.warn(`listing namespaces (${this.cfg.namespaceSelector}) failed, offering only ${def}: ${(e as Error).message}`);
      return [def];
    }
  }

  // ---- secrets --------------------------------------------------------------------------------------------

  async listSecrets(namespace: string): Promise<SecretInfo[]> {
    const items = await this.api.listSecrets(namespace, `${secretLabelKey}=${secretLabelValue}`);
    return items.map((s) => ({ name: s.metadata?.name ?? '', namespace })).filter((s) => s.name !== '');
  }

  async createSecret(namespace: string, name: string, value: Buffer): Promise<void> {
    await this.api.createSecret(namespace, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace, labels: { [secretLabelKey]: secretLabelValue } },
      type: 'Opaque',
      // The key is the secret's own name, so the projected volume shows it as /var/openfaas/secrets/<name>.
      data: { [name]: value.toString('base64') },
    });
  }

  async updateSecret(namespace: string, name: string, value: Buffer): Promise<void> {
    await this.api.patchSecret(namespace, name, { data: { [name]: value.toString('base64') } });
  }

  async deleteSecret(namespace: string, name: string): Promise<void> {
    await this.api.deleteSecret(namespace, name);
  }

  // ---- logs -----------------------------------------------------------------------------------------------

  /**
   * logs merges one log stream per pod (instance = pod name). Without follow it ends when every pod's existing
   * lines are sent; with follow it also opens a stream for each pod of the function that becomes ready later
   * (a scale-out while `faas-cli logs -f` runs) and ends only when the caller aborts.
   */
  async *logs(req: LogRequest, signal: AbortSignal): AsyncIterable<LogMessage> {
    const wanted = (p: V1Pod) =>
      p.metadata?.namespace === req.namespace &&
      p.metadata?.labels?.[functionLabel] === req.name &&
      (!req.instance || p.metadata?.name === req.instance);
    const pods = (await this.api.listPods(req.namespace, `${functionLabel}=${req.name}`)).filter(wanted);
    if (signal.aborted) return;
    const queue = new AsyncQueue<LogMessage>();
    const controllers: AbortController[] = [];
    const streaming = new Set<string>();
    let finished = false;
    let open = 0;
    const closeOne = () => {
      if (--open <= 0 && !req.follow) queue.end();
    };
    const onAbort = () => {
      for (const c of controllers) c.abort();
      queue.end();
    };
    signal.addEventListener('abort', onAbort, { once: true });

    const stream = (podName: string, tailLines: number, sinceTime: string | undefined) => {
      if (streaming.has(podName) || finished) return;
      streaming.add(podName);
      open++;
      const sink = new PassThrough();
      let closed = false;
      const done = () => {
        if (!closed) {
          closed = true;
          closeOne();
        }
      };
      const lines = createInterface({ input: sink, crlfDelay: Infinity });
      lines.on('line', (l) => queue.push(parseLogLine(l, req.name, req.namespace, podName)));
      lines.on('close', done);
      sink.on('error', done);
      this.api
        .podLog(req.namespace, podName, req.name, { follow: req.follow, tailLines, sinceTime }, sink)
        .then((c) => {
          controllers.push(c);
          if (signal.aborted || finished) c.abort();
        })
        .catch((e: unknown) => {
          // A pod that has not started a container yet has no log: skip it, like kubectl logs for many pods.
          this.log.debug(`no log from pod ${req.namespace}/${podName}: ${(e as Error).message}`);
          streaming.delete(podName);
          sink.end();
        });
    };

    let unfollow = () => {};
    if (req.follow) {
      // Pods that become ready later join the stream from their first line.
      const onPod = (p: V1Pod) => {
        if (wanted(p) && podToInstance(p, this.cfg.watchdogPort)?.ready) stream(p.metadata!.name!, -1, undefined);
      };
      this.podListeners.add(onPod);
      unfollow = () => this.podListeners.delete(onPod);
    }
    for (const p of pods) stream(p.metadata?.name ?? '', req.tail, req.since?.toISOString());
    if (open === 0 && !req.follow) queue.end();
    try {
      yield* queue;
    } finally {
      finished = true;
      unfollow();
      signal.removeEventListener('abort', onAbort);
      for (const c of controllers) c.abort();
    }
  }

  // ---- instances ------------------------------------------------------------------------------------------

  instances(namespace?: string, name?: string): Instance[] {
    const out: Instance[] = [];
    for (const i of this.live.values()) {
      if ((namespace === undefined || i.namespace === namespace) && (name === undefined || i.function === name)) out.push(i);
    }
    return out;
  }

  watchInstances(listener: (ev: InstanceEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async resize(instanceId: string, limits: ResourceLimits): Promise<void> {
    const pod = [...this.pods.values()].find((p) => p.metadata?.name === instanceId);
    if (!pod) throw new BackendError('NotFound', `instance "${instanceId}" not found`);
    const ns = pod.metadata?.namespace ?? '';
    if (this.cfg.resize === 'off') {
      throw new BackendError('Unavailable', 'in-place pod resize is turned off (HYPERFAAS_INPLACE_RESIZE=off)');
    }
    if (this.resizeSupported === undefined) {
      try {
        this.resizeSupported = await this.api.supportsPodResize();
        if (!this.resizeSupported) this.log.info('the cluster does not offer pods/resize (Kubernetes < 1.33): phase-1 scale-up is skipped');
      } catch (e) {
        // Discovery failed: leave it undecided and let the PATCH itself tell.
        this.log.debug(`API discovery failed: ${(e as Error).message}`);
      }
    }
    if (this.resizeSupported === false) {
      throw new BackendError('Unavailable', 'in-place pod resize is not offered by this cluster (needs Kubernetes 1.33+)');
    }
    const patch = resizePatch(pod, limits);
    if (!patch) throw new BackendError('Invalid', 'resize needs a positive cpu or memoryBytes');
    try {
      this.upsertPod(await this.api.resizePod(ns, instanceId, patch));
      this.resizeSupported = true;
    } catch (e) {
      if (isBackendError(e, 'NotFound') && this.pods.has(key(ns, instanceId))) {
        // The pod exists, so the 404 is about the subresource: the API server predates in-place resize.
        this.resizeSupported = false;
        this.log.info(`the cluster answered 404 for pods/resize (${e.message}): phase-1 scale-up is skipped`);
        throw new BackendError('Unavailable', 'in-place pod resize is not offered by this cluster (needs Kubernetes 1.33+)', { cause: e });
      }
      throw e;
    }
  }

  async close(): Promise<void> {
    this.listeners.clear();
    const ws = this.watchers.splice(0);
    await Promise.all(ws.map((w) => w.stop()));
  }
}

/**
 * createKubernetesBackend connects to the cluster named by cfg.connection, starts the Deployment and Pod watches
 * and resolves once both have listed (or after a timeout, logged). Pass `api` to use another KubeApi.
 */
export async function createKubernetesBackend(
  cfg: KubernetesBackendConfig,
  logger: Logger,
  opts: { api?: KubeApi; syncTimeoutMs?: number } = {},
): Promise<FunctionBackend> {
  const backend = new KubernetesBackend(opts.api ?? createKubeApi(cfg.connection), cfg, logger);
  await backend.start(opts.syncTimeoutMs);
  return backend;
}
