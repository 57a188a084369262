/**
 * main is the composition root and the only reader of process.env: config -> logger -> backend -> scheduler ->
 * (NATS link: load reports, bounce-back, async, when NATS_URL is set) -> app
 * -> listen. SIGTERM/SIGINT stop accepting, close the backend (which stops its instances), and exit 0.
 */
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RequestHandler } from 'express';
import type { NatsConnection } from '@nats-io/transport-node';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import { ScalerLoop, intervalTicker } from './control/scaler-loop.js';
import { createScalerPorts } from './control/ports.js';
import type { ApplyResult, ReportView } from './gs/report-view.js';
import type { LoadReport } from '@hyperfaas/watchdog/protocol';
import { bounceRoom } from './gs/bounce-policy.js';
import { controlChannel } from './gs/nats/control-channel.js';
import { GuestSharing } from './gs/sharing.js';
import { compressHpaParams, createHpaPolicy, createHyperfaasPolicy, HPA_DEFAULT, HPA_TUNED, type HpaParams } from './scaling/index.js';
import type { PolicyName, ScalingPolicy } from './scaling/types.js';
import { createApp, requestListener } from './api/app.js';
import { isBackendError, type FunctionBackend } from './backends/backend.js';
import { createLocalBackend, type LocalBackendOptions } from './backends/local/index.js';
import { readLocalConfig } from './backends/local/config.js';
import { PublishedImages } from './backends/local/published.js';
import { createAsync, readAsyncConfig } from './async/index.js';
import { readConfig, type ProviderConfig } from './config.js';
import { startBounceResponder } from './gs/nats/bounce-responder.js';
import { startReportSubscriber } from './gs/nats/report-subscriber.js';
import { connectNats } from './messaging/nats.js';
import { CodeStore, type PublishCode } from './messaging/code-store.js';
import { NatsAuthority, readNatsAuthEnv, type NatsAuthEnv } from './messaging/nats-auth.js';
import { ControlTokens } from './gs/control-tokens.js';
import { createLogger, type Logger } from './logger.js';
import { repoRoot } from './paths.js';
import { createSchedulerInvoker } from './router/scheduler-invoker.js';
import { Upstreams } from './router/upstream.js';
import { GlobalScheduler } from './gs/global-scheduler.js';
import type { VersionInfo } from './types/index.js';
import { ConfigError } from './units.js';
import { backendReplicas, functionMetricsFor, type FunctionMetrics } from './observe/function-metrics.js';
import { functionKey } from './names.js';

type Env = Record<string, string | undefined>;

/** scalingPolicies builds the policies a function can pick by label; HPA arms take the configured compression. */
function scalingPolicies(config: ProviderConfig): Partial<Record<PolicyName, ScalingPolicy<unknown>>> {
  const hpa = (p: Readonly<HpaParams>): HpaParams => {
    const c = config.hpaCompress > 1 ? compressHpaParams(p, config.hpaCompress) : { ...p };
    return config.hpaPodStartMs !== undefined ? { ...c, podStartDelayMs: config.hpaPodStartMs } : c;
  };
  return {
    hyperfaas: createHyperfaasPolicy() as ScalingPolicy<unknown>,
    hpa: createHpaPolicy(hpa(HPA_DEFAULT), 'hpa') as ScalingPolicy<unknown>,
    'hpa-tuned': createHpaPolicy(hpa(HPA_TUNED), 'hpa-tuned') as ScalingPolicy<unknown>,
  };
}

async function createBackend(config: ProviderConfig, env: Env, logger: Logger, opts: LocalBackendOptions): Promise<FunctionBackend> {
  switch (config.backend) {
    case 'local':
      return createLocalBackend(readLocalConfig(env), logger, opts);
    case 'kubernetes': {
      // Loaded only when chosen, so a local provider never pulls in @kubernetes/client-node.
      const k8s = await import('./backends/kubernetes/index.js');
      // Builds published to the provider (HYPERFAAS_DATA/published) are the code guest slots borrow on Kubernetes too.
      const published = env.HYPERFAAS_DATA ? new PublishedImages(join(env.HYPERFAAS_DATA, 'published')) : undefined;
      return k8s.createKubernetesBackend(k8s.readKubernetesConfig(env), logger, {
        ...(opts.publishCode ? { publishCode: opts.publishCode } : {}),
        ...(published ? { published, codeDir: (image: string) => published.dirFor(image) } : {}),
      });
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

interface NatsLink {
  asyncHandler: RequestHandler;
  nc: NatsConnection;
  reports: ReportView;
  close(): Promise<void>;
}

/**
 * startNatsLink connects to NATS_URL and starts what needs it: load reports from the watchdogs (they block instances
 * over their high watermark in the scheduler's view), the bounce-back responder, and the JetStream async path
 * (/async-function and, when HYPERFAAS_ASYNC_WORKER says so, the in-process queue worker). All of them invoke through
 * the same scheduler and pools as /function/.
 */
async function startNatsLink(
  config: ProviderConfig,
  env: Env,
  d: { backend: FunctionBackend; scheduler: GlobalScheduler; upstreams: Upstreams; logger: Logger; registry: Registry; functions: FunctionMetrics; auth: NatsAuthEnv; onHigh?: () => void },
): Promise<NatsLink> {
  const nc = await connectNats(config.natsUrl!, d.logger, 'hyperfaas-provider', d.auth.credsFile);
  const invoker = createSchedulerInvoker({ scheduler: d.scheduler, upstreams: d.upstreams, defaultTimeoutMs: config.writeTimeoutMs });
  const reports = startReportSubscriber({
    nc,
    target: d.scheduler,
    logger: d.logger,
    // An instance crossing into its high watermark is the first sign of a burst: the scaler decides now, not next tick.
    ...(d.onHigh ? { onReport: (r: LoadReport, result: ApplyResult) => (result === 'watermark-changed' && r.watermark === 'high' ? d.onHigh!() : undefined) } : {}),
  });
  const bounce = startBounceResponder({
    nc,
    invoker,
    logger: d.logger,
    defaultNamespace: config.defaultNamespace,
    timeoutMs: config.writeTimeoutMs,
    bounced: new Counter({
      name: 'hyperfaas_bounces_total',
      help: 'Requests instances bounced to the GS, by outcome (rerouted, kept: no other instance had room, failed, too-large, forged: not from the instance its subject names)',
      labelNames: ['outcome'],
      registers: [d.registry],
    }),
    onBounce: (namespace, name) => {
      d.scheduler.bounced(namespace, name, Date.now());
      d.functions.bounced(functionKey(name, namespace));
    },
    hasRoom: bounceRoom(d.scheduler, reports.view),
  });
  const asyncConfig = readAsyncConfig(env);
  const asyncService = await createAsync({
    nc,
    // Queued invocations enter here, not through the router, so this invoker counts them per function.
    invoker: createSchedulerInvoker({ scheduler: d.scheduler, upstreams: d.upstreams, defaultTimeoutMs: config.writeTimeoutMs, functions: d.functions }),
    functionExists: async (namespace, name) => {
      try {
        await d.backend.get(namespace, name);
        return true;
      } catch (e) {
        if (isBackendError(e, 'NotFound')) return false;
        throw e;
      }
    },
    defaultNamespace: config.defaultNamespace,
    logger: d.logger,
    registry: d.registry,
    config: asyncConfig,
  });
  if (asyncConfig.inProcessWorker) await asyncService.startWorker();
  return {
    asyncHandler: asyncService.handler,
    nc,
    reports: reports.view,
    close: async () => {
      await asyncService.close();
      bounce.stop();
      reports.stop();
      await nc.drain().catch(() => undefined);
    },
  };
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
  // Each instance gets its own control token and, when NATS requires authorization, its own NATS user, as files.
  const natsAuth = readNatsAuthEnv(env);
  const authority = natsAuth.signingKeyFile ? await NatsAuthority.load(natsAuth.signingKeyFile, env.HYPERFAAS_NATS_ACCOUNT) : undefined;
  if (config.natsUrl && !natsAuth.credsFile) {
    logger.warn('NATS without authorization: any function can publish and subscribe to every subject, JetStream included (set HYPERFAAS_NATS_AUTH_DIR, see docs/nats-auth.md)');
  } else if (config.natsUrl && !authority) {
    logger.warn('NATS credentials without an account signing key: instances get no NATS user and cannot reach NATS (set HYPERFAAS_NATS_SIGNING_KEY)');
  }
  const tokens = new ControlTokens();
  const instanceFiles: LocalBackendOptions['instanceFiles'] = async (who) => ({
    'control-token': tokens.issue(who.instanceId),
    ...(authority ? { 'nats.creds': await authority.mintInstanceCreds(who) } : {}),
  });
  // Guest code goes through each namespace's JetStream object store bucket, once NATS is connected (below).
  let codeStore: CodeStore | undefined;
  const publishCode: PublishCode = (namespace, fnKey, dir) =>
    codeStore ? codeStore.publish(namespace, fnKey, dir) : Promise.reject(new Error('no NATS connection: set NATS_URL'));
  const backend = await createBackend(config, env, logger, { instanceFiles, ...(config.natsUrl ? { publishCode } : {}) });
  backend.watchInstances((ev) => {
    if (ev.type === 'deleted') tokens.forget(ev.instance.id);
  });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const reroutes = new Counter({
    name: 'hyperfaas_reroutes_total',
    help: 'Requests sent to another instance after one refused them, by reason (full: 429, unreachable)',
    labelNames: ['reason'],
    registers: [registry],
  });
  const scheduler = new GlobalScheduler({ backend, logger, coldStartTimeoutMs: config.coldStartTimeoutMs, reroutes });
  scheduler.start();
  const upstreams = new Upstreams({ headersTimeoutMs: config.writeTimeoutMs, bodyTimeoutMs: config.writeTimeoutMs });
  const functions = functionMetricsFor(registry, backendReplicas(backend));
  let pokeScaler = (): void => undefined;
  const link = config.natsUrl ? await startNatsLink(config, env, { backend, scheduler, upstreams, logger, registry, functions, auth: natsAuth, onHigh: () => pokeScaler() }) : undefined;
  if (link) codeStore = new CodeStore(link.nc);
  const sharing = new GuestSharing({
    slots: scheduler,
    backend,
    control: controlChannel(() => link?.nc, (id) => tokens.get(id) ?? config.controlToken),
    logger,
    counter: new Counter({ name: 'hyperfaas_guest_slot_operations_total', help: 'Guest slot specialise/release operations', labelNames: ['op', 'outcome'], registers: [registry] }),
    onSpecialise: (fnKey, host, r) => functions.specialised(fnKey, host, r.ok, r.error),
  });
  const scaler = new ScalerLoop({
    ports: createScalerPorts({ backend, scheduler, sharing, reports: () => link?.reports }),
    policies: scalingPolicies(config),
    defaultPolicy: config.defaultPolicy,
    now: Date.now,
    ticker: intervalTicker(config.scalerTickMs),
    logger,
    registry,
    onAction: (key, a) => {
      if (a.kind === 'resize') functions.boosted(key);
    },
  });
  // A request for a function at zero asks the scaler, the one writer of replicas, to decide about it now.
  scheduler.setWaker((namespace, name) => scaler.wake(namespace, name));
  scaler.start();
  pokeScaler = () => scaler.poke();
  const app = createApp({
    config,
    backend,
    scheduler,
    logger,
    registry,
    upstreams,
    version: version(env),
    functions,
    reports: () => link?.reports,
    scaler,
    ...(link ? { asyncHandler: link.asyncHandler } : {}),
  });

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
    scaler.stop();
    await link?.close().catch((e: unknown) => logger.error('NATS link close failed', { error: String(e) }));
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
