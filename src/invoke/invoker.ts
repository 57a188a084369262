/** InvokeRequest is one buffered invocation, as the async queue worker and the GS's bounce handler make them. */
export interface InvokeRequest {
  namespace: string;
  name: string;
  method: string;
  /** path is what follows /function/<name>, starting with "/" ("/" when empty). */
  path: string;
  /** query is the raw query string without "?" ("" when none). */
  query: string;
  headers: Record<string, string | string[]>;
  body: Buffer;
  signal?: AbortSignal;
  /** timeoutMs bounds the whole invocation, cold start included. */
  timeoutMs?: number;
  /** avoidInstances are instance ids not to pick (e.g. the one that bounced the request), unless nothing else exists. */
  avoidInstances?: string[];
}

/** InvokeResponse is the function's (or the platform's) complete answer. */
export interface InvokeResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

/**
 * Invoker runs one invocation through the global scheduler, exactly like /function/<name> would.
 * It rejects with a BackendError NotFound for an unknown function; platform failures come back as 5xx responses
 * carrying X-OpenFaaS-Internal.
 */
export interface Invoker {
  invoke(req: InvokeRequest): Promise<InvokeResponse>;
}
