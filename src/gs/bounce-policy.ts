/**
 * bounce-policy decides whether a request an instance bounced back should be re-run on another instance: yes when
 * another instance has room (ready, routable, below its high watermark), or when every instance is over its
 * watermark but another one has a clearly shorter queue, so traffic that reaches one instance directly does not all
 * queue there while others drain. Otherwise the bounce is refused at once and the instance keeps the request in its
 * own queue: hopping to another full instance costs two more hops and a NATS round trip per request.
 */
import type { GlobalScheduler } from './global-scheduler.js';
import type { ReportView } from './report-view.js';

/** BounceRoom answers the bounce responder: may this function's request, bounced by avoid[0], run elsewhere now? */
export type BounceRoom = (namespace: string, name: string, avoid: readonly string[]) => boolean;

/** queuedAt is how many requests wait in an instance's ICS, from its fresh load report (undefined without one). */
function queuedAt(reports: ReportView, id: string, nowMs: number): number | undefined {
  const r = reports.get(id, nowMs);
  return r ? (r.queued ?? 0) : undefined;
}

/**
 * busierMargin: a bounce goes to a less busy instance only when the bouncer has at least one slot-full more queued
 * (its home capacity, at least 2): under GS-balanced load queues differ by less, and bouncing would only add hops.
 */
function busierMargin(reports: ReportView, id: string, nowMs: number): number {
  return Math.max(2, reports.get(id, nowMs)?.slots.find((s) => s.kind === 'home')?.capacity ?? 0);
}

/** bounceRoom builds the rule over the scheduler's view and the instances' load reports. */
export function bounceRoom(scheduler: GlobalScheduler, reports: ReportView, now: () => number = Date.now): BounceRoom {
  return (namespace, name, avoid) => {
    if (scheduler.hasRoom(namespace, name, new Set(avoid))) return true;
    const from = avoid[0];
    if (from === undefined) return false;
    const nowMs = now();
    return scheduler.lessBusyThan(namespace, name, from, (id) => queuedAt(reports, id, nowMs), busierMargin(reports, from, nowMs));
  };
}
