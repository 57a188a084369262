import { Counter, Gauge, type Registry } from 'prom-client';

/** AsyncMetrics are the async path's metrics; `function` is "name.namespace". */
export interface AsyncMetrics {
  queued: Counter<'function'>;
  inflight: Gauge<'function'>;
  retried: Counter<'function'>;
  deadLettered: Counter<'function'>;
  completed: Counter<'function' | 'code'>;
  queueDepth: Gauge<'function'>;
}

/** createAsyncMetrics registers the async metrics on registry (one call per registry). */
export function createAsyncMetrics(registry: Registry): AsyncMetrics {
  const registers = [registry];
  return {
    queued: new Counter({ name: 'hyperfaas_async_queued_total', help: 'Async invocations accepted (202) and stored in JetStream', labelNames: ['function'], registers }),
    inflight: new Gauge({ name: 'hyperfaas_async_inflight', help: 'Queued invocations this worker is running now', labelNames: ['function'], registers }),
    retried: new Counter({ name: 'hyperfaas_async_retried_total', help: 'Queued invocations put back for another attempt', labelNames: ['function'], registers }),
    deadLettered: new Counter({ name: 'hyperfaas_async_dead_lettered_total', help: 'Queued invocations moved to the dead-letter stream after their last attempt', labelNames: ['function'], registers }),
    completed: new Counter({ name: 'hyperfaas_async_completed_total', help: 'Queued invocations finished (acknowledged), by function status code', labelNames: ['function', 'code'], registers }),
    queueDepth: new Gauge({ name: 'hyperfaas_async_queue_depth', help: 'Messages waiting or running in the async stream, per function (refreshed periodically)', labelNames: ['function'], registers }),
  };
}
