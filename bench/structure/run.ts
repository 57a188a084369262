/**
 * bench/structure/run: the router and watchdog benchmarks of two compiled trees ("before" and "after" a change), in
 * one run, interleaved, reported as after/before ratios. Each round runs every harness once per tree, the trees'
 * order swapped every round (ABBA), so drift in the host's load hits both alike. Each tree runs its own harness
 * (<tree>/dist/bench/router/run.js and <tree>/dist/bench/watchdog/run.js --only http), so each measures its own
 * build; a tree must be compiled first. Every run is bounded, loopback only, and its child processes are ended by
 * the harness itself. Writes Markdown to stdout, or appends it to the file named by --out.
 * With --only router-cpu it measures instead the CPU time the router process spends per request: each tree's
 * bench/router/servers.js (an upstream and a router) serves a fixed number of requests from autocannon (50
 * connections) and the router's own user+system time (/proc/<pid>/stat) is divided by them; CPU per request is far
 * less sensitive to other work on the host than throughput is.
 * Usage: node dist/bench/structure/run.js --before <dir> --after <dir> [--rounds 4] [--seconds 5]
 *   [--only router|watchdog|router-cpu] [--requests 20000] [--out file]
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { appendFileSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { procCpuTicks } from '../../src/backends/local/cgroup.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
};
const trees = { before: resolve(arg('--before', '')), after: resolve(arg('--after', '.')) };
if (!arg('--before', '')) throw new Error('--before <dir of a compiled tree> is required');
const rounds = Number(arg('--rounds', '4'));
const seconds = Number(arg('--seconds', '5'));
const out = arg('--out', '');
const only = arg('--only', 'all');
const requests = Number(arg('--requests', '20000'));
const autocannon = createRequire(import.meta.url)('autocannon') as (o: { url: string; connections: number; amount: number }) => Promise<{ errors: number; timeouts: number; non2xx: number }>;

type Tree = keyof typeof trees;
/** Figures are one harness run's numbers by metric name. */
type Figures = Record<string, number>;

/** run starts one node script in a tree and returns what it printed (stdout and stderr). */
function run(tree: Tree, script: string, extra: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(trees[tree], 'dist', script), ...extra], { cwd: trees[tree], stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolvePromise(text) : reject(new Error(`${tree} ${script} exited with ${code}:\n${text.slice(-2000)}`))));
  });
}

/** rows returns the cells of every Markdown table row whose first cell starts with name, in order of appearance. */
function rows(text: string, name: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`| ${name}`))
    .map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
}

const num = (s: string | undefined): number => Number((s ?? '').replaceAll(',', ''));

async function router(tree: Tree): Promise<Figures> {
  const text = await run(tree, 'bench/router/run.js', ['--seconds', String(seconds)]);
  const hop = rows(text, 'HyperFaaS router hop')[0];
  const undici = rows(text, 'raw undici Pool hop')[0];
  if (!hop || !undici) throw new Error(`no router rows in:\n${text}`);
  return {
    'router hop req/s': num(hop[1]),
    'router hop p50 ms': num(hop[2]),
    'router hop p99 ms': num(hop[3]),
    'router hop req/s / undici hop req/s': num(hop[1]) / num(undici[1]),
    'router failed requests': num(hop[4]),
  };
}

/** server starts one of a tree's bench/router servers and returns it with its port. */
function server(tree: Tree, kind: string, upstream = ''): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolvePromise, reject) => {
    const child = fork(join(trees[tree], 'dist', 'bench', 'router', 'servers.js'), [kind, upstream], { cwd: trees[tree], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (m) => resolvePromise({ child, port: (m as { port: number }).port }));
    child.once('exit', (code) => reject(new Error(`${tree} ${kind} exited with ${code}`)));
  });
}

/** cpuSeconds is a process's own user+system CPU time, from /proc/<pid>/stat (100 ticks a second). */
const cpuSeconds = (pid: number): number => procCpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')) / 100;

async function routerCpu(tree: Tree): Promise<Figures> {
  const up = await server(tree, 'upstream');
  const router = await server(tree, 'router', `http://127.0.0.1:${up.port}`);
  try {
    const url = `http://127.0.0.1:${router.port}/function/hello`;
    await autocannon({ url, connections: 50, amount: 2000 }); // warm-up
    const c0 = cpuSeconds(router.child.pid!);
    const r = await autocannon({ url, connections: 50, amount: requests });
    const c1 = cpuSeconds(router.child.pid!);
    return { 'router process CPU µs/request': ((c1 - c0) * 1e6) / requests, 'router failed requests': r.errors + r.timeouts + r.non2xx };
  } finally {
    for (const c of [router.child, up.child]) c.kill('SIGTERM');
  }
}

async function watchdog(tree: Tree): Promise<Figures> {
  const text = await run(tree, 'bench/watchdog/run.js', ['--only', 'http', '--rounds', '1', '--seconds', String(seconds)]);
  // One section per function; the watchdog's row is its default configuration (a tree may add rows for other
  // upstream clients, named "upstream_client=node").
  const sections = text.split('### http mode').slice(1);
  if (sections.length !== 2) throw new Error(`no http mode sections in:\n${text}`);
  const f: Figures = {};
  (['trivial', '50 ms'] as const).forEach((label, i) => {
    const w = rows(sections[i]!, 'HyperFaaS watchdog, 1 hop').find((r) => !r[0]!.includes('upstream_client=node'));
    const u = rows(sections[i]!, 'undici Pool proxy, 1 hop')[0];
    if (!w || !u) throw new Error(`no watchdog rows in:\n${sections[i]}`);
    f[`watchdog ${label}: sequential p50 µs`] = num(w[1]);
    f[`watchdog ${label}: c=50 req/s`] = num(w[4]);
    f[`watchdog ${label}: c=50 req/s / undici proxy req/s`] = num(w[4]) / num(u[4]);
    f[`watchdog ${label}: hop CPU µs/request`] = num(w[7]);
  });
  return f;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (x: number): string => (Math.abs(x) >= 100 ? Math.round(x).toLocaleString('en') : x.toFixed(Math.abs(x) >= 10 ? 1 : 2));

async function main(): Promise<void> {
  const load0 = loadavg();
  const started = new Date();
  const results: Record<Tree, Figures[]> = { before: [], after: [] };
  const loads: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const order: Tree[] = r % 2 === 0 ? ['before', 'after'] : ['after', 'before'];
    const figs: Record<Tree, Figures> = { before: {}, after: {} };
    if (only === 'router-cpu') for (const t of order) Object.assign(figs[t], await routerCpu(t));
    if (only === 'all' || only === 'router') for (const t of order) Object.assign(figs[t], await router(t));
    if (only === 'all' || only === 'watchdog') for (const t of [...order].reverse()) Object.assign(figs[t], await watchdog(t));
    results.before.push(figs.before);
    results.after.push(figs.after);
    loads.push(loadavg()[0]!);
    process.stderr.write(`round ${r + 1}/${rounds} done, load ${loadavg()[0]!.toFixed(2)}\n`);
  }
  const metrics = Object.keys(results.before[0]!);
  const cpu = cpus();
  // Niceness is inherited by every process of the run; say it, since it changes how much of the host the run gets.
  const nice = Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ')[16] ?? 0);
  const harnesses = [
    ...(only === 'router-cpu' ? [`the router of \`bench/router/servers.js\` for ${requests} requests (50 connections, after 2,000 warm-up requests), its CPU time from /proc`] : []),
    ...(only === 'all' || only === 'router' ? [`\`bench/router/run.js --seconds ${seconds}\` (50 connections, 1 s warm-up)`] : []),
    ...(only === 'all' || only === 'watchdog' ? [`\`bench/watchdog/run.js --only http --rounds 1 --seconds ${seconds}\``] : []),
  ];
  const md = [
    `## Before/after run, ${started.toISOString()}`,
    '',
    `- before: \`${trees.before}\`; after: \`${trees.after}\``,
    `- machine: ${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, unpinned (load generators, proxies and upstreams share the cores)`,
    `- host load average at start ${load0.map((x) => x.toFixed(2)).join(' / ')} (1/5/15 min); 1-minute load after each round: ${loads.map((x) => x.toFixed(2)).join(', ')}. Other engineers' builds and test suites shared the machine throughout: single figures are noisy, the paired ratios less so`,
    `- command: \`${nice ? `nice -n ${nice} ` : ''}node dist/bench/structure/run.js --before ${trees.before} --after ${trees.after} --rounds ${rounds} --seconds ${seconds}${only !== 'all' ? ` --only ${only}` : ''}${only === 'router-cpu' ? ` --requests ${requests}` : ''}\`; each round runs, per tree, ${harnesses.join(' and ')}, trees in ABBA order`,
    '',
    '| metric | before (median) | after (median) | after / before (median of per-round ratios) | per-round ratios |',
    '| --- | ---: | ---: | ---: | --- |',
    ...metrics.map((m) => {
      const b = results.before.map((f) => f[m]!);
      const a = results.after.map((f) => f[m]!);
      const ratios = a.map((x, i) => (b[i] ? x / b[i]! : NaN));
      const shown = m.includes('failed') ? '–' : fmt(median(ratios.filter((x) => Number.isFinite(x))));
      return `| ${m} | ${fmt(median(b))} | ${fmt(median(a))} | ${shown} | ${m.includes('failed') ? `${b.join(', ')} / ${a.join(', ')}` : ratios.map((x) => x.toFixed(2)).join(', ')} |`;
    }),
    '',
  ].join('\n');
  if (out) appendFileSync(out, md + '\n');
  process.stdout.write(md + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`${String((e as Error)?.stack ?? e)}\n`);
  process.exitCode = 1;
});
