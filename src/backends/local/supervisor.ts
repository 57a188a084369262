/**
 * supervisor runs the local backend's instances, one state machine each:
 *
 *   starting --healthy--> ready --unhealthy (2 failed probes)--> starting
 *   starting|ready --exited--> crashed --backoff--> backing-off --relaunch--> starting
 *   any --stop--> draining --gone--> stopped
 *
 * It takes ports, makes the cgroup, has the runtime (runc.ts or the process fallback) start the watchdog, probes
 * /_/health (every 20 ms while starting, then every HYPERFAAS_HEALTH_INTERVAL), restarts a crashed instance in place
 * with exponential back-off (on new ports if it never became ready), and drains one on stop: SIGTERM, then SIGKILL
 * after HYPERFAAS_STOP_TIMEOUT. What to run comes from the backend (reconcile.ts decides how many).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { dirname, join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Logger } from '../../logger.js';
import { runtimeOf } from '../../scaling/labels.js';
import type { FunctionDeployment } from '../../types/index.js';
import { BackendError, type InstanceEvent, type ResourceLimits } from '../backend.js';
import { Cgroup, type CgroupSupport } from './cgroup.js';
import type { LocalBackendConfig } from './config.js';
import type { ResolvedImage } from './images.js';
import { LineSplitter } from './logs.js';
import { allocatePorts, PortAllocator } from './ports.js';
import type { InstanceFiles, InstanceRuntime } from './runtime.js';
import { limitsOf, restartDelayMs } from './status.js';

export type Spec = FunctionDeployment & { namespace: string };

/** InstanceState is where an instance is in its life. */
export type InstanceState = 'starting' | 'ready' | 'crashed' | 'backing-off' | 'draining' | 'stopped';
/** Happening is what moves an instance from one state to another. */
export type Happening = 'healthy' | 'unhealthy' | 'exited' | 'backoff' | 'relaunch' | 'stop' | 'gone';

/** transition is the instance state machine (pure); a happening that does not apply leaves the state as it is. */
export function transition(s: InstanceState, h: Happening): InstanceState {
  if (s === 'stopped') return s;
  if (h === 'gone') return 'stopped';
  if (s === 'draining') return s;
  switch (h) {
    case 'stop':
      return 'draining';
    case 'healthy':
      return s === 'starting' || s === 'ready' ? 'ready' : s;
    case 'unhealthy':
      return s === 'ready' ? 'starting' : s;
    case 'exited':
      return s === 'starting' || s === 'ready' ? 'crashed' : s;
    case 'backoff':
      return s === 'crashed' ? 'backing-off' : s;
    case 'relaunch':
      return s === 'backing-off' || s === 'crashed' ? 'starting' : s;
  }
}

/** FnState is one function as the backend holds it; the supervisor reads it and keeps its instance map. */
export interface FnState {
  key: string;
  spec: Spec;
  createdAt: string;
  replicas: number;
  generation: number;
  /** uid is the function's own user id (runc runtime). */
  uid?: number;
  image?: ResolvedImage;
  imageError?: string;
  instances: Map<string, Inst>;
  removed: boolean;
  /** startFailures counts instances in a row that failed before they could run; starts pause meanwhile. */
  startFailures?: number;
  /** startsPausedUntil (epoch ms) holds new starts back after such a failure. */
  startsPausedUntil?: number;
}

/** Inst is one instance. */
export class Inst {
  state: InstanceState = 'starting';
  ports = { port: 0, metrics: 0, http: 0 };
  url = '';
  readonly startedAt = Date.now();
  child?: ChildProcess;
  /** exited resolves when the current run (if any) has ended. */
  exited: Promise<void> = Promise.resolve();
  launchedAt = 0;
  restarts = 0;
  failures = 0;
  restartTimer?: NodeJS.Timeout;
  healthTimer?: NodeJS.Timeout;
  cgroup?: Cgroup;
  /** startBoosted is true while the cgroup holds the start CPU limit (HYPERFAAS_START_CPU) instead of the instance's own. */
  startBoosted = false;
  stopped?: Promise<void>;
  /** pending is the preparation or launch in progress; stopping waits for it so nothing starts behind its back. */
  pending: Promise<void> = Promise.resolve();
  /** readyThisLaunch tells a crash before readiness (e.g. a port taken meanwhile) from one after. */
  readyThisLaunch = false;
  /** usage is the latest resource sample (cgroups only): memory bytes and cores used since the previous one. */
  usage?: { memoryBytes?: number; cores?: number; cpuSeconds: number; at: number };

  constructor(
    readonly id: string,
    readonly fn: FnState,
    readonly generation: number,
    /** spec and image are the function's at the instance's creation: a restart runs the same version. */
    readonly spec: Spec,
    readonly image: ResolvedImage,
    readonly runDir: string,
    public limits: ResourceLimits,
  ) {}

  get ready(): boolean {
    return this.state === 'ready';
  }

  get stopping(): boolean {
    return this.state === 'draining' || this.state === 'stopped';
  }

  to(h: Happening): void {
    this.state = transition(this.state, h);
  }
}

/** SupervisorHost is what the supervisor asks of the backend. */
export interface SupervisorHost {
  emit(type: InstanceEvent['type'], inst: Inst): void;
  /** log records a line in the function's log. */
  log(fn: FnState, instance: string, text: string): void;
  /** changed asks the backend to reconcile the function. */
  changed(fn: FnState): void;
  /** files returns what the instance reads at start (secrets, credentials, its uid). */
  files(inst: Inst): Promise<InstanceFiles>;
  /** gone tells the backend an instance has stopped for good (its image may be collected). */
  gone(inst: Inst): void;
}

/** OCI_WATCHDOG_PORT is where OpenFaaS images' watchdogs (fwatchdog, of-watchdog) listen. */
export const OCI_WATCHDOG_PORT = 8080;

/** STARTING_POLL_MS is how often a starting instance is probed for readiness (cheap: refused connections, mostly). */
const STARTING_POLL_MS = 20;

/** liveInProcess holds the ids of instances run by any backend of this process (tests run several at once). */
export const liveInProcess = new Set<string>();

/** Supervisor starts, watches, restarts and stops instances. */
export class Supervisor {
  /** all holds every instance still alive, also those of removed functions that are draining. */
  readonly all = new Map<string, Inst>();
  closed = false;
  private seq = 0;
  private readonly ports: PortAllocator;

  constructor(
    private readonly cfg: LocalBackendConfig,
    private readonly logger: Logger,
    private readonly runtime: InstanceRuntime,
    private readonly cgroups: CgroupSupport,
    private readonly runRoot: string,
    private readonly host: SupervisorHost,
  ) {
    const span = cfg.portRange.to - cfg.portRange.from + 1;
    this.ports = new PortAllocator(cfg.portRange.from, cfg.portRange.to, cfg.portRange.from + Math.floor(Math.random() * span));
  }

  /** start creates an instance of fn's current generation and starts it in the background. */
  start(fn: FnState, image: ResolvedImage): Inst {
    const id = `${fn.spec.service}-${(++this.seq).toString(36)}${randomBytes(3).toString('hex')}`;
    const inst = new Inst(id, fn, fn.generation, fn.spec, image, join(this.runRoot, id), limitsOf(fn.spec, this.cfg.minMemoryBytes));
    fn.instances.set(id, inst);
    this.all.set(id, inst);
    liveInProcess.add(id);
    inst.pending = this.prepareAndLaunch(inst).catch((e) => {
      this.host.log(fn, id, `instance failed to start: ${(e as Error).message}`);
      this.logger.error(`instance ${id} failed to start: ${(e as Error).message}`);
      // Try again later with a fresh instance, not at once: the cause (no ports, no cgroup) rarely clears in ms.
      const delay = restartDelayMs(fn.startFailures ?? 0, this.cfg.restartBackoffMinMs, this.cfg.restartBackoffMaxMs);
      fn.startFailures = (fn.startFailures ?? 0) + 1;
      fn.startsPausedUntil = Date.now() + delay;
      setTimeout(() => void this.stop(inst, 'failed to start'), 0);
      setTimeout(() => this.host.changed(fn), delay + 1).unref();
    });
    return inst;
  }

  private async takePorts(inst: Inst): Promise<void> {
    if (inst.image.kind === 'oci') {
      // An OCI image's own watchdog listens on 8080 in the instance's own network namespace.
      if (!this.runtime.prepareNetwork) throw new Error(`the ${this.runtime.kind} runtime cannot run OCI images`);
      inst.url = `http://${await this.runtime.prepareNetwork(inst.id)}:${OCI_WATCHDOG_PORT}`;
      return;
    }
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
    await mkdir(inst.runDir, { recursive: true, mode: 0o755 });
    await writeFile(join(inst.runDir, 'owner'), `${process.pid}\n`);
    if (this.cgroups.version !== 'none') {
      const boost = this.startBoost(inst);
      inst.cgroup = await Cgroup.create(this.cgroups, inst.id, this.cgroupLimits(inst, boost));
      inst.startBoosted = boost !== undefined;
    }
    if (inst.stopping) return;
    this.host.emit('added', inst);
    await this.launch(inst);
  }

  /**
   * ociEnv is the env of an OCI image's process, as a container engine builds it (the image's env, then the
   * function's envVars, then fprocess from envProcess, like faas-netes) plus HOSTNAME and, unless either sets it,
   * healthcheck_interval=1s: the backend stops routing to an instance before it sends SIGTERM, so the watchdog need
   * not wait its write_timeout before draining.
   */
  private ociEnv(inst: Inst): Record<string, string> {
    const env: Record<string, string> = { HOSTNAME: inst.id.slice(0, 63), ...inst.image.env, ...(inst.spec.envVars ?? {}) };
    if (inst.spec.envProcess) env.fprocess = inst.spec.envProcess;
    env.healthcheck_interval ??= '1s';
    return env;
  }

  private instanceEnv(inst: Inst): Record<string, string> {
    const image = inst.image;
    if (image.kind === 'oci') return this.ociEnv(inst);
    const p = this.runtime.paths(inst.runDir);
    const env: Record<string, string> = {
      PATH: `${dirname(this.cfg.nodeBinary)}:/usr/local/bin:/usr/bin:/bin`,
      HOME: p.tmp,
      LANG: 'C.UTF-8',
      // of-watchdog waits healthcheck_interval (default: write_timeout, 30 s) after SIGTERM before draining; the
      // backend has already marked the instance not ready by then, so a short wait is enough.
      healthcheck_interval: '1s',
      ...image.env,
      ...(inst.spec.envVars ?? {}),
      fprocess: image.fprocess,
      mode: image.mode,
      port: String(inst.ports.port),
      metrics_port: String(inst.ports.metrics),
      http_port: String(inst.ports.http),
      bind_address: '127.0.0.1',
      lock_file: join(p.tmp, '.lock'),
      TMPDIR: p.tmp,
      HYPERFAAS_INSTANCE_ID: inst.id,
      HYPERFAAS_FUNCTION: inst.spec.service,
      HYPERFAAS_NAMESPACE: inst.spec.namespace,
      OPENFAAS_NAME: inst.spec.service,
      OPENFAAS_NAMESPACE: inst.spec.namespace,
      secret_mount_path: p.secrets,
      HYPERFAAS_SECRETS_DIR: p.secrets,
      HYPERFAAS_CREDENTIALS_DIR: p.credentials,
    };
    if (image.mode === 'http') env.upstream_url = `http://127.0.0.1:${inst.ports.http}`;
    else delete env.upstream_url;
    delete env.function_process;
    delete env.http_upstream_url;
    if (this.cfg.natsUrl) env.NATS_URL = this.cfg.natsUrl;
    if (inst.limits.cpu) env.cpu_limit = String(inst.limits.cpu);
    if (inst.limits.memoryBytes) env.memory_limit = String(inst.limits.memoryBytes);
    const rt = runtimeOf(inst.spec.labels);
    if (rt) env.HYPERFAAS_RUNTIME = rt;
    return env;
  }

  private async launch(inst: Inst): Promise<void> {
    if (inst.stopping || this.closed) return;
    const fn = inst.fn;
    let child: ChildProcess;
    try {
      const files = await this.host.files(inst);
      await this.runtime.writeFiles(inst.runDir, files);
      if (inst.stopping || this.closed) return;
      child = await this.runtime.start({
        id: inst.id,
        runDir: inst.runDir,
        funcDir: inst.image.dir,
        env: this.instanceEnv(inst),
        ...(files.uid !== undefined ? { uid: files.uid, gid: files.gid ?? files.uid } : {}),
        ...(inst.cgroup ? { cgroup: inst.cgroup } : {}),
        limits: this.cgroupLimits(inst, inst.startBoosted ? this.startBoost(inst) : undefined),
        ...(inst.image.oci ? { image: { args: inst.image.oci.args, cwd: inst.image.oci.cwd } } : {}),
      });
    } catch (e) {
      this.host.log(fn, inst.id, `cannot start: ${(e as Error).message}`);
      this.onExit(inst, null, null);
      return;
    }
    inst.child = child;
    inst.launchedAt = Date.now();
    inst.failures = 0;
    inst.readyThisLaunch = false;
    let resolveExit!: () => void;
    inst.exited = new Promise<void>((r) => (resolveExit = r));
    const out = new LineSplitter((l) => this.host.log(fn, inst.id, l));
    const err = new LineSplitter((l) => this.host.log(fn, inst.id, l));
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => this.host.log(fn, inst.id, `cannot start: ${e.message}`));
    child.on('exit', (code, signal) => {
      out.end();
      err.end();
      void this.runtime
        .afterExit(inst.id, child)
        .catch((e: Error) => this.logger.warn(`after the exit of ${inst.id}: ${e.message}`))
        .then(() => {
          inst.child = undefined;
          resolveExit();
          this.onExit(inst, code, signal);
        });
    });
    if (child.pid) {
      void writeFile(join(inst.runDir, 'pid'), `${child.pid}\n`).catch(() => undefined);
      const where = inst.image.oci ? `image ${inst.image.oci.digest} at ${inst.url}` : `port ${inst.ports.port}`;
      this.host.log(fn, inst.id, `instance started (${this.runtime.kind} pid ${child.pid}, ${where})`);
    }
    this.scheduleHealth(inst, STARTING_POLL_MS);
  }

  private onExit(inst: Inst, code: number | null, signal: NodeJS.Signals | null): void {
    clearTimeout(inst.healthTimer);
    const wasReady = inst.ready;
    inst.to('exited');
    if (inst.stopping || this.closed) return;
    const how = signal ? `signal ${signal}` : `code ${code}`;
    // The back-off starts over once an instance has been ready and stayed up for a while (like a pod's); one that
    // never became ready keeps backing off however slowly it fails.
    if (inst.readyThisLaunch && Date.now() - inst.launchedAt > 2 * this.cfg.restartBackoffMaxMs) inst.restarts = 0;
    const delay = restartDelayMs(inst.restarts, this.cfg.restartBackoffMinMs, this.cfg.restartBackoffMaxMs);
    inst.restarts++;
    this.host.log(inst.fn, inst.id, `instance crashed (exited with ${how}); restart ${inst.restarts} in ${delay} ms`);
    this.logger.warn(`instance ${inst.id} exited with ${how}; restarting in ${delay} ms`);
    if (wasReady) this.host.emit('modified', inst);
    this.host.changed(inst.fn);
    const reallocate = !inst.readyThisLaunch && inst.image.kind !== 'oci'; // an image keeps its own network
    inst.to('backoff');
    inst.restartTimer = setTimeout(() => {
      inst.restartTimer = undefined;
      inst.pending = (async () => {
        if (reallocate && !inst.stopping) {
          // It never became ready: its ports may have been taken by someone else since the probe. Take new ones.
          this.releasePorts(inst);
          await this.takePorts(inst);
          this.host.emit('modified', inst);
        }
        await this.beginStartBoost(inst);
        inst.to('relaunch');
        await this.launch(inst);
      })().catch((e) => this.host.log(inst.fn, inst.id, `cannot restart: ${(e as Error).message}`));
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
    const was = inst.ready;
    if (ok) inst.to('healthy');
    else if (inst.failures >= 2) inst.to('unhealthy');
    if (inst.ready !== was) {
      if (inst.ready) {
        inst.readyThisLaunch = true;
        inst.fn.startFailures = 0;
        await this.endStartBoost(inst);
      }
      this.host.emit('modified', inst);
      if (inst.ready) this.logger.debug(`instance ${inst.id} is ready`);
      this.host.changed(inst.fn);
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
   * bound the port between the free-port probe and our watchdog's listen. On a mismatch our run is killed; it
   * then restarts on fresh ports because it never became ready.
   */
  private async confirmIdentity(inst: Inst): Promise<boolean> {
    if (inst.image.kind === 'oci') return true; // its own network namespace: nobody else can answer there
    const who = await fetchJson(`${inst.url}/_/hyperfaas/status`, 2000);
    const id = who && typeof who === 'object' ? (who as { instance?: unknown }).instance : undefined;
    if (id === undefined || id === inst.id) return true; // a watchdog without the status route: trust /_/health
    this.host.log(inst.fn, inst.id, `port ${inst.ports.port} is answered by ${String(id)}, not this instance; restarting on other ports`);
    if (inst.child) this.runtime.signal(inst.id, inst.child, 'SIGKILL');
    return false;
  }

  /** stop drains and stops an instance: not ready at once, SIGTERM, SIGKILL after stopTimeoutMs. */
  stop(inst: Inst, why: string): Promise<void> {
    if (inst.stopped) return inst.stopped;
    const wasReady = inst.ready;
    inst.to('stop');
    clearTimeout(inst.restartTimer);
    clearTimeout(inst.healthTimer);
    if (wasReady) this.host.emit('modified', inst);
    this.host.log(inst.fn, inst.id, `stopping instance: ${why}`);
    inst.stopped = (async () => {
      await inst.pending;
      const child = inst.child;
      if (child) {
        this.runtime.signal(inst.id, child, 'SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          inst.exited.then(() => false),
          new Promise<boolean>((r) => (timer = setTimeout(() => r(true), this.cfg.stopTimeoutMs))),
        ]);
        clearTimeout(timer);
        if (timedOut) {
          this.runtime.signal(inst.id, child, 'SIGKILL');
          await inst.exited;
        }
      }
      await this.runtime.release(inst.id, inst.runDir).catch((e: Error) => this.logger.warn(`releasing ${inst.id}: ${e.message}`));
      await inst.cgroup?.destroy().catch((e) => this.logger.warn(`removing cgroup of ${inst.id}: ${(e as Error).message}`));
      this.releasePorts(inst);
      await rm(inst.runDir, { recursive: true, force: true }).catch(() => undefined);
      inst.to('gone');
      inst.fn.instances.delete(inst.id);
      this.all.delete(inst.id);
      liveInProcess.delete(inst.id);
      if (inst.url) this.host.emit('deleted', inst);
      this.host.changed(inst.fn);
      this.host.gone(inst);
    })();
    return inst.stopped;
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

  /**
   * resize changes an instance's limits in place by writing its cgroup files (the same files runc set at start):
   * a file write costs well under a millisecond where a `runc update` costs a process start (bench/isolation).
   */
  async resize(instanceId: string, limits: ResourceLimits, unavailable: () => string): Promise<void> {
    const i = this.all.get(instanceId);
    if (!i) throw new BackendError('NotFound', `instance ${instanceId} not found`);
    if (!i.cgroup) throw new BackendError('Unavailable', `instance ${instanceId} has no cgroup on this host (${unavailable()})`);
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

  /** close stops every instance; nothing that stopping triggers starts a new one. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.all.values()].map((i) => this.stop(i, 'backend closing')));
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
