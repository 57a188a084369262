/**
 * cgroup finds which cgroup controllers this host offers to us and manages one cgroup per instance: CPU quota,
 * memory limit and pids limit, written at start and rewritten in place by resize. Works on cgroup v1 (one
 * hierarchy per controller, e.g. /sys/fs/cgroup/cpu) and v2 (one unified hierarchy), detected, never assumed.
 * Everything takes the root as an argument, so tests run it against a temp dir shaped like a cgroup mount.
 */
import { access, appendFile, mkdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { constants, existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * CgroupController is a controller the backend uses: cpu, memory and pids enforce limits; cpuacct (cgroup v1, when
 * it is a hierarchy of its own, not co-mounted with cpu) only accounts, so the ICS can read its instance's CPU time
 * from one file (cpuacct.usage) instead of walking /proc.
 */
export type CgroupController = 'cpu' | 'memory' | 'pids' | 'cpuacct';

/** LIMIT_CONTROLLERS are the controllers that enforce something (the isolation summary lists these). */
export const LIMIT_CONTROLLERS: readonly CgroupController[] = ['cpu', 'memory', 'pids'];

/** CgroupSupport is what detectCgroups found: per controller, the directory instance cgroups are created under. */
export interface CgroupSupport {
  /** version is v1, v2, or none when no usable controller was found. */
  version: 'v1' | 'v2' | 'none';
  /** parents maps each usable controller to its (existing, writable) parent directory. */
  parents: Partial<Record<CgroupController, string>>;
  /** reason explains what is missing, for the isolation summary and the log. */
  reason: string;
}

/** CgroupLimits are what an instance's cgroup enforces; undefined means "no limit". */
export interface CgroupLimits {
  /** cpu in cores. */
  cpu?: number;
  memoryBytes?: number;
  pids?: number;
}

/** CPU_PERIOD_US is the CFS period the quota is expressed against (the kernel default, 100 ms). */
export const CPU_PERIOD_US = 100_000;

const v1Marker: Record<CgroupController, string> = {
  cpu: 'cpu.cfs_quota_us',
  memory: 'memory.limit_in_bytes',
  pids: 'cgroup.procs',
  cpuacct: 'cpuacct.usage',
};

async function writable(dir: string): Promise<boolean> {
  try {
    await access(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

async function ensureParent(dir: string): Promise<string | undefined> {
  try {
    await mkdir(dir, { recursive: true });
    return (await writable(dir)) ? dir : undefined;
  } catch {
    return undefined;
  }
}

/**
 * detectCgroups looks under root (normally /sys/fs/cgroup) for v1 hierarchies of cpu, memory and pids (a directory
 * per controller holding its control file and `tasks`), else a v2 hierarchy (at root or root/unified) whose
 * cgroup.controllers lists them, and creates the parent group (e.g. "hyperfaas") in each. Controllers it cannot
 * write are left out; version is none when nothing is usable.
 */
export async function detectCgroups(root: string, parent: string): Promise<CgroupSupport> {
  const v1: Partial<Record<CgroupController, string>> = {};
  const missing: string[] = [];
  for (const c of ['cpu', 'memory', 'pids', 'cpuacct'] as const) {
    const dir = join(root, c);
    if (!existsSync(join(dir, v1Marker[c])) || !existsSync(join(dir, 'tasks'))) continue;
    // cpuacct co-mounted with cpu (cpu,cpuacct) is the same hierarchy: the cpu group accounts already.
    if (c === 'cpuacct' && existsSync(join(root, 'cpu', 'cpuacct.usage'))) continue;
    const p = await ensureParent(join(dir, parent));
    if (p) v1[c] = p;
    else if (c !== 'cpuacct') missing.push(`${dir} is not writable`);
  }
  if (v1.cpu || v1.memory) {
    const absent = (['cpu', 'memory', 'pids'] as const).filter((c) => !v1[c]);
    return {
      version: 'v1',
      parents: v1,
      reason: absent.length ? `cgroup v1 without ${absent.join(', ')}${missing.length ? ` (${missing.join('; ')})` : ''}` : '',
    };
  }
  for (const base of [root, join(root, 'unified')]) {
    const ctl = join(base, 'cgroup.controllers');
    if (!existsSync(ctl)) continue;
    const offered = (await readFile(ctl, 'utf8')).split(/\s+/);
    const want = (['cpu', 'memory', 'pids'] as const).filter((c) => offered.includes(c));
    if (want.length === 0) {
      missing.push(`${base} (cgroup v2) offers none of cpu, memory, pids`);
      continue;
    }
    const p = join(base, parent);
    try {
      // Controllers must be enabled for children at every level down to the instance groups.
      await writeFile(join(base, 'cgroup.subtree_control'), want.map((c) => `+${c}`).join(' '));
      await mkdir(p, { recursive: true });
      await writeFile(join(p, 'cgroup.subtree_control'), want.map((c) => `+${c}`).join(' '));
    } catch (e) {
      missing.push(`${base} (cgroup v2) is not writable: ${(e as Error).message}`);
      continue;
    }
    const parents: Partial<Record<CgroupController, string>> = {};
    for (const c of want) parents[c] = p;
    const absent = (['cpu', 'memory', 'pids'] as const).filter((c) => !want.includes(c));
    return { version: 'v2', parents, reason: absent.length ? `cgroup v2 without ${absent.join(', ')}` : '' };
  }
  return { version: 'none', parents: {}, reason: missing.length ? missing.join('; ') : `no cgroup hierarchy under ${root}` };
}

/** cgroupFiles is the pure mapping from limits to the files and values to write, per version. */
export function cgroupFiles(version: 'v1' | 'v2', limits: CgroupLimits): Record<CgroupController, [string, string][]> {
  const quota = limits.cpu !== undefined && limits.cpu > 0 ? Math.max(1000, Math.round(limits.cpu * CPU_PERIOD_US)) : undefined;
  if (version === 'v1') {
    return {
      cpu: [
        ['cpu.cfs_period_us', String(CPU_PERIOD_US)],
        ['cpu.cfs_quota_us', quota === undefined ? '-1' : String(quota)],
      ],
      // -1 lifts the limit on v1.
      memory: [['memory.limit_in_bytes', limits.memoryBytes ? String(limits.memoryBytes) : '-1']],
      pids: [['pids.max', limits.pids ? String(limits.pids) : 'max']],
      cpuacct: [],
    };
  }
  return {
    cpu: [['cpu.max', `${quota === undefined ? 'max' : quota} ${CPU_PERIOD_US}`]],
    memory: [
      ['memory.max', limits.memoryBytes ? String(limits.memoryBytes) : 'max'],
      ['memory.swap.max', '0'],
    ],
    pids: [['pids.max', limits.pids ? String(limits.pids) : 'max']],
    cpuacct: [],
  };
}

/** Cgroup is one instance's cgroup across the controllers in use. */
export class Cgroup {
  private constructor(
    readonly support: CgroupSupport,
    /** dirs are the instance's directories, one per controller hierarchy (v2: one). */
    readonly dirs: Partial<Record<CgroupController, string>>,
  ) {}

  /** create makes the instance's groups (name must be a safe path segment) and writes the limits. */
  static async create(support: CgroupSupport, name: string, limits: CgroupLimits): Promise<Cgroup> {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`bad cgroup name ${name}`);
    const dirs: Partial<Record<CgroupController, string>> = {};
    for (const [c, p] of Object.entries(support.parents) as [CgroupController, string][]) {
      const d = join(p, name);
      await mkdir(d, { recursive: true });
      dirs[c] = d;
    }
    const cg = new Cgroup(support, dirs);
    await cg.setLimits(limits);
    return cg;
  }

  /** attach returns the handle of an existing instance group (e.g. one left by a previous run), writing nothing. */
  static attach(support: CgroupSupport, name: string): Cgroup {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`bad cgroup name ${name}`);
    const dirs: Partial<Record<CgroupController, string>> = {};
    for (const [c, p] of Object.entries(support.parents) as [CgroupController, string][]) {
      if (existsSync(join(p, name))) dirs[c] = join(p, name);
    }
    return new Cgroup(support, dirs);
  }

  /** procsFiles are the cgroup.procs files a process writes its pid into to join (deduplicated for v2). */
  get procsFiles(): string[] {
    return [...new Set(Object.values(this.dirs))].map((d) => join(d, 'cgroup.procs'));
  }

  /** setLimits (re)writes every limit in place; a controller that is absent is skipped. */
  async setLimits(limits: CgroupLimits): Promise<void> {
    if (this.support.version === 'none') return;
    const files = cgroupFiles(this.support.version, limits);
    for (const [c, d] of Object.entries(this.dirs) as [CgroupController, string][]) {
      for (const [file, value] of files[c]) {
        if (file === 'memory.swap.max' && !existsSync(join(d, file)) && existsSync(join(d, 'memory.max'))) continue;
        // On v1 the memory limit may not drop below usage, and the quota below... let the kernel say why.
        await writeFile(join(d, file), value);
      }
    }
  }

  /** join moves a process into this cgroup (the launcher normally does this itself before exec). */
  async join(pid: number): Promise<void> {
    for (const f of this.procsFiles) await appendFile(f, `${pid}\n`);
  }

  /** pids lists the processes still in the cgroup. */
  async pids(): Promise<number[]> {
    const out = new Set<number>();
    for (const f of this.procsFiles) {
      try {
        for (const line of (await readFile(f, 'utf8')).split('\n')) if (/^\d+$/.test(line)) out.add(Number(line));
      } catch {
        /* gone already */
      }
    }
    return [...out];
  }

  /**
   * usage samples the group: memory charged to it (v1 memory.usage_in_bytes, v2 memory.current) and the CPU time
   * its live processes have used, in seconds (utime + stime from /proc/<pid>/stat at 100 ticks a second).
   */
  async usage(): Promise<{ memoryBytes?: number; cpuSeconds: number }> {
    let memoryBytes: number | undefined;
    const mem = this.dirs.memory;
    if (mem) {
      for (const f of ['memory.usage_in_bytes', 'memory.current']) {
        const v = Number((await readFile(join(mem, f), 'utf8').catch(() => '')).trim());
        if (v > 0) {
          memoryBytes = v;
          break;
        }
      }
    }
    let ticks = 0;
    for (const pid of await this.pids()) ticks += procCpuTicks(await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ''));
    return { ...(memoryBytes !== undefined ? { memoryBytes } : {}), cpuSeconds: ticks / 100 };
  }

  /** destroy kills whatever is left in the group and removes its directories. */
  async destroy(): Promise<void> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const left = await this.pids();
      for (const pid of left) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const d of new Set(Object.values(this.dirs))) {
      try {
        await rmdir(d);
      } catch (e) {
        // A real cgroup directory is removed with rmdir only; a plain directory (a fake root in tests) needs rm.
        if ((e as NodeJS.ErrnoException).code === 'ENOTEMPTY') await rm(d, { recursive: true, force: true });
        else if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
  }
}

/** procCpuTicks reads utime + stime (fields 14 and 15) from a /proc/<pid>/stat line; 0 when unreadable. */
export function procCpuTicks(stat: string): number {
  // The command name (field 2) may hold spaces and parentheses: count fields after its closing parenthesis.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? utime + stime : 0;
}
