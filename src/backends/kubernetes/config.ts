/**
 * config reads the Kubernetes backend's settings from an env map. It is pure: the provider's main.ts passes
 * process.env, tests pass object literals. Generic provider settings (port, auth, timeouts) live elsewhere.
 */
import { readFunctionNamespaces } from '../../config.js';

/** KubeConnection says where the API server and its credentials come from. */
export type KubeConnection =
  /** in-cluster: the pod's service-account token and KUBERNETES_SERVICE_HOST/PORT. */
  | { kind: 'in-cluster' }
  /** file: a kubeconfig file (KUBECONFIG), its current context. */
  | { kind: 'file'; path: string }
  /** inline: kubeconfig YAML or JSON text, as tests build it for the fake API server. */
  | { kind: 'inline'; text: string };

/** ResizeMode: auto asks API discovery whether pods/resize exists; on and off skip the question. */
export type ResizeMode = 'auto' | 'on' | 'off';

/** ImagePullPolicy is the container pull policy the backend writes into every Deployment. */
export type ImagePullPolicy = 'Always' | 'IfNotPresent' | 'Never';

/** KubernetesBackendConfig is everything the Kubernetes backend needs, frozen. */
export interface KubernetesBackendConfig {
  readonly connection: KubeConnection;
  /** defaultNamespace is where functions go when the request names none (faas-netes: openfaas-fn). */
  readonly defaultNamespace: string;
  /**
   * namespaces are the function namespaces, the default first: the same list the provider's API accepts
   * (HYPERFAAS_DEFAULT_NAMESPACE, HYPERFAAS_NAMESPACES). Each is watched on its own and needs the Role of yaml/base.
   */
  readonly namespaces: readonly string[];
  readonly imagePullPolicy: ImagePullPolicy;
  /** watchdogPort is the port the watchdog listens on inside every function container (8080). */
  readonly watchdogPort: number;
  /** natsUrl, when set, is handed to every function container as HYPERFAAS_NATS_URL (load reports, bounce). */
  readonly natsUrl: string;
  readonly resize: ResizeMode;
  /**
   * setNonRootUser runs function containers as uid 12000, like faas-netes' set_nonroot_user; on by default, since
   * function pods always ask for runAsNonRoot and images name their user (USER app), which the kubelet cannot check.
   */
  readonly setNonRootUser: boolean;
  /** probePeriodSeconds and probeTimeoutSeconds apply to liveness and readiness (faas-netes: 2 and 1). */
  readonly probePeriodSeconds: number;
  readonly probeTimeoutSeconds: number;
  /** resizeWaitMs bounds how long a resize waits for the kubelet to apply it (HYPERFAAS_RESIZE_WAIT_MS, 10000). */
  readonly resizeWaitMs: number;
}

/** KubeConfigError names the env key, the value given and what is allowed. */
export class KubeConfigError extends Error {
  override readonly name = 'KubeConfigError';
  constructor(
    readonly key: string,
    readonly value: string,
    allowed: string,
  ) {
    super(`${key} = ${JSON.stringify(value)}, must be ${allowed}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

function oneOf<T extends string>(env: Env, key: string, allowed: readonly T[], def: T): T {
  const v = env[key]?.trim();
  if (v === undefined || v === '') return def;
  const hit = allowed.find((a) => a.toLowerCase() === v.toLowerCase());
  if (!hit) throw new KubeConfigError(key, v, `one of ${allowed.join(', ')}`);
  return hit;
}

function intIn(env: Env, key: string, def: number, min: number, max: number): number {
  const v = env[key]?.trim();
  if (v === undefined || v === '') return def;
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new KubeConfigError(key, v, `an integer in [${min}, ${max}]`);
  return n;
}

/**
 * readKubernetesConfig builds the backend config from env, with faas-netes' names where one exists:
 * image_pull_policy, set_nonroot_user; KUBECONFIG picks a kubeconfig file, otherwise the in-cluster service account
 * is used (KUBERNETES_SERVICE_HOST). The function namespaces follow the provider's one rule (readFunctionNamespaces);
 * faas-netes' function_namespace is accepted only when it names the same default. HyperFaaS additions:
 * HYPERFAAS_NATS_URL (else NATS_URL), HYPERFAAS_INPLACE_RESIZE (auto|on|off), HYPERFAAS_WATCHDOG_PORT.
 */
export function readKubernetesConfig(env: Env): KubernetesBackendConfig {
  const kubeconfig = env.KUBECONFIG?.trim();
  // KUBECONFIG may list several files (a:b); client-node reads the first context-bearing one from the first path.
  const connection: KubeConnection = kubeconfig ? { kind: 'file', path: kubeconfig.split(':')[0]! } : { kind: 'in-cluster' };
  const { defaultNamespace, namespaces, problems } = readFunctionNamespaces(env);
  if (problems.length > 0) {
    const k = problems[0]!.split(' = ')[0]!;
    throw new KubeConfigError(k, env[k] ?? '', 'DNS-1123 labels (a-z, 0-9, "-", at most 63 characters)');
  }
  const legacy = (env.function_namespace ?? '').trim();
  if (legacy !== '' && legacy !== defaultNamespace) {
    throw new KubeConfigError('function_namespace', legacy, `unset or equal to HYPERFAAS_DEFAULT_NAMESPACE (${defaultNamespace}); set HYPERFAAS_DEFAULT_NAMESPACE instead`);
  }
  const nonRoot = (env.set_nonroot_user ?? '').trim().toLowerCase();
  return Object.freeze({
    connection: Object.freeze(connection),
    defaultNamespace,
    namespaces: Object.freeze([...namespaces]),
    imagePullPolicy: oneOf<ImagePullPolicy>(env, 'image_pull_policy', ['Always', 'IfNotPresent', 'Never'], 'Always'),
    watchdogPort: intIn(env, 'HYPERFAAS_WATCHDOG_PORT', 8080, 1, 65535),
    // The provider's own NATS_URL is the default: function pods talk to the same server.
    natsUrl: (env.HYPERFAAS_NATS_URL ?? '').trim() || (env.NATS_URL ?? '').trim(),
    resize: oneOf<ResizeMode>(env, 'HYPERFAAS_INPLACE_RESIZE', ['auto', 'on', 'off'], 'auto'),
    setNonRootUser: !(nonRoot === 'false' || nonRoot === '0'),
    probePeriodSeconds: intIn(env, 'HYPERFAAS_PROBE_PERIOD_SECONDS', 2, 1, 300),
    probeTimeoutSeconds: intIn(env, 'HYPERFAAS_PROBE_TIMEOUT_SECONDS', 1, 1, 300),
    resizeWaitMs: intIn(env, 'HYPERFAAS_RESIZE_WAIT_MS', 10_000, 100, 600_000),
  });
}
