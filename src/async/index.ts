import type { RequestHandler } from 'express';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Registry } from 'prom-client';
import type { Logger } from '../logger.js';
import type { Invoker } from '../invoke/invoker.js';
import type { AsyncConfig } from './config.js';
import { startDepthGauge } from './depth.js';
import { createAsyncHandler } from './handler.js';
import { createAsyncMetrics, type AsyncMetrics } from './metrics.js';
import { ensureAsyncStreams } from './streams.js';
import { QueueWorker } from './worker.js';

export { readAsyncConfig, defaultMaxBody, type AsyncConfig } from './config.js';
export { HttpInvoker, providerFunctionUrl } from './http-invoker.js';
export { QueueWorker } from './worker.js';

/** AsyncOptions are createAsync's dependencies. */
export interface AsyncOptions {
  nc: NatsConnection;
  invoker: Invoker;
  functionExists(namespace: string, name: string): Promise<boolean>;
  defaultNamespace: string;
  logger: Logger;
  registry: Registry;
  config: AsyncConfig;
}

/** AsyncService is the async path: the /async-function handler and, when started, the in-process queue worker. */
export interface AsyncService {
  /** handler is mounted at ALL /async-function/:name and /async-function/:name/*path (reads req.params.name and req.originalUrl). */
  handler: RequestHandler;
  /** startWorker starts the in-process queue worker (call it when config.inProcessWorker). */
  startWorker(): Promise<void>;
  /** close stops the worker (waiting briefly for running invocations) and the queue-depth timer; it leaves the NATS connection open. */
  close(): Promise<void>;
}

/**
 * createAsync makes sure the JetStream streams and the durable consumer exist, then returns the async service.
 * It rejects when JetStream cannot be reached.
 */
export async function createAsync(opts: AsyncOptions): Promise<AsyncService> {
  const jsm = await jetstreamManager(opts.nc);
  const js = jetstream(opts.nc);
  const ensureStreams = () => ensureAsyncStreams(jsm, opts.config.ackWaitMs, opts.logger);
  await ensureStreams();
  const metrics: AsyncMetrics = createAsyncMetrics(opts.registry);
  const handler = createAsyncHandler({
    nc: opts.nc,
    js,
    functionExists: opts.functionExists,
    defaultNamespace: opts.defaultNamespace,
    logger: opts.logger,
    metrics,
    config: opts.config,
    ensureStreams,
  });
  let worker: QueueWorker | undefined;
  // The depth gauge runs with or without an in-process worker: the provider reports its queue either way.
  const stopDepth = startDepthGauge(jsm, metrics, opts.config.depthIntervalMs, opts.logger);
  return {
    handler,
    async startWorker() {
      if (worker) return;
      worker = new QueueWorker({ nc: opts.nc, js, invoker: opts.invoker, defaultNamespace: opts.defaultNamespace, logger: opts.logger, metrics, config: opts.config, ensureStreams });
      await worker.start();
    },
    async close() {
      stopDepth();
      await worker?.close();
    },
  };
}

/** createQueueWorker is the worker alone (for worker-main.ts): streams ensured, metrics on registry, depth gauge running. */
export async function createQueueWorker(opts: Omit<AsyncOptions, 'functionExists'>): Promise<{ start(): Promise<void>; close(): Promise<void> }> {
  const jsm = await jetstreamManager(opts.nc);
  const js = jetstream(opts.nc);
  const ensureStreams = () => ensureAsyncStreams(jsm, opts.config.ackWaitMs, opts.logger);
  await ensureStreams();
  const metrics = createAsyncMetrics(opts.registry);
  const worker = new QueueWorker({ nc: opts.nc, js, invoker: opts.invoker, defaultNamespace: opts.defaultNamespace, logger: opts.logger, metrics, config: opts.config, ensureStreams });
  let stopDepth: (() => void) | undefined;
  return {
    async start() {
      await worker.start();
      stopDepth = startDepthGauge(jsm, metrics, opts.config.depthIntervalMs, opts.logger);
    },
    async close() {
      stopDepth?.();
      await worker.close();
    },
  };
}
