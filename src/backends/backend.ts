import type { ControlRequest } from '@hyperfaas/watchdog/protocol';
import type { FunctionDeployment, FunctionStatus, LogMessage, LogRequest, Secret } from '../types/index.js';

/** BackendErrorKind is what went wrong, independent of the backend; api/errors.ts maps it to a status code. */
export type BackendErrorKind = 'NotFound' | 'Conflict' | 'Invalid' | 'Unavailable';

/** BackendError is the only error a backend throws on purpose; its message is shown to the user verbatim. */
export class BackendError extends Error {
  override readonly name = 'BackendError';
  constructor(
    readonly kind: BackendErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** isBackendError narrows an unknown error to a BackendError, optionally of one kind. */
export function isBackendError(e: unknown, kind?: BackendErrorKind): e is BackendError {
  return e instanceof BackendError && (kind === undefined || e.kind === kind);
}

/**
 * Instance is one replica of a function: a watchdog (the in-container scheduler) and its workers.
 * On the local backend it is a process group on this host; on Kubernetes, a pod.
 */
export interface Instance {
  /** id is unique for the instance's whole life (never reused). */
  id: string;
  function: string;
  namespace: string;
  /** url is the watchdog's base URL, e.g. http://127.0.0.1:31001 (no trailing slash). */
  url: string;
  /** ready is true once the watchdog's /_/health answers 200; false while starting or draining. */
  ready: boolean;
  /** startedAt is epoch milliseconds. */
  startedAt: number;
  /** runtime is the com.hyperfaas.runtime label of the function (e.g. "node"), when known. */
  runtime?: string;
  /**
   * watchdog is "image" for an instance running an OCI image's own watchdog: it has no HyperFaaS routes (load
   * reports, control, bounce, guest slot). Unset means our watchdog.
   */
  watchdog?: 'image';
}

/** InstanceEvent is what a backend's instance watch delivers. */
export interface InstanceEvent {
  type: 'added' | 'modified' | 'deleted';
  instance: Instance;
}

/** ResourceLimits are absolute limits for one instance: cpu in cores, memory in bytes. */
export interface ResourceLimits {
  cpu?: number;
  memoryBytes?: number;
}

/** CodeRef is where a function's code comes from for a guest slot (the protocol's specialise `code`). */
export type CodeRef = Extract<ControlRequest, { op: 'specialise' }>['code'];

/** SecretInfo is what list returns: never the value. */
export interface SecretInfo {
  name: string;
  namespace: string;
}

/** PublishedBuild is one function build a user uploaded under an image reference. */
export interface PublishedBuild {
  /** image is the reference it was published under, as given. */
  image: string;
  /** key is the stored name: registry host dropped, tag kept (`me/hello:latest`). */
  key: string;
  publishedAt: string;
  /** bytes is the size of the unpacked bundle. */
  bytes: number;
}

/** PublishedBuilds keeps uploaded builds, which deploys then resolve by image reference (Invalid for bad input). */
export interface PublishedBuilds {
  /** put stores an upload (a bundle, optionally gzipped) as image's build, replacing an earlier one. */
  put(image: string, upload: Buffer): Promise<PublishedBuild>;
  list(): Promise<PublishedBuild[]>;
  /** remove deletes image's build; NotFound when there is none. */
  remove(image: string): Promise<void>;
}

/**
 * FunctionBackend is where functions and their instances come from (local processes, Kubernetes).
 * Every method takes an already-validated request with its namespace resolved; errors are BackendErrors.
 * get/list must be cheap (answered from the backend's own memory): the stock gateway calls status on every invoke.
 */
export interface FunctionBackend {
  /** name is "local" or "kubernetes". */
  readonly name: string;
  /** orchestration is what /system/info reports. */
  readonly orchestration: string;
  /** isolation, when the backend runs instances itself, says how they are confined (shown on /system/info). */
  readonly isolation?: object;

  /** deploy creates a function. Conflict when it exists; Invalid for an unknown secret or unusable image. */
  deploy(fd: FunctionDeployment & { namespace: string }): Promise<void>;
  /** update replaces a function's spec and rolls its instances without dropping requests. NotFound when missing. */
  update(fd: FunctionDeployment & { namespace: string }): Promise<void>;
  /** remove deletes a function and stops its instances. NotFound when missing. */
  remove(namespace: string, name: string): Promise<void>;
  /** get returns one function's status. NotFound when missing. */
  get(namespace: string, name: string): Promise<FunctionStatus>;
  /** list returns every function of a namespace ([] when none). */
  list(namespace: string): Promise<FunctionStatus[]>;
  /** scale sets the desired replica count (0 included). NotFound when missing. */
  scale(namespace: string, name: string, replicas: number): Promise<void>;
  /** namespaces lists the namespaces functions may use, the default first. */
  namespaces(): Promise<string[]>;

  listSecrets(namespace: string): Promise<SecretInfo[]>;
  /** createSecret: Conflict when it exists. */
  createSecret(namespace: string, name: string, value: Buffer): Promise<void>;
  /** updateSecret: NotFound when missing. */
  updateSecret(namespace: string, name: string, value: Buffer): Promise<void>;
  /** deleteSecret: NotFound when missing. */
  deleteSecret(namespace: string, name: string): Promise<void>;

  /** logs streams a function's log lines; with follow=false the iterable ends after the existing lines. */
  logs(req: LogRequest, signal: AbortSignal): AsyncIterable<LogMessage>;

  /** instances is a snapshot of the known instances, optionally of one function. */
  instances(namespace?: string, name?: string): Instance[];
  /** watchInstances calls listener on every instance change; returns the unsubscribe function. */
  watchInstances(listener: (ev: InstanceEvent) => void): () => void;
  /** resize changes one instance's limits in place (phase-1 scale-up). Unavailable where the backend cannot. */
  resize(instanceId: string, limits: ResourceLimits): Promise<void>;

  /**
   * codeRef names this function's code object in its namespace's code bucket (JetStream object store, published by
   * the provider at deploy), which another instance's ICS fetches to specialise its guest slot; undefined when the
   * function has no code to lend. Rejects when the code cannot be published.
   */
  codeRef?(namespace: string, name: string): Promise<CodeRef | undefined>;

  /** published, where present, takes function builds uploaded to the provider (PUT /system/images). */
  readonly published?: PublishedBuilds;

  /** close stops whatever the backend runs (instances, watches) and releases its resources. */
  close(): Promise<void>;
}
