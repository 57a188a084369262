/**
 * config reads the watchdog's settings from the environment, with of-watchdog 0.11.6's names and defaults
 * (contract §5.1) plus the HyperFaaS additions (metrics port, lock file path, identity, guest slot, watermarks).
 * readConfig is pure apart from os.tmpdir() for the lock file default: it never touches the file system.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDuration, parseMemory } from './units.js';

/**
 * Mode is how the function is run: one long-lived upstream (http), a process per request (streaming and serializing
 * as of-watchdog has them; classic as the classic watchdog answers, see classic.ts), or files.
 */
export type Mode = 'http' | 'streaming' | 'serializing' | 'classic' | 'static';

/** modes lists the modes this watchdog supports. */
export const modes: readonly Mode[] = Object.freeze(['http', 'streaming', 'serializing', 'classic', 'static']);

/** WatchdogConfig is the parsed, validated and frozen configuration. Durations are milliseconds. */
export interface WatchdogConfig {
  /** fprocess is the function command line ("" in static mode); function_process wins over fprocess. */
  readonly fprocess: string;
  /** fprocessArgv is fprocess split on single spaces, without shell quoting, like of-watchdog. */
  readonly fprocessArgv: readonly string[];
  readonly mode: Mode;
  /** upstreamURL is the function's own server in http mode (http_upstream_url wins over upstream_url). */
  readonly upstreamURL: string;
  /** httpPort is the port handed to the function as env http_port (from http_port, else upstream_url's port). */
  readonly httpPort: number;
  readonly port: number;
  readonly metricsPort: number;
  /** bindAddress is where both ports listen ("" = every interface, like of-watchdog; the local backend uses 127.0.0.1). */
  readonly bindAddress: string;
  readonly readTimeoutMs: number;
  readonly writeTimeoutMs: number;
  /** execTimeoutMs 0 means no exec limit. */
  readonly execTimeoutMs: number;
  readonly healthcheckIntervalMs: number;
  /** maxInflight 0 means unlimited; it is the home slot's concurrency limit. */
  readonly maxInflight: number;
  readonly prefixLogs: boolean;
  /** logBufferSize is the longest log line kept whole; -1 forwards output unbuffered. */
  readonly logBufferSize: number;
  readonly logCallId: boolean;
  readonly readyPath: string;
  readonly bufferHttp: boolean;
  readonly contentType: string;
  /** contentTypeOverride is content_type as given ("" when unset): classic mode then answers with the request's. */
  readonly contentTypeOverride: string;
  /** combineOutput puts stderr into classic mode's responses with stdout (combine_output, default true). */
  readonly combineOutput: boolean;
  readonly suppressLock: boolean;
  readonly staticPath: string;
  readonly lockFile: string;
  readonly instanceId: string;
  /** functionName and namespace name the home function (HYPERFAAS_FUNCTION may be "name.namespace"). */
  readonly functionName: string;
  readonly namespace: string;
  /** advertiseURL is the watchdog's base URL in load reports (HYPERFAAS_URL; "" = http://127.0.0.1:<port>). */
  readonly advertiseURL: string;
  /**
   * controlToken is what every control request over HTTP must carry in x-hyperfaas-token, from loopback too
   * (HYPERFAAS_CONTROL_TOKEN, or the file control-token in credentialsDir, which wins). Empty: the HTTP control
   * endpoint refuses everything (control then works over NATS only).
   */
  readonly controlToken: string;
  /**
   * credentialsDir is where the platform put this instance's credentials (HYPERFAAS_CREDENTIALS_DIR; "" = none):
   * nats.creds (its NATS user) and control-token. Read once at start (credentials.ts); functions never see the
   * variable.
   */
  readonly credentialsDir: string;
  readonly guest: {
    readonly enabled: boolean;
    /** capacity is the guest slot's concurrency limit (0 = unlimited). */
    readonly capacity: number;
    /** runtime is the Node runtime's server.js ("" = the one shipped beside the watchdog). */
    readonly runtime: string;
  };
  /** watermarkLow and watermarkHigh are fractions of capacity, CPU limit and memory limit. */
  readonly watermarkLow: number;
  readonly watermarkHigh: number;
  /** loadIntervalMs is how often CPU and memory are sampled. */
  readonly loadIntervalMs: number;
  /** cpuLimit (cores) and memoryLimit (bytes) apply when no cgroup limit can be read (0 = none). */
  readonly cpuLimit: number;
  readonly memoryLimit: number;
  /** natsUrl connects the ICS to the global scheduler (NATS_URL): load reports, bounce-back, control. "" = none. */
  readonly natsUrl: string;
  /** runtime names the runtime whose generic slot this instance offers (HYPERFAAS_RUNTIME, default node). */
  readonly runtime: string;
  /**
   * overflow is what happens to a request its slot cannot take: "429" answers at once like of-watchdog; "queue"
   * bounces it to the GS (when NATS is up) or parks it here until a slot frees (hyperfaas_overflow; default queue
   * when running under HyperFaaS, i.e. with HYPERFAAS_INSTANCE_ID or NATS_URL set, else 429).
   */
  readonly overflow: '429' | 'queue';
  /** maxBounces bounds how often one request is bounced in its life (hyperfaas_max_bounces, default 2). */
  readonly maxBounces: number;
  /** queueDepth bounds the requests parked per slot (hyperfaas_queue_depth, default 1000). */
  readonly queueDepth: number;
  /** reportIntervalMs is the period of load reports (hyperfaas_report_interval, default 250ms). */
  readonly reportIntervalMs: number;
  /**
   * spawner starts the forking modes' processes (hyperfaas_spawner): "auto" (default) through the spawn helper when
   * it was built, else Node's spawn; "helper" the same but says so when the helper is missing; "node" Node's spawn.
   */
  readonly spawner: 'auto' | 'helper' | 'node';
}

/** ConfigError names the key, the value given and what is allowed. */
export class ConfigError extends Error {
  constructor(
    readonly key: string,
    readonly value: string,
    readonly allowed: string,
  ) {
    super(`invalid ${key}=${JSON.stringify(value)}: allowed ${allowed}`);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

function pick(env: Env, ...keys: string[]): [string, string] | undefined {
  for (const k of keys) {
    const v = env[k];
    if (v !== undefined && v !== '') return [k, v];
  }
  return undefined;
}

function duration(env: Env, keys: string[], def: number, min: number): number {
  const got = pick(env, ...keys);
  if (!got) return def;
  const ms = parseDuration(got[1]);
  const allowed = `a duration >= ${min / 1000}s ("30", "30s", "1m30s", "500ms")`;
  if (ms === undefined || ms < min) throw new ConfigError(got[0], got[1], allowed);
  return ms;
}

function int(env: Env, keys: string[], def: number, min: number, max: number): number {
  const got = pick(env, ...keys);
  if (!got) return def;
  const n = /^-?\d+$/.test(got[1].trim()) ? Number(got[1]) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new ConfigError(got[0], got[1], `an integer in [${min}, ${max}]`);
  return n;
}

function num(env: Env, keys: string[], def: number, min: number, max: number): number {
  const got = pick(env, ...keys);
  if (!got) return def;
  const n = /^\d*\.?\d+$/.test(got[1].trim()) ? Number(got[1]) : NaN;
  if (!Number.isFinite(n) || n < min || n > max) throw new ConfigError(got[0], got[1], `a number in [${min}, ${max}]`);
  return n;
}

function bool(env: Env, keys: string[], def: boolean): boolean {
  const got = pick(env, ...keys);
  if (!got) return def;
  const v = got[1].trim().toLowerCase();
  if (['1', 'true', 't', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'f', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(got[0], got[1], 'true, false, 1 or 0');
}

function oneOf<T extends string>(env: Env, key: string, allowed: readonly T[], def: T): T {
  const got = pick(env, key);
  if (!got) return def;
  if (!(allowed as readonly string[]).includes(got[1])) throw new ConfigError(key, got[1], allowed.join(' or '));
  return got[1] as T;
}

/** bytes reads a memory size: plain bytes or a Kubernetes quantity such as 128Mi, 1Gi, 500M. */
function bytes(env: Env, key: string): number {
  const got = pick(env, key);
  if (!got) return 0;
  try {
    return parseMemory(got[1]);
  } catch {
    throw new ConfigError(key, got[1], 'bytes, or a quantity such as 128Mi or 1G');
  }
}

/** readConfig parses env (normally process.env) into a frozen WatchdogConfig or throws ConfigError. */
export function readConfig(env: Env): WatchdogConfig {
  const fp = pick(env, 'function_process', 'fprocess');
  const fprocess = fp ? fp[1] : '';
  const modeGot = pick(env, 'mode');
  const mode = (modeGot ? modeGot[1] : 'streaming') as Mode;
  if (!modes.includes(mode)) throw new ConfigError('mode', modeGot![1], modes.join(', '));
  if (mode !== 'static' && fprocess.trim() === '') {
    throw new ConfigError('fprocess', fprocess, `a command line (required in ${mode} mode)`);
  }
  const up = pick(env, 'http_upstream_url', 'upstream_url');
  const upstreamURL = up ? up[1] : '';
  let upstreamPort = 0;
  if (mode === 'http') {
    if (!up) throw new ConfigError('upstream_url', '', 'an http:// URL (required in http mode)');
    let u: URL;
    try {
      u = new URL(up[1]);
    } catch {
      throw new ConfigError(up[0], up[1], 'an http:// URL');
    }
    if (u.protocol !== 'http:') throw new ConfigError(up[0], up[1], 'an http:// URL');
    upstreamPort = u.port ? Number(u.port) : 80;
  }
  const writeTimeoutMs = duration(env, ['write_timeout'], 30_000, 1);
  const [fn, nsFromFn] = (env.HYPERFAAS_FUNCTION ?? env.OPENFAAS_NAME ?? '').split('.', 2) as [string, string?];
  const watermarkLow = num(env, ['watermark_low'], 0.6, 0, 10);
  const watermarkHigh = num(env, ['watermark_high'], 0.9, 0, 10);
  if (watermarkHigh <= watermarkLow) {
    throw new ConfigError('watermark_high', String(env.watermark_high ?? watermarkHigh), `a number above watermark_low (${watermarkLow})`);
  }
  const cfg: WatchdogConfig = {
    fprocess,
    fprocessArgv: Object.freeze(fprocess.split(' ').filter((s) => s !== '')),
    mode,
    upstreamURL,
    httpPort: int(env, ['http_port'], upstreamPort || 3000, 1, 65535),
    port: int(env, ['port'], 8080, 0, 65535),
    metricsPort: int(env, ['metrics_port'], 8081, 0, 65535),
    bindAddress: env.bind_address ?? '',
    readTimeoutMs: duration(env, ['read_timeout'], 30_000, 0),
    writeTimeoutMs,
    execTimeoutMs: duration(env, ['exec_timeout'], 30_000, 0),
    healthcheckIntervalMs: duration(env, ['healthcheck_interval'], writeTimeoutMs, 0),
    maxInflight: int(env, ['max_inflight'], 0, 0, 1_000_000),
    prefixLogs: bool(env, ['prefix_logs'], true),
    logBufferSize: int(env, ['log_buffer_size'], 64 * 1024, -1, 1 << 30),
    logCallId: bool(env, ['log_callid'], false),
    readyPath: env.ready_path ?? '',
    bufferHttp: bool(env, ['buffer_http', 'http_buffer_req_body'], false),
    contentType: pick(env, 'content_type')?.[1] ?? 'application/octet-stream',
    contentTypeOverride: pick(env, 'content_type')?.[1] ?? '',
    combineOutput: bool(env, ['combine_output'], true),
    suppressLock: bool(env, ['suppress_lock'], false),
    staticPath: pick(env, 'static_path')?.[1] ?? '/home/app/public',
    lockFile: pick(env, 'lock_file')?.[1] ?? join(tmpdir(), '.lock'),
    instanceId: pick(env, 'HYPERFAAS_INSTANCE_ID', 'HOSTNAME')?.[1] ?? 'local',
    functionName: fn ?? '',
    namespace: pick(env, 'HYPERFAAS_NAMESPACE', 'OPENFAAS_NAMESPACE')?.[1] ?? nsFromFn ?? 'openfaas-fn',
    controlToken: env.HYPERFAAS_CONTROL_TOKEN ?? '',
    credentialsDir: env.HYPERFAAS_CREDENTIALS_DIR ?? '',
    advertiseURL: env.HYPERFAAS_URL ?? '',
    guest: Object.freeze({
      enabled: bool(env, ['guest_slot'], true),
      capacity: int(env, ['guest_capacity'], 0, 0, 1_000_000),
      runtime: env.guest_runtime ?? '',
    }),
    watermarkLow,
    watermarkHigh,
    loadIntervalMs: duration(env, ['load_interval'], 1000, 10),
    cpuLimit: num(env, ['cpu_limit'], 0, 0, 4096),
    memoryLimit: bytes(env, 'memory_limit'),
    natsUrl: env.HYPERFAAS_NATS_URL || env.NATS_URL || '',
    runtime: env.HYPERFAAS_RUNTIME || 'node',
    overflow: oneOf(env, 'hyperfaas_overflow', ['429', 'queue'] as const, env.HYPERFAAS_INSTANCE_ID || env.HYPERFAAS_NATS_URL || env.NATS_URL ? 'queue' : '429'),
    maxBounces: int(env, ['hyperfaas_max_bounces'], 2, 0, 100),
    queueDepth: int(env, ['hyperfaas_queue_depth'], 1000, 0, 1_000_000),
    reportIntervalMs: duration(env, ['hyperfaas_report_interval'], 250, 10),
    spawner: oneOf(env, 'hyperfaas_spawner', ['auto', 'helper', 'node'] as const, 'auto'),
  };
  if (cfg.logBufferSize === 0) throw new ConfigError('log_buffer_size', env.log_buffer_size!, '-1 or an integer >= 1');
  return Object.freeze(cfg);
}
