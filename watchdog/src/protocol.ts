/**
 * protocol is the wire vocabulary shared by the watchdog (ICS) and the provider (GS): NATS subjects, HTTP headers,
 * and the shapes of load reports and control messages. The provider imports this module; the watchdog imports
 * nothing from the provider. Keep it free of runtime dependencies.
 */

/** subjects are every NATS subject HyperFaaS uses, in one place. */
export const subjects = {
  /**
   * report: ICS -> GS load reports, one subject per instance (so NATS permissions can give each instance only its
   * own); the GS drops a report whose subject does not name the body's namespace, function and instance.
   */
  report: (namespace: string, fn: string, instanceId: string) => `hyperfaas.report.${namespace}.${fn}.${instanceId}`,
  reportsAll: 'hyperfaas.report.>',
  /**
   * bounce: ICS -> GS request/reply for requests an instance cannot take, on the bouncing instance's own subject
   * (the GS drops a bounce whose subject does not name its sender); GS replicas share queue group "gs".
   */
  bounce: (instanceId: string) => `hyperfaas.bounce.${instanceId}`,
  bouncesAll: 'hyperfaas.bounce.*',
  bounceQueue: 'gs',
  /** control: GS -> one ICS request/reply (specialise, release, resize, drain). */
  control: (instanceId: string) => `hyperfaas.control.${instanceId}`,
  /** inboxPrefix: an ICS's own reply subjects (its connection's inboxPrefix), so no one else may read its replies. */
  inboxPrefix: (instanceId: string) => `_INBOX_${instanceId}`,
  /** async: JetStream stream and subjects for /async-function (OpenFaaS QueueRequest JSON). */
  asyncStream: 'faas-request',
  asyncSubject: (namespace: string, fn: string) => `faas-request.${namespace}.${fn}`,
  asyncDeadLetter: (namespace: string, fn: string) => `faas-request-dead.${namespace}.${fn}`,
  /** asyncSubjects: what the async stream stores (the bare subject too, as OpenFaaS Pro tooling publishes there). */
  asyncSubjects: ['faas-request', 'faas-request.>'],
  /** asyncDurable: the queue workers' shared durable pull consumer on asyncStream. */
  asyncDurable: 'faas-workers',
  /** asyncDeadLetterStream keeps what failed every attempt, on the asyncDeadLetter subjects. */
  asyncDeadLetterStream: 'faas-request-dead',
  asyncDeadLetterAll: 'faas-request-dead.>',
  /**
   * codeGet: the one JetStream API subject an instance may publish to for guest code: a message get on its own
   * namespace's code bucket's stream (the meta record by last_by_subj, then each chunk by next_by_subj).
   */
  codeGet: (bucket: string) => `$JS.API.STREAM.MSG.GET.${codeStream(bucket)}`,
} as const;

/** dnsLabel is a Kubernetes namespace name (RFC 1123 label), which is also a safe NATS token and stream name part. */
const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * codeBucket is the JetStream object store bucket holding one namespace's function code bundles. Guest slots are
 * lent only within a namespace, so each namespace has its own bucket and an instance's NATS user may read only its
 * own namespace's. Throws for a namespace that is not a DNS label.
 */
export function codeBucket(namespace: string): string {
  if (!dnsLabel.test(namespace)) throw new Error(`namespace ${JSON.stringify(namespace)} is not a DNS label: it cannot name a code bucket`);
  return `hyperfaas-code-${namespace}`;
}

/** codeStream is the JetStream stream behind an object store bucket (the object store's own naming). */
export function codeStream(bucket: string): string {
  return `OBJ_${bucket}`;
}

/** codeKey is the object name of a bundle in its bucket: its SHA-256, so equal code is stored once. */
export function codeKey(hash: string): string {
  return `sha256-${hash}`;
}

/** CodeObject names one published bundle: `code: { kind: 'object', ... }` of a specialise request. */
export interface CodeObject {
  bucket: string;
  key: string;
  /** hash is the bundle's SHA-256, hex; the watchdog refuses a bundle that does not match it. */
  hash: string;
}

/** headers are the HTTP headers HyperFaaS adds or reads, lower-case as Node sees them. */
export const headers = {
  /** function routes a request to the slot that holds "name.namespace" (set by the GS; absent means the home slot). */
  function: 'x-hyperfaas-function',
  /** route tells the caller the path the request took: direct, bounced, guest, queued. */
  route: 'x-hyperfaas-route',
  /** bounces counts how many times a request was bounced so far (bounded). */
  bounces: 'x-hyperfaas-bounces',
  /** instance names the instance that served the request. */
  instance: 'x-hyperfaas-instance',
  /** slot names the slot that served it: home or guest. */
  slot: 'x-hyperfaas-slot',
  /** internal marks errors made by the platform, not the function (OpenFaaS's own header). */
  internal: 'x-openfaas-internal',
  /** controlToken authenticates every control request over HTTP (the instance's own token). */
  controlToken: 'x-hyperfaas-token',
} as const;

/** SlotKind: the home slot runs the container's own function; the guest slot is a generic runtime. */
export type SlotKind = 'home' | 'guest';

/** SlotState: generic (warm, no code), specialising, serving, releasing. */
export type SlotState = 'generic' | 'specialising' | 'serving' | 'releasing' | 'down';

/** SlotReport is one slot in a load report. */
export interface SlotReport {
  kind: SlotKind;
  state: SlotState;
  /** function is "name.namespace" of the code the slot runs; absent while generic. */
  function?: string;
  inflight: number;
  /** capacity is the slot's concurrency limit (0 = unlimited). */
  capacity: number;
}

/** Watermark is where an instance stands against its low and high watermarks. */
export type Watermark = 'low' | 'normal' | 'high';

/** LoadReport is what an ICS publishes a few times a second and at once when its watermark state changes. */
export interface LoadReport {
  instance: string;
  function: string;
  namespace: string;
  /** url is the watchdog's base URL, so a GS can route to it before the backend tells it. */
  url: string;
  runtime?: string;
  /** seq increases with every report from one instance; a GS drops older ones. */
  seq: number;
  /** at is the sender's epoch milliseconds. */
  at: number;
  slots: SlotReport[];
  /** cpu: cores in use (averaged over the last interval) and the limit in cores (0 = none). */
  cpu: { used: number; limit: number };
  /** memory: bytes in use and the limit in bytes (0 = none). */
  memory: { used: number; limit: number };
  watermark: Watermark;
  draining: boolean;
  /** queued is how many requests wait inside the ICS for a slot (bounced too often, or NATS unreachable). */
  queued?: number;
}

/** ControlRequest is a GS -> ICS command. */
export type ControlRequest =
  | {
      op: 'specialise';
      /** function is "name.namespace". */
      function: string;
      /**
       * code is where the function's directory comes from: the provider always sends an object in the namespace's
       * code bucket (the watchdog fetches it over its own NATS connection); a directory path serves a watchdog run
       * on its own (tests, benchmarks).
       */
      code: { kind: 'dir'; path: string } | ({ kind: 'object' } & CodeObject);
      env?: Record<string, string>;
      secrets?: string[];
      capacity?: number;
    }
  | { op: 'release' }
  | { op: 'resize'; cpu?: number; memoryBytes?: number; capacity?: number }
  | { op: 'drain' };

/** ControlReply is the ICS's answer to a ControlRequest. */
export interface ControlReply {
  ok: boolean;
  error?: string;
  /** ms the operation took, e.g. specialise to ready. */
  ms?: number;
}
