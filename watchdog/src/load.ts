/**
 * load measures the instance's own CPU and memory against its limits. It prefers the watchdog's own cgroup (v2 unified
 * or v1 cpu/cpuacct/memory controllers, found through /proc/self/cgroup) and falls back to the watchdog's process tree
 * (/proc/<pid>/stat and statm) with limits from config. The parsers are pure and exported for tests; the sampler does
 * asynchronous reads only, off the request path.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** ProcCgroup is /proc/self/cgroup parsed: the v2 path and the v1 path per controller. */
export interface ProcCgroup {
  v2?: string;
  v1: Record<string, string>;
}

/** parseProcCgroup reads lines "id:controllers:path". */
export function parseProcCgroup(text: string): ProcCgroup {
  const out: ProcCgroup = { v1: {} };
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === '0' && m[2] === '') out.v2 = m[3]!;
    else for (const c of m[2]!.split(',')) if (c) out.v1[c] = m[3]!;
  }
  return out;
}

/** parseCpuMax reads cgroup v2 cpu.max ("max 100000" or "50000 100000") as cores (0 = no limit). */
export function parseCpuMax(text: string): number {
  const [q, p] = text.trim().split(/\s+/);
  if (!q || q === 'max') return 0;
  const period = Number(p ?? 100000);
  return period > 0 ? Number(q) / period : 0;
}

/** parseV1Quota turns cpu.cfs_quota_us and cpu.cfs_period_us into cores (0 = no limit; quota -1 means none). */
export function parseV1Quota(quota: string, period: string): number {
  const q = Number(quota.trim());
  const p = Number(period.trim());
  return q > 0 && p > 0 ? q / p : 0;
}

/** parseMemLimit reads memory.max or memory.limit_in_bytes (0 = no limit: "max" or a value near 2^63). */
export function parseMemLimit(text: string): number {
  const t = text.trim();
  if (t === 'max' || t === '') return 0;
  const n = Number(t);
  return Number.isFinite(n) && n < 2 ** 60 ? n : 0;
}

/** parseCpuStatUsec reads usage_usec from cgroup v2 cpu.stat, in seconds. */
export function parseCpuStatUsec(text: string): number {
  const m = /^usage_usec\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) / 1e6 : 0;
}

/** ProcStat is the part of /proc/<pid>/stat the sampler needs; times are clock ticks. */
export interface ProcStat {
  pid: number;
  ppid: number;
  utime: number;
  stime: number;
}

/** parseProcStat reads /proc/<pid>/stat; the command name may hold spaces and parentheses. */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const pid = Number(text.slice(0, text.indexOf(' ')));
  const f = text.slice(close + 2).split(' ');
  // after the name: state(0) ppid(1) ... utime(11) stime(12)
  return { pid, ppid: Number(f[1]), utime: Number(f[11]), stime: Number(f[12]) };
}

/** descendants returns root and every process below it, from a list of stats. */
export function descendants(root: number, stats: readonly ProcStat[]): ProcStat[] {
  const kids = new Map<number, ProcStat[]>();
  for (const s of stats) {
    const l = kids.get(s.ppid);
    if (l) l.push(s);
    else kids.set(s.ppid, [s]);
  }
  const out: ProcStat[] = [];
  const self = stats.find((s) => s.pid === root);
  if (self) out.push(self);
  const stack = [root];
  while (stack.length) {
    for (const k of kids.get(stack.pop()!) ?? []) {
      out.push(k);
      stack.push(k.pid);
    }
  }
  return out;
}

/** Usage is one reading: cumulative CPU seconds, memory bytes and the limits. */
export interface Usage {
  cpuSeconds: number;
  cpuLimit: number;
  memUsed: number;
  memLimit: number;
}

/** CpuMem is a sample as reports carry it: cores in use over the last interval and bytes, against limits. */
export interface CpuMem {
  cpu: { used: number; limit: number };
  memory: { used: number; limit: number };
}

const read = (p: string) => readFile(p, 'utf8');
const TICKS = 100; // USER_HZ on Linux
const PAGE = 4096;

/** UsageSource reads a Usage; which one is chosen once at start. */
export type UsageSource = { kind: 'cgroup-v2' | 'cgroup-v1' | 'proc'; read(): Promise<Usage> };

/** detectSource picks the watchdog's own cgroup when its files are readable, else its process tree. */
export async function detectSource(fallback: { cpuLimit: number; memoryLimit: number }, root = '/sys/fs/cgroup'): Promise<UsageSource> {
  let pc: ProcCgroup = { v1: {} };
  try {
    pc = parseProcCgroup(await read('/proc/self/cgroup'));
  } catch {
    /* not Linux */
  }
  const orFallback = (u: Usage): Usage => ({
    ...u,
    cpuLimit: u.cpuLimit || fallback.cpuLimit,
    memLimit: u.memLimit || fallback.memoryLimit,
  });
  if (pc.v2 !== undefined && pc.v2 !== '/') {
    const dir = join(root, pc.v2);
    const src: UsageSource = {
      kind: 'cgroup-v2',
      read: async () => {
        const [stat, max, cur, mmax] = await Promise.all([
          read(join(dir, 'cpu.stat')),
          read(join(dir, 'cpu.max')).catch(() => 'max'),
          read(join(dir, 'memory.current')),
          read(join(dir, 'memory.max')).catch(() => 'max'),
        ]);
        return orFallback({ cpuSeconds: parseCpuStatUsec(stat), cpuLimit: parseCpuMax(max), memUsed: Number(cur.trim()), memLimit: parseMemLimit(mmax) });
      },
    };
    try {
      await src.read();
      return src;
    } catch {
      /* fall through */
    }
  }
  const cpuPath = pc.v1.cpuacct ?? pc.v1.cpu;
  const memPath = pc.v1.memory;
  if (cpuPath && memPath && cpuPath !== '/' && memPath !== '/') {
    const firstDir = async (names: string[], rel: string, file: string) => {
      for (const n of names) {
        const d = join(root, n, rel);
        try {
          await read(join(d, file));
          return d;
        } catch {
          /* next */
        }
      }
      throw new Error(`no ${file} for ${rel}`);
    };
    try {
      const acct = await firstDir(['cpuacct', 'cpu,cpuacct', 'cpuacct,cpu', 'cpu'], cpuPath, 'cpuacct.usage');
      const cpu = await firstDir(['cpu', 'cpu,cpuacct', 'cpuacct,cpu'], pc.v1.cpu ?? cpuPath, 'cpu.cfs_quota_us').catch(() => '');
      const mem = await firstDir(['memory'], memPath, 'memory.usage_in_bytes');
      return {
        kind: 'cgroup-v1',
        read: async () => {
          const [usage, quota, period, used, limit] = await Promise.all([
            read(join(acct, 'cpuacct.usage')),
            cpu ? read(join(cpu, 'cpu.cfs_quota_us')) : '-1',
            cpu ? read(join(cpu, 'cpu.cfs_period_us')) : '100000',
            read(join(mem, 'memory.usage_in_bytes')),
            read(join(mem, 'memory.limit_in_bytes')).catch(() => 'max'),
          ]);
          return orFallback({
            cpuSeconds: Number(usage.trim()) / 1e9,
            cpuLimit: parseV1Quota(quota, period),
            memUsed: Number(used.trim()),
            memLimit: parseMemLimit(limit),
          });
        },
      };
    } catch {
      /* fall through */
    }
  }
  return { kind: 'proc', read: procTreeReader(process.pid, fallback) };
}

/** PROC_RESCAN_EVERY: the process tree is found by reading every /proc/<pid>/stat only on every 5th sample. */
const PROC_RESCAN_EVERY = 5;

/**
 * procTreeReader samples root's process tree. Finding the tree means reading the stat file of every process on the
 * host (hundreds of files), so it is done on every PROC_RESCAN_EVERY-th sample, or when a known process is gone; the
 * samples between read only the known processes' files.
 */
function procTreeReader(root: number, limits: { cpuLimit: number; memoryLimit: number }): () => Promise<Usage> {
  let known: number[] = [];
  let n = 0;
  return async () => {
    let tree: ProcStat[] | undefined;
    if (n++ % PROC_RESCAN_EVERY !== 0 && known.length) {
      const stats = await Promise.all(known.map((pid) => read(`/proc/${pid}/stat`).then(parseProcStat, () => undefined)));
      if (stats.every((s) => s !== undefined)) tree = stats as ProcStat[];
    }
    if (!tree) {
      const names = (await readdir('/proc')).filter((x) => x.charCodeAt(0) >= 48 && x.charCodeAt(0) <= 57);
      const stats = (await Promise.all(names.map((x) => read(`/proc/${x}/stat`).then(parseProcStat, () => undefined)))).filter(
        (s): s is ProcStat => s !== undefined,
      );
      tree = descendants(root, stats);
      known = tree.map((s) => s.pid);
    }
    return usageOf(tree, limits);
  };
}

async function usageOf(tree: ProcStat[], limits: { cpuLimit: number; memoryLimit: number }): Promise<Usage> {
  const rss = await Promise.all(tree.map((s) => read(`/proc/${s.pid}/statm`).then((t) => Number(t.split(' ')[1]) * PAGE, () => 0)));
  return {
    cpuSeconds: tree.reduce((n, s) => n + (s.utime + s.stime) / TICKS, 0),
    cpuLimit: limits.cpuLimit,
    memUsed: rss.reduce((a, b) => a + b, 0),
    memLimit: limits.memoryLimit,
  };
}

/** cpuMemBetween turns two readings taken ms apart into cores in use and bytes (CPU never negative). */
export function cpuMemBetween(prev: Usage, next: Usage, ms: number): CpuMem {
  const used = ms > 0 ? Math.max(0, (next.cpuSeconds - prev.cpuSeconds) / (ms / 1000)) : 0;
  return { cpu: { used, limit: next.cpuLimit }, memory: { used: next.memUsed, limit: next.memLimit } };
}
