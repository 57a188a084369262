/**
 * validate checks request bodies before anything is touched. Every function returns a list of "field: problem"
 * strings (empty when the body is fine), so one 400 can tell the user everything to fix at once.
 */
import type { FunctionDeployment, FunctionResources } from '../types/index.js';
import { parseCpu, parseMemory } from './quantity.js';

/** dns1123Label is the rule for function names and namespaces (Kubernetes names, as faas-netes enforces). */
export const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** dns1123Subdomain is the rule for secret names: dot-separated labels, 253 characters at most. */
export const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** labelProblem describes what is wrong with a DNS-1123 label, or returns undefined when it is fine. */
export function labelProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return 'is required';
  if (value.length > 63) return `"${value}" is longer than 63 characters`;
  if (!dns1123Label.test(value)) {
    return `"${value}" must be a DNS-1123 label: lower-case letters, digits and "-", starting and ending with a letter or digit`;
  }
  return undefined;
}

/** secretNameProblem describes what is wrong with a secret name, or returns undefined when it is fine. */
export function secretNameProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return 'is required';
  if (value.length > 253) return `"${value}" is longer than 253 characters`;
  if (!dns1123Subdomain.test(value)) {
    return `"${value}" must be a DNS-1123 subdomain: lower-case letters, digits, "-" and "."`;
  }
  return undefined;
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

function checkScalingLabels(labels: unknown, out: string[]): void {
  if (!isObject(labels)) return;
  const int = (key: string, lo: number, hi: number): number | undefined => {
    const raw = labels[key];
    if (typeof raw !== 'string') return undefined;
    const n = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || n < lo || n > hi) {
      out.push(`labels.${key}: "${raw}" must be a whole number in [${lo}, ${hi}]`);
      return undefined;
    }
    return n;
  };
  const min = int('com.openfaas.scale.min', 0, 1000);
  const max = int('com.openfaas.scale.max', 1, 1000);
  // The stock gateway fails every status lookup of a function whose factor is outside [0, 100].
  int('com.openfaas.scale.factor', 0, 100);
  if (min !== undefined && max !== undefined && min > max) {
    out.push(`labels: com.openfaas.scale.min (${min}) must not exceed com.openfaas.scale.max (${max})`);
  }
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
  checkStringMap('labels', body.labels, out);
  checkStringMap('annotations', body.annotations, out);
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
  return out;
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
