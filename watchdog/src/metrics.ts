/**
 * metrics is the watchdog's own Prometheus registry, served on metrics_port like of-watchdog's :8081/metrics:
 * http_requests_total{code,method}, http_request_duration_seconds{code,method}, http_requests_in_flight, the
 * process collectors, and HyperFaaS gauges for the slots, CPU, memory and watermark (read at scrape time).
 */
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { LoadReport } from './protocol.js';

/** WatchdogMetrics records requests; gauges pull from report() at scrape time so the hot path does not pay. */
export interface WatchdogMetrics {
  readonly registry: Registry;
  /** observe records one finished request. */
  observe(code: number, method: string, seconds: number): void;
  /** text is the whole exposition: the request counters and histogram, then the registry. */
  text(): Promise<string>;
  readonly contentType: string;
}

const watermarkValue = { low: 0, normal: 1, high: 2 } as const;

/** buckets are prom-client's (and client_golang's) defaults, as of-watchdog uses. */
export const buckets: readonly number[] = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);

interface Series {
  code: string;
  method: string;
  count: number;
  sum: number;
  /** counts[i] is observations <= buckets[i] (not cumulative; summed when rendered). */
  counts: number[];
}

/**
 * RequestMetrics is http_requests_total and http_request_duration_seconds kept as plain numbers: an observation is a
 * map lookup and two additions (prom-client hashes the label set on every call), rendered in the text format on scrape.
 */
export class RequestMetrics {
  private readonly series = new Map<string, Series>();

  /** observe adds one request. */
  observe(code: number, method: string, seconds: number): void {
    const key = method + code;
    let s = this.series.get(key);
    if (!s) {
      s = { code: String(code), method: method.toLowerCase(), count: 0, sum: 0, counts: buckets.map(() => 0) };
      this.series.set(key, s);
    }
    s.count++;
    s.sum += seconds;
    for (let i = 0; i < buckets.length; i++) {
      if (seconds <= buckets[i]!) {
        s.counts[i]!++;
        break;
      }
    }
  }

  /** text renders both metrics in the Prometheus text format. */
  text(): string {
    const all = [...this.series.values()];
    const lines = ['# HELP http_requests_total total HTTP requests processed', '# TYPE http_requests_total counter'];
    for (const s of all) lines.push(`http_requests_total{code="${s.code}",method="${s.method}"} ${s.count}`);
    lines.push('# HELP http_request_duration_seconds Seconds spent serving HTTP requests.', '# TYPE http_request_duration_seconds histogram');
    for (const s of all) {
      const l = `code="${s.code}",method="${s.method}"`;
      let cum = 0;
      for (let i = 0; i < buckets.length; i++) {
        cum += s.counts[i]!;
        lines.push(`http_request_duration_seconds_bucket{le="${buckets[i]}",${l}} ${cum}`);
      }
      lines.push(`http_request_duration_seconds_bucket{le="+Inf",${l}} ${s.count}`);
      lines.push(`http_request_duration_seconds_sum{${l}} ${s.sum}`);
      lines.push(`http_request_duration_seconds_count{${l}} ${s.count}`);
    }
    return lines.join('\n') + '\n';
  }
}

/** createMetrics builds the registry; report() supplies the live load view for the gauges. */
export function createMetrics(report: () => LoadReport): WatchdogMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new RequestMetrics();
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

  return {
    registry,
    contentType: registry.contentType,
    observe: (code, method, seconds) => requests.observe(code, method, seconds),
    text: async () => requests.text() + (await registry.metrics()),
  };
}
