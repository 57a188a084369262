/**
 * labels parses and validates a function's scaling labels. Label values are always strings (the faas-provider
 * wire format); a bad value is an error that names the label, the value and what would be accepted, so the API can
 * answer 400 with it. A missing label takes the default documented on its constant below.
 */
import { parseDurationMs } from '../units.js';
import type { Ablation, PolicyName, ScaleType, ScalingLabels } from './types.js';

/** labelKeys are the label names this module reads. */
export const labelKeys = {
  min: 'com.openfaas.scale.min',
  max: 'com.openfaas.scale.max',
  factor: 'com.openfaas.scale.factor',
  zero: 'com.openfaas.scale.zero',
  zeroDuration: 'com.openfaas.scale.zero-duration',
  target: 'com.openfaas.scale.target',
  targetProportion: 'com.openfaas.scale.target-proportion',
  type: 'com.openfaas.scale.type',
  downWindow: 'com.openfaas.scale.down.window',
  policy: 'com.hyperfaas.policy',
  watermarkLow: 'com.hyperfaas.watermark.low',
  watermarkHigh: 'com.hyperfaas.watermark.high',
  runtime: 'com.hyperfaas.runtime',
  ablate: 'com.hyperfaas.ablate',
  inflightBoost: 'com.hyperfaas.max-inflight.boost',
} as const;

/** maxInflightBoostLimit bounds com.hyperfaas.max-inflight.boost: phase 1 never runs more than 4 x max_inflight. */
export const maxInflightBoostLimit = 4;

/**
 * labelDefaults are the values used when a label is absent:
 * - min 1 (OpenFaaS; faas-cli sets desired replicas to it after deploy),
 * - max 20 (OpenFaaS Pro's default; the CE gateway caps its own scaling at 5 but we are not the gateway),
 * - factor 20 (percent; the CE alert handler's step),
 * - zero false and zero-duration 15 min (OpenFaaS Pro),
 * - target 50 per replica with proportion 0.9 and type rps (OpenFaaS Pro); for the hpa policies the target is read as
 *   the CPU utilisation percent of the request, like `kubectl autoscale --cpu-percent=50`,
 * - policy hyperfaas, watermarks low 0.3 / high 0.8 of an instance's limits.
 */
export const labelDefaults: Readonly<ScalingLabels> = Object.freeze({
  min: 1,
  max: 20,
  factor: 20,
  zero: false,
  zeroDurationMs: 15 * 60_000,
  target: 50,
  targetProportion: 0.9,
  type: 'rps' as ScaleType,
  policy: 'hyperfaas' as PolicyName,
  watermarkLow: 0.3,
  watermarkHigh: 0.8,
});

/** maxReplicasLimit bounds com.openfaas.scale.max: more than this on one provider is a typo, not a plan. */
export const maxReplicasLimit = 1000;

/** LabelParseResult is either the parsed labels or every problem found (never only the first). */
export type LabelParseResult = { ok: true; labels: ScalingLabels } | { ok: false; errors: string[] };

const policies: readonly PolicyName[] = ['hyperfaas', 'hpa', 'hpa-tuned', 'none'];
const types: readonly ScaleType[] = ['rps', 'capacity', 'cpu'];
const ablations: readonly Ablation[] = ['scale-up', 'multiplex'];

/** roundMs reads a duration label to whole milliseconds ("1m30s" -> 90000), undefined when it is not a duration. */
function roundMs(text: string): number | undefined {
  const ms = parseDurationMs(text);
  return ms === undefined ? undefined : Math.round(ms);
}

/** readInt reads a whole number in [lo, hi], else undefined (no error: for readers that fall back to a default). */
function readInt(raw: string | undefined, lo: number, hi: number): number | undefined {
  const s = raw?.trim();
  if (s === undefined || !/^\d+$/.test(s) || Number(s) < lo || Number(s) > hi) return undefined;
  return Number(s);
}

function parseIntIn(key: string, raw: string, lo: number, hi: number, errors: string[]): number | undefined {
  const n = readInt(raw, lo, hi);
  if (n === undefined) errors.push(`${key} = "${raw}": must be a whole number in [${lo}, ${hi}]`);
  return n;
}

function parseFraction(key: string, raw: string, errors: string[]): number | undefined {
  const s = raw.trim();
  const pct = /^(\d+(\.\d+)?)%$/.exec(s);
  const v = pct ? Number(pct[1]) / 100 : /^\d*\.?\d+$/.test(s) ? Number(s) : NaN;
  if (!(v > 0 && v <= 1)) {
    errors.push(`${key} = "${raw}": must be a fraction in (0, 1] such as "0.8" or a percentage such as "80%"`);
    return undefined;
  }
  return v;
}

/**
 * parseScalingLabels reads the scaling labels out of a function's labels (undefined = no labels). Unknown labels are
 * ignored; every bad known label adds one error. Cross-checks: min <= max, low watermark < high watermark.
 * Example: {"com.openfaas.scale.max": "0"} -> errors ['com.openfaas.scale.max = "0": must be a whole number in [1, 1000]'].
 */
export function parseScalingLabels(labels: Record<string, string> | undefined): LabelParseResult {
  const l = labels ?? {};
  const errors: string[] = [];
  const out: ScalingLabels = { ...labelDefaults };
  const has = (k: string): boolean => typeof l[k] === 'string';

  if (has(labelKeys.min)) out.min = parseIntIn(labelKeys.min, l[labelKeys.min]!, 0, maxReplicasLimit, errors) ?? out.min;
  if (has(labelKeys.max)) out.max = parseIntIn(labelKeys.max, l[labelKeys.max]!, 1, maxReplicasLimit, errors) ?? out.max;
  // The stock gateway counts a factor outside 1..100 as an error and then fails every status lookup of the function.
  if (has(labelKeys.factor)) out.factor = parseIntIn(labelKeys.factor, l[labelKeys.factor]!, 1, 100, errors) ?? out.factor;
  if (has(labelKeys.zero)) {
    const v = l[labelKeys.zero]!.trim().toLowerCase();
    if (v === 'true' || v === 'false') out.zero = v === 'true';
    else errors.push(`${labelKeys.zero} = "${l[labelKeys.zero]}": must be "true" or "false"`);
  }
  if (has(labelKeys.zeroDuration)) {
    const ms = roundMs(l[labelKeys.zeroDuration]!);
    if (ms === undefined || ms < 1000) {
      errors.push(`${labelKeys.zeroDuration} = "${l[labelKeys.zeroDuration]}": must be a duration of at least 1s such as "15m" or "90s"`);
    } else out.zeroDurationMs = ms;
  }
  if (has(labelKeys.target)) {
    const s = l[labelKeys.target]!.trim();
    const v = /^\d*\.?\d+$/.test(s) ? Number(s) : NaN;
    if (!(v > 0)) errors.push(`${labelKeys.target} = "${l[labelKeys.target]}": must be a positive number`);
    else out.target = v;
  }
  if (has(labelKeys.targetProportion)) {
    out.targetProportion = parseFraction(labelKeys.targetProportion, l[labelKeys.targetProportion]!, errors) ?? out.targetProportion;
  }
  if (has(labelKeys.type)) {
    const v = l[labelKeys.type]!.trim() as ScaleType;
    if (types.includes(v)) out.type = v;
    else errors.push(`${labelKeys.type} = "${l[labelKeys.type]}": must be one of ${types.join(', ')}`);
  }
  if (has(labelKeys.downWindow)) {
    const ms = roundMs(l[labelKeys.downWindow]!);
    if (ms === undefined || ms > 3_600_000) {
      errors.push(`${labelKeys.downWindow} = "${l[labelKeys.downWindow]}": must be a duration of at most 1h such as "30s" or "5m"`);
    } else out.downWindowMs = ms;
  }
  if (has(labelKeys.policy)) {
    const v = l[labelKeys.policy]!.trim() as PolicyName;
    if (policies.includes(v)) out.policy = v;
    else errors.push(`${labelKeys.policy} = "${l[labelKeys.policy]}": must be one of ${policies.join(', ')}`);
  }
  let lowOk = true;
  let highOk = true;
  if (has(labelKeys.watermarkLow)) {
    const v = parseFraction(labelKeys.watermarkLow, l[labelKeys.watermarkLow]!, errors);
    if (v === undefined) lowOk = false;
    else out.watermarkLow = v;
  }
  if (has(labelKeys.watermarkHigh)) {
    const v = parseFraction(labelKeys.watermarkHigh, l[labelKeys.watermarkHigh]!, errors);
    if (v === undefined) highOk = false;
    else out.watermarkHigh = v;
  }
  if (has(labelKeys.runtime)) {
    const v = l[labelKeys.runtime]!.trim();
    if (!/^[a-z0-9][a-z0-9._-]{0,62}$/.test(v)) {
      errors.push(`${labelKeys.runtime} = "${l[labelKeys.runtime]}": must be a runtime name such as "node" (lower-case letters, digits, . _ -)`);
    } else out.runtime = v;
  }
  if (has(labelKeys.ablate)) {
    // A comma-separated list such as "scale-up" or "scale-up,multiplex"; "" or "none" switches nothing off.
    const raw = l[labelKeys.ablate]!;
    const items = raw.split(',').map((x) => x.trim()).filter((x) => x !== '' && x !== 'none');
    const bad = items.filter((x) => !ablations.includes(x as Ablation));
    if (bad.length) errors.push(`${labelKeys.ablate} = "${raw}": must be a comma-separated list of ${ablations.join(', ')}`);
    else if (items.length) out.ablate = [...new Set(items as Ablation[])];
  }

  if (has(labelKeys.inflightBoost)) {
    const raw = l[labelKeys.inflightBoost]!;
    const v = Number(raw.trim());
    if (raw.trim() === '' || !Number.isFinite(v) || v < 1 || v > maxInflightBoostLimit) {
      errors.push(`${labelKeys.inflightBoost} = "${raw}": must be a number from 1 (never raise max_inflight) to ${maxInflightBoostLimit}`);
    } else out.inflightBoost = v;
  }

  const minOk = !errors.some((e) => e.startsWith(labelKeys.min + ' '));
  const maxOk = !errors.some((e) => e.startsWith(labelKeys.max + ' '));
  if (minOk && maxOk && out.min > out.max) {
    errors.push(`${labelKeys.min} = "${out.min}" is above ${labelKeys.max} = "${out.max}": lower the min or raise the max`);
  }
  if (lowOk && highOk && out.watermarkLow >= out.watermarkHigh) {
    errors.push(
      `${labelKeys.watermarkLow} = ${out.watermarkLow} must be below ${labelKeys.watermarkHigh} = ${out.watermarkHigh}`,
    );
  }
  return errors.length ? { ok: false, errors } : { ok: true, labels: out };
}

/** validateScalingLabels returns only the problems ([] when the labels are fine), for the API's 400 answer. */
export function validateScalingLabels(labels: Record<string, string> | undefined): string[] {
  const r = parseScalingLabels(labels);
  return r.ok ? [] : r.errors;
}

/**
 * minReplicasOf reads com.openfaas.scale.min alone, for the backends that start a new function with that many
 * replicas: the label when it is valid, else the default 1 (the API refuses an invalid one, so only functions stored
 * before that rule see the default).
 */
export function minReplicasOf(labels: Record<string, string> | undefined): number {
  return readInt(labels?.[labelKeys.min], 0, maxReplicasLimit) ?? labelDefaults.min;
}

/**
 * wakeReplicas is the scaler's floor for a function at zero replicas that requests wait for: com.openfaas.scale.min,
 * at least 1 and at most com.openfaas.scale.max.
 */
export function wakeReplicas(labels: Pick<ScalingLabels, 'min' | 'max'>): number {
  return Math.min(labels.max, Math.max(1, labels.min));
}

/**
 * wakeReplicasOf is wakeReplicas read from a function's raw labels; labels that do not parse (stored before the API
 * refused them) fall back to com.openfaas.scale.min alone, at least 1, so such a function still wakes.
 */
export function wakeReplicasOf(labels: Record<string, string> | undefined): number {
  const r = parseScalingLabels(labels);
  return r.ok ? wakeReplicas(r.labels) : Math.max(1, minReplicasOf(labels));
}

/** runtimeOf reads com.hyperfaas.runtime: the runtime whose generic slots the function may borrow, if any. */
export function runtimeOf(labels: Record<string, string> | undefined): string | undefined {
  return labels?.[labelKeys.runtime];
}
