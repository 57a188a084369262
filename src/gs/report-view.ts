import type { LoadReport } from '@hyperfaas/watchdog/protocol';

/** ReportEntry is the latest accepted report of one instance and when the GS received it. */
export interface ReportEntry {
  report: LoadReport;
  receivedAt: number;
}

/** ApplyResult says what ReportView.apply did with a report, for metrics and debug logs. */
export type ApplyResult = 'accepted' | 'unknown-instance' | 'out-of-order' | 'stale' | 'watermark-changed';

/**
 * ReportView is the global scheduler's soft state built from the watchdogs' load reports. Pure: time is passed in.
 * A report is dropped when its instance is unknown to the backend, when it is older (seq) than the one held, or when
 * it was sent more than staleMs ago; an instance that stops reporting for staleMs leaves the view (evict).
 */
export class ReportView {
  private readonly entries = new Map<string, ReportEntry>();

  constructor(readonly staleMs = 3_000) {}

  /** apply takes one report; known tells whether the backend knows the instance id. */
  apply(r: LoadReport, nowMs: number, known: (instanceId: string) => boolean): ApplyResult {
    if (!known(r.instance)) return 'unknown-instance';
    if (nowMs - r.at > this.staleMs) return 'stale';
    const prev = this.entries.get(r.instance);
    if (prev && r.seq <= prev.report.seq && r.at <= prev.report.at) return 'out-of-order';
    this.entries.set(r.instance, { report: r, receivedAt: nowMs });
    return prev && prev.report.watermark !== r.watermark ? 'watermark-changed' : 'accepted';
  }

  /** evict drops instances whose last report is older than staleMs and returns their ids. */
  evict(nowMs: number): string[] {
    const gone: string[] = [];
    for (const [id, e] of this.entries) {
      if (nowMs - e.receivedAt > this.staleMs) {
        this.entries.delete(id);
        gone.push(id);
      }
    }
    return gone;
  }

  /** forget removes one instance (the backend said it is gone). */
  forget(instanceId: string): void {
    this.entries.delete(instanceId);
  }

  /** get returns the latest report of an instance, if it is fresh at nowMs. */
  get(instanceId: string, nowMs: number): LoadReport | undefined {
    const e = this.entries.get(instanceId);
    if (!e || nowMs - e.receivedAt > this.staleMs) return undefined;
    return e.report;
  }

  /** overHigh is true when the instance's fresh report says it is at or over its high watermark. */
  overHigh(instanceId: string, nowMs: number): boolean {
    return this.get(instanceId, nowMs)?.watermark === 'high';
  }

  /** all returns every fresh report. */
  all(nowMs: number): LoadReport[] {
    const out: LoadReport[] = [];
    for (const e of this.entries.values()) if (nowMs - e.receivedAt <= this.staleMs) out.push(e.report);
    return out;
  }

  /** size is how many instances the view holds (fresh or not yet evicted). */
  get size(): number {
    return this.entries.size;
  }
}
