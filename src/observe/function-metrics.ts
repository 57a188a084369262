/**
 * function-metrics counts invocations under the stock OpenFaaS gateway's metric names, so the dashboards, alert
 * rules and the gateway's own list handler (which asks Prometheus for gateway_function_invocation_total) work when
 * HyperFaaS is scraped instead of a gateway, and feeds the same events into the live one-second series. One
 * FunctionMetrics per registry; function_name is always "name.namespace", as the gateway labels it.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { FunctionBackend } from '../backends/backend.js';
import { LiveSeries } from './live.js';
import { functionKey } from '../names.js';

/** GATEWAY_BUCKETS are the gateway's gateway_functions_seconds buckets (the Prometheus Go client's defaults). */
export const GATEWAY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** ReplicaSource lists every function with its replica count, for gateway_service_count (read at scrape time). */
export type ReplicaSource = () => Promise<{ function: string; replicas: number }[]>;

/** backendReplicas is the ReplicaSource over a backend's (in-memory) function lists. */
export function backendReplicas(backend: Pick<FunctionBackend, 'namespaces' | 'list'>): ReplicaSource {
  return async () => {
    const out: { function: string; replicas: number }[] = [];
    for (const ns of await backend.namespaces()) {
      for (const f of await backend.list(ns)) out.push({ function: functionKey(f.name, f.namespace ?? ns), replicas: f.replicas });
    }
    return out;
  };
}

const perRegistry = new WeakMap<Registry, FunctionMetrics>();

/** functionMetricsFor returns the registry's FunctionMetrics, making it on first use (metrics register once). */
export function functionMetricsFor(registry: Registry, replicas: ReplicaSource): FunctionMetrics {
  let m = perRegistry.get(registry);
  if (!m) perRegistry.set(registry, (m = new FunctionMetrics(registry, replicas)));
  return m;
}

/** SpecialiseFailure is one failed attempt to specialise a guest slot with a function's code. */
export interface SpecialiseFailure {
  /** at is epoch milliseconds. */
  at: number;
  /** host is the instance whose guest slot was to serve the function. */
  host: string;
  /** error is the reason, as the ICS or the provider gave it. */
  error: string;
}

/** keptFailures is how many recent specialisation failures each function keeps for its status. */
const keptFailures = 5;

/** FunctionMetrics records invocations; `now` is injected so tests can drive the live series. */
export class FunctionMetrics {
  readonly live = new LiveSeries();
  private readonly totals = new Map<string, number>();
  private readonly invocations: Counter<'function_name' | 'code'>;
  private readonly seconds: Histogram<'function_name' | 'code'>;
  private readonly startedCounter: Counter<'function_name'>;
  private readonly specialisations: Counter<'function_name' | 'outcome'>;
  private readonly failures = new Map<string, SpecialiseFailure[]>();

  constructor(
    registry: Registry,
    replicas: ReplicaSource,
    private readonly now: () => number = Date.now,
  ) {
    this.invocations = new Counter({
      name: 'gateway_function_invocation_total',
      help: 'Function invocations by status code (the OpenFaaS gateway metric, counted by HyperFaaS)',
      labelNames: ['function_name', 'code'],
      registers: [registry],
    });
    this.seconds = new Histogram({
      name: 'gateway_functions_seconds',
      help: 'Function time taken',
      labelNames: ['function_name', 'code'],
      buckets: GATEWAY_BUCKETS,
      registers: [registry],
    });
    this.startedCounter = new Counter({
      name: 'gateway_function_invocation_started',
      help: 'The total number of function HTTP requests started.',
      labelNames: ['function_name'],
      registers: [registry],
    });
    this.specialisations = new Counter({
      name: 'hyperfaas_specialisations_total',
      help: "Guest slots specialised with each function's code (phase 2), by outcome (ok, failed)",
      labelNames: ['function_name', 'outcome'],
      registers: [registry],
    });
    const service = new Gauge({
      name: 'gateway_service_count',
      help: 'Current count of replicas for function',
      labelNames: ['function_name'],
      registers: [registry],
      async collect() {
        // Rebuilt at every scrape, so removed functions disappear instead of lingering at their last value.
        const list = await replicas();
        service.reset();
        for (const f of list) service.set({ function_name: f.function }, f.replicas);
      },
    });
  }

  /** started counts an invocation of a known function the moment it is routed. */
  started(fn: string): void {
    this.startedCounter.inc({ function_name: fn });
  }

  /** finished counts a completed invocation with its status code and duration in seconds. */
  finished(fn: string, code: number, seconds: number): void {
    const labels = { function_name: fn, code: String(code) };
    this.invocations.inc(labels);
    this.seconds.observe(labels, seconds);
    this.totals.set(fn, (this.totals.get(fn) ?? 0) + 1);
    this.live.request(fn, this.now(), code, seconds);
  }

  /** invocationCount is the number of finished invocations of fn since the provider started. */
  invocationCount(fn: string): number {
    return this.totals.get(fn) ?? 0;
  }

  /** bounced records a request an instance of fn handed back to the scheduler. */
  bounced(fn: string): void {
    this.live.bounce(fn, this.now());
  }

  /** specialised records an attempt to specialise host's guest slot with fn's code; a failure is kept for the status. */
  specialised(fn: string, host: string, ok: boolean, error?: string): void {
    this.specialisations.inc({ function_name: fn, outcome: ok ? 'ok' : 'failed' });
    if (ok) return;
    const list = this.failures.get(fn) ?? [];
    list.push({ at: this.now(), host, error: error ?? 'specialise failed' });
    this.failures.set(fn, list.slice(-keptFailures));
  }

  /** specialiseFailures are fn's most recent specialisation failures, oldest first. */
  specialiseFailures(fn: string): readonly SpecialiseFailure[] {
    return this.failures.get(fn) ?? [];
  }

  /** boosted records a phase-1 CPU scale-up of one of fn's instances. */
  boosted(fn: string): void {
    this.live.boost(fn, this.now());
  }
}
