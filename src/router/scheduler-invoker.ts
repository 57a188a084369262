/**
 * scheduler-invoker runs buffered invocations (the async queue worker's, bounced requests) through the same global
 * scheduler and pools as /function/<name>, with the same attempt rule (invoke/attempts.ts): a 429 or a refused
 * connection goes to another instance.
 */
import { isBackendError } from '../backends/backend.js';
import { headers as ICS } from '@hyperfaas/watchdog/protocol';
import { SchedulerError, type GlobalScheduler, type Lease } from '../gs/global-scheduler.js';
import type { FunctionMetrics } from '../observe/function-metrics.js';
import { Attempts, isRetryableConnectError, upstreamErrorStatus } from '../invoke/attempts.js';
import type { InvokeRequest, InvokeResponse, Invoker } from '../invoke/invoker.js';
import { backendErrorStatus, platformResponse as platform, platformText } from '../invoke/platform.js';
import { requestHeaders, responseHeaders, type OutHeaders, type Upstreams } from './upstream.js';
import { functionKey } from '../names.js';

/** SchedulerInvokerDeps are what createSchedulerInvoker needs. */
export interface SchedulerInvokerDeps {
  scheduler: GlobalScheduler;
  upstreams: Upstreams;
  /** defaultTimeoutMs bounds an invocation without its own timeoutMs, cold start included. */
  defaultTimeoutMs: number;
  /**
   * functions, when set, counts every invocation of a known function (the async queue worker's). Leave it out where
   * the request was already counted on its way in (a bounce of a request the router sent).
   */
  functions?: FunctionMetrics;
}

/** createSchedulerInvoker returns an Invoker over the global scheduler. Unknown functions reject with NotFound. */
export function createSchedulerInvoker(deps: SchedulerInvokerDeps): Invoker {
  const { functions } = deps;
  const run = (req: InvokeRequest): Promise<InvokeResponse> => invokeOnce(deps, req);
  if (!functions) return { invoke: run };
  return {
    async invoke(req: InvokeRequest): Promise<InvokeResponse> {
      const fn = functionKey(req.name, req.namespace);
      const started = performance.now();
      let res: InvokeResponse;
      try {
        res = await run(req);
      } catch (err) {
        // An unknown function is not counted; an aborted one is, as the router counts a client that went away.
        if (!isBackendError(err, 'NotFound')) {
          functions.started(fn);
          functions.finished(fn, 499, (performance.now() - started) / 1000);
        }
        throw err;
      }
      functions.started(fn);
      functions.finished(fn, res.status, (performance.now() - started) / 1000);
      return res;
    },
  };
}

/** invokeOnce runs one buffered invocation: lease an instance, send, and on 429 or a refused connection try another. */
async function invokeOnce(deps: SchedulerInvokerDeps, req: InvokeRequest): Promise<InvokeResponse> {
  const { scheduler, upstreams } = deps;
  const fn = functionKey(req.name, req.namespace);
  scheduler.arrival(req.namespace, req.name);
  const timeout = AbortSignal.timeout(req.timeoutMs ?? deps.defaultTimeoutMs);
  const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
  const avoid = req.avoidInstances && req.avoidInstances.length > 0 ? new Set(req.avoidInstances) : undefined;
  let lease: Lease;
  try {
    // Avoided instances (the one that bounced the request) are used only when nothing else is ready.
    lease =
      (avoid ? scheduler.tryAcquire(req.namespace, req.name, avoid) : null) ??
      scheduler.tryAcquire(req.namespace, req.name) ??
      (await scheduler.acquire(req.namespace, req.name, { signal, timeoutMs: req.timeoutMs ?? deps.defaultTimeoutMs }));
  } catch (err) {
    if (isBackendError(err, 'NotFound')) throw err;
    // Waking the function failed: a platform answer the caller may retry (the queue worker retries 503).
    if (isBackendError(err)) return platform(backendErrorStatus[err.kind], err.message);
    if (err instanceof SchedulerError) {
      if (req.signal?.aborted) throw err;
      return platform(503, platformText.noEndpoints(fn));
    }
    throw err;
  }
  const lower: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) lower[k.toLowerCase()] = v;
  const headers: OutHeaders = requestHeaders(lower, undefined);
  headers[ICS.function] = fn;
  if (req.body.length > 0) headers['content-length'] = String(req.body.length);
  else delete headers['content-length'];
  const path = req.query === '' ? req.path || '/' : `${req.path || '/'}?${req.query}`;
  const body = req.body.length > 0 ? req.body : null;
  const attempts = new Attempts(scheduler, req.namespace, req.name, avoid);
  try {
    for (;;) {
      attempts.offered(lease);
      try {
        const up = await upstreams.pool(lease.instance.url).request({ method: req.method, path, headers, body, signal });
        if (up.statusCode === 429) {
          const next = attempts.another('full');
          if (next) {
            await up.body.dump();
            lease.release();
            lease = next;
            continue;
          }
        }
        const buf = Buffer.from(await up.body.arrayBuffer());
        return { status: up.statusCode, headers: responseHeaders(up.headers), body: buf };
      } catch (err) {
        if (req.signal?.aborted) throw err;
        if (timeout.aborted) return platform(504, platformText.timeout(fn));
        const next = isRetryableConnectError(err) ? attempts.another('unreachable') : null;
        if (next) {
          lease.release();
          lease = next;
          continue;
        }
        return upstreamErrorStatus(err) === 504
          ? platform(504, platformText.timeout(fn))
          : platform(502, platformText.unreachable(fn));
      }
    }
  } finally {
    // Retries release the lease they give up before switching; the one in hand when we return ends here.
    lease.release();
  }
}
