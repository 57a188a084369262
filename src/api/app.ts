/**
 * app builds the provider's HTTP surface, the faas-provider REST API plus the invoke path, as an Express app that
 * never listens: main.ts serves it, tests hand it to supertest.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express from 'express';
import type { Registry } from 'prom-client';
import type { FunctionBackend } from '../backends/backend.js';
import type { ProviderConfig } from '../config.js';
import type { Logger } from '../logger.js';
import { httpMetrics } from '../metrics.js';
import { createInvokeHandler, type RawHandler } from '../router/proxy.js';
import { invokePrefix } from '../router/target.js';
import { Upstreams } from '../router/upstream.js';
import type { GlobalScheduler } from '../gs/global-scheduler.js';
import type { VersionInfo } from '../types/index.js';
import type { ReportView } from '../gs/report-view.js';
import { backendReplicas, functionMetricsFor, type FunctionMetrics } from '../observe/function-metrics.js';
import { StatusService, type ScalerState } from '../observe/status.js';
import { registerHyperfaasRoutes } from './routes/hyperfaas.js';
import { lenientJson, type RouteContext } from './context.js';
import { basicAuth, readCredentials, type Credentials } from './middleware/basic-auth.js';
import { errorHandler, notFound } from './middleware/error-handler.js';
import { httpMetricsMiddleware } from './middleware/http-metrics.js';
import { registerFunctionRoutes } from './routes/functions.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerImageRoutes } from './routes/images.js';
import { registerInfoRoutes } from './routes/info.js';
import { registerLogRoutes } from './routes/logs.js';
import { registerNamespaceRoutes } from './routes/namespaces.js';
import { registerScaleRoutes } from './routes/scale.js';
import { registerSecretRoutes } from './routes/secrets.js';

/** AppDeps are everything the app needs; nothing is read from the environment here. */
export interface AppDeps {
  config: ProviderConfig;
  backend: FunctionBackend;
  scheduler: GlobalScheduler;
  logger: Logger;
  /** registry receives provider_http_* metrics and is served on /metrics. */
  registry: Registry;
  /** asyncHandler serves /async-function/* when async invocations are enabled (404 otherwise). */
  asyncHandler?: express.RequestHandler;
  version?: VersionInfo;
  /** upstreams are the pools to instances; created from config when absent (then closed by nobody: pass your own to close it). */
  upstreams?: Upstreams;
  /** credentials override reading basic-auth-user/password from config.secretMountPath (when basic_auth is on). */
  credentials?: Credentials;
  /** functions counts invocations per function (gateway metric names); one is made on registry when absent. */
  functions?: FunctionMetrics;
  /** reports are the GS's load reports, for the status API (absent without NATS). */
  reports?: () => ReportView | undefined;
  /** scaler is the scaling loop's state, for the status API's phase and decisions. */
  scaler?: ScalerState;
}

const invokeHandlers = new WeakMap<express.Express, RawHandler>();

/** createApp builds the app. With basic_auth on it reads the credential files now and throws when they are missing. */
export function createApp(deps: AppDeps): express.Express {
  const { config, backend, scheduler, registry } = deps;
  const logger = deps.logger.child({ component: 'api' });
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  const metrics = httpMetrics(registry);
  const functions = deps.functions ?? functionMetricsFor(registry, backendReplicas(backend));
  const status = new StatusService(
    {
      backend,
      candidates: (ns, name) => scheduler.candidatesOf(ns, name),
      report: (id) => deps.reports?.()?.get(id, Date.now()),
      ...(deps.scaler ? { scaler: deps.scaler } : {}),
      metrics: functions,
      now: Date.now,
    },
    registry,
  );
  const upstreams =
    deps.upstreams ?? new Upstreams({ headersTimeoutMs: config.writeTimeoutMs, bodyTimeoutMs: config.writeTimeoutMs });
  scheduler.onInstanceChange((ev) => {
    if (ev.type === 'deleted') upstreams.forget(ev.instance.url);
  });
  const invoke = createInvokeHandler({
    scheduler,
    upstreams,
    defaultNamespace: config.defaultNamespace,
    coldStartTimeoutMs: config.coldStartTimeoutMs,
    logger: deps.logger,
    metrics,
    functions,
  });
  invokeHandlers.set(app, invoke);

  // The data plane first, so an invocation skips everything else Express would do.
  app.use((req, res, next) => (req.url.startsWith(invokePrefix) ? invoke(req, res) : next()));
  app.use(httpMetricsMiddleware(metrics));
  if (deps.asyncHandler) {
    // Routes, not a prefix check: the handler reads req.params.name (and req.originalUrl for the rest).
    app.all('/async-function/:name', deps.asyncHandler);
    app.all('/async-function/:name/*path', deps.asyncHandler);
  }

  const ctx: RouteContext = {
    backend,
    config,
    logger,
    auth: config.basicAuth ? [basicAuth(deps.credentials ?? readCredentials(config.secretMountPath))] : [],
    json: lenientJson(config.maxBodyBytes),
    invocationCount: (fn) => functions.invocationCount(fn),
  };
  registerHealthRoutes(app, registry);
  registerNamespaceRoutes(app, ctx);
  registerFunctionRoutes(app, ctx);
  registerScaleRoutes(app, ctx);
  registerInfoRoutes(app, ctx, deps.version ?? { sha: 'unknown', release: 'dev' });
  registerSecretRoutes(app, ctx);
  registerLogRoutes(app, ctx);
  registerHyperfaasRoutes(app, ctx, status);
  registerImageRoutes(app, ctx);
  app.use(notFound);
  app.use(errorHandler(logger));
  return app;
}

/**
 * requestListener serves an app built by createApp on a node server, sending /function/* straight to the invoke
 * handler without passing through Express (one less layer on the hot path).
 */
export function requestListener(app: express.Express): RequestListener {
  const invoke = invokeHandlers.get(app);
  if (!invoke) return app as unknown as RequestListener;
  return (req: IncomingMessage, res: ServerResponse) => {
    if (req.url !== undefined && req.url.startsWith(invokePrefix)) invoke(req, res);
    else app(req, res);
  };
}
