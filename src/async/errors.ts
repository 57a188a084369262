/** errors: the async path's error kinds and the one table that turns them into HTTP statuses. */

/** AsyncErrorKind is what went wrong with an /async-function request. */
export type AsyncErrorKind = 'MethodNotAllowed' | 'NotFound' | 'BadCallback' | 'TooLarge' | 'Unavailable';

/** AsyncError carries a kind (mapped by statusForAsyncError) and a message shown to the client verbatim. */
export class AsyncError extends Error {
  override readonly name = 'AsyncError';
  constructor(
    readonly kind: AsyncErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const table: Record<AsyncErrorKind, number> = {
  MethodNotAllowed: 405,
  NotFound: 404,
  BadCallback: 400,
  TooLarge: 413,
  Unavailable: 503,
};

/** statusForAsyncError maps an AsyncError to its status; anything else is a 500. */
export function statusForAsyncError(e: unknown): number {
  return e instanceof AsyncError ? table[e.kind] : 500;
}
