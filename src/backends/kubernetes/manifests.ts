/**
 * manifests turns a FunctionDeployment into the Deployment and Service faas-netes would create for it, plus the
 * HyperFaaS additions (watchdog identity env, in-place resize policy). Pure: no I/O, table-tested.
 */
import { labelKeys, minReplicasOf } from '../../scaling/labels.js';
import type { FunctionDeployment, FunctionResources } from '../../types/index.js';
import type { KubernetesBackendConfig } from './config.js';
import type { V1Container, V1Deployment, V1EnvVar, V1Probe, V1Service, V1Volume, V1VolumeMount } from './kube-api.js';

/** functionLabel is the label every function object and pod carries, faas-netes' faas_function. */
export const functionLabel = 'faas_function';

/** runtimeLabel names the function's runtime; functions of one runtime can share generic slots. */
export const runtimeLabel = labelKeys.runtime;

/** secretLabelKey and secretLabelValue mark the Secrets that /system/secrets manages (faas-netes does the same). */
export const secretLabelKey = 'app.kubernetes.io/managed-by';
export const secretLabelValue = 'openfaas';

/** secretsMountPath is where function secrets appear as files, one per secret name (OpenFaaS convention). */
export const secretsMountPath = '/var/openfaas/secrets';

/** secretsVolumeName is the projected volume that carries all of a function's secrets. */
export const secretsVolumeName = 'secrets';

/** registrySecretTypes are the Secret types that hold registry credentials: they become imagePullSecrets. */
export const registrySecretTypes: readonly string[] = Object.freeze(['kubernetes.io/dockerconfigjson', 'kubernetes.io/dockercfg']);

/** functionUid is the user function containers run as with set_nonroot_user (faas-netes' choice). */
export const functionUid = 12000;

/** tmpVolumeName is the writable emptyDir at /tmp that a read-only root filesystem needs. */
export const tmpVolumeName = 'tmp';

/** hyperfaasEnv are the env vars the backend injects; they are never reported back as the user's envVars. */
export const hyperfaasEnv = ['HYPERFAAS_FUNCTION', 'HYPERFAAS_NAMESPACE', 'HYPERFAAS_INSTANCE_ID', 'HYPERFAAS_NATS_URL'] as const;

/** ManifestConfig is the slice of the backend config the mappers read. */
export type ManifestConfig = Pick<
  KubernetesBackendConfig,
  'imagePullPolicy' | 'watchdogPort' | 'natsUrl' | 'setNonRootUser' | 'probePeriodSeconds' | 'probeTimeoutSeconds'
>;

const resourceKeys = ['memory', 'cpu', 'nvidia.com/gpu', 'amd.com/gpu', 'intel.com/gpu'] as const;

/** toResourceMap copies the set fields of a FunctionResources as Kubernetes quantities (strings, unchanged). */
export function toResourceMap(r: FunctionResources | undefined): Record<string, string> | undefined {
  if (!r) return undefined;
  const out: Record<string, string> = {};
  for (const k of resourceKeys) {
    const v = r[k];
    if (typeof v === 'string' && v.trim() !== '') out[k] = v.trim();
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * parseConstraints turns OpenFaaS constraints ("key=value" or "key == value") into a node selector.
 * Anything else is returned in `bad`, so the caller can refuse the deployment as Invalid.
 */
export function parseConstraints(constraints: string[] | undefined): { nodeSelector?: Record<string, string>; bad: string[] } {
  const sel: Record<string, string> = {};
  const bad: string[] = [];
  for (const c of constraints ?? []) {
    const m = /^\s*([^=\s]+)\s*==?\s*([^=\s]*)\s*$/.exec(c);
    if (!m) bad.push(c);
    else sel[m[1]!] = m[2]!;
  }
  return { ...(Object.keys(sel).length > 0 ? { nodeSelector: sel } : {}), bad };
}

function probe(path: string, port: number, cfg: ManifestConfig, initialDelaySeconds: number): V1Probe {
  return {
    httpGet: { path, port, scheme: 'HTTP' },
    initialDelaySeconds,
    periodSeconds: cfg.probePeriodSeconds,
    timeoutSeconds: cfg.probeTimeoutSeconds,
    failureThreshold: 3,
    successThreshold: 1,
  };
}

function sortedEnv(vars: Record<string, string> | undefined): V1EnvVar[] {
  return Object.keys(vars ?? {})
    .sort()
    .map((name) => ({ name, value: String(vars![name]) }));
}

/** functionLabels are the labels of the Deployment, its pods and Service: the user's plus faas_function. */
export function functionLabels(fd: FunctionDeployment): Record<string, string> {
  return { ...(fd.labels ?? {}), [functionLabel]: fd.service };
}

/** functionAnnotations are the user's annotations plus prometheus.io.scrape=false, like faas-netes. */
export function functionAnnotations(fd: FunctionDeployment): Record<string, string> {
  return { 'prometheus.io.scrape': 'false', ...(fd.annotations ?? {}) };
}

/** toContainer builds the function's one container. */
function toContainer(fd: FunctionDeployment & { namespace: string }, cfg: ManifestConfig, pullSecrets: readonly string[]): V1Container {
  const userEnv = { ...(fd.envVars ?? {}) };
  if (fd.envProcess !== undefined && fd.envProcess !== '') userEnv.fprocess = fd.envProcess;
  for (const k of hyperfaasEnv) delete userEnv[k];
  const env: V1EnvVar[] = [
    ...sortedEnv(userEnv),
    { name: 'HYPERFAAS_FUNCTION', value: fd.service },
    { name: 'HYPERFAAS_NAMESPACE', value: fd.namespace },
    // The instance id is the pod name, so the watchdog's reports name the same instance the backend's watch sees.
    { name: 'HYPERFAAS_INSTANCE_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ...(cfg.natsUrl ? [{ name: 'HYPERFAAS_NATS_URL', value: cfg.natsUrl }] : []),
  ];
  const limits = toResourceMap(fd.limits);
  const requests = toResourceMap(fd.requests);
  const mounts: V1VolumeMount[] = [];
  if ((fd.secrets ?? []).some((s) => !pullSecrets.includes(s))) mounts.push({ name: secretsVolumeName, mountPath: secretsMountPath, readOnly: true });
  if (fd.readOnlyRootFilesystem) mounts.push({ name: tmpVolumeName, mountPath: '/tmp' });
  return {
    name: fd.service,
    image: fd.image,
    imagePullPolicy: cfg.imagePullPolicy,
    ports: [{ name: 'http', containerPort: cfg.watchdogPort, protocol: 'TCP' }],
    env,
    ...(limits || requests ? { resources: { ...(limits ? { limits } : {}), ...(requests ? { requests } : {}) } } : {}),
    // Phase-1 scale-up changes CPU and memory in place; saying so explicitly keeps the container running.
    resizePolicy: [
      { resourceName: 'cpu', restartPolicy: 'NotRequired' },
      { resourceName: 'memory', restartPolicy: 'NotRequired' },
    ],
    // Both probe /_/health, like faas-netes: /_/ready also reports capacity (429 while full), and a full instance
    // must stay in the GS's view (its ICS bounces or queues what it cannot take) rather than drop out of it.
    livenessProbe: probe('/_/health', cfg.watchdogPort, cfg, 2),
    readinessProbe: probe('/_/health', cfg.watchdogPort, cfg, 0),
    // What Pod Security "restricted" asks of every container, so functions run in namespaces that enforce it.
    securityContext: {
      readOnlyRootFilesystem: fd.readOnlyRootFilesystem === true,
      allowPrivilegeEscalation: false,
      runAsNonRoot: true,
      ...(cfg.setNonRootUser ? { runAsUser: functionUid } : {}),
      capabilities: { drop: ['ALL'] },
    },
    ...(mounts.length > 0 ? { volumeMounts: mounts } : {}),
  };
}

/** toVolumes builds the secrets projection (without registry secrets) and the /tmp emptyDir, when needed. */
function toVolumes(fd: FunctionDeployment, pullSecrets: readonly string[]): V1Volume[] {
  const vols: V1Volume[] = [];
  const secrets = (fd.secrets ?? []).filter((s) => !pullSecrets.includes(s));
  if (secrets.length > 0) {
    vols.push({ name: secretsVolumeName, projected: { sources: secrets.map((name) => ({ secret: { name } })) } });
  }
  if (fd.readOnlyRootFilesystem) vols.push({ name: tmpVolumeName, emptyDir: {} });
  return vols;
}

/**
 * toDeployment maps a FunctionDeployment to the Deployment faas-netes would create: one container named after the
 * function, labels and annotations on the object and its pod template, a rolling update that never takes an
 * instance away before its replacement is ready (maxUnavailable 0). Secrets named in `pullSecrets` (those of a
 * registry type, see registrySecretTypes) become imagePullSecrets instead of files, as in faas-netes.
 */
export function toDeployment(
  fd: FunctionDeployment & { namespace: string },
  cfg: ManifestConfig,
  replicas = minReplicasOf(fd.labels),
  pullSecrets: readonly string[] = [],
): V1Deployment {
  const labels = functionLabels(fd);
  const annotations = functionAnnotations(fd);
  const { nodeSelector } = parseConstraints(fd.constraints);
  const volumes = toVolumes(fd, pullSecrets);
  const imagePullSecrets = (fd.secrets ?? []).filter((s) => pullSecrets.includes(s)).map((name) => ({ name }));
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: fd.service, namespace: fd.namespace, labels, annotations },
    spec: {
      replicas,
      selector: { matchLabels: { [functionLabel]: fd.service } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      revisionHistoryLimit: 5,
      template: {
        metadata: { labels, annotations },
        spec: {
          containers: [toContainer(fd, cfg, pullSecrets)],
          ...(volumes.length > 0 ? { volumes } : {}),
          ...(imagePullSecrets.length > 0 ? { imagePullSecrets } : {}),
          ...(nodeSelector ? { nodeSelector } : {}),
          securityContext: {
            runAsNonRoot: true,
            ...(cfg.setNonRootUser ? { runAsUser: functionUid } : {}),
            seccompProfile: { type: 'RuntimeDefault' },
          },
          enableServiceLinks: false,
          automountServiceAccountToken: false,
        },
      },
    },
  };
}

/** reservedKey tells whether a label or annotation key is in a Kubernetes-owned domain (kubernetes.io, k8s.io). */
const reservedKey = (k: string) => /(^|\.)(kubernetes\.io|k8s\.io)\//.test(k);

/** keepForeign returns the entries of `current` that we did not write: not in `ours` and passing `foreign`. */
function keepForeign(current: Record<string, string> | undefined, foreign: (k: string) => boolean): Record<string, string> {
  return Object.fromEntries(Object.entries(current ?? {}).filter(([k]) => foreign(k)));
}

/**
 * mergeForUpdate lays a freshly rendered Deployment over the one in the cluster for a PUT: the function's fields are
 * ours and replaced; what others wrote stays. On the object that is any key in a Kubernetes domain (the Deployment
 * controller's revision annotation); on the pod template it is any label or annotation the object itself does not
 * carry, since we write the same user set on both (`kubectl rollout restart` leaves restartedAt on the template
 * only). The existing resourceVersion is kept, so a concurrent change gives Conflict and the caller reads again.
 */
export function mergeForUpdate(existing: V1Deployment, desired: V1Deployment): V1Deployment {
  const out = structuredClone(existing);
  const meta = existing.metadata ?? {};
  const tpl = existing.spec?.template.metadata ?? {};
  const want = desired.metadata ?? {};
  const wantTpl = desired.spec!.template.metadata ?? {};
  out.metadata = {
    ...meta,
    labels: { ...keepForeign(meta.labels, reservedKey), ...(want.labels ?? {}) },
    annotations: { ...keepForeign(meta.annotations, reservedKey), ...(want.annotations ?? {}) },
  };
  const notOnObject = (m: Record<string, string> | undefined) => (k: string) => !(k in (m ?? {}));
  out.spec = {
    ...existing.spec!,
    replicas: desired.spec!.replicas,
    strategy: desired.spec!.strategy,
    revisionHistoryLimit: desired.spec!.revisionHistoryLimit,
    template: {
      metadata: {
        labels: { ...keepForeign(tpl.labels, notOnObject(meta.labels)), ...(wantTpl.labels ?? {}) },
        annotations: { ...keepForeign(tpl.annotations, notOnObject(meta.annotations)), ...(wantTpl.annotations ?? {}) },
      },
      spec: desired.spec!.template.spec,
    },
  };
  delete out.status;
  return out;
}

/** toService maps a FunctionDeployment to its ClusterIP Service on the watchdog port (8080). */
export function toService(fd: FunctionDeployment & { namespace: string }, cfg: Pick<ManifestConfig, 'watchdogPort'>): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: fd.service,
      namespace: fd.namespace,
      labels: { [functionLabel]: fd.service },
      annotations: { 'prometheus.io.scrape': 'false' },
    },
    spec: {
      type: 'ClusterIP',
      selector: { [functionLabel]: fd.service },
      ports: [{ name: 'http', port: 8080, targetPort: cfg.watchdogPort, protocol: 'TCP' }],
    },
  };
}
