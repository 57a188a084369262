/**
 * live keeps the last few minutes of each function's traffic in one-second bins, for the status API and the
 * dashboard: requests, errors, latency (a small log-scale histogram per bin, so percentiles need no samples),
 * bounces and CPU boosts. Pure: every call takes the time, nothing here reads a clock or starts a timer.
 */

/** BUCKET_BOUNDS are the latency histogram's upper bounds in seconds; the last bin holds everything slower. */
export const BUCKET_BOUNDS: readonly number[] = [
  0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.4, 0.6, 1, 1.5, 2.5, 4, 6, 10, 15, 30, 60,
];

interface Bin {
  /** second is the epoch second this bin counts; a bin whose second is old is stale and reads as empty. */
  second: number;
  requests: number;
  errors: number;
  bounces: number;
  boosts: number;
  latency: number[];
}

/** Point is one second of one function's traffic, as the status API and the dashboard show it. */
export interface Point {
  /** t is the epoch second. */
  t: number;
  /** rps is the requests that finished in this second. */
  rps: number;
  /** errors counts those that ended with a 5xx. */
  errors: number;
  /** p50 and p99 are latency percentiles in milliseconds (null when nothing finished). */
  p50: number | null;
  p99: number | null;
  bounces: number;
  boosts: number;
}

function emptyBin(second: number): Bin {
  return { second, requests: 0, errors: 0, bounces: 0, boosts: 0, latency: new Array<number>(BUCKET_BOUNDS.length + 1).fill(0) };
}

function bucketOf(seconds: number): number {
  let lo = 0;
  let hi = BUCKET_BOUNDS.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (seconds <= BUCKET_BOUNDS[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * percentileMs reads a percentile (0..1) from histogram counts, interpolating inside the bucket it falls in, like
 * Prometheus' histogram_quantile. null when the histogram is empty.
 */
export function percentileMs(counts: readonly number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (c === 0) continue;
    if (seen + c >= rank) {
      const lower = i === 0 ? 0 : BUCKET_BOUNDS[i - 1]!;
      // The overflow bin has no upper bound: report its lower bound, as histogram_quantile does.
      if (i === BUCKET_BOUNDS.length) return lower * 1000;
      const upper = BUCKET_BOUNDS[i]!;
      return (lower + (upper - lower) * ((rank - seen) / c)) * 1000;
    }
    seen += c;
  }
  return BUCKET_BOUNDS[BUCKET_BOUNDS.length - 1]! * 1000;
}

/** LiveSeries holds windowSeconds of one-second bins per function key. */
export class LiveSeries {
  private readonly fns = new Map<string, Bin[]>();

  constructor(readonly windowSeconds = 300) {}

  private bin(key: string, nowMs: number): Bin {
    const second = Math.floor(nowMs / 1000);
    let ring = this.fns.get(key);
    if (!ring) {
      ring = new Array<Bin>(this.windowSeconds);
      this.fns.set(key, ring);
    }
    const i = second % this.windowSeconds;
    let b = ring[i];
    if (!b || b.second !== second) {
      b = emptyBin(second);
      ring[i] = b;
    }
    return b;
  }

  /** request records one finished request: its status code and how long it took in seconds. */
  request(key: string, nowMs: number, code: number, seconds: number): void {
    const b = this.bin(key, nowMs);
    b.requests++;
    if (code >= 500) b.errors++;
    b.latency[bucketOf(seconds)]!++;
  }

  /** bounce records one request an instance of the function handed back to the scheduler. */
  bounce(key: string, nowMs: number): void {
    this.bin(key, nowMs).bounces++;
  }

  /** boost records one phase-1 CPU scale-up of an instance of the function. */
  boost(key: string, nowMs: number): void {
    this.bin(key, nowMs).boosts++;
  }

  /** forget drops a function (removed). */
  forget(key: string): void {
    this.fns.delete(key);
  }

  /** keys lists the functions with any bin. */
  keys(): string[] {
    return [...this.fns.keys()];
  }

  /**
   * points returns the last `seconds` whole seconds before nowMs's second (the current, still filling second is
   * left out), oldest first, one point per second, empty seconds included.
   */
  points(key: string, nowMs: number, seconds = this.windowSeconds): Point[] {
    const ring = this.fns.get(key);
    const last = Math.floor(nowMs / 1000) - 1;
    const n = Math.min(seconds, this.windowSeconds - 1);
    const out: Point[] = [];
    for (let s = last - n + 1; s <= last; s++) {
      const b = ring?.[s % this.windowSeconds];
      if (!b || b.second !== s) {
        out.push({ t: s, rps: 0, errors: 0, p50: null, p99: null, bounces: 0, boosts: 0 });
        continue;
      }
      out.push({
        t: s,
        rps: b.requests,
        errors: b.errors,
        p50: percentileMs(b.latency, 0.5),
        p99: percentileMs(b.latency, 0.99),
        bounces: b.bounces,
        boosts: b.boosts,
      });
    }
    return out;
  }

  /** summary folds the last `seconds` into one figure set: mean req/s, p50/p99 over all of it, totals. */
  summary(key: string, nowMs: number, seconds = 60): { rps: number; p50: number | null; p99: number | null; errors: number; bounces: number; boosts: number } {
    const ring = this.fns.get(key);
    const last = Math.floor(nowMs / 1000) - 1;
    const counts = new Array<number>(BUCKET_BOUNDS.length + 1).fill(0);
    let requests = 0;
    let errors = 0;
    let bounces = 0;
    let boosts = 0;
    const n = Math.min(seconds, this.windowSeconds - 1);
    for (let s = last - n + 1; s <= last; s++) {
      const b = ring?.[s % this.windowSeconds];
      if (!b || b.second !== s) continue;
      requests += b.requests;
      errors += b.errors;
      bounces += b.bounces;
      boosts += b.boosts;
      for (let i = 0; i < counts.length; i++) counts[i]! += b.latency[i]!;
    }
    return { rps: requests / n, p50: percentileMs(counts, 0.5), p99: percentileMs(counts, 0.99), errors, bounces, boosts };
  }
}
