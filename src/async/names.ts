/** names: subject tokens and async URLs, shared by the async handler and worker. Pure. */

const SUBJECT_TOKEN = /^[A-Za-z0-9_-]+$/;

/** isSubjectToken is true when s can be one NATS subject token (no dots, wildcards, spaces); function names always can. */
export function isSubjectToken(s: string): boolean {
  return SUBJECT_TOKEN.test(s);
}

/** subjectToken makes any string safe as one subject token (for messages written by other tools). */
export function subjectToken(s: string): string {
  const t = s.replace(/[^A-Za-z0-9_-]/g, '_');
  return t === '' ? '_' : t;
}

/**
 * splitAsyncUrl takes the raw request URL and returns the raw name segment, what follows /async-function/<name>
 * (path, "" when nothing) and the raw query.
 */
export function splitAsyncUrl(originalUrl: string): { name: string; path: string; query: string } {
  const q = originalUrl.indexOf('?');
  const pathname = q >= 0 ? originalUrl.slice(0, q) : originalUrl;
  const query = q >= 0 ? originalUrl.slice(q + 1) : '';
  const marker = '/async-function/';
  const i = pathname.indexOf(marker);
  const after = i >= 0 ? pathname.slice(i + marker.length) : '';
  const slash = after.indexOf('/');
  return { name: slash >= 0 ? after.slice(0, slash) : after, path: slash >= 0 ? after.slice(slash) : '', query };
}
