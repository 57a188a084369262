import express from 'express';
import { Registry } from 'prom-client';
import { createAsync, HttpInvoker, readAsyncConfig } from '../../src/async/index.js';
import { createLogger, silentLogger } from '../../src/logger.js';
import { connectNats } from '../../src/messaging/nats.js';

// A tiny "provider" for the async integration tests, run as a child process so a test can SIGKILL it:
// env NATS_URL, UPSTREAMS (JSON name -> base URL, all in DEFAULT_NAMESPACE), PORT (0 = any), async_* settings.
// It mounts the AsyncService handler exactly as the provider's app does, serves /metrics, and prints "READY <port>".
const env = process.env;
const logger = env.HARNESS_LOG ? createLogger(env.HARNESS_LOG) : silentLogger();
const namespace = env.DEFAULT_NAMESPACE ?? 'openfaas-fn';
const upstreams = JSON.parse(env.UPSTREAMS ?? '{}') as Record<string, string>;
const registry = new Registry();
const nc = await connectNats(env.NATS_URL!, logger, 'async-harness');
const service = await createAsync({
  nc,
  invoker: new HttpInvoker((ns, name) => (ns === namespace ? upstreams[name] : undefined)),
  functionExists: async (ns, name) => ns === namespace && name in upstreams,
  defaultNamespace: namespace,
  logger,
  registry,
  config: readAsyncConfig(env),
});
const app = express();
app.all('/async-function/:name', service.handler);
app.all('/async-function/:name/*path', service.handler);
app.get('/metrics', async (_req, res) => {
  res.type(registry.contentType).send(await registry.metrics());
});
if (env.HARNESS_WORKER !== 'false') await service.startWorker();
const server = app.listen(Number(env.PORT ?? 0), '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`READY ${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});
process.once('SIGTERM', () => {
  void (async () => {
    server.close();
    await service.close();
    await nc.drain().catch(() => undefined);
    process.exit(0);
  })();
});
