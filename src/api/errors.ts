import { isBackendError } from '../backends/backend.js';
import { backendErrorStatus } from '../invoke/platform.js';

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
