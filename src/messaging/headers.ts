/**
 * headers maps HTTP header sets to the ordered, case-sensitive key/value pairs that NATS headers carry, and back.
 * It is pure (no NATS import) so the watchdog, which cannot import src/, can copy the idea verbatim: NATS header
 * keys are case-sensitive, so both sides agree on Go's canonical MIME form ("x-call-id" -> "X-Call-Id").
 */

/** HeaderPair is one header line: a canonical key and one value (repeated keys give repeated pairs). */
export type HeaderPair = [key: string, value: string];

/** HttpHeaderSet is what Node and undici hand out: lower- or mixed-case keys, string or string[] values. */
export type HttpHeaderSet = Record<string, string | string[] | number | undefined>;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * canonicalHeaderKey is Go's textproto.CanonicalMIMEHeaderKey: the first letter and every letter after "-" upper-case,
 * the rest lower-case. A key with characters outside the HTTP token set is returned unchanged, as Go does.
 */
export function canonicalHeaderKey(key: string): string {
  if (!TOKEN.test(key)) return key;
  let out = '';
  let upper = true;
  for (const ch of key) {
    out += upper ? ch.toUpperCase() : ch.toLowerCase();
    upper = ch === '-';
  }
  return out;
}

/** headerPairsFromRaw turns Node's rawHeaders ([k1, v1, k2, v2, ...]) into canonical pairs, dropping the keys in skip (lower-case). */
export function headerPairsFromRaw(raw: readonly string[], skip: ReadonlySet<string> = new Set()): HeaderPair[] {
  const out: HeaderPair[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i]!;
    if (skip.has(k.toLowerCase())) continue;
    out.push([canonicalHeaderKey(k), raw[i + 1]!]);
  }
  return out;
}

/** headerPairsFromSet turns a Node/undici header object into canonical pairs; array values become repeated pairs. */
export function headerPairsFromSet(set: HttpHeaderSet, skip: ReadonlySet<string> = new Set()): HeaderPair[] {
  const out: HeaderPair[] = [];
  for (const [k, v] of Object.entries(set)) {
    if (v === undefined || skip.has(k.toLowerCase())) continue;
    const key = canonicalHeaderKey(k);
    for (const one of Array.isArray(v) ? v : [String(v)]) out.push([key, one]);
  }
  return out;
}

/** groupHeaderPairs folds pairs into Go's http.Header shape: canonical key -> values in arrival order. */
export function groupHeaderPairs(pairs: readonly HeaderPair[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of pairs) (out[k] ??= []).push(v);
  return out;
}

/**
 * toNodeHeaders turns a grouped header map into what res.setHeader/undici take: lower-case keys, one string or an
 * array for repeated keys, dropping the keys in skip (lower-case).
 */
export function toNodeHeaders(grouped: Record<string, readonly string[]>, skip: ReadonlySet<string> = new Set()): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, vs] of Object.entries(grouped)) {
    const key = k.toLowerCase();
    if (skip.has(key) || vs.length === 0) continue;
    const prev = out[key];
    const merged = prev === undefined ? [...vs] : [...(Array.isArray(prev) ? prev : [prev]), ...vs];
    out[key] = merged.length === 1 ? merged[0]! : merged;
  }
  return out;
}
