/** build-app assembles createApp over a FakeBackend for supertest, with a fresh metrics registry each time. */
import type express from 'express';
import { Registry } from 'prom-client';
import { createApp, type AppDeps } from '../../../src/api/app.js';
import { readConfig, type ProviderConfig } from '../../../src/config.js';
import { silentLogger } from '../../../src/logger.js';
import { Upstreams } from '../../../src/router/upstream.js';
import { GlobalScheduler } from '../../../src/gs/global-scheduler.js';
import { FakeBackend, type FakeBackendOptions } from '../../support/fake-backend.js';

/** TestApp is an app plus the fakes behind it. */
export interface TestApp {
  app: express.Express;
  backend: FakeBackend;
  scheduler: GlobalScheduler;
  registry: Registry;
  config: ProviderConfig;
  upstreams: Upstreams;
  close(): Promise<void>;
}

/** buildApp builds an app from an env map (readConfig) over a FakeBackend. */
export function buildApp(
  env: Record<string, string> = {},
  opts: { backend?: FakeBackendOptions; deps?: Partial<AppDeps> } = {},
): TestApp {
  const config = readConfig({ HYPERFAAS_COLD_START_TIMEOUT: '5s', ...env });
  const backend = new FakeBackend(opts.backend);
  const logger = silentLogger();
  const scheduler = new GlobalScheduler({ backend, logger, coldStartTimeoutMs: config.coldStartTimeoutMs });
  scheduler.start();
  const registry = new Registry();
  const upstreams = new Upstreams({ headersTimeoutMs: config.writeTimeoutMs, bodyTimeoutMs: config.writeTimeoutMs });
  const app = createApp({ config, backend, scheduler, logger, registry, upstreams, ...opts.deps });
  return {
    app,
    backend,
    scheduler,
    registry,
    config,
    upstreams,
    close: async () => {
      scheduler.close();
      await upstreams.close();
    },
  };
}

/** deployment is a valid FunctionDeployment body for name. */
export function deployment(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { service: name, image: `functions/${name}:latest`, labels: {}, annotations: {}, ...extra };
}
