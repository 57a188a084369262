/**
 * cli runs one open-loop load test and writes its results:
 *
 *   node dist/bench/loadgen/cli.js --target http://127.0.0.1:8080/function/f-io --workload w1 --compress 10 \
 *     --seed 1 --slo 120 --out bench/results/w1-hyperfaas-1
 *
 * Output folder: records.ndjson (one record per scheduled request), bins.csv (1 s bins: count, ok, p50, p99, max,
 * counts by status), summary.json (RunSummary + run parameters) and latency.svg (p50/p99 over time). Loopback only.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { assertLoopbackTarget, runLoad } from './loadgen.js';
import { countHeader, summarise } from './metrics.js';
import { latencyCharts, panelsSvg } from './plot.js';
import { byName, fromInvocationTrace, workloadNames, type Schedule } from './workloads.js';

const usage = `usage: cli --target URL [--workload w1|w2|w3|w4|relief|constant] [--rate N --duration-ms N] [--trace file.csv]
  [--compress K] [--seed N] [--process poisson|uniform] [--timeout-ms 10000] [--connections 256]
  [--max-requests N] [--method GET] [--body TEXT] [--header 'k: v']... [--slo 120] [--out DIR] [--label TEXT]`;

async function main(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      target: { type: 'string' },
      workload: { type: 'string', default: 'constant' },
      rate: { type: 'string' },
      'duration-ms': { type: 'string' },
      trace: { type: 'string' },
      compress: { type: 'string', default: '1' },
      seed: { type: 'string', default: '1' },
      process: { type: 'string', default: 'poisson' },
      'timeout-ms': { type: 'string', default: '10000' },
      connections: { type: 'string', default: '256' },
      'max-requests': { type: 'string' },
      method: { type: 'string' },
      body: { type: 'string' },
      header: { type: 'string', multiple: true },
      slo: { type: 'string', default: '120' },
      out: { type: 'string' },
      label: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (v.help || !v.target) {
    process.stdout.write(usage + '\n');
    return v.help ? 0 : 2;
  }
  assertLoopbackTarget(v.target);
  const num = (name: string, s: string | undefined): number | undefined => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (!Number.isFinite(n)) throw new Error(`--${name} = "${s}": not a number`);
    return n;
  };
  const compress = num('compress', v.compress)!;
  let schedule: Schedule;
  if (v.trace) {
    schedule = fromInvocationTrace(readFileSync(v.trace, 'utf8'), { compress, maxDurationMs: num('duration-ms', v['duration-ms']) });
  } else {
    const w = v.workload as (typeof workloadNames)[number];
    if (!workloadNames.includes(w)) throw new Error(`--workload = "${v.workload}": one of ${workloadNames.join(', ')}`);
    if (v.process !== 'poisson' && v.process !== 'uniform') throw new Error(`--process = "${v.process}": poisson or uniform`);
    schedule = byName(w, { seed: num('seed', v.seed), compress, process: v.process, rate: num('rate', v.rate), durationMs: num('duration-ms', v['duration-ms']) });
  }
  const headers: Record<string, string> = {};
  for (const h of v.header ?? []) {
    const k = h.indexOf(':');
    if (k <= 0) throw new Error(`--header "${h}": expected "name: value"`);
    headers[h.slice(0, k).trim().toLowerCase()] = h.slice(k + 1).trim();
  }
  const slo = num('slo', v.slo)!;
  process.stdout.write(`loadgen: ${schedule.name}, ${schedule.sendAt.length} requests over ${(schedule.durationMs / 1000).toFixed(1)} s -> ${v.target}\n`);
  const ac = new AbortController();
  const onSig = (): void => ac.abort();
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  const r = await runLoad({
    target: v.target,
    schedule,
    method: v.method,
    body: v.body,
    headers,
    timeoutMs: num('timeout-ms', v['timeout-ms']),
    connections: num('connections', v.connections),
    maxRequests: num('max-requests', v['max-requests']),
    signal: ac.signal,
  });
  const bins = r.bins;
  const summary = summarise(r.records, slo, schedule.onsets, schedule.durationMs);
  const routes = countHeader(r.records, 'x-hyperfaas-route');
  const out = resolve(v.out ?? join('bench', 'results', `loadgen-${new Date(r.startedAt).toISOString().replace(/[:.]/g, '-')}`));
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'records.ndjson'), r.records.map((x) => JSON.stringify(x)).join('\n') + '\n');
  const codes = [...new Set(bins.flatMap((b) => Object.keys(b.byStatus)))].sort();
  const csv = [['t_s', 'count', 'ok', 'p50_ms', 'p99_ms', 'max_ms', ...codes.map((c) => `n_${c}`)].join(',')];
  for (const b of bins) csv.push([b.t / 1000, b.count, b.ok, b.p50, b.p99, b.max, ...codes.map((c) => b.byStatus[c] ?? 0)].map((x) => (typeof x === 'number' && Number.isNaN(x) ? '' : String(x))).join(','));
  writeFileSync(join(out, 'bins.csv'), csv.join('\n') + '\n');
  const meta = { label: v.label ?? '', target: r.target, schedule: r.schedule, startedAt: new Date(r.startedAt).toISOString(), elapsedMs: r.elapsedMs, sloMs: slo, truncated: r.truncated, maxSendLagMs: r.maxSendLagMs, lateSends: r.lateSends, onsetsMs: schedule.onsets, routes };
  writeFileSync(join(out, 'summary.json'), JSON.stringify({ ...meta, ...summary }, null, 2) + '\n');
  writeFileSync(join(out, 'latency.svg'), panelsSvg(latencyCharts([{ name: v.label ?? schedule.name, bins }], { sloMs: slo })));
  process.stdout.write(
    `loadgen: ${summary.requests} requests, p50 ${summary.p50.toFixed(1)} ms, p99 ${summary.p99.toFixed(1)} ms, ` +
      `ok ${(summary.failures.successRatio * 100).toFixed(2)} %, failures ${JSON.stringify(summary.failures.byCode)}, ` +
      `SLO-violation ${summary.slo.seconds} s, recover ${JSON.stringify(summary.recoverMs)} ms, send lag max ${r.maxSendLagMs.toFixed(1)} ms\n` +
      `loadgen: results in ${out}\n`,
  );
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`loadgen: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
