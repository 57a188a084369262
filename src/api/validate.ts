/**
 * validate checks request bodies before anything is touched. Every function returns a list of "field: problem"
 * strings (empty when the body is fine), so one 400 can tell the user everything to fix at once.
 */
import { ConfigError as WatchdogConfigError, readConfig as readWatchdogConfig } from '@hyperfaas/watchdog/config';
import { labelProblem, secretNameProblem } from '../names.js';
import { validateScalingLabels } from '../scaling/labels.js';
import type { FunctionDeployment, FunctionResources } from '../types/index.js';
import { parseCpu, parseMemory } from '../units.js';

/**
 * metadataBounds are the sizes labels and annotations may take, Kubernetes' own where it has one, so a function
 * that deploys here also fits a Kubernetes object: a key is an optional prefix of at most 253 characters, "/", and a
 * name of 1 to 63 characters; a label value is at most 63 characters; all annotations together (keys and values)
 * at most 256 KiB. Kubernetes does not count them; 256 of each is far more than any stack.yml carries.
 */
export const metadataBounds = Object.freeze({
  maxCount: 256,
  maxKeyPrefix: 253,
  maxKeyName: 63,
  maxLabelValue: 63,
  maxAnnotationsBytes: 256 * 1024,
});

/** maxJsonDepth bounds how deeply objects and arrays may nest in any JSON body (a FunctionDeployment needs 3). */
export const maxJsonDepth = 32;

/**
 * jsonDepth returns how deeply arrays and objects nest in a JSON text, stopping as soon as it passes limit. It scans
 * the bytes once with a counter, so a body nested 200,000 deep costs no stack, before JSON.parse ever sees it.
 */
export function jsonDepth(text: Buffer, limit = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkStringMap(field: string, v: unknown, out: string[]): void {
  if (v === undefined || v === null) return;
  if (!isObject(v)) {
    out.push(`${field}: must be an object of string values`);
    return;
  }
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') out.push(`${field}.${k}: must be a string, got ${JSON.stringify(val)}`);
  }
}

/** checkMetadata bounds a labels or annotations object (count, key and value sizes); see metadataBounds. */
function checkMetadata(field: 'labels' | 'annotations', v: unknown, out: string[]): void {
  if (!isObject(v)) return;
  const b = metadataBounds;
  const keys = Object.keys(v);
  if (keys.length > b.maxCount) {
    out.push(`${field}: ${keys.length} keys, at most ${b.maxCount} are allowed`);
    return;
  }
  let total = 0;
  for (const k of keys) {
    const slash = k.lastIndexOf('/');
    const prefix = slash < 0 ? '' : k.slice(0, slash);
    const name = k.slice(slash + 1);
    const shown = k.length > 80 ? `${JSON.stringify(k.slice(0, 80))}...` : JSON.stringify(k);
    if (name.length === 0 || name.length > b.maxKeyName) {
      out.push(`${field}: key ${shown} has a name part of ${name.length} characters, it must be 1 to ${b.maxKeyName} (after an optional "prefix/")`);
    }
    if (prefix.length > b.maxKeyPrefix) {
      out.push(`${field}: key ${shown} has a prefix of ${prefix.length} characters, at most ${b.maxKeyPrefix} are allowed`);
    }
    const val = v[k];
    if (typeof val !== 'string') continue;
    if (field === 'labels' && val.length > b.maxLabelValue) {
      out.push(`labels.${k.length > 80 ? shown : k}: the value has ${val.length} characters, at most ${b.maxLabelValue} are allowed (use an annotation for longer text)`);
    }
    total += Buffer.byteLength(k) + Buffer.byteLength(val);
  }
  if (field === 'annotations' && total > b.maxAnnotationsBytes) {
    out.push(`annotations: keys and values take ${total} bytes together, at most ${b.maxAnnotationsBytes} (256 KiB) are allowed`);
  }
}

/**
 * checkWatchdogEnv runs the watchdog's own parser over the settings in envVars (exec_timeout, write_timeout,
 * max_inflight, mode, ...), so a value the watchdog would refuse at start gets a 400 now instead of an instance that
 * crashes and restarts for ever. Empty values count as unset, as they do for the watchdog. fprocess and upstream_url
 * get stand-ins when absent, because the image supplies them; the parser stops at its first problem, so the loop
 * drops each key it names and parses again to report every bad setting at once.
 */
function checkWatchdogEnv(v: unknown, out: string[]): void {
  if (!isObject(v)) return;
  const env: Record<string, string> = { fprocess: 'function', upstream_url: 'http://127.0.0.1:3000' };
  const given = new Set<string>();
  for (const [k, val] of Object.entries(v)) {
    if (typeof val === 'string' && val !== '') {
      env[k] = val;
      given.add(k);
    }
  }
  for (let round = 0, rounds = given.size; round <= rounds; round++) {
    try {
      readWatchdogConfig(env);
      return;
    } catch (e) {
      if (!(e instanceof WatchdogConfigError)) throw e;
      out.push(`envVars.${e.key} = ${JSON.stringify(e.value)}: the watchdog allows ${e.allowed}`);
      if (!given.has(e.key)) return;
      delete env[e.key];
      given.delete(e.key);
    }
  }
}

function checkStringArray(field: string, v: unknown, out: string[], each?: (s: string) => string | undefined): void {
  if (v === undefined || v === null) return;
  if (!Array.isArray(v)) {
    out.push(`${field}: must be an array of strings`);
    return;
  }
  v.forEach((s, i) => {
    if (typeof s !== 'string') out.push(`${field}[${i}]: must be a string, got ${JSON.stringify(s)}`);
    else if (each) {
      const p = each(s);
      if (p) out.push(`${field}[${i}]: ${p}`);
    }
  });
}

const gpuKeys = ['nvidia.com/gpu', 'amd.com/gpu', 'intel.com/gpu'] as const;

function checkResources(field: string, v: unknown, out: string[]): void {
  if (v === undefined || v === null) return;
  if (!isObject(v)) {
    out.push(`${field}: must be an object like {"memory":"128Mi","cpu":"100m"}`);
    return;
  }
  const tryParse = (key: string, parse: (q: string) => number, example: string): void => {
    const q = v[key];
    if (q === undefined || q === null || q === '') return;
    if (typeof q !== 'string') {
      out.push(`${field}.${key}: must be a string such as "${example}"`);
      return;
    }
    try {
      parse(q);
    } catch (e) {
      out.push(`${field}.${key}: ${(e as Error).message}`);
    }
  };
  tryParse('memory', parseMemory, '128Mi');
  tryParse('cpu', parseCpu, '100m');
  for (const g of gpuKeys) {
    const q = v[g];
    if (q === undefined || q === null || q === '') continue;
    if (typeof q !== 'string' || !/^\d+$/.test(q)) out.push(`${field}.${g}: must be a whole number as a string, such as "1"`);
  }
}

/**
 * checkScalingLabels asks the scaler's own label parser, so every label the API accepts is one the scaler can run
 * (a label it refused would leave the function unscaled for good).
 */
function checkScalingLabels(labels: unknown, out: string[]): void {
  if (!isObject(labels)) return;
  const strings: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (typeof v === 'string') strings[k] = v;
  for (const problem of validateScalingLabels(strings)) out.push(`labels.${problem}`);
}

/** validateDeployment checks a POST/PUT /system/functions body; it returns "field: problem" strings, [] when valid. */
export function validateDeployment(body: unknown): string[] {
  const out: string[] = [];
  if (!isObject(body)) return ['body: must be a JSON object (a FunctionDeployment)'];
  const service = labelProblem(body.service);
  if (service) out.push(`service: ${service}`);
  if (typeof body.image !== 'string' || body.image.trim() === '') out.push('image: is required');
  if (body.namespace !== undefined && body.namespace !== null && typeof body.namespace !== 'string') {
    out.push('namespace: must be a string');
  }
  if (body.envProcess !== undefined && body.envProcess !== null && typeof body.envProcess !== 'string') {
    out.push('envProcess: must be a string');
  }
  checkStringMap('envVars', body.envVars, out);
  checkWatchdogEnv(body.envVars, out);
  checkStringMap('labels', body.labels, out);
  checkMetadata('labels', body.labels, out);
  checkStringMap('annotations', body.annotations, out);
  checkMetadata('annotations', body.annotations, out);
  checkStringArray('constraints', body.constraints, out);
  checkStringArray('secrets', body.secrets, out, secretNameProblem);
  checkResources('limits', body.limits, out);
  checkResources('requests', body.requests, out);
  if (
    body.readOnlyRootFilesystem !== undefined &&
    body.readOnlyRootFilesystem !== null &&
    typeof body.readOnlyRootFilesystem !== 'boolean'
  ) {
    out.push('readOnlyRootFilesystem: must be true or false');
  }
  checkScalingLabels(body.labels, out);
  // A body with thousands of bad keys would otherwise answer with a message of megabytes.
  const shown = 20;
  return out.length > shown ? [...out.slice(0, shown), `... and ${out.length - shown} more problems`] : out;
}

function pickResources(v: unknown): FunctionResources | undefined {
  if (!isObject(v)) return undefined;
  const r: FunctionResources = {};
  for (const k of ['memory', 'cpu', ...gpuKeys] as const) {
    const q = v[k];
    if (typeof q === 'string' && q !== '') r[k] = q;
  }
  return r;
}

/**
 * toDeployment copies the known fields of a validated body into a FunctionDeployment with its namespace resolved;
 * unknown fields (the UI's "network") are dropped. Call it only after validateDeployment returned [].
 */
export function toDeployment(body: Record<string, unknown>, namespace: string): FunctionDeployment & { namespace: string } {
  const fd: FunctionDeployment & { namespace: string } = {
    service: body.service as string,
    image: (body.image as string).trim(),
    namespace,
  };
  if (typeof body.envProcess === 'string' && body.envProcess !== '') fd.envProcess = body.envProcess;
  if (isObject(body.envVars)) fd.envVars = { ...(body.envVars as Record<string, string>) };
  if (Array.isArray(body.constraints)) fd.constraints = [...(body.constraints as string[])];
  if (Array.isArray(body.secrets)) fd.secrets = [...(body.secrets as string[])];
  fd.labels = isObject(body.labels) ? { ...(body.labels as Record<string, string>) } : {};
  fd.annotations = isObject(body.annotations) ? { ...(body.annotations as Record<string, string>) } : {};
  const limits = pickResources(body.limits);
  if (limits) fd.limits = limits;
  const requests = pickResources(body.requests);
  if (requests) fd.requests = requests;
  if (typeof body.readOnlyRootFilesystem === 'boolean') fd.readOnlyRootFilesystem = body.readOnlyRootFilesystem;
  return fd;
}
