import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import { hopByHop } from '../http-headers.js';

/**
 * bounce-codec maps an HTTP request (or response) to NATS headers and back, for the bounce-back path.
 * NATS header keys are case-sensitive, HTTP's are not: every key travels lower-cased. Our own metadata uses the
 * reserved prefix "hf-", which no HTTP header we forward may use.
 */

/** BounceMeta is what the GS needs to re-run a request that an ICS could not take. */
export interface BounceMeta {
  /** fn is "name.namespace". */
  fn: string;
  method: string;
  /** path is what follows /function/<name> ("/" when empty). */
  path: string;
  query: string;
  /** from is the instance that bounced it, so the GS avoids it. */
  from: string;
  /** bounces is how many times the request has been bounced, this one included. */
  bounces: number;
}

/** HttpHeaders is Node's incoming header shape. */
export type HttpHeaders = Record<string, string | string[] | undefined>;

/** HOP_BY_HOP are the headers a bounce does not carry: the hop-by-hop set, and the two the receiving hop sets. */
const HOP_BY_HOP: ReadonlySet<string> = new Set([...hopByHop, 'content-length', 'host']);

function putHttp(h: MsgHdrs, src: HttpHeaders): void {
  for (const [k, v] of Object.entries(src)) {
    const key = k.toLowerCase();
    if (v === undefined || key.startsWith('hf-') || HOP_BY_HOP.has(key)) continue;
    if (Array.isArray(v)) for (const x of v) h.append(key, x);
    else h.append(key, String(v));
  }
}

function takeHttp(h: MsgHdrs | undefined): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (!h) return out;
  for (const k of h.keys()) {
    const key = k.toLowerCase();
    if (key.startsWith('hf-')) continue;
    const vals = h.values(k);
    out[key] = vals.length === 1 ? vals[0] : vals;
  }
  return out;
}

/** encodeBounceRequest builds the NATS headers of a bounced request. */
export function encodeBounceRequest(meta: BounceMeta, http: HttpHeaders): MsgHdrs {
  const h = natsHeaders();
  putHttp(h, http);
  h.set('hf-fn', meta.fn);
  h.set('hf-method', meta.method);
  h.set('hf-path', meta.path || '/');
  h.set('hf-query', meta.query);
  h.set('hf-from', meta.from);
  h.set('hf-bounces', String(meta.bounces));
  return h;
}

/** decodeBounceRequest reads them back; it throws when the metadata is missing. */
export function decodeBounceRequest(h: MsgHdrs | undefined): { meta: BounceMeta; headers: Record<string, string | string[]> } {
  const fn = h?.get('hf-fn');
  const method = h?.get('hf-method');
  if (!h || !fn || !method) throw new Error('bounce request without hf-fn/hf-method headers');
  return {
    meta: {
      fn,
      method,
      path: h.get('hf-path') || '/',
      query: h.get('hf-query') ?? '',
      from: h.get('hf-from') ?? '',
      bounces: Number(h.get('hf-bounces') || '1') || 1,
    },
    headers: takeHttp(h),
  };
}

/** BounceReply is the outcome the GS sends back: the function's response, or a platform error. */
export interface BounceReply {
  status: number;
  headers: Record<string, string | string[]>;
  /** error is set when the GS could not run the request at all; the ICS then keeps it (local queue). */
  error?: string;
  /** noRoom is set with error when no other instance had room: the ICS may stop bouncing this function for a moment. */
  noRoom?: boolean;
}

/** encodeBounceReply builds the NATS headers of the GS's reply. */
export function encodeBounceReply(r: BounceReply): MsgHdrs {
  const h = natsHeaders();
  putHttp(h, r.headers);
  h.set('hf-status', String(r.status));
  if (r.error) h.set('hf-error', r.error);
  if (r.noRoom) h.set('hf-no-room', '1');
  return h;
}

/** decodeBounceReply reads the GS's reply. */
export function decodeBounceReply(h: MsgHdrs | undefined): BounceReply {
  const status = Number(h?.get('hf-status') || '0');
  if (!h || !status) throw new Error('bounce reply without hf-status');
  const error = h.get('hf-error') || undefined;
  const noRoom = h.get('hf-no-room') === '1';
  return { status, headers: takeHttp(h), ...(error ? { error } : {}), ...(noRoom ? { noRoom } : {}) };
}
