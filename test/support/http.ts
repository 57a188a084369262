import { request } from 'node:http';

/** Reply is one buffered HTTP answer. */
export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * httpCall sends one request on a fresh connection (loopback only) and buffers the answer. A fresh connection per
 * request, because a client reusing keep-alive sockets across a provider restart sees resets; the body always goes
 * with its length (Node sends a DELETE body neither chunked nor with a length unless told). Objects go as JSON.
 */
export function httpCall(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  opts: { headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const headers = data === undefined ? { ...opts.headers } : { ...opts.headers, 'content-length': String(Buffer.byteLength(data)) };
    const req = request(`${base}${path}`, { method, agent: false, timeout: opts.timeoutMs ?? 30_000, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${path}`)));
    req.on('error', reject);
    req.end(data);
  });
}

/** eventually polls check until it returns without throwing, or rethrows its last error after timeoutMs. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }
}

/**
 * postStatus POSTs a small body on a fresh connection and resolves to the status code, 0 on a client error or a
 * timeout: load loops count failures instead of throwing.
 */
export function postStatus(base: string, path: string, body = 'hello', timeoutMs = 30_000): Promise<number> {
  return new Promise((resolve) => {
    const req = request(`${base}${path}`, { method: 'POST', agent: false, timeout: timeoutMs, headers: { 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end(body);
  });
}
