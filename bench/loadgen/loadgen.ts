/**
 * loadgen is the open-loop load generator: requests leave on a schedule fixed in advance (workloads.ts), whatever
 * the system under test does, and latency is measured from the SCHEDULED send time, so a stalled server shows up as
 * latency instead of silently slowing the sender (no coordinated omission). It talks only to loopback, bounds every
 * request with a timeout and every run in count and time, and returns one record per scheduled request.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { binRecords, type Bin, type RequestRecord } from './metrics.js';

/** loopbackHosts are the only hosts the generator sends to. */
export const loopbackHosts: readonly string[] = ['127.0.0.1', 'localhost', '[::1]', '::1'];

/** defaultRecordHeaders are the response headers kept in each record (path attribution). */
export const defaultRecordHeaders: readonly string[] = ['x-hyperfaas-route', 'x-hyperfaas-instance', 'x-hyperfaas-slot', 'x-hyperfaas-bounces'];

/** assertLoopbackTarget parses the target URL and throws unless it is http(s) on a loopback host. */
export function assertLoopbackTarget(target: string): URL {
  let u: URL;
  try {
    u = new URL(target);
  } catch {
    throw new Error(`loadgen: target "${target}" is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`loadgen: target "${target}": only http and https`);
  if (!loopbackHosts.includes(u.hostname)) {
    throw new Error(`loadgen: target host "${u.hostname}" refused: the generator only sends to 127.0.0.1, localhost or ::1`);
  }
  return u;
}

/** LoadOptions configure one run. */
export interface LoadOptions {
  /** target is the full URL, e.g. http://127.0.0.1:8080/function/f-io (loopback only). */
  target: string;
  /** schedule gives the send offsets (ms, ascending); see workloads.ts. */
  schedule: { name?: string; sendAt: ArrayLike<number>; durationMs: number };
  method?: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** timeoutMs bounds each request from its start (default 10 s). */
  timeoutMs?: number;
  /** connections is the undici Pool size (default 256). */
  connections?: number;
  /** recordHeaders are kept per record (lower-case names; default defaultRecordHeaders). */
  recordHeaders?: readonly string[];
  /** maxRequests truncates the schedule (default 250 000). */
  maxRequests?: number;
  /** maxDurationMs stops sending after this long (default 30 min); unsent requests get error NOT_SENT. */
  maxDurationMs?: number;
  /** signal stops the run early (unsent requests get error NOT_SENT, in-flight ones ABORTED). */
  signal?: AbortSignal;
}

/** LoadResult is a finished run. */
export interface LoadResult {
  target: string;
  schedule: string;
  /** startedAt is the epoch ms of offset 0. */
  startedAt: number;
  /** elapsedMs is how long the run took, in-flight requests included. */
  elapsedMs: number;
  /** records has one entry per scheduled request (after truncation), in schedule order. */
  records: RequestRecord[];
  /** bins are 1 s bins of the records by scheduled time (p50/p99/max, counts by status), over the schedule's length. */
  bins: Bin[];
  /** truncated is true when maxRequests cut the schedule. */
  truncated: boolean;
  /** maxSendLagMs is the worst delay between a scheduled time and the actual send (generator health). */
  maxSendLagMs: number;
  /** lateSends counts sends more than 5 ms behind schedule. */
  lateSends: number;
}

/** errorCode maps a client error to a short code: TIMEOUT, ABORTED, ECONNREFUSED, ECONNRESET, UND_ERR_SOCKET, ... */
export function errorCode(err: unknown, timedOut: boolean): string {
  if (timedOut) return 'TIMEOUT';
  const e = err as { name?: string; code?: string; cause?: { code?: string } } | undefined;
  if (e?.name === 'TimeoutError' || e?.code === 'UND_ERR_HEADERS_TIMEOUT' || e?.code === 'UND_ERR_BODY_TIMEOUT' || e?.code === 'UND_ERR_CONNECT_TIMEOUT') return 'TIMEOUT';
  if (e?.name === 'AbortError' || e?.code === 'UND_ERR_ABORTED') return 'ABORTED';
  return e?.code ?? e?.cause?.code ?? e?.name ?? 'ERROR';
}

/** runLoad sends the schedule to the target and resolves when every request has a record. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const url = assertLoopbackTarget(o.target);
  const timeoutMs = o.timeoutMs ?? 10_000;
  const maxRequests = o.maxRequests ?? 250_000;
  const maxDurationMs = o.maxDurationMs ?? 30 * 60_000;
  const keep = (o.recordHeaders ?? defaultRecordHeaders).map((h) => h.toLowerCase());
  const total = Math.min(o.schedule.sendAt.length, maxRequests);
  const path = url.pathname + url.search;
  const method = (o.method ?? (o.body !== undefined ? 'POST' : 'GET')).toUpperCase();
  const pool = new Pool(url.origin, {
    connections: o.connections ?? 256,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    connect: { timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const records: RequestRecord[] = new Array(total);
  const inflight = new Set<Promise<void>>();
  const startedAt = Date.now();
  const t0 = performance.now();
  const now = (): number => performance.now() - t0;
  // One controller per request in flight, with its deadline. A single sweeper aborts overdue requests (cheaper than a
  // timer per request at thousands of requests per second); stopping the run aborts them all.
  const controllers = new Map<AbortController, { deadline: number; timedOut: boolean }>();
  let stopped = false;
  const onAbort = (): void => {
    stopped = true;
    for (const c of controllers.keys()) c.abort();
  };
  const sweepEvery = Math.max(5, Math.min(50, timeoutMs / 10));
  const sweeper = setInterval(() => {
    const t = now();
    for (const [c, st] of controllers) {
      // Insertion order is start order, so deadlines ascend: stop at the first request not yet due.
      if (t < st.deadline) break;
      st.timedOut = true;
      c.abort();
    }
  }, sweepEvery);
  if (o.signal?.aborted) stopped = true;
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let maxSendLagMs = 0;
  let lateSends = 0;

  const fire = (i: number, scheduledMs: number): void => {
    const startMs = now();
    const lag = startMs - scheduledMs;
    if (lag > maxSendLagMs) maxSendLagMs = lag;
    if (lag > 5) lateSends++;
    const ac = new AbortController();
    const st = { deadline: startMs + timeoutMs, timedOut: false };
    controllers.set(ac, st);
    const p = (async () => {
      try {
        const res = await pool.request({ path, method, headers: o.headers, body: o.body, signal: ac.signal });
        const headers: Record<string, string> = {};
        for (const h of keep) {
          const v = res.headers[h];
          if (v !== undefined) headers[h] = Array.isArray(v) ? v.join(', ') : v;
        }
        await res.body.arrayBuffer();
        records[i] = { i, scheduledMs, startMs, endMs: now(), status: res.statusCode, ...(keep.length && Object.keys(headers).length ? { headers } : {}) };
      } catch (err) {
        records[i] = { i, scheduledMs, startMs, endMs: now(), status: 0, error: errorCode(err, st.timedOut) };
      } finally {
        controllers.delete(ac);
      }
    })();
    inflight.add(p);
    void p.then(() => inflight.delete(p));
  };

  let i = 0;
  try {
    while (i < total && !stopped) {
      const t = now();
      if (t >= maxDurationMs) break;
      while (i < total && o.schedule.sendAt[i]! <= t) {
        fire(i, o.schedule.sendAt[i]!);
        i++;
      }
      if (i >= total) break;
      const wait = o.schedule.sendAt[i]! - now();
      // Sleep until the next send is due. setTimeout fires up to ~1 ms late; that lateness is counted (latency runs
      // from the scheduled time), and it is cheaper than spinning on setImmediate, which cost the generator ~0.5 ms
      // of CPU per request at 70-400 req/s on a 2-core box that the system under test needs.
      if (wait >= 1) await sleep(wait);
      else await new Promise<void>((r) => setImmediate(r));
    }
    for (let j = i; j < total; j++) {
      const s = o.schedule.sendAt[j]!;
      records[j] = { i: j, scheduledMs: s, startMs: -1, endMs: s, status: 0, error: 'NOT_SENT' };
    }
    await Promise.all(inflight);
  } finally {
    clearInterval(sweeper);
    o.signal?.removeEventListener('abort', onAbort);
    await pool.close().catch(() => pool.destroy());
  }
  return {
    target: url.toString(),
    schedule: o.schedule.name ?? 'schedule',
    startedAt,
    elapsedMs: now(),
    records,
    bins: binRecords(records, 1000, o.schedule.durationMs),
    truncated: o.schedule.sendAt.length > total,
    maxSendLagMs,
    lateSends,
  };
}
