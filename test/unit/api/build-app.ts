/** build-app assembles createApp over a FakeBackend for supertest, with a fresh metrics registry each time. */
import type express from 'express';
import { Registry } from 'prom-client';
import { createApp, type AppDeps } from '../../../src/api/app.js';
import { readConfig, type ProviderConfig } from '../../../src/config.js';
import { silentLogger } from '../../../src/logger.js';
import { Upstreams } from '../../../src/router/upstream.js';
import { GlobalScheduler } from '../../../src/gs/global-scheduler.js';
import { createScalerPorts } from '../../../src/control/ports.js';
import { ScalerLoop } from '../../../src/control/scaler-loop.js';
import { policyFor } from '../../../src/scaling/index.js';
import { FakeBackend, type FakeBackendOptions } from '../../support/fake-backend.js';

/** TestApp is an app plus the fakes behind it. */
export interface TestApp {
  app: express.Express;
  backend: FakeBackend;
  scheduler: GlobalScheduler;
  scaler: ScalerLoop;
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
  // The scaler never ticks here; it only answers the GS's wakes from zero, as the provider's does between ticks.
  const scaler = new ScalerLoop({
    ports: createScalerPorts({ backend, scheduler }),
    policies: { hyperfaas: policyFor('hyperfaas'), hpa: policyFor('hpa'), 'hpa-tuned': policyFor('hpa-tuned') },
    defaultPolicy: config.defaultPolicy,
    now: Date.now,
    ticker: { start: () => undefined, stop: () => undefined },
    logger,
  });
  scheduler.setWaker((namespace, name) => scaler.wake(namespace, name));
  const registry = new Registry();
  const upstreams = new Upstreams({ headersTimeoutMs: config.writeTimeoutMs, bodyTimeoutMs: config.writeTimeoutMs });
  const app = createApp({ config, backend, scheduler, logger, registry, upstreams, ...opts.deps });
  return {
    app,
    backend,
    scheduler,
    scaler,
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
