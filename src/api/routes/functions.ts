import type { Express } from 'express';
import { isBackendError } from '../../backends/backend.js';
import { HttpError } from '../errors.js';
import { bodyObject, namespaceOf, normalizeStatus, type RouteContext } from '../context.js';
import { functionKey, labelProblem } from '../../names.js';
import { toDeployment, validateDeployment } from '../validate.js';
import { methodNotAllowed } from '../middleware/error-handler.js';
import type { FunctionStatus } from '../../types/index.js';

function validated(body: Record<string, unknown>): void {
  const problems = validateDeployment(body);
  if (problems.length > 0) throw new HttpError(400, `invalid function deployment: ${problems.join('; ')}`);
}

/**
 * registerFunctionRoutes mounts list, deploy, update, delete (/system/functions) and status (/system/function/:name).
 * Success on POST, PUT and DELETE is 202 with an empty body, as faas-netes answers; faas-cli and the gateway accept it.
 */
export function registerFunctionRoutes(app: Express, ctx: RouteContext): void {
  const { backend, config, auth, json } = ctx;
  // invocationCount comes from the same counter as gateway_function_invocation_total; the stock gateway overwrites
  // it from Prometheus in its own list reply, so behind a gateway this only matters to direct callers.
  const counted = (s: FunctionStatus): FunctionStatus => {
    const n = normalizeStatus(s);
    return { ...n, invocationCount: ctx.invocationCount(functionKey(n.name, n.namespace ?? ns0)) };
  };
  const ns0 = config.defaultNamespace;

  app.get('/system/functions', ...auth, async (req, res) => {
    const ns = namespaceOf(req, config);
    const list = await backend.list(ns);
    res.status(200).json(list.map(counted));
  });

  app.post('/system/functions', ...auth, json, async (req, res) => {
    const body = bodyObject(req, 'a FunctionDeployment');
    validated(body);
    const fd = toDeployment(body, namespaceOf(req, config));
    try {
      await backend.deploy(fd);
    } catch (err) {
      // Deploying a function that already exists updates it instead of failing. faas-netes answers 500 here, but
      // faas-cli only POSTs after a PUT 404 (so it never meets this), while the certifier deploys with POST only and
      // a re-run without cleaning up would otherwise fail every deploy. Treating POST as "create or replace" keeps
      // both working, and the answer stays 202 either way.
      if (!isBackendError(err, 'Conflict')) throw err;
      await backend.update(fd);
    }
    res.status(202).end();
  });

  app.put('/system/functions', ...auth, json, async (req, res) => {
    const body = bodyObject(req, 'a FunctionDeployment');
    validated(body);
    // 404 when missing (from the backend): faas-cli's first deploy depends on it to fall back to POST.
    await backend.update(toDeployment(body, namespaceOf(req, config)));
    res.status(202).end();
  });

  app.delete('/system/functions', ...auth, json, async (req, res) => {
    const body = bodyObject(req, 'a DeleteFunctionRequest like {"functionName":"name"}');
    const problem = labelProblem(body.functionName);
    if (problem) throw new HttpError(400, `functionName: ${problem}`);
    await backend.remove(namespaceOf(req, config), body.functionName as string);
    res.status(202).end();
  });

  app.all('/system/functions', methodNotAllowed);

  app.get('/system/function/:name', ...auth, async (req, res) => {
    const ns = namespaceOf(req, config);
    const status = await backend.get(ns, req.params.name as string);
    res.status(200).json(counted(status));
  });

  app.all('/system/function/:name', methodNotAllowed);
}
