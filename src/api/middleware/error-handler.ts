import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from '../../logger.js';
import { statusOf } from '../errors.js';

function send(res: Parameters<RequestHandler>[1], status: number, text: string): void {
  res.status(status).type('text/plain').send(text.endsWith('\n') ? text : `${text}\n`);
}

/** notFound answers anything no route matched like Go's mux: 404 "404 page not found". */
export const notFound: RequestHandler = (_req, res) => send(res, 404, '404 page not found');

/** methodNotAllowed answers a known path used with the wrong method: 405. */
export const methodNotAllowed: RequestHandler = (_req, res) => send(res, 405, 'Method Not Allowed');

/** errorHandler is the one error path: known errors get their own status and text, anything else is logged as a 500. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const { status, message, known } = statusOf(err);
    if (!known) logger.error('request failed', { method: req.method, url: req.originalUrl, error: String(err), stack: (err as Error)?.stack });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    send(res, status, message);
  };
}
