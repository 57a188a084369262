import { createServer } from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { createLogger } from '../logger.js';
import { connectNats } from '../messaging/nats.js';
import { readNatsAuthEnv } from '../messaging/nats-auth.js';
import { readAsyncConfig } from './config.js';
import { HttpInvoker, providerFunctionUrl } from './http-invoker.js';
import { createQueueWorker } from './index.js';

// The queue worker as its own process: NATS_URL, PROVIDER_URL (invoked over HTTP at /function/<name>.<ns>),
// DEFAULT_NAMESPACE, METRICS_PORT (optional /metrics), NATS_CREDS or HYPERFAAS_NATS_AUTH_DIR (its NATS user, see
// docs/nats-auth.md), plus the async_* settings of docs/async.md.
const env = process.env;
const logger = createLogger(env.LOG_LEVEL ?? 'info', env.LOG_FORMAT === 'pretty' ? 'pretty' : 'json');
const config = readAsyncConfig(env);
const { credsFile } = readNatsAuthEnv(env);
if (!credsFile) logger.warn('NATS without authorization: any function can publish and subscribe to every subject, JetStream included (see docs/nats-auth.md)');
const nc = await connectNats(env.NATS_URL ?? 'nats://127.0.0.1:4222', logger, 'hyperfaas-queue-worker', credsFile);
const registry = new Registry();
collectDefaultMetrics({ register: registry });
const worker = await createQueueWorker({
  nc,
  invoker: new HttpInvoker(providerFunctionUrl(env.PROVIDER_URL ?? 'http://127.0.0.1:8081')),
  defaultNamespace: env.DEFAULT_NAMESPACE ?? 'openfaas-fn',
  logger,
  registry,
  config,
});
await worker.start();
const metricsServer = env.METRICS_PORT
  ? createServer((req, res) => {
      void registry.metrics().then((text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text));
    }).listen(Number(env.METRICS_PORT), env.METRICS_HOST ?? '127.0.0.1')
  : undefined;
const stop = async () => {
  await worker.close();
  metricsServer?.close();
  await nc.drain().catch(() => undefined);
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
