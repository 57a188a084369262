/**
 * window is a time-bucketed sliding window for per-tick figures (arrivals, CPU, in-flight). Values are recorded into
 * buckets of `bucketMs`; a bucket older than `windowMs` no longer counts. Time is passed in, so a test can replay a
 * timeline without a clock.
 *
 * Worked example (windowMs 10_000, bucketMs 1_000): record(0, 4), record(500, 6), record(9_500, 2):
 * sum(9_999) = 12, count = 3, average = 4, max = 6; at now = 10_000 the bucket [0, 1000) has left the window,
 * so sum(10_000) = 2 and max(10_000) = 2.
 */
export class TimeWindow {
  private readonly buckets: Array<{ start: number; sum: number; count: number; max: number }> = [];

  /** constructor: windowMs > 0 and bucketMs in (0, windowMs]; windowMs should be a multiple of bucketMs. */
  constructor(
    readonly windowMs: number,
    readonly bucketMs = Math.max(1, Math.min(1000, windowMs)),
  ) {
    if (!(windowMs > 0) || !(bucketMs > 0) || bucketMs > windowMs) {
      throw new RangeError(`TimeWindow(windowMs = ${windowMs}, bucketMs = ${bucketMs}): need 0 < bucketMs <= windowMs`);
    }
  }

  private bucketStart(nowMs: number): number {
    return Math.floor(nowMs / this.bucketMs) * this.bucketMs;
  }

  private live(nowMs: number): Array<{ start: number; sum: number; count: number; max: number }> {
    // A bucket counts while its start is within (now - window, now]; the current bucket always counts.
    const oldest = this.bucketStart(nowMs) - this.windowMs + this.bucketMs;
    while (this.buckets.length && this.buckets[0]!.start < oldest) this.buckets.shift();
    return this.buckets.filter((b) => b.start <= nowMs);
  }

  /** record adds value v at time nowMs. Times should not go backwards; an older time joins the newest bucket. */
  record(nowMs: number, v: number): void {
    const start = this.bucketStart(nowMs);
    const last = this.buckets[this.buckets.length - 1];
    if (last && last.start >= start) {
      last.sum += v;
      last.count += 1;
      last.max = Math.max(last.max, v);
    } else {
      this.buckets.push({ start, sum: v, count: 1, max: v });
    }
    this.live(nowMs);
  }

  /** sum is the total of the values recorded inside the window at nowMs (0 when empty). */
  sum(nowMs: number): number {
    return this.live(nowMs).reduce((a, b) => a + b.sum, 0);
  }

  /** count is how many values were recorded inside the window at nowMs. */
  count(nowMs: number): number {
    return this.live(nowMs).reduce((a, b) => a + b.count, 0);
  }

  /** average is the mean of the values recorded inside the window (0 when empty). */
  average(nowMs: number): number {
    const c = this.count(nowMs);
    return c === 0 ? 0 : this.sum(nowMs) / c;
  }

  /** max is the largest value recorded inside the window (0 when empty). */
  max(nowMs: number): number {
    const live = this.live(nowMs);
    return live.length === 0 ? 0 : Math.max(...live.map((b) => b.max));
  }

  /** rate is the sum per second over the whole window, e.g. arrivals/s when each arrival records 1. */
  rate(nowMs: number): number {
    return (this.sum(nowMs) * 1000) / this.windowMs;
  }
}
