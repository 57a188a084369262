import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Counter } from 'prom-client';
import { subjects, type LoadReport } from '@hyperfaas/watchdog/protocol';
import type { Logger } from '../../logger.js';
import { ReportView, type ApplyResult } from '../report-view.js';

/** ReportTarget is the part of the GS's instance view that reports feed: mark instances that must not get new work. */
export interface ReportTarget {
  /** known tells whether the backend knows this instance. */
  known(instanceId: string): boolean;
  /** setBlocked marks an instance as over its high watermark or draining (placement then avoids it). */
  setBlocked(instanceId: string, blocked: boolean): void;
}

/** ReportSubscriberOptions configure the GS's report intake. */
export interface ReportSubscriberOptions {
  nc: NatsConnection;
  target: ReportTarget;
  logger: Logger;
  view?: ReportView;
  /** evictEveryMs: how often instances that stopped reporting are dropped from the view. */
  evictEveryMs?: number;
  reports?: Counter<'result'>;
  now?: () => number;
  /** onReport hears every accepted report (e.g. the autoscaler's observations). */
  onReport?: (r: LoadReport, result: ApplyResult) => void;
}

/** reportMatchesSubject tells whether a report came on the subject of the namespace, function and instance it names. */
export function reportMatchesSubject(r: LoadReport, subject: string): boolean {
  if (!r || typeof r !== 'object') return false;
  const { namespace, function: fn, instance } = r as Partial<LoadReport>;
  if (typeof namespace !== 'string' || typeof fn !== 'string' || typeof instance !== 'string') return false;
  return subject === subjects.report(namespace, fn || 'unknown', instance);
}

/**
 * startReportSubscriber feeds load reports from every ICS into a ReportView and mirrors each instance's watermark
 * state onto the GS's placement candidates: an instance that reports "high" or draining is blocked until it
 * reports otherwise or stops reporting (then the backend's view alone decides).
 */
export function startReportSubscriber(o: ReportSubscriberOptions): { view: ReportView; stop(): void } {
  const view = o.view ?? new ReportView();
  const now = o.now ?? Date.now;
  const log = o.logger.child({ component: 'reports' });
  const sub: Subscription = o.nc.subscribe(subjects.reportsAll, {
    callback: (err, msg) => {
      if (err) return;
      let r: LoadReport;
      try {
        r = msg.json<LoadReport>();
      } catch {
        o.reports?.inc({ result: 'malformed' });
        return;
      }
      // Each instance may publish only on its own subject (NATS permissions): a report naming another instance or
      // function than its subject says is forged, whatever its content.
      if (!reportMatchesSubject(r, msg.subject)) {
        o.reports?.inc({ result: 'forged' });
        log.debug('report dropped: subject does not match its body', { subject: msg.subject, instance: r?.instance });
        return;
      }
      const result = view.apply(r, now(), (id) => o.target.known(id));
      o.reports?.inc({ result });
      if (result === 'accepted' || result === 'watermark-changed') {
        o.target.setBlocked(r.instance, r.watermark === 'high' || r.draining);
        if (result === 'watermark-changed') log.debug('watermark changed', { instance: r.instance, watermark: r.watermark });
        o.onReport?.(r, result);
      }
    },
  });
  const timer = setInterval(() => {
    for (const id of view.evict(now())) {
      o.target.setBlocked(id, false);
      log.debug('instance stopped reporting', { instance: id });
    }
  }, o.evictEveryMs ?? 1_000);
  timer.unref();
  return {
    view,
    stop() {
      clearInterval(timer);
      sub.unsubscribe();
    },
  };
}
