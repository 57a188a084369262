/**
 * workloads are the open-loop arrival schedules of the A/B , as pure, seeded generators: a
 * schedule is the list of send times, fixed before the run starts, so a slow system cannot slow the sender down
 * (no coordinated omission). Every generator takes `compress` (k >= 1): all durations are divided by k and the rates
 * kept, so a CI smoke run of W1 with k = 10 lasts 60 s instead of 10 min and still steps from 40 to 400 req/s.
 */
import { mulberry32 } from '../../src/scaling/backoff.js';

/** Schedule is a workload ready to run. */
export interface Schedule {
  /** name identifies the workload and its parameters, e.g. "w1-step x10 seed=1 compress=10". */
  name: string;
  /** durationMs is the length of the schedule; no send time reaches it. */
  durationMs: number;
  /** sendAt are offsets in ms from the start of the run, ascending. */
  sendAt: Float64Array;
  /** rateAt is the nominal rate (req/s) at an offset, for plots; it ignores the random draws. */
  rateAt: (tMs: number) => number;
  /** onsets are the offsets where bursts begin (for time-to-recover and first-relief metrics). */
  onsets: number[];
}

/** ArrivalProcess: uniform spaces requests by the integral of the rate (exact counts); poisson draws them. */
export type ArrivalProcess = 'uniform' | 'poisson';

/** CommonOptions are accepted by every generator. */
export interface CommonOptions {
  /** seed for the random draws (default 1). */
  seed?: number;
  /** compress divides every duration by k, keeping rates (default 1). */
  compress?: number;
  /** process of arrivals within a rate segment (default poisson). */
  process?: ArrivalProcess;
}

/** RatePiece is a constant or linearly changing rate over [startMs, endMs). */
export interface RatePiece {
  startMs: number;
  endMs: number;
  fromRate: number;
  toRate: number;
}

function checkCompress(k: number): number {
  if (!(k >= 1)) throw new RangeError(`compress = ${k}: must be >= 1`);
  return k;
}

function rateOf(pieces: RatePiece[], t: number): number {
  for (const p of pieces) {
    if (t >= p.startMs && t < p.endMs) return p.fromRate + ((p.toRate - p.fromRate) * (t - p.startMs)) / (p.endMs - p.startMs);
  }
  return 0;
}

/**
 * fromPieces turns a piecewise-linear rate into send times. uniform: request n is sent when the integral of the rate
 * reaches n + 0.5 (so 40 req/s for 1 s gives exactly 40 requests, at 12.5, 37.5, ... ms). poisson: a non-homogeneous
 * Poisson process by thinning with the seeded random source.
 */
export function fromPieces(pieces: RatePiece[], process: ArrivalProcess, rng: () => number): Float64Array {
  const out: number[] = [];
  if (process === 'uniform') {
    let carried = 0; // integral so far (requests)
    let next = 0.5;
    for (const p of pieces) {
      const dur = (p.endMs - p.startMs) / 1000;
      const a = (p.toRate - p.fromRate) / dur; // slope, req/s per s
      const total = (p.fromRate + p.toRate) * dur * 0.5;
      while (next - carried <= total + 1e-9) {
        const need = Math.max(0, next - carried); // requests into this piece
        // solve fromRate * s + a/2 * s^2 = need for s in [0, dur]
        let s: number;
        if (Math.abs(a) < 1e-12) s = need / p.fromRate;
        else s = (-p.fromRate + Math.sqrt(Math.max(0, p.fromRate * p.fromRate + 2 * a * need))) / a;
        const t = p.startMs + s * 1000;
        if (t >= p.endMs) break;
        out.push(t);
        next += 1;
      }
      carried += total;
    }
    return Float64Array.from(out);
  }
  for (const p of pieces) {
    const peak = Math.max(p.fromRate, p.toRate);
    if (peak <= 0) continue;
    let t = p.startMs;
    for (;;) {
      t += (-Math.log(1 - rng()) / peak) * 1000;
      if (t >= p.endMs) break;
      if (rng() * peak <= rateOf([p], t)) out.push(t);
    }
  }
  return Float64Array.from(out);
}

function build(name: string, pieces: RatePiece[], onsets: number[], o: CommonOptions): Schedule {
  const seed = o.seed ?? 1;
  const process = o.process ?? 'poisson';
  const durationMs = pieces.reduce((m, p) => Math.max(m, p.endMs), 0);
  return {
    name: `${name} ${process} seed=${seed} compress=${o.compress ?? 1}`,
    durationMs,
    sendAt: fromPieces(pieces, process, mulberry32(seed)),
    rateAt: (t) => rateOf(pieces, t),
    onsets,
  };
}

/** constantRate: `rate` req/s for `durationMs` (compressed by k). */
export function constantRate(rate: number, durationMs: number, o: CommonOptions = {}): Schedule {
  const k = checkCompress(o.compress ?? 1);
  return build(`constant ${rate}/s`, [{ startMs: 0, endMs: durationMs / k, fromRate: rate, toRate: rate }], [], o);
}

/** StepOptions parameterise W1. */
export interface StepOptions extends CommonOptions {
  baseRate?: number;
  burstRate?: number;
  beforeMs?: number;
  burstMs?: number;
  afterMs?: number;
}

/**
 * w1Step is W1, the 10x step: 40 req/s for 60 s, 400 req/s for 180 s, 40 req/s for 360 s (10 min; the tail covers the
 * HPA's 300 s down-stabilisation). One onset, at 60 s / k.
 */
export function w1Step(o: StepOptions = {}): Schedule {
  const k = checkCompress(o.compress ?? 1);
  const base = o.baseRate ?? 40;
  const burst = o.burstRate ?? 400;
  const a = (o.beforeMs ?? 60_000) / k;
  const b = a + (o.burstMs ?? 180_000) / k;
  const c = b + (o.afterMs ?? 360_000) / k;
  return build(`w1-step ${base}->${burst}/s`, [
    { startMs: 0, endMs: a, fromRate: base, toRate: base },
    { startMs: a, endMs: b, fromRate: burst, toRate: burst },
    { startMs: b, endMs: c, fromRate: base, toRate: base },
  ], [a], o);
}

/** SpikeOptions parameterise W2. */
export interface SpikeOptions extends CommonOptions {
  baseRate?: number;
  /** factor is the spike rate over the base (15 -> 600 req/s). */
  factor?: number;
  periodMs?: number;
  spikeMs?: number;
  spikes?: number;
  /** offsetMs is where the spike sits inside each period (default half a period). */
  offsetMs?: number;
}

/** w2Spikes is W2: base 40 req/s; every 60 s a 5 s spike at 15x (600 req/s); 10 spikes (10 min). */
export function w2Spikes(o: SpikeOptions = {}): Schedule {
  const k = checkCompress(o.compress ?? 1);
  const base = o.baseRate ?? 40;
  const spike = base * (o.factor ?? 15);
  const period = (o.periodMs ?? 60_000) / k;
  const len = (o.spikeMs ?? 5_000) / k;
  const off = (o.offsetMs ?? (o.periodMs ?? 60_000) / 2) / k;
  const n = o.spikes ?? 10;
  const pieces: RatePiece[] = [];
  const onsets: number[] = [];
  for (let i = 0; i < n; i++) {
    const p0 = i * period;
    pieces.push({ startMs: p0, endMs: p0 + off, fromRate: base, toRate: base });
    pieces.push({ startMs: p0 + off, endMs: p0 + off + len, fromRate: spike, toRate: spike });
    pieces.push({ startMs: p0 + off + len, endMs: p0 + period, fromRate: base, toRate: base });
    onsets.push(p0 + off);
  }
  return build(`w2-spikes ${base}x${o.factor ?? 15}`, pieces, onsets, o);
}

/** RampOptions parameterise W4. */
export interface RampOptions extends CommonOptions {
  fromRate?: number;
  toRate?: number;
  rampMs?: number;
  /** holdMs keeps the final rate after the ramp (default 0). */
  holdMs?: number;
}

/** w4Ramp is W4: 0 -> 400 req/s linearly over 120 s. */
export function w4Ramp(o: RampOptions = {}): Schedule {
  const k = checkCompress(o.compress ?? 1);
  const from = o.fromRate ?? 0;
  const to = o.toRate ?? 400;
  const ramp = (o.rampMs ?? 120_000) / k;
  const pieces: RatePiece[] = [{ startMs: 0, endMs: ramp, fromRate: from, toRate: to }];
  if (o.holdMs) pieces.push({ startMs: ramp, endMs: ramp + o.holdMs / k, fromRate: to, toRate: to });
  return build(`w4-ramp ${from}->${to}/s`, pieces, [0], o);
}

/** AzureLikeOptions parameterise W3. */
export interface AzureLikeOptions extends CommonOptions {
  baseRate?: number;
  minutes?: number;
  /** burstyShare is the probability that a minute is a burst minute (default 0.1). */
  burstyShare?: number;
  /** minBurst and maxBurst bound a burst minute's multiplier (5 and 50). */
  minBurst?: number;
  maxBurst?: number;
  /** paretoAlpha shapes the burst multipliers (default 1.2: most near minBurst, a few near maxBurst). */
  paretoAlpha?: number;
  /** meanOnMs / meanOffMs and onFactor shape the 2-state MMPP inside a minute (10 s, 50 s, 10x). */
  meanOnMs?: number;
  meanOffMs?: number;
  onFactor?: number;
}

/** azureMinuteMultipliers draws the per-minute multipliers of W3 over the base rate (heavy-tailed mix, see w3AzureLike). */
export function azureMinuteMultipliers(o: AzureLikeOptions, rng: () => number): number[] {
  const n = o.minutes ?? 10;
  const share = o.burstyShare ?? 0.1;
  const lo = o.minBurst ?? 5;
  const hi = o.maxBurst ?? 50;
  const alpha = o.paretoAlpha ?? 1.2;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    if (rng() < share) out.push(Math.min(hi, lo * Math.pow(1 - rng(), -1 / alpha)));
    else out.push(0.75 + 0.5 * rng()); // near base: 0.75x .. 1.25x
  }
  return out;
}

/**
 * w3AzureLike is W3: per-minute volumes from a heavy-tailed mix (most minutes near the base rate, about one in ten a
 * 5-50x burst minute, Pareto-distributed), and inside the minutes a 2-state MMPP whose ON state is 10x the OFF
 * state (mean ON 10 s, mean OFF 50 s), scaled so each minute's expected count is multiplier x base x 60.
 * Worked example: base 20 req/s, a 1x minute: ON share 10/60, so OFF rate r solves r x (50/60) + 10r x (10/60) = 20
 * -> r = 8 req/s, ON 80 req/s.
 */
export function w3AzureLike(o: AzureLikeOptions = {}): Schedule {
  const k = checkCompress(o.compress ?? 1);
  const rng = mulberry32((o.seed ?? 1) ^ 0x5eed);
  const base = o.baseRate ?? 20;
  const mult = azureMinuteMultipliers(o, rng);
  const onMean = (o.meanOnMs ?? 10_000) / k;
  const offMean = (o.meanOffMs ?? 50_000) / k;
  const onFactor = o.onFactor ?? 10;
  const minute = 60_000 / k;
  const onShare = onMean / (onMean + offMean);
  const norm = 1 - onShare + onFactor * onShare; // mean rate / OFF rate
  const pieces: RatePiece[] = [];
  const onsets: number[] = [];
  let on = false;
  let t = 0;
  let stateEnd = -Math.log(1 - rng()) * offMean;
  for (let m = 0; m < mult.length; m++) {
    const end = (m + 1) * minute;
    const off = (mult[m]! * base) / norm;
    if (mult[m]! >= (o.minBurst ?? 5)) onsets.push(m * minute);
    while (t < end) {
      const segEnd = Math.min(end, stateEnd);
      const r = on ? off * onFactor : off;
      if (segEnd > t) pieces.push({ startMs: t, endMs: segEnd, fromRate: r, toRate: r });
      t = segEnd;
      if (t >= stateEnd) {
        on = !on;
        stateEnd = t - Math.log(1 - rng()) * (on ? onMean : offMean);
      }
    }
  }
  const s = build(`w3-azure-like base ${base}/s`, pieces, onsets, o);
  return s;
}

/**
 * fromInvocationTrace replays an AzureFunctionsInvocationTrace2021-style CSV (columns app, func, end_timestamp,
 * duration; seconds): arrival = end_timestamp - duration, shifted so the first arrival is at 0, optionally filtered
 * to one app/func and cut at maxDurationMs. Compression divides the offsets by k (so rates grow k times).
 */
export function fromInvocationTrace(csv: string, o: { app?: string; func?: string; maxDurationMs?: number; compress?: number } = {}): Schedule {
  const k = checkCompress(o.compress ?? 1);
  const lines = csv.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new Error('trace: empty file');
  const head = lines[0]!.split(',').map((h) => h.trim().toLowerCase());
  const col = (n: string): number => {
    const i = head.indexOf(n);
    if (i < 0) throw new Error(`trace: missing column "${n}" (have ${head.join(', ')})`);
    return i;
  };
  const [ia, iff, ie, id] = [col('app'), col('func'), col('end_timestamp'), col('duration')];
  const arrivals: number[] = [];
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    if (o.app && f[ia]!.trim() !== o.app) continue;
    if (o.func && f[iff]!.trim() !== o.func) continue;
    const at = (Number(f[ie]) - Number(f[id])) * 1000;
    if (Number.isFinite(at)) arrivals.push(at);
  }
  arrivals.sort((a, b) => a - b);
  const t0 = arrivals[0] ?? 0;
  let sendAt = arrivals.map((a) => (a - t0) / k);
  if (o.maxDurationMs !== undefined) sendAt = sendAt.filter((t) => t < o.maxDurationMs!);
  const durationMs = sendAt.length ? sendAt[sendAt.length - 1]! + 1 : 0;
  const perSec = new Map<number, number>();
  for (const t of sendAt) perSec.set(Math.floor(t / 1000), (perSec.get(Math.floor(t / 1000)) ?? 0) + 1);
  return { name: `trace ${o.app ?? '*'}/${o.func ?? '*'} compress=${k}`, durationMs, sendAt: Float64Array.from(sendAt), rateAt: (t) => perSec.get(Math.floor(t / 1000)) ?? 0, onsets: [] };
}

/**
 * reliefStep is the burst-relief step: 20 req/s for 10 s, 200 req/s for 60 s, 20 req/s for 20 s (a 10x step, the
 * shape the relief figures are measured on; the A/B harness runs it per case, shortened by --quick).
 */
export function reliefStep(o: StepOptions = {}): Schedule {
  return w1Step({ baseRate: 20, burstRate: 200, beforeMs: 10_000, burstMs: 60_000, afterMs: 20_000, ...o });
}

/** workloadNames are the names the CLI accepts. */
export const workloadNames = ['w1', 'w2', 'w3', 'w4', 'relief', 'constant'] as const;

/** byName builds a named workload with its defaults (constant: `rate` req/s for `durationMs`, defaults 50 and 10 s). */
export function byName(name: (typeof workloadNames)[number], o: CommonOptions & { rate?: number; durationMs?: number } = {}): Schedule {
  switch (name) {
    case 'w1':
      return w1Step(o);
    case 'w2':
      return w2Spikes(o);
    case 'w3':
      return w3AzureLike(o);
    case 'w4':
      return w4Ramp(o);
    case 'relief':
      return reliefStep(o);
    case 'constant':
      return constantRate(o.rate ?? 50, o.durationMs ?? 10_000, o);
  }
}
