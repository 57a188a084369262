/**
 * upstream owns the connections to instances: one undici Pool (keep-alive) per instance URL, created on first use
 * and closed when the instance goes away. It also holds the header rules of a proxy hop.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Pool } from 'undici';
import { hopByHop as sharedHopByHop } from '@hyperfaas/watchdog/http-headers';

/** UpstreamsOptions configure the per-instance pools. */
export interface UpstreamsOptions {
  /** connections per instance (default 256). */
  connections?: number;
  /** headersTimeoutMs bounds the wait for a function's status line (write_timeout). */
  headersTimeoutMs: number;
  /** bodyTimeoutMs bounds the gap between two chunks of a function's body. */
  bodyTimeoutMs: number;
}

/** Upstreams keeps one keep-alive Pool per instance URL. */
export class Upstreams {
  private readonly pools = new Map<string, Pool>();
  private closed = false;

  constructor(private readonly opts: UpstreamsOptions) {}

  /** pool returns the Pool for an instance URL, creating it on first use. */
  pool(url: string): Pool {
    let p = this.pools.get(url);
    if (!p) {
      if (this.closed) throw new Error('upstreams are closed');
      p = new Pool(url, {
        connections: this.opts.connections ?? 256,
        headersTimeout: this.opts.headersTimeoutMs,
        bodyTimeout: this.opts.bodyTimeoutMs,
        keepAliveTimeout: 30_000,
      });
      this.pools.set(url, p);
    }
    return p;
  }

  /** forget closes the pool of an instance that went away (requests in flight finish first). */
  forget(url: string): void {
    const p = this.pools.get(url);
    if (!p) return;
    this.pools.delete(url);
    p.close().catch(() => undefined);
  }

  /** close destroys every pool; used at shutdown. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((p) => p.destroy().catch(() => undefined)));
  }
}

/**
 * hopByHop are the headers a hop to an instance drops: the shared hop-by-hop set, expect (undici refuses it) and
 * host (replaced by the instance's own).
 */
const hopByHop: ReadonlySet<string> = new Set([...sharedHopByHop, 'expect', 'host']);

/** OutHeaders is a header object as undici takes and returns it. */
export type OutHeaders = Record<string, string | string[]>;

function connectionTokens(v: string | string[] | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const s = Array.isArray(v) ? v.join(',') : v;
  const out: string[] = [];
  for (const t of s.split(',')) {
    const k = t.trim().toLowerCase();
    if (k !== '' && k !== 'close' && k !== 'keep-alive') out.push(k);
  }
  return out.length > 0 ? out : undefined;
}

/**
 * requestHeaders copies a client's headers for the hop to an instance: hop-by-hop ones dropped (and any named in
 * Connection), X-Forwarded-For and X-Forwarded-Host added only when the client (or the gateway) did not set them.
 */
export function requestHeaders(h: IncomingHttpHeaders, remoteAddress: string | undefined): OutHeaders {
  const out: OutHeaders = {};
  const extra = connectionTokens(h.connection);
  for (const k in h) {
    if (hopByHop.has(k) || (extra !== undefined && extra.includes(k))) continue;
    const v = h[k];
    if (v !== undefined) out[k] = v;
  }
  if (out['x-forwarded-for'] === undefined && remoteAddress) out['x-forwarded-for'] = remoteAddress;
  if (out['x-forwarded-host'] === undefined && h.host !== undefined) out['x-forwarded-host'] = h.host;
  return out;
}

/** RawRequestInfo is what rawRequestHeaders learned while copying a client's raw headers. */
export interface RawRequestInfo {
  /** headers is the flat [name, value, name, value...] list for the hop. */
  headers: string[];
  contentLength: string | undefined;
  chunked: boolean;
  contentType: string | undefined;
}

/**
 * rawRequestHeaders is requestHeaders over Node's flat rawHeaders (no header object is built, which saves work on the
 * hot path): hop-by-hop headers and those named in Connection dropped, X-Forwarded-For/Host added when absent.
 */
export function rawRequestHeaders(raw: string[], remoteAddress: string | undefined): RawRequestInfo {
  const out: string[] = [];
  let connection: string[] | undefined;
  let host: string | undefined;
  let contentLength: string | undefined;
  let contentType: string | undefined;
  let chunked = false;
  let hasXff = false;
  let hasXfh = false;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    const v = raw[i + 1]!;
    if (k === 'x-hyperfaas-function') continue; // set by the router itself, never taken from a client
    if (hopByHop.has(k)) {
      if (k === 'connection') connection = connectionTokens(v);
      else if (k === 'host') host = v;
      else if (k === 'transfer-encoding') chunked = true;
      continue;
    }
    if (k === 'content-length') contentLength = v;
    else if (k === 'content-type') contentType = v;
    else if (k === 'x-forwarded-for') hasXff = true;
    else if (k === 'x-forwarded-host') hasXfh = true;
    out.push(k, v);
  }
  if (connection !== undefined) {
    for (let i = out.length - 2; i >= 0; i -= 2) if (connection.includes(out[i]!)) out.splice(i, 2);
  }
  if (!hasXff && remoteAddress) out.push('x-forwarded-for', remoteAddress);
  if (!hasXfh && host !== undefined) out.push('x-forwarded-host', host);
  return { headers: out, contentLength, chunked, contentType };
}

/**
 * rawResponseHeaders turns undici's raw response headers (Buffers) into a flat list for res.writeHead, hop-by-hop
 * ones dropped; Content-Type falls back to the request's, else text/plain, as faas-provider's proxy does.
 */
export function rawResponseHeaders(raw: Buffer[] | string[], requestContentType: string | undefined): string[] {
  const out: string[] = [];
  let connection: string[] | undefined;
  let hasType = false;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toString('latin1');
    const lk = k.toLowerCase();
    const v = raw[i + 1]!.toString('latin1');
    if (hopByHop.has(lk)) {
      if (lk === 'connection') connection = connectionTokens(v);
      continue;
    }
    if (lk === 'content-type') hasType = true;
    out.push(k, v);
  }
  if (connection !== undefined) {
    for (let i = out.length - 2; i >= 0; i -= 2) if (connection.includes(out[i]!.toLowerCase())) out.splice(i, 2);
  }
  if (!hasType) out.push('Content-Type', requestContentType ?? 'text/plain');
  return out;
}

/** responseHeaders drops hop-by-hop headers from an instance's answer, in place, and returns it. */
export function responseHeaders(h: Record<string, string | string[] | undefined>): OutHeaders {
  const extra = connectionTokens(h.connection);
  for (const k in h) {
    if ((hopByHop.has(k) && k !== 'host') || h[k] === undefined || (extra !== undefined && extra.includes(k))) delete h[k];
  }
  return h as OutHeaders;
}
