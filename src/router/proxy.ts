/**
 * proxy is the data plane: /function/<name>[.<ns>][/path] to an instance the global scheduler leases, over a pooled
 * undici connection. Bodies stream both ways; redirects pass through; platform failures carry
 * X-OpenFaaS-Internal: proxy. Nothing here logs at info level or parses bodies: this runs for every invocation.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import { isBackendError } from '../backends/backend.js';
import type { Logger } from '../logger.js';
import type { HttpMetrics } from '../metrics.js';
import { SchedulerError, type GlobalScheduler, type Lease } from '../scheduler/global-scheduler.js';
import { internalHeader, sendText } from '../api/errors.js';
import { parseInvokePath } from './target.js';
import { requestHeaders, responseHeaders, type Upstreams } from './upstream.js';

/** invokeMethods are the methods the invoke path accepts (as faas-provider's proxy); others get 405. */
export const invokeMethods: ReadonlySet<string> = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD']);

/**
 * replayLimit: request bodies with a known length up to this size are read first, so a request an instance refused
 * (429 full, or connection refused) can be sent to another one. Larger or chunked bodies stream and are not retried.
 */
export const replayLimit = 64 * 1024;

/** maxAttempts bounds how many instances one request is offered to. */
export const maxAttempts = 3;

/** InvokeHandlerDeps are what the invoke handler needs. */
export interface InvokeHandlerDeps {
  scheduler: GlobalScheduler;
  upstreams: Upstreams;
  defaultNamespace: string;
  /** coldStartTimeoutMs bounds the wait for a ready instance. */
  coldStartTimeoutMs: number;
  logger: Logger;
  metrics?: HttpMetrics;
}

/** RawHandler is a bare node request handler. */
export type RawHandler = (req: IncomingMessage, res: ServerResponse) => void;

const internal = { [internalHeader]: 'proxy' };
const metricPath = '/function/:name';

/** upstreamErrorStatus maps an undici failure to the platform status: 504 for timeouts, else 502 (unreachable). */
export function upstreamErrorStatus(err: unknown): 502 | 504 {
  const code = (err as { code?: string } | null)?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT'
    ? 504
    : 502;
}

/** isRetryableConnectError is true when the request certainly never reached the function (safe to send elsewhere). */
export function isRetryableConnectError(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE';
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) req.destroy(new Error('body larger than announced'));
      else chunks.push(c);
    });
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.once('error', reject);
    req.once('close', () => {
      if (!req.complete) reject(new Error('client closed the request'));
    });
  });
}

/** createInvokeHandler returns the node handler for /function/* requests. */
export function createInvokeHandler(deps: InvokeHandlerDeps): RawHandler {
  const { scheduler, upstreams, defaultNamespace, coldStartTimeoutMs, metrics } = deps;
  const logger = deps.logger.child({ component: 'router' });

  async function handle(req: IncomingMessage, res: ServerResponse, ac: AbortController): Promise<void> {
    const target = parseInvokePath(req.url ?? '', defaultNamespace);
    if (!target) return sendText(res, 404, 'function not found: the URL names no function', internal);
    const method = req.method ?? 'GET';
    if (!invokeMethods.has(method)) return sendText(res, 405, `method ${method} is not allowed`, internal);
    const fn = `${target.name}.${target.namespace}`;

    // The body: none, small and replayable, or a stream that goes through once.
    const te = req.headers['transfer-encoding'];
    const cl = req.headers['content-length'];
    let body: Buffer | IncomingMessage | null = null;
    if (te !== undefined) body = req;
    else if (cl !== undefined && cl !== '0') body = Number(cl) <= replayLimit ? await readBody(req, replayLimit) : req;
    const replayable = body === null || Buffer.isBuffer(body);

    let lease: Lease | null = scheduler.tryAcquire(target.namespace, target.name);
    if (!lease) {
      try {
        lease = await scheduler.acquire(target.namespace, target.name, { signal: ac.signal, timeoutMs: coldStartTimeoutMs });
      } catch (err) {
        if (isBackendError(err, 'NotFound')) return sendText(res, 404, `function not found: ${fn}`, internal);
        if (err instanceof SchedulerError && err.kind === 'aborted') return;
        if (err instanceof SchedulerError) return sendText(res, 503, `No endpoints available for: ${fn}.`, internal);
        throw err;
      }
    }

    const headers = requestHeaders(req.headers, req.socket.remoteAddress);
    const path = target.query === '' ? target.path : `${target.path}?${target.query}`;
    const tried = new Set<string>();
    for (let attempt = 1; ; attempt++) {
      tried.add(lease.instance.id);
      let up;
      try {
        up = await upstreams.pool(lease.instance.url).request({ method, path, headers, body, signal: ac.signal });
      } catch (err) {
        lease.release();
        if (ac.signal.aborted) return;
        const next =
          replayable && attempt < maxAttempts && isRetryableConnectError(err)
            ? scheduler.tryAcquire(target.namespace, target.name, tried)
            : null;
        if (next) {
          lease = next;
          continue;
        }
        const status = upstreamErrorStatus(err);
        if (status === 504) return sendText(res, 504, `Timeout waiting for function: ${fn}.`, internal);
        logger.debug('instance unreachable', { function: fn, instance: lease.instance.id, error: String(err) });
        return sendText(res, 502, `Can't reach service for: ${fn}.`, internal);
      }
      if (up.statusCode === 429 && replayable && attempt < maxAttempts) {
        const next = scheduler.tryAcquire(target.namespace, target.name, tried);
        if (next) {
          up.body.dump().catch(() => undefined);
          lease.release();
          lease = next;
          continue;
        }
      }
      const h = responseHeaders(up.headers);
      if (h['content-type'] === undefined) h['content-type'] = req.headers['content-type'] ?? 'text/plain';
      res.writeHead(up.statusCode, h);
      const held = lease;
      pipeline(up.body, res, () => held.release());
      return;
    }
  }

  return (req, res) => {
    const started = metrics ? performance.now() : 0;
    const ac = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) ac.abort();
      metrics?.observe(req.method ?? 'GET', metricPath, res.statusCode, (performance.now() - started) / 1000);
    });
    handle(req, res, ac).catch((err: unknown) => {
      if (ac.signal.aborted) return;
      logger.error('invoke failed', { url: req.url, error: String(err) });
      sendText(res, 500, 'internal error while invoking the function', internal);
    });
  };
}
