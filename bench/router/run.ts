/**
 * bench/router/run: what one hop through our invoke router costs, measured in one run beside calling the function
 * directly, an http-proxy hop and a bare undici hop . Each target gets a 1 s warm-up and a
 * bounded autocannon run (default 5 s, 50 connections) against 127.0.0.1 only; every process started is ended by pid.
 * Usage: node <outDir>/bench/router/run.js [--seconds 5] [--connections 50] [--out bench/results/router.md]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number; average: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
type Autocannon = (o: { url: string; connections: number; duration: number; pipelining?: number }) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const arg = (name: string, dflt: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
};
const seconds = Number(arg('--seconds', '5'));
const connections = Number(arg('--connections', '50'));
const out = arg('--out', '');
const children: ChildProcess[] = [];

function start(kind: string, upstream = ''): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = fork(join(here, 'servers.js'), [kind, upstream], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`${kind} exited with ${code}`)));
  });
}

function stopAll(): void {
  for (const c of children) if (c.pid !== undefined && c.exitCode === null) c.kill('SIGTERM');
}

async function measure(url: string): Promise<AutocannonResult> {
  await autocannon({ url, connections, duration: 1 });
  return autocannon({ url, connections, duration: seconds });
}

async function main(): Promise<void> {
  const up = await start('upstream');
  const upstream = `http://127.0.0.1:${up}`;
  const targets: [string, string][] = [
    ['direct (no hop)', `${upstream}/`],
    ['HyperFaaS router hop (/function/hello)', `http://127.0.0.1:${await start('router', upstream)}/function/hello`],
    ['http-proxy hop (keep-alive agent)', `http://127.0.0.1:${await start('http-proxy', upstream)}/`],
    ['raw undici Pool hop', `http://127.0.0.1:${await start('undici', upstream)}/`],
  ];
  const loadBefore = loadavg()[0]!.toFixed(2);
  const rows: string[] = [];
  for (const [name, url] of targets) {
    const r = await measure(url);
    const failed = r.errors + r.timeouts + r.non2xx;
    rows.push(
      `| ${name} | ${Math.round(r.requests.average).toLocaleString('en')} | ${r.latency.p50} | ${r.latency.p99} | ${failed} |`,
);
    process.stderr.write(`${name}: ${Math.round(r.requests.average)} req/s\n`);
  }
  const cpu = cpus();
  const md = [
    '# Router hop overhead',
    '',
    `- date: ${new Date().toISOString()}`,
    `- machine: ${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}; 1-minute load average ${loadBefore} before the run (other work shared the machine)`,
    `- command: \`node <outDir>/bench/router/run.js --seconds ${seconds} --connections ${connections}\` (autocannon, ${connections} connections, 1 s warm-up then ${seconds} s per row, one run each, unpinned: load generator, proxy and upstream share the cores)`,
    '- function: a node http server answering 200 "ok"; every proxy runs in its own process; loopback only',
    '',
    '| path | req/s | p50 ms | p99 ms | failed |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
    'One run per row on a shared machine: treat differences under about 10 % as noise.',
    '',
  ].join('\n');
  if (out) writeFileSync(out, md);
  process.stdout.write(md);
}

main()
  .catch((e: unknown) => {
    process.stderr.write(`${String((e as Error)?.stack ?? e)}\n`);
    process.exitCode = 1;
  })
  .finally(stopAll);
