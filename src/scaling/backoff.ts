/**
 * backoff computes retry delays: exponential from `baseMs`, capped at `maxMs`, with "full jitter" drawn from an
 * injected random source so that tests are deterministic and retries of many clients failing at once spread out instead of arriving together.
 */

/** BackoffOptions configure backoffDelay. */
export interface BackoffOptions {
  /** baseMs is the delay before the first retry (attempt 1) without jitter. */
  baseMs: number;
  /** maxMs caps every delay. */
  maxMs: number;
  /** factor multiplies the delay per attempt (default 2). */
  factor?: number;
  /** jitter in [0, 1]: the share of the delay that is randomised (default 1 = full jitter, 0 = none). */
  jitter?: number;
}

/**
 * backoffDelay is the delay before retry number `attempt` (1-based). rng returns a number in [0, 1).
 * Worked example: base 100, factor 2, max 1000, jitter 0: attempts 1..5 -> 100, 200, 400, 800, 1000.
 * With jitter 0.5 and rng() = 0, attempt 3 -> 400 * (1 - 0.5) = 200; with rng() -> 1, it approaches 400.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions, rng: () => number): number {
  if (!(attempt >= 1)) throw new RangeError(`backoffDelay(attempt = ${attempt}): attempt starts at 1`);
  const factor = opts.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, opts.jitter ?? 1));
  const raw = Math.min(opts.maxMs, opts.baseMs * Math.pow(factor, attempt - 1));
  return raw * (1 - jitter) + raw * jitter * rng();
}

/**
 * mulberry32 is a tiny seeded random source (period 2^32), enough for jitter and synthetic workloads.
 * The same seed always yields the same sequence.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
