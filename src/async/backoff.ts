/** backoff is the retry policy of the queue worker. Pure: no timers; the caller turns the delay into a nak(delay). */

/** RetryableStatuses are the function answers that mean "try again later": overloaded, bad gateway, unavailable, timeout. */
export const retryableStatuses: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/**
 * backoffDelayMs is the wait after failed attempt number `attempt` (1-based): initial * 2^(attempt-1), capped at max.
 * With initial 1s and max 60s: 1s, 2s, 4s, 8s, 16s, 32s, 60s, 60s... (see test/unit/async/backoff.test.ts).
 * jitter in [0, 1) (an injected random number) shortens the delay by up to a quarter so retries of a burst spread out.
 */
export function backoffDelayMs(attempt: number, initialMs: number, maxMs: number, jitter = 0): number {
  if (attempt < 1 || initialMs <= 0) return 0;
  const exp = Math.min(attempt - 1, 40);
  const raw = Math.min(maxMs, initialMs * 2 ** exp);
  return Math.round(raw * (1 - 0.25 * Math.min(Math.max(jitter, 0), 0.999999)));
}

/** Outcome is what the worker does with a message after one attempt. */
export type Outcome =
  | { kind: 'done' }
  | { kind: 'retry'; delayMs: number }
  | { kind: 'dead'; reason: string };

/**
 * decideOutcome maps one attempt's result to done, retry (with its delay) or dead-letter.
 * status is the function's HTTP status, or undefined when it could not be reached (connection error).
 */
export function decideOutcome(
  attempt: number,
  status: number | undefined,
  policy: { maxAttempts: number; initialBackoffMs: number; maxBackoffMs: number },
  jitter = 0,
): Outcome {
  const retryable = status === undefined || retryableStatuses.has(status);
  if (!retryable) return { kind: 'done' };
  if (attempt >= policy.maxAttempts) {
    return { kind: 'dead', reason: `${status === undefined ? 'unreachable' : `status ${status}`} after ${attempt} attempts` };
  }
  return { kind: 'retry', delayMs: backoffDelayMs(attempt, policy.initialBackoffMs, policy.maxBackoffMs, jitter) };
}
