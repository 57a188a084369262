import type { Express } from 'express';
import type { ProviderInfo, VersionInfo } from '../../types/index.js';
import type { RouteContext } from '../context.js';
import { methodNotAllowed } from '../middleware/error-handler.js';

/** providerName is what /system/info reports; never "faasd", which makes the certifier skip tests. */
export const providerName = 'hyperfaas';

/**
 * wantsGatewayShape tells faas-cli talking straight to the provider from everyone else. faas-cli reads /system/info
 * in the gateway's shape ({provider: ProviderInfo, version, arch}) and fails on the provider's own shape, while the
 * gateway reads the provider's shape and fails on its own. The gateway forwards the client's User-Agent but always
 * adds X-Forwarded-For, so a faas-cli User-Agent without X-Forwarded-For is faas-cli with no gateway in between.
 */
export function wantsGatewayShape(h: { 'user-agent'?: string; 'x-forwarded-for'?: string | string[]; 'x-forwarded-host'?: string | string[] }): boolean {
  return (h['user-agent'] ?? '').startsWith('faas-cli/') && h['x-forwarded-for'] === undefined && h['x-forwarded-host'] === undefined;
}

/** registerInfoRoutes mounts GET /system/info: provider, orchestration and a non-empty version.sha/release. */
export function registerInfoRoutes(app: Express, ctx: RouteContext, version: VersionInfo): void {
  // isolation is ours (the gateway and faas-cli decode ProviderInfo and ignore it): how instances are confined,
  // e.g. runc containers or the process fallback, with the reason for every missing measure.
  const info: ProviderInfo & { isolation?: object } = {
    provider: providerName,
    orchestration: ctx.backend.orchestration,
    ...(ctx.backend.isolation ? { isolation: ctx.backend.isolation } : {}),
    version: {
      sha: version.sha || 'unknown',
      release: version.release || 'unknown',
      ...(version.commit_message ? { commit_message: version.commit_message } : {}),
    },
  };
  const asGateway = { provider: info, version: info.version, arch: process.arch === 'x64' ? 'x86_64' : process.arch };
  app.get('/system/info', ...ctx.auth, (req, res) => {
    res.status(200).json(wantsGatewayShape(req.headers) ? asGateway : info);
  });
  app.all('/system/info', methodNotAllowed);
}
