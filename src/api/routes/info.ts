import type { Express } from 'express';
import type { ProviderInfo, VersionInfo } from '../../types/index.js';
import type { RouteContext } from '../context.js';
import { methodNotAllowed } from '../middleware/error-handler.js';

/** providerName is what /system/info reports; never "faasd", which makes the certifier skip tests. */
export const providerName = 'hyperfaas';

/** registerInfoRoutes mounts GET /system/info: provider, orchestration and a non-empty version.sha/release. */
export function registerInfoRoutes(app: Express, ctx: RouteContext, version: VersionInfo): void {
  const info: ProviderInfo = {
    provider: providerName,
    orchestration: ctx.backend.orchestration,
    version: {
      sha: version.sha || 'unknown',
      release: version.release || 'unknown',
      ...(version.commit_message ? { commit_message: version.commit_message } : {}),
    },
  };
  app.get('/system/info', ...ctx.auth, (_req, res) => {
    res.status(200).json(info);
  });
  app.all('/system/info', methodNotAllowed);
}
