/**
 * metrics is the watchdog's own Prometheus registry, served on metrics_port like of-watchdog's :8081/metrics:
 * http_requests_total{code,method}, http_request_duration_seconds{code,method}, http_requests_in_flight, the
 * process collectors, and HyperFaaS gauges for the slots, CPU, memory and watermark (read at scrape time).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { LoadReport } from './protocol.js';

/** WatchdogMetrics records requests; gauges pull from report() at scrape time so the hot path does not pay. */
export interface WatchdogMetrics {
  readonly registry: Registry;
  /** observe records one finished request. */
  observe(code: number, method: string, seconds: number): void;
}

const watermarkValue = { low: 0, normal: 1, high: 2 } as const;

/** createMetrics builds the registry; report() supplies the live load view for the gauges. */
export function createMetrics(report: () => LoadReport): WatchdogMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const total = new Counter({ name: 'http_requests_total', help: 'total HTTP requests processed', labelNames: ['code', 'method'], registers: [registry] });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Seconds spent serving HTTP requests.',
    labelNames: ['code', 'method'],
    registers: [registry],
  });
  new Gauge({
    name: 'http_requests_in_flight',
    help: 'The number of requests in flight',
    registers: [registry],
    collect() {
      this.set(report().slots.reduce((n, s) => n + s.inflight, 0));
    },
  });
  new Gauge({
    name: 'hyperfaas_slot_inflight',
    help: 'Requests in flight per worker slot',
    labelNames: ['slot', 'function'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of report().slots) this.set({ slot: s.kind, function: s.function ?? '' }, s.inflight);
    },
  });
  new Gauge({
    name: 'hyperfaas_slot_capacity',
    help: 'Concurrency limit per worker slot (0 = unlimited)',
    labelNames: ['slot', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of report().slots) this.set({ slot: s.kind, state: s.state }, s.capacity);
    },
  });
  const simple = (name: string, help: string, f: (r: LoadReport) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(f(report()));
      },
    });
  simple('hyperfaas_cpu_used_cores', 'CPU in use, cores', (r) => r.cpu.used);
  simple('hyperfaas_cpu_limit_cores', 'CPU limit, cores (0 = none)', (r) => r.cpu.limit);
  simple('hyperfaas_memory_used_bytes', 'Memory in use, bytes', (r) => r.memory.used);
  simple('hyperfaas_memory_limit_bytes', 'Memory limit, bytes (0 = none)', (r) => r.memory.limit);
  simple('hyperfaas_watermark', 'Watermark state: 0 low, 1 normal, 2 high', (r) => watermarkValue[r.watermark]);
  simple('hyperfaas_draining', '1 while draining', (r) => (r.draining ? 1 : 0));

  // Children are cached per code+method so a request costs one map lookup, not a label hash.
  const children = new Map<string, { c: { inc(): void }; h: { observe(v: number): void } }>();
  return {
    registry,
    observe(code, method, seconds) {
      const key = method + code;
      let ch = children.get(key);
      if (!ch) {
        const labels = { code: String(code), method: method.toLowerCase() };
        ch = { c: total.labels(labels), h: duration.labels(labels) };
        children.set(key, ch);
      }
      ch.c.inc();
      ch.h.observe(seconds);
    },
  };
}
