import type { Express, Request } from 'express';
import type { PublishedBuilds } from '../../backends/backend.js';
import { HttpError } from '../errors.js';
import { lastValue, type RouteContext } from '../context.js';
import { methodNotAllowed } from '../middleware/error-handler.js';

/** maxUploadBytes bounds one upload as sent (gzipped): a function build without node_modules is far smaller. */
export const maxUploadBytes = 64 * 2 ** 20;

function imageParam(req: Request): string {
  const v = lastValue(req.query.image)?.trim();
  if (!v) throw new HttpError(400, 'image: give the image reference in the query, e.g. PUT /system/images?image=hello:latest');
  return v;
}

/** readUpload buffers a request body up to maxUploadBytes; 413 saying the bound when it is larger. */
function readUpload(req: Request): Promise<Buffer> {
  const tooLarge = () =>
    new HttpError(413, `the upload is larger than ${maxUploadBytes} bytes: publish the build folder without node_modules (dependencies are installed on the provider)`);
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxUploadBytes) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxUploadBytes) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge());
      } else chunks.push(c);
    });
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

/**
 * registerImageRoutes mounts /system/images, where users hand function builds to the provider (`hyperfaas publish`):
 * PUT ?image=<ref> with a bundle of build/<fn>/ as the body stores it under that reference (200 with what was
 * stored), GET lists what is stored, DELETE ?image=<ref> removes one (202). Protected like the other /system routes.
 * A backend that keeps no builds (Kubernetes pulls images from registries) answers 501.
 */
export function registerImageRoutes(app: Express, ctx: RouteContext): void {
  const { backend, auth } = ctx;
  const store = (): PublishedBuilds => {
    if (!backend.published) {
      throw new HttpError(501, `the ${backend.name} backend does not take published builds: push the image to a registry its nodes pull from`);
    }
    return backend.published;
  };
  app.put('/system/images', ...auth, async (req, res) => {
    const image = imageParam(req);
    const s = store();
    const body = await readUpload(req);
    if (body.length === 0) throw new HttpError(400, 'the upload is empty: send a bundle of build/<function>/ (hyperfaas publish makes one)');
    res.status(200).json(await s.put(image, body));
  });
  app.get('/system/images', ...auth, async (_req, res) => {
    res.status(200).json(await store().list());
  });
  app.delete('/system/images', ...auth, async (req, res) => {
    await store().remove(imageParam(req));
    res.status(202).end();
  });
  app.all('/system/images', methodNotAllowed);
}
