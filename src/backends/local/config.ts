/**
 * config reads the local backend's settings from an env map, as a pure function: apart from the working directory
 * and the Node binary of this process, frozen, and every error names the key, the value and what is allowed.
 */
import { isAbsolute, join, resolve } from 'node:path';
import { labelProblem } from '../../names.js';
import { repoRoot } from '../../paths.js';
import { parseCpu, parseDurationMs, parseMemory, positiveQuantity } from '../../units.js';
import { PULL_POLICIES, type PullPolicy } from './registry.js';

/**
 * IsolationMode: auto runs instances as OCI containers under runc where it can (root, runc works), else as process
 * groups confined as far as the host allows; process skips runc; none runs plain child processes.
 */
export type IsolationMode = 'auto' | 'process' | 'none';

/** LocalBackendConfig is everything the local backend needs; durations are milliseconds, sizes bytes. */
export interface LocalBackendConfig {
  /** dataDir holds functions, secrets, prepared images, logs and per-instance run dirs (HYPERFAAS_DATA). */
  readonly dataDir: string;
  /** imagePath is searched, in order, for the directory an image name resolves to (HYPERFAAS_IMAGE_PATH). */
  readonly imagePath: readonly string[];
  /** portRange is where instance ports come from, inclusive (HYPERFAAS_PORT_RANGE, "31000-32999"). */
  readonly portRange: { readonly from: number; readonly to: number };
  /** namespaces lists the namespaces functions may use, the default first (HYPERFAAS_DEFAULT_NAMESPACE, else openfaas-fn). */
  readonly namespaces: readonly string[];
  /** healthIntervalMs is how often a ready instance's /_/health is polled (HYPERFAAS_HEALTH_INTERVAL). */
  readonly healthIntervalMs: number;
  /** restartBackoffMinMs and restartBackoffMaxMs bound the exponential back-off before a crashed instance restarts. */
  readonly restartBackoffMinMs: number;
  readonly restartBackoffMaxMs: number;
  /** stopTimeoutMs is how long a SIGTERMed instance may drain before its process group is killed. */
  readonly stopTimeoutMs: number;
  /** isolation: auto (runc containers, else confined processes), process or none (HYPERFAAS_ISOLATION). */
  readonly isolation: IsolationMode;
  /** runc is the runc binary (HYPERFAAS_RUNC; default: found in PATH or /usr/sbin). */
  readonly runc?: string;
  /** uidBase is the first of the uids given one per function under runc (HYPERFAAS_UID_BASE, 65536 of them). */
  readonly uidBase: number;
  /** runAsUser is the unprivileged user instances run as when isolated; created as a system user if missing. */
  readonly runAsUser: string;
  /** cgroupRoot is where cgroup hierarchies are mounted (HYPERFAAS_CGROUP_ROOT, /sys/fs/cgroup). */
  readonly cgroupRoot: string;
  /** cgroupParent is the group every instance's cgroup lives under (HYPERFAAS_CGROUP_PARENT, "hyperfaas"). */
  readonly cgroupParent: string;
  /** pidsLimit is the per-instance task limit where a pids controller exists (HYPERFAAS_PIDS_LIMIT; 0 = none). */
  readonly pidsLimit: number;
  /** minMemoryBytes is the floor applied to limits.memory: the watchdog alone needs tens of MiB (HYPERFAAS_MIN_MEMORY). */
  readonly minMemoryBytes: number;
  /** logLines bounds each function's in-memory log buffer (HYPERFAAS_LOG_LINES). */
  readonly logLines: number;
  /** natsUrl is handed to instances as NATS_URL when set (NATS_URL). */
  readonly natsUrl?: string;
  /** nodeBinary runs the watchdog (HYPERFAAS_NODE, default this process's node). */
  readonly nodeBinary: string;
  /**
   * startCpu is the CPU limit, in cores, an instance with a lower limit gets while it starts (HYPERFAAS_START_CPU,
   * default 1; 0 turns it off); its own limit is written once it is ready. Booting the watchdog and a Node function
   * takes ~0.3 CPU-seconds, which under a 0.2-core quota is more than a second of wall time.
   */
  readonly startCpu: number;
  /**
   * secretsBytes bounds the per-instance secrets filesystem (HYPERFAAS_SECRETS_SIZE, default 1Mi, like a Kubernetes
   * Secret's size limit): a secret, or the secrets of one function together, larger than this is refused at the API.
   */
  readonly secretsBytes: number;
  /** pullPolicy is faas-netes' image_pull_policy for OCI images: Always (default), IfNotPresent or Never (image_pull_policy). */
  readonly pullPolicy: PullPolicy;
  /** registryAuth is a containers-auth JSON file (`skopeo login`, docker config.json) with registry credentials (HYPERFAAS_REGISTRY_AUTH). */
  readonly registryAuth?: string;
  /** insecureRegistries are reached without TLS verification, plain HTTP allowed (HYPERFAAS_INSECURE_REGISTRIES, host[:port] CSV). */
  readonly insecureRegistries: readonly string[];
  /** defaultRegistry completes image names without a registry host, e.g. docker.io (HYPERFAAS_DEFAULT_REGISTRY; unset: such names are local builds only). */
  readonly defaultRegistry?: string;
}

/** LocalConfigError names the key, the value given and what is allowed. */
export class LocalConfigError extends Error {
  override readonly name = 'LocalConfigError';
  constructor(
    readonly key: string,
    readonly value: string,
    readonly allowed: string,
  ) {
    super(`invalid ${key}=${JSON.stringify(value)}: allowed ${allowed}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** DEFAULT_NAMESPACE is the namespace OpenFaaS clients assume. */
export const DEFAULT_NAMESPACE = 'openfaas-fn';

function get(env: Env, key: string): string | undefined {
  const v = env[key];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function duration(env: Env, key: string, def: number, min: number): number {
  const v = get(env, key);
  if (v === undefined) return def;
  const ms = parseDurationMs(v);
  if (ms === undefined || ms < min) throw new LocalConfigError(key, v, `a duration of at least ${min} ms ("2s", "500ms", "30")`);
  return ms;
}

function int(env: Env, key: string, def: number, min: number, max: number): number {
  const v = get(env, key);
  if (v === undefined) return def;
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new LocalConfigError(key, v, `an integer in [${min}, ${max}]`);
  return n;
}

/** readLocalConfig parses env (normally process.env) into a frozen LocalBackendConfig or throws LocalConfigError. */
export function readLocalConfig(env: Env): LocalBackendConfig {
  const cwd = process.cwd();
  const dataDir = resolve(cwd, get(env, 'HYPERFAAS_DATA') ?? '.data');

  const pathText = get(env, 'HYPERFAAS_IMAGE_PATH');
  const imagePath = pathText
    ? pathText
        .split(':')
        .filter((p) => p !== '')
        .map((p) => resolve(cwd, p))
    : [join(cwd, 'build'), join(repoRoot, 'stack-templates', 'examples', 'build')];

  const rangeText = get(env, 'HYPERFAAS_PORT_RANGE') ?? '31000-32999';
  const rm = /^(\d+)-(\d+)$/.exec(rangeText);
  const from = rm ? Number(rm[1]) : NaN;
  const to = rm ? Number(rm[2]) : NaN;
  // Each instance takes three ports (watchdog, metrics, function), so a usable range holds at least one instance.
  if (!rm || from < 1024 || to > 65535 || to - from < 2) {
    throw new LocalConfigError('HYPERFAAS_PORT_RANGE', rangeText, 'FROM-TO within 1024-65535 holding at least 3 ports');
  }

  // The provider's default namespace comes first; openfaas-fn stays valid because faas-cli and the certifier assume it.
  const defaultNs = get(env, 'HYPERFAAS_DEFAULT_NAMESPACE') ?? DEFAULT_NAMESPACE;
  if (labelProblem(defaultNs) !== undefined) {
    throw new LocalConfigError('HYPERFAAS_DEFAULT_NAMESPACE', defaultNs, 'a DNS-1123 label');
  }
  const namespaces = [defaultNs];
  for (const ns of [DEFAULT_NAMESPACE, ...(get(env, 'HYPERFAAS_NAMESPACES') ?? '').split(',').map((s) => s.trim())]) {
    if (ns === '' || namespaces.includes(ns)) continue;
    if (labelProblem(ns) !== undefined) {
      throw new LocalConfigError('HYPERFAAS_NAMESPACES', env.HYPERFAAS_NAMESPACES ?? '', 'comma-separated DNS-1123 labels');
    }
    namespaces.push(ns);
  }

  const isolationText = get(env, 'HYPERFAAS_ISOLATION') ?? 'auto';
  if (isolationText !== 'auto' && isolationText !== 'process' && isolationText !== 'none') {
    throw new LocalConfigError('HYPERFAAS_ISOLATION', isolationText, 'auto, process or none');
  }
  const runc = get(env, 'HYPERFAAS_RUNC');
  if (runc !== undefined && !isAbsolute(runc)) throw new LocalConfigError('HYPERFAAS_RUNC', runc, 'an absolute path to the runc binary');

  const restartBackoffMinMs = duration(env, 'HYPERFAAS_RESTART_BACKOFF_MIN', 500, 1);
  const restartBackoffMaxMs = duration(env, 'HYPERFAAS_RESTART_BACKOFF_MAX', 30_000, 1);
  if (restartBackoffMaxMs < restartBackoffMinMs) {
    throw new LocalConfigError(
      'HYPERFAAS_RESTART_BACKOFF_MAX',
      env.HYPERFAAS_RESTART_BACKOFF_MAX ?? '',
      `a duration of at least HYPERFAAS_RESTART_BACKOFF_MIN (${restartBackoffMinMs} ms)`,
    );
  }

  const user = get(env, 'HYPERFAAS_USER') ?? 'app';
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user)) throw new LocalConfigError('HYPERFAAS_USER', user, 'a user name ([a-z_][a-z0-9_-]*)');

  const cgroupParent = get(env, 'HYPERFAAS_CGROUP_PARENT') ?? 'hyperfaas';
  if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/.test(cgroupParent) || cgroupParent.split('/').includes('..')) {
    throw new LocalConfigError('HYPERFAAS_CGROUP_PARENT', cgroupParent, 'a relative cgroup path such as "hyperfaas"');
  }
  const cgroupRoot = get(env, 'HYPERFAAS_CGROUP_ROOT') ?? '/sys/fs/cgroup';
  if (!isAbsolute(cgroupRoot)) throw new LocalConfigError('HYPERFAAS_CGROUP_ROOT', cgroupRoot, 'an absolute path');

  const memText = get(env, 'HYPERFAAS_MIN_MEMORY') ?? '64Mi';
  const minMemoryBytes = positiveQuantity(parseMemory, memText);
  if (minMemoryBytes === undefined) throw new LocalConfigError('HYPERFAAS_MIN_MEMORY', memText, 'a memory quantity such as 64Mi');

  const startText = get(env, 'HYPERFAAS_START_CPU') ?? '1';
  let startCpu: number;
  try {
    startCpu = parseCpu(startText);
  } catch {
    throw new LocalConfigError('HYPERFAAS_START_CPU', startText, 'a CPU quantity such as 1, 500m or 0 (off)');
  }

  const secretsText = get(env, 'HYPERFAAS_SECRETS_SIZE') ?? '1Mi';
  const secretsBytes = positiveQuantity(parseMemory, secretsText);
  if (secretsBytes === undefined || secretsBytes < 4096) {
    throw new LocalConfigError('HYPERFAAS_SECRETS_SIZE', secretsText, 'a size of at least 4Ki such as 1Mi');
  }

  const natsUrl = get(env, 'NATS_URL');
  if (natsUrl !== undefined && !/^(nats|tls|ws|wss):\/\/[^\s]+$/.test(natsUrl) && !/^[^\s:/]+:\d+$/.test(natsUrl)) {
    throw new LocalConfigError('NATS_URL', natsUrl, 'a nats:// URL or host:port');
  }

  const policyText = get(env, 'image_pull_policy') ?? 'Always';
  if (!(PULL_POLICIES as readonly string[]).includes(policyText)) throw new LocalConfigError('image_pull_policy', policyText, PULL_POLICIES.join(', '));
  const registryAuth = get(env, 'HYPERFAAS_REGISTRY_AUTH');
  if (registryAuth !== undefined && !isAbsolute(registryAuth)) throw new LocalConfigError('HYPERFAAS_REGISTRY_AUTH', registryAuth, 'an absolute path to a containers-auth JSON file');
  const hostPort = /^[A-Za-z0-9.-]+(:\d{1,5})?$/;
  const insecureText = get(env, 'HYPERFAAS_INSECURE_REGISTRIES') ?? '';
  const insecureRegistries = insecureText.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (insecureRegistries.some((r) => !hostPort.test(r))) throw new LocalConfigError('HYPERFAAS_INSECURE_REGISTRIES', insecureText, 'comma-separated registry hosts, host:port');
  const defaultRegistry = get(env, 'HYPERFAAS_DEFAULT_REGISTRY');
  if (defaultRegistry !== undefined && !hostPort.test(defaultRegistry)) throw new LocalConfigError('HYPERFAAS_DEFAULT_REGISTRY', defaultRegistry, 'a registry host such as docker.io');

  const cfg: LocalBackendConfig = {
    dataDir,
    imagePath: Object.freeze(imagePath),
    portRange: Object.freeze({ from, to }),
    namespaces: Object.freeze(namespaces),
    healthIntervalMs: duration(env, 'HYPERFAAS_HEALTH_INTERVAL', 1000, 10),
    restartBackoffMinMs,
    restartBackoffMaxMs,
    stopTimeoutMs: duration(env, 'HYPERFAAS_STOP_TIMEOUT', 35_000, 0),
    isolation: isolationText,
    ...(runc !== undefined ? { runc } : {}),
    uidBase: int(env, 'HYPERFAAS_UID_BASE', 2_000_000, 1000, 4_294_000_000 - 65536),
    runAsUser: user,
    cgroupRoot,
    cgroupParent,
    pidsLimit: int(env, 'HYPERFAAS_PIDS_LIMIT', 512, 0, 4_194_304),
    minMemoryBytes,
    logLines: int(env, 'HYPERFAAS_LOG_LINES', 10_000, 1, 10_000_000),
    nodeBinary: get(env, 'HYPERFAAS_NODE') ?? process.execPath,
    startCpu,
    secretsBytes,
    ...(natsUrl !== undefined ? { natsUrl } : {}),
    pullPolicy: policyText as PullPolicy,
    ...(registryAuth !== undefined ? { registryAuth } : {}),
    insecureRegistries: Object.freeze(insecureRegistries),
    ...(defaultRegistry !== undefined ? { defaultRegistry } : {}),
  };
  return Object.freeze(cfg);
}
