import type { Express } from 'express';
import { HttpError } from '../errors.js';
import { bodyObject, namespaceOf, type RouteContext } from '../context.js';
import { methodNotAllowed } from '../middleware/error-handler.js';

/**
 * registerScaleRoutes mounts POST /system/scale-function/:name. The name comes from the URL; the body is
 * {"serviceName", "replicas", "namespace"?} and arrives without Content-Type from the gateway. 0 is allowed: it
 * scales to zero, and the next invocation wakes the function. Success is 202.
 */
export function registerScaleRoutes(app: Express, ctx: RouteContext): void {
  const { backend, config, auth, json } = ctx;
  app.post('/system/scale-function/:name', ...auth, json, async (req, res) => {
    const body = bodyObject(req, 'a ScaleServiceRequest like {"serviceName":"name","replicas":1}');
    const replicas = body.replicas;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      throw new HttpError(400, `replicas: must be a whole number >= 0, got ${JSON.stringify(replicas)}`);
    }
    await backend.scale(namespaceOf(req, config), req.params.name as string, replicas);
    res.status(202).end();
  });
  app.all('/system/scale-function/:name', methodNotAllowed);
}
