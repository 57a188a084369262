/**
 * report turns finished A/B runs into the markdown report and its SVG figures : per workload a
 * table of every arm (latency, time to first relief, time to recover, failures by code, container-seconds and
 * allocated CPU-seconds, routes, scaling events), p50/p99 per second over time per arm (like the paper's Figures 1
 * and 2) and the scale timeline (containers, borrowed guest slots, allocated CPU). Pure: strings in, strings out.
 */
import type { Bin, RunSummary } from '../loadgen/metrics.js';
import { latencyCharts, lineChartSvg, palette, panelsSvg, type Chart } from '../loadgen/plot.js';

/** Sample is the harness's view of the function under test at one moment of a run (offset t ms from the start). */
export interface Sample {
  t: number;
  /** replicas is the desired replica count the provider holds. */
  replicas: number;
  /** available is the ready replica count the provider reports. */
  available: number;
  /** reporting is how many of its instances published a load report in the last 1.5 s. */
  reporting: number;
  /** containers is what is charged: max(replicas, reporting) (starting and draining instances included). */
  containers: number;
  /** cpuAllocated is the sum of the instances' CPU limits in cores (a phase-1 boost included). */
  cpuAllocated: number;
  /** boosted counts instances whose CPU limit is above the function's normal limit. */
  boosted: number;
  /** guests counts guest slots on other functions' instances that serve this function. */
  guests: number;
  /** busy is the whole box's CPU busy share since the previous sample (0..1, from /proc/stat; NaN if unknown). */
  busy?: number;
  /** queued is the requests waiting inside the function's ICSs (their load reports' queue depth). */
  queued?: number;
  /** inflight is the requests in the function's own slots (home slots and guest slots serving it) per the reports. */
  inflight?: number;
  /** slotCapacity is the sum of the home slots' concurrency limits (a phase-1 concurrency boost shows here). */
  slotCapacity?: number;
}

/** Cost integrates samples over time. */
export interface Cost {
  containerSeconds: number;
  cpuSeconds: number;
  /** guestSlotSeconds is borrowed guest-slot time (phase 2), charged separately: the host container exists anyway. */
  guestSlotSeconds: number;
  peakContainers: number;
  peakGuests: number;
  peakBoosted: number;
}

/** ArmRun is one arm on one workload. */
export interface ArmRun {
  arm: string;
  /** describe says what the arm is (policy, labels, env). */
  describe: string;
  workload: string;
  scheduleName: string;
  durationMs: number;
  onsets: number[];
  summary: RunSummary;
  bins: Bin[];
  samples: Sample[];
  cost: Cost;
  /** routes counts x-hyperfaas-route values; slots counts x-hyperfaas-slot values. */
  routes: Record<string, number>;
  slots: Record<string, number>;
  /** phases counts "scaling phase" transitions into each phase during the run. */
  phases: Record<string, number>;
  /** firstEvents are the first few phase transitions, as "t=1.2s steady->scale-out (3)". */
  firstEvents: string[];
  /** decisions are the scaler's phase changes with their reasons, t in ms from the start of the run (runs.json). */
  decisions?: Array<{ t: number; from: string; to: string; replicas?: number; reasons: string[] }>;
  maxSendLagMs: number;
  /** boxBusy is the mean CPU busy share of the whole box during the run (every process, other users' included). */
  boxBusy?: number;
  /** loadavg is the 1-minute load average at the end of the run. */
  loadavg?: number;
  /** scheduled is the schedule's length; sent + notSent = scheduled. */
  scheduled: number;
}

/** ReportHeader is everything printed above the tables. */
export interface ReportHeader {
  title: string;
  date: string;
  compressed: number;
  durationScale: number;
  /** rateScale multiplied every workload rate (1 = as designed). */
  rateScale: number;
  command: string;
  machine: string[];
  functionUnderTest: string[];
  hpaParams: Record<string, string>;
  hyperfaasParams: string;
  notes: string[];
}

/** costOf integrates step-wise: each sample holds until the next one (the last one for `tailMs`). */
export function costOf(samples: readonly Sample[], tailMs = 500): Cost {
  const c: Cost = { containerSeconds: 0, cpuSeconds: 0, guestSlotSeconds: 0, peakContainers: 0, peakGuests: 0, peakBoosted: 0 };
  for (let k = 0; k < samples.length; k++) {
    const s = samples[k]!;
    const dt = ((k + 1 < samples.length ? samples[k + 1]!.t : s.t + tailMs) - s.t) / 1000;
    c.containerSeconds += s.containers * dt;
    c.cpuSeconds += s.cpuAllocated * dt;
    c.guestSlotSeconds += s.guests * dt;
    c.peakContainers = Math.max(c.peakContainers, s.containers);
    c.peakGuests = Math.max(c.peakGuests, s.guests);
    c.peakBoosted = Math.max(c.peakBoosted, s.boosted);
  }
  return c;
}

const fmtMs = (v: number | null | undefined): string => (v === null || v === undefined || Number.isNaN(v) ? 'never' : v >= 10_000 ? `${(v / 1000).toFixed(0)} s` : v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);
const fmt1 = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '-');

/** spread summarises per-onset values: "median / worst (n never)". Example: [0, 2000, null] -> "1.0 s / 2.0 s, 1 never". */
export function spread(values: ReadonlyArray<number | null>): string {
  if (values.length === 0) return '-';
  const got = values.filter((v): v is number => v !== null).sort((a, b) => a - b);
  const never = values.length - got.length;
  if (got.length === 0) return `never (${never})`;
  const med = got[Math.floor((got.length - 1) / 2)]!;
  const worst = got[got.length - 1]!;
  const base = values.length === 1 ? fmtMs(med) : `${fmtMs(med)} / ${fmtMs(worst)}`;
  return never ? `${base}, ${never} never` : base;
}

function codes(byCode: Record<string, number>): string {
  const e = Object.entries(byCode).sort((a, b) => b[1] - a[1]);
  return e.length ? e.map(([k, v]) => `${k}: ${v}`).join(', ') : '0';
}

/** latencySvg is one workload's p50/p99-over-time figure, one panel per arm, shared log y axis. */
export function latencySvg(runs: readonly ArmRun[], sloMs: number, title: string): string {
  const charts = latencyCharts(
    runs.map((r) => ({ name: r.arm, bins: r.bins })),
    { sloMs, logY: true, title },
);
  return panelsSvg(charts, Math.min(2, charts.length));
}

/** timelineSvg is one workload's scale timeline: containers, borrowed guest slots, boosted instances and allocated CPU per arm. */
export function timelineSvg(runs: readonly ArmRun[], title: string): string {
  const yMax = Math.max(1, ...runs.flatMap((r) => r.samples.map((s) => Math.max(s.containers, s.guests, s.cpuAllocated * 10))));
  const charts: Chart[] = runs.map((r) => ({
    title: `${title}: ${r.arm}`,
    xLabel: 'time (s)',
    yLabel: 'count',
    yMin: 0,
    yMax: Math.ceil(yMax),
    series: [
      { name: 'containers', points: r.samples.map((s) => [s.t / 1000, s.containers] as [number, number]), color: palette[0] },
      { name: 'ready replicas', points: r.samples.map((s) => [s.t / 1000, s.available] as [number, number]), color: palette[2], dashed: true },
      { name: 'borrowed guest slots', points: r.samples.map((s) => [s.t / 1000, s.guests] as [number, number]), color: palette[1] },
      { name: 'boosted instances', points: r.samples.map((s) => [s.t / 1000, s.boosted] as [number, number]), color: palette[3] },
      { name: 'allocated CPU x10 (cores)', points: r.samples.map((s) => [s.t / 1000, s.cpuAllocated * 10] as [number, number]), color: palette[4], dashed: true },
      { name: 'box CPU busy x10 (all processes)', points: r.samples.filter((s) => s.busy !== undefined && Number.isFinite(s.busy)).map((s) => [s.t / 1000, s.busy! * 10] as [number, number]), color: palette[5], dashed: true },
      { name: 'offered load / 100 (req/s)', points: r.bins.map((b) => [b.t / 1000, b.count / 100] as [number, number]), color: palette[7], dashed: true },
    ],
  }));
  return charts.length === 1 ? lineChartSvg(charts[0]!) : panelsSvg(charts, Math.min(2, charts.length));
}

/** readyAtOnset is the ready replica count in the last sample before the run's first burst onset (undefined without one). */
export function readyAtOnset(r: Pick<ArmRun, 'onsets' | 'samples'>): number | undefined {
  const onset = r.onsets[0];
  if (onset === undefined) return undefined;
  let last: Sample | undefined;
  for (const s of r.samples) if (s.t <= onset) last = s;
  return last?.available;
}

/** ReportSections are the headings a report always has (the smoke test checks them). */
export const reportSections = [
  '## What was run',
  '## Machine',
  '## Function under test',
  '## HPA parameters',
  '## HyperFaaS parameters',
  '## Results',
  '## Caveats',
] as const;

/**
 * markdown writes the report. `figures` maps a workload to its figure paths relative to the report
 * ({latency, timeline}).
 */
export function markdown(
  h: ReportHeader,
  byWorkload: ReadonlyMap<string, ArmRun[]>,
  figures: ReadonlyMap<string, { latency: string; timeline: string }>,
  sloMs: number,
  extra: { skipped?: Readonly<Record<string, string>> } = {},
): string {
  const L: string[] = [];
  const compressed = h.compressed > 1 || h.durationScale !== 1;
  L.push(`# ${h.title}${compressed ? ' (compressed)' : ''}`, '');
  L.push(`${h.date}.${compressed ? ` **Compressed run**: HPA control-plane timers divided by ${h.compressed} (HYPERFAAS_HPA_COMPRESS), workload timelines divided by ${h.compressed}${h.durationScale !== 1 ? ` and multiplied by duration-scale ${h.durationScale}` : ''}; rates are unchanged by compression. Not comparable with uncompressed numbers.` : ''}${h.rateScale !== 1 ? ` **Rates scaled by ${h.rateScale}** (every workload rate multiplied; the shapes and ratios are kept).` : ''}`, '');
  L.push('## What was run', '', '```sh', h.command, '```', '');
  for (const [w, runs] of byWorkload) {
    L.push(`- ${w}: ${runs[0]?.scheduleName ?? ''}, ${((runs[0]?.durationMs ?? 0) / 1000).toFixed(0)} s per arm; arms ${runs.map((r) => r.arm).join(', ')}; one run per arm`);
  }
  for (const [w, why] of Object.entries(extra.skipped ?? {})) L.push(`- ${w}: not run: ${why}`);
  L.push('', '## Machine', '', ...h.machine.map((m) => `- ${m}`), '');
  L.push('## Function under test', '', ...h.functionUnderTest.map((m) => `- ${m}`), '');
  L.push('## HPA parameters', '', '| arm | parameters (as the emulator ran them) |', '| --- | --- |');
  for (const [k, v] of Object.entries(h.hpaParams)) L.push(`| ${k} | ${v} |`);
  L.push('', '## HyperFaaS parameters', '', h.hyperfaasParams, '');
  L.push('## Results', '', `SLO = ${sloMs} ms (p99). Latency from the scheduled send time (open loop), 1 s bins. First relief: from a burst onset to the first bin whose p99 is back under 2 x SLO; TTR: to the start of a 10 s stretch in which every 5 s window of requests (by scheduled time, read from its start) has its p99 under the SLO. With several onsets: median / worst. Container-seconds count every instance of the function from start to exit (starting and held-unready ones included); allocated CPU-seconds are CPU limit x time (phase-1 boosts included); borrowed guest-slot seconds are listed apart (they live in the lender's container, which every arm pays for).`, '');
  L.push(
    '### Summary',
    '',
    'Replicas at the onset: ready replicas in the last sample before the first burst onset (more than 1 means the base load had already scaled the function out, and the step met more capacity).',
    '',
    '| case | arm | requests | failed | peak p99 (1 s bin) | first relief | TTR | replicas at the onset |',
    '| --- | --- | ---: | ---: | ---: | --- | --- | ---: |',
  );
  for (const [w, runs] of byWorkload) {
    for (const r of runs) {
      const s = r.summary;
      L.push(`| ${w} | ${r.arm} | ${s.requests} | ${s.failures.failed} | ${fmtMs(s.peakP99)} | ${spread(s.firstReliefMs)} | ${spread(s.recoverMs)} | ${readyAtOnset(r) ?? '?'} |`);
    }
  }
  for (const [w, why] of Object.entries(extra.skipped ?? {})) L.push(`| ${w} | - | - | - | - | ${why} | - | - |`);
  L.push('');
  for (const [w, runs] of byWorkload) {
    const f = figures.get(w);
    L.push(`### ${w}: ${runs[0]?.scheduleName ?? ''}`, '');
    L.push('| arm | requests | ok | failed by code | p50 | p99 | peak p99 (1 s bin) | first relief | TTR | SLO-violation s | container-s | alloc. CPU-s | guest-slot-s | peak containers | routes | phases |');
    L.push('| --- | ---: | ---: | --- | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |');
    for (const r of runs) {
      const s = r.summary;
      L.push(
        `| ${r.arm} | ${s.requests} | ${s.failures.ok} | ${codes(s.failures.byCode)} | ${fmtMs(s.p50)} | ${fmtMs(s.p99)} | ${fmtMs(s.peakP99)} | ${spread(s.firstReliefMs)} | ${spread(s.recoverMs)} | ${s.slo.seconds} | ${fmt1(r.cost.containerSeconds)} | ${fmt1(r.cost.cpuSeconds)} | ${fmt1(r.cost.guestSlotSeconds)} | ${r.cost.peakContainers} | ${codes(r.routes)} | ${codes(r.phases)} |`,
);
    }
    L.push('');
    for (const r of runs) {
      L.push(`- **${r.arm}**: ${r.describe}. Generator: ${r.scheduled} scheduled = ${r.summary.requests} recorded; worst send lag ${fmtMs(r.maxSendLagMs)}; box CPU busy ${r.boxBusy !== undefined && Number.isFinite(r.boxBusy) ? `${Math.round(r.boxBusy * 100)} %` : 'unknown'}, load average ${r.loadavg?.toFixed(1) ?? '?'} at the end. Slots: ${codes(r.slots)}. First scaling events: ${r.firstEvents.join('; ') || 'none'}.`);
    }
    if (f) L.push('', `![${w} latency](${f.latency})`, '', `![${w} scale timeline](${f.timeline})`);
    L.push('');
  }
  L.push('## Caveats', '', ...h.notes.map((n) => `- ${n}`), '');
  return L.join('\n');
}
