/**
 * metrics turns per-request records into the A/B figures: 1 s bins with p50/p99 and counts by
 * status, the 5 s sliding p99, time to first relief, time to recover, SLO-violation seconds and failures by code.
 * Pure functions over arrays; every time is an offset in ms from the start of the run, and latency is measured from
 * the SCHEDULED send time.
 */

/** RequestRecord is one scheduled request and what became of it. */
export interface RequestRecord {
  /** i is the index in the schedule. */
  i: number;
  /** scheduledMs is when the schedule said to send it. */
  scheduledMs: number;
  /** startMs is when the generator actually handed it to the HTTP client (-1 if never sent). */
  startMs: number;
  /** endMs is when the response body ended or the request failed. */
  endMs: number;
  /** status is the HTTP status, or 0 when there was no response. */
  status: number;
  /** error is a short code when there was no response: TIMEOUT, ECONNREFUSED, ECONNRESET, ... */
  error?: string;
  /** headers are the response headers of interest (e.g. x-hyperfaas-route), lower-case names. */
  headers?: Record<string, string>;
}

/** latencyOf is the latency from the scheduled send time. */
export function latencyOf(r: RequestRecord): number {
  return r.endMs - r.scheduledMs;
}

/** isOk: a 2xx response. */
export function isOk(r: RequestRecord): boolean {
  return r.status >= 200 && r.status < 300;
}

/** quantile of an ascending array (nearest-rank: the smallest value with at least q of the data at or below it). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

/** Bin is one time bin of a run. */
export interface Bin {
  /** t is the bin's start offset (ms). */
  t: number;
  count: number;
  ok: number;
  /** byStatus counts responses by status code ("200", "429", ...) and failures by error code ("TIMEOUT", ...). */
  byStatus: Record<string, number>;
  /** p50, p99, max are latencies (ms) of every record in the bin, failures included (a timeout counts as its wait). */
  p50: number;
  p99: number;
  max: number;
}

/** outcomeKey is the status code as text, or the error code when there was no response. */
export function outcomeKey(r: RequestRecord): string {
  return r.status > 0 ? String(r.status) : (r.error ?? 'ERROR');
}

/**
 * binRecords groups records by scheduled time into bins of binMs (default 1 s) from 0 up to durationMs (or the last
 * record). Empty bins are kept (count 0, latencies NaN) so series line up across arms.
 */
export function binRecords(records: readonly RequestRecord[], binMs = 1000, durationMs?: number): Bin[] {
  const end = durationMs ?? records.reduce((m, r) => Math.max(m, r.scheduledMs + 1), 0);
  const n = Math.max(0, Math.ceil(end / binMs));
  const lat: number[][] = Array.from({ length: n }, () => []);
  const bins: Bin[] = Array.from({ length: n }, (_, k) => ({ t: k * binMs, count: 0, ok: 0, byStatus: {}, p50: NaN, p99: NaN, max: NaN }));
  for (const r of records) {
    const k = Math.floor(r.scheduledMs / binMs);
    if (k < 0 || k >= n) continue;
    const b = bins[k]!;
    b.count++;
    if (isOk(r)) b.ok++;
    const key = outcomeKey(r);
    b.byStatus[key] = (b.byStatus[key] ?? 0) + 1;
    lat[k]!.push(latencyOf(r));
  }
  for (let k = 0; k < n; k++) {
    const l = lat[k]!.sort((a, b) => a - b);
    if (l.length) {
      bins[k]!.p50 = quantile(l, 0.5);
      bins[k]!.p99 = quantile(l, 0.99);
      bins[k]!.max = l[l.length - 1]!;
    }
  }
  return bins;
}

/** SeriesPoint is one point of a time series: t (ms) and a value. */
export interface SeriesPoint {
  t: number;
  v: number;
}

/**
 * slidingQuantile is the q-quantile (p99 by default) of the latencies of requests scheduled in [t - windowMs, t),
 * evaluated every stepMs. Example: window 5 s, step 1 s: the value at t = 10 s covers requests scheduled in
 * [5 s, 10 s). Windows with no request give NaN.
 */
export function slidingQuantile(records: readonly RequestRecord[], q = 0.99, windowMs = 5000, stepMs = 1000, durationMs?: number): SeriesPoint[] {
  const sorted = [...records].sort((a, b) => a.scheduledMs - b.scheduledMs);
  const end = durationMs ?? (sorted.length ? sorted[sorted.length - 1]!.scheduledMs + 1 : 0);
  const out: SeriesPoint[] = [];
  let lo = 0;
  let hi = 0;
  for (let t = stepMs; t <= Math.ceil(end / stepMs) * stepMs; t += stepMs) {
    while (hi < sorted.length && sorted[hi]!.scheduledMs < t) hi++;
    while (lo < hi && sorted[lo]!.scheduledMs < t - windowMs) lo++;
    const l = sorted.slice(lo, hi).map(latencyOf).sort((a, b) => a - b);
    out.push({ t, v: l.length ? quantile(l, q) : NaN });
  }
  return out;
}

/**
 * timeToFirstRelief: from the onset, the burst is felt once a bin's p99 exceeds 2 x SLO; relief is the first later bin
 * whose p99 is back under 2 x SLO. Returns ms from onset to the start of that bin, 0 if no bin after the onset ever
 * exceeded 2 x SLO, and null if relief never came; with several bursts, endMs (the next onset) bounds the search. Example: SLO 100, bins p99 from the onset 50, 400, 900, 150, 80:
 * felt at bin 1, relief at bin 3 -> 3000 ms.
 */
export function timeToFirstRelief(bins: readonly Bin[], onsetMs: number, sloMs: number, endMs = Infinity): number | null {
  // Only the bins of this burst (up to the next onset): a burst that was absorbed must not borrow a later one's delay.
  const after = bins.filter((b) => b.t >= onsetMs && b.t < endMs && b.count > 0);
  const felt = after.findIndex((b) => b.p99 > 2 * sloMs);
  if (felt < 0) return 0;
  const relief = after.slice(felt).find((b) => b.p99 <= 2 * sloMs);
  return relief ? relief.t - onsetMs : null;
}

/**
 * timeToRecover (TTR): from the onset until the sliding p99 is <= SLO and stays so for at least holdMs (10 s).
 * Returns ms from the onset to the first point of that calm stretch (0 when it never exceeded), or null when the run
 * ended before a full calm stretch. Points without requests (NaN) neither break nor extend a stretch.
 * Example: SLO 100, points at 1, 2, 3, 4 s after the onset 80, 300, 120, 90, then 90 for 12 s: TTR = 4000 ms.
 */
export function timeToRecover(sliding: readonly SeriesPoint[], onsetMs: number, sloMs: number, holdMs = 10_000): number | null {
  const pts = sliding.filter((p) => p.t > onsetMs && !Number.isNaN(p.v));
  if (pts.length === 0) return null;
  if (pts.every((p) => p.v <= sloMs)) return 0;
  let start: number | null = null;
  for (const p of pts) {
    if (p.v > sloMs) start = null;
    else {
      if (start === null) start = p.t;
      if (p.t - start >= holdMs) return start - onsetMs;
    }
  }
  return null;
}

/** SloViolation is the summary of time spent above the SLO. */
export interface SloViolation {
  /** seconds is the total length of bins whose p99 exceeded the SLO. */
  seconds: number;
  /** areaMsS is the area above the SLO: sum over such bins of (p99 - SLO) x bin length in s. */
  areaMsS: number;
}

/** sloViolation sums bins with p99 > SLO. Example: 1 s bins with p99 50, 250, 150 vs SLO 100 -> 2 s, area 200 ms·s. */
export function sloViolation(bins: readonly Bin[], sloMs: number, binMs = 1000): SloViolation {
  let seconds = 0;
  let areaMsS = 0;
  for (const b of bins) {
    if (b.count > 0 && b.p99 > sloMs) {
      seconds += binMs / 1000;
      areaMsS += ((b.p99 - sloMs) * binMs) / 1000;
    }
  }
  return { seconds, areaMsS };
}

/** Failures summarises what did not succeed. */
export interface Failures {
  total: number;
  ok: number;
  failed: number;
  successRatio: number;
  /** byCode counts non-2xx statuses and error codes, e.g. {"429": 12, "TIMEOUT": 3}. */
  byCode: Record<string, number>;
}

/** failures counts non-2xx responses and errors by code. */
export function failures(records: readonly RequestRecord[]): Failures {
  const byCode: Record<string, number> = {};
  let ok = 0;
  for (const r of records) {
    if (isOk(r)) ok++;
    else byCode[outcomeKey(r)] = (byCode[outcomeKey(r)] ?? 0) + 1;
  }
  const total = records.length;
  return { total, ok, failed: total - ok, successRatio: total ? ok / total : 1, byCode };
}

/** countHeader counts the values of one recorded header, e.g. x-hyperfaas-route -> {direct: 900, bounced: 12}. */
export function countHeader(records: readonly RequestRecord[], name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) {
    const v = r.headers?.[name];
    if (v !== undefined) out[v] = (out[v] ?? 0) + 1;
  }
  return out;
}

/** RunSummary is the per-run figure set the A/B reports. */
export interface RunSummary {
  requests: number;
  p50: number;
  p99: number;
  max: number;
  failures: Failures;
  slo: SloViolation;
  /** firstReliefMs and recoverMs are per onset. */
  firstReliefMs: Array<number | null>;
  recoverMs: Array<number | null>;
  peakP99: number;
}

/** summarise computes the RunSummary of a run for an SLO and the schedule's burst onsets. */
export function summarise(records: readonly RequestRecord[], sloMs: number, onsets: readonly number[], durationMs?: number): RunSummary {
  const l = records.map(latencyOf).sort((a, b) => a - b);
  const bins = binRecords(records, 1000, durationMs);
  const sliding = slidingQuantile(records, 0.99, 5000, 1000, durationMs);
  const leading = sliding.map((p) => ({ t: p.t - 5000, v: p.v }));
  return {
    requests: records.length,
    p50: quantile(l, 0.5),
    p99: quantile(l, 0.99),
    max: l.length ? l[l.length - 1]! : NaN,
    failures: failures(records),
    slo: sloViolation(bins, sloMs),
    firstReliefMs: onsets.map((o, k) => timeToFirstRelief(bins, o, sloMs, onsets[k + 1])),
    // TTR reads each 5 s window from its start: "the requests scheduled from t on, for 5 s, are back under the SLO".
    // Read from its end (the plotted trailing p99), every TTR would carry the window's length, 5 s, on top.
    recoverMs: onsets.map((o) => timeToRecover(leading, o, sloMs)),
    peakP99: bins.reduce((m, b) => (b.count > 0 && b.p99 > m ? b.p99 : m), 0),
  };
}
