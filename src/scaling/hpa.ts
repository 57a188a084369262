/**
 * hpa is a faithful emulation of the Kubernetes HorizontalPodAutoscaler (autoscaling/v2, CPU utilisation metric):
 * the comparator arm of the A/B against stock Kubernetes. It is pure: the shell calls decide() on every tick with
 * what it observed and the policy works out, by itself, what a real cluster would have shown the HPA by then:
 *
 * 1. a pod model: a new instance stays Pending for `podStartDelayMs`, then Running but unready until the first
 *    readiness probe that finds it healthy (probe initial delay, then every probe period). Only modelled-ready pods
 *    are `routable`, so the router holds real, already-started workers back exactly as long as Kubernetes would;
 * 2. the metrics pipeline (metrics-server): every `metricResolutionMs` it scrapes a cumulative CPU counter per running
 *    pod; a sample is the average rate between two scrapes, stamped with the later scrape's time. A pod therefore has
 *    no metric until its second scrape (or its first, when the container is 10 s to one resolution old then: the start
 *    time serves as the earlier point), and a sample describes the past window, not now;
 * 3. the controller loop, every `syncPeriodMs`: groupPods (cpu-initialization-period and initial-readiness-delay
 *    rules), the replica calculation with tolerance and the missing-metric 100 %/0 % rules, then normalisation: the
 *    legacy path (300 s down-stabilisation, scale-up limit max(2 x current, 4)) when `behavior` is undefined, or the
 *    behavior path (stabilisation windows, Pods/Percent rate policies, selectPolicy) when it is set.
 *
 * Names follow the Kubernetes sources (replica_calculator.go, horizontal.go) so a reader can compare them side by side.
 */
import type { Decision, InstanceObservation, PolicyInput, ScalingAction, ScalingPolicy } from './types.js';

/** HpaPolicyRule is one scaling policy of an HPA behavior: at most `value` pods or percent per `periodSeconds`. */
export interface HpaPolicyRule {
  type: 'Pods' | 'Percent';
  value: number;
  periodSeconds: number;
}

/** HpaScalingRules is behavior.scaleUp or behavior.scaleDown. */
export interface HpaScalingRules {
  stabilizationWindowSeconds: number;
  selectPolicy: 'Max' | 'Min' | 'Disabled';
  policies: HpaPolicyRule[];
}

/** HpaBehavior is spec.behavior of an HPA. */
export interface HpaBehavior {
  scaleUp: HpaScalingRules;
  scaleDown: HpaScalingRules;
}

/** HpaParams are the controller flags, the metrics pipeline and the pod model the emulator runs with. */
export interface HpaParams {
  /** syncPeriodMs is --horizontal-pod-autoscaler-sync-period (15 s). */
  syncPeriodMs: number;
  /** syncOffsetMs places the sync ticks at offset + k * period (0 = at 0, 15 s, 30 s ...). */
  syncOffsetMs: number;
  /** tolerance is --horizontal-pod-autoscaler-tolerance (0.1). */
  tolerance: number;
  /** downscaleStabilizationMs is --horizontal-pod-autoscaler-downscale-stabilization (5 min); legacy path only. */
  downscaleStabilizationMs: number;
  /** cpuInitializationPeriodMs is --horizontal-pod-autoscaler-cpu-initialization-period (5 min). */
  cpuInitializationPeriodMs: number;
  /** initialReadinessDelayMs is --horizontal-pod-autoscaler-initial-readiness-delay (30 s). */
  initialReadinessDelayMs: number;
  /** metricResolutionMs is metrics-server --metric-resolution (15 s in the upstream manifests). */
  metricResolutionMs: number;
  /** metricOffsetMs places the scrapes at offset + k * resolution. */
  metricOffsetMs: number;
  /**
   * freshContainerMinMs: metrics-server (pkg/storage/pod.go) lets a container's start time serve as the earlier point
   * when the container is at least this old (10 s) but younger than the resolution at its first scrape.
   */
  freshContainerMinMs: number;
  /** behavior is spec.behavior; undefined selects the legacy normalisation. */
  behavior?: HpaBehavior;
  /** podStartDelayMs models scheduling + image + container start before the pod is Running (knative #2484: ~2 s). */
  podStartDelayMs: number;
  /** probeInitialDelayMs and probePeriodMs model the readiness probe (faas-netes: 2 s and 2 s). */
  probeInitialDelayMs: number;
  probePeriodMs: number;
}

/**
 * defaultHpaBehavior is what the API server fills in when spec.behavior is set but empty (autoscaling/v2 defaults.go):
 * scale-up without stabilisation, at most max(+4 pods, +100 %) per 15 s; scale-down stabilised over the flag's window
 * (300 s) and at most -100 % per 15 s. The API comment says "per 60 s" but the code default is 15 s: we follow the code.
 */
export function defaultHpaBehavior(downStabilizationSeconds = 300): HpaBehavior {
  return {
    scaleUp: {
      stabilizationWindowSeconds: 0,
      selectPolicy: 'Max',
      policies: [
        { type: 'Pods', value: 4, periodSeconds: 15 },
        { type: 'Percent', value: 100, periodSeconds: 15 },
      ],
    },
    scaleDown: {
      stabilizationWindowSeconds: downStabilizationSeconds,
      selectPolicy: 'Max',
      policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
    },
  };
}

/** HPA_DEFAULT is arm A1: default flags, metric resolution 15 s, faas-netes probes (2 s / 2 s), pod start 2 s, no behavior. */
export const HPA_DEFAULT: Readonly<HpaParams> = Object.freeze<HpaParams>({
  syncPeriodMs: 15_000,
  syncOffsetMs: 0,
  tolerance: 0.1,
  downscaleStabilizationMs: 300_000,
  cpuInitializationPeriodMs: 300_000,
  initialReadinessDelayMs: 30_000,
  metricResolutionMs: 15_000,
  metricOffsetMs: 0,
  freshContainerMinMs: 10_000,
  podStartDelayMs: 2_000,
  probeInitialDelayMs: 2_000,
  probePeriodMs: 2_000,
});

/** HPA_DEFAULT_BEHAVIOR is arm A1 with spec.behavior set to its defaults (1 -> 5 -> 10 instead of 1 -> 4 -> 8 -> 10). */
export const HPA_DEFAULT_BEHAVIOR: Readonly<HpaParams> = Object.freeze<HpaParams>({ ...HPA_DEFAULT, behavior: defaultHpaBehavior() });

/**
 * HPA_TUNED is arm A2, the most aggressive setup a cluster operator can reach: sync every 1 s, metric resolution at
 * its 10 s floor, scale-up +900 % per 1 s, readiness probe every 1 s. The paper's anchor for it is ~20 s.
 */
export const HPA_TUNED: Readonly<HpaParams> = Object.freeze<HpaParams>({
  ...HPA_DEFAULT,
  syncPeriodMs: 1_000,
  metricResolutionMs: 10_000,
  probeInitialDelayMs: 1_000,
  probePeriodMs: 1_000,
  behavior: {
    scaleUp: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 900, periodSeconds: 1 }] },
    scaleDown: defaultHpaBehavior().scaleDown,
  },
});

/**
 * compressHpaParams divides every control-plane time constant by k, for CI smoke runs (label such
 * results "compressed"). Behavior periods and windows are in whole seconds in Kubernetes; here they may become
 * fractional, which the emulator accepts. Pod start and probe delays are compressed as well.
 */
export function compressHpaParams(p: Readonly<HpaParams>, k: number): HpaParams {
  if (!(k >= 1)) throw new RangeError(`compressHpaParams(k = ${k}): k must be >= 1`);
  const rules = (r: HpaScalingRules): HpaScalingRules => ({
    ...r,
    stabilizationWindowSeconds: r.stabilizationWindowSeconds / k,
    policies: r.policies.map((x) => ({ ...x, periodSeconds: x.periodSeconds / k })),
  });
  return {
    ...p,
    syncPeriodMs: p.syncPeriodMs / k,
    syncOffsetMs: p.syncOffsetMs / k,
    downscaleStabilizationMs: p.downscaleStabilizationMs / k,
    cpuInitializationPeriodMs: p.cpuInitializationPeriodMs / k,
    initialReadinessDelayMs: p.initialReadinessDelayMs / k,
    metricResolutionMs: p.metricResolutionMs / k,
    metricOffsetMs: p.metricOffsetMs / k,
    freshContainerMinMs: p.freshContainerMinMs / k,
    podStartDelayMs: p.podStartDelayMs / k,
    probeInitialDelayMs: p.probeInitialDelayMs / k,
    probePeriodMs: p.probePeriodMs / k,
    behavior: p.behavior && { scaleUp: rules(p.behavior.scaleUp), scaleDown: rules(p.behavior.scaleDown) },
  };
}

/** describeHpaParams is the one-line header every A/B result prints next to its numbers . */
export function describeHpaParams(p: Readonly<HpaParams>): string {
  const b = p.behavior
    ? `behavior up=${p.behavior.scaleUp.policies.map((x) => `${x.type} ${x.value}/${x.periodSeconds}s`).join('|')}`
    : 'legacy (no behavior)';
  return (
    `sync ${p.syncPeriodMs / 1000}s, tolerance ${p.tolerance}, resolution ${p.metricResolutionMs / 1000}s, ` +
    `down-stabilisation ${p.downscaleStabilizationMs / 1000}s, ${b}, pod start ${p.podStartDelayMs / 1000}s, ` +
    `probe ${p.probeInitialDelayMs / 1000}s+${p.probePeriodMs / 1000}s`
);
}

// ------------------------------------------------------------------------------------------------------------------
// Pod model

/** ModelledPod is how Kubernetes would see one instance at a given time. */
export interface ModelledPod {
  id: string;
  phase: 'Pending' | 'Running';
  /** startTime is pod.status.startTime (ms). */
  startTime: number;
  /** runningAt is when the pod's containers run (startTime + podStartDelayMs). */
  runningAt: number;
  /** ready is the Ready condition's status. */
  ready: boolean;
  /** readyTransitionAt is the Ready condition's lastTransitionTime (ms). */
  readyTransitionAt: number;
  /** deleting is true for draining instances (deletionTimestamp set). */
  deleting: boolean;
}

/**
 * modelPod computes the modelled state of one instance at nowMs. Readiness: probes run at
 * runningAt + initialDelay + n * period; the first one at or after the moment the real instance became healthy flips
 * Ready to true. Worked example (HPA_DEFAULT: start 2 s, probes 2 s + 2 s): an instance forked at 10_000 and healthy
 * at 10_080 is Pending until 12_000, Running-unready until the first probe at 14_000, Ready from 14_000 on.
 */
export function modelPod(inst: InstanceObservation, p: Readonly<HpaParams>, nowMs: number): ModelledPod {
  const runningAt = inst.startedAt + p.podStartDelayMs;
  const base = { id: inst.id, startTime: inst.startedAt, runningAt, deleting: inst.draining === true };
  if (nowMs < runningAt) return { ...base, phase: 'Pending', ready: false, readyTransitionAt: inst.startedAt };
  const firstProbe = runningAt + p.probeInitialDelayMs;
  if (!inst.ready) return { ...base, phase: 'Running', ready: false, readyTransitionAt: runningAt };
  const healthyAt = Math.max(firstProbe, inst.readyAt ?? inst.startedAt);
  const period = Math.max(1e-9, p.probePeriodMs);
  const readyAt = firstProbe + Math.ceil((healthyAt - firstProbe) / period - 1e-9) * period;
  if (nowMs < readyAt) return { ...base, phase: 'Running', ready: false, readyTransitionAt: runningAt };
  return { ...base, phase: 'Running', ready: true, readyTransitionAt: readyAt };
}

// ------------------------------------------------------------------------------------------------------------------
// Metrics pipeline

/** PodMetricSample is what metrics-server serves for one pod: mean cores over `windowMs` ending at `timestamp`. */
export interface PodMetricSample {
  cores: number;
  timestamp: number;
  windowMs: number;
}

/** PodCounter is the pipeline's per-pod memory: a cumulative CPU counter (core-ms) and the last scrape. */
export interface PodCounter {
  cumCoreMs: number;
  lastObsAt: number;
  lastScrape?: { at: number; cumCoreMs: number };
  sample?: PodMetricSample;
}

/**
 * advanceMetrics feeds one observation into the pipeline model: it integrates each running pod's CPU use since the
 * previous observation (the reading `cpuUsed` is the mean over that interval) and performs every scrape whose time
 * falls in (previous, now]. Worked examples (resolution 15 s, offset 0, a pod using 0.5 cores):
 * - running from 3 s: at 15 s it is 12 s old, in [10 s, 15 s), so the start time is the earlier point and the first
 *   sample (0.5 cores, window 12 s, stamped 15 s) exists at once;
 * - running from 8 s: at 15 s it is 7 s old (< 10 s): that scrape is only a baseline; the first sample comes at 30 s
 *   (window 15 s). The HPA sync at 15 s counts this pod as missing.
 */
export function advanceMetrics(
  counters: Readonly<Record<string, PodCounter>>,
  pods: ModelledPod[],
  instances: InstanceObservation[],
  p: Readonly<HpaParams>,
  nowMs: number,
): Record<string, PodCounter> {
  const out: Record<string, PodCounter> = {};
  const byId = new Map(instances.map((i) => [i.id, i]));
  for (const pod of pods) {
    if (pod.phase !== 'Running') continue;
    const inst = byId.get(pod.id)!;
    const prev = counters[pod.id];
    const c: PodCounter = prev
      ? { ...prev, lastScrape: prev.lastScrape && { ...prev.lastScrape } }
      : { cumCoreMs: 0, lastObsAt: pod.runningAt };
    if (nowMs > c.lastObsAt) {
      const res = p.metricResolutionMs;
      // Scrapes strictly after the last observation and at or before now.
      let k = Math.floor((c.lastObsAt - p.metricOffsetMs) / res) + 1;
      for (let t = p.metricOffsetMs + k * res; t <= nowMs; k++, t = p.metricOffsetMs + k * res) {
        const cumAtT = c.cumCoreMs + inst.cpuUsed * (t - c.lastObsAt);
        const age = t - pod.runningAt;
        if (!c.lastScrape && age >= p.freshContainerMinMs && age < res && age > 0) {
          c.sample = { cores: cumAtT / age, timestamp: t, windowMs: age };
        } else if (c.lastScrape && t > c.lastScrape.at) {
          const windowMs = t - c.lastScrape.at;
          c.sample = { cores: (cumAtT - c.lastScrape.cumCoreMs) / windowMs, timestamp: t, windowMs };
        }
        c.lastScrape = { at: t, cumCoreMs: cumAtT };
      }
      c.cumCoreMs += inst.cpuUsed * (nowMs - c.lastObsAt);
      c.lastObsAt = nowMs;
    }
    out[pod.id] = c;
  }
  return out;
}

// ------------------------------------------------------------------------------------------------------------------
// Replica calculation (replica_calculator.go)

/** PodGroups is the result of groupPods. */
export interface PodGroups {
  readyPodCount: number;
  /** ready are the pods whose samples count, with their sample. */
  ready: string[];
  unready: string[];
  missing: string[];
  ignored: string[];
}

/**
 * groupPods sorts the pods as the HPA's CPU path does: deleting pods are ignored; Pending pods are unready; pods
 * without a sample are missing; within the cpu-initialization-period after start a pod is unready while its Ready
 * condition is false or while its sample's window began before it became Ready (timestamp < transition + window);
 * after that period it is unready only if it is not ready and never became ready within initial-readiness-delay.
 */
export function groupPods(
  pods: ModelledPod[],
  samples: Readonly<Record<string, PodMetricSample | undefined>>,
  p: Readonly<HpaParams>,
  nowMs: number,
): PodGroups {
  const g: PodGroups = { readyPodCount: 0, ready: [], unready: [], missing: [], ignored: [] };
  for (const pod of pods) {
    if (pod.deleting) {
      g.ignored.push(pod.id);
      continue;
    }
    if (pod.phase === 'Pending') {
      g.unready.push(pod.id);
      continue;
    }
    const m = samples[pod.id];
    if (!m) {
      g.missing.push(pod.id);
      continue;
    }
    let unready: boolean;
    if (pod.startTime + p.cpuInitializationPeriodMs > nowMs) {
      unready = !pod.ready || m.timestamp < pod.readyTransitionAt + m.windowMs;
    } else {
      unready = !pod.ready && pod.startTime + p.initialReadinessDelayMs > pod.readyTransitionAt;
    }
    if (unready) {
      g.unready.push(pod.id);
      continue;
    }
    g.readyPodCount++;
    g.ready.push(pod.id);
  }
  return g;
}

/** ReplicaCalculation is what the replica calculator recommends, with the utilisation it saw (percent of request). */
export interface ReplicaCalculation {
  replicas: number;
  utilization: number;
  /** error is set when no pod had a usable metric; the HPA then changes nothing. */
  error?: string;
}

/**
 * utilizationRatio mirrors GetResourceUtilizationRatio: integer milli-cores summed over the pods, integer percent of
 * the summed requests, ratio = percent / target. Example: two pods at 450m and 550m, request 500m each, target 50 %:
 * 1000m / 1000m = 100 % -> ratio 2.0.
 */
function utilizationRatio(milli: Map<string, number>, requestMilli: number, target: number): { ratio: number; utilization: number } {
  let total = 0;
  for (const v of milli.values()) total += v;
  const requests = requestMilli * milli.size;
  const utilization = requests > 0 ? Math.floor((total * 100) / requests) : 0;
  return { ratio: utilization / target, utilization };
}

/**
 * calcReplicas is GetResourceReplicas + calcPlainMetricReplicas for CPU utilisation. When unready or missing pods
 * exist it re-runs the ratio with missing pods at 100 % of request (scale-down; or the target when above 100 %) or 0 %
 * (scale-up) and unready pods at 0 % (scale-up only), and keeps the current count if the result is within tolerance or
 * flips direction. Worked example (the docs): 50 pods at 90 %, target 75 % -> ratio 1.2 -> ceil(1.2 x 50) = 60.
 */
export function calcReplicas(
  currentReplicas: number,
  groups: PodGroups,
  samples: Readonly<Record<string, PodMetricSample | undefined>>,
  requestCores: number,
  targetUtilization: number,
  tolerance: number,
): ReplicaCalculation {
  const requestMilli = Math.round(requestCores * 1000);
  const metrics = new Map<string, number>();
  for (const id of groups.ready) metrics.set(id, Math.round(samples[id]!.cores * 1000));
  if (metrics.size === 0) return { replicas: currentReplicas, utilization: 0, error: 'did not receive metrics for targeted pods (pods might be unready)' };
  const { ratio: usageRatio, utilization } = utilizationRatio(metrics, requestMilli, targetUtilization);
  const scaleUpWithUnready = groups.unready.length > 0 && usageRatio > 1.0;
  if (!scaleUpWithUnready && groups.missing.length === 0) {
    if (Math.abs(1.0 - usageRatio) <= tolerance) return { replicas: currentReplicas, utilization };
    return { replicas: Math.ceil(usageRatio * groups.readyPodCount), utilization };
  }
  if (groups.missing.length > 0) {
    if (usageRatio < 1.0) {
      const fallback = Math.max(100, targetUtilization);
      for (const id of groups.missing) metrics.set(id, Math.floor((requestMilli * fallback) / 100));
    } else if (usageRatio > 1.0) {
      for (const id of groups.missing) metrics.set(id, 0);
    }
  }
  if (scaleUpWithUnready) for (const id of groups.unready) metrics.set(id, 0);
  const { ratio: newUsageRatio } = utilizationRatio(metrics, requestMilli, targetUtilization);
  if (
    Math.abs(1.0 - newUsageRatio) <= tolerance ||
    (usageRatio < 1.0 && newUsageRatio > 1.0) ||
    (usageRatio > 1.0 && newUsageRatio < 1.0)
) {
    return { replicas: currentReplicas, utilization };
  }
  const newReplicas = Math.ceil(newUsageRatio * metrics.size);
  if ((newUsageRatio < 1.0 && newReplicas > currentReplicas) || (newUsageRatio > 1.0 && newReplicas < currentReplicas)) {
    return { replicas: currentReplicas, utilization };
  }
  return { replicas: newReplicas, utilization };
}

// ------------------------------------------------------------------------------------------------------------------
// Normalisation (horizontal.go)

/** TimedValue is a timestamped recommendation or scale event. */
export interface TimedValue {
  at: number;
  value: number;
}

/** scaleUpLimit is the legacy calculateScaleUpLimit: max(2 x current, 4). Example: 1 -> 4, 3 -> 6, 8 -> 16. */
export function scaleUpLimit(currentReplicas: number): number {
  return Math.max(2 * currentReplicas, 4);
}

/**
 * normalizeLegacy is normalizeDesiredReplicas: the recommendation becomes the MAX of itself and every recommendation
 * of the last `downscaleStabilizationMs` (so a drop waits 5 min), then it is clamped to [min, min(max, max(2 x cur, 4))].
 * Returns the new count and the new recommendation history (entries older than the window dropped).
 */
export function normalizeLegacy(
  p: Readonly<HpaParams>,
  history: readonly TimedValue[],
  currentReplicas: number,
  desired: number,
  minReplicas: number,
  maxReplicas: number,
  nowMs: number,
): { replicas: number; history: TimedValue[] } {
  const cutoff = nowMs - p.downscaleStabilizationMs;
  let stabilized = desired;
  // Kubernetes skips samples strictly before the cutoff: one exactly at the cutoff still counts.
  const kept = history.filter((r) => r.at >= cutoff);
  for (const r of kept) stabilized = Math.max(stabilized, r.value);
  kept.push({ at: nowMs, value: desired });
  const maxAllowed = Math.min(maxReplicas, scaleUpLimit(currentReplicas));
  const replicas = stabilized < minReplicas ? minReplicas : stabilized > maxAllowed ? maxAllowed : stabilized;
  return { replicas, history: kept };
}

function changeInPeriod(events: readonly TimedValue[], periodSeconds: number, nowMs: number): number {
  const cutoff = nowMs - periodSeconds * 1000;
  return events.filter((e) => e.at > cutoff).reduce((a, e) => a + e.value, 0);
}

/**
 * behaviorScaleUpLimit is calculateScaleUpLimitWithScalingRules: per policy, periodStart = current - added + deleted
 * within its period; Pods -> periodStart + value; Percent -> ceil(periodStart x (1 + value/100)); Max or Min of them.
 * Example (defaults, nothing added in the last 15 s): current 1 -> max(1 + 4, ceil(1 x 2)) = 5; current 5 -> 10.
 */
export function behaviorScaleUpLimit(current: number, ups: readonly TimedValue[], downs: readonly TimedValue[], r: HpaScalingRules, nowMs: number): number {
  if (r.selectPolicy === 'Disabled') return current;
  let result = r.selectPolicy === 'Min' ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
  for (const pol of r.policies) {
    const start = current - changeInPeriod(ups, pol.periodSeconds, nowMs) + changeInPeriod(downs, pol.periodSeconds, nowMs);
    const proposed = pol.type === 'Pods' ? start + pol.value : Math.ceil(start * (1 + pol.value / 100));
    result = r.selectPolicy === 'Min' ? Math.min(result, proposed) : Math.max(result, proposed);
  }
  return result;
}

/**
 * behaviorScaleDownLimit is calculateScaleDownLimitWithBehaviors: periodStart likewise; Pods -> periodStart - value;
 * Percent -> trunc(periodStart x (1 - value/100)); Max picks the biggest change (the lowest count).
 * Example (default -100 % / 15 s): current 10 -> 0, i.e. no rate limit; min replicas clamps it afterwards.
 */
export function behaviorScaleDownLimit(current: number, ups: readonly TimedValue[], downs: readonly TimedValue[], r: HpaScalingRules, nowMs: number): number {
  if (r.selectPolicy === 'Disabled') return current;
  let result = r.selectPolicy === 'Min' ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
  for (const pol of r.policies) {
    const start = current - changeInPeriod(ups, pol.periodSeconds, nowMs) + changeInPeriod(downs, pol.periodSeconds, nowMs);
    const proposed = pol.type === 'Pods' ? start - pol.value : Math.trunc(start * (1 - pol.value / 100));
    result = r.selectPolicy === 'Min' ? Math.max(result, proposed) : Math.min(result, proposed);
  }
  return result;
}

/**
 * normalizeWithBehavior is normalizeDesiredReplicasWithBehaviors: (a) stabilise between the MIN of the recommendations
 * inside the up-window and the MAX inside the down-window, starting from the current count; (b) apply the rate limit
 * of the direction, never past current, with [min, max] as the outer bounds.
 */
export function normalizeWithBehavior(
  b: HpaBehavior,
  history: readonly TimedValue[],
  ups: readonly TimedValue[],
  downs: readonly TimedValue[],
  currentReplicas: number,
  desired: number,
  minReplicas: number,
  maxReplicas: number,
  nowMs: number,
): { replicas: number; history: TimedValue[] } {
  const upCutoff = nowMs - b.scaleUp.stabilizationWindowSeconds * 1000;
  const downCutoff = nowMs - b.scaleDown.stabilizationWindowSeconds * 1000;
  let up = desired;
  let down = desired;
  for (const r of history) {
    if (r.at > upCutoff) up = Math.min(up, r.value);
    if (r.at > downCutoff) down = Math.max(down, r.value);
  }
  let rec = currentReplicas;
  if (rec < up) rec = up;
  if (rec > down) rec = down;
  const kept = history.filter((r) => r.at >= Math.min(upCutoff, downCutoff));
  kept.push({ at: nowMs, value: desired });

  let replicas = rec;
  if (rec > currentReplicas) {
    const limit = Math.max(currentReplicas, behaviorScaleUpLimit(currentReplicas, ups, downs, b.scaleUp, nowMs));
    const maxAllowed = Math.min(maxReplicas, limit);
    if (rec > maxAllowed) replicas = maxAllowed;
  } else if (rec < currentReplicas) {
    const limit = Math.min(currentReplicas, behaviorScaleDownLimit(currentReplicas, ups, downs, b.scaleDown, nowMs));
    const minAllowed = Math.max(minReplicas, limit);
    if (rec < minAllowed) replicas = minAllowed;
  }
  return { replicas, history: kept };
}

// ------------------------------------------------------------------------------------------------------------------
// The policy

/** HpaState is the controller's memory plus the modelled metrics pipeline. */
export interface HpaState {
  nextSyncAt: number;
  counters: Record<string, PodCounter>;
  recommendations: TimedValue[];
  scaleUpEvents: TimedValue[];
  scaleDownEvents: TimedValue[];
  /** lastUtilization is the CPU percent of request the last sync saw (undefined before one had metrics). */
  lastUtilization?: number;
  lastSyncAt?: number;
}

/**
 * createHpaPolicy builds the HPA emulator with the given parameters. The function's labels give min, max and the
 * target (CPU percent of request); min is raised to 1 because the HPA cannot scale to zero with a CPU metric.
 */
export function createHpaPolicy(params: Readonly<HpaParams>, name: 'hpa' | 'hpa-tuned' = 'hpa'): ScalingPolicy<HpaState> {
  return {
    name,
    initialState(nowMs: number): HpaState {
      const k = Math.ceil((nowMs - params.syncOffsetMs) / params.syncPeriodMs);
      return { nextSyncAt: params.syncOffsetMs + k * params.syncPeriodMs, counters: {}, recommendations: [], scaleUpEvents: [], scaleDownEvents: [] };
    },
    decide(input: PolicyInput, state: HpaState): Decision<HpaState> {
      return decideHpa(params, input, state);
    },
  };
}

/** decideHpa is one tick of the emulator: advance the pod model and the pipeline; run the controller when a sync is due. */
export function decideHpa(p: Readonly<HpaParams>, input: PolicyInput, state: HpaState): Decision<HpaState> {
  const { nowMs, spec } = input;
  const pods = input.instances.map((i) => modelPod(i, p, nowMs));
  const counters = advanceMetrics(state.counters, pods, input.instances, p, nowMs);
  const routable = pods.filter((x) => x.ready && !x.deleting).map((x) => x.id);
  const base: HpaState = { ...state, counters };
  if (nowMs < state.nextSyncAt) {
    // Between syncs the controller does nothing; 'steady' (not 'waiting') keeps phase-change logs to real changes.
    return { actions: [], state: base, phase: input.replicas === 0 ? 'zero' : 'steady', replicas: input.replicas, routable, reasons: [] };
  }
  const next = { ...base, nextSyncAt: p.syncOffsetMs + (Math.floor((nowMs - p.syncOffsetMs) / p.syncPeriodMs) + 1) * p.syncPeriodMs, lastSyncAt: nowMs };
  const minReplicas = Math.max(1, spec.labels.min);
  const maxReplicas = Math.max(minReplicas, spec.labels.max);
  const current = input.replicas;
  const reasons: string[] = [];
  let desired: number;

  if (current === 0) {
    // scale.spec.replicas == 0 with minReplicas != 0: autoscaling is disabled for the target.
    return { actions: [], state: next, phase: 'zero', replicas: 0, routable, reasons: ['replicas = 0: autoscaling disabled'] };
  } else if (current > maxReplicas) {
    desired = maxReplicas;
    reasons.push(`current ${current} above max ${maxReplicas}`);
  } else if (current < minReplicas) {
    desired = minReplicas;
    reasons.push(`current ${current} below min ${minReplicas}`);
  } else {
    const samples: Record<string, PodMetricSample | undefined> = {};
    for (const [id, c] of Object.entries(counters)) samples[id] = c.sample;
    const groups = groupPods(pods, samples, p, nowMs);
    const calc = calcReplicas(current, groups, samples, spec.cpuRequest, spec.labels.target, p.tolerance);
    if (calc.error) {
      return { actions: [], state: next, phase: 'steady', replicas: current, routable, reasons: [calc.error] };
    }
    next.lastUtilization = calc.utilization;
    reasons.push(
      `cpu ${calc.utilization}% of request vs target ${spec.labels.target}% over ${groups.readyPodCount} ready ` +
        `(${groups.unready.length} unready, ${groups.missing.length} missing) -> ${calc.replicas}`,
);
    if (p.behavior) {
      const n = normalizeWithBehavior(p.behavior, state.recommendations, state.scaleUpEvents, state.scaleDownEvents, current, calc.replicas, minReplicas, maxReplicas, nowMs);
      desired = n.replicas;
      next.recommendations = n.history;
    } else {
      const n = normalizeLegacy(p, state.recommendations, current, calc.replicas, minReplicas, maxReplicas, nowMs);
      desired = n.replicas;
      next.recommendations = n.history;
    }
  }

  if (desired === current) return { actions: [], state: next, phase: 'steady', replicas: current, routable, reasons };
  if (p.behavior) {
    // storeScaleEvent: remember the change for the longest policy period of its direction.
    const keep = (evs: TimedValue[], r: HpaScalingRules): TimedValue[] => {
      const longest = Math.max(0, ...r.policies.map((x) => x.periodSeconds)) * 1000;
      return evs.filter((e) => e.at > nowMs - longest);
    };
    if (desired > current) next.scaleUpEvents = [...keep(state.scaleUpEvents, p.behavior.scaleUp), { at: nowMs, value: desired - current }];
    else next.scaleDownEvents = [...keep(state.scaleDownEvents, p.behavior.scaleDown), { at: nowMs, value: current - desired }];
  }
  const actions: ScalingAction[] = [{ kind: 'scaleTo', replicas: desired }];
  return { actions, state: next, phase: desired > current ? 'scale-out' : 'scale-in', replicas: desired, routable, reasons };
}
