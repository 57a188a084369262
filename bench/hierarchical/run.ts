/**
 * Hierarchical scheduling benchmark: one step burst (open loop, bounded, loopback) against two arms, one after the
 * other in one run, on the same box with the same function, replicas and schedule:
 *  (a) plain: the provider without NATS, instances with of-watchdog-style overflow (hyperfaas_overflow=429), so a
 *      full instance refuses at once and the router offers the request elsewhere (its retries as they are: up to
 *      3 instances), then the client gets the 429;
 *  (b) hierarchical: the provider with NATS, instances with the default overflow=queue: over the high watermark the
 *      ICS bounces to the GS (at most hyperfaas_max_bounces times), then parks the request until a slot frees.
 *  (c) optional ablation: b without bounce (hyperfaas_max_bounces=0), the ICS only queues.
 * Scaling is off in every arm (com.hyperfaas.policy=none): this measures the request path, not the autoscaler.
 * Writes bench/results/hierarchical.md and the SVG plots beside it.
 *
 * Usage: node .build/<dir>/bench/hierarchical/run.js [--arms a,b,c] [--replicas 4] [--base 40] [--bursts 240,400] [--base-ms 6000]
 *          [--burst-ms 8000] [--tail-ms 14000] [--seed 1] [--out bench/results]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem, type } from 'node:os';
import { join } from 'node:path';
import { runLoad, type LoadResult } from '../loadgen/loadgen.js';
import { countHeader, failures, summarise, quantile, latencyOf, type RunSummary } from '../loadgen/metrics.js';
import { latencyCharts, panelsSvg, palette, type Chart } from '../loadgen/plot.js';
import { fromPieces, type RatePiece, type Schedule } from '../loadgen/workloads.js';
import { mulberry32 } from '../../src/scaling/backoff.js';
import { repoRoot } from '../../src/paths.js';
import { natsServerBinary, startNatsServer, type NatsServer } from '../../test/support/nats-server.js';
import { Provider, ReportWatch, sumMetric, httpCall, until } from './harness.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

const replicas = Number(arg('replicas', '4'));
const baseRate = Number(arg('base', '40'));
/** bursts are the step levels, one after the other with base load between them (default 3x and 5x one instance). */
const bursts = arg('bursts', '240,400').split(',').map(Number);
const baseMs = Number(arg('base-ms', '6000'));
const burstMs = Number(arg('burst-ms', '8000'));
const tailMs = Number(arg('tail-ms', '14000'));
const seed = Number(arg('seed', '1'));
const outDir = arg('out', join(repoRoot, 'bench', 'results'));
const capacity = 4; // max_inflight per instance; sleep takes ~50 ms => ~80 req/s per instance
const sloMs = 120;
const perInstance = (capacity * 1000) / 50;
const burstRate = (i: number): number => bursts[i] ?? 0; // about 2x the unloaded p99 of F-io

/** stepSchedule: base load, then each burst level for burstMs with baseMs of base load between, then tailMs of base. */
function stepSchedule(): Schedule {
  const pieces: RatePiece[] = [];
  const onsets: number[] = [];
  let t = 0;
  const add = (ms: number, rate: number) => {
    pieces.push({ startMs: t, endMs: t + ms, fromRate: rate, toRate: rate });
    t += ms;
  };
  add(baseMs, baseRate);
  bursts.forEach((b, i) => {
    onsets.push(t);
    add(burstMs, b);
    add(i === bursts.length - 1 ? tailMs : baseMs, baseRate);
  });
  return {
    name: `steps ${baseRate} -> ${bursts.join(' / ')} req/s, poisson seed=${seed}`,
    durationMs: t,
    sendAt: fromPieces(pieces, 'poisson', mulberry32(seed)),
    rateAt: (x) => pieces.find((p) => x >= p.startMs && x < p.endMs)?.fromRate ?? 0,
    onsets,
  };
}

interface Arm {
  key: string;
  title: string;
  nats: boolean;
  envVars: Record<string, string>;
  /** direct sends the load straight at one instance's watchdog instead of through the provider. */
  direct?: boolean;
}

const allArms: Arm[] = [
  { key: 'a', title: 'a: plain, 429 + router retries', nats: false, envVars: { max_inflight: String(capacity), hyperfaas_overflow: '429' } },
  { key: 'b', title: 'b: hierarchical (bounce, queue)', nats: true, envVars: { max_inflight: String(capacity) } },
  // The "minus bounce" ablation : NATS and reports as in b, but the ICS only queues.
  { key: 'c', title: 'c: b without bounce (queue only)', nats: true, envVars: { max_inflight: String(capacity), hyperfaas_max_bounces: '0' } },
  // Traffic that reaches one container without the GS ("whether the request came through the GS or straight to the container").
  { key: 'd', title: 'd: b, load straight at one watchdog', nats: true, envVars: { max_inflight: String(capacity) }, direct: true },
];
const armKeys = arg('arms', 'a,b,c,d').split(',');
const arms = allArms.filter((x) => armKeys.includes(x.key));

interface ArmResult {
  arm: Arm;
  load: LoadResult;
  summary: RunSummary;
  /** perBurst: latency and failures of the requests scheduled inside each burst. */
  perBurst: Array<{ p50: number; p99: number; failed: number; requests: number; servedPerS: number }>;
  routes: Record<string, number>;
  metrics: Record<string, number>;
  cpu: { provider: number; instances: number; loadgen: number; seconds: number };
}

const metricNames: Array<[string, string, Record<string, string>]> = [
  ['bounces rerouted', 'hyperfaas_bounces_total', { outcome: 'rerouted' }],
  ['bounces kept (no room elsewhere)', 'hyperfaas_bounces_total', { outcome: 'kept' }],
  ['bounces failed', 'hyperfaas_bounces_total', { outcome: 'failed' }],
  ['re-routes on 429', 'hyperfaas_reroutes_total', { reason: 'full' }],
  ['re-routes unreachable', 'hyperfaas_reroutes_total', { reason: 'unreachable' }],
];

const ticks = 100; // USER_HZ on Linux

/** cpuSeconds reads user+system CPU seconds of `root` and of its descendants (provider; instances) from /proc. */
function cpuSeconds(root: number): { self: number; children: number } {
  const stats = new Map<number, { ppid: number; cpu: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(d), { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / ticks });
    } catch {
      /* gone */
    }
  }
  let children = 0;
  for (const [pid, s] of stats) {
    if (pid === root) continue;
    for (let p = s.ppid, hops = 0; p > 1 && hops < 10; p = stats.get(p)?.ppid ?? 0, hops++) {
      if (p === root) {
        children += s.cpu;
        break;
      }
    }
  }
  return { self: stats.get(root)?.cpu ?? 0, children };
}

async function scrape(p: Provider): Promise<Record<string, number>> {
  const text = (await httpCall(p.base, 'GET', '/metrics')).body;
  const out: Record<string, number> = {};
  for (const [label, name, labels] of metricNames) out[label] = sumMetric(text, name, labels);
  return out;
}

async function runArm(arm: Arm, nats: NatsServer): Promise<ArmResult> {
  const provider = await Provider.start({ ...(arm.nats ? { natsUrl: nats.url } : {}), env: { HYPERFAAS_DEFAULT_POLICY: 'none' } });
  try {
    await provider.deploy({ service: 'fio', image: 'hyperfaas/sleep:latest', envVars: arm.envVars, labels: { 'com.hyperfaas.policy': 'none' } });
    await provider.scale('fio', replicas);
    await provider.waitAvailable('fio', replicas);
    // Warm every instance and pooled connection, then let reports settle.
    for (let i = 0; i < replicas * 4; i++) await httpCall(provider.base, 'POST', '/function/fio', 'warm');
    await new Promise((r) => setTimeout(r, 1_000));
    const before = await scrape(provider);
    const cpu0 = cpuSeconds(provider.pid!);
    const gen0 = process.cpuUsage();
    const t0 = Date.now();
    const schedule = stepSchedule();
    let target = `${provider.base}/function/fio`;
    if (arm.direct) {
      const watch = await ReportWatch.open(nats.url);
      try {
        target = await until(() => {
          const rs = watch.of('fio');
          if (rs.length < replicas) throw new Error(`${rs.length} of ${replicas} instances report`);
          return rs.sort((x, y) => x.instance.localeCompare(y.instance))[0]!.url;
        }, 30_000);
      } finally {
        await watch.close();
      }
    }
    const load = await runLoad({ target, schedule, method: 'POST', body: 'x', timeoutMs: 10_000 });
    const cpu1 = cpuSeconds(provider.pid!);
    const gen = process.cpuUsage(gen0);
    const cpu = { provider: cpu1.self - cpu0.self, instances: cpu1.children - cpu0.children, loadgen: (gen.user + gen.system) / 1e6, seconds: (Date.now() - t0) / 1000 };
    const after = await scrape(provider);
    const metrics: Record<string, number> = {};
    for (const k of Object.keys(after)) metrics[k] = after[k]! - (before[k] ?? 0);
    const perBurst = schedule.onsets.map((on) => {
      const inBurst = load.records.filter((r) => r.scheduledMs >= on && r.scheduledMs < on + burstMs);
      const lat = inBurst.map(latencyOf).sort((x, y) => x - y);
      // Served throughput: 2xx answers that ENDED inside the step, per second (what the instances managed).
      const done = load.records.filter((r) => r.status >= 200 && r.status < 300 && r.endMs >= on && r.endMs < on + burstMs).length;
      return { p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), failed: failures(inBurst).failed, requests: inBurst.length, servedPerS: done / (burstMs / 1000) };
    });
    const routes = countHeader(load.records, 'x-hyperfaas-route');
    routes.direct = load.records.filter((r) => r.status > 0 && !r.headers?.['x-hyperfaas-route']).length;
    return {
      arm,
      load,
      summary: summarise(load.records, sloMs, schedule.onsets, schedule.durationMs),
      perBurst,
      routes,
      metrics,
      cpu,
    };
  } finally {
    const code = await provider.stop();
    if (code !== 0) process.stderr.write(`provider of arm ${arm.key} exited with ${code}\n${provider.output}\n`);
  }
}

const nats = await startNatsServer();
const results: ArmResult[] = [];
try {
  for (const arm of arms) {
    process.stderr.write(`arm ${arm.title}...\n`);
    results.push(await runArm(arm, nats));
  }
} finally {
  await nats.dispose();
}

// ---- plots
mkdirSync(outDir, { recursive: true });
const latency = latencyCharts(
  results.map((r) => ({ name: r.arm.title, bins: r.load.bins })),
  { sloMs, logY: true, title: `steps ${baseRate} -> ${bursts.join(' / ')} req/s` },
);
writeFileSync(join(outDir, 'hierarchical-latency.svg'), panelsSvg(latency, 2));
const failed: Chart = {
  title: 'failed requests per second (non-2xx or no answer), by scheduled time',
  xLabel: 'time (s)',
  yLabel: 'failed / s',
  yMin: 0,
  series: results.map((r, i) => ({ name: r.arm.title, color: palette[i], points: r.load.bins.map((b) => [b.t / 1000, b.count - b.ok] as [number, number]) })),
};
const served: Chart = {
  title: 'requests per second by scheduled time: ok (solid) and sent (dashed)',
  xLabel: 'time (s)',
  yLabel: 'req/s',
  yMin: 0,
  series: results.flatMap((r, i) => [
    { name: `${r.arm.key}: ok`, color: palette[i], points: r.load.bins.map((b) => [b.t / 1000, b.ok] as [number, number]) },
    { name: `${r.arm.key}: sent`, color: palette[i], dashed: true, points: r.load.bins.map((b) => [b.t / 1000, b.count] as [number, number]) },
  ]),
};
writeFileSync(join(outDir, 'hierarchical-failures.svg'), panelsSvg([failed, served], 2));

// ---- report
const f = (x: number | null | undefined, d = 0): string => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));
let natsVersion = '';
try {
  natsVersion = execFileSync(natsServerBinary(), ['--version'], { encoding: 'utf8' }).trim();
} catch {
  natsVersion = 'unknown';
}
const command = `npx tsc -b && npx tsc -p tsconfig.json --outDir .build/hier && node .build/hier/bench/hierarchical/run.js ${process.argv.slice(2).join(' ')}`.trim();
const lines: string[] = [];
lines.push('# Hierarchical scheduling: step burst, plain 429 + retries vs bounce-back and queue');
lines.push('');
lines.push(`- date: ${new Date().toISOString()}`);
lines.push(`- machine: ${type()} ${release()}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`);
lines.push(`- load average when the run ended (other work on the machine skews results): ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
lines.push(`- software: Node ${process.version}, ${natsVersion}`);
lines.push(`- command: \`${command}\``);
lines.push(
  `- setup: the real provider process (local backend, HYPERFAAS_ISOLATION=none, scaling off: com.hyperfaas.policy=none), ` +
    `${replicas} instances of the sleep example (~50 ms wait + a little CPU, max_inflight ${capacity}: ~${(capacity * 1000) / 50} req/s each, ` +
    `~${(replicas * capacity * 1000) / 50} req/s in all); open-loop Poisson arrivals (seed ${seed}) from one loadgen process on 127.0.0.1: ` +
    `${baseRate} req/s, then steps of ${burstMs / 1000} s at ${bursts.map((x) => `${x} req/s (${(x / perInstance).toFixed(1)}x one instance, ${(x / (replicas * perInstance)).toFixed(2)}x all)`).join(' and ')}, ` +
    `with ${baseMs / 1000} s of ${baseRate} req/s between and ${tailMs / 1000} s after; `+
    `per-request timeout 10 s; latency from the scheduled send time. Arms run one after the other, each with a fresh provider.`,
);
lines.push(`- arm a: provider without NATS; instances answer 429 when full (hyperfaas_overflow=429); the router offers a 429-ed request to up to 3 instances, then passes the 429 on.`);
lines.push(`- arm b: provider with NATS (nats-server on 127.0.0.1); instances over their high watermark (0.9 of 4 in flight) bounce a request to the GS, at most 2 times in its life; the GS runs it on another instance with room (or, when all are full, one with at least a slot-full (4) fewer queued), or refuses at once: the instance then queues it, and queues without asking for one report interval (250 ms).`);
lines.push(`- arm d: as b, but the load goes straight to one instance's watchdog (its URL from the load reports), not through the provider.`);
lines.push(`- arm c: as b with hyperfaas_max_bounces=0: the instances only queue (the "minus bounce" ablation).`);
lines.push('');
lines.push('![latency](hierarchical-latency.svg)');
lines.push('');
lines.push('![failures](hierarchical-failures.svg)');
lines.push('');
lines.push(
  '| arm | requests | ok | failed by code | p50 / p99 all (ms) | ' +
    bursts.map((b) => `burst ${b}/s: p50 / p99 (ms), failed`).join(' | ') +
    ` | peak 1 s p99 (ms) | SLO-violation s (p99 > ${sloMs} ms) | routes (x-hyperfaas-route) | provider counters |`,
);
lines.push('| --- | --- | --- | --- | --- | ' + bursts.map(() => '---').join(' | ') + ' | --- | --- | --- | --- |');
for (const r of results) {
  const s = r.summary;
  const byCode = Object.entries(s.failures.byCode).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none';
  const rt = Object.entries(r.routes).map(([k, v]) => `${k} ${v}`).join(', ');
  const m = Object.entries(r.metrics).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(', ') || '-';
  const pb = r.perBurst.map((b) => `${f(b.p50)} / ${f(b.p99)}, ${b.failed} of ${b.requests} failed, ${f(b.servedPerS)} ok/s served`).join(' | ');
  lines.push(
    `| ${r.arm.title} | ${s.requests} | ${s.failures.ok} | ${byCode} | ${f(s.p50)} / ${f(s.p99)} | ${pb} | ${f(s.peakP99)} | ${s.slo.seconds} | ${rt} | ${m} |`,
);
}
lines.push('');
lines.push(
  `CPU seconds over the run (box: ${cpus().length} cores x run length): ` +
    results.map((r) => `${r.arm.key}: provider ${f(r.cpu.provider, 1)}, instances ${f(r.cpu.instances, 1)}, loadgen ${f(r.cpu.loadgen, 1)} of ${f(r.cpu.seconds * cpus().length, 0)} in ${f(r.cpu.seconds, 1)} s`).join('; ') +
    '.',
);
lines.push('');
lines.push(`Generator health: max send lag ${results.map((r) => `${r.arm.key} ${f(r.load.maxSendLagMs)} ms`).join(', ')}; late sends (> 5 ms) ${results.map((r) => `${r.arm.key} ${r.load.lateSends}`).join(', ')}.`);
lines.push('');
lines.push('Per second (scheduled time): sent, ok, p50 / p99 ms');
lines.push('');
lines.push('| t (s) | ' + results.map((r) => `${r.arm.key}: sent | ${r.arm.key}: ok | ${r.arm.key}: p50 / p99`).join(' | ') + ' |');
lines.push('| --- | ' + results.map(() => '--- | --- | ---').join(' | ') + ' |');
const n = Math.max(...results.map((r) => r.load.bins.length));
for (let k = 0; k < n; k++) {
  const cells = results.map((r) => {
    const b = r.load.bins[k];
    return b ? `${b.count} | ${b.ok} | ${f(b.p50)} / ${f(b.p99)}` : '- | - | -';
  });
  lines.push(`| ${k} | ${cells.join(' | ')} |`);
}
lines.push('');
const ra = results.find((r) => r.arm.key === 'a');
const rb = results.find((r) => r.arm.key === 'b');
const rc = results.find((r) => r.arm.key === 'c');
if (ra && rb) {
  const last = bursts.length - 1;
  const pct = (x: number, n: number): string => `${((100 * x) / Math.max(1, n)).toFixed(1)} %`;
  lines.push('## Reading');
  lines.push('');
  lines.push(
    `- Arm a failed ${ra.summary.failures.failed} of ${ra.summary.requests} requests (${pct(ra.summary.failures.failed, ra.summary.requests)}), ` +
      `by code ${JSON.stringify(ra.summary.failures.byCode)}; each 429 reached the client only after the router had offered the request to up to 3 ` +
      `instances (${ra.metrics['re-routes on 429'] ?? 0} re-routes). The requests that did succeed kept a low latency (p99 ${f(ra.summary.p99)} ms over the run): a refusal costs little, so the ` +
      `clients carry the burst as errors.`,
);
  lines.push(
    `- Arm b failed ${rb.summary.failures.failed} requests. What the instances could not take at once waited in their ICS queues ` +
      `(${rb.routes.queued ?? 0} answered with route "queued", ${rb.routes.bounced ?? 0} "bounced" and served by another instance through the GS); ` +
      `${rb.metrics['bounces kept (no room elsewhere)'] ?? 0} bounces were refused by the GS at once because every other instance was full and none had a slot-full fewer queued, so those requests ` +
      `stayed queued where they were instead of hopping, and the instance stopped asking for a report interval (no retry storm). The price is latency: it grows while arrivals exceed what ` +
      `the instances serve and drains after each step (peak 1 s p99 ${f(rb.summary.peakP99)} ms, p50 in the ${bursts[last]} req/s step ${f(rb.perBurst[last]?.p50)} ms).`,
);
  lines.push(
    `- Served throughput in the ${bursts[last]} req/s step: a ${f(ra.perBurst[last]?.servedPerS)} ok/s, b ${f(rb.perBurst[last]?.servedPerS)} ok/s, against a nominal ` +
      `${replicas * perInstance} req/s (${replicas} x ${capacity} in flight / 50 ms). On a shared, loaded 2-core box (see the load average) the function's ` +
      `service time stretches well beyond 50 ms, so both arms run out of capacity below the nominal figure; no arm can add capacity here, ` +
      `because scaling is off. With the hyperfaas policy, phases 1-3 add it (bench/ab).`,
);
  lines.push(
    `- Attribution: the route header counts come from the responses (x-hyperfaas-route), the counters from the provider's /metrics ` +
      `(hyperfaas_bounces_total{outcome}, hyperfaas_reroutes_total{reason}); one run per arm, so treat differences under ~10 % as noise.`,
);
  if (rc) {
    lines.push(
      `- Arm c (b without bounce: hyperfaas_max_bounces=0) failed ${rc.summary.failures.failed} requests; served ${f(rc.perBurst[last]?.servedPerS)} ok/s in the ` +
        `${bursts[last]} req/s step, p50 there ${f(rc.perBurst[last]?.p50)} ms, peak 1 s p99 ${f(rc.summary.peakP99)} ms: the difference to b is what the bounce attempts cost or bring ` +
        `when a single GS already places every request by its own in-flight counts.`,
);
  }
  const rd = results.find((r) => r.arm.key === 'd');
  if (rd) {
    lines.push(
      `- Arm d (all load straight at one watchdog, ${(burstRate(last) / perInstance).toFixed(1)}x its capacity in the last step) failed ${rd.summary.failures.failed} requests: ` +
        `${rd.routes.bounced ?? 0} were bounced and served by the other instances through the GS (the caller saw only the one instance), ${rd.routes.queued ?? 0} waited in its queue; ` +
        `served ${f(rd.perBurst[last]?.servedPerS)} ok/s in the last step, p50 ${f(rd.perBurst[last]?.p50)} ms. This is where bounce-back matters: without it one instance alone ` +
        `(~${perInstance} req/s) would carry the whole burst.`,
);
  }
}
writeFileSync(join(outDir, 'hierarchical.md'), lines.join('\n') + '\n');
process.stdout.write(lines.slice(0, 25).join('\n') + '\n');
