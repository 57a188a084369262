/**
 * queue-request is OpenFaaS's QueueRequest (faas-provider types/queue.go) in its exact JSON form, so messages we
 * store can be read by OpenFaaS queue tooling and theirs by us: PascalCase keys, Go's omitempty rules, the body as
 * base64 ([]byte), headers as http.Header (canonical key -> values) and CallbackUrl as a serialised *url.URL object.
 * Pure: no I/O.
 */

/** GoUrl is Go's url.URL as encoding/json writes it (field order kept). User is null without credentials and {} with them (Userinfo has no exported fields). */
export interface GoUrl {
  Scheme: string;
  Opaque: string;
  User: Record<string, never> | null;
  Host: string;
  Path: string;
  RawPath: string;
  OmitHost: boolean;
  ForceQuery: boolean;
  RawQuery: string;
  Fragment: string;
  RawFragment: string;
}

/** QueueRequestJson is the wire shape; optional keys are the ones Go's omitempty drops. */
export interface QueueRequestJson {
  Header?: Record<string, string[]>;
  Host?: string;
  Body?: string;
  Method: string;
  Path?: string;
  QueryString?: string;
  Function: string;
  QueueName?: string;
  Annotations?: Record<string, string>;
  CallbackUrl?: GoUrl;
}

/** QueueRequest is the decoded form the worker uses: the body as bytes, empties filled in. */
export interface QueueRequest {
  header: Record<string, string[]>;
  host: string;
  body: Buffer;
  method: string;
  path: string;
  queryString: string;
  function: string;
  queueName: string;
  annotations: Record<string, string>;
  callbackUrl: GoUrl | null;
}

/** InvalidUrlError is thrown by parseGoUrl for a callback URL we cannot call back. */
export class InvalidUrlError extends Error {
  override readonly name = 'InvalidUrlError';
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;

/** goUnescape is Go's url.unescape: %XX sequences decoded as bytes ('+' stays '+'); a broken escape throws. */
function goUnescape(s: string, what: string): string {
  if (!s.includes('%')) return s;
  if (/%(?![0-9A-Fa-f]{2})/.test(s)) throw new InvalidUrlError(`invalid URL escape in ${what}: ${JSON.stringify(s)}`);
  const bytes: number[] = [];
  for (let i = 0; i < s.length; ) {
    if (s[i] === '%') {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      const cp = s.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      bytes.push(...Buffer.from(ch, 'utf8'));
      i += ch.length;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** goEscape is Go's url.escape for a path (fragment when fragment is true): what EscapedPath/EscapedFragment would produce by default. */
function goEscape(s: string, fragment: boolean): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    const keep =
      /[A-Za-z0-9\-_.~]/.test(c) || '$&+,/:;=@'.includes(c) || (fragment && "?!()*'".includes(c));
    out += keep && b < 0x80 ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/**
 * parseGoUrl parses an absolute http(s) URL the way Go's url.Parse fills url.URL, for X-Callback-Url. It is stricter
 * than Go (a callback must be absolute http or https with a host) and throws InvalidUrlError otherwise.
 */
export function parseGoUrl(raw: string): GoUrl {
  const m = SCHEME.exec(raw);
  if (!m) throw new InvalidUrlError(`X-Callback-Url must be an absolute http(s) URL, got ${JSON.stringify(raw)}`);
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') throw new InvalidUrlError(`X-Callback-Url scheme must be http or https, got ${JSON.stringify(scheme)}`);
  if (/[\s\x00-\x1f\x7f]/.test(raw)) throw new InvalidUrlError('X-Callback-Url contains control characters or spaces');
  let rest = raw.slice(m[0].length);
  let fragment = '';
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    fragment = rest.slice(hash + 1);
    rest = rest.slice(0, hash);
  }
  let rawQuery = '';
  let forceQuery = false;
  const q = rest.indexOf('?');
  if (q >= 0) {
    rawQuery = rest.slice(q + 1);
    forceQuery = rawQuery === '';
    rest = rest.slice(0, q);
  }
  if (!rest.startsWith('//')) throw new InvalidUrlError(`X-Callback-Url needs a host: ${JSON.stringify(raw)}`);
  rest = rest.slice(2);
  const slash = rest.indexOf('/');
  const authority = slash >= 0 ? rest.slice(0, slash) : rest;
  const rawPath = slash >= 0 ? rest.slice(slash) : '';
  const at = authority.lastIndexOf('@');
  const host = at >= 0 ? authority.slice(at + 1) : authority;
  if (host === '') throw new InvalidUrlError(`X-Callback-Url needs a host: ${JSON.stringify(raw)}`);
  try {
    new URL(raw);
  } catch {
    throw new InvalidUrlError(`X-Callback-Url is not a valid URL: ${JSON.stringify(raw)}`);
  }
  const path = goUnescape(rawPath, 'path');
  const frag = goUnescape(fragment, 'fragment');
  return {
    Scheme: scheme,
    Opaque: '',
    User: at >= 0 ? {} : null,
    Host: host,
    Path: path,
    RawPath: goEscape(path, false) === rawPath ? '' : rawPath,
    OmitHost: false,
    ForceQuery: forceQuery,
    RawQuery: rawQuery,
    Fragment: frag,
    RawFragment: goEscape(frag, true) === fragment ? '' : fragment,
  };
}

/** goUrlString is url.URL.String() for the absolute URLs parseGoUrl makes (credentials cannot be recovered). */
export function goUrlString(u: GoUrl): string {
  let s = `${u.Scheme}://${u.Host}`;
  s += u.RawPath !== '' ? u.RawPath : goEscape(u.Path, false);
  if (u.ForceQuery || u.RawQuery !== '') s += `?${u.RawQuery}`;
  if (u.Fragment !== '') s += `#${u.RawFragment !== '' ? u.RawFragment : goEscape(u.Fragment, true)}`;
  return s;
}

/** encodeQueueRequest writes the JSON exactly as Go's encoding/json would for types.QueueRequest (key order and omitempty). */
export function encodeQueueRequest(r: QueueRequest): string {
  const out: Record<string, unknown> = {};
  if (Object.keys(r.header).length > 0) out.Header = r.header;
  if (r.host !== '') out.Host = r.host;
  if (r.body.length > 0) out.Body = r.body.toString('base64');
  out.Method = r.method;
  if (r.path !== '') out.Path = r.path;
  if (r.queryString !== '') out.QueryString = r.queryString;
  out.Function = r.function;
  if (r.queueName !== '') out.QueueName = r.queueName;
  if (Object.keys(r.annotations).length > 0) out.Annotations = r.annotations;
  if (r.callbackUrl) out.CallbackUrl = r.callbackUrl;
  return JSON.stringify(out);
}

/** QueueRequestDecodeError is thrown for a message that is not a QueueRequest; the worker dead-letters it. */
export class QueueRequestDecodeError extends Error {
  override readonly name = 'QueueRequestDecodeError';
}

function isStringMap(v: unknown): v is Record<string, string> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
}

/** decodeQueueRequest parses a stored message leniently (missing keys are Go zero values) and fills defaults. */
export function decodeQueueRequest(data: Uint8Array | string): QueueRequest {
  let j: unknown;
  try {
    j = JSON.parse(typeof data === 'string' ? data : Buffer.from(data).toString('utf8'));
  } catch (e) {
    throw new QueueRequestDecodeError(`message is not JSON: ${(e as Error).message}`);
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new QueueRequestDecodeError('message is not a JSON object');
  const o = j as Partial<Record<keyof QueueRequestJson, unknown>>;
  const str = (k: keyof QueueRequestJson): string => {
    const v = o[k];
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') throw new QueueRequestDecodeError(`${k} must be a string`);
    return v;
  };
  const header: Record<string, string[]> = {};
  if (o.Header !== undefined && o.Header !== null) {
    if (typeof o.Header !== 'object' || Array.isArray(o.Header)) throw new QueueRequestDecodeError('Header must be an object');
    for (const [k, v] of Object.entries(o.Header as Record<string, unknown>)) {
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new QueueRequestDecodeError(`Header ${k} must be a string array`);
      header[k] = v as string[];
    }
  }
  const fn = str('Function');
  if (fn === '') throw new QueueRequestDecodeError('Function is missing');
  let callbackUrl: GoUrl | null = null;
  if (o.CallbackUrl !== undefined && o.CallbackUrl !== null) {
    const c = o.CallbackUrl as Partial<GoUrl>;
    if (typeof c !== 'object' || typeof c.Host !== 'string' || typeof c.Scheme !== 'string') {
      throw new QueueRequestDecodeError('CallbackUrl must be a url.URL object');
    }
    callbackUrl = {
      Scheme: c.Scheme,
      Opaque: c.Opaque ?? '',
      User: c.User ?? null,
      Host: c.Host,
      Path: c.Path ?? '',
      RawPath: c.RawPath ?? '',
      OmitHost: c.OmitHost ?? false,
      ForceQuery: c.ForceQuery ?? false,
      RawQuery: c.RawQuery ?? '',
      Fragment: c.Fragment ?? '',
      RawFragment: c.RawFragment ?? '',
    };
  }
  const annotations = o.Annotations ?? {};
  if (!isStringMap(annotations)) throw new QueueRequestDecodeError('Annotations must map strings to strings');
  return {
    header,
    host: str('Host'),
    body: Buffer.from(str('Body'), 'base64'),
    method: str('Method') || 'POST',
    path: str('Path'),
    queryString: str('QueryString'),
    function: fn,
    queueName: str('QueueName'),
    annotations,
    callbackUrl,
  };
}

/** headerValue returns the first value of a header in a Go-shaped header map, matching the key case-insensitively. */
export function headerValue(header: Record<string, readonly string[]>, key: string): string | undefined {
  const want = key.toLowerCase();
  for (const [k, vs] of Object.entries(header)) if (k.toLowerCase() === want && vs.length > 0) return vs[0];
  return undefined;
}

/** callbackTarget is where the worker POSTs the result: the X-Callback-Url header as sent (keeps credentials), else CallbackUrl. */
export function callbackTarget(r: QueueRequest): string | undefined {
  const h = headerValue(r.header, 'X-Callback-Url');
  if (h) return h;
  return r.callbackUrl ? goUrlString(r.callbackUrl) : undefined;
}
