/**
 * names holds the rules for the names of functions, namespaces and secrets (Kubernetes' DNS-1123 rules, as
 * faas-netes enforces them) and the one key a function is known by inside the provider: "name.namespace", the
 * form the gateway puts in invoke URLs.
 */

/** dns1123Label is the rule for function names and namespaces. */
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

/** FunctionRef is a function's name and namespace. */
export interface FunctionRef {
  name: string;
  namespace: string;
}

/**
 * functionKey is the key of one function in every map, metric label and log line: "name.namespace". Names and
 * namespaces are DNS-1123 labels, so the dot cannot be part of either and parseFunctionKey gives both back.
 */
export function functionKey(name: string, namespace: string): string {
  return `${name}.${namespace}`;
}

/**
 * parseFunctionKey reads "name.namespace" or a bare "name" the way the gateway does: it splits on the last dot when
 * that dot is not the first character; an empty namespace ("name.") or none takes defaultNamespace.
 * Example: "a.b.c" -> {name "a.b", namespace "c"}; ".x" -> {name ".x", namespace default}.
 */
export function parseFunctionKey(key: string, defaultNamespace: string): FunctionRef {
  const dot = key.lastIndexOf('.');
  if (dot <= 0) return { name: key, namespace: defaultNamespace };
  return { name: key.slice(0, dot), namespace: key.slice(dot + 1) || defaultNamespace };
}
