/**
 * cgi builds the environment a forked function sees (of-watchdog's forking modes, contract §2.5): every request
 * header as Http_<Canonical_Name> with "-" turned into "_", plus Http_Method, Http_Query, Http_Path and
 * Http_Transfer_Encoding.
 */
import type { IncomingMessage } from 'node:http';

/** canonicalHeader turns "x-call-id" into "X-Call-Id", as Go's textproto does. */
export function canonicalHeader(name: string): string {
  let out = '';
  let upper = true;
  for (const ch of name) {
    out += upper ? ch.toUpperCase() : ch.toLowerCase();
    upper = ch === '-';
  }
  return out;
}

/** envNames caches "x-call-id" -> "Http_X_Call_Id": clients send the same few headers again and again. */
const envNames = new Map<string, string>();
const envNamesMax = 512;

function envName(header: string): string {
  let n = envNames.get(header);
  if (n === undefined) {
    n = 'Http_' + canonicalHeader(header).replace(/-/g, '_');
    if (envNames.size < envNamesMax) envNames.set(header, n);
  }
  return n;
}

/**
 * cgiEnv is the Http_* variables for one request (first value of repeated headers, like of-watchdog), added to into
 * (a fresh object when not given) and returned.
 */
export function cgiEnv(req: Pick<IncomingMessage, 'headers' | 'method' | 'url'>, into: Record<string, string | undefined> = {}): Record<string, string> {
  const env = into as Record<string, string>;
  const h = req.headers;
  for (const k in h) {
    const v = h[k];
    if (v === undefined) continue;
    env[envName(k)] = Array.isArray(v) ? (v[0] ?? '') : v;
  }
  env.Http_Method = req.method ?? 'GET';
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q >= 0 ? url.slice(0, q) : url;
  const query = q >= 0 ? url.slice(q + 1) : '';
  if (query !== '') env.Http_Query = query;
  if (path !== '') env.Http_Path = path;
  const te = h['transfer-encoding'];
  if (te) env.Http_Transfer_Encoding = te;
  return env;
}
