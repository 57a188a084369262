import type { Express } from 'express';
import type { Registry } from 'prom-client';
import { methodNotAllowed } from '../middleware/error-handler.js';

/** registerHealthRoutes mounts GET and HEAD /healthz (no auth) and /metrics (prom-client, no auth). */
export function registerHealthRoutes(app: Express, registry: Registry): void {
  app.get('/healthz', (_req, res) => {
    res.status(200).type('text/plain').send('OK\n');
  });
  app.all('/healthz', methodNotAllowed);
  app.get('/metrics', async (_req, res) => {
    const body = await registry.metrics();
    res.status(200).set('Content-Type', registry.contentType).send(body);
  });
}
