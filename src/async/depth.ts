import type { JetStreamManager } from '@nats-io/jetstream';
import { subjects } from '@hyperfaas/watchdog/protocol';
import type { Logger } from '../logger.js';
import type { AsyncMetrics } from './metrics.js';
import { functionKey } from '../names.js';

/**
 * depthByFunction turns a stream's per-subject message counts into counts per "name.namespace". Messages on the bare
 * "faas-request" subject (published by other tooling) are counted under "unknown". Pure.
 */
export function depthByFunction(perSubject: Record<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  const prefix = `${subjects.asyncStream}.`;
  for (const [subject, n] of Object.entries(perSubject)) {
    let label = 'unknown';
    if (subject.startsWith(prefix)) {
      const [ns, fn] = subject.slice(prefix.length).split('.');
      if (ns && fn) label = functionKey(fn, ns);
    }
    out.set(label, (out.get(label) ?? 0) + n);
  }
  return out;
}

/** startDepthGauge refreshes hyperfaas_async_queue_depth from the stream's subject counts every intervalMs; returns a stop function. */
export function startDepthGauge(jsm: JetStreamManager, metrics: AsyncMetrics, intervalMs: number, logger: Logger): () => void {
  let busy = false;
  const refresh = async () => {
    if (busy) return;
    busy = true;
    try {
      const info = await jsm.streams.info(subjects.asyncStream, { subjects_filter: '>' });
      const depth = depthByFunction(info.state.subjects ?? {});
      metrics.queueDepth.reset();
      for (const [fn, n] of depth) metrics.queueDepth.set({ function: fn }, n);
    } catch (e) {
      logger.debug('queue depth refresh failed', { error: (e as Error).message });
    } finally {
      busy = false;
    }
  };
  void refresh();
  const timer = setInterval(() => void refresh(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
