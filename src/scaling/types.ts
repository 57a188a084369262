/**
 * types is the vocabulary every scaling policy shares: what a policy sees on each tick (a function's spec plus the
 * observations the global scheduler gathered) and what it hands back (actions, its new state, a phase summary).
 *
 * Everything here is plain data. Policies are pure functions of (input, state) -> decision: no I/O, no timers,
 * no Date.now(); the time of the tick arrives as `nowMs` (epoch or test milliseconds, only differences matter).
 */

/** PolicyName is the value of the `com.hyperfaas.policy` label. */
export type PolicyName = 'hyperfaas' | 'hpa' | 'hpa-tuned' | 'none';

/** ScaleType is `com.openfaas.scale.type`: what one replica's target is measured in. */
export type ScaleType = 'rps' | 'capacity' | 'cpu';

/**
 * ScalingLabels are the parsed and validated scaling labels of one function (see labels.ts for the defaults).
 * Durations are in milliseconds, fractions in [0, 1].
 */
export interface ScalingLabels {
  /** min is `com.openfaas.scale.min`: the replica floor while the function is not idle. */
  min: number;
  /** max is `com.openfaas.scale.max`: the replica ceiling. */
  max: number;
  /** factor is `com.openfaas.scale.factor` (percent of max per CE alert step); kept for the gateway's sake. */
  factor: number;
  /** zero is `com.openfaas.scale.zero`: whether an idle function may go to 0 replicas. */
  zero: boolean;
  /** zeroDurationMs is `com.openfaas.scale.zero-duration`: idle time before scaling to zero. */
  zeroDurationMs: number;
  /** target is `com.openfaas.scale.target`: per replica; req/s (rps), in-flight (capacity) or CPU percent of request (cpu). */
  target: number;
  /** targetProportion is `com.openfaas.scale.target-proportion`: the share of target a replica is driven to. */
  targetProportion: number;
  /** type is `com.openfaas.scale.type`. */
  type: ScaleType;
  /** downWindowMs is `com.openfaas.scale.down.window` when set: the scale-in stabilisation window. */
  downWindowMs?: number;
  /** policy is `com.hyperfaas.policy`. */
  policy: PolicyName;
  /** watermarkLow is `com.hyperfaas.watermark.low`: below it an instance counts as under-used. */
  watermarkLow: number;
  /** watermarkHigh is `com.hyperfaas.watermark.high`: above it an instance counts as overloaded. */
  watermarkHigh: number;
  /** runtime is `com.hyperfaas.runtime`: functions of one runtime can lend each other their generic slots. */
  runtime?: string;
  /**
   * ablate is `com.hyperfaas.ablate`: hyperfaas phases switched off for this function, for the A/B ablation arms
   * ("B minus phase 1 / minus phase 2"). Absent or empty: every phase is on.
   */
  ablate?: Ablation[];
  /**
   * inflightBoost is `com.hyperfaas.max-inflight.boost`: how far phase 1 may raise the concurrency limit of an instance
   * that is short of concurrency but not of CPU, as a multiple of max_inflight in [1, 4]; 1 never raises it.
   * Absent: the policy's default.
   */
  inflightBoost?: number;
}

/** Ablation names a phase of the hyperfaas policy that `com.hyperfaas.ablate` can switch off. */
export type Ablation = 'scale-up' | 'multiplex';

/** FunctionSpec is what a policy knows about one function, independent of its current instances. */
export interface FunctionSpec {
  /** key is "name.namespace". */
  key: string;
  labels: ScalingLabels;
  /** capacity is the concurrency limit of one instance's home slot (the watchdog's max_inflight; 0 = unlimited). */
  capacity: number;
  /** cpuRequest is the CPU request of one instance in cores (what HPA divides usage by). */
  cpuRequest: number;
  /** cpuLimit is the normal (not scaled-up) CPU limit of one instance in cores; 0 = no limit. */
  cpuLimit: number;
  /** memoryLimitBytes is the normal memory limit of one instance; 0 or absent = no limit. */
  memoryLimitBytes?: number;
}

/** SlotObservation is one worker slot as the instance's last load report described it. */
export interface SlotObservation {
  kind: 'home' | 'guest';
  state: 'generic' | 'specialising' | 'serving' | 'releasing' | 'down';
  /** function is the "name.namespace" the slot runs; absent while generic. */
  function?: string;
  inflight: number;
  capacity: number;
}

/** InstanceObservation is one instance of the function being decided, as the GS sees it now. */
export interface InstanceObservation {
  id: string;
  /** ready is true once the instance answers its health check. */
  ready: boolean;
  /** startedAt is when the instance was created (ms). */
  startedAt: number;
  /** readyAt is when it became ready (ms), when it did. */
  readyAt?: number;
  /** cpuUsed is the cores it used, averaged over the last report interval. */
  cpuUsed: number;
  /** cpuLimit is its current CPU limit in cores, a scale-up included; 0 = none. */
  cpuLimit: number;
  /** memoryUsed and memoryLimit are bytes; 0 = unknown / none. */
  memoryUsed?: number;
  memoryLimit?: number;
  /** inflight and capacity are those of its home slot. */
  inflight: number;
  capacity: number;
  /** overHigh is true when the instance reported itself over its high watermark. */
  overHigh: boolean;
  /** draining instances take no new work and are on their way out. */
  draining?: boolean;
  slots?: SlotObservation[];
}

/** GuestSlotObservation is the generic (guest) slot of an instance of ANOTHER function of the same runtime. */
export interface GuestSlotObservation {
  hostInstance: string;
  /** hostFunction is the "name.namespace" whose instance it is. */
  hostFunction: string;
  state: SlotObservation['state'];
  /** function is what the slot serves now; equal to our key when we borrowed it. */
  function?: string;
  inflight: number;
  capacity: number;
  /** hostLoad is the host instance's own load as a fraction of its limits (max of CPU and in-flight share). */
  hostLoad: number;
}

/** DemandObservation is what reached the function in the last window. */
export interface DemandObservation {
  /** windowMs is the length of the window the figures cover. */
  windowMs: number;
  /** arrivalRate is requests per second that arrived for the function. */
  arrivalRate: number;
  /** queued is how many requests wait (GS queue or bounced and parked) right now. */
  queued: number;
  /** bounced is how many requests instances bounced back in the window. */
  bounced: number;
  /** meanServiceMs is the mean time a request spent in a worker, when known (Little's law sizing). */
  meanServiceMs?: number;
}

/** NodeObservation is the host (or Kubernetes node) the instances share. */
export interface NodeObservation {
  /** cpuCores is the host's CPU count. */
  cpuCores: number;
  /** cpuFree is cores not promised to anyone (sum of limits, scale-ups included, subtracted). */
  cpuFree: number;
  /** memoryFreeBytes is memory not promised to anyone, when known. */
  memoryFreeBytes?: number;
}

/** PolicyInput is everything one tick of a policy sees. */
export interface PolicyInput {
  nowMs: number;
  spec: FunctionSpec;
  /** replicas is the desired replica count the backend currently holds (what the last scaleTo set). */
  replicas: number;
  instances: InstanceObservation[];
  demand: DemandObservation;
  /** guests are generic or borrowed slots on other functions' instances of the same runtime. */
  guests: GuestSlotObservation[];
  node: NodeObservation;
}

/** ScalingAction is one thing the shell must do after a tick. */
export type ScalingAction =
  /** resize: phase 1, set an instance's CPU limit (cores) and optionally its memory limit (bytes). */
  | { kind: 'resize'; instance: string; cpu: number; memoryBytes?: number }
  /** restore: give a scale-up back, i.e. resize to the function's normal limits. */
  | { kind: 'restore'; instance: string; cpu: number; memoryBytes?: number }
  /**
   * inflight: phase 1 for an instance short of concurrency rather than CPU: set its home slot's concurrency limit
   * (above max_inflight while boosted; back to max_inflight when given back).
   */
  | { kind: 'inflight'; instance: string; capacity: number }
  /** specialise: phase 2, load the function into the generic slot of another function's instance. */
  | { kind: 'specialise'; hostInstance: string; function: string }
  /** release: return a borrowed slot to generic. */
  | { kind: 'release'; hostInstance: string; function: string }
  /** scaleTo: phase 3, scale-in, to and from zero: set the desired replica count. */
  | { kind: 'scaleTo'; replicas: number };

/** Phase summarises a tick for metrics and logs; the most significant thing that happened wins. */
export type Phase =
  | 'steady'
  | 'scale-up'
  | 'multiplex'
  | 'scale-out'
  | 'give-back'
  | 'scale-in'
  | 'to-zero'
  | 'from-zero'
  | 'zero'
  | 'waiting';

/** Decision is what a policy returns for one tick. */
export interface Decision<S> {
  actions: ScalingAction[];
  state: S;
  phase: Phase;
  /** replicas is the desired replica count after this tick (equal to input.replicas when nothing changed). */
  replicas: number;
  /** routable, when set, limits which of the function's instances the router may use (the HPA arm's pod model). */
  routable?: string[];
  /** reasons are short human-readable explanations, for debug logs. */
  reasons: string[];
}

/** ScalingPolicy is a named pure policy with its own state type. */
export interface ScalingPolicy<S> {
  readonly name: PolicyName;
  /** initialState is the state before the first tick. */
  initialState(nowMs: number): S;
  /** decide runs one tick. It must not mutate input or state. */
  decide(input: PolicyInput, state: S): Decision<S>;
}
