/**
 * runtime is the seam between an instance's supervisor and whatever runs its watchdog: an OCI container under runc
 * (runc.ts) or, where runc cannot be used, a process group confined as far as the host allows (ProcessRuntime here,
 * the launcher script of isolation.ts). The supervisor owns the life cycle; a runtime only starts, signals and
 * cleans up one run, and says where the instance sees its files.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Cgroup, CgroupLimits } from './cgroup.js';
import { buildLaunch, CREDENTIALS_MOUNT, SECRETS_MOUNT, type Isolation } from './isolation.js';

const run = promisify(execFile);

/** InstancePaths are where an instance finds its temp dir, secrets and credentials (as it sees them). */
export interface InstancePaths {
  tmp: string;
  secrets: string;
  credentials: string;
}

/** Launch is one start of an instance's watchdog. */
export interface Launch {
  id: string;
  runDir: string;
  /** funcDir is the prepared function directory on the host. */
  funcDir: string;
  env: Record<string, string>;
  /** uid/gid the instance runs as where the runtime gives each function its own (runc). */
  uid?: number;
  gid?: number;
  cgroup?: Cgroup;
  limits: CgroupLimits;
  /**
   * image runs an OCI image's own process in its unpacked root (funcDir) instead of our watchdog with the function
   * mounted: argv and working dir from the image config. Such a run joins the network namespace prepareNetwork made.
   */
  image?: { args: string[]; cwd: string };
}

/** InstanceFiles are what an instance reads at start: its function's secrets and its own credentials. */
export interface InstanceFiles {
  secrets: ReadonlyMap<string, Buffer>;
  credentials: Readonly<Record<string, string>>;
  uid?: number;
  gid?: number;
}

/** InstanceRuntime runs instances. Every method takes the instance id and run dir it was given at start. */
export interface InstanceRuntime {
  readonly kind: 'runc' | 'process';
  /** paths says where an instance with this run dir sees its temp dir, secrets and credentials. */
  paths(runDir: string): InstancePaths;
  /** writeFiles (re)writes an instance's secrets and credentials before a start; only it can read them. */
  writeFiles(runDir: string, files: InstanceFiles): Promise<void>;
  /** start spawns one run; the child's exit is the instance's exit, its stdout/stderr the instance's log. */
  start(l: Launch): Promise<ChildProcess>;
  /** signal delivers SIGTERM (drain) or SIGKILL (end now) to the run's processes. */
  signal(id: string, child: ChildProcess, sig: 'SIGTERM' | 'SIGKILL'): void;
  /** afterExit cleans what one run leaves (a restart may follow). */
  afterExit(id: string, child: ChildProcess): Promise<void>;
  /** release frees what the instance holds for good (mounts, state), before its run dir is removed. */
  release(id: string, runDir: string): Promise<void>;
  /** reap ends an instance a previous provider process left running, before its run dir is removed. */
  reap(id: string, runDir: string): Promise<void>;
  /**
   * prepareNetwork gives an instance its own network namespace, reachable from the host at the returned address
   * (an OCI image's watchdog listens on its fixed port 8080 there); released with the instance. Runtimes without it
   * cannot run OCI images.
   */
  prepareNetwork?(id: string): Promise<string>;
  /** close releases what the runtime holds for all instances. */
  close?(): Promise<void>;
}

/** killGroup signals a process group, ignoring one that is gone. */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* the group is gone */
  }
}

const TMP_SIZE = 256 * 1024 * 1024;

/**
 * ProcessRuntime runs the watchdog as a process group of the provider, confined as isolation.ts allows: cgroups,
 * one shared unprivileged user, a private mount namespace with /var/openfaas and /tmp as tmpfs. It is the fallback
 * where runc is missing or the provider is not root; instances of different functions are not kept apart from each
 * other as well as containers keep them (same uid, same PID namespace).
 */
export class ProcessRuntime implements InstanceRuntime {
  readonly kind = 'process';

  constructor(
    private readonly iso: Isolation,
    private readonly node: string,
    private readonly watchdogMain: string,
  ) {}

  paths(runDir: string): InstancePaths {
    const ns = this.iso.mountNamespace;
    return {
      tmp: ns ? '/tmp' : join(runDir, 'tmp'),
      secrets: ns ? SECRETS_MOUNT : join(runDir, 'secrets'),
      // With a mount namespace the launcher copies the credentials into the instance's private tmpfs; the host copy
      // stays root's, so other instances (the same shared uid) cannot read it.
      credentials: ns ? CREDENTIALS_MOUNT : join(runDir, 'credentials'),
    };
  }

  async writeFiles(runDir: string, files: InstanceFiles): Promise<void> {
    await mkdir(join(runDir, 'tmp'), { recursive: true, mode: 0o755 });
    await chmod(join(runDir, 'tmp'), 0o1777);
    const dir = join(runDir, 'secrets');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    for (const f of await readdir(dir).catch(() => [] as string[])) await rm(join(dir, f), { force: true });
    for (const [name, v] of files.secrets) await writeFile(join(dir, name), v, { mode: 0o600 });
    const cred = join(runDir, 'credentials');
    await mkdir(cred, { recursive: true, mode: 0o700 });
    for (const [name, v] of Object.entries(files.credentials)) await writeFile(join(cred, name), v, { mode: 0o600 });
    // Without a mount namespace the watchdog reads them in place as the shared user: they must be its.
    const u = this.iso.mountNamespace ? undefined : this.iso.user;
    if (u) {
      await chown(cred, u.uid, u.gid);
      for (const name of Object.keys(files.credentials)) await chown(join(cred, name), u.uid, u.gid);
    }
  }

  async start(l: Launch): Promise<ChildProcess> {
    const cmd = buildLaunch({
      node: this.node,
      watchdogMain: this.watchdogMain,
      funcDir: l.funcDir,
      secretsDir: join(l.runDir, 'secrets'),
      credentialsDir: join(l.runDir, 'credentials'),
      cgroupProcs: l.cgroup?.procsFiles ?? [],
      ...(this.iso.user ? { user: this.iso.user } : {}),
      mountNamespace: this.iso.mountNamespace,
      tmpSizeBytes: TMP_SIZE,
    });
    return spawn(cmd.command, cmd.args, { cwd: cmd.cwd, env: l.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  signal(_id: string, child: ChildProcess, sig: 'SIGTERM' | 'SIGKILL'): void {
    if (!child.pid) return;
    if (sig === 'SIGKILL') killGroup(child.pid, 'SIGKILL');
    else {
      try {
        process.kill(child.pid, sig);
      } catch {
        /* gone */
      }
    }
  }

  async afterExit(_id: string, child: ChildProcess): Promise<void> {
    // Whatever the watchdog left in its process group goes with it.
    if (child.pid) killGroup(child.pid, 'SIGKILL');
  }

  async release(): Promise<void> {
    /* nothing beyond the run dir */
  }

  async reap(id: string, runDir: string): Promise<void> {
    const pid = Number((await readFile(join(runDir, 'pid'), 'utf8').catch(() => '')).trim());
    if (!(pid > 0)) return;
    const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
    if (environ.split('\0').includes(`HYPERFAAS_INSTANCE_ID=${id}`)) killGroup(pid, 'SIGKILL');
  }
}

/** tool runs a helper program and returns its stdout; the error carries its stderr's first line. */
export async function tool(cmd: string, args: string[], timeoutMs = 10_000): Promise<string> {
  try {
    return (await run(cmd, args, { timeout: timeoutMs })).stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    const why = (err.stderr ?? '').trim().split('\n').pop() || err.message.split('\n')[0];
    throw new Error(`${cmd} ${args.join(' ')}: ${why}`);
  }
}
