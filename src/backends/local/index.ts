/**
 * The local backend: the embedded default FunctionBackend. Each replica is an *instance*, a process group on this
 * host running our watchdog (which runs the function), with its own 127.0.0.1 ports, temp dir, lock file and, where
 * the host allows, cgroup, user and mount namespace (isolation.ts). Functions and secrets persist in the data dir
 * (store.ts) and come back after a restart; get and list answer from memory.
 *
 * Per function, `reconcile` drives the instances towards the desired count of the current generation. An update
 * bumps the generation: new instances start, and old ones are SIGTERMed (the watchdog drains) only as new ones
 * become ready, so requests are never dropped. A crashed instance restarts in place with exponential back-off.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { chmod, chown, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { dirname, join } from 'node:path';
import type { Logger } from '../../logger.js';
import { repoRoot, watchdogMain } from '../../paths.js';
import type { FunctionDeployment, FunctionStatus, LogMessage, LogRequest } from '../../types/index.js';
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
import type { PublishedBuilds } from '../backend.js';
import {
  buildLaunch,
  CREDENTIALS_MOUNT,
  detectIsolation,
  noIsolation,
  SECRETS_MOUNT,
  withoutUserUnlessReadable,
  type Isolation,
  type IsolationSummary,
} from './isolation.js';
import { formatLogFileLine, LineSplitter, LogBuffer, parseLogFileLine, toLogMessage } from './logs.js';
import { allocatePorts, PortAllocator } from './ports.js';
import { limitsOf, minReplicas, restartDelayMs, RUNTIME_LABEL, toFunctionStatus } from './status.js';
import { safeName, Store } from './store.js';

export { readLocalConfig, type LocalBackendConfig } from './config.js';
export type { IsolationSummary } from './isolation.js';

type Spec = FunctionDeployment & { namespace: string };

/** LocalBackend is the FunctionBackend this module builds, plus what only the local backend can tell. */
export interface LocalBackend extends FunctionBackend {
  /** isolation says how instances are confined on this host (for /system/info-style displays and logs). */
  readonly isolation: IsolationSummary;
}

/** isolationSummary returns the local backend's isolation summary, or undefined for another backend. */
export function isolationSummary(b: FunctionBackend): IsolationSummary | undefined {
  return (b as Partial<LocalBackend>).isolation;
}

/** LocalBackendOptions are test seams; production passes none. */
export interface LocalBackendOptions {
  /** install replaces the npm install step of image preparation. */
  install?: InstallStep;
  /** isolation skips host detection. */
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
}

interface FnState {
  key: string;
  spec: Spec;
  createdAt: string;
  replicas: number;
  generation: number;
  image?: ResolvedImage;
  imageError?: string;
  instances: Map<string, Inst>;
  removed: boolean;
  /** startFailures counts instances in a row that failed before they could run; starts pause meanwhile. */
  startFailures?: number;
  /** startsPausedUntil (epoch ms) holds new starts back after such a failure. */
  startsPausedUntil?: number;
}

interface Inst {
  id: string;
  fn: FnState;
  generation: number;
  /** spec and image are the function's at the instance's creation: a restart runs the same version. */
  spec: Spec;
  image: ResolvedImage;
  ports: { port: number; metrics: number; http: number };
  url: string;
  startedAt: number;
  ready: boolean;
  stopping: boolean;
  child?: ChildProcess;
  /** exited resolves when the current process (if any) has exited. */
  exited: Promise<void>;
  launchedAt: number;
  restarts: number;
  failures: number;
  restartTimer?: NodeJS.Timeout;
  healthTimer?: NodeJS.Timeout;
  runDir: string;
  cgroup?: Cgroup;
  /** startBoosted is true while the cgroup holds the start CPU limit (HYPERFAAS_START_CPU) instead of the instance's own. */
  startBoosted?: boolean;
  limits: ResourceLimits;
  stopped?: Promise<void>;
  /** pending is the preparation or launch in progress; stopping waits for it so nothing starts behind its back. */
  pending: Promise<void>;
  /** readyThisLaunch tells a crash before readiness (e.g. a port taken meanwhile) from one after. */
  readyThisLaunch: boolean;
  /** usage is the latest resource sample (cgroups only): memory bytes and cores used since the previous one. */
  usage?: { memoryBytes?: number; cores?: number; cpuSeconds: number; at: number };
}

const TMP_SIZE = 256 * 1024 * 1024;
/** STARTING_POLL_MS is how often a starting instance is probed for readiness (cheap: refused connections, mostly). */
const STARTING_POLL_MS = 20;

/** liveInProcess holds the ids of instances run by any backend of this process (tests run several at once). */
const liveInProcess = new Set<string>();
const LOG_FILE_MAX = 8 * 1024 * 1024;

class LocalBackendImpl implements LocalBackend {
  readonly name = 'local';
  readonly orchestration = 'local';
  readonly isolation: IsolationSummary;

  private readonly fns = new Map<string, FnState>();
  private readonly pending = new Set<string>();
  /** all holds every instance still alive, also those of removed functions that are draining. */
  private readonly all = new Map<string, Inst>();
  private readonly secrets = new Map<string, Map<string, Buffer>>();
  private readonly listeners = new Set<(ev: InstanceEvent) => void>();
  private readonly logBuffers = new Map<string, LogBuffer>();
  private readonly logFiles = new Map<string, { stream: WriteStream; size: number; path: string }>();
  private readonly ports: PortAllocator;
  private readonly images: ImageResolver;
  /** published takes builds users upload (PUT /system/images); images resolve them first. */
  get published(): PublishedBuilds {
    return this.images.published;
  }
  private readonly store: Store;
  private readonly runRoot: string;
  private readonly logRoot: string;
  private closed = false;
  private seq = 0;
  private gcTimer?: NodeJS.Timeout;

  constructor(
    private readonly cfg: LocalBackendConfig,
    private readonly logger: Logger,
    private readonly iso: Isolation,
    private readonly watchdog: string,
    install?: InstallStep,
    private readonly instanceFiles?: LocalBackendOptions['instanceFiles'],
  ) {
    this.isolation = iso.summary;
    const span = cfg.portRange.to - cfg.portRange.from + 1;
    this.ports = new PortAllocator(cfg.portRange.from, cfg.portRange.to, cfg.portRange.from + Math.floor(Math.random() * span));
    this.images = new ImageResolver(cfg.dataDir, cfg.imagePath, install);
    this.store = new Store(cfg.dataDir);
    this.runRoot = join(cfg.dataDir, 'run');
    this.logRoot = join(cfg.dataDir, 'logs');
  }

  // ---- start-up -------------------------------------------------------------------------------------------

  async init(): Promise<void> {
    await mkdir(this.cfg.dataDir, { recursive: true });
    await chmod(this.cfg.dataDir, 0o755).catch(() => undefined);
    await this.store.init();
    await mkdir(this.runRoot, { recursive: true, mode: 0o755 });
    await mkdir(this.logRoot, { recursive: true, mode: 0o700 });
    await this.reapOrphans();
    for (const [ns, m] of await this.store.loadSecrets()) this.secrets.set(ns, m);
    const stored = await this.store.loadFunctions((file, e) => this.logger.error(`skipping unreadable ${file}: ${String(e)}`));
    for (const sf of stored) {
      const fn: FnState = {
        key: key(sf.spec.namespace, sf.spec.service),
        spec: sf.spec,
        createdAt: sf.createdAt,
        replicas: sf.replicas,
        generation: 1,
        instances: new Map(),
        removed: false,
      };
      this.fns.set(fn.key, fn);
      try {
        fn.image = await this.images.resolve(sf.spec.image, sf.spec.envProcess, sf.spec.labels);
      } catch (e) {
        fn.imageError = (e as Error).message;
        this.logger.error(`function ${fn.key} restored without a runnable image: ${fn.imageError}`);
      }
    }
    for (const fn of this.fns.values()) await this.restoreLogs(fn);
    for (const fn of this.fns.values()) this.reconcile(fn);
    if (stored.length) this.logger.info(`local backend restored ${stored.length} function(s) from ${this.cfg.dataDir}`);
  }

  /** restoreLogs refills a function's ring buffer from the tail of its log file, so logs outlive a restart. */
  private async restoreLogs(fn: FnState): Promise<void> {
    const path = this.logPath(fn.key);
    let text: string;
    try {
      const size = (await stat(path)).size;
      // Read at most about the last 4 MiB: enough for the ring, bounded whatever the file grew to.
      const fh = await open(path, 'r');
      try {
        const len = Math.min(size, 4 * 1024 * 1024);
        const buf = Buffer.alloc(len);
        await fh.read(buf, 0, len, size - len);
        text = buf.toString();
      } finally {
        await fh.close();
      }
    } catch {
      return;
    }
    const lines = text.split('\n');
    const buf = this.buffer(fn.key);
    for (const l of lines.slice(Math.max(0, lines.length - this.cfg.logLines - 1))) {
      const e = parseLogFileLine(l);
      if (e) buf.append(e.instance, e.text, e.at);
    }
  }

  /** reapOrphans kills instances a previous provider process left running (it died without close()). */
  private async reapOrphans(): Promise<void> {
    for (const id of await readdir(this.runRoot).catch(() => [] as string[])) {
      const dir = join(this.runRoot, id);
      const owner = Number((await readFile(join(dir, 'owner'), 'utf8').catch(() => '')).trim());
      if (liveInProcess.has(id) || (owner > 0 && owner !== process.pid && alive(owner))) {
        // Another live backend uses this data dir (not supported, but never kill what it runs).
        this.logger.warn(`instance ${id} in ${this.runRoot} belongs to live process ${owner}; leaving it alone`);
        continue;
      }
      const pid = Number((await readFile(join(dir, 'pid'), 'utf8').catch(() => '')).trim());
      if (pid > 0) {
        const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
        if (environ.split('\0').includes(`HYPERFAAS_INSTANCE_ID=${id}`)) {
          this.logger.warn(`killing instance ${id} (pid ${pid}) left over from a previous run`);
          killGroup(pid, 'SIGKILL');
        }
      }
      if (this.iso.cgroups.version !== 'none' && /^[A-Za-z0-9_.-]+$/.test(id)) {
        await Cgroup.attach(this.iso.cgroups, id)
          .destroy()
          .catch((e: Error) => this.logger.warn(`removing the cgroup of ${id}: ${e.message}`));
      }
      await rm(dir, { recursive: true, force: true });
    }
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

  private async validate(fd: Spec): Promise<{ image: ResolvedImage }> {
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
    return { image: await this.images.resolve(fd.image, fd.envProcess, fd.labels) };
  }

  async deploy(fd: Spec): Promise<void> {
    const k = key(fd.namespace, fd.service);
    if (this.fns.has(k) || this.pending.has(k)) throw new BackendError('Conflict', `function ${fd.service} already exists in ${fd.namespace}`);
    this.pending.add(k);
    try {
      const { image } = await this.validate(fd);
      const spec = clean(fd);
      const fn: FnState = {
        key: k,
        spec,
        createdAt: new Date().toISOString(),
        replicas: minReplicas(spec.labels),
        generation: 1,
        image,
        instances: new Map(),
        removed: false,
      };
      await this.store.saveFunction({ spec, createdAt: fn.createdAt, replicas: fn.replicas });
      this.fns.set(k, fn);
      this.logLine(fn, 'hyperfaas', `deployed ${fd.image} (${image.kind === 'fork' ? `fork mode: ${image.fprocess}` : image.sourceDir}), replicas ${fn.replicas}`);
      this.reconcile(fn);
    } finally {
      this.pending.delete(k);
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
    await this.store.saveFunction({ spec: fn.spec, createdAt: fn.createdAt, replicas: fn.replicas });
    this.logLine(fn, 'hyperfaas', `updated to ${fd.image}; rolling ${fn.replicas} instance(s)`);
    this.reconcile(fn);
  }

  async remove(namespace: string, name: string): Promise<void> {
    const fn = this.mustGet(namespace, name);
    fn.removed = true;
    this.fns.delete(fn.key);
    await this.store.deleteFunction(namespace, name);
    this.reconcile(fn);
    const lf = this.logFiles.get(fn.key);
    if (lf) {
      lf.stream.end();
      this.logFiles.delete(fn.key);
    }
    this.logBuffers.delete(fn.key);
    await rm(this.logPath(fn.key), { force: true });
  }

  async get(namespace: string, name: string): Promise<FunctionStatus> {
    return this.status(this.mustGet(namespace, name));
  }

  /** codeRef hands a guest slot the function's prepared directory (template layout); fork-mode images have none. */
  async codeRef(namespace: string, name: string): Promise<CodeRef | undefined> {
    const fn = this.mustGet(namespace, name);
    return fn.image?.kind === 'directory' ? { kind: 'dir', path: fn.image.dir } : undefined;
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
    await this.store.saveFunction({ spec: fn.spec, createdAt: fn.createdAt, replicas });
    this.reconcile(fn);
  }

  private mustGet(namespace: string, name: string): FnState {
    const fn = this.fns.get(key(namespace, name));
    if (!fn) throw new BackendError('NotFound', `function ${name} not found in ${namespace}`);
    return fn;
  }

  private status(fn: FnState): FunctionStatus {
    let ready = 0;
    let memory = 0;
    let cores = 0;
    let sampled = false;
    for (const i of fn.instances.values()) {
      if (!i.ready || i.stopping) continue;
      ready++;
      if (i.usage) {
        sampled = true;
        memory += i.usage.memoryBytes ?? 0;
        cores += i.usage.cores ?? 0;
      }
    }
    const st = toFunctionStatus(fn.spec, fn.createdAt, fn.replicas, ready);
    if (sampled) st.usage = { cpu: Math.round(cores * 1000) / 1000, totalMemoryBytes: memory };
    return st;
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

  private buffer(k: string): LogBuffer {
    let b = this.logBuffers.get(k);
    if (!b) this.logBuffers.set(k, (b = new LogBuffer(this.cfg.logLines)));
    return b;
  }

  private logPath(k: string): string {
    return join(this.logRoot, `${k.replace('/', '__')}.log`);
  }

  /** logLine records one line of a function's log: in its ring buffer and appended to its file. */
  private logLine(fn: FnState, instance: string, text: string): void {
    if (fn.removed) return;
    const at = performance.timeOrigin + performance.now();
    const e = this.buffer(fn.key).append(instance, text, at);
    let lf = this.logFiles.get(fn.key);
    if (!lf) {
      const path = this.logPath(fn.key);
      lf = { stream: createWriteStream(path, { flags: 'a', mode: 0o600 }), size: 0, path };
      lf.stream.on('error', (err) => this.logger.warn(`log file ${path}: ${err.message}`));
      this.logFiles.set(fn.key, lf);
    }
    const line = formatLogFileLine(e);
    lf.size += line.length;
    lf.stream.write(line);
    if (lf.size > LOG_FILE_MAX) {
      // Keep one previous file: bounded on disk like the ring is in memory.
      const old = lf;
      this.logFiles.delete(fn.key);
      old.stream.end(() => void rename(old.path, `${old.path}.1`).catch(() => undefined));
    }
  }

  async *logs(req: LogRequest, signal: AbortSignal): AsyncIterable<LogMessage> {
    const fn = this.mustGet(req.namespace, req.name);
    const buf = this.buffer(fn.key);
    const q = {
      tail: req.tail,
      ...(req.instance ? { instance: req.instance } : {}),
      ...(req.since ? { sinceMs: req.since.getTime() } : {}),
    };
    for await (const e of buf.stream(q, req.follow, signal)) yield toLogMessage(req.name, req.namespace, e);
  }

  // ---- instances ------------------------------------------------------------------------------------------

  instances(namespace?: string, name?: string): Instance[] {
    const out: Instance[] = [];
    for (const i of this.all.values()) {
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
      ready: i.ready && !i.stopping,
      startedAt: i.startedAt,
    };
    const rt = i.fn.spec.labels?.[RUNTIME_LABEL];
    if (rt) v.runtime = rt;
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

  /** startBoost is the CPU limit an instance starts with when HYPERFAAS_START_CPU is above its own (else undefined). */
  private startBoost(inst: Inst): number | undefined {
    const own = inst.limits.cpu;
    return own !== undefined && own > 0 && this.cfg.startCpu > own ? this.cfg.startCpu : undefined;
  }

  private cgroupLimits(inst: Inst, cpu?: number): ResourceLimits & { pids?: number } {
    return { ...inst.limits, ...(cpu !== undefined ? { cpu } : {}), ...(this.cfg.pidsLimit ? { pids: this.cfg.pidsLimit } : {}) };
  }

  /** beginStartBoost puts a restarting instance back under the start CPU limit (a new instance's cgroup is made so). */
  private async beginStartBoost(inst: Inst): Promise<void> {
    const cpu = this.startBoost(inst);
    if (cpu === undefined || !inst.cgroup || inst.startBoosted) return;
    await inst.cgroup.setLimits(this.cgroupLimits(inst, cpu)).then(
      () => (inst.startBoosted = true),
      (e: Error) => this.logger.warn(`raising the start CPU limit of ${inst.id}: ${e.message}`),
    );
  }

  /** endStartBoost writes the instance's own limits once it is ready. */
  private async endStartBoost(inst: Inst): Promise<void> {
    if (!inst.startBoosted || !inst.cgroup) return;
    inst.startBoosted = false;
    await inst.cgroup.setLimits(this.cgroupLimits(inst)).catch((e: Error) => this.logger.warn(`restoring the CPU limit of ${inst.id}: ${e.message}`));
  }

  async resize(instanceId: string, limits: ResourceLimits): Promise<void> {
    const i = this.all.get(instanceId);
    if (!i) throw new BackendError('NotFound', `instance ${instanceId} not found`);
    if (!i.cgroup) {
      throw new BackendError('Unavailable', `instance ${instanceId} has no cgroup on this host (isolation ${this.isolation.level}: ${this.isolation.notes.join('; ') || 'no cgroup controllers'})`);
    }
    const next: ResourceLimits = { ...i.limits, ...limits };
    if (next.memoryBytes !== undefined) next.memoryBytes = Math.max(next.memoryBytes, this.cfg.minMemoryBytes);
    try {
      await i.cgroup.setLimits({ ...next, ...(this.cfg.pidsLimit ? { pids: this.cfg.pidsLimit } : {}) });
    } catch (e) {
      throw new BackendError('Invalid', `cannot resize ${instanceId}: ${(e as Error).message}`, { cause: e });
    }
    i.limits = next;
    i.startBoosted = false; // the resize replaced the start boost
  }

  /** reconcile moves a function's instances towards its desired state; safe to call at any time, any number of times. */
  private reconcile(fn: FnState): void {
    if (this.closed) return;
    const live = [...fn.instances.values()].filter((i) => !i.stopping);
    if (fn.removed) {
      for (const i of live) void this.stopInstance(i, 'function removed');
      return;
    }
    const cur = live.filter((i) => i.generation === fn.generation);
    const old = live.filter((i) => i.generation !== fn.generation);
    const image = fn.image;
    const paused = (fn.startsPausedUntil ?? 0) > Date.now();
    if (image && !paused) for (let n = cur.length; n < fn.replicas; n++) cur.push(this.startInstance(fn, image));
    if (cur.length > fn.replicas) {
      // Scale in: not-ready first, then the newest.
      const victims = [...cur].sort((a, b) => Number(a.ready) - Number(b.ready) || b.startedAt - a.startedAt).slice(0, cur.length - fn.replicas);
      for (const v of victims) void this.stopInstance(v, `scaled to ${fn.replicas}`);
    }
    // Rolling update: keep as many old instances as new ones are still missing, the ready ones preferred.
    const curReady = cur.filter((i) => i.ready).length;
    const keep = Math.max(0, fn.replicas - curReady);
    const byPreference = [...old].sort((a, b) => Number(b.ready) - Number(a.ready) || a.startedAt - b.startedAt);
    for (const v of byPreference.slice(keep)) void this.stopInstance(v, 'replaced by a newer version');
  }

  private startInstance(fn: FnState, image: ResolvedImage): Inst {
    const id = `${fn.spec.service}-${(++this.seq).toString(36)}${randomBytes(3).toString('hex')}`;
    const inst: Inst = {
      id,
      fn,
      generation: fn.generation,
      spec: fn.spec,
      image,
      ports: { port: 0, metrics: 0, http: 0 },
      url: '',
      startedAt: Date.now(),
      ready: false,
      stopping: false,
      exited: Promise.resolve(),
      launchedAt: 0,
      restarts: 0,
      failures: 0,
      runDir: join(this.runRoot, id),
      limits: limitsOf(fn.spec, this.cfg.minMemoryBytes),
      pending: Promise.resolve(),
      readyThisLaunch: false,
    };
    fn.instances.set(id, inst);
    this.all.set(id, inst);
    liveInProcess.add(id);
    inst.pending = this.prepareAndLaunch(inst).catch((e) => {
      this.logLine(fn, id, `instance failed to start: ${(e as Error).message}`);
      this.logger.error(`instance ${id} failed to start: ${(e as Error).message}`);
      // Try again later with a fresh instance, not at once: the cause (no ports, no cgroup) rarely clears in ms.
      const delay = restartDelayMs(fn.startFailures ?? 0, this.cfg.restartBackoffMinMs, this.cfg.restartBackoffMaxMs);
      fn.startFailures = (fn.startFailures ?? 0) + 1;
      fn.startsPausedUntil = Date.now() + delay;
      setTimeout(() => void this.stopInstance(inst, 'failed to start'), 0);
      setTimeout(() => this.reconcile(fn), delay + 1).unref();
    });
    return inst;
  }

  private async takePorts(inst: Inst): Promise<void> {
    const [port, metrics, http] = await allocatePorts(this.ports, 3);
    inst.ports = { port: port!, metrics: metrics!, http: http! };
    inst.url = `http://127.0.0.1:${port}`;
  }

  private releasePorts(inst: Inst): void {
    for (const p of [inst.ports.port, inst.ports.metrics, inst.ports.http]) if (p) this.ports.release(p);
  }

  private async prepareAndLaunch(inst: Inst): Promise<void> {
    await this.takePorts(inst);
    if (inst.stopping) return;
    await mkdir(join(inst.runDir, 'tmp'), { recursive: true, mode: 0o755 });
    await chmod(join(inst.runDir, 'tmp'), 0o1777);
    await mkdir(join(inst.runDir, 'secrets'), { recursive: true, mode: 0o700 });
    await writeFile(join(inst.runDir, 'owner'), `${process.pid}\n`);
    await this.writeCredentials(inst);
    if (this.iso.cgroups.version !== 'none') {
      const boost = this.startBoost(inst);
      inst.cgroup = await Cgroup.create(this.iso.cgroups, inst.id, this.cgroupLimits(inst, boost));
      inst.startBoosted = boost !== undefined;
    }
    if (inst.stopping) return;
    this.emit('added', inst);
    await this.launch(inst);
  }

  private async writeSecrets(inst: Inst): Promise<void> {
    const dir = join(inst.runDir, 'secrets');
    const known = this.secrets.get(inst.spec.namespace);
    for (const f of await readdir(dir).catch(() => [] as string[])) await rm(join(dir, f), { force: true });
    for (const s of inst.spec.secrets ?? []) {
      const v = known?.get(s);
      if (v) await writeFile(join(dir, s), v, { mode: 0o600 });
    }
  }

  /**
   * writeCredentials writes the instance's credential files (instanceFiles) into <run dir>/creds, 0700 with files
   * 0400. With a mount namespace the directory stays root's and the launch copies it into the instance's private
   * /var/openfaas/hyperfaas; otherwise it is chowned to the user the instance runs as.
   */
  private async writeCredentials(inst: Inst): Promise<void> {
    if (!this.instanceFiles) return;
    const files = await this.instanceFiles({ instanceId: inst.id, namespace: inst.spec.namespace, service: inst.spec.service });
    const dir = join(inst.runDir, 'creds');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    const owner = this.iso.user && !this.iso.mountNamespace ? this.iso.user : undefined;
    for (const [name, content] of Object.entries(files)) {
      if (!/^[A-Za-z0-9._-]+$/.test(name) || name.startsWith('.')) throw new Error(`credential file name ${JSON.stringify(name)} is not a plain file name`);
      const path = join(dir, name);
      await rm(path, { force: true });
      await writeFile(path, content, { mode: 0o400 });
      if (owner) await chown(path, owner.uid, owner.gid);
    }
    if (owner) await chown(dir, owner.uid, owner.gid);
  }

  private instanceEnv(inst: Inst, image: ResolvedImage): Record<string, string> {
    const fn = { spec: inst.spec };
    const isolatedTmp = this.iso.mountNamespace;
    const tmp = isolatedTmp ? '/tmp' : join(inst.runDir, 'tmp');
    const secretsDir = isolatedTmp ? SECRETS_MOUNT : join(inst.runDir, 'secrets');
    const env: Record<string, string> = {
      PATH: `${dirname(this.cfg.nodeBinary)}:/usr/local/bin:/usr/bin:/bin`,
      HOME: tmp,
      LANG: 'C.UTF-8',
      // of-watchdog waits healthcheck_interval (default: write_timeout, 30 s) after SIGTERM before draining; the
      // backend has already marked the instance not ready by then, so a short wait is enough.
      healthcheck_interval: '1s',
      ...image.env,
      ...(fn.spec.envVars ?? {}),
      fprocess: image.fprocess,
      mode: image.mode,
      port: String(inst.ports.port),
      metrics_port: String(inst.ports.metrics),
      http_port: String(inst.ports.http),
      bind_address: '127.0.0.1',
      lock_file: join(tmp, '.lock'),
      TMPDIR: tmp,
      HYPERFAAS_INSTANCE_ID: inst.id,
      HYPERFAAS_FUNCTION: fn.spec.service,
      HYPERFAAS_NAMESPACE: fn.spec.namespace,
      OPENFAAS_NAME: fn.spec.service,
      OPENFAAS_NAMESPACE: fn.spec.namespace,
      secret_mount_path: secretsDir,
      HYPERFAAS_SECRETS_DIR: secretsDir,
    };
    if (image.mode === 'http') env.upstream_url = `http://127.0.0.1:${inst.ports.http}`;
    else delete env.upstream_url;
    delete env.function_process;
    delete env.http_upstream_url;
    if (this.cfg.natsUrl) env.NATS_URL = this.cfg.natsUrl;
    if (this.instanceFiles) env.HYPERFAAS_CREDENTIALS_DIR = isolatedTmp ? CREDENTIALS_MOUNT : join(inst.runDir, 'creds');
    if (inst.limits.cpu) env.cpu_limit = String(inst.limits.cpu);
    if (inst.limits.memoryBytes) env.memory_limit = String(inst.limits.memoryBytes);
    const rt = fn.spec.labels?.[RUNTIME_LABEL];
    if (rt) env.HYPERFAAS_RUNTIME = rt;
    return env;
  }

  private launch(inst: Inst): Promise<void> {
    if (inst.stopping || this.closed) return Promise.resolve();
    const fn = inst.fn;
    const image = inst.image;
    return this.writeSecrets(inst)
      .then(() => {
        if (inst.stopping || this.closed) return;
        const cmd = buildLaunch({
          node: this.cfg.nodeBinary,
          watchdogMain: this.watchdog,
          funcDir: image.dir,
          secretsDir: join(inst.runDir, 'secrets'),
          ...(this.instanceFiles ? { credentialsDir: join(inst.runDir, 'creds') } : {}),
          cgroupProcs: inst.cgroup?.procsFiles ?? [],
          ...(this.iso.user ? { user: this.iso.user } : {}),
          mountNamespace: this.iso.mountNamespace,
          tmpSizeBytes: TMP_SIZE,
        });
        const child = spawn(cmd.command, cmd.args, {
          cwd: cmd.cwd,
          env: this.instanceEnv(inst, image),
          detached: true,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        inst.child = child;
        inst.launchedAt = Date.now();
        inst.failures = 0;
        inst.readyThisLaunch = false;
        let resolveExit!: () => void;
        inst.exited = new Promise<void>((r) => (resolveExit = r));
        const out = new LineSplitter((l) => this.logLine(fn, inst.id, l));
        const err = new LineSplitter((l) => this.logLine(fn, inst.id, l));
        child.stdout!.on('data', (c: Buffer) => out.push(c));
        child.stderr!.on('data', (c: Buffer) => err.push(c));
        child.on('error', (e) => this.logLine(fn, inst.id, `cannot start: ${e.message}`));
        child.on('exit', (code, signal) => {
          out.end();
          err.end();
          if (child.pid) killGroup(child.pid, 'SIGKILL');
          inst.child = undefined;
          resolveExit();
          this.onExit(inst, code, signal);
        });
        if (child.pid) {
          void writeFile(join(inst.runDir, 'pid'), `${child.pid}\n`).catch(() => undefined);
          this.logLine(fn, inst.id, `instance started (pid ${child.pid}, port ${inst.ports.port})`);
        }
        this.scheduleHealth(inst, STARTING_POLL_MS);
      })
      .catch((e) => {
        this.logLine(fn, inst.id, `cannot start: ${(e as Error).message}`);
        this.onExit(inst, null, null);
      });
  }

  private onExit(inst: Inst, code: number | null, signal: NodeJS.Signals | null): void {
    clearTimeout(inst.healthTimer);
    const wasReady = inst.ready;
    inst.ready = false;
    if (inst.stopping || this.closed) return;
    const how = signal ? `signal ${signal}` : `code ${code}`;
    // The back-off starts over once an instance has been ready and stayed up for a while (like a pod's); one that
    // never became ready keeps backing off however slowly it fails.
    if (inst.readyThisLaunch && Date.now() - inst.launchedAt > 2 * this.cfg.restartBackoffMaxMs) inst.restarts = 0;
    const delay = restartDelayMs(inst.restarts, this.cfg.restartBackoffMinMs, this.cfg.restartBackoffMaxMs);
    inst.restarts++;
    this.logLine(inst.fn, inst.id, `instance crashed (exited with ${how}); restart ${inst.restarts} in ${delay} ms`);
    this.logger.warn(`instance ${inst.id} exited with ${how}; restarting in ${delay} ms`);
    if (wasReady) this.emit('modified', inst);
    this.reconcile(inst.fn);
    const reallocate = !inst.readyThisLaunch;
    inst.restartTimer = setTimeout(() => {
      inst.restartTimer = undefined;
      inst.pending = (async () => {
        if (reallocate && !inst.stopping) {
          // It never became ready: its ports may have been taken by someone else since the probe. Take new ones.
          this.releasePorts(inst);
          await this.takePorts(inst);
          this.emit('modified', inst);
        }
        await this.beginStartBoost(inst);
        await this.launch(inst);
      })().catch((e) => this.logLine(inst.fn, inst.id, `cannot restart: ${(e as Error).message}`));
    }, delay);
  }

  private scheduleHealth(inst: Inst, ms: number): void {
    clearTimeout(inst.healthTimer);
    inst.healthTimer = setTimeout(() => void this.checkHealth(inst), ms);
  }

  private async checkHealth(inst: Inst): Promise<void> {
    if (inst.stopping || !inst.child) return;
    let ok = await probe(`${inst.url}/_/health`, Math.max(1000, this.cfg.healthIntervalMs));
    if (ok && !inst.ready) ok = await this.confirmIdentity(inst);
    if (inst.stopping || !inst.child) return;
    if (ok) inst.failures = 0;
    else inst.failures++;
    // One success makes an instance ready; two failures in a row make a ready one unready.
    const next = ok ? true : inst.ready && inst.failures < 2;
    if (next !== inst.ready) {
      inst.ready = next;
      if (next) {
        inst.readyThisLaunch = true;
        inst.fn.startFailures = 0;
        await this.endStartBoost(inst);
      }
      this.emit('modified', inst);
      if (next) this.logger.debug(`instance ${inst.id} is ready`);
      this.reconcile(inst.fn);
    }
    if (inst.ready && inst.cgroup) await this.sampleUsage(inst);
    // A starting instance is polled often: its readiness is on the critical path of every scale-out (phase 3).
    this.scheduleHealth(inst, inst.ready ? this.cfg.healthIntervalMs : Math.min(STARTING_POLL_MS, this.cfg.healthIntervalMs));
  }

  /** sampleUsage records an instance's memory and CPU use for the status' usage field (faas-cli describe). */
  private async sampleUsage(inst: Inst): Promise<void> {
    try {
      const u = await inst.cgroup!.usage();
      const at = Date.now();
      const prev = inst.usage;
      // CPU time of processes that exited meanwhile is gone from the sum: never report a negative rate.
      const cores = prev && at > prev.at ? Math.max(0, (u.cpuSeconds - prev.cpuSeconds) / ((at - prev.at) / 1000)) : undefined;
      inst.usage = { cpuSeconds: u.cpuSeconds, at, ...(u.memoryBytes !== undefined ? { memoryBytes: u.memoryBytes } : {}), ...(cores !== undefined ? { cores } : {}) };
    } catch {
      /* a sample is best effort */
    }
  }

  /**
   * confirmIdentity checks, before an instance first counts as ready, that the watchdog answering on its port is
   * its own (the status report names the instance): another program, or a backend in another process, may have
   * bound the port between the free-port probe and our watchdog's listen. On a mismatch our process is killed; it
   * then restarts on fresh ports because it never became ready.
   */
  private async confirmIdentity(inst: Inst): Promise<boolean> {
    const who = await fetchJson(`${inst.url}/_/hyperfaas/status`, 2000);
    const id = who && typeof who === 'object' ? (who as { instance?: unknown }).instance : undefined;
    if (id === undefined || id === inst.id) return true; // a watchdog without the status route: trust /_/health
    this.logLine(inst.fn, inst.id, `port ${inst.ports.port} is answered by ${String(id)}, not this instance; restarting on other ports`);
    if (inst.child?.pid) killGroup(inst.child.pid, 'SIGKILL');
    return false;
  }

  /** stopInstance drains and stops an instance: not ready at once, SIGTERM, SIGKILL after stopTimeoutMs. */
  private stopInstance(inst: Inst, why: string): Promise<void> {
    if (inst.stopped) return inst.stopped;
    inst.stopping = true;
    clearTimeout(inst.restartTimer);
    clearTimeout(inst.healthTimer);
    if (inst.ready) {
      inst.ready = false;
      this.emit('modified', inst);
    }
    this.logLine(inst.fn, inst.id, `stopping instance: ${why}`);
    inst.stopped = (async () => {
      await inst.pending;
      const child = inst.child;
      if (child?.pid) {
        try {
          process.kill(child.pid, 'SIGTERM');
        } catch {
          /* gone */
        }
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          inst.exited.then(() => false),
          new Promise<boolean>((r) => (timer = setTimeout(() => r(true), this.cfg.stopTimeoutMs))),
        ]);
        clearTimeout(timer);
        if (timedOut) {
          killGroup(child.pid, 'SIGKILL');
          await inst.exited;
        }
      }
      await inst.cgroup?.destroy().catch((e) => this.logger.warn(`removing cgroup of ${inst.id}: ${(e as Error).message}`));
      this.releasePorts(inst);
      await rm(inst.runDir, { recursive: true, force: true }).catch(() => undefined);
      inst.fn.instances.delete(inst.id);
      this.all.delete(inst.id);
      liveInProcess.delete(inst.id);
      if (inst.url) this.emit('deleted', inst);
      this.reconcile(inst.fn);
      this.scheduleImageGc();
    })();
    return inst.stopped;
  }

  /** scheduleImageGc removes, a little later, prepared images no function or instance uses any more. */
  private scheduleImageGc(): void {
    if (this.gcTimer || this.closed) return;
    this.gcTimer = setTimeout(() => {
      this.gcTimer = undefined;
      const keep = new Set<string>();
      for (const fn of this.fns.values()) if (fn.image?.hash) keep.add(fn.image.hash);
      for (const i of this.all.values()) if (i.image.hash) keep.add(i.image.hash);
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
    const all = [...this.all.values()];
    await Promise.all(all.map((i) => this.stopInstance(i, 'backend closing')));
    await Promise.all(
      [...this.logFiles.values()].map((lf) => new Promise<void>((r) => lf.stream.end(() => r()))),
    );
    this.logFiles.clear();
    this.listeners.clear();
  }
}

function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
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

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* the group is gone */
  }
}

function fetchJson(url: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve) => {
    const req = httpGet(url, { agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 ? JSON.parse(Buffer.concat(chunks).toString()) : undefined);
        } catch {
          resolve(undefined);
        }
      });
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

function probe(url: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpGet(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/**
 * createLocalBackend builds the local backend: detects isolation once, restores functions and secrets from the
 * data dir and starts their instances.
 */
export async function createLocalBackend(cfg: LocalBackendConfig, logger: Logger, opts: LocalBackendOptions = {}): Promise<LocalBackend> {
  const log = logger.child({ component: 'local-backend' });
  const main = opts.watchdogMain ?? watchdogMain;
  let iso = opts.isolation ?? (await detectIsolation(cfg, log));
  const before = iso.user;
  iso = withoutUserUnlessReadable(iso, [main, join(repoRoot, 'node_modules')]);
  if (before && !iso.user) log.warn(iso.summary.notes[iso.summary.notes.length - 1]!);
  const b = new LocalBackendImpl(cfg, log, iso, main, opts.install, opts.instanceFiles);
  await b.init();
  return b;
}

export { noIsolation };
