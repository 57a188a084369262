import type { Express, Request } from 'express';
import { HttpError } from '../errors.js';
import { bodyObject, namespaceOf, type RouteContext } from '../context.js';
import { methodNotAllowed } from '../middleware/error-handler.js';
import { secretNameProblem } from '../../names.js';

const base64Re = /^[A-Za-z0-9+/]*={0,2}$/;

/** secretValue decodes a Secret body's value: rawValue (base64, Go []byte) wins over value when both are present. */
export function secretValue(body: Record<string, unknown>): Buffer {
  const raw = body.rawValue;
  if (raw !== undefined && raw !== null && raw !== '') {
    if (typeof raw !== 'string') throw new HttpError(400, 'rawValue: must be a base64 string');
    const compact = raw.replace(/\s+/g, '');
    if (!base64Re.test(compact) || compact.length % 4 === 1) throw new HttpError(400, 'rawValue: is not valid base64');
    return Buffer.from(compact, 'base64');
  }
  const value = body.value;
  if (value === undefined || value === null) return Buffer.alloc(0);
  if (typeof value !== 'string') throw new HttpError(400, 'value: must be a string');
  return Buffer.from(value, 'utf8');
}

function secretName(req: Request): { name: string; body: Record<string, unknown> } {
  const body = bodyObject(req, 'a Secret like {"name":"s","value":"v"}');
  const problem = secretNameProblem(body.name);
  if (problem) throw new HttpError(400, `name: ${problem}`);
  return { name: body.name as string, body };
}

/**
 * registerSecretRoutes mounts /system/secrets: GET lists names (values are never returned), POST creates (409 when
 * it exists, so faas-cli's --replace falls back to PUT), PUT updates (404 when missing), DELETE removes. 202 on success.
 */
export function registerSecretRoutes(app: Express, ctx: RouteContext): void {
  const { backend, config, auth, json } = ctx;
  app.get('/system/secrets', ...auth, async (req, res) => {
    const list = await backend.listSecrets(namespaceOf(req, config));
    res.status(200).json(list.map((s) => ({ name: s.name, namespace: s.namespace })));
  });
  app.post('/system/secrets', ...auth, json, async (req, res) => {
    const { name, body } = secretName(req);
    const value = secretValue(body);
    await backend.createSecret(namespaceOf(req, config), name, value);
    res.status(202).end();
  });
  app.put('/system/secrets', ...auth, json, async (req, res) => {
    const { name, body } = secretName(req);
    const value = secretValue(body);
    await backend.updateSecret(namespaceOf(req, config), name, value);
    res.status(202).end();
  });
  app.delete('/system/secrets', ...auth, json, async (req, res) => {
    const { name } = secretName(req);
    await backend.deleteSecret(namespaceOf(req, config), name);
    res.status(202).end();
  });
  app.all('/system/secrets', methodNotAllowed);
}
