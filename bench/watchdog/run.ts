/**
 * bench/watchdog/run: what one watchdog hop costs (http mode, trivial and 50 ms functions) next to calling the
 * function directly and next to a minimal undici proxy; fork mode with fprocess=cat; and guest-slot specialisation to
 * first response next to starting a new runtime process, for the Node and the Python runtime. Every run is bounded in
 * time and count and sends traffic to 127.0.0.1 only; every process it starts is ended by its pid. Writes Markdown to
 * stdout, or to the file named by --out. Usage: node dist/bench/watchdog/run.js [--out bench/results/watchdog.md]
 * [--seconds 10] [--rounds 3] [--only http|fork|fork-provider|spec] [--spec-n 20 (specialisations per runtime)]
 * [--before <another build's compiled watchdog main.js>] [--of-watchdog <Go binary>]
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Provider } from '../hierarchical/harness.js';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { watchdogMain } from '../../src/paths.js';

interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (o: { url: string; connections: number; duration: number; method?: string; body?: string }) => Promise<AutocannonResult>;

const here = dirname(fileURLToPath(import.meta.url));
function findRepo(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const p = join(dir, 'package.json');
    if (existsSync(p) && (JSON.parse(readFileSync(p, 'utf8')) as { name?: string }).name === 'hyperfaas') return dir;
    if (dirname(dir) === dir) throw new Error('repository root not found');
  }
}
const repo = findRepo(here);
const benchDir = join(repo, 'bench', 'watchdog');
const runtime = join(repo, 'watchdog', 'runtime', 'node', 'server.js');
const pyRuntime = join(repo, 'watchdog', 'runtime', 'python', 'server.py');
const fnDir = join(repo, 'watchdog', 'test', 'fixtures', 'fn-hello');

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const seconds = Number(arg('--seconds', '10'));
const out = arg('--out', '');
const reps = Number(arg('--rounds', '3'));
const specN = Number(arg('--spec-n', '20'));

const children: ChildProcess[] = [];
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

function track<T extends ChildProcess>(c: T): T {
  children.push(c);
  return c;
}

async function stop(c: ChildProcess | undefined): Promise<void> {
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise((r) => c.once('exit', r));
  try {
    process.kill(-c.pid!, 'SIGKILL'); // its own process group: the watchdog and the workers it forked
  } catch {
    c.kill('SIGKILL');
  }
  await gone;
}

const probeAgent = new Agent({ keepAlive: true, maxSockets: 1 });
async function waitOk(url: string, headers: Record<string, string> = {}, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = request(url, { headers, agent: probeAgent }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.end();
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`no 200 from ${url}`);
    await sleep(1);
  }
}

function startUpstream(port: number, delayMs: number): ChildProcess {
  return track(spawn(process.execPath, [join(benchDir, 'upstream.mjs')], { env: { ...process.env, http_port: String(port), DELAY_MS: String(delayMs) }, stdio: 'ignore', detached: true }));
}

async function startWatchdog(env: Record<string, string>, main = watchdogMain): Promise<{ proc: ChildProcess; url: string }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'wd-bench-'));
  const proc = track(
    spawn(process.execPath, [main], {
      env: { PATH: process.env.PATH ?? '', port: String(port), metrics_port: String(await freePort()), lock_file: join(dir, '.lock'), bind_address: '127.0.0.1', prefix_logs: 'false', healthcheck_interval: '0', ...env },
      stdio: 'ignore',
      detached: true,
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  await waitOk(`${url}/_/health`);
  return { proc, url };
}

async function startUndiciProxy(target: string): Promise<{ proc: ChildProcess; url: string }> {
  const port = await freePort();
  const proc = track(fork(join(benchDir, 'undici-proxy.mjs'), [], { env: { ...process.env, PORT: String(port), TARGET: target }, stdio: 'ignore', detached: true }));
  await new Promise((r) => proc.once('message', r));
  return { proc, url: `http://127.0.0.1:${port}` };
}

/** sequential latency: one keep-alive connection, n requests one after another; microseconds. */
async function seqLatency(url: string, n: number, headers: Record<string, string> = {}): Promise<{ p50: number; p90: number; p99: number; all: number[] }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const one = () =>
    new Promise<number>((resolve, reject) => {
      const t0 = process.hrtime.bigint();
      const req = request(url, { agent, headers }, (res) => {
        res.resume();
        res.on('end', () => resolve(Number(process.hrtime.bigint() - t0) / 1000));
      });
      req.on('error', reject);
      req.end();
    });
  for (let i = 0; i < Math.min(100, n); i++) await one(); // warm-up
  const xs: number[] = [];
  for (let i = 0; i < n; i++) xs.push(await one());
  agent.destroy();
  xs.sort((a, b) => a - b);
  const q = (p: number) => Math.round(xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]!);
  return { p50: q(0.5), p90: q(0.9), p99: q(0.99), all: xs };
}

interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function load(url: string, connections: number, duration: number, method = 'GET', body?: string): Promise<Load> {
  await autocannon({ url, connections, duration: 1, method, body }); // warm-up
  const r = await autocannon({ url, connections, duration, method, body });
  return { rps: Math.round(r.requests.average), p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx };
}

const lines: string[] = [];
const say = (s = '') => {
  lines.push(s);
  console.error(s);
};

/** cpuSeconds is a process's own user+system CPU time (not its children's), from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

/** helperPids are a watchdog's spawn helpers (hf-spawn children), whose CPU counts as the watchdog's own. */
function helperPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((x) => x !== '' && readFileSync(`/proc/${x}/comm`, 'utf8').trim() === 'hf-spawn')
      .map(Number);
  } catch {
    return [];
  }
}

/** serverCpuSeconds is cpuSeconds of pid and of its spawn helpers. */
function serverCpuSeconds(pid: number, helpers: number[]): number {
  return cpuSeconds(pid) + helpers.reduce((s, h) => s + cpuSeconds(h), 0);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

async function httpMode(label: string, delayMs: number, reps: number): Promise<void> {
  const direct = await freePort();
  const up = startUpstream(direct, delayMs);
  await waitOk(`http://127.0.0.1:${direct}/`);
  const wdPort = await freePort();
  const wd = await startWatchdog({ mode: 'http', fprocess: `${process.execPath} ${join(benchDir, 'upstream.mjs')}`, upstream_url: `http://127.0.0.1:${wdPort}`, DELAY_MS: String(delayMs) });
  await waitOk(`${wd.url}/`);
  const px = await startUndiciProxy(`http://127.0.0.1:${direct}`);
  await waitOk(`${px.url}/`);
  const arms: { name: string; url: string; pid?: number }[] = [
    { name: 'direct (function upstream)', url: `http://127.0.0.1:${direct}/` },
    { name: 'HyperFaaS watchdog, 1 hop', url: `${wd.url}/`, pid: wd.proc.pid },
    { name: 'undici Pool proxy, 1 hop', url: `${px.url}/`, pid: px.proc.pid },
  ];
  const n = delayMs > 0 ? 100 : 1000;
  const dur = delayMs > 0 ? Math.min(seconds, 5) : seconds;
  const lat = arms.map(() => [] as number[]);
  const loads = arms.map(() => [] as (Load & { cpuUs: number })[]);
  // Arms take turns, rep after rep, so drift in the host's load hits them alike.
  for (let r = 0; r < reps; r++) {
    for (let i = 0; i < arms.length; i++) {
      lat[i]!.push(...(await seqLatency(arms[i]!.url, n)).all);
      const pid = arms[i]!.pid;
      const c0 = pid ? cpuSeconds(pid) : 0;
      const l = await load(arms[i]!.url, 50, dur);
      const c1 = pid ? cpuSeconds(pid) : 0;
      loads[i]!.push({ ...l, cpuUs: pid ? ((c1 - c0) * 1e6) / Math.max(1, l.rps * dur) : 0 });
    }
  }
  const q = (xs: number[], p: number) => Math.round([...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!);
  say(`### http mode, ${label}`);
  say();
  say(`${reps} rounds; in each, every path gets ${n} sequential requests and then ${dur} s of autocannon at 50 connections. Latency percentiles pool the rounds; load figures are the median round.`);
  say();
  say(`| path | sequential p50 µs | p90 µs | p99 µs | c=50 req/s | c=50 p50 ms | c=50 p99 ms | hop CPU µs/request | errors / non-2xx |`);
  say(`| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`);
  const summary = arms.map((a, i) => {
    const ls = loads[i]!;
    const row = {
      p50: q(lat[i]!, 0.5),
      p90: q(lat[i]!, 0.9),
      p99: q(lat[i]!, 0.99),
      rps: median(ls.map((l) => l.rps)),
      lp50: median(ls.map((l) => l.p50)),
      lp99: median(ls.map((l) => l.p99)),
      cpu: median(ls.map((l) => l.cpuUs)),
      errors: ls.reduce((s, l) => s + l.errors, 0),
      non2xx: ls.reduce((s, l) => s + l.non2xx, 0),
    };
    say(`| ${a.name} | ${row.p50} | ${row.p90} | ${row.p99} | ${row.rps} | ${row.lp50} | ${row.lp99} | ${a.pid ? row.cpu.toFixed(1) : '–'} | ${row.errors} / ${row.non2xx} |`);
    return row;
  });
  const [d, w, u] = summary as [typeof summary[0], typeof summary[0], typeof summary[0]];
  say();
  say(
    `Watchdog hop: +${((w.p50 - d.p50) / 1000).toFixed(3)} ms p50 over direct (undici proxy: +${((u.p50 - d.p50) / 1000).toFixed(3)} ms); ` +
      `throughput ${(w.rps / u.rps).toFixed(2)}x the undici proxy; CPU per request ${(w.cpu / u.cpu).toFixed(2)}x the undici proxy's.`,
  );
  say();
  for (const p of [px.proc, wd.proc, up]) await stop(p);
}

/** ForkArm is one server in the fork comparison; pid is the process whose own CPU time is counted. */
interface ForkArm {
  name: string;
  url: string;
  pid: number;
}

async function startBareSpawn(): Promise<ForkArm> {
  const port = await freePort();
  const proc = track(fork(join(benchDir, 'bare-spawn.mjs'), [], { env: { PATH: process.env.PATH ?? '', PORT: String(port), FPROCESS: 'cat' }, stdio: 'ignore', detached: true }));
  await new Promise((r) => proc.once('message', r));
  return { name: 'Node bare spawn-per-request server (the floor Node sets)', url: `http://127.0.0.1:${port}/`, pid: proc.pid! };
}

/** startGoWatchdog runs a Go of-watchdog binary (--of-watchdog) in a forking mode, with stdout and stderr dropped. */
async function startGoWatchdog(bin: string, mode: string): Promise<ForkArm> {
  const port = await freePort();
  const proc = track(
    spawn(bin, [], {
      env: { PATH: process.env.PATH ?? '', port: String(port), metrics_port: String(await freePort()), mode, fprocess: 'cat', TMPDIR: mkdtempSync(join(tmpdir(), 'ofwd-bench-')) },
      stdio: 'ignore',
      detached: true,
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  await waitOk(`${url}/_/health`);
  return { name: `Go of-watchdog, ${mode}`, url: `${url}/`, pid: proc.pid! };
}

/**
 * forkMode compares a process per request (fprocess=cat, c=10, a 5-byte POST body): the bare Node spawn server, this
 * watchdog, the watchdog of --before (another build's main.js, e.g. the previous commit's) and a Go of-watchdog binary
 * (--of-watchdog), when given. Arms take turns round after round; CPU per request is the server process's own
 * user+system time (not its children's) over the requests it answered.
 */
async function forkMode(reps: number): Promise<void> {
  const before = arg('--before', '');
  const goBin = arg('--of-watchdog', '');
  const dur = Math.min(seconds, 5);
  const env = { fprocess: 'cat', guest_slot: 'false' };
  const arms: ForkArm[] = [await startBareSpawn()];
  for (const mode of ['streaming', 'serializing']) {
    const wd = await startWatchdog({ mode, ...env });
    arms.push({ name: `HyperFaaS watchdog, ${mode}`, url: `${wd.url}/`, pid: wd.proc.pid! });
    if (mode === 'streaming') {
      const plain = await startWatchdog({ mode, ...env, hyperfaas_spawner: 'node' });
      arms.push({ name: `HyperFaaS watchdog, ${mode}, hyperfaas_spawner=node (Node's spawn)`, url: `${plain.url}/`, pid: plain.proc.pid! });
    }
    if (before) {
      const old = await startWatchdog({ mode, ...env }, before);
      arms.push({ name: `HyperFaaS watchdog, ${mode}, before (--before)`, url: `${old.url}/`, pid: old.proc.pid! });
    }
    if (goBin) arms.push(await startGoWatchdog(goBin, mode));
  }
  const loads = arms.map(() => [] as (Load & { cpuUs: number })[]);
  const seq = arms.map(() => [] as number[]);
  for (let r = 0; r < reps; r++) {
    for (let i = 0; i < arms.length; i++) {
      const a = arms[i]!;
      seq[i]!.push(...(await seqLatency(a.url, 200)).all);
      const helpers = helperPids(a.pid);
      const c0 = serverCpuSeconds(a.pid, helpers);
      const l = await load(a.url, 10, dur, 'POST', 'hello');
      const c1 = serverCpuSeconds(a.pid, helpers);
      loads[i]!.push({ ...l, cpuUs: ((c1 - c0) * 1e6) / Math.max(1, l.rps * dur) });
    }
  }
  const rows = arms.map((a, i) => ({
    name: a.name,
    rps: median(loads[i]!.map((l) => l.rps)),
    p50: median(loads[i]!.map((l) => l.p50)),
    p99: median(loads[i]!.map((l) => l.p99)),
    cpu: median(loads[i]!.map((l) => l.cpuUs)),
    seq: Math.round(median(seq[i]!)),
    errors: loads[i]!.reduce((s, l) => s + l.errors, 0),
    non2xx: loads[i]!.reduce((s, l) => s + l.non2xx, 0),
  }));
  say('### fork modes, fprocess=cat (a process per request)');
  say();
  say(
    `${reps} rounds; in each, every server gets 200 sequential requests and then ${dur} s of autocannon at 10 connections (POST "hello"), taking turns. ` +
      'Load figures are the median round; CPU per request is the server process\'s own user+system time (/proc/<pid>/stat) plus its spawn helper\'s (hf-spawn), not cat\'s.',
  );
  say();
  say('| server | c=10 req/s | c=10 p50 ms | c=10 p99 ms | sequential p50 µs | server CPU µs/request | errors / non-2xx |');
  say('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) say(`| ${r.name} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.seq} | ${r.cpu.toFixed(0)} | ${r.errors} / ${r.non2xx} |`);
  say();
  const bare = rows[0]!;
  const ratios = rows.slice(1).map((r) => `${r.name}: ${(r.rps / bare.rps).toFixed(2)}x the bare server's req/s, ${(r.cpu / bare.cpu).toFixed(2)}x its CPU per request`);
  for (const x of ratios) say(`- ${x}`);
  say();
}

/** watchdogOf finds the watchdog process of a provider-started function (its environment names the function). */
function watchdogOf(fn: string): { pid: number; port: number } | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (!readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('watchdog/src/main.js')) continue;
      const env = readFileSync(`/proc/${d}/environ`, 'utf8').split('\0');
      if (!env.includes(`HYPERFAAS_FUNCTION=${fn}`)) continue;
      const port = Number(env.find((e) => e.startsWith('port='))?.slice(5));
      return { pid: Number(d), port };
    } catch {
      /* gone, or not ours to read */
    }
  }
  return undefined;
}

/**
 * forkViaProvider measures the same streaming cat function through the provider (provider -> watchdog -> cat) and
 * straight at its watchdog, with the spawn helper and with Node's spawn, one instance each, in one run.
 */
async function forkViaProvider(reps: number): Promise<void> {
  const dur = Math.min(seconds, 5);
  const images = mkdtempSync(join(tmpdir(), 'fork-bench-images-'));
  const dir = join(images, 'bench', 'cat');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nENV fprocess="cat"\nENV mode="streaming"\n');
  const provider = await Provider.start({ env: { HYPERFAAS_DEFAULT_POLICY: 'none', HYPERFAAS_IMAGE_PATH: images, LOG_LEVEL: 'warn' } });
  try {
    const labels = { 'com.hyperfaas.policy': 'none' };
    await provider.deploy({ service: 'cat-helper', image: 'bench/cat:latest', labels, envVars: { guest_slot: 'false' } });
    await provider.deploy({ service: 'cat-node', image: 'bench/cat:latest', labels, envVars: { guest_slot: 'false', hyperfaas_spawner: 'node' } });
    await provider.waitAvailable('cat-helper', 1);
    await provider.waitAvailable('cat-node', 1);
    const arms: { name: string; url: string; pids: number[] }[] = [];
    for (const [fn, label] of [
      ['cat-helper', 'spawn helper'],
      ['cat-node', "Node's spawn"],
    ] as const) {
      const wd = watchdogOf(fn);
      if (!wd) throw new Error(`no watchdog process found for ${fn}`);
      arms.push({ name: `provider -> watchdog (${label})`, url: `${provider.base}/function/${fn}`, pids: [provider.pid!, wd.pid] });
      arms.push({ name: `straight at the watchdog (${label})`, url: `http://127.0.0.1:${wd.port}/`, pids: [wd.pid] });
    }
    const loads = arms.map(() => [] as (Load & { cpuUs: number[] })[]);
    for (let r = 0; r < reps; r++) {
      for (let i = 0; i < arms.length; i++) {
        const a = arms[i]!;
        const helpers = a.pids.map((p) => helperPids(p));
        const c0 = a.pids.map((p, j) => serverCpuSeconds(p, helpers[j]!));
        const l = await load(a.url, 10, dur, 'POST', 'hello');
        const c1 = a.pids.map((p, j) => serverCpuSeconds(p, helpers[j]!));
        loads[i]!.push({ ...l, cpuUs: c1.map((c, j) => ((c - c0[j]!) * 1e6) / Math.max(1, l.rps * dur)) });
      }
    }
    say('### fork mode through the provider (streaming, fprocess=cat, one instance)');
    say();
    say(
      `Provider process (local backend, HYPERFAAS_ISOLATION=none, no NATS) with one instance of each function; ${reps} rounds of ${dur} s of autocannon at 10 connections (POST "hello") per path, taking turns; median round. ` +
        'CPU per request: the provider\'s and the watchdog\'s (with its spawn helper) own user+system time.',
    );
    say();
    say('| path | c=10 req/s | c=10 p50 ms | c=10 p99 ms | provider CPU µs/request | watchdog CPU µs/request | errors / non-2xx |');
    say('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    arms.forEach((a, i) => {
      const ls = loads[i]!;
      const cpu = (j: number) => median(ls.map((l) => l.cpuUs[j]!)).toFixed(0);
      const viaProvider = a.pids.length === 2;
      say(
        `| ${a.name} | ${median(ls.map((l) => l.rps))} | ${median(ls.map((l) => l.p50))} | ${median(ls.map((l) => l.p99))} | ${viaProvider ? cpu(0) : '–'} | ${viaProvider ? cpu(1) : cpu(0)} | ${ls.reduce((s, l) => s + l.errors, 0)} / ${ls.reduce((s, l) => s + l.non2xx, 0)} |`,
      );
    });
    say();
  } finally {
    const code = await provider.stop();
    if (code !== 0) console.error(`provider exited ${code}\n${provider.output}`);
  }
}

const controlAgent = new Agent({ keepAlive: true, maxSockets: 1 });
/** benchControlToken is the control token the specialisation bench's watchdog is started with. */
const benchControlToken = 'bench-control-token';
function control(url: string, body: unknown): Promise<{ ok: boolean; error?: string; ms?: number }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/_/hyperfaas/control`, { method: 'POST', agent: controlAgent, headers: { 'x-hyperfaas-token': benchControlToken } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve(JSON.parse(text) as { ok: boolean; error?: string; ms?: number }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** SpecRuntime is one runtime whose guest slot the specialisation bench measures. */
interface SpecRuntime {
  label: string;
  /** env makes the watchdog's guest slot this runtime. */
  env: Record<string, string>;
  /** fn is the function directory specialised into the slot (a prepared copy: Python's with its bytecode). */
  fn: string;
  /** cold is the command that serves fn as a new process (a new instance's worker). */
  cold: string[];
  wd?: { proc: ChildProcess; url: string };
  warm: number[];
  ipc: number[];
  replied: number[];
  coldMs: number[];
}

/** pythonFunction copies the py-echo example and compiles it as the local backend prepares a Python function. */
function pythonFunction(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'wd-bench-py-')), 'py-echo');
  cpSync(join(repo, 'stack-templates', 'examples', 'build', 'py-echo'), dir, { recursive: true });
  execFileSync('python3', ['-m', 'compileall', '-q', dir]);
  return dir;
}

async function specialiseOnce(r: SpecRuntime): Promise<void> {
  const wd = r.wd!;
  for (let t = 0; t < 200; t++) {
    const s = (await (await fetch(`${wd.url}/_/hyperfaas/status`)).json()) as { slots: { state: string }[] };
    if (s.slots[1]!.state === 'generic') break;
    await sleep(10);
  }
  await sleep(50); // let the fresh generic runtime settle
  const t0 = performance.now();
  const rep = await control(wd.url, { op: 'specialise', function: 'hello.openfaas-fn', code: { kind: 'dir', path: r.fn } });
  if (!rep.ok) throw new Error(`${r.label}: specialise failed: ${rep.error}`);
  const t1 = performance.now();
  await waitOk(`${wd.url}/`, { 'x-hyperfaas-function': 'hello.openfaas-fn' });
  r.warm.push(performance.now() - t0);
  r.ipc.push(rep.ms ?? 0);
  r.replied.push(t1 - t0);
  await control(wd.url, { op: 'release' });
}

async function coldOnce(r: SpecRuntime): Promise<void> {
  const port = await freePort();
  const t0 = performance.now();
  const c = track(spawn(r.cold[0]!, [...r.cold.slice(1), r.fn], { env: { ...process.env, http_port: String(port) }, stdio: 'ignore', detached: true }));
  await waitOk(`http://127.0.0.1:${port}/`);
  r.coldMs.push(performance.now() - t0);
  await stop(c);
}

/**
 * specialisation measures control "specialise" -> first 200 through a guest slot, for the Node and the Python
 * runtime in the same run with their rounds interleaved (so both see the same host load), next to starting a new
 * worker process of each.
 */
async function specialisation(n: number): Promise<void> {
  const rts: SpecRuntime[] = [
    { label: 'Node', env: {}, fn: fnDir, cold: [process.execPath, runtime], warm: [], ipc: [], replied: [], coldMs: [] },
    { label: 'Python', env: { HYPERFAAS_RUNTIME: 'python' }, fn: pythonFunction(), cold: ['python3', pyRuntime], warm: [], ipc: [], replied: [], coldMs: [] },
  ];
  for (const r of rts) {
    const wdPort = await freePort();
    r.wd = await startWatchdog({ mode: 'http', fprocess: `${process.execPath} ${join(benchDir, 'upstream.mjs')}`, upstream_url: `http://127.0.0.1:${wdPort}`, HYPERFAAS_FUNCTION: 'bench', HYPERFAAS_CONTROL_TOKEN: benchControlToken, ...r.env });
  }
  for (let i = 0; i < n; i++) for (const r of rts) await specialiseOnce(r);
  for (const r of rts) await stop(r.wd!.proc);
  for (let i = 0; i < n; i++) for (const r of rts) await coldOnce(r);
  const q = (xs: number[], p: number) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  };
  const row = (what: string, pick: (r: SpecRuntime) => number[]) => {
    const [node, py] = rts.map(pick) as [number[], number[]];
    const cells = [node, py].map((xs) => `${q(xs, 0.5).toFixed(1)} / ${q(xs, 0).toFixed(1)} / ${q(xs, 0.9).toFixed(1)}`);
    say(`| ${what} | ${cells[0]} | ${cells[1]} | ${(q(py, 0.5) / q(node, 0.5)).toFixed(2)}x |`);
  };
  say(`### guest-slot specialisation vs a new runtime process, Node and Python (n=${n} each, rounds interleaved)`);
  say();
  say('Node specialises with `watchdog/test/fixtures/fn-hello`; Python with the py-echo example, compiled to bytecode as the local backend prepares it.');
  say();
  say('| operation | Node p50 / min / p90 ms | Python p50 / min / p90 ms | Python / Node (p50) |');
  say('| --- | ---: | ---: | ---: |');
  row('control "specialise" -> first 200 through the watchdog (guest slot)', (r) => r.warm);
  row('control "specialise" -> its reply (HTTP to the watchdog, IPC to the runtime and back)', (r) => r.replied);
  row("of which the watchdog's specialise (IPC, import handler, swap handler; its own clock)", (r) => r.ipc);
  row('a new worker process (`node server.js <fn>` / `python3 server.py <fn>`) -> first 200 (cold)', (r) => r.coldMs);
  say();
}

async function main(): Promise<void> {
  const started = new Date();
  const only = arg('--only', 'all');
  say('# Watchdog benchmarks');
  say();
  say(`- date: ${started.toISOString()}`);
  say(`- machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, unpinned (load generator on the same cores)`);
  const nice = (() => {
    try {
      return Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')[16]);
    } catch {
      return 0;
    }
  })();
  say(`- command: \`npx tsc -b && bash scripts/build-native.sh && ${nice ? `nice -n ${nice} ` : ''}node dist/bench/watchdog/run.js ${args.join(' ')}\`${nice ? ' (every process of the run inherits that niceness, to keep other work on the host from dominating)' : ''}`);
  say(`- host load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' / ')} (1/5/15 min; other work shares these 2 cores, so treat single runs as noisy)`);
  say(`- load: autocannon (in process), keep-alive; sequential latency: one keep-alive connection after 100 warm-up requests; hop CPU: the proxy process's own user+system time (/proc/<pid>/stat) over the requests it served`);
  say();
  if (only === 'all' || only === 'http') {
    await httpMode('trivial function', 0, reps);
    await httpMode('50 ms function', 50, reps);
  }
  if (only === 'all' || only === 'fork') await forkMode(reps);
  if (only === 'all' || only === 'fork' || only === 'fork-provider') await forkViaProvider(reps);
  if (only === 'all' || only === 'spec') await specialisation(specN);
  if (out) writeFileSync(join(repo, out), lines.join('\n') + '\n');
}

main()
  .catch((err: Error) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const c of children) await stop(c);
    probeAgent.destroy();
    controlAgent.destroy();
  });
