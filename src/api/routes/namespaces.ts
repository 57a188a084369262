import type { Express, RequestHandler } from 'express';
import type { RouteContext } from '../context.js';
import { methodNotAllowed } from '../middleware/error-handler.js';

/**
 * registerNamespaceRoutes mounts GET /system/namespaces (no auth, as faas-provider: the gateway guards it) with the
 * default namespace first (the UI selects data[0]), and /system/namespace/:name, which answers 501 for every method
 * like the library does without a handler.
 */
export function registerNamespaceRoutes(app: Express, ctx: RouteContext): void {
  const list = [...ctx.config.namespaces];
  app.get('/system/namespaces', (_req, res) => {
    res.status(200).json(list);
  });
  app.all('/system/namespaces', methodNotAllowed);
  const notImplemented: RequestHandler = (_req, res) => {
    res.status(501).type('text/plain').send('Feature not implemented in this version of OpenFaaS\n');
  };
  app.all('/system/namespace', notImplemented);
  app.all('/system/namespace/:name', notImplemented);
}
