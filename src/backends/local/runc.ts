/**
 * runc runs each instance as an OCI container (oci.ts builds its spec): the runtime adapter the local backend uses
 * as root where `runc` works. `runc run` stays in the foreground as the instance's process: it passes the pipes
 * through to the watchdog (PID 1 of the container), forwards SIGTERM to it, and removes the container (and the
 * cgroups it made) when the watchdog exits.
 *
 * Files an instance sees, all read-only to it: the host's /usr (and the /bin, /lib... links or dirs), a few files of
 * /etc and a generated passwd/group, the watchdog at /opt/hyperfaas, its function at /var/openfaas/function, its
 * secrets at /var/openfaas/secrets (a tmpfs of HYPERFAAS_SECRETS_SIZE on the host, only its function's, owned by
 * its uid, mode 0400), its credentials at /var/openfaas/hyperfaas, and its own cgroup's files. /tmp and /dev/shm are
 * private tmpfs (a lent guest slot's code is fetched by the watchdog into its own /tmp, never bound from the host).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { chmod, chown, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from '../../logger.js';
import { repoRoot } from '../../paths.js';
import type { CgroupSupport } from './cgroup.js';
import { createNetwork, deleteNetwork, netnsPath } from './netns.js';
import { ociSpec, passwdFor, type Bind } from './oci.js';
import { killGroup, tool, type InstanceFiles, type InstancePaths, type InstanceRuntime, type Launch } from './runtime.js';

/** Paths inside a container. */
export const CONTAINER = {
  function: '/var/openfaas/function',
  secrets: '/var/openfaas/secrets',
  credentials: '/var/openfaas/hyperfaas',
  install: '/opt/hyperfaas',
} as const;

/** ETC_FILES are the host's /etc entries an instance sees (name resolution, TLS roots, the dynamic linker). */
const ETC_FILES = [
  'hosts', 'resolv.conf', 'nsswitch.conf', 'host.conf', 'gai.conf', 'protocols', 'services', 'localtime', 'ld.so.cache',
  'ld.so.conf', 'ld.so.conf.d', 'ssl', 'ca-certificates', 'alternatives', 'mime.types',
];

/** TOP_DIRS are the root's program and library dirs: links into /usr on a merged-/usr host, else bound read-only. */
const TOP_DIRS = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];

const TMP_SIZE = 256 * 1024 * 1024;
const SHM_SIZE = 64 * 1024 * 1024;

/** RuncOptions configure a RuncRuntime. */
export interface RuncOptions {
  runc: string;
  /** dataDir holds the runtime's state (runc/) and the shared empty root (runc/rootfs). */
  dataDir: string;
  node: string;
  watchdogMain: string;
  cgroups: CgroupSupport;
  cgroupRoot: string;
  cgroupParent: string;
  secretsBytes: number;
  logger: Logger;
}

/** mountPoints lists the mount points of this mount namespace (from /proc/self/mountinfo, octal escapes decoded). */
export async function mountPoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/** installBinds are the read-only binds that bring the watchdog, its modules and the Node runtime to /opt/hyperfaas. */
export function installBinds(watchdogMain: string, root: string): { binds: Bind[]; main: string } {
  // watchdogMain is <watchdog package>/dist/src/main.js; its compiled tree (<package>/dist) goes to
  // /opt/hyperfaas/dist/watchdog, and the repo's package.json (ESM), node_modules and the Node runtime beside it, where
  // Node's resolution and the watchdog's search for its runtime find them.
  const pkg = dirname(dirname(watchdogMain));
  const binds: Bind[] = [
    { source: pkg, destination: `${CONTAINER.install}/dist/watchdog` },
    { source: join(root, 'package.json'), destination: `${CONTAINER.install}/package.json` },
  ];
  const modules = join(root, 'node_modules');
  if (existsSync(modules)) binds.push({ source: realpathSync(modules), destination: `${CONTAINER.install}/node_modules` });
  const runtime = join(root, 'watchdog', 'runtime');
  if (existsSync(runtime)) binds.push({ source: runtime, destination: `${CONTAINER.install}/watchdog/runtime` });
  return { binds, main: `${CONTAINER.install}/dist/watchdog/${watchdogMain.slice(pkg.length + 1)}` };
}

/** writeOwnerOnly writes files readable by uid alone (0400) into dir and leaves dir to uid, 0500. */
async function writeOwnerOnly(dir: string, entries: Iterable<readonly [string, string | Buffer]>, uid: number, gid: number): Promise<void> {
  for (const [name, v] of entries) {
    const p = join(dir, name);
    await writeFile(p, v, { mode: 0o400 });
    await chown(p, uid, gid);
  }
  await chown(dir, uid, gid);
  await chmod(dir, 0o500);
}

/** RuncRuntime is the InstanceRuntime of OCI containers. */
export class RuncRuntime implements InstanceRuntime {
  readonly kind = 'runc';
  private readonly state: string;
  private readonly rootfs: string;
  private readonly base: Bind[] = [];
  private readonly main: string;

  private constructor(private readonly o: RuncOptions) {
    this.state = join(o.dataDir, 'runc', 'state');
    this.rootfs = join(o.dataDir, 'runc', 'rootfs');
    for (const d of TOP_DIRS) {
      try {
        if (!lstatSync(`/${d}`).isSymbolicLink()) this.base.push({ source: `/${d}`, destination: `/${d}` });
      } catch {
        /* absent on this host */
      }
    }
    this.base.push({ source: '/usr', destination: '/usr' });
    for (const f of ETC_FILES) if (existsSync(`/etc/${f}`)) this.base.push({ source: `/etc/${f}`, destination: `/etc/${f}` });
    // A Node installed outside /usr (e.g. /opt/node/bin/node) comes with its prefix.
    const nodeReal = realpathSync(o.node);
    if (!nodeReal.startsWith('/usr/')) this.base.push({ source: dirname(dirname(nodeReal)), destination: dirname(dirname(nodeReal)) });
    const inst = installBinds(o.watchdogMain, repoRoot);
    this.base.push(...inst.binds);
    this.main = inst.main;
  }

  /** create prepares the runtime's directories: its state and the shared empty root. */
  static async create(o: RuncOptions): Promise<RuncRuntime> {
    const r = new RuncRuntime(o);
    await mkdir(r.state, { recursive: true, mode: 0o700 });
    await mkdir(r.rootfs, { recursive: true, mode: 0o755 });
    // runc gives a tmpfs the mode of the directory it covers.
    await mkdir(join(r.rootfs, 'tmp'), { recursive: true });
    await chmod(join(r.rootfs, 'tmp'), 0o1777);
    for (const d of TOP_DIRS) {
      const host = `/${d}`;
      const at = join(r.rootfs, d);
      try {
        if (lstatSync(host).isSymbolicLink() && !existsSync(at)) await symlink(readlinkSync(host), at);
      } catch {
        /* absent on this host, or made by a concurrent start */
      }
    }
    return r;
  }

  paths(): InstancePaths {
    return { tmp: '/tmp', secrets: CONTAINER.secrets, credentials: CONTAINER.credentials };
  }

  async writeFiles(runDir: string, files: InstanceFiles): Promise<void> {
    const uid = files.uid ?? 65534;
    const gid = files.gid ?? 65534;
    const secrets = join(runDir, 'secrets');
    await mkdir(secrets, { recursive: true, mode: 0o500 });
    const mounted = (await mountPoints()).includes(secrets);
    if (files.secrets.size > 0 && !mounted) {
      // Secrets live in memory only, in a filesystem of bounded size that this instance's uid alone can read.
      await tool('mount', ['-t', 'tmpfs', '-o', `size=${this.o.secretsBytes},mode=0500,uid=${uid},gid=${gid},nosuid,nodev,noexec`, 'hyperfaas-secrets', secrets]);
    }
    for (const f of await readdir(secrets).catch(() => [] as string[])) await rm(join(secrets, f), { force: true });
    await writeOwnerOnly(secrets, files.secrets, uid, gid);
    const cred = join(runDir, 'credentials');
    await mkdir(cred, { recursive: true, mode: 0o500 });
    await writeOwnerOnly(cred, Object.entries(files.credentials), uid, gid);
    const etc = join(runDir, 'etc');
    await mkdir(etc, { recursive: true, mode: 0o755 });
    const pw = passwdFor(uid, gid);
    await writeFile(join(etc, 'passwd'), pw.passwd, { mode: 0o644 });
    await writeFile(join(etc, 'group'), pw.group, { mode: 0o644 });
  }

  async start(l: Launch): Promise<ChildProcess> {
    const bundle = join(l.runDir, 'bundle');
    await mkdir(bundle, { recursive: true, mode: 0o700 });
    // A run that died with its runc (killed provider) leaves its container behind under the same id.
    if (existsSync(join(this.state, l.id))) await this.delete(l.id);
    const cgroupDirs = [...new Set(Object.values(l.cgroup?.dirs ?? {}))].map((d) => ({ host: d, at: join('/sys/fs/cgroup', d.slice(this.o.cgroupRoot.length)) }));
    // An OCI image runs its own process in its own (shared, read-only) root, in its own network namespace, with
    // its function's secrets; our watchdog, the host's /usr and the instance credentials are not in it.
    const img = l.image;
    const spec = ociSpec({
      rootfs: img ? l.funcDir : this.rootfs,
      hostname: l.id.slice(0, 63),
      uid: l.uid ?? 65534,
      gid: l.gid ?? 65534,
      args: img ? img.args : [this.o.node, this.main],
      env: l.env,
      cwd: img ? img.cwd : CONTAINER.function,
      binds: img
        ? [
            ...['hosts', 'resolv.conf'].filter((f) => existsSync(`/etc/${f}`)).map((f) => ({ source: `/etc/${f}`, destination: `/etc/${f}` })),
            { source: join(l.runDir, 'secrets'), destination: CONTAINER.secrets },
          ]
        : [
            ...this.base,
            { source: join(l.runDir, 'etc', 'passwd'), destination: '/etc/passwd' },
            { source: join(l.runDir, 'etc', 'group'), destination: '/etc/group' },
            { source: l.funcDir, destination: CONTAINER.function },
            { source: join(l.runDir, 'secrets'), destination: CONTAINER.secrets },
            { source: join(l.runDir, 'credentials'), destination: CONTAINER.credentials },
          ],
      ...(img ? { netns: netnsPath(l.id) } : {}),
      tmpBytes: TMP_SIZE,
      shmBytes: SHM_SIZE,
      cgroupsPath: `/${this.o.cgroupParent}/${l.id}`,
      cgroupDirs: cgroupDirs.map((c) => c.host),
      limits: l.limits,
      arch: process.arch,
    });
    // Cgroup dirs under a root other than /sys/fs/cgroup are shown where the watchdog looks for them.
    const mounts = spec.mounts as { source: string; destination: string }[];
    for (const c of cgroupDirs) {
      const m = mounts.find((x) => x.source === c.host && x.destination === c.host);
      if (m) m.destination = c.at;
    }
    await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
    return spawn(this.o.runc, ['--root', this.state, 'run', '--bundle', bundle, l.id], {
      cwd: bundle,
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  signal(id: string, child: ChildProcess, sig: 'SIGTERM' | 'SIGKILL'): void {
    if (sig === 'SIGTERM') {
      // runc forwards it to the watchdog, which drains.
      if (child.pid) {
        try {
          process.kill(child.pid, 'SIGTERM');
        } catch {
          /* gone */
        }
      }
      return;
    }
    // SIGKILL to runc itself would leave the container running: kill the container (its PID 1, and so everything in
    // its PID namespace); runc then exits. Before the container exists, runc's own group is all there is.
    void tool(this.o.runc, ['--root', this.state, 'kill', id, 'KILL']).catch(() => {
      if (child.pid) killGroup(child.pid, 'SIGKILL');
    });
  }

  async afterExit(id: string): Promise<void> {
    if (existsSync(join(this.state, id))) await this.delete(id);
  }

  private async delete(id: string): Promise<void> {
    await tool(this.o.runc, ['--root', this.state, 'delete', '--force', id]).catch((e: Error) => this.o.logger.warn(`runc delete ${id}: ${e.message}`));
  }

  prepareNetwork(id: string): Promise<string> {
    return createNetwork(id);
  }

  async release(id: string, runDir: string): Promise<void> {
    await this.afterExit(id);
    await deleteNetwork(id).catch((e: Error) => this.o.logger.warn(`removing the network of ${id}: ${e.message}`));
    const mounts = await mountPoints();
    const secrets = join(runDir, 'secrets');
    if (mounts.includes(secrets)) await tool('umount', [secrets]).catch((e: Error) => this.o.logger.warn(e.message));
  }

  async reap(id: string, runDir: string): Promise<void> {
    await this.release(id, runDir);
  }

  async close(): Promise<void> {
    // Providers before guest code moved through the object store bound lent code under <data>/guest: unmount it.
    const old = join(this.o.dataDir, 'guest');
    const mounts = await mountPoints();
    for (const m of mounts.filter((p) => p === old || p.startsWith(`${old}/`)).reverse()) await tool('umount', [m]).catch(() => undefined);
  }
}

/** findRunc returns the runc binary to use (HYPERFAAS_RUNC, else the PATH, else Debian's place), or undefined. */
export function findRunc(configured?: string): string | undefined {
  if (configured) return existsSync(configured) ? configured : undefined;
  for (const d of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin']) {
    if (d && existsSync(join(d, 'runc'))) return join(d, 'runc');
  }
  return undefined;
}

/**
 * probeRunc runs one throw-away container (Node printing nothing) the way instances run: it proves runc, the
 * read-only root of binds and the seccomp filter work on this host. Resolves to undefined, or why not.
 */
export async function probeRunc(rt: RuncRuntime, runDir: string): Promise<string | undefined> {
  const id = `hyperfaas-probe-${process.pid}-${Date.now().toString(36)}`;
  try {
    await mkdir(runDir, { recursive: true, mode: 0o700 });
    await rt.writeFiles(runDir, { secrets: new Map(), credentials: {} });
    await mkdir(join(runDir, 'fn'), { recursive: true });
    const child = await rt.start({ id, runDir, funcDir: join(runDir, 'fn'), env: { PATH: '/usr/bin:/bin', NODE_OPTIONS: '' }, limits: {} });
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout!.resume();
    const code = await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => {
        rt.signal(id, child, 'SIGKILL');
      }, 15_000);
      child.on('exit', (c) => {
        clearTimeout(t);
        resolve(c);
      });
      child.on('error', (e) => {
        err += e.message;
        clearTimeout(t);
        resolve(-1);
      });
    });
    // The probe's "watchdog" is the real one without a function: it exits with a config error (status 2), which
    // proves Node ran inside. Anything else is runc failing.
    if (code === 2 && err.includes('config error')) return undefined;
    return `runc cannot run a container here (exit ${code}): ${err.trim().split('\n').slice(-2).join(' ') || 'no output'}`;
  } catch (e) {
    return `runc cannot run a container here: ${(e as Error).message}`;
  } finally {
    await rt.release(id, runDir).catch(() => undefined);
    await rm(runDir, { recursive: true, force: true }).catch(() => undefined);
  }
}
