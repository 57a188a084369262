import type { ServerResponse } from 'node:http';
import { isBackendError, type BackendErrorKind } from '../backends/backend.js';

/** HttpError is an error that already knows its status; the error handler sends its message as plain text. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * backendErrorStatus is THE table from backend error kinds to HTTP status codes (faas-netes' ProcessErrorReasons
 * plays the same role). Invalid is 400 rather than 422 because faas-cli and the certifier expect 400 for bad input.
 */
export const backendErrorStatus: Readonly<Record<BackendErrorKind, number>> = Object.freeze({
  NotFound: 404,
  Conflict: 409,
  Invalid: 400,
  Unavailable: 503,
});

/** statusOf returns the status an error should be answered with and whether it is expected (known) or a bug. */
export function statusOf(err: unknown): { status: number; message: string; known: boolean } {
  if (err instanceof HttpError) return { status: err.status, message: err.message, known: true };
  if (isBackendError(err)) return { status: backendErrorStatus[err.kind], message: err.message, known: true };
  // body-parser errors carry their own 4xx status and a type such as entity.parse.failed.
  const e = err as { status?: unknown; type?: unknown; message?: unknown } | null;
  if (e && typeof e.status === 'number' && e.status >= 400 && e.status < 500 && typeof e.type === 'string') {
    const message = e.type === 'entity.parse.failed' ? `invalid JSON body: ${String(e.message)}` : String(e.message);
    return { status: e.status, message, known: true };
  }
  return { status: 500, message: 'internal error', known: false };
}

/** internalHeader marks a response the platform produced, not the function (OpenFaaS's X-OpenFaaS-Internal). */
export const internalHeader = 'X-OpenFaaS-Internal';

/**
 * sendText answers with a plain-text body ending in a newline, like Go's http.Error, on a bare node response.
 * extra headers are added (e.g. X-OpenFaaS-Internal: proxy).
 */
export function sendText(res: ServerResponse, status: number, message: string, extra?: Record<string, string>): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = message.endsWith('\n') ? message : `${message}\n`;
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  if (extra) for (const k of Object.keys(extra)) res.setHeader(k, extra[k]!);
  res.end(body);
}
