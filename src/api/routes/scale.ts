import type { Express } from 'express';
import { HttpError } from '../errors.js';
import { bodyObject, namespaceOf, type RouteContext } from '../context.js';
import { methodNotAllowed } from '../middleware/error-handler.js';
import { labelKeys, maxReplicasLimit, parseScalingLabels } from '../../scaling/labels.js';

/**
 * registerScaleRoutes mounts POST /system/scale-function/:name. The name comes from the URL; the body is
 * {"serviceName", "replicas", "namespace"?} and arrives without Content-Type from the gateway. 0 is allowed: it
 * scales to zero, and the next invocation wakes the function. More than com.openfaas.scale.max (or, without that
 * label, the hard cap maxReplicasLimit = 1000) is a 400 naming the bound, rather than a silent clamp. Success is 202.
 */
export function registerScaleRoutes(app: Express, ctx: RouteContext): void {
  const { backend, config, auth, json } = ctx;
  app.post('/system/scale-function/:name', ...auth, json, async (req, res) => {
    const body = bodyObject(req, 'a ScaleServiceRequest like {"serviceName":"name","replicas":1}');
    const replicas = body.replicas;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      throw new HttpError(400, `replicas: must be a whole number >= 0, got ${JSON.stringify(replicas)}`);
    }
    const ns = namespaceOf(req, config);
    const name = req.params.name as string;
    // 404 for a missing function comes from here too. The bound is the function's own maximum, else the hard cap.
    const labels = (await backend.get(ns, name)).labels ?? {};
    const parsed = parseScalingLabels(labels);
    const hasMax = labels[labelKeys.max] !== undefined && parsed.ok;
    const bound = hasMax ? parsed.labels.max : maxReplicasLimit;
    if (replicas > bound) {
      const why = hasMax ? `the function's ${labelKeys.max} label` : `the provider's hard cap (set ${labelKeys.max} to go lower)`;
      throw new HttpError(400, `replicas: ${replicas} is above ${bound}, ${why}`);
    }
    await backend.scale(ns, name, replicas);
    res.status(202).end();
  });
  app.all('/system/scale-function/:name', methodNotAllowed);
}
