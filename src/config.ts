/**
 * config reads the provider's settings from an environment map. It is pure: main.ts passes process.env, tests pass
 * literals. Names follow faas-provider (port, read_timeout, write_timeout, basic_auth, secret_mount_path) so an
 * OpenFaaS deployment's settings carry over; ours are prefixed HYPERFAAS_.
 */
import { labelProblem } from './names.js';
import { ConfigError, parseDurationMs, parseMemory } from './units.js';

/** BackendKind names where function instances come from. */
export type BackendKind = 'local' | 'kubernetes';

/** ProviderConfig is the provider's frozen configuration (generic settings; backends read their own). */
export interface ProviderConfig {
  /** port to listen on (faas-provider `port`, default 8081 like faas-netes and faasd). */
  readonly port: number;
  /**
   * listen is the address to bind (HYPERFAAS_LISTEN). The default is 127.0.0.1 for the local backend, so a fresh
   * provider is not reachable from the network, and 0.0.0.0 for the kubernetes backend, whose Service must reach it.
   */
  readonly listen: string;
  /** readTimeoutMs bounds reading a request (faas-provider `read_timeout`). */
  readonly readTimeoutMs: number;
  /** writeTimeoutMs bounds a function's answer on the invoke path (faas-provider `write_timeout`). */
  readonly writeTimeoutMs: number;
  /** basicAuth protects the /system routes with the credentials under secretMountPath (`basic_auth=true`). */
  readonly basicAuth: boolean;
  /** secretMountPath holds basic-auth-user and basic-auth-password (`secret_mount_path`). */
  readonly secretMountPath: string;
  /** defaultNamespace is used when a request names none (HYPERFAAS_DEFAULT_NAMESPACE, default openfaas-fn). */
  readonly defaultNamespace: string;
  /** namespaces are the valid function namespaces, the default first (plus HYPERFAAS_NAMESPACES, CSV). */
  readonly namespaces: readonly string[];
  /** backend is local or kubernetes (HYPERFAAS_BACKEND). */
  readonly backend: BackendKind;
  /** natsUrl is the NATS server for async invocations and ICS reports (NATS_URL), when set. */
  readonly natsUrl?: string;
  readonly logLevel: string;
  readonly logFormat: 'json' | 'pretty';
  /** maxBodyBytes caps JSON bodies on /system routes and buffered invocations (HYPERFAAS_MAX_BODY, e.g. 10Mi). */
  readonly maxBodyBytes: number;
  /** coldStartTimeoutMs bounds how long an invocation waits for a ready instance (HYPERFAAS_COLD_START_TIMEOUT). */
  readonly coldStartTimeoutMs: number;
  /** defaultPolicy scales functions without a com.hyperfaas.policy label (HYPERFAAS_DEFAULT_POLICY, default hyperfaas). */
  readonly defaultPolicy: 'hyperfaas' | 'hpa' | 'hpa-tuned' | 'none';
  /** scalerTickMs is how often the scaler loop runs its policies (HYPERFAAS_SCALER_TICK, default 250ms). */
  readonly scalerTickMs: number;
  /** hpaCompress divides the HPA emulator's time constants, for labelled smoke runs only (HYPERFAAS_HPA_COMPRESS, 1). */
  readonly hpaCompress: number;
  /** hpaPodStartMs overrides the HPA arms' modelled pod start delay (HYPERFAAS_HPA_POD_START), when set. */
  readonly hpaPodStartMs?: number;
  /** controlToken authenticates control requests to watchdogs off loopback (HYPERFAAS_CONTROL_TOKEN). */
  readonly controlToken?: string;
}

const logLevels = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'];
const defaultNs = 'openfaas-fn';

/**
 * readFunctionNamespaces is the one rule for which namespaces functions may use: HYPERFAAS_DEFAULT_NAMESPACE (default
 * openfaas-fn) first, then openfaas-fn, then the HYPERFAAS_NAMESPACES CSV. The API accepts exactly these, and the
 * Kubernetes backend watches, lists and offers exactly these (its RBAC is a Role in each of them).
 */
export function readFunctionNamespaces(env: Record<string, string | undefined>): {
  defaultNamespace: string;
  namespaces: string[];
  problems: string[];
} {
  const get = (k: string) => {
    const v = env[k]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const problems: string[] = [];
  const defaultNamespace = get('HYPERFAAS_DEFAULT_NAMESPACE') ?? defaultNs;
  const namespaces = [defaultNamespace];
  // openfaas-fn stays valid even when another default is chosen: faas-cli and the certifier assume it.
  const extra = [defaultNs, ...(get('HYPERFAAS_NAMESPACES') ?? '').split(',')];
  for (const raw of extra) {
    const ns = raw.trim();
    if (ns === '' || namespaces.includes(ns)) continue;
    namespaces.push(ns);
  }
  for (const ns of namespaces) {
    if (labelProblem(ns) === undefined) continue;
    const key = ns === defaultNamespace ? 'HYPERFAAS_DEFAULT_NAMESPACE' : 'HYPERFAAS_NAMESPACES';
    problems.push(`${key} = ${ns}, must be DNS-1123 labels (a-z, 0-9, "-", at most 63 characters)`);
  }
  return { defaultNamespace, namespaces, problems };
}

/** readConfig builds the frozen ProviderConfig from an environment map; throws ConfigError naming every bad key. */
export function readConfig(env: Record<string, string | undefined>): ProviderConfig {
  const problems: string[] = [];
  const get = (k: string): string | undefined => {
    const v = env[k];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };

  const intIn = (key: string, dflt: number, lo: number, hi: number): number => {
    const raw = get(key);
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < lo || n > hi) {
      problems.push(`${key} = ${raw}, must be a whole number in [${lo}, ${hi}]`);
      return dflt;
    }
    return n;
  };
  const durationIn = (key: string, dfltMs: number, loMs: number, hiMs: number): number => {
    const raw = get(key);
    if (raw === undefined) return dfltMs;
    const ms = parseDurationMs(raw);
    if (ms === undefined || ms < loMs || ms > hiMs) {
      problems.push(`${key} = ${raw}, must be seconds or a duration like 1m30s in [${loMs / 1000}s, ${hiMs / 1000}s]`);
      return dfltMs;
    }
    return ms;
  };
  const oneOf = <T extends string>(key: string, dflt: T, allowed: readonly T[]): T => {
    const raw = get(key);
    if (raw === undefined) return dflt;
    if (!(allowed as readonly string[]).includes(raw)) {
      problems.push(`${key} = ${raw}, must be one of ${allowed.join(', ')}`);
      return dflt;
    }
    return raw as T;
  };

  const port = intIn('port', 8081, 1, 65535);
  const hour = 3_600_000;
  const readTimeoutMs = durationIn('read_timeout', 60_000, 1, 24 * hour);
  const writeTimeoutMs = durationIn('write_timeout', 60_000, 1, 24 * hour);
  const coldStartTimeoutMs = durationIn('HYPERFAAS_COLD_START_TIMEOUT', 30_000, 1, hour);

  const basicAuthRaw = get('basic_auth');
  const basicAuth = basicAuthRaw === 'true';
  if (basicAuthRaw !== undefined && basicAuthRaw !== 'true' && basicAuthRaw !== 'false') {
    problems.push(`basic_auth = ${basicAuthRaw}, must be true or false`);
  }
  let secretMountPath = get('secret_mount_path') ?? '/run/secrets/';
  if (!secretMountPath.endsWith('/')) secretMountPath += '/';

  const { defaultNamespace, namespaces, problems: nsProblems } = readFunctionNamespaces(env);
  problems.push(...nsProblems);

  const backend = oneOf<BackendKind>('HYPERFAAS_BACKEND', 'local', ['local', 'kubernetes']);
  const listen = get('HYPERFAAS_LISTEN') ?? (backend === 'kubernetes' ? '0.0.0.0' : '127.0.0.1');
  const natsUrl = get('NATS_URL');
  if (natsUrl !== undefined && !/^(nats|tls|ws|wss):\/\/[^\s]+$/.test(natsUrl) && !/^[^\s:/]+:\d+$/.test(natsUrl)) {
    problems.push(`NATS_URL = ${natsUrl}, must look like nats://host:port`);
  }
  const logLevel = oneOf('LOG_LEVEL', 'info', logLevels);
  const logFormat = oneOf<'json' | 'pretty'>('LOG_FORMAT', 'json', ['json', 'pretty']);

  let maxBodyBytes = 10 * 2 ** 20;
  const maxBodyRaw = get('HYPERFAAS_MAX_BODY');
  if (maxBodyRaw !== undefined) {
    let n = NaN;
    try {
      n = parseMemory(maxBodyRaw);
    } catch {
      /* reported below */
    }
    if (!(n >= 1024 && n <= 2 ** 30)) problems.push(`HYPERFAAS_MAX_BODY = ${maxBodyRaw}, must be a size in [1Ki, 1Gi] such as 10Mi`);
    else maxBodyBytes = n;
  }

  const defaultPolicy = oneOf<'hyperfaas' | 'hpa' | 'hpa-tuned' | 'none'>('HYPERFAAS_DEFAULT_POLICY', 'hyperfaas', ['hyperfaas', 'hpa', 'hpa-tuned', 'none']);
  const scalerTickMs = durationIn('HYPERFAAS_SCALER_TICK', 250, 10, 60_000);
  const hpaCompress = intIn('HYPERFAAS_HPA_COMPRESS', 1, 1, 100);
  const hpaPodStartRaw = get('HYPERFAAS_HPA_POD_START');
  const hpaPodStartMs = hpaPodStartRaw === undefined ? undefined : durationIn('HYPERFAAS_HPA_POD_START', 2_000, 0, 10 * 60_000);
  const controlToken = get('HYPERFAAS_CONTROL_TOKEN');

  if (problems.length > 0) throw new ConfigError(problems);
  const cfg: ProviderConfig = {
    defaultPolicy,
    scalerTickMs,
    hpaCompress,
    ...(hpaPodStartMs !== undefined ? { hpaPodStartMs } : {}),
    ...(controlToken !== undefined ? { controlToken } : {}),
    port,
    listen,
    readTimeoutMs,
    writeTimeoutMs,
    basicAuth,
    secretMountPath,
    defaultNamespace,
    namespaces: Object.freeze(namespaces),
    backend,
    logLevel,
    logFormat,
    maxBodyBytes,
    coldStartTimeoutMs,
    ...(natsUrl !== undefined ? { natsUrl } : {}),
  };
  return Object.freeze(cfg);
}
