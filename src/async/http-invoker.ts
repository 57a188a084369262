import { request } from 'undici';
import { BackendError } from '../backends/backend.js';
import type { InvokeRequest, InvokeResponse, Invoker } from '../invoke/invoker.js';
import { functionKey } from '../names.js';

/** HttpInvoker is an Invoker over plain HTTP: urlFor gives a function's base URL (undefined = unknown function -> NotFound). */
export class HttpInvoker implements Invoker {
  constructor(private readonly urlFor: (namespace: string, name: string) => string | undefined) {}

  /** invoke sends the request to urlFor(...) + path + query and buffers the answer; connection errors reject. */
  async invoke(req: InvokeRequest): Promise<InvokeResponse> {
    const base = this.urlFor(req.namespace, req.name);
    if (base === undefined) throw new BackendError('NotFound', `function ${functionKey(req.name, req.namespace)} not found`);
    const url = base + (req.path.startsWith('/') ? req.path : `/${req.path}`) + (req.query ? `?${req.query}` : '');
    const r = await request(url, {
      method: req.method as 'POST',
      headers: req.headers,
      body: req.body.length > 0 ? req.body : undefined,
      signal: req.signal,
      ...(req.timeoutMs ? { headersTimeout: req.timeoutMs, bodyTimeout: req.timeoutMs } : {}),
    });
    const body = Buffer.from(await r.body.arrayBuffer());
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(r.headers)) if (v !== undefined) headers[k] = v;
    return { status: r.statusCode, headers, body };
  }
}

/** providerFunctionUrl maps a function to the provider's (or gateway's) /function/<name>.<namespace> base URL. */
export function providerFunctionUrl(providerUrl: string): (namespace: string, name: string) => string {
  const base = providerUrl.replace(/\/+$/, '');
  return (namespace, name) => `${base}/function/${encodeURIComponent(name)}.${encodeURIComponent(namespace)}`;
}
