/**
 * hyperfaas mounts what only HyperFaaS has: the status API (GET /system/hyperfaas/functions[/<name>], protected like
 * every /system route) and the live dashboard under /ui/hyperfaas/ (static files, no build step; protected like the
 * gateway's /ui/). The dashboard polls the status API.
 */
import { join } from 'node:path';
import express, { type Express } from 'express';
import { repoRoot } from '../../paths.js';
import type { StatusService } from '../../observe/status.js';
import { HttpError } from '../errors.js';
import { lastValue, namespaceOf, type RouteContext } from '../context.js';
import { methodNotAllowed } from '../middleware/error-handler.js';

/** uiPath is where the dashboard is served. */
export const uiPath = '/ui/hyperfaas/';

/** seriesSecondsOf reads ?seconds= (the length of the per-second series, 0..299, default 120). */
function seriesSecondsOf(v: unknown): number {
  const text = lastValue(v);
  if (text === undefined || text === '') return 120;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 299) throw new HttpError(400, `seconds: must be a whole number from 0 to 299, got ${JSON.stringify(text)}`);
  return n;
}

/** registerHyperfaasRoutes mounts the status API and the dashboard. */
export function registerHyperfaasRoutes(app: Express, ctx: RouteContext, status: StatusService): void {
  const { auth, config } = ctx;
  app.get('/system/hyperfaas/functions', ...auth, async (req, res) => {
    res.status(200).json(await status.functions(namespaceOf(req, config), seriesSecondsOf(req.query.seconds)));
  });
  app.all('/system/hyperfaas/functions', methodNotAllowed);
  app.get('/system/hyperfaas/functions/:name', ...auth, async (req, res) => {
    res.status(200).json(await status.function(namespaceOf(req, config), req.params.name as string, seriesSecondsOf(req.query.seconds)));
  });
  app.all('/system/hyperfaas/functions/:name', methodNotAllowed);

  // The page's assets are relative, so the folder needs its trailing slash.
  // (Express matches /ui/hyperfaas/ here too: only the bare path is redirected.)
  app.get('/ui/hyperfaas', ...auth, (req, res, next) => (req.path.endsWith('/') ? next() : res.redirect(301, uiPath)));
  const statics = { index: 'index.html', fallthrough: true, maxAge: 0, etag: false } as const;
  app.use(uiPath, ...auth, express.static(join(repoRoot, 'ui', 'hyperfaas'), statics));
  app.use(`${uiPath}vendor/`, ...auth, express.static(join(repoRoot, 'node_modules', 'uplot', 'dist'), statics));
}
