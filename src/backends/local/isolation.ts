/**
 * isolation decides how far this host lets the local backend confine an instance, and builds the command line
 * that launches one. As root with util-linux: its own cgroups (CPU quota, memory and pids limits), a private mount
 * namespace (a tmpfs at /var/openfaas holding the secrets and the function code, a private /tmp) and an
 * unprivileged user. Without root (or with HYPERFAAS_ISOLATION=none) instances run as plain child processes and
 * find their secrets in a per-instance directory named by env HYPERFAAS_SECRETS_DIR and secret_mount_path.
 */
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../../logger.js';
import { detectCgroups, LIMIT_CONTROLLERS, type CgroupController, type CgroupSupport } from './cgroup.js';
import type { LocalBackendConfig } from './config.js';

const run = promisify(execFile);

/** SECRETS_MOUNT is where an isolated instance sees its secrets, as in OpenFaaS. */
export const SECRETS_MOUNT = '/var/openfaas/secrets';
/** CREDENTIALS_MOUNT is where an isolated instance's watchdog finds its credentials (HYPERFAAS_CREDENTIALS_DIR). */
export const CREDENTIALS_MOUNT = '/var/openfaas/hyperfaas';
/** FUNCTION_MOUNT is where an isolated instance sees its (read-only to it) function directory. */
export const FUNCTION_MOUNT = '/var/openfaas/function';

/** RunAs is the unprivileged user instances run as. */
export interface RunAs {
  name: string;
  uid: number;
  gid: number;
}

/** IsolationSummary says what instances get on this host; the provider shows it (e.g. in its start-up log). */
export interface IsolationSummary {
  /** level: full (every measure), partial (some), none (plain child processes). */
  level: 'full' | 'partial' | 'none';
  /** runtime: runc (an OCI container per instance) or process (a confined process group, the fallback). */
  runtime: 'runc' | 'process';
  root: boolean;
  cgroup: 'v1' | 'v2' | 'none';
  /** limits lists the resources enforced per instance (cpu, memory, pids). */
  limits: CgroupController[];
  /** user is the unprivileged user instances run as, when any. */
  user?: string;
  mountNamespace: boolean;
  /** secretsPath is where functions read secrets: /var/openfaas/secrets, or a per-instance dir named by env. */
  secretsPath: string;
  /** notes explain each missing measure. */
  notes: string[];
}

/** Isolation is the detected capability plus its summary. */
export interface Isolation {
  summary: IsolationSummary;
  cgroups: CgroupSupport;
  user?: RunAs;
  mountNamespace: boolean;
}

async function lookupUser(name: string): Promise<RunAs | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 4) return { name, uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

async function ensureUser(name: string, notes: string[]): Promise<RunAs | undefined> {
  const found = await lookupUser(name);
  if (found) return found.uid === 0 ? (notes.push(`user ${name} is uid 0, so it does not drop privileges`), undefined) : found;
  try {
    await run('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', name]);
  } catch (e) {
    notes.push(`cannot create user ${name}: ${(e as Error).message.split('\n')[0]}`);
    return undefined;
  }
  return lookupUser(name);
}

async function probeMountNamespace(notes: string[]): Promise<boolean> {
  for (const tool of ['unshare', 'setpriv']) {
    try {
      await run(tool, ['--version']);
    } catch {
      notes.push(`${tool} (util-linux) is missing`);
      return false;
    }
  }
  try {
    await mkdir('/var/openfaas', { recursive: true, mode: 0o755 });
    await run('unshare', ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', 'mount -t tmpfs hyperfaas-probe /var/openfaas && mount -t tmpfs hyperfaas-probe /tmp']);
    return true;
  } catch (e) {
    notes.push(`no private mount namespace: ${(e as Error).message.split('\n')[0]}`);
    return false;
  }
}

/** noIsolation is what instances get with HYPERFAAS_ISOLATION=none or on a host that allows nothing. */
export function noIsolation(notes: string[], root = false): Isolation {
  return {
    summary: { level: 'none', runtime: 'process', root, cgroup: 'none', limits: [], mountNamespace: false, secretsPath: 'per-instance dir in env HYPERFAAS_SECRETS_DIR', notes },
    cgroups: { version: 'none', parents: {}, reason: notes.join('; ') },
    mountNamespace: false,
  };
}

/**
 * detectIsolation probes the host once for the process runtime (it may create the run-as user and the cgroup
 * parent); the backend then tries runc on top of it (withRunc) and logs the result (logIsolation).
 */
export async function detectIsolation(cfg: LocalBackendConfig): Promise<Isolation> {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  let iso: Isolation;
  if (cfg.isolation === 'none') {
    iso = noIsolation(['HYPERFAAS_ISOLATION=none'], root);
  } else {
    const notes: string[] = [];
    const cgroups = await detectCgroups(cfg.cgroupRoot, cfg.cgroupParent);
    if (cgroups.reason) notes.push(cgroups.reason);
    let user: RunAs | undefined;
    let mountNamespace = false;
    if (root) {
      user = await ensureUser(cfg.runAsUser, notes);
      mountNamespace = await probeMountNamespace(notes);
    } else {
      notes.push('not root: instances run as this user, without a mount namespace');
    }
    const limits = (Object.keys(cgroups.parents) as CgroupController[]).filter((c) => LIMIT_CONTROLLERS.includes(c));
    const full = limits.length === 3 && !!user && mountNamespace;
    const some = limits.length > 0 || !!user || mountNamespace;
    iso = {
      summary: {
        level: full ? 'full' : some ? 'partial' : 'none',
        runtime: 'process',
        root,
        cgroup: cgroups.version,
        limits,
        ...(user ? { user: user.name } : {}),
        mountNamespace,
        secretsPath: mountNamespace ? SECRETS_MOUNT : 'per-instance dir in env HYPERFAAS_SECRETS_DIR',
        notes,
      },
      cgroups,
      ...(user ? { user } : {}),
      mountNamespace,
    };
  }
  return iso;
}

/** withRunc is the isolation of instances run as OCI containers by runc: each function its own uid, a mount namespace. */
export function withRunc(iso: Isolation, uidBase: number): Isolation {
  const limits = iso.summary.limits;
  return {
    ...iso,
    mountNamespace: true,
    summary: {
      ...iso.summary,
      level: limits.length === 3 ? 'full' : 'partial',
      runtime: 'runc',
      user: `one uid per function from ${uidBase}`,
      mountNamespace: true,
      secretsPath: SECRETS_MOUNT,
    },
  };
}

/** logIsolation says at start what instances get: info when full, else a warning naming each missing measure. */
export function logIsolation(iso: Isolation, logger: Logger): void {
  const s = iso.summary;
  const msg = `local backend isolation: ${s.level}, ${s.runtime === 'runc' ? 'OCI containers (runc)' : 'process groups (runc not used)'} (cgroup ${s.cgroup}${s.limits.length ? ` ${s.limits.join('+')}` : ''}, user ${s.user ?? '(same as provider)'}, mount namespace ${s.mountNamespace ? 'yes' : 'no'}, secrets at ${s.secretsPath})`;
  if (s.level === 'full' && s.runtime === 'runc') logger.info(msg);
  else logger.warn(`${msg}: ${s.notes.join('; ')}`);
}

/** LaunchSpec is everything needed to start one instance's watchdog. */
export interface LaunchSpec {
  node: string;
  watchdogMain: string;
  /** funcDir is the prepared function directory (the cwd, or bind-mounted at FUNCTION_MOUNT). */
  funcDir: string;
  /** secretsDir holds this instance's secret copies (owner-only), copied into the namespace's tmpfs when isolated. */
  secretsDir: string;
  /** credentialsDir holds the instance's credential files (root's), copied into CREDENTIALS_MOUNT when isolated. */
  credentialsDir?: string;
  /** cgroupProcs are the cgroup.procs files the launcher joins before anything else runs. */
  cgroupProcs: string[];
  user?: RunAs;
  mountNamespace: boolean;
  /** tmpSizeBytes bounds the private /tmp. */
  tmpSizeBytes: number;
}

/** INSTALL_MOUNT is where an install living under the host's /tmp is bound inside an instance's mount namespace. */
export const INSTALL_MOUNT = '/var/openfaas/install';

/** installUnderTmp returns the top folder under /tmp that holds path ("/tmp/x" for "/tmp/x/a/b"), else undefined. */
export function installUnderTmp(path: string): string | undefined {
  const m = /^\/tmp\/[^/]+/.exec(path);
  return m ? m[0] : undefined;
}

/** shellQuote quotes one word for /bin/sh. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * buildLaunch is the pure command line for a LaunchSpec. With a mount namespace it is
 * `unshare --mount --propagation private -- /bin/sh -c <script>`; unshare and sh exec in place, so the pid the
 * backend holds is, in the end, the watchdog's. The script joins the cgroups, mounts, then drops to the user.
 */
export function buildLaunch(spec: LaunchSpec): { command: string; args: string[]; cwd: string } {
  const q = shellQuote;
  const lines = ['set -e'];
  for (const f of spec.cgroupProcs) lines.push(`echo $$ > ${q(f)}`);
  let cwd = spec.funcDir;
  let watchdogMain = spec.watchdogMain;
  if (spec.mountNamespace) {
    const owner = spec.user ? `${spec.user.uid}:${spec.user.gid}` : '0:0';
    lines.push(
      'mount -t tmpfs -o mode=0755,size=16m,nosuid,nodev hyperfaas-fn /var/openfaas',
      `mkdir -p ${SECRETS_MOUNT} ${FUNCTION_MOUNT}`,
      `for f in ${q(spec.secretsDir)}/*; do [ -f "$f" ] && cp "$f" ${SECRETS_MOUNT}/; done`,
      `chown -R ${owner} ${SECRETS_MOUNT}`,
      `chmod 0500 ${SECRETS_MOUNT}`,
      `find ${SECRETS_MOUNT} -type f -exec chmod 0400 {} +`,
      `mount --bind ${q(spec.funcDir)} ${FUNCTION_MOUNT}`,
    );
    if (spec.credentialsDir) {
      lines.push(
        `mkdir -p ${CREDENTIALS_MOUNT}`,
        `for f in ${q(spec.credentialsDir)}/*; do [ -f "$f" ] && cp "$f" ${CREDENTIALS_MOUNT}/; done`,
        `chown -R ${owner} ${CREDENTIALS_MOUNT}`,
        `chmod 0500 ${CREDENTIALS_MOUNT}`,
        `find ${CREDENTIALS_MOUNT} -type f -exec chmod 0400 {} +`,
      );
    }
    // The private /tmp hides whatever lives under the host's /tmp, the watchdog and its node_modules included when
    // HyperFaaS itself is installed there (a CI clone made with mktemp). Such an install is bound into the namespace
    // at /var/openfaas/install first, and the watchdog runs from there; /tmp stays private either way.
    const top = installUnderTmp(spec.watchdogMain);
    if (top) {
      lines.push(`mkdir -p ${INSTALL_MOUNT}`, `mount --bind ${q(top)} ${INSTALL_MOUNT}`);
      watchdogMain = INSTALL_MOUNT + spec.watchdogMain.slice(top.length);
    }
    lines.push(`mount -t tmpfs -o mode=1777,size=${spec.tmpSizeBytes},nosuid,nodev hyperfaas-tmp /tmp`, `cd ${FUNCTION_MOUNT}`);
    cwd = '/';
  }
  const exec = [q(spec.node), q(watchdogMain)];
  if (spec.user) {
    exec.unshift(
      'setpriv',
      `--reuid=${spec.user.uid}`,
      `--regid=${spec.user.gid}`,
      '--clear-groups',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--no-new-privs',
      '--',
    );
  }
  lines.push(`exec ${exec.join(' ')}`);
  const script = lines.join('\n');
  if (spec.mountNamespace) return { command: 'unshare', args: ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', script], cwd };
  if (spec.cgroupProcs.length > 0 || spec.user) return { command: '/bin/sh', args: ['-c', script], cwd };
  return { command: spec.node, args: [spec.watchdogMain], cwd };
}

/**
 * othersCanRead reports whether a user other than the owner can read path: the file readable by others and every
 * directory above it searchable by others. The unprivileged user must reach the watchdog and its node_modules.
 */
export function othersCanRead(path: string): boolean {
  try {
    if ((statSync(path).mode & 0o004) === 0) return false;
    for (let d = dirname(path); ; d = dirname(d)) {
      if ((statSync(d).mode & 0o001) === 0) return false;
      if (dirname(d) === d) return true;
    }
  } catch {
    return false;
  }
}

/**
 * withoutUserUnlessReadable drops the unprivileged user when it could not read what instances run (the watchdog
 * and its modules): instances then run as the provider's user, and the summary says why.
 */
export function withoutUserUnlessReadable(iso: Isolation, paths: string[]): Isolation {
  if (!iso.user) return iso;
  const unreadable = paths.filter((p) => !othersCanRead(p));
  if (unreadable.length === 0) return iso;
  const notes = [...iso.summary.notes, `user ${iso.user.name} cannot read ${unreadable.join(', ')}: instances run as the provider's user`];
  const { user: _drop, ...summary } = iso.summary;
  void _drop;
  return {
    cgroups: iso.cgroups,
    mountNamespace: iso.mountNamespace,
    summary: { ...summary, level: 'partial', notes },
  };
}
