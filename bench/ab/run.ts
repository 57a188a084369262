/**
 * run is the A/B harness: one command starts nats-server and the provider (temp data dir, local
 * backend, cgroups where the host allows), deploys the function under test (F-io: the `sleep` example, max_inflight
 * 4) once per arm with its policy label, drives every chosen workload arm by arm with the open-loop generator, and
 * writes bench/results/ab-<date>.md (+ ab-latest.md) with SVG figures in bench/results/ab-<date>/.
 *
 *   node dist/bench/ab/run.js --compress 5 --workloads w1,w2 --arms hyperfaas,hpa,hpa-tuned
 *
 * Arms (label com.hyperfaas.policy, plus what the ablations change):
 *   hyperfaas, hpa, hpa-tuned; hyperfaas-no-scale-up (label com.hyperfaas.ablate=scale-up),
 *   hyperfaas-no-multiplex (com.hyperfaas.ablate=multiplex), hyperfaas-no-bounce (env hyperfaas_max_bounces=0: the
 *   ICS parks overflow in its own FIFO instead of bouncing it to the GS), hyperfaas-no-inflight-boost (label
 *   com.hyperfaas.max-inflight.boost=1: phase 1 never raises max_inflight).
 * Default run: every relief case (caseDefs: http and fork mode, Node and Python, with and without lenders) on the
 *   relief step, arms hyperfaas and hpa; --cases picks some, --quick shortens the step to 5 + 15 + 5 s, and
 *   --workloads w1,... runs the classic workloads on F-io instead (add --cases to run both).
 * Options: --compress k (integer; HYPERFAAS_HPA_COMPRESS=k and workload timelines / k; the report says "compressed"),
 *   --duration-scale s (multiplies workload durations, after compression), --workloads, --arms, --seed, --slo ms,
 *   --pod-start ms (HYPERFAAS_HPA_POD_START, after compression), --max-replicas, --cpu-request cores|auto,
 *   --rate-scale r (multiplies every workload rate; default 1), --out dir (default bench/results), --name (report file stem, default ab-<date>), --no-latest, --lenders n (idle functions whose guest slots phase 2 may borrow; default 3).
 */
import { cpus, loadavg, totalmem, release, type as osType } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runLoad } from '../loadgen/loadgen.js';
import { binRecords, countHeader, summarise } from '../loadgen/metrics.js';
import { constantRate, reliefStep, w1Step, w2Spikes, w3AzureLike, w4Ramp, type Schedule } from '../loadgen/workloads.js';
import { compressHpaParams, describeHpaParams, HPA_DEFAULT, HPA_TUNED, HYPERFAAS_DEFAULTS, type HpaParams } from '../../src/scaling/index.js';
import { repoRoot } from '../../src/paths.js';
import { costOf, latencySvg, markdown, timelineSvg, type ArmRun, type ReportHeader, type Sample } from './report.js';
import { deploy, functionStatus, remove, startStack, type Stack } from './stack.js';

/** ArmName is one arm of the A/B. */
export type ArmName = 'hyperfaas' | 'hpa' | 'hpa-tuned' | 'hyperfaas-no-scale-up' | 'hyperfaas-no-multiplex' | 'hyperfaas-no-bounce' | 'hyperfaas-no-inflight-boost';

/** armNames lists every arm in report order. */
export const armNames: readonly ArmName[] = ['hyperfaas', 'hpa', 'hpa-tuned', 'hyperfaas-no-scale-up', 'hyperfaas-no-multiplex', 'hyperfaas-no-bounce', 'hyperfaas-no-inflight-boost'];

/** ArmDef is how an arm differs: labels and environment of the function under test. */
export interface ArmDef {
  policy: 'hyperfaas' | 'hpa' | 'hpa-tuned';
  labels: Record<string, string>;
  envVars: Record<string, string>;
}

/** armDef maps an arm to its labels and env (the data plane is the same for all of them). */
export function armDef(a: ArmName): ArmDef {
  switch (a) {
    case 'hyperfaas':
    case 'hpa':
    case 'hpa-tuned':
      return { policy: a, labels: {}, envVars: {} };
    case 'hyperfaas-no-scale-up':
      return { policy: 'hyperfaas', labels: { 'com.hyperfaas.ablate': 'scale-up' }, envVars: {} };
    case 'hyperfaas-no-multiplex':
      return { policy: 'hyperfaas', labels: { 'com.hyperfaas.ablate': 'multiplex' }, envVars: {} };
    case 'hyperfaas-no-bounce':
      return { policy: 'hyperfaas', labels: {}, envVars: { hyperfaas_max_bounces: '0' } };
    case 'hyperfaas-no-inflight-boost':
      return { policy: 'hyperfaas', labels: { 'com.hyperfaas.max-inflight.boost': '1' }, envVars: {} };
  }
}

/**
 * CaseDef is one function-under-test setting the default run measures burst relief on (the 10x step 20 -> 200 req/s
 * of a 50 ms function, max_inflight 4, min 1, max 5): its execution mode, runtime, and whether idle lender functions
 * share the node. Adding a runtime is one entry; `requires` names the template it needs, and a case whose template is
 * missing from this tree is reported as not available instead of failing the run.
 */
export interface CaseDef {
  id: string;
  mode: 'http' | 'fork';
  /** runtime is the function's language runtime (the com.hyperfaas.runtime label when the function has a guest slot to share). */
  runtime: string;
  /** image (and envProcess for fork mode) of the function under test. */
  image: string;
  envProcess?: string;
  /** runtimeLabel is com.hyperfaas.runtime; absent for fork mode (no code a generic slot could load). */
  runtimeLabel?: string;
  /** lenders is how many idle functions of lenderImage share the node. */
  lenders: number;
  lenderImage: string;
  /** requires are paths relative to the repository that must exist for the case to run. */
  requires?: readonly string[];
  describe: string;
}

const sleepNode = { image: 'hyperfaas/sleep:latest', runtime: 'node', runtimeLabel: 'node', lenderImage: 'hyperfaas/echo:latest' };
// Fork mode: a process per request running `sleep 0.05` (the classic watchdog's way, functions/alpine + fprocess).
const sleepFork = { image: 'functions/alpine:latest', envProcess: 'sleep 0.05', runtime: 'fork', lenderImage: 'hyperfaas/echo:latest' };
// The Python runtime comes with its template (stack-templates/template/python3-http); the case needs a 50 ms sleep
// example built beside py-echo (stack-templates/examples/build/py-sleep), whose idle copies are the lenders.
const sleepPython = {
  image: 'hyperfaas/py-sleep:latest',
  runtime: 'python',
  runtimeLabel: 'python',
  lenderImage: 'hyperfaas/py-echo:latest',
  requires: ['stack-templates/template/python3-http', 'stack-templates/examples/build/py-sleep'],
};

/** caseDefs are every case the harness knows, in report order; a default run runs them all. */
export const caseDefs: readonly CaseDef[] = [
  { id: 'http-node', mode: 'http', ...sleepNode, lenders: 0, describe: 'http mode, Node (hyperfaas/sleep), no lender functions on the node' },
  { id: 'http-node-lenders', mode: 'http', ...sleepNode, lenders: 3, describe: 'http mode, Node (hyperfaas/sleep), 3 idle lender functions (hyperfaas/echo) whose guest slots phase 2 may borrow' },
  { id: 'fork', mode: 'fork', ...sleepFork, lenders: 0, describe: 'fork mode (functions/alpine, fprocess "sleep 0.05": a process per request), no lender functions' },
  { id: 'fork-lenders', mode: 'fork', ...sleepFork, lenders: 3, describe: 'fork mode (functions/alpine, fprocess "sleep 0.05"), 3 idle Node lender functions (a fork function has no code a generic Node slot could load, so phase 2 cannot use them)' },
  { id: 'http-python', mode: 'http', ...sleepPython, lenders: 0, describe: 'http mode, Python (hyperfaas/py-sleep), no lender functions' },
  { id: 'http-python-lenders', mode: 'http', ...sleepPython, lenders: 3, describe: 'http mode, Python (hyperfaas/py-sleep), 3 idle Python lender functions (hyperfaas/py-echo)' },
];

/** caseUnavailable says why a case cannot run in this tree (its runtime's template is missing), or undefined when it can. */
export function caseUnavailable(c: CaseDef, root = repoRoot): string | undefined {
  const missing = (c.requires ?? []).filter((p) => !existsSync(join(root, p)));
  return missing.length ? `${c.runtime} runtime not available in this tree (no ${missing.join(', no ')})` : undefined;
}

/** AbOptions are the parsed command line. */
export interface AbOptions {
  compress: number;
  durationScale: number;
  workloads: Array<'w1' | 'w2' | 'w3' | 'w4'>;
  /** cases are the relief cases to run (the default run); empty when --workloads chose the classic workloads. */
  cases: string[];
  /** quick shortens the relief step to 5 s + 15 s + 5 s (a smoke run). */
  quick: boolean;
  arms: ArmName[];
  seed: number;
  sloMs: number;
  podStartMs?: number;
  maxReplicas: number;
  /** maxReplicasGiven is true when --max-replicas was on the command line (the cases default to 5, the workloads to 10). */
  maxReplicasGiven?: boolean;
  cpuRequest: number | 'auto';
  /** rateScale multiplies every workload rate (1 = the rates as designed). */
  rateScale: number;
  /** lenders is how many idle functions of the same runtime share the node (their guest slots are what phase 2 borrows). */
  lenders: number;
  out: string;
  name?: string;
  latest: boolean;
}

/** parseArgs reads argv (without node and script); throws with a usage hint on bad input. */
export function parseArgs(argv: readonly string[]): AbOptions {
  const o: AbOptions = { compress: 1, durationScale: 1, workloads: [], cases: caseDefs.map((c) => c.id), quick: false, arms: ['hyperfaas', 'hpa'], seed: 1, sloMs: 120, maxReplicas: 10, cpuRequest: 'auto', rateScale: 1, lenders: 3, out: join(repoRoot, 'bench', 'results'), latest: true };
  let casesGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    switch (k) {
      case '--compress': {
        const n = Number(v());
        if (!Number.isInteger(n) || n < 1 || n > 100) throw new Error('--compress must be an integer in [1, 100] (HYPERFAAS_HPA_COMPRESS is an integer)');
        o.compress = n;
        break;
      }
      case '--duration-scale': {
        const n = Number(v());
        if (!(n > 0 && n <= 1)) throw new Error('--duration-scale must be in (0, 1]');
        o.durationScale = n;
        break;
      }
      case '--workloads': {
        const ws = v().split(',').map((x) => x.trim());
        for (const w of ws) if (!['w1', 'w2', 'w3', 'w4'].includes(w)) throw new Error(`--workloads: unknown ${w} (w1, w2, w3, w4)`);
        o.workloads = ws as AbOptions['workloads'];
        if (!casesGiven) o.cases = [];
        break;
      }
      case '--cases': {
        const cs = v().split(',').map((x) => x.trim()).filter(Boolean);
        for (const c of cs) if (!caseDefs.some((d) => d.id === c)) throw new Error(`--cases: unknown ${c} (${caseDefs.map((d) => d.id).join(', ')})`);
        o.cases = cs;
        casesGiven = true;
        break;
      }
      case '--quick':
        o.quick = true;
        break;
      case '--arms': {
        const as = v().split(',').map((x) => x.trim());
        for (const a of as) if (!armNames.includes(a as ArmName)) throw new Error(`--arms: unknown ${a} (${armNames.join(', ')})`);
        o.arms = as as ArmName[];
        break;
      }
      case '--seed':
        o.seed = Number(v());
        break;
      case '--slo':
        o.sloMs = Number(v());
        break;
      case '--pod-start':
        o.podStartMs = Number(v());
        break;
      case '--max-replicas':
        o.maxReplicas = Number(v());
        o.maxReplicasGiven = true;
        break;
      case '--cpu-request': {
        const x = v();
        o.cpuRequest = x === 'auto' ? 'auto' : Number(x);
        break;
      }
      case '--lenders': {
        const n = Number(v());
        if (!Number.isInteger(n) || n < 0 || n > 20) throw new Error('--lenders must be an integer in [0, 20]');
        o.lenders = n;
        break;
      }
      case '--rate-scale': {
        const n = Number(v());
        if (!(n > 0 && n <= 4)) throw new Error('--rate-scale must be in (0, 4]');
        o.rateScale = n;
        break;
      }
      case '--out':
        o.out = v();
        break;
      case '--name':
        o.name = v();
        break;
      case '--no-latest':
        o.latest = false;
        break;
      default:
        throw new Error(`unknown option ${k}`);
    }
  }
  return o;
}

/** schedules builds a workload with compression and duration scale applied (the loadgen divides durations by k). */
export function scheduleFor(w: AbOptions['workloads'][number], o: AbOptions): Schedule {
  const k = o.compress / o.durationScale;
  const r = o.rateScale;
  const c = { seed: o.seed, compress: k };
  switch (w) {
    case 'w1':
      return w1Step({ ...c, baseRate: 40 * r, burstRate: 400 * r });
    case 'w2':
      return w2Spikes({ ...c, baseRate: 40 * r });
    case 'w3':
      return w3AzureLike({ ...c, baseRate: 20 * r });
    case 'w4':
      return w4Ramp({ ...c, toRate: 400 * r });
  }
}

/** reliefSchedule is the relief cases' step (20 -> 200 req/s), shortened by --quick and --duration-scale. */
export function reliefSchedule(o: AbOptions): Schedule {
  const k = o.compress / o.durationScale;
  const q = o.quick ? { beforeMs: 5_000, burstMs: 15_000, afterMs: 5_000 } : {};
  return reliefStep({ seed: o.seed, compress: k, baseRate: 20 * o.rateScale, burstRate: 200 * o.rateScale, ...q });
}

/** cpuTimes reads the box's busy and total CPU jiffies from /proc/stat (undefined where there is none). */
function cpuTimes(): { busy: number; total: number } | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

const FN_IMAGE = 'hyperfaas/sleep:latest';
const LENDER = 'lender';

/** lenderNames are the idle functions deployed next to F-io: lender, lender-2, lender-3, ... */
export function lenderNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => (i === 0 ? LENDER : `${LENDER}-${i + 1}`));
}

/** Fut is the function under test of one case: what is deployed once per arm. */
export interface Fut {
  image: string;
  envProcess?: string;
  runtimeLabel?: string;
  maxReplicas: number;
}

function fnBody(name: string, f: Fut, a: ArmDef, cpuRequest: number, cpuLimit: number): Record<string, unknown> & { service: string } {
  return {
    service: name,
    image: f.image,
    ...(f.envProcess ? { envProcess: f.envProcess } : {}),
    envVars: { max_inflight: '4', ...a.envVars },
    labels: {
      'com.hyperfaas.policy': a.policy,
      ...(f.runtimeLabel ? { 'com.hyperfaas.runtime': f.runtimeLabel } : {}),
      'com.openfaas.scale.min': '1',
      'com.openfaas.scale.max': String(f.maxReplicas),
      // The hpa arms read the target as CPU percent of the request (kubectl autoscale --cpu-percent=50).
      'com.openfaas.scale.target': '50',
      ...a.labels,
    },
    annotations: {},
    requests: { cpu: `${Math.round(cpuRequest * 1000)}m` },
    limits: { cpu: `${Math.round(cpuLimit * 1000)}m` },
  };
}

async function warm(s: Stack, name: string, n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await s.http('POST', `/function/${name}`, 'warm').catch(() => undefined);
}

/**
 * calibrate measures the CPU one F-io instance uses at its capacity (80 req/s = 4 in flight x 50 ms), so the HPA's
 * request can be set to it (100 % of capacity = 100 % of request).
 */
async function calibrate(s: Stack, f: Fut, log: (m: string) => void): Promise<number> {
  const name = 'fio-calibrate';
  await deploy(s, { service: name, image: f.image, ...(f.envProcess ? { envProcess: f.envProcess } : {}), envVars: { max_inflight: '4' }, labels: { 'com.hyperfaas.policy': 'none' }, annotations: {} });
  await warm(s, name);
  const used: number[] = [];
  const sampler = setInterval(() => {
    for (const r of s.reports.latest(name, 600)) used.push(r.cpu.used);
  }, 500);
  await runLoad({ target: `${s.base}/function/${name}`, schedule: constantRate(70, 8000, { process: 'uniform' }), timeoutMs: 10_000 });
  clearInterval(sampler);
  await remove(s, name);
  const tail = used.slice(Math.floor(used.length / 3)).sort((a, b) => a - b);
  const med = tail.length ? tail[Math.floor(tail.length / 2)]! : 0.1;
  // 70 req/s measured; scale to 80 req/s.
  const req = Math.max(0.02, Math.round(((med * 80) / 70) * 100) / 100);
  log(`calibration: median ${med.toFixed(3)} cores at 70 req/s -> request ${req} cores at capacity`);
  return req;
}

async function runArm(s: Stack, arm: ArmName, w: string, schedule: Schedule, f: Fut, sloMs: number, cpuRequest: number, cpuLimit: number, log: (m: string) => void): Promise<ArmRun> {
  const def = armDef(arm);
  const name = `fio-${arm}`.slice(0, 60);
  const key = `${name}.openfaas-fn`;
  await deploy(s, fnBody(name, f, def, cpuRequest, cpuLimit));
  await warm(s, name);
  await sleep(1500);
  const samples: Sample[] = [];
  const t0 = Date.now();
  let sampling = true;
  const cpuStart = cpuTimes();
  let cpuPrev = cpuStart;
  const sampler = (async () => {
    while (sampling) {
      const cpuNow = cpuTimes();
      const busy = cpuNow && cpuPrev && cpuNow.total > cpuPrev.total ? (cpuNow.busy - cpuPrev.busy) / (cpuNow.total - cpuPrev.total) : NaN;
      cpuPrev = cpuNow;
      const st = await functionStatus(s, name).catch(() => undefined);
      const mine = s.reports.latest(name);
      const lentToUs = s.reports.latest().filter((r) => r.function !== name && r.slots.some((x) => x.kind === 'guest' && x.function === key && (x.state === 'serving' || x.state === 'specialising')));
      const replicas = st?.replicas ?? 0;
      const reporting = mine.length;
      const containers = Math.max(replicas, reporting);
      const cpuAllocated = mine.reduce((a, r) => a + (r.cpu.limit || cpuLimit), 0) + Math.max(0, containers - reporting) * cpuLimit;
      const home = (r: (typeof mine)[number]) => r.slots.find((x) => x.kind === 'home');
      samples.push({
        t: Date.now() - t0,
        replicas,
        available: st?.availableReplicas ?? 0,
        reporting,
        containers,
        cpuAllocated,
        boosted: mine.filter((r) => r.cpu.limit > cpuLimit + 1e-3).length,
        guests: lentToUs.length,
        busy,
        queued: mine.reduce((a, r) => a + (r.queued ?? 0), 0),
        inflight: mine.reduce((a, r) => a + r.slots.filter((x) => x.function === key || x.kind === 'home').reduce((b, x) => b + x.inflight, 0), 0),
        slotCapacity: mine.reduce((a, r) => a + (home(r)?.capacity ?? 0), 0),
      });
      await sleep(500);
    }
  })();
  const evFrom = s.events.length;
  log(`  ${w} / ${arm}: ${schedule.name}, ${schedule.sendAt.length} requests over ${(schedule.durationMs / 1000).toFixed(0)} s`);
  const res = await runLoad({ target: `${s.base}/function/${name}`, schedule, timeoutMs: 10_000, connections: 512 });
  sampling = false;
  await sampler;
  const cpuEnd = cpuTimes();
  const events = s.events.slice(evFrom).filter((e) => e.function === key);
  await remove(s, name);
  const summary = summarise(res.records, sloMs, schedule.onsets, schedule.durationMs);
  const phases: Record<string, number> = {};
  for (const e of events) phases[e.to] = (phases[e.to] ?? 0) + 1;
  const run: ArmRun = {
    arm,
    describe: `com.hyperfaas.policy=${def.policy}${Object.entries(def.labels).map(([k, v]) => `, ${k}=${v}`).join('')}${Object.entries(def.envVars).map(([k, v]) => `, env ${k}=${v}`).join('')}`,
    workload: w,
    scheduleName: schedule.name,
    durationMs: schedule.durationMs,
    onsets: schedule.onsets,
    summary,
    bins: binRecords(res.records, 1000, schedule.durationMs),
    samples,
    cost: costOf(samples),
    routes: countHeader(res.records, 'x-hyperfaas-route'),
    slots: countHeader(res.records, 'x-hyperfaas-slot'),
    phases,
    firstEvents: events.slice(0, 6).map((e) => `t=${((e.at - t0) / 1000).toFixed(1)}s ${e.from}->${e.to} (${e.replicas ?? '?'})`),
    decisions: events.filter((e) => e.to !== 'steady').slice(0, 40).map((e) => ({ t: e.at - t0, from: e.from, to: e.to, replicas: e.replicas, reasons: e.reasons ?? [] })),
    maxSendLagMs: res.maxSendLagMs,
    ...(cpuStart && cpuEnd && cpuEnd.total > cpuStart.total ? { boxBusy: (cpuEnd.busy - cpuStart.busy) / (cpuEnd.total - cpuStart.total) } : {}),
    loadavg: loadavg()[0]!,
    scheduled: schedule.sendAt.length,
  };
  log(`    ok ${summary.failures.ok}/${summary.requests}, p99 ${summary.p99.toFixed(0)} ms, peak containers ${run.cost.peakContainers}, container-s ${run.cost.containerSeconds.toFixed(1)}`);
  return run;
}

function hpaAsRun(p: Readonly<HpaParams>, o: AbOptions): HpaParams {
  const c = o.compress > 1 ? compressHpaParams(p, o.compress) : { ...p };
  return o.podStartMs !== undefined ? { ...c, podStartDelayMs: o.podStartMs } : c;
}

/** RunPlan is one block of the report: a workload (or relief case) run on every arm with its function and lenders. */
export interface RunPlan {
  key: string;
  describe: string;
  schedule: Schedule;
  fut: Fut;
  lenders: number;
  lenderImage: string;
  /** unavailable says why the block cannot run in this tree (e.g. its runtime's template is missing). */
  unavailable?: string;
}

/** planRuns lists the blocks of a run: the classic workloads on F-io (--workloads), then the relief cases. */
export function planRuns(o: AbOptions, fio: Fut, root = repoRoot): RunPlan[] {
  const out: RunPlan[] = [];
  for (const w of o.workloads) {
    out.push({ key: w, describe: `F-io (${fio.image}), ${o.lenders} lender(s)`, schedule: scheduleFor(w, o), fut: fio, lenders: o.lenders, lenderImage: 'hyperfaas/echo:latest' });
  }
  for (const id of o.cases) {
    const c = caseDefs.find((d) => d.id === id)!;
    const un = caseUnavailable(c, root);
    out.push({
      key: c.id,
      describe: c.describe,
      schedule: reliefSchedule(o),
      fut: { image: c.image, ...(c.envProcess ? { envProcess: c.envProcess } : {}), ...(c.runtimeLabel ? { runtimeLabel: c.runtimeLabel } : {}), maxReplicas: o.maxReplicasGiven ? o.maxReplicas : 5 },
      lenders: c.lenders,
      lenderImage: c.lenderImage,
      ...(un ? { unavailable: un } : {}),
    });
  }
  return out;
}

/** runAb runs the whole A/B and writes the report; returns the report's path. */
export async function runAb(o: AbOptions, command: string, log: (m: string) => void = (m) => process.stdout.write(`${m}\n`)): Promise<{ report: string; latest?: string; runs: ArmRun[] }> {
  const stamp = new Date().toISOString().replace(/[:]/g, '').replace(/\..*/, 'Z');
  const stem = o.name ?? `ab-${stamp}`;
  const figDir = join(o.out, stem);
  await mkdir(figDir, { recursive: true });
  const s = await startStack({ hpaCompress: o.compress, ...(o.podStartMs !== undefined ? { hpaPodStartMs: o.podStartMs } : {}) });
  // Interrupted: stop the provider (which stops its instances) and nats-server before exiting.
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`${sig}: stopping the provider and nats-server`);
    void s.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const byWorkload = new Map<string, ArmRun[]>();
  const figures = new Map<string, { latency: string; timeline: string }>();
  const described: Record<string, string> = {};
  const skipped: Record<string, string> = {};
  const calibrated = new Map<string, number>();
  const fio: Fut = { image: FN_IMAGE, runtimeLabel: 'node', maxReplicas: o.maxReplicas };
  const plans = planRuns(o, fio);
  let cpuRequest = 0;
  let cpuLimit = 0;
  try {
    for (const p of plans) {
      if (p.unavailable) {
        skipped[p.key] = p.unavailable;
        log(`  ${p.key}: ${p.unavailable}`);
        continue;
      }
      const ck = `${p.fut.image} ${p.fut.envProcess ?? ''}`;
      if (!calibrated.has(ck)) calibrated.set(ck, o.cpuRequest === 'auto' ? await calibrate(s, p.fut, log) : o.cpuRequest);
      cpuRequest = calibrated.get(ck)!;
      // The limit leaves headroom over the request (a burstable pod): F-io at capacity sits at half its limit.
      cpuLimit = Math.round(cpuRequest * 2 * 1000) / 1000;
      described[p.key] = `${p.describe}; CPU request ${cpuRequest} cores, limit ${cpuLimit} cores; max ${p.fut.maxReplicas} replicas`;
      const lenders = lenderNames(p.lenders);
      for (const name of lenders) {
        await deploy(s, { service: name, image: p.lenderImage, labels: { 'com.hyperfaas.policy': 'none', ...(p.fut.runtimeLabel ? { 'com.hyperfaas.runtime': p.fut.runtimeLabel } : { 'com.hyperfaas.runtime': 'node' }) }, annotations: {}, envVars: { max_inflight: '4' } });
      }
      const runs: ArmRun[] = [];
      for (const arm of o.arms) runs.push(await runArm(s, arm, p.key, p.schedule, p.fut, o.sloMs, cpuRequest, cpuLimit, log));
      for (const name of lenders) await remove(s, name);
      byWorkload.set(p.key, runs);
      const lat = join(figDir, `${p.key}-latency.svg`);
      const tl = join(figDir, `${p.key}-timeline.svg`);
      await writeFile(lat, latencySvg(runs, o.sloMs, p.key));
      await writeFile(tl, timelineSvg(runs, p.key));
      figures.set(p.key, { latency: relative(o.out, lat), timeline: relative(o.out, tl) });
    }
  } finally {
    await writeFile(join(figDir, 'provider-tail.log'), s.output()).catch(() => undefined);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await s.stop();
  }
  const c = cpus();
  const header: ReportHeader = {
    title: 'A/B: HyperFaaS vs stock HPA (emulated) on one box',
    date: new Date().toISOString(),
    compressed: o.compress,
    durationScale: o.durationScale,
    rateScale: o.rateScale,
    command,
    machine: [
      `${c.length} x ${c[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${osType()} ${release()}, Node ${process.version}`,
      'everything on this box over loopback: nats-server, the provider (local backend, cgroup isolation where the host allows), its instances, and the open-loop generator (inside the harness process)',
    ],
    functionUnderTest: [
      ...(o.cases.length
        ? [
            'Relief cases: a 50 ms function (http mode: hyperfaas/sleep, ~50 ms sleep + a little fixed CPU; fork mode: functions/alpine with fprocess "sleep 0.05", a process per request), envVars max_inflight=4 (~80 req/s per replica), min 1, max 5 (unless --max-replicas), on the relief step (20 -> 200 req/s); per case:',
            ...plans.filter((p) => o.cases.includes(p.key)).map((p) => `**${p.key}**: ${described[p.key] ?? p.describe}${skipped[p.key] ? ` — **not run: ${skipped[p.key]}**` : ''}`),
          ]
        : []),
      ...(o.workloads.length ? [`F-io (the --workloads blocks): ${FN_IMAGE} (~50 ms sleep + a little fixed CPU), envVars max_inflight=4 (capacity ~80 req/s per replica), label com.hyperfaas.runtime=node, min 1, max ${o.maxReplicas}`] : []),
      `CPU request ${o.cpuRequest === 'auto' ? 'calibrated per function at start: median CPU of one instance at 70 req/s, scaled to 80 req/s, so 100 % of capacity is about 100 % of request' : `${cpuRequest} cores (given)`}, CPU limit 2 x request, HPA target 50 % of request`,
      !o.workloads.length ? 'lenders per case (above)' : o.lenders > 0
        ? `${o.lenders} idle lender function(s) (${lenderNames(o.lenders).join(', ')}: hyperfaas/echo, runtime node, policy none, one instance each), standing for the other tenants of a node: their generic guest slots (capacity 4 each) are what phase 2 of the hyperfaas arms may borrow; they run in every arm, and the HPA arms cannot use them`
        : 'no lender functions (--lenders 0): phase 2 has no guest slot to borrow',
      'one provider for all arms; each arm deploys its own copy of F-io (fio-<arm>), runs the workload, and removes it before the next arm',
    ],
    hpaParams: {
      hpa: describeHpaParams(hpaAsRun(HPA_DEFAULT, o)),
      'hpa-tuned': describeHpaParams(hpaAsRun(HPA_TUNED, o)),
    },
    hyperfaasParams:
      `Uncompressed (HyperFaaS timers are not divided by --compress): ${Object.entries(HYPERFAAS_DEFAULTS).map(([k, v]) => `${k} ${String(v)}`).join(', ')}; scaler tick 250 ms; ` +
      'ablations: hyperfaas-no-scale-up = label com.hyperfaas.ablate=scale-up, hyperfaas-no-multiplex = com.hyperfaas.ablate=multiplex, hyperfaas-no-bounce = env hyperfaas_max_bounces=0 (the ICS queues overflow locally), hyperfaas-no-inflight-boost = label com.hyperfaas.max-inflight.boost=1.',
    notes: [
      'One run per arm and workload: a difference needs >= 5 runs and medians with IQRs before it can be called; these are single observations.',
      'The HPA arms are an emulation (src/scaling/hpa.ts) driving real process instances: new replicas are real forked workers held unroutable for the modelled pod start and readiness probes; CPU utilisation comes from the ICS load reports, not metrics-server.',
      'Container-seconds come from 0.5 s samples of the provider status and the ICS reports (max of desired replicas and reporting instances), not from the backend\'s own accounting.',
      'The load generator shares the cores with the system under test; see the send lag per arm. The box may also be shared with other work (other test suites, benches): the box CPU busy share and load average per arm show how loaded it was.',
      ...(o.compress > 1 ? [`Compressed: HPA sync, metric resolution, stabilisation, pod start and probe timers are ${o.compress}x shorter than in a real cluster, which favours the HPA arms; HyperFaaS timers are not compressed.`] : []),
    ],
  };
  const md = markdown(header, byWorkload, figures, o.sloMs, { skipped });
  const report = join(o.out, `${stem}.md`);
  await writeFile(report, md);
  await writeFile(join(figDir, 'runs.json'), JSON.stringify([...byWorkload.values()].flat().map((r) => ({ ...r, bins: r.bins.map((b) => ({ t: b.t, count: b.count, ok: b.ok, p50: Math.round(b.p50), p99: Math.round(b.p99) })) })), null, 1));
  let latest: string | undefined;
  if (o.latest) {
    latest = join(o.out, 'ab-latest.md');
    await writeFile(latest, md);
  }
  log(`report: ${report}`);
  return { report, ...(latest ? { latest } : {}), runs: [...byWorkload.values()].flat() };
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  let opts: AbOptions;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`ab: ${(e as Error).message}\nusage: node dist/bench/ab/run.js [--cases ${caseDefs.map((c) => c.id).join(',')}] [--quick] [--compress k] [--workloads w1,w2] [--arms ${armNames.join(',')}] [--duration-scale s] [--out dir]\n`);
    process.exit(2);
  }
  const command = `node ${relative(repoRoot, process.argv[1]!)} ${process.argv.slice(2).join(' ')}`.trim();
  runAb(opts, command).then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`ab failed: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exit(1);
    },
);
}
