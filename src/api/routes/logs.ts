import { once } from 'node:events';
import type { Express, Request } from 'express';
import type { LogRequest } from '../../types/index.js';
import { HttpError } from '../errors.js';
import { lastValue, namespaceOf, type RouteContext } from '../context.js';
import { methodNotAllowed } from '../middleware/error-handler.js';

const rfc3339Re = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** parseBool reads a flag leniently like Go's strconv.ParseBool; anything else counts as false. */
export function parseBool(v: string | undefined): boolean {
  return v !== undefined && ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v);
}

/**
 * parseLogRequest reads GET /system/logs' query (the last of repeated values wins). A bad tail or since is 422
 * "could not parse the log request", as faas-provider answers; a missing name is 400.
 */
export function parseLogRequest(req: Request, namespace: string): LogRequest {
  const name = lastValue(req.query.name);
  if (!name) throw new HttpError(400, 'name: is required (the function whose logs to read)');
  const out: LogRequest = { name, namespace, tail: 0, follow: parseBool(lastValue(req.query.follow)) };
  const tail = lastValue(req.query.tail);
  if (tail !== undefined && tail !== '') {
    if (!/^[-+]?\d+$/.test(tail)) throw new HttpError(422, `could not parse the log request: tail=${tail} is not an integer`);
    out.tail = Math.max(0, Number(tail));
  }
  const since = lastValue(req.query.since);
  if (since !== undefined && since !== '') {
    const t = Date.parse(since);
    if (!rfc3339Re.test(since) || Number.isNaN(t)) {
      throw new HttpError(422, `could not parse the log request: since=${since} is not an RFC 3339 time`);
    }
    out.since = new Date(t);
  }
  const instance = lastValue(req.query.instance);
  if (instance) out.instance = instance;
  return out;
}

/**
 * registerLogRoutes mounts GET /system/logs: NDJSON (application/x-ndjson), one message per line, each written as
 * soon as it exists. With follow=false the response ends after the existing lines (the certifier waits for that).
 */
export function registerLogRoutes(app: Express, ctx: RouteContext): void {
  const { backend, config, auth, logger } = ctx;
  app.get('/system/logs', ...auth, async (req, res) => {
    const lr = parseLogRequest(req, namespaceOf(req, config));
    await backend.get(lr.namespace, lr.name); // 404 before the stream starts
    const ac = new AbortController();
    res.once('close', () => ac.abort());
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' });
    res.flushHeaders();
    try {
      for await (const m of backend.logs(lr, ac.signal)) {
        if (ac.signal.aborted) break;
        const line = `${JSON.stringify({ name: m.name, namespace: m.namespace, instance: m.instance, timestamp: m.timestamp, text: m.text })}\n`;
        if (!res.write(line)) await once(res, 'drain', { signal: ac.signal });
      }
    } catch (err) {
      if (!ac.signal.aborted) logger.warn('log stream failed', { function: lr.name, namespace: lr.namespace, error: String(err) });
    }
    if (!res.writableEnded) res.end();
  });
  app.all('/system/logs', methodNotAllowed);
}
