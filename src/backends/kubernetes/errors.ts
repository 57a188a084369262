/**
 * errors maps what the Kubernetes API server says to a BackendError kind, in one table (faas-netes
 * ProcessErrorReasons does the same job). Pure: it reads an HTTP code and a body, never a client class.
 */
import { BackendError, type BackendErrorKind } from '../backend.js';

/** kindForStatusCode is the one table: API server HTTP status -> BackendError kind. */
export function kindForStatusCode(code: number): BackendErrorKind {
  if (code === 404) return 'NotFound';
  // 410 Gone is an expired resourceVersion: like 409, the caller raced another writer and may retry.
  if (code === 409 || code === 410) return 'Conflict';
  if (code === 400 || code === 422) return 'Invalid';
  // 401/403 mean the provider's own credentials or RBAC are wrong, 429 and 5xx that the server is busy or down:
  // none of these is the caller's fault, so the caller sees Unavailable (503) with the server's words.
  if (code === 401 || code === 403 || code === 429 || code >= 500) return 'Unavailable';
  if (code >= 400) return 'Invalid';
  return 'Unavailable';
}

/** statusMessage digs the human message out of an API error body: a Status object, its JSON text, or plain text. */
export function statusMessage(body: unknown): string | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') {
    const text = body.trim();
    if (text === '') return undefined;
    try {
      return statusMessage(JSON.parse(text) as unknown) ?? text;
    } catch {
      return text;
    }
  }
  if (typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') {
    return (body as { message: string }).message;
  }
  return undefined;
}

/**
 * toBackendError turns anything a Kubernetes call threw into a BackendError: an API exception (`code` and `body`)
 * by the table above, keeping the API server's message; anything without a status code (refused connection, DNS,
 * TLS, timeout) as Unavailable. `what` says what we were doing, e.g. "create deployment openfaas-fn/figlet".
 */
export function toBackendError(e: unknown, what: string): BackendError {
  if (e instanceof BackendError) return e;
  const code = typeof (e as { code?: unknown })?.code === 'number' ? (e as { code: number }).code : undefined;
  if (code !== undefined && code >= 400) {
    const msg = statusMessage((e as { body?: unknown }).body) ?? `HTTP ${code}`;
    return new BackendError(kindForStatusCode(code), msg, { cause: e });
  }
  const detail = e instanceof Error ? e.message : String(e);
  return new BackendError('Unavailable', `kubernetes API unavailable (${what}): ${detail}`, { cause: e });
}
