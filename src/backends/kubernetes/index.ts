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
  type CodeRef,
  type PublishedBuilds,
} from '../backend.js';
import type { PublishCode } from '../../messaging/code-store.js';
import type { CodeObject } from '@hyperfaas/watchdog/protocol';
import { existsSync } from 'node:fs';
import { functionKey } from '../../names.js';
import type { Logger } from '../../logger.js';
import { labelKeys, minReplicasOf, runtimeOf } from '../../scaling/labels.js';
import type { FunctionDeployment, FunctionStatus, LogMessage, LogRequest } from '../../types/index.js';
import type { KubernetesBackendConfig } from './config.js';
import { createKubeApi, type KubeApi, type LogStream, type V1Deployment, type V1Pod, type Watcher } from './kube-api.js';
import {
  functionLabel,
  mergeForUpdate,
  parseConstraints,
  registrySecretTypes,
  secretLabelKey,
  secretLabelValue,
  toDeployment,
  toService,
} from './manifests.js';
import { parseLogLine, podToInstance, resizePlan, resizeState, sameInstance } from './pods.js';
import { toFunctionStatus } from './status.js';

export { readKubernetesConfig, type KubernetesBackendConfig, type KubeConnection } from './config.js';
export type { KubeApi } from './kube-api.js';

const key = (namespace: string, name: string) => `${namespace}/${name}`;

/**
 * KubernetesCodeOptions let guest slots borrow functions' code on Kubernetes: the provider publishes a function's
 * build directory, which it holds when the build was published to it (`hyperfaas publish`), to the namespace's code
 * bucket before its Deployment is created or replaced. The pods themselves run the function's registry image.
 */
export interface KubernetesCodeOptions {
  /** publishCode stores a directory as its namespace's code object (messaging/code-store.ts). */
  publishCode?: PublishCode;
  /** codeDir names the build directory the provider holds for an image reference, if any. */
  codeDir?: (image: string) => string | undefined;
  /** published takes builds uploaded to the provider (PUT /system/images), which codeDir then finds. */
  published?: PublishedBuilds;
}

/** updateAttempts bounds the read-modify-write of update when others keep changing the Deployment. */
const updateAttempts = 5;

/** nanosOf reads an RFC 3339 timestamp with up to nine fractional digits as nanoseconds since the epoch. */
function nanosOf(ts: string): bigint | undefined {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) return undefined;
  const secs = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(secs)) return undefined;
  return BigInt(secs) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

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
  /** resizeWaiters hear of removed pods, so a resize waiting for the kubelet ends when its pod is gone. */
  private readonly resizeWaiters = new Set<(p: V1Pod) => void>();
  /** retired holds the uids of pods whose function was removed: they take no traffic while they wait to be deleted. */
  private readonly retired = new Set<string>();
  private readonly watchers: Watcher[] = [];
  private resizeSupported: boolean | undefined;
  private readonly log: Logger;
  /** code is each function's published code object, with the image whose build it was made from. */
  private readonly code = new Map<string, { image: string; ref: Promise<CodeObject> }>();
  readonly published?: PublishedBuilds;

  constructor(
    private readonly api: KubeApi,
    private readonly cfg: KubernetesBackendConfig,
    logger: Logger,
    private readonly codeOpts: KubernetesCodeOptions = {},
  ) {
    this.log = logger.child({ component: 'backend-kubernetes' });
    if (codeOpts.published) this.published = codeOpts.published;
    if (cfg.resize === 'on') this.resizeSupported = true;
  }

  /** start lists and watches the functions' Deployments and Pods; resolves once both are listed or after timeoutMs. */
  async start(timeoutMs = 30_000): Promise<void> {
    const onError = (what: string) => (err: Error) => this.log.warn(`watch of ${what} failed, retrying: ${err.message}`);
    // One watch per kind and function namespace: the provider's RBAC is a Role in each of them, never cluster-wide.
    for (const ns of this.cfg.namespaces) {
      this.watchers.push(
        this.api.watch('deployments', ns, functionLabel, {
          upsert: (d) => this.upsertDeployment(d),
          remove: (d) => this.removeDeployment(d),
          error: onError(`deployments in ${ns}`),
        }),
        this.api.watch('pods', ns, functionLabel, {
          upsert: (p) => this.upsertPod(p),
          remove: (p) => this.removePod(p),
          error: onError(`pods in ${ns}`),
        }),
      );
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs)));
    const synced = Promise.all(this.watchers.map((w) => w.synced)).then(() => false);
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
    const cur = this.pods.get(k);
    if (cur && cur.metadata?.uid === p.metadata?.uid && !isNewer(p.metadata?.resourceVersion, cur.metadata?.resourceVersion)) return;
    this.pods.set(k, p);
    for (const l of this.podListeners) l(p);
    const next = this.retired.has(p.metadata?.uid ?? '') ? undefined : podToInstance(p, this.cfg.watchdogPort);
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

  /**
   * podAnswer takes a pod from an API answer (not the watch) into the view only if the watch has not already shown a
   * newer state of the same pod: an answer can arrive after the watch told of a deletion, and must not undo it.
   */
  private podAnswer(p: V1Pod): void {
    const cur = this.pods.get(key(p.metadata?.namespace ?? '', p.metadata?.name ?? ''));
    if (!cur || cur.metadata?.uid !== p.metadata?.uid) return;
    if (p.metadata?.resourceVersion === cur.metadata?.resourceVersion) return;
    const a = p.metadata?.resourceVersion;
    const b = cur.metadata?.resourceVersion;
    if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b) || BigInt(a) <= BigInt(b)) return;
    this.upsertPod(p);
  }

  private removePod(p: V1Pod): void {
    const k = key(p.metadata?.namespace ?? '', p.metadata?.name ?? '');
    this.pods.delete(k);
    this.retired.delete(p.metadata?.uid ?? '');
    for (const w of this.resizeWaiters) w(p);
    const prev = this.live.get(k);
    if (prev) {
      this.live.delete(k);
      this.emit({ type: 'deleted', instance: { ...prev, ready: false } });
    }
  }

  // ---- functions ------------------------------------------------------------------------------------------

  /**
   * checkSpec refuses what the API server would accept but the function could not use: bad constraints, missing
   * secrets. It returns the secrets that hold registry credentials, which become imagePullSecrets.
   */
  private async checkSpec(fd: FunctionDeployment & { namespace: string }): Promise<string[]> {
    const { bad } = parseConstraints(fd.constraints);
    if (bad.length > 0) throw new BackendError('Invalid', `constraints must look like key=value: ${bad.join(', ')}`);
    const pull: string[] = [];
    for (const s of fd.secrets ?? []) {
      try {
        const secret = await this.api.readSecret(fd.namespace, s);
        if (registrySecretTypes.includes(secret.type ?? '')) pull.push(s);
      } catch (e) {
        if (isBackendError(e, 'NotFound')) {
          throw new BackendError('Invalid', `secret "${s}" not found in namespace "${fd.namespace}"`, { cause: e });
        }
        throw e;
      }
    }
    return pull;
  }

  async deploy(fd: FunctionDeployment & { namespace: string }): Promise<void> {
    const pull = await this.checkSpec(fd);
    // Published before the Deployment exists, so no lending can name code that is not there yet.
    await this.publishCode(fd.namespace, fd.service, fd.image, fd.labels);
    let created: V1Deployment;
    try {
      created = await this.api.createDeployment(fd.namespace, toDeployment(fd, this.cfg, minReplicasOf(fd.labels), pull));
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

  /**
   * update is a read-modify-write of the Deployment: our fields replaced, what others wrote kept (mergeForUpdate),
   * the resourceVersion read sent back. The Deployment controller's status writes and our own scale patches race
   * with it, so a Conflict means "read again", a few times, before it is reported.
   */
  async update(fd: FunctionDeployment & { namespace: string }): Promise<void> {
    let pull: string[] | undefined;
    await this.publishCode(fd.namespace, fd.service, fd.image, fd.labels);
    for (let attempt = 1; ; attempt++) {
      const existing = await this.api.readDeployment(fd.namespace, fd.service);
      pull ??= await this.checkSpec(fd);
      const current = existing.spec?.replicas ?? 1;
      const min = fd.labels?.[labelKeys.min] !== undefined ? minReplicasOf(fd.labels) : 0;
      const next = mergeForUpdate(existing, toDeployment(fd, this.cfg, Math.max(current, min), pull));
      try {
        this.upsertDeployment(await this.api.replaceDeployment(fd.namespace, fd.service, next));
        break;
      } catch (e) {
        if (!isBackendError(e, 'Conflict') || attempt >= updateAttempts) throw e;
        this.log.debug(`update of ${fd.namespace}/${fd.service} raced another writer (attempt ${attempt}), reading again`);
      }
    }
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

  /**
   * remove deletes the Deployment and Service. The garbage collector deletes the pods some time later; until then
   * they are still Running and Ready, so they leave the instance view now and do not come back.
   */
  /**
   * codeRef names the function's code object in its namespace's code bucket, published from the build the provider
   * holds for its image; undefined when it holds none (a registry image only: no code to lend).
   */
  async codeRef(namespace: string, name: string): Promise<CodeRef | undefined> {
    const image = this.deployments.get(key(namespace, name))?.spec?.template?.spec?.containers?.[0]?.image;
    if (!image) throw new BackendError('NotFound', `function ${name} not found in ${namespace}`);
    const ref = this.publishedCode(namespace, name, image);
    return ref ? { kind: 'object', ...(await ref) } : undefined;
  }

  /** publishedCode is the function's code object, published now unless this image's build already was. */
  private publishedCode(namespace: string, name: string, image: string): Promise<CodeObject> | undefined {
    const publish = this.codeOpts.publishCode;
    const dir = this.codeOpts.codeDir?.(image);
    if (!publish || !dir || !existsSync(dir)) return undefined;
    const k = key(namespace, name);
    const had = this.code.get(k);
    if (had?.image === image) return had.ref;
    const ref = publish(namespace, functionKey(name, namespace), dir);
    const entry = { image, ref };
    this.code.set(k, entry);
    ref.catch(() => this.code.get(k) === entry && this.code.delete(k));
    return ref;
  }

  /**
   * publishCode publishes at deploy and update when the function may be lent (it names a runtime); a failure is
   * logged and publishing is tried again at lending.
   */
  private async publishCode(namespace: string, name: string, image: string, labels?: Record<string, string>): Promise<void> {
    if (!runtimeOf(labels)) return;
    try {
      const ref = await this.publishedCode(namespace, name, image);
      if (ref) this.log.info(`published the code of ${functionKey(name, namespace)} for guest slots`, { bucket: ref.bucket, key: ref.key });
    } catch (e) {
      this.log.warn(`publishing the code of ${functionKey(name, namespace)} failed (tried again when a guest slot is lent): ${(e as Error).message}`);
    }
  }

  async remove(namespace: string, name: string): Promise<void> {
    const k = key(namespace, name);
    const uid = this.deployments.get(k)?.metadata?.uid;
    await this.api.deleteDeployment(namespace, name);
    this.code.delete(k);
    if (uid) this.tombstones.set(k, uid);
    this.deployments.delete(k);
    for (const [pk, p] of this.pods) {
      if (p.metadata?.namespace !== namespace || p.metadata?.labels?.[functionLabel] !== name || !p.metadata?.uid) continue;
      this.retired.add(p.metadata.uid);
      const prev = this.live.get(pk);
      if (prev) {
        this.live.delete(pk);
        this.emit({ type: 'deleted', instance: { ...prev, ready: false } });
      }
    }
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

  /** namespaces are the configured function namespaces, the default first: the same list the API accepts. */
  async namespaces(): Promise<string[]> {
    return [...this.cfg.namespaces];
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
   * lines are sent, and fails (Unavailable) when a transfer broke off. With follow it also opens a stream for each
   * pod of the function that becomes ready later (a scale-out while `faas-cli logs -f` runs), opens a pod's stream
   * again when it ended while the pod lives on (a container restart ends it; the new container's lines follow), and
   * ends only when the caller aborts.
   */
  async *logs(req: LogRequest, signal: AbortSignal): AsyncIterable<LogMessage> {
    const wanted = (p: V1Pod) =>
      p.metadata?.namespace === req.namespace &&
      p.metadata?.labels?.[functionLabel] === req.name &&
      (!req.instance || p.metadata?.name === req.instance);
    const pods = (await this.api.listPods(req.namespace, `${functionLabel}=${req.name}`)).filter(wanted);
    if (signal.aborted) return;
    const queue = new AsyncQueue<LogMessage>();
    const streams = new Set<LogStream>();
    const streaming = new Set<string>();
    /** lastSeen is the newest timestamp sent per pod, so a reopened stream does not repeat lines. */
    const lastSeen = new Map<string, bigint>();
    const retries = new Set<NodeJS.Timeout>();
    let finished = false;
    let open = 0;
    const closeOne = () => {
      if (--open <= 0 && !req.follow) queue.end();
    };
    const onAbort = () => {
      for (const c of streams) c.abort();
      queue.end();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const podReady = (name: string) => {
      const p = this.pods.get(key(req.namespace, name));
      return p !== undefined && podToInstance(p, this.cfg.watchdogPort)?.ready === true;
    };

    const stream = (podName: string, tailLines: number, sinceTime: string | undefined) => {
      if (streaming.has(podName) || finished) return;
      streaming.add(podName);
      open++;
      const sink = new PassThrough();
      let closed = false;
      const done = () => {
        if (closed) return;
        closed = true;
        if (req.follow) {
          // The stream ended while the pod lives on (its container restarted, or the connection dropped): let the
          // next ready state of the pod, or a short pause while it stays ready, open it again.
          streaming.delete(podName);
          const t = setTimeout(() => {
            retries.delete(t);
            if (!finished && podReady(podName)) reopen(podName);
          }, 1000);
          retries.add(t);
        }
        closeOne();
      };
      // A reopened stream starts at the last line's second: skip what was sent before.
      const resumeAfter = lastSeen.get(podName);
      const lines = createInterface({ input: sink, crlfDelay: Infinity });
      lines.on('line', (l) => {
        const m = parseLogLine(l, req.name, req.namespace, podName);
        const at = nanosOf(m.timestamp);
        if (at !== undefined && resumeAfter !== undefined && at <= resumeAfter) return;
        if (at !== undefined && at > (lastSeen.get(podName) ?? -1n)) lastSeen.set(podName, at);
        queue.push(m);
      });
      lines.on('close', done);
      sink.on('error', done);
      this.api
        .podLog(req.namespace, podName, req.name, { follow: req.follow, tailLines, sinceTime }, sink)
        .then((c) => {
          streams.add(c);
          if (signal.aborted || finished) c.abort();
          c.done.then(
            () => streams.delete(c),
            (e: unknown) => {
              streams.delete(c);
              // Without follow a broken transfer must not pass for the end of the log.
              if (!req.follow && !signal.aborted && !finished) queue.end(e);
            },
          );
        })
        .catch((e: unknown) => {
          // A pod that has not started a container yet has no log: skip it, like kubectl logs for many pods.
          this.log.debug(`no log from pod ${req.namespace}/${podName}: ${(e as Error).message}`);
          streaming.delete(podName);
          sink.end();
        });
    };
    const reopen = (podName: string) => {
      const last = lastSeen.get(podName);
      // sinceTime has whole seconds: start at the last line's second and drop what was already sent.
      const since = last !== undefined ? new Date(Number(last / 1_000_000_000n) * 1000).toISOString() : undefined;
      stream(podName, -1, since);
    };

    let unfollow = () => {};
    if (req.follow) {
      // Pods that become ready later join the stream from their first line; pods whose stream ended rejoin.
      const onPod = (p: V1Pod) => {
        if (wanted(p) && podToInstance(p, this.cfg.watchdogPort)?.ready) reopen(p.metadata!.name!);
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
      for (const t of retries) clearTimeout(t);
      signal.removeEventListener('abort', onAbort);
      for (const c of streams) c.abort();
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

  /**
   * resize changes a pod's CPU and memory in place through the pods/resize subresource (Kubernetes 1.33+) and
   * resolves only once the kubelet applied it. A resize the kubelet defers or finds infeasible (the node is full),
   * or does not apply within resizeWaitMs, is undone and answered Unavailable, so the caller scales out instead of
   * counting on CPU the pod does not have. A pod that cannot be resized in place (BestEffort) is Unavailable too.
   */
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
    const plan = resizePlan(pod, limits);
    if (!plan) throw new BackendError('Invalid', 'resize needs a positive cpu or memoryBytes');
    if ('skip' in plan) throw new BackendError('Unavailable', `in-place resize is not possible: ${plan.skip}`);
    let answer: V1Pod;
    try {
      answer = await this.api.resizePod(ns, instanceId, plan.patch);
    } catch (e) {
      if (isBackendError(e, 'NotFound')) {
        // A 404 is either the pod (deleted before our watch heard of it) or the subresource (an older API server):
        // discovery tells which, and only the latter turns resize off.
        let offered: boolean | undefined;
        try {
          offered = await this.api.supportsPodResize();
        } catch {
          /* undecided: treat it as this pod's problem */
        }
        if (offered === false) {
          this.resizeSupported = false;
          this.log.info(`the cluster answered 404 for pods/resize (${e.message}): phase-1 scale-up is skipped`);
          throw new BackendError('Unavailable', 'in-place pod resize is not offered by this cluster (needs Kubernetes 1.33+)', { cause: e });
        }
        throw new BackendError('NotFound', `instance "${instanceId}" not found: ${e.message}`, { cause: e });
      }
      throw e;
    }
    this.resizeSupported = true;
    this.podAnswer(answer);
    const outcome = await this.resizeOutcome(ns, instanceId, plan.container, answer);
    if (outcome === 'applied') return;
    if (outcome === 'gone') throw new BackendError('NotFound', `instance "${instanceId}" is being deleted`);
    try {
      this.podAnswer(await this.api.resizePod(ns, instanceId, plan.undo));
    } catch (e) {
      this.log.warn(`could not undo the unapplied resize of pod ${ns}/${instanceId}: ${(e as Error).message}`);
    }
    throw new BackendError('Unavailable', `the kubelet did not apply the resize of pod ${ns}/${instanceId}: ${outcome}`);
  }

  /** resizeOutcome waits, on the pod watch, for the kubelet's answer to the resize that `answer` recorded. */
  private resizeOutcome(ns: string, name: string, container: string, answer: V1Pod): Promise<'applied' | 'gone' | string> {
    const generation = answer.metadata?.generation ?? 0;
    const judge = (p: V1Pod | undefined): 'applied' | 'gone' | string | undefined => {
      if (!p || p.metadata?.uid !== answer.metadata?.uid) return 'gone';
      if ((p.metadata?.generation ?? 0) < generation) return undefined;
      const st = resizeState(p, container);
      if (st.state === 'applied' || st.state === 'gone') return st.state;
      if (st.state === 'pending') return `${st.reason}${st.message ? ` (${st.message})` : ''}`;
      return undefined;
    };
    return new Promise((resolve) => {
      const settle = (v: string) => {
        clearTimeout(timer);
        this.podListeners.delete(listener);
        this.resizeWaiters.delete(onRemoved);
        resolve(v);
      };
      const listener = (p: V1Pod) => {
        if (p.metadata?.namespace !== ns || p.metadata?.name !== name) return;
        const v = judge(p);
        if (v !== undefined) settle(v);
      };
      const onRemoved = (p: V1Pod) => {
        if (p.metadata?.namespace === ns && p.metadata?.name === name) settle('gone');
      };
      const timer = setTimeout(() => settle(`no answer within ${this.cfg.resizeWaitMs} ms`), this.cfg.resizeWaitMs);
      this.podListeners.add(listener);
      this.resizeWaiters.add(onRemoved);
      const now = judge(this.pods.get(key(ns, name)));
      if (now !== undefined) settle(now);
    });
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
  opts: { api?: KubeApi; syncTimeoutMs?: number } & KubernetesCodeOptions = {},
): Promise<FunctionBackend> {
  const backend = new KubernetesBackend(opts.api ?? createKubeApi(cfg.connection), cfg, logger, opts);
  await backend.start(opts.syncTimeoutMs);
  return backend;
}
