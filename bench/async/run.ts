import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { cpus, loadavg, totalmem, type } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import express from 'express';
import { Registry } from 'prom-client';
import { Pool } from 'undici';
import { createAsync, HttpInvoker, readAsyncConfig } from '../../src/async/index.js';
import { silentLogger } from '../../src/logger.js';
import { connectNats } from '../../src/messaging/nats.js';
import { repoRoot } from '../../src/paths.js';
import { natsServerBinary, startNatsServer } from '../../test/support/nats-server.js';

// Async benchmark: how fast /async-function/ accepts (202 after the JetStream publish ack) and how fast the queue
// worker drains the stream into a trivial local upstream and POSTs the callbacks. Bounded: N requests per round.
// Usage: node .build/<dir>/bench/async/run.js [N=5000] [connections=32] [concurrencies=4,32]
const N = Number(process.argv[2] ?? 5000);
const CONNECTIONS = Number(process.argv[3] ?? 32);
const CONCURRENCIES = (process.argv[4] ?? '4,32').split(',').map(Number);
const BODY = 'x'.repeat(256);

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const nats = await startNatsServer();
const upstream = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok'));
});
const upstreamPort = await listen(upstream);
let callbacks = 0;
const sink = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    callbacks++;
    res.writeHead(200).end();
  });
});
const sinkPort = await listen(sink);
const nc = await connectNats(nats.url, silentLogger(), 'bench-async');

interface Round {
  concurrency: number;
  acceptSeconds: number;
  acceptRate: number;
  p50: number;
  p99: number;
  non202: number;
  drainSeconds: number;
  drainRate: number;
}
const rounds: Round[] = [];

for (const concurrency of CONCURRENCIES) {
  const service = await createAsync({
    nc,
    invoker: new HttpInvoker((_ns, name) => (name === 'noop' ? `http://127.0.0.1:${upstreamPort}` : undefined)),
    functionExists: async (ns, name) => ns === 'openfaas-fn' && name === 'noop',
    defaultNamespace: 'openfaas-fn',
    logger: silentLogger(),
    registry: new Registry(),
    config: readAsyncConfig({ async_concurrency: String(concurrency) }),
  });
  const app = express();
  app.all('/async-function/:name', service.handler);
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as { port: number }).port;
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONNECTIONS, pipelining: 1 });

  // Accept phase: worker stopped, so the stream only fills.
  const lat: number[] = [];
  let non202 = 0;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < N) {
        next++;
        const s = performance.now();
        const r = await pool.request({
          path: '/async-function/noop',
          method: 'POST',
          body: BODY,
          headers: { 'content-type': 'text/plain', 'x-callback-url': `http://127.0.0.1:${sinkPort}/cb` },
        });
        await r.body.dump();
        lat.push(performance.now() - s);
        if (r.statusCode !== 202) non202++;
      }
    }),
  );
  const acceptSeconds = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);

  // Drain phase: start the worker and wait for every callback.
  callbacks = 0;
  const t1 = performance.now();
  await service.startWorker();
  const accepted = N - non202;
  const deadline = Date.now() + 600_000;
  while (callbacks < accepted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const drainSeconds = (performance.now() - t1) / 1000;
  await service.close();
  await pool.close();
  server.close();
  rounds.push({
    concurrency,
    acceptSeconds,
    acceptRate: N / acceptSeconds,
    p50: pct(lat, 50),
    p99: pct(lat, 99),
    non202,
    drainSeconds,
    drainRate: callbacks / drainSeconds,
  });
  console.log(JSON.stringify(rounds.at(-1)));
}

await nc.close();
upstream.close();
sink.close();
await nats.dispose();

const natsVersion = execFileSync(natsServerBinary(), ['--version']).toString().trim();
const cpu = cpus();
const lines = [
  '# Async benchmark (/async-function over NATS JetStream)',
  '',
  `- date: ${new Date().toISOString()}`,
  `- machine: ${type()} ${process.arch}, ${cpu.length} x ${cpu[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
  `- load average when the run ended (other work on the machine skews results): ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
  `- software: Node ${process.version}, ${natsVersion} (file storage, one server on 127.0.0.1), @nats-io/jetstream 3.3.1`,
  `- command: \`npx tsc -b && npx tsc -p tsconfig.json --outDir .build/async && node .build/async/bench/async/run.js ${N} ${CONNECTIONS} ${CONCURRENCIES.join(',')}\``,
  `- setup: one process runs the express app with the AsyncService handler, the queue worker, a trivial upstream (200 "ok")`,
  `  and the callback sink; ${N} POSTs of ${BODY.length} bytes per round over ${CONNECTIONS} keep-alive connections.`,
  '  Accept phase: worker stopped, every 202 waits for the JetStream publish ack (stored on disk).',
  '  Drain phase: worker started with the given concurrency; ends when every callback arrived.',
  '',
  '| worker concurrency | accepted/s | 202 latency p50 / p99 (ms) | non-202 | drain: invocations+callbacks/s | drain time (s) |',
  '| --- | --- | --- | --- | --- | --- |',
  ...rounds.map(
    (r) =>
      `| ${r.concurrency} | ${r.acceptRate.toFixed(0)} | ${r.p50.toFixed(2)} / ${r.p99.toFixed(2)} | ${r.non202} | ${r.drainRate.toFixed(0)} | ${r.drainSeconds.toFixed(2)} |`,
  ),
  '',
  'Reading: every 202 waits for one JetStream publish round trip; draining is one pull, one invocation, one callback',
  'and one confirmed ack per message per worker loop, so it grows with async_concurrency until the CPU is the limit.',
  'Load generator, provider, upstream and sink share one Node process here, and a CPU profile of the accept phase',
  '(node --cpu-prof) showed it about 70 % busy: socket writes, the NATS client creating an error object per request',
  '(for its stack), express routing and JSON encoding. Compare runs only at a similar load average.',
  '',
];
mkdirSync(join(repoRoot, 'bench', 'results'), { recursive: true });
writeFileSync(join(repoRoot, 'bench', 'results', 'async.md'), lines.join('\n'));
console.log(lines.join('\n'));
