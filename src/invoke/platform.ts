/**
 * platform holds the answers the platform gives in place of a function's: their texts (the ones the OpenFaaS
 * gateway and provider use, so clients that match on them keep working), the header that marks them, and the one
 * table from backend error kinds to HTTP status codes.
 */
import type { ServerResponse } from 'node:http';
import type { BackendErrorKind } from '../backends/backend.js';
import type { InvokeResponse } from './invoker.js';

/** internalHeader marks a response the platform produced, not the function (OpenFaaS's X-OpenFaaS-Internal). */
export const internalHeader = 'X-OpenFaaS-Internal';

/**
 * backendErrorStatus is the table from backend error kinds to HTTP status codes. Invalid is 400 rather than 422
 * because faas-cli and the certifier expect 400 for bad input.
 */
export const backendErrorStatus: Readonly<Record<BackendErrorKind, number>> = Object.freeze({
  NotFound: 404,
  Conflict: 409,
  Invalid: 400,
  Unavailable: 503,
});

/** platformText are the messages of platform answers about the function fn ("name.namespace"). */
export const platformText = {
  notFound: (fn: string) => `function not found: ${fn}`,
  noEndpoints: (fn: string) => `No endpoints available for: ${fn}.`,
  timeout: (fn: string) => `Timeout waiting for function: ${fn}.`,
  unreachable: (fn: string) => `Can't reach service for: ${fn}.`,
  failedMidRequest: (fn: string) => `The instance serving ${fn} failed while running the request.`,
} as const;

/** platformResponse builds a buffered plain-text platform answer marked X-OpenFaaS-Internal: proxy. */
export function platformResponse(status: number, text: string): InvokeResponse {
  return {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', [internalHeader.toLowerCase()]: 'proxy' },
    body: Buffer.from(`${text}\n`),
  };
}

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
