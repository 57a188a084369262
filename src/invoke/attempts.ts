/**
 * attempts is the one rule for where a request runs after the instance it was offered to refused it: a 429 (the
 * instance is full and did not run it) or a connection that never reached the function goes to another instance
 * not yet tried, up to maxAttempts offers in all. The streaming proxy and the buffered invoker both follow it.
 */

/** maxAttempts bounds how many instances one request is offered to. */
export const maxAttempts = 3;

/** RerouteReason: the instance answered 429 (full), or could not be reached before it took the request. */
export type RerouteReason = 'full' | 'unreachable';

/** LeaseLike is what the rule needs of a lease: which instance it holds. */
export interface LeaseLike {
  readonly instance: { readonly id: string };
  release(): void;
}

/** LeaseSource is the part of the global scheduler the rule asks for another instance. */
export interface LeaseSource<L extends LeaseLike> {
  /** tryAcquire leases a ready instance not in exclude at once, or returns null. */
  tryAcquire(namespace: string, name: string, exclude?: ReadonlySet<string>): L | null;
  /** rerouted counts one request sent to another instance. */
  rerouted(reason: RerouteReason): void;
}

/** isRetryableConnectError is true when the request certainly never reached the function (safe to send elsewhere). */
export function isRetryableConnectError(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE';
}

/** upstreamErrorStatus maps an undici failure to the platform status: 504 for timeouts, else 502 (unreachable). */
export function upstreamErrorStatus(err: unknown): 502 | 504 {
  const code = (err as { code?: string } | null)?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT'
    ? 504
    : 502;
}

/**
 * Attempts follows one request across the instances it is offered to. Call offered() with each lease the request
 * is sent on, and another() when that instance refused it: it leases an instance not yet tried (nor avoided), counts
 * the reroute, and returns null when attempts ran out or no other instance is ready. The caller releases the refused
 * lease itself. The set of tried instances is built only when a request is refused, so the common path allocates
 * nothing but this object.
 */
export class Attempts<L extends LeaseLike> {
  private count = 0;
  private current: L | null = null;
  private tried: Set<string> | null;

  constructor(
    private readonly source: LeaseSource<L>,
    private readonly namespace: string,
    private readonly name: string,
    avoid?: ReadonlySet<string>,
  ) {
    this.tried = avoid && avoid.size > 0 ? new Set(avoid) : null;
  }

  /** offered records that the request is being sent on lease. */
  offered(lease: L): void {
    this.count++;
    this.current = lease;
  }

  /** another returns a lease on an instance not yet tried, or null when none is ready or attempts ran out. */
  another(reason: RerouteReason): L | null {
    if (this.count >= maxAttempts) return null;
    const tried = (this.tried ??= new Set());
    if (this.current) tried.add(this.current.instance.id);
    const next = this.source.tryAcquire(this.namespace, this.name, tried);
    if (next) this.source.rerouted(reason);
    return next;
  }
}
