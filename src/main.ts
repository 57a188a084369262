/**
 * main is the composition root and the only reader of process.env: config -> logger -> backend -> scheduler -> app
 * -> listen. SIGTERM/SIGINT stop accepting, close the backend (which stops its instances), and exit 0.
 */
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createApp, requestListener } from './api/app.js';
import type { FunctionBackend } from './backends/backend.js';
import { createLocalBackend } from './backends/local/index.js';
import { readLocalConfig } from './backends/local/config.js';
import { ConfigError, readConfig, type ProviderConfig } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { repoRoot } from './paths.js';
import { Upstreams } from './router/upstream.js';
import { GlobalScheduler } from './scheduler/global-scheduler.js';
import type { VersionInfo } from './types/index.js';

type Env = Record<string, string | undefined>;

async function createBackend(config: ProviderConfig, env: Env, logger: Logger): Promise<FunctionBackend> {
  switch (config.backend) {
    case 'local':
      return createLocalBackend(readLocalConfig(env), logger);
    case 'kubernetes': {
      // Loaded only when chosen, so a local provider never pulls in @kubernetes/client-node.
      const k8s = await import('./backends/kubernetes/index.js');
      return k8s.createKubernetesBackend(k8s.readKubernetesConfig(env), logger);
    }
  }
}

function version(env: Env): VersionInfo {
  let release = 'dev';
  try {
    release = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    /* keep dev */
  }
  return { sha: env.GIT_COMMIT || env.HYPERFAAS_SHA || 'unknown', release: env.HYPERFAAS_RELEASE || release };
}

async function main(): Promise<void> {
  const env = process.env;
  let config: ProviderConfig;
  try {
    config = readConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const logger = createLogger(config.logLevel, config.logFormat);
  const backend = await createBackend(config, env, logger);
  const scheduler = new GlobalScheduler({ backend, logger, coldStartTimeoutMs: config.coldStartTimeoutMs });
  scheduler.start();
  const upstreams = new Upstreams({ headersTimeoutMs: config.writeTimeoutMs, bodyTimeoutMs: config.writeTimeoutMs });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const app = createApp({ config, backend, scheduler, logger, registry, upstreams, version: version(env) });

  const server = createServer({ requestTimeout: config.readTimeoutMs, keepAliveTimeout: 65_000 }, requestListener(app));
  server.headersTimeout = Math.min(config.readTimeoutMs, 60_000);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.listen, () => resolve());
  });
  logger.info(`hyperfaas provider listening on http://${config.listen}:${config.port}`, {
    backend: backend.name,
    namespaces: config.namespaces,
    basicAuth: config.basicAuth,
  });

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    server.close();
    server.closeIdleConnections();
    const force = setTimeout(() => server.closeAllConnections(), 5_000);
    force.unref();
    scheduler.close();
    try {
      await backend.close();
    } catch (e) {
      logger.error('backend close failed', { error: String(e) });
    }
    await upstreams.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((e: unknown) => {
  process.stderr.write(`hyperfaas provider failed to start: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
});
