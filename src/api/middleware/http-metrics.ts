import type { RequestHandler } from 'express';
import type { HttpMetrics } from '../../metrics.js';

/**
 * httpMetricsMiddleware records every request when its response finishes, labelled by the matched ROUTE TEMPLATE
 * (req.route.path, e.g. /system/function/:name). Requests no route matched are labelled "unmatched".
 */
export function httpMetricsMiddleware(metrics: HttpMetrics): RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    res.once('finish', () => {
      const route = (req as { route?: { path?: unknown } }).route;
      const path = route && typeof route.path === 'string' ? route.path : 'unmatched';
      metrics.observe(req.method, path, res.statusCode, (performance.now() - started) / 1000);
    });
    next();
  };
}
