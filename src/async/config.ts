/** config reads the async settings from an env map. Pure: the caller passes process.env (or a literal in tests). */
import { ConfigError, parseDurationMs, parseMemory, positiveQuantity } from '../units.js';

/** AsyncConfig is the frozen result of readAsyncConfig; durations in milliseconds, sizes in bytes. */
export interface AsyncConfig {
  /** maxBodyBytes (async_max_body) is the largest request body accepted; larger gets 413. */
  readonly maxBodyBytes: number;
  /** concurrency (async_concurrency) is how many queued invocations one worker runs at once. */
  readonly concurrency: number;
  /** maxAttempts (async_max_attempts) is how many deliveries a message gets before it is dead-lettered. */
  readonly maxAttempts: number;
  /** initialBackoffMs (async_initial_backoff) is the delay before the second attempt; it doubles per attempt. */
  readonly initialBackoffMs: number;
  /** maxBackoffMs (async_max_backoff) caps the delay between attempts. */
  readonly maxBackoffMs: number;
  /** ackWaitMs (async_ack_wait) is the consumer's ack wait: an unacknowledged message comes back after it. */
  readonly ackWaitMs: number;
  /** callbackAttempts (async_callback_attempts) is how many times a callback POST is tried. */
  readonly callbackAttempts: number;
  /** publishTimeoutMs (async_publish_timeout) bounds the wait for JetStream's publish ack before answering 503. */
  readonly publishTimeoutMs: number;
  /** invokeTimeoutMs (async_invoke_timeout) bounds one invocation (0 = only the platform's own timeouts). */
  readonly invokeTimeoutMs: number;
  /** depthIntervalMs (async_depth_interval) is how often the queue-depth gauge is refreshed. */
  readonly depthIntervalMs: number;
  /** inProcessWorker (HYPERFAAS_ASYNC_WORKER) runs the queue worker inside the provider. */
  readonly inProcessWorker: boolean;
}

/** natsDefaultMaxPayload is nats-server's default max_payload (1 MiB). */
export const natsDefaultMaxPayload = 1024 * 1024;

/**
 * defaultMaxBody is the largest body that still fits a default 1 MiB NATS message once wrapped: 32 KiB are kept
 * for the request headers and JSON keys, and base64 turns 3 bytes into 4, so (1 MiB - 32 KiB) * 3 / 4 = 761,856 bytes.
 */
export const defaultMaxBody = Math.floor(((natsDefaultMaxPayload - 32 * 1024) * 3) / 4);

type Env = Record<string, string | undefined>;

function int(env: Env, key: string, def: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw.trim() === '') return def;
  const n = Number(raw.trim());
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${key} = ${JSON.stringify(raw)}, must be an integer in [${min}, ${max}]`);
  return n;
}

function dur(env: Env, key: string, def: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw.trim() === '') return def;
  const exact = parseDurationMs(raw);
  const ms = exact === undefined ? undefined : Math.round(exact);
  if (ms === undefined || ms < min || ms > max) {
    throw new ConfigError(`${key} = ${JSON.stringify(raw)}, must be a duration in [${min}ms, ${max}ms] like "30s" or "1m30s"`);
  }
  return ms;
}

function bool(env: Env, key: string, def: boolean): boolean {
  const raw = env[key];
  if (raw === undefined || raw.trim() === '') return def;
  const v = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`${key} = ${JSON.stringify(raw)}, must be true or false`);
}

/** readAsyncConfig reads the async settings from env (defaults in docs/async.md) and returns a frozen AsyncConfig. */
export function readAsyncConfig(env: Env): AsyncConfig {
  let maxBodyBytes = defaultMaxBody;
  const rawBody = env.async_max_body;
  if (rawBody !== undefined && rawBody.trim() !== '') {
    const b = positiveQuantity(parseMemory, rawBody);
    if (b === undefined || b < 1 || b > 64 * 1024 * 1024) throw new ConfigError(`async_max_body = ${JSON.stringify(rawBody)}, must be a size in [1, 64Mi] bytes`);
    maxBodyBytes = b;
  }
  const initialBackoffMs = dur(env, 'async_initial_backoff', 1000, 0, 3_600_000);
  const maxBackoffMs = dur(env, 'async_max_backoff', 60_000, 0, 24 * 3_600_000);
  if (maxBackoffMs < initialBackoffMs) {
    throw new ConfigError(`async_max_backoff = ${maxBackoffMs}ms, must be at least async_initial_backoff (${initialBackoffMs}ms)`);
  }
  return Object.freeze({
    maxBodyBytes,
    concurrency: int(env, 'async_concurrency', 4, 1, 1024),
    maxAttempts: int(env, 'async_max_attempts', 10, 1, 10_000),
    initialBackoffMs,
    maxBackoffMs,
    ackWaitMs: dur(env, 'async_ack_wait', 30_000, 1000, 24 * 3_600_000),
    callbackAttempts: int(env, 'async_callback_attempts', 3, 1, 100),
    publishTimeoutMs: dur(env, 'async_publish_timeout', 5000, 100, 120_000),
    invokeTimeoutMs: dur(env, 'async_invoke_timeout', 0, 0, 24 * 3_600_000),
    depthIntervalMs: dur(env, 'async_depth_interval', 5000, 100, 3_600_000),
    inProcessWorker: bool(env, 'HYPERFAAS_ASYNC_WORKER', true),
  });
}
