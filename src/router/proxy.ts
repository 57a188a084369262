/**
 * proxy is the data plane: /function/<name>[.<ns>][/path] to an instance the global scheduler leases, over a pooled
 * undici connection. Bodies stream both ways; redirects pass through; platform failures carry
 * X-OpenFaaS-Internal: proxy. Nothing here logs at info level or parses bodies: this runs for every invocation.
 *
 * Each request is one Exchange, which is also the undici dispatch handler of its hop (undici's native callback
 * interface: no response stream object, no header object, chunks written straight to the client with back-pressure).
 * That roughly halves the CPU of a hop compared with request() + pipeline() (bench/results/router.md).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { headers as ICS } from '@hyperfaas/watchdog/protocol';
import { isBackendError } from '../backends/backend.js';
import type { Logger } from '../logger.js';
import type { HttpMetrics } from '../metrics.js';
import type { FunctionMetrics } from '../observe/function-metrics.js';
import { SchedulerError, type GlobalScheduler, type Lease } from '../gs/global-scheduler.js';
import { parseInvokePath, type InvokeTarget } from './target.js';
import { rawRequestHeaders, rawResponseHeaders, type Upstreams } from './upstream.js';
import { functionKey } from '../names.js';
import { Attempts, isRetryableConnectError, upstreamErrorStatus, type RerouteReason } from '../invoke/attempts.js';
import { backendErrorStatus, internalHeader, platformText, sendText } from '../invoke/platform.js';

/** invokeMethods are the methods the invoke path accepts (as faas-provider's proxy); others get 405. */
export const invokeMethods: ReadonlySet<string> = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD']);

/**
 * replayLimit: request bodies with a known length up to this size are read first, so a request an instance refused
 * (429 full, or connection refused) can be sent to another one. Larger or chunked bodies stream and are not retried.
 */
export const replayLimit = 64 * 1024;

/** InvokeHandlerDeps are what the invoke handler needs. */
export interface InvokeHandlerDeps {
  scheduler: GlobalScheduler;
  upstreams: Upstreams;
  defaultNamespace: string;
  /** coldStartTimeoutMs bounds the wait for a ready instance. */
  coldStartTimeoutMs: number;
  logger: Logger;
  metrics?: HttpMetrics;
  /** functions counts invocations of known functions under the gateway's metric names. */
  functions?: FunctionMetrics;
}

/** RawHandler is a bare node request handler. */
export type RawHandler = (req: IncomingMessage, res: ServerResponse) => void;

const internal = { [internalHeader]: 'proxy' };
const metricPath = '/function/:name';

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.once('error', reject);
    req.once('close', () => {
      if (!req.complete) reject(new Error('client closed the request'));
    });
  });
}

type Shared = InvokeHandlerDeps & { log: Logger };

const fnHeader = ICS.function;

/** Exchange is one invocation: lease, hop (as undici's dispatch handler), retries and the answer to the client. */
class Exchange implements Dispatcher.DispatchHandler {
  private lease: Lease | null = null;
  private next: Lease | null = null;
  private readonly attempts: Attempts<Lease>;
  private abortHop: ((err?: Error) => void) | null = null;
  private waiting: AbortController | null = null;
  private resume: (() => void) | null = null;
  private gone = false;
  private done = false;
  private body: Buffer | IncomingMessage | null = null;
  private replayable = true;
  /** sent is set once the current hop's request was written out whole: from then on the function may be running. */
  private sent = false;
  private headers: string[] = [];
  private contentType: string | undefined;
  private path = '/';
  private fn = '';
  /** counted is set once the function is known to exist: only then is the invocation counted per function. */
  private counted = false;

  constructor(
    private readonly d: Shared,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly target: InvokeTarget,
    private readonly started: number,
  ) {
    this.attempts = new Attempts(d.scheduler, target.namespace, target.name);
    res.once('close', this.onClientClose);
  }

  private readonly onClientClose = (): void => {
    if (!this.res.writableEnded) {
      this.gone = true;
      this.abortHop?.(new Error('client closed the connection'));
      this.waiting?.abort();
    }
    const seconds = (performance.now() - this.started) / 1000;
    this.d.metrics?.observe(this.req.method ?? 'GET', metricPath, this.res.statusCode, seconds);
    if (this.counted) this.d.functions!.finished(this.fn, this.res.statusCode, seconds);
  };

  /** known counts the invocation as started once the function is known to exist (unknown names are not counted). */
  private known(): void {
    if (this.counted || !this.d.functions) return;
    this.counted = true;
    this.d.functions.started(this.fn);
  }

  /** start prepares the hop and sends it; every failure ends in an answer to the client. */
  async start(): Promise<void> {
    const { req, target, d } = this;
    this.fn = functionKey(target.name, target.namespace);
    const info = rawRequestHeaders(req.rawHeaders, req.socket.remoteAddress);
    this.headers = info.headers;
    // The ICS routes by this header: the home slot for its own function, the guest slot for a lent one.
    this.headers.push(fnHeader, this.fn);
    d.scheduler.arrival(target.namespace, target.name);
    this.contentType = info.contentType;
    this.path = target.query === '' ? target.path : `${target.path}?${target.query}`;
    if (info.chunked) this.body = req;
    else if (info.contentLength !== undefined && info.contentLength !== '0') {
      this.body = Number(info.contentLength) <= replayLimit ? await readBody(req) : req;
    }
    this.replayable = this.body === null || Buffer.isBuffer(this.body);

    let lease = d.scheduler.tryAcquire(target.namespace, target.name);
    if (lease) this.known();
    else {
      this.waiting = new AbortController();
      try {
        lease = await d.scheduler.acquire(target.namespace, target.name, { signal: this.waiting.signal, timeoutMs: d.coldStartTimeoutMs });
      } catch (err) {
        if (isBackendError(err, 'NotFound')) return sendText(this.res, 404, platformText.notFound(this.fn), internal);
        this.known();
        // Waking the function failed (e.g. the backend is unavailable): answer with the backend's own status.
        if (isBackendError(err)) return sendText(this.res, backendErrorStatus[err.kind], err.message, internal);
        if (err instanceof SchedulerError && err.kind === 'aborted') return;
        if (err instanceof SchedulerError) return sendText(this.res, 503, platformText.noEndpoints(this.fn), internal);
        throw err;
      }
      this.known();
      if (this.gone) return lease.release();
    }
    this.send(lease);
  }

  private send(lease: Lease): void {
    this.lease = lease;
    this.attempts.offered(lease);
    this.abortHop = null;
    this.sent = false;
    this.d.upstreams
      .pool(lease.instance.url)
      .dispatch({ method: this.req.method as Dispatcher.HttpMethod, path: this.path, headers: this.headers, body: this.body }, this);
  }

  /** another leases a different instance for a retry (attempts.ts), or null; a streamed body cannot be sent twice. */
  private another(reason: RerouteReason): Lease | null {
    if (!this.replayable || this.gone) return null;
    return this.attempts.another(reason);
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.lease?.release();
    if (this.resume) this.res.off('drain', this.resume);
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.gone) abort(new Error('client closed the connection'));
    else this.abortHop = abort;
  }

  onRequestSent(): void {
    this.sent = true;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx: informational, not forwarded
    if (statusCode === 429) {
      // The instance is full and did not run the function: offer the request to another one when we still can.
      this.next = this.another('full');
      if (this.next) return true;
    }
    this.res.writeHead(statusCode, rawResponseHeaders(rawHeaders, this.contentType));
    this.resume = resume;
    this.res.on('drain', resume);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.next) return true; // draining a 429 we retry
    return this.res.write(chunk);
  }

  onComplete(): void {
    if (this.next) return this.retry();
    this.res.end();
    this.finish();
  }

  onError(err: Error): void {
    if (this.next) return this.retry();
    if (this.gone || this.res.headersSent) {
      if (!this.res.writableEnded) this.res.destroy();
      return this.finish();
    }
    if (this.sent && !this.res.headersSent && isRetryableConnectError(err)) {
      // The instance took the whole request and then went away (it died mid-request): the function may have run,
      // so it is not run again elsewhere; the caller gets a clear platform error.
      this.finish();
      this.d.log.debug('instance failed mid-request', { function: this.fn, instance: this.lease?.instance.id, error: String(err) });
      return sendText(this.res, 502, platformText.failedMidRequest(this.fn), internal);
    }
    if (isRetryableConnectError(err)) {
      const next = this.another('unreachable');
      if (next) {
        this.lease!.release();
        return this.send(next);
      }
    }
    this.finish();
    if (upstreamErrorStatus(err) === 504) return sendText(this.res, 504, platformText.timeout(this.fn), internal);
    this.d.log.debug('instance unreachable', { function: this.fn, instance: this.lease?.instance.id, error: String(err) });
    sendText(this.res, 502, platformText.unreachable(this.fn), internal);
  }

  private retry(): void {
    const next = this.next!;
    this.next = null;
    this.lease!.release();
    this.send(next);
  }
}

/** createInvokeHandler returns the node handler for /function/* requests. */
export function createInvokeHandler(deps: InvokeHandlerDeps): RawHandler {
  const shared: Shared = { ...deps, log: deps.logger.child({ component: 'router' }) };
  return (req, res) => {
    const started = deps.metrics || deps.functions ? performance.now() : 0;
    const target = parseInvokePath(req.url ?? '', deps.defaultNamespace);
    const method = req.method ?? 'GET';
    if (!target || !invokeMethods.has(method)) {
      if (!target) sendText(res, 404, 'function not found: the URL names no function', internal);
      else sendText(res, 405, `method ${method} is not allowed`, internal);
      deps.metrics?.observe(method, metricPath, res.statusCode, (performance.now() - started) / 1000);
      return;
    }
    const ex = new Exchange(shared, req, res, target, started);
    ex.start().catch((err: unknown) => {
      if (res.writableEnded || res.destroyed) return;
      shared.log.error('invoke failed', { url: req.url, error: String(err) });
      sendText(res, 500, 'internal error while invoking the function', internal);
    });
  };
}
