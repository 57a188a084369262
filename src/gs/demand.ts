import { TimeWindow } from '../scaling/window.js';

/** DemandFigures is what DemandTracker.figures reports for one function over its window. */
export interface DemandFigures {
  windowMs: number;
  /** arrivalRate is requests per second that reached the GS for the function. */
  arrivalRate: number;
  /** bounced is how many requests instances bounced back in the window. */
  bounced: number;
  /** meanServiceMs is the mean time a lease was held (request in a worker), when any ended in the window. */
  meanServiceMs?: number;
  /** waiting is how many requests wait in the GS for an instance right now. */
  waiting: number;
}

interface Entry {
  arrivals: TimeWindow;
  bounces: TimeWindow;
  service: TimeWindow;
  waiting: number;
}

/**
 * DemandTracker counts, per function key ("name.namespace"), what the scaling policies call demand: arrivals,
 * bounces, lease durations and GS-side waiters. Time is passed in; recording is O(1) on the hot path.
 */
export class DemandTracker {
  private readonly entries = new Map<string, Entry>();

  constructor(
    readonly windowMs = 2_000,
    readonly bucketMs = 250,
  ) {}

  private entry(key: string): Entry {
    let e = this.entries.get(key);
    if (!e) {
      e = {
        arrivals: new TimeWindow(this.windowMs, this.bucketMs),
        bounces: new TimeWindow(this.windowMs, this.bucketMs),
        service: new TimeWindow(this.windowMs, this.bucketMs),
        waiting: 0,
      };
      this.entries.set(key, e);
    }
    return e;
  }

  /** arrival records one request for key at nowMs. */
  arrival(key: string, nowMs: number): void {
    this.entry(key).arrivals.record(nowMs, 1);
  }

  /** bounce records one bounced request for key. */
  bounce(key: string, nowMs: number): void {
    this.entry(key).bounces.record(nowMs, 1);
  }

  /** served records how long one request held its lease. */
  served(key: string, nowMs: number, ms: number): void {
    this.entry(key).service.record(nowMs, ms);
  }

  /** waitStart / waitEnd bracket a request waiting in the GS for an instance. */
  waitStart(key: string): void {
    this.entry(key).waiting++;
  }

  waitEnd(key: string): void {
    const e = this.entry(key);
    if (e.waiting > 0) e.waiting--;
  }

  /** figures reads the window for key at nowMs. */
  figures(key: string, nowMs: number): DemandFigures {
    const e = this.entries.get(key);
    if (!e) return { windowMs: this.windowMs, arrivalRate: 0, bounced: 0, waiting: 0 };
    const served = e.service.count(nowMs);
    return {
      windowMs: this.windowMs,
      arrivalRate: e.arrivals.sum(nowMs) / (this.windowMs / 1000),
      bounced: e.bounces.sum(nowMs),
      waiting: e.waiting,
      ...(served > 0 ? { meanServiceMs: e.service.average(nowMs) } : {}),
    };
  }

  /** forget drops a removed function. */
  forget(key: string): void {
    this.entries.delete(key);
  }
}
