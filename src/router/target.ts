/**
 * target parses the invoke path /function/<name>[.<namespace>][/path][?query] without allocating a URL object.
 */
import { parseFunctionKey } from '../names.js';

/** InvokeTarget is where an invocation goes: the function and the path and query the function sees. */
export interface InvokeTarget {
  name: string;
  namespace: string;
  /** path starts with "/" ("/" when the URL had nothing after the name). */
  path: string;
  /** query is the raw query string without "?" ("" when none). */
  query: string;
}

/** invokePrefix is the path prefix of synchronous invocations. */
export const invokePrefix = '/function/';

/**
 * parseInvokePath splits "/function/name.ns/rest?q" on the LAST dot of the name segment (namespaces have no dots,
 * names may). Returns null when the URL is not an invoke URL or the name is empty.
 */
export function parseInvokePath(url: string, defaultNamespace: string): InvokeTarget | null {
  if (!url.startsWith(invokePrefix)) return null;
  const q = url.indexOf('?');
  const pathPart = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  const start = invokePrefix.length;
  const slash = pathPart.indexOf('/', start);
  let segment = slash < 0 ? pathPart.slice(start) : pathPart.slice(start, slash);
  const path = slash < 0 ? '/' : pathPart.slice(slash);
  if (segment.includes('%')) {
    try {
      segment = decodeURIComponent(segment);
    } catch {
      return null;
    }
  }
  // An empty name, as in "/function/.ns", is not an invoke URL.
  if (segment === '' || segment.charCodeAt(0) === 0x2e) return null;
  const { name, namespace } = parseFunctionKey(segment, defaultNamespace);
  return { name, namespace, path, query };
}
