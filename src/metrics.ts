/**
 * metrics builds the provider's RED metrics on a registry the caller owns (tests get a fresh one each time). Names
 * and labels follow faas-provider: path is the ROUTE TEMPLATE (/system/function/:name), never the raw URL, so the
 * number of series stays bounded.
 */
import { Counter, Histogram, type Registry } from 'prom-client';

/** HttpMetrics records one finished HTTP request. */
export interface HttpMetrics {
  observe(method: string, path: string, code: number, seconds: number): void;
}

const cache = new WeakMap<Registry, HttpMetrics>();

/** httpMetrics returns the registry's provider_http_* metrics, registering them on first use. */
export function httpMetrics(registry: Registry): HttpMetrics {
  const known = cache.get(registry);
  if (known) return known;
  const requests = new Counter({
    name: 'provider_http_requests_total',
    help: 'HTTP requests handled by the provider, by status code, method and route template.',
    labelNames: ['code', 'method', 'path'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'provider_http_request_duration_seconds',
    help: 'Seconds spent serving HTTP requests, by status code, method and route template.',
    labelNames: ['code', 'method', 'path'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const m: HttpMetrics = {
    observe(method, path, code, seconds) {
      const labels = { code: String(code), method, path };
      requests.inc(labels);
      duration.observe(labels, seconds);
    },
  };
  cache.set(registry, m);
  return m;
}
