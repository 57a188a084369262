/**
 * context is what every route module receives: the backend, the configuration, the auth guard and the body parser,
 * plus the namespace rule shared by every route.
 */
import express, { type Request, type RequestHandler } from 'express';
import type { FunctionBackend } from '../backends/backend.js';
import type { ProviderConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { FunctionStatus } from '../types/index.js';
import { HttpError } from './errors.js';
import { jsonDepth, maxJsonDepth } from './validate.js';

/** RouteContext is shared by the route modules. */
export interface RouteContext {
  backend: FunctionBackend;
  config: ProviderConfig;
  logger: Logger;
  /** auth is the basic-auth guard when basic_auth=true, else a no-op; spread it into protected routes. */
  auth: RequestHandler[];
  /** json parses a JSON body whatever its Content-Type (the gateway's scale POST has none), chunked or not. */
  json: RequestHandler;
  /** invocationCount returns the invocations this provider counted for "name.namespace" (0 without metrics). */
  invocationCount: (fn: string) => number;
}

/**
 * lenientJson builds the body parser the /system routes use. Nesting deeper than maxJsonDepth is refused with 400
 * before parsing: such a body is never a valid request, and whatever walks it afterwards would run out of stack.
 */
export function lenientJson(limitBytes: number): RequestHandler {
  return express.json({
    type: () => true,
    limit: limitBytes,
    strict: false,
    verify: (_req, _res, buf) => {
      const depth = jsonDepth(buf, maxJsonDepth);
      if (depth > maxJsonDepth) {
        // body-parser keeps this status and type; statusOf (errors.ts) sends the message as a 400.
        throw Object.assign(new Error(`JSON nests more than ${maxJsonDepth} levels deep; at most ${maxJsonDepth} are allowed`), {
          status: 400,
          type: 'entity.too.deep',
        });
      }
    },
  });
}

/** lastValue returns the last value of a repeated query parameter (the contract: the last one wins). */
export function lastValue(v: unknown): string | undefined {
  if (Array.isArray(v)) return lastValue(v[v.length - 1]);
  return typeof v === 'string' ? v : undefined;
}

/** bodyObject returns the parsed JSON body as an object ({} when there was none); 400 when it is not an object. */
export function bodyObject(req: Request, what: string): Record<string, unknown> {
  const b: unknown = req.body;
  if (b === undefined || b === null || b === '') return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw new HttpError(400, `body: must be a JSON object (${what})`);
  return b as Record<string, unknown>;
}

/**
 * namespaceOf applies the one namespace rule of every route: body.namespace || query.namespace || the default.
 * An empty value means the default (the gateway sends ?namespace=). Unknown namespaces get 400 naming the valid ones.
 */
export function namespaceOf(req: Request, config: ProviderConfig): string {
  const b: unknown = req.body;
  const fromBody =
    b && typeof b === 'object' && !Array.isArray(b) ? (b as { namespace?: unknown }).namespace : undefined;
  const ns =
    (typeof fromBody === 'string' && fromBody !== '' ? fromBody : undefined) ??
    (lastValue(req.query.namespace) || undefined) ??
    config.defaultNamespace;
  if (!config.namespaces.includes(ns)) {
    throw new HttpError(400, `namespace "${ns}" is not allowed; valid namespaces: ${config.namespaces.join(', ')}`);
  }
  return ns;
}

/** normalizeStatus guarantees what clients dereference: labels and annotations objects and an RFC 3339 createdAt. */
export function normalizeStatus(s: FunctionStatus): FunctionStatus {
  if (s.labels && s.annotations && s.createdAt) return s;
  return {
    ...s,
    labels: s.labels ?? {},
    annotations: s.annotations ?? {},
    createdAt: s.createdAt || '0001-01-01T00:00:00Z',
  };
}
