/**
 * The local backend: the embedded default FunctionBackend. Each replica is an *instance*: our watchdog (which runs
 * the function) in an OCI container run by runc where the host allows it (root, runc works: runc.ts), else in a
 * process group confined as far as the host allows (runtime.ts, isolation.ts). Functions and secrets persist in the
 * data dir (store.ts) and come back after a restart; get and list answer from memory.
 *
 * The parts: reconcile.ts decides per function which instances to start and stop (pure); supervisor.ts runs each
 * instance's life (start, health, restart with back-off, drain); the runtime adapter starts and signals one run;
 * log-sink.ts keeps the logs; store.ts persists. This file holds the functions and secrets and wires the rest.
 */
import { chmod, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../logger.js';
import { functionKey } from '../../names.js';
import { repoRoot, watchdogMain } from '../../paths.js';
import { minReplicasOf, runtimeOf } from '../../scaling/labels.js';
import type { FunctionStatus, LogMessage, LogRequest } from '../../types/index.js';
import {
  BackendError,
  type FunctionBackend,
  type Instance,
  type InstanceEvent,
  type ResourceLimits,
  type SecretInfo,
  type CodeRef,
} from '../backend.js';
import { admitDeployment, admitSecret, hostSize } from './admission.js';
import { Cgroup } from './cgroup.js';
import type { LocalBackendConfig } from './config.js';
import { ImageResolver, type InstallStep, type ResolvedImage } from './images.js';
import { OciImageStore } from './oci-store.js';
import type { PullPolicy } from './registry.js';
import type { PublishedBuilds } from '../backend.js';
import { detectIsolation, logIsolation, noIsolation, withoutUserUnlessReadable, withRunc, type Isolation, type IsolationSummary } from './isolation.js';
import { LogSink } from './log-sink.js';
import { toLogMessage } from './logs.js';
import { plan } from './reconcile.js';
import { findRunc, probeRunc, RuncRuntime } from './runc.js';
import { ProcessRuntime, type InstanceFiles, type InstanceRuntime } from './runtime.js';
import { limitsOf, toFunctionStatus } from './status.js';
import { safeName, Store } from './store.js';
import type { PublishCode } from '../../messaging/code-store.js';
import type { CodeObject } from '@hyperfaas/watchdog/protocol';
import { liveInProcess, Supervisor, type FnState, type Inst, type Spec } from './supervisor.js';

export { readLocalConfig, type LocalBackendConfig } from './config.js';
export type { IsolationSummary } from './isolation.js';

/** LocalBackend is the FunctionBackend this module builds, plus what only the local backend can tell. */
export interface LocalBackend extends FunctionBackend {
  /** isolation says how instances are confined on this host (for /system/info-style displays and logs). */
  readonly isolation: IsolationSummary;
  /** uidOf is the uid a function's instances run as under runc (undefined for the process runtime or an unknown function). */
  uidOf(namespace: string, name: string): number | undefined;
}

/** isolationSummary returns the local backend's isolation summary, or undefined for another backend. */
export function isolationSummary(b: FunctionBackend): IsolationSummary | undefined {
  return (b as Partial<LocalBackend>).isolation;
}

/** LocalBackendOptions are test seams; production passes none. */
export interface LocalBackendOptions {
  /** install replaces the npm install step of image preparation. */
  install?: InstallStep;
  /** isolation skips host detection (and so runc: instances run as process groups). */
  isolation?: Isolation;
  /** watchdogMain overrides the compiled watchdog entry. */
  watchdogMain?: string;
  /**
   * instanceFiles returns the files (name -> content) an instance's watchdog needs to authenticate itself, e.g. its
   * NATS credentials and its control token. They are written owner-only into a per-instance credentials directory
   * that only that instance can read (at /var/openfaas/hyperfaas inside a container); the watchdog finds the
   * directory in env HYPERFAAS_CREDENTIALS_DIR. Called once per instance start.
   */
  instanceFiles?: (who: { instanceId: string; namespace: string; service: string }) => Promise<Record<string, string>>;
  /**
   * publishCode stores a function's prepared directory as its namespace's code object (messaging/code-store.ts),
   * from which a lender's watchdog fetches it to specialise its guest slot. Called at deploy and update, and again
   * when a guest slot is lent and the code is not yet published (after a restart, or while NATS was down).
   */
  publishCode?: PublishCode;
}

/** UID_SPAN is how many uids, from HYPERFAAS_UID_BASE, functions get under runc. */
const UID_SPAN = 65536;

class LocalBackendImpl implements LocalBackend {
  readonly name = 'local';
  readonly orchestration = 'local';
  readonly isolation: IsolationSummary;

  private readonly fns = new Map<string, FnState>();
  private readonly pending = new Set<string>();
  private readonly secrets = new Map<string, Map<string, Buffer>>();
  private readonly listeners = new Set<(ev: InstanceEvent) => void>();
  /** code is each function's published code object, with the prepared directory it was made from. */
  private readonly code = new Map<string, { dir: string; ref: Promise<CodeObject> }>();
  private readonly images: ImageResolver;
  /** published takes builds users upload (PUT /system/images); images resolve them first. */
  get published(): PublishedBuilds {
    return this.images.published;
  }
  private readonly store: Store;
  private readonly logs_: LogSink;
  private readonly sup: Supervisor;
  private readonly runRoot: string;
  private closed = false;
  private gcTimer?: NodeJS.Timeout;

  constructor(
    private readonly cfg: LocalBackendConfig,
    private readonly logger: Logger,
    private readonly iso: Isolation,
    private readonly runtime: InstanceRuntime,
    private readonly opts: LocalBackendOptions,
  ) {
    this.isolation = iso.summary;
    this.images = new ImageResolver(
      cfg.dataDir,
      cfg.imagePath,
      opts.install,
      new OciImageStore(join(cfg.dataDir, 'oci'), {
        pullPolicy: cfg.pullPolicy,
        insecure: cfg.insecureRegistries,
        ...(cfg.registryAuth !== undefined ? { authFile: cfg.registryAuth } : {}),
        ...(cfg.defaultRegistry !== undefined ? { defaultRegistry: cfg.defaultRegistry } : {}),
      }),
    );
    this.store = new Store(cfg.dataDir);
    this.runRoot = join(cfg.dataDir, 'run');
    this.logs_ = new LogSink(join(cfg.dataDir, 'logs'), cfg.logLines, logger);
    this.sup = new Supervisor(cfg, logger, runtime, iso.cgroups, this.runRoot, {
      emit: (type, inst) => this.emit(type, inst),
      log: (fn, instance, text) => this.logLine(fn, instance, text),
      changed: (fn) => this.reconcile(fn),
      files: (inst) => this.filesOf(inst),
      gone: () => this.scheduleImageGc(),
    });
  }

  // ---- start-up -------------------------------------------------------------------------------------------

  async init(): Promise<void> {
    await this.store.init();
    await this.images.oci?.init();
    await mkdir(this.runRoot, { recursive: true, mode: 0o755 });
    await mkdir(join(this.cfg.dataDir, 'logs'), { recursive: true, mode: 0o700 });
    await this.reapOrphans();
    for (const [ns, m] of await this.store.loadSecrets()) this.secrets.set(ns, m);
    const stored = await this.store.loadFunctions((file, e) => this.logger.error(`skipping unreadable ${file}: ${String(e)}`));
    for (const sf of stored) {
      const fn: FnState = {
        key: functionKey(sf.spec.service, sf.spec.namespace),
        spec: sf.spec,
        createdAt: sf.createdAt,
        replicas: sf.replicas,
        generation: 1,
        instances: new Map(),
        removed: false,
        ...(sf.uid !== undefined ? { uid: sf.uid } : {}),
      };
      this.fns.set(fn.key, fn);
      try {
        // A restored function runs the image it was deployed with when it is still stored (no pull at start).
        const policy: PullPolicy = this.cfg.pullPolicy === 'Never' ? 'Never' : 'IfNotPresent';
        fn.image = await this.resolveImage(sf.spec, fn.key, policy);
      } catch (e) {
        fn.imageError = (e as Error).message;
        this.logger.error(`function ${fn.key} restored without a runnable image: ${fn.imageError}`);
      }
    }
    for (const fn of this.fns.values()) {
      if (this.runtime.kind === 'runc' && fn.uid === undefined) {
        fn.uid = this.allocateUid();
        await this.save(fn);
      }
    }
    for (const fn of this.fns.values()) await this.logs_.restore(fn.key);
    for (const fn of this.fns.values()) this.reconcile(fn);
    if (stored.length) this.logger.info(`local backend restored ${stored.length} function(s) from ${this.cfg.dataDir}`);
  }

  /** reapOrphans ends instances a previous provider process left running (it died without close()). */
  private async reapOrphans(): Promise<void> {
    for (const id of await readdir(this.runRoot).catch(() => [] as string[])) {
      const dir = join(this.runRoot, id);
      const owner = Number((await readFile(join(dir, 'owner'), 'utf8').catch(() => '')).trim());
      if (liveInProcess.has(id) || (owner > 0 && owner !== process.pid && alive(owner))) {
        // Another live backend uses this data dir (not supported, but never kill what it runs).
        this.logger.warn(`instance ${id} in ${this.runRoot} belongs to live process ${owner}; leaving it alone`);
        continue;
      }
      this.logger.warn(`cleaning up instance ${id} left over from a previous run`);
      await this.runtime.reap(id, dir).catch((e: Error) => this.logger.warn(`reaping ${id}: ${e.message}`));
      if (this.iso.cgroups.version !== 'none' && /^[A-Za-z0-9_.-]+$/.test(id)) {
        await Cgroup.attach(this.iso.cgroups, id)
          .destroy()
          .catch((e: Error) => this.logger.warn(`removing the cgroup of ${id}: ${e.message}`));
      }
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** allocateUid returns the lowest uid of the function range no function holds. */
  private allocateUid(): number {
    const taken = new Set([...this.fns.values()].map((f) => f.uid));
    for (let u = this.cfg.uidBase; u < this.cfg.uidBase + UID_SPAN; u++) if (!taken.has(u)) return u;
    throw new BackendError('Unavailable', `all ${UID_SPAN} function uids from HYPERFAAS_UID_BASE=${this.cfg.uidBase} are taken`);
  }

  uidOf(namespace: string, name: string): number | undefined {
    return this.fns.get(functionKey(name, namespace))?.uid;
  }

  /** filesOf gathers what an instance reads at start: its function's secrets, its credentials, its uid. */
  private async filesOf(inst: Inst): Promise<InstanceFiles> {
    const known = this.secrets.get(inst.spec.namespace);
    const secrets = new Map<string, Buffer>();
    for (const s of inst.spec.secrets ?? []) {
      const v = known?.get(s);
      if (v) secrets.set(s, v);
    }
    // An OCI image runs its own watchdog: it gets no HyperFaaS credentials (NATS, control token) to misuse.
    const credentials = this.opts.instanceFiles && inst.image.kind !== 'oci'
      ? await this.opts.instanceFiles({ instanceId: inst.id, namespace: inst.spec.namespace, service: inst.spec.service })
      : {};
    const uid = this.runtime.kind === 'runc' ? inst.fn.uid : undefined;
    return { secrets, credentials, ...(uid !== undefined ? { uid, gid: uid } : {}) };
  }

  private save(fn: FnState): Promise<void> {
    return this.store.saveFunction({ spec: fn.spec, createdAt: fn.createdAt, replicas: fn.replicas, ...(fn.uid !== undefined ? { uid: fn.uid } : {}) });
  }

  // ---- functions ------------------------------------------------------------------------------------------

  async namespaces(): Promise<string[]> {
    return [...this.cfg.namespaces];
  }

  private checkNamespace(ns: string): void {
    if (!this.cfg.namespaces.includes(ns)) {
      throw new BackendError('Invalid', `namespace ${ns} is not one of ${this.cfg.namespaces.join(', ')} (set HYPERFAAS_NAMESPACES)`);
    }
  }

  /** ociUnavailable says why OCI images cannot run here, or undefined under runc. */
  private ociUnavailable(): string | undefined {
    if (this.runtime.kind === 'runc' && this.runtime.prepareNetwork) return undefined;
    return `instances run as ${this.runtime.kind} groups on this host (${this.isolation.notes.join('; ') || 'runc not used'})`;
  }

  /** resolveImage resolves a spec's image; pull progress goes to the function's log under the instance name "pull". */
  private resolveImage(fd: Spec, k: string, policy?: PullPolicy): Promise<ResolvedImage> {
    const unavailable = this.ociUnavailable();
    return this.images.resolve(fd.image, fd.envProcess, fd.labels, {
      log: (line) => this.logs_.line(k, 'pull', line),
      ...(policy ? { policy } : {}),
      ...(unavailable ? { ociUnavailable: unavailable } : {}),
    });
  }

  private async validate(fd: Spec) {
    this.checkNamespace(fd.namespace);
    if (!safeName.test(fd.service) || fd.service.includes('.')) {
      throw new BackendError('Invalid', `function name ${JSON.stringify(fd.service)} must be a DNS-1123 label`);
    }
    const known = this.secrets.get(fd.namespace);
    const missing = (fd.secrets ?? []).filter((s) => !known?.has(s));
    if (missing.length) throw new BackendError('Invalid', `unknown secret(s) in namespace ${fd.namespace}: ${missing.join(', ')}`);
    try {
      limitsOf(fd, this.cfg.minMemoryBytes);
    } catch (e) {
      throw new BackendError('Invalid', (e as Error).message);
    }
    admitDeployment(fd, { host: hostSize(), secretsBytes: this.cfg.secretsBytes, secrets: known });
    return { image: await this.resolveImage(fd, functionKey(fd.service, fd.namespace)) };
  }

  async deploy(fd: Spec): Promise<void> {
    const k = functionKey(fd.service, fd.namespace);
    if (this.fns.has(k) || this.pending.has(k)) throw new BackendError('Conflict', `function ${fd.service} already exists in ${fd.namespace}`);
    this.pending.add(k);
    let created = false;
    try {
      const { image } = await this.validate(fd).catch(async (e: unknown) => {
        // A failed deploy leaves nothing behind, not even its pull's log lines.
        await this.logs_.drop(k);
        throw e;
      });
      const spec = clean(fd);
      const fn: FnState = {
        key: k,
        spec,
        createdAt: new Date().toISOString(),
        replicas: minReplicasOf(spec.labels),
        generation: 1,
        image,
        instances: new Map(),
        removed: false,
      };
      if (this.runtime.kind === 'runc') fn.uid = this.allocateUid();
      // Published before the function is known, so no lending can name code that is not there yet.
      await this.publishCode(fn);
      await this.save(fn);
      this.fns.set(k, fn);
      created = true;
      this.logLine(fn, 'hyperfaas', `deployed ${fd.image} (${describe(image)}), replicas ${fn.replicas}`);
      this.reconcile(fn);
    } finally {
      this.pending.delete(k);
      if (!created) this.scheduleImageGc();
    }
  }

  async update(fd: Spec): Promise<void> {
    const fn = this.mustGet(fd.namespace, fd.service);
    const { image } = await this.validate(fd);
    if (fn.removed) throw new BackendError('NotFound', `function ${fd.service} not found in ${fd.namespace}`);
    fn.spec = clean(fd);
    fn.image = image;
    delete fn.imageError;
    fn.generation++;
    await this.publishCode(fn);
    await this.save(fn);
    this.logLine(fn, 'hyperfaas', `updated to ${fd.image}; rolling ${fn.replicas} instance(s)`);
    this.reconcile(fn);
  }

  async remove(namespace: string, name: string): Promise<void> {
    const fn = this.mustGet(namespace, name);
    fn.removed = true;
    this.fns.delete(fn.key);
    this.code.delete(fn.key);
    await this.store.deleteFunction(namespace, name);
    this.reconcile(fn);
    await this.logs_.drop(fn.key);
  }

  async get(namespace: string, name: string): Promise<FunctionStatus> {
    return this.status(this.mustGet(namespace, name));
  }

  /**
   * codeRef names the function's code object in its namespace's code bucket (published from its prepared
   * directory), which a lender's watchdog fetches over NATS; fork-mode and OCI images have no code to lend.
   */
  async codeRef(namespace: string, name: string): Promise<CodeRef | undefined> {
    const fn = this.mustGet(namespace, name);
    const ref = this.publishedCode(fn);
    return ref ? { kind: 'object', ...(await ref) } : undefined;
  }

  /** publishedCode is fn's code object, published now unless its current directory already was. */
  private publishedCode(fn: FnState): Promise<CodeObject> | undefined {
    const publish = this.opts.publishCode;
    if (fn.image?.kind !== 'directory' || !publish) return undefined;
    const dir = fn.image.dir;
    const had = this.code.get(fn.key);
    if (had?.dir === dir) return had.ref;
    const ref = publish(fn.spec.namespace, fn.key, dir);
    const entry = { dir, ref };
    this.code.set(fn.key, entry);
    ref.catch(() => this.code.get(fn.key) === entry && this.code.delete(fn.key));
    return ref;
  }

  /**
   * publishCode publishes fn's code at deploy or update when it may be lent (it names a runtime: only functions of
   * one runtime lend each other slots); a failure is logged and publishing is tried again at lending.
   */
  private async publishCode(fn: FnState): Promise<void> {
    if (!runtimeOf(fn.spec.labels)) return;
    try {
      const ref = await this.publishedCode(fn);
      if (ref) this.logLine(fn, 'hyperfaas', `published its code for guest slots as ${ref.key} in ${ref.bucket}`);
    } catch (e) {
      this.logger.warn(`publishing the code of ${fn.key} failed (tried again when a guest slot is lent): ${(e as Error).message}`);
    }
  }

  async list(namespace: string): Promise<FunctionStatus[]> {
    const out: FunctionStatus[] = [];
    for (const fn of this.fns.values()) if (fn.spec.namespace === namespace) out.push(this.status(fn));
    return out;
  }

  async scale(namespace: string, name: string, replicas: number): Promise<void> {
    const fn = this.mustGet(namespace, name);
    if (!Number.isSafeInteger(replicas) || replicas < 0) throw new BackendError('Invalid', `replicas must be a non-negative integer, got ${replicas}`);
    if (fn.replicas === replicas) return;
    fn.replicas = replicas;
    await this.save(fn);
    this.reconcile(fn);
  }

  private mustGet(namespace: string, name: string): FnState {
    const fn = this.fns.get(functionKey(name, namespace));
    if (!fn) throw new BackendError('NotFound', `function ${name} not found in ${namespace}`);
    return fn;
  }

  private status(fn: FnState): FunctionStatus {
    let ready = 0;
    let memory = 0;
    let cores = 0;
    let sampled = false;
    for (const i of fn.instances.values()) {
      if (!i.ready) continue;
      ready++;
      if (i.usage) {
        sampled = true;
        memory += i.usage.memoryBytes ?? 0;
        cores += i.usage.cores ?? 0;
      }
    }
    const st = toFunctionStatus(fn.spec, fn.createdAt, fn.replicas, ready);
    if (fn.image?.oci) {
      // Set by the provider on the status only (never stored in the spec): what runs and what it lacks.
      st.annotations[IMAGE_DIGEST_ANNOTATION] = fn.image.oci.digest;
      st.annotations[ICS_ANNOTATION] = 'none';
    }
    if (sampled) st.usage = { cpu: Math.round(cores * 1000) / 1000, totalMemoryBytes: memory };
    return st;
  }

  /** reconcile applies reconcile.ts's plan to a function; safe to call at any time, any number of times. */
  private reconcile(fn: FnState): void {
    if (this.closed) return;
    const live = [...fn.instances.values()].filter((i) => !i.stopping);
    const p = plan(
      { removed: fn.removed, replicas: fn.replicas, generation: fn.generation, canStart: !!fn.image && (fn.startsPausedUntil ?? 0) <= Date.now() },
      live,
    );
    for (let n = 0; n < p.start; n++) this.sup.start(fn, fn.image!);
    for (const s of p.stop) {
      const i = fn.instances.get(s.id);
      if (i) void this.sup.stop(i, s.why);
    }
  }

  // ---- secrets --------------------------------------------------------------------------------------------

  async listSecrets(namespace: string): Promise<SecretInfo[]> {
    return [...(this.secrets.get(namespace)?.keys() ?? [])].sort().map((name) => ({ name, namespace }));
  }

  async createSecret(namespace: string, name: string, value: Buffer): Promise<void> {
    this.checkNamespace(namespace);
    if (!safeName.test(name) || name.includes('..')) throw new BackendError('Invalid', `secret name ${JSON.stringify(name)} must be a DNS-1123 subdomain`);
    let m = this.secrets.get(namespace);
    if (m?.has(name)) throw new BackendError('Conflict', `secret ${name} already exists in ${namespace}`);
    admitSecret(name, value, { secretsBytes: this.cfg.secretsBytes, known: m });
    if (!m) this.secrets.set(namespace, (m = new Map()));
    m.set(name, Buffer.from(value));
    try {
      await this.store.writeSecret(namespace, name, value);
    } catch (e) {
      m.delete(name);
      throw e;
    }
  }

  async updateSecret(namespace: string, name: string, value: Buffer): Promise<void> {
    const m = this.secrets.get(namespace);
    if (!m?.has(name)) throw new BackendError('NotFound', `secret ${name} not found in ${namespace}`);
    const users = [...this.fns.values()].filter((f) => f.spec.namespace === namespace && f.spec.secrets?.includes(name)).map((f) => f.spec);
    admitSecret(name, value, { secretsBytes: this.cfg.secretsBytes, known: m, users });
    await this.store.writeSecret(namespace, name, value);
    m.set(name, Buffer.from(value));
  }

  async deleteSecret(namespace: string, name: string): Promise<void> {
    const m = this.secrets.get(namespace);
    if (!m?.has(name)) throw new BackendError('NotFound', `secret ${name} not found in ${namespace}`);
    await this.store.deleteSecret(namespace, name);
    m.delete(name);
  }

  // ---- logs -----------------------------------------------------------------------------------------------

  private logLine(fn: FnState, instance: string, text: string): void {
    if (!fn.removed) this.logs_.line(fn.key, instance, text);
  }

  async *logs(req: LogRequest, signal: AbortSignal): AsyncIterable<LogMessage> {
    const fn = this.mustGet(req.namespace, req.name);
    const q = {
      tail: req.tail,
      ...(req.instance ? { instance: req.instance } : {}),
      ...(req.since ? { sinceMs: req.since.getTime() } : {}),
    };
    for await (const e of this.logs_.stream(fn.key, q, req.follow, signal)) yield toLogMessage(req.name, req.namespace, e);
  }

  // ---- instances ------------------------------------------------------------------------------------------

  instances(namespace?: string, name?: string): Instance[] {
    const out: Instance[] = [];
    for (const i of this.sup.all.values()) {
      if (!i.url) continue; // still getting its ports
      if (namespace !== undefined && i.fn.spec.namespace !== namespace) continue;
      if (name !== undefined && i.fn.spec.service !== name) continue;
      out.push(this.view(i));
    }
    return out;
  }

  watchInstances(listener: (ev: InstanceEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private view(i: Inst): Instance {
    const v: Instance = {
      id: i.id,
      function: i.fn.spec.service,
      namespace: i.fn.spec.namespace,
      url: i.url,
      ready: i.ready,
      startedAt: i.startedAt,
    };
    const rt = runtimeOf(i.fn.spec.labels);
    if (rt) v.runtime = rt;
    if (i.image.kind === 'oci') v.watchdog = 'image';
    return v;
  }

  private emit(type: InstanceEvent['type'], i: Inst): void {
    const ev: InstanceEvent = { type, instance: this.view(i) };
    for (const l of this.listeners) {
      try {
        l(ev);
      } catch (e) {
        this.logger.error(`instance listener failed: ${String(e)}`);
      }
    }
  }

  resize(instanceId: string, limits: ResourceLimits): Promise<void> {
    return this.sup.resize(instanceId, limits, () => `isolation ${this.isolation.level}: ${this.isolation.notes.join('; ') || 'no cgroup controllers'}`);
  }

  /** scheduleImageGc removes, a little later, prepared images no function or instance uses any more. */
  private scheduleImageGc(): void {
    if (this.gcTimer || this.closed) return;
    this.gcTimer = setTimeout(() => {
      this.gcTimer = undefined;
      const keep = new Set<string>();
      for (const fn of this.fns.values()) if (fn.image?.hash) keep.add(fn.image.hash);
      for (const i of this.sup.all.values()) if (i.image.hash) keep.add(i.image.hash);
      void this.images.gc(keep, Date.now()).then(
        (gone) => gone.length && this.logger.info(`removed ${gone.length} unused prepared image(s)`),
        (e: Error) => this.logger.warn(`image gc: ${e.message}`),
      );
    }, 1000);
    this.gcTimer.unref();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Closed first, so nothing that stopping triggers (reconcile, restarts) starts a new instance.
    this.closed = true;
    clearTimeout(this.gcTimer);
    await this.sup.close();
    await this.runtime.close?.();
    await this.logs_.close();
    this.listeners.clear();
  }
}

/** IMAGE_DIGEST_ANNOTATION, on the status of a function running an OCI image, is the manifest digest its instances run. */
export const IMAGE_DIGEST_ANNOTATION = 'com.hyperfaas.image.digest';
/**
 * ICS_ANNOTATION, on the status of a function running an OCI image, is "none": its instances run the image's own
 * watchdog, so they send no load reports and cannot bounce requests or lend a guest slot.
 */
export const ICS_ANNOTATION = 'com.hyperfaas.ics';

function describe(image: ResolvedImage): string {
  if (image.kind === 'fork') return `fork mode: ${image.fprocess}`;
  if (image.oci) return `OCI image ${image.oci.ref} ${image.oci.digest}: ${image.oci.args.join(' ')}`;
  return image.sourceDir ?? image.dir;
}

/** clean copies a deployment without undefined fields, so what is stored is what the user sent. */
function clean(fd: Spec): Spec {
  return JSON.parse(JSON.stringify(fd)) as Spec;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * chooseRuntime picks how instances run: runc where HYPERFAAS_ISOLATION=auto, the provider is root and a probe
 * container runs; else process groups, with the reason in the isolation notes.
 */
async function chooseRuntime(cfg: LocalBackendConfig, log: Logger, iso: Isolation, main: string, detected: boolean): Promise<{ iso: Isolation; runtime: InstanceRuntime }> {
  const processRuntime = (i: Isolation) => ({ iso: i, runtime: new ProcessRuntime(i, cfg.nodeBinary, main) as InstanceRuntime });
  const fallback = (why: string) => {
    let i: Isolation = { ...iso, summary: { ...iso.summary, notes: [...iso.summary.notes, why] } };
    const before = i.user;
    i = withoutUserUnlessReadable(i, [main, join(repoRoot, 'node_modules')]);
    if (before && !i.user) log.warn(i.summary.notes[i.summary.notes.length - 1]!);
    return processRuntime(i);
  };
  if (!detected) return processRuntime(withoutUserUnlessReadable(iso, [main, join(repoRoot, 'node_modules')]));
  if (cfg.isolation === 'none') return processRuntime(iso);
  if (cfg.isolation === 'process') return fallback('HYPERFAAS_ISOLATION=process: runc not used');
  if (!iso.summary.root) return fallback('not root: runc not used');
  const bin = findRunc(cfg.runc);
  if (!bin) return fallback(cfg.runc ? `HYPERFAAS_RUNC=${cfg.runc} does not exist` : 'runc is not installed (apt-get install runc): instances run as process groups');
  let rt: RuncRuntime | undefined;
  try {
    rt = await RuncRuntime.create({
      runc: bin,
      dataDir: cfg.dataDir,
      node: cfg.nodeBinary,
      watchdogMain: main,
      cgroups: iso.cgroups,
      cgroupRoot: cfg.cgroupRoot,
      cgroupParent: cfg.cgroupParent,
      secretsBytes: cfg.secretsBytes,
      logger: log,
    });
    const why = await probeRunc(rt, join(cfg.dataDir, 'run', `.probe-${process.pid}`));
    if (why) throw new Error(why);
  } catch (e) {
    await rt?.close().catch(() => undefined);
    return fallback((e as Error).message);
  }
  return { iso: withRunc(iso, cfg.uidBase), runtime: rt };
}

/**
 * createLocalBackend builds the local backend: detects isolation once (runc or the process fallback), restores
 * functions and secrets from the data dir and starts their instances.
 */
export async function createLocalBackend(cfg: LocalBackendConfig, logger: Logger, opts: LocalBackendOptions = {}): Promise<LocalBackend> {
  const log = logger.child({ component: 'local-backend' });
  const main = opts.watchdogMain ?? watchdogMain;
  await mkdir(cfg.dataDir, { recursive: true });
  await chmod(cfg.dataDir, 0o755).catch(() => undefined);
  const chosen = await chooseRuntime(cfg, log, opts.isolation ?? (await detectIsolation(cfg)), main, !opts.isolation);
  logIsolation(chosen.iso, log);
  const b = new LocalBackendImpl(cfg, log, chosen.iso, chosen.runtime, opts);
  await b.init();
  return b;
}

export { noIsolation };
