/**
 * logs keeps each function's recent log lines in a bounded ring and streams them the way /system/logs wants:
 * the existing lines (filtered by instance and since, cut to tail), then, when following, new lines as they come.
 * Time is passed in (epoch milliseconds with a fraction), so the buffer is tested without clocks.
 */
import type { LogMessage } from '../../types/index.js';

/** LogEntry is one captured line. */
export interface LogEntry {
  /** seq increases by one per line appended to this buffer. */
  seq: number;
  /** at is epoch milliseconds (may carry a sub-millisecond fraction). */
  at: number;
  instance: string;
  text: string;
}

/** LogQuery selects lines: one instance, at or after since (epoch ms), the last tail (<= 0: all). */
export interface LogQuery {
  instance?: string;
  sinceMs?: number;
  tail: number;
}

/** rfc3339Nano formats epoch milliseconds (with fraction) as RFC 3339 with nine fractional digits. */
export function rfc3339Nano(atMs: number): string {
  const whole = Math.floor(atMs);
  const iso = new Date(whole).toISOString(); // 2026-01-02T03:04:05.678Z
  const subMs = Math.min(999_999, Math.max(0, Math.round((atMs - whole) * 1e6)));
  return `${iso.slice(0, 23)}${String(subMs).padStart(6, '0')}Z`;
}

function matches(e: LogEntry, q: LogQuery): boolean {
  if (q.instance && e.instance !== q.instance) return false;
  if (q.sinceMs !== undefined && e.at < q.sinceMs) return false;
  return true;
}

/** LogBuffer is one function's ring of the most recent `capacity` lines, with live subscribers. */
export class LogBuffer {
  private readonly ring: LogEntry[] = [];
  private start = 0;
  private seq = 0;
  private readonly listeners = new Set<(e: LogEntry) => void>();

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError('capacity must be at least 1');
  }

  /** size is how many lines are kept. */
  get size(): number {
    return this.ring.length;
  }

  /** append adds a line (dropping the oldest beyond capacity) and hands it to subscribers. */
  append(instance: string, text: string, atMs: number): LogEntry {
    const e: LogEntry = { seq: ++this.seq, at: atMs, instance, text };
    if (this.ring.length < this.capacity) this.ring.push(e);
    else {
      this.ring[this.start] = e;
      this.start = (this.start + 1) % this.capacity;
    }
    for (const l of this.listeners) l(e);
    return e;
  }

  /** entries returns the kept lines oldest first. */
  entries(): LogEntry[] {
    return [...this.ring.slice(this.start), ...this.ring.slice(0, this.start)];
  }

  /** query returns the kept lines that match, oldest first, cut to the last q.tail when q.tail > 0. */
  query(q: LogQuery): LogEntry[] {
    const hits = this.entries().filter((e) => matches(e, q));
    return q.tail > 0 && hits.length > q.tail ? hits.slice(hits.length - q.tail) : hits;
  }

  /** subscribe calls listener for each new line; returns the unsubscribe function. */
  subscribe(listener: (e: LogEntry) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * stream yields the matching kept lines, then (follow) every new matching line until signal aborts. Lines that
   * arrive while the kept ones are being consumed are neither lost nor repeated (seq orders them).
   */
  async *stream(q: LogQuery, follow: boolean, signal: AbortSignal): AsyncGenerator<LogEntry> {
    const pending: LogEntry[] = [];
    let wake: (() => void) | undefined;
    const unsubscribe = follow
      ? this.subscribe((e) => {
          if (!matches(e, q)) return;
          pending.push(e);
          wake?.();
        })
      : () => undefined;
    const onAbort = () => wake?.();
    signal.addEventListener('abort', onAbort);
    try {
      let last = 0;
      for (const e of this.query(q)) {
        if (signal.aborted) return;
        last = e.seq;
        yield e;
      }
      if (!follow) return;
      while (!signal.aborted) {
        const e = pending.shift();
        if (e) {
          if (e.seq <= last) continue;
          last = e.seq;
          yield e;
          continue;
        }
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      unsubscribe();
      signal.removeEventListener('abort', onAbort);
    }
  }
}

/** toLogMessage shapes an entry as a /system/logs NDJSON line. */
export function toLogMessage(name: string, namespace: string, e: LogEntry): LogMessage {
  return { name, namespace, instance: e.instance, timestamp: rfc3339Nano(e.at), text: e.text };
}

/**
 * LineSplitter turns chunks of a byte stream into lines (without the newline); a line longer than maxLine is cut
 * into pieces so one runaway writer cannot grow memory without bound.
 */
export class LineSplitter {
  private rest = '';
  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLine = 64 * 1024,
  ) {}

  /** push feeds a chunk. */
  push(chunk: Buffer | string): void {
    const text = this.rest + chunk.toString();
    const parts = text.split('\n');
    this.rest = parts.pop() ?? '';
    for (const p of parts) this.onLine(p.endsWith('\r') ? p.slice(0, -1) : p);
    while (this.rest.length > this.maxLine) {
      this.onLine(this.rest.slice(0, this.maxLine));
      this.rest = this.rest.slice(this.maxLine);
    }
  }

  /** end flushes a last line without a newline. */
  end(): void {
    if (this.rest !== '') this.onLine(this.rest);
    this.rest = '';
  }
}

/** formatLogFileLine is how a line is stored in a function's log file: "<RFC 3339 nano> <instance> <text>". */
export function formatLogFileLine(e: LogEntry): string {
  return `${rfc3339Nano(e.at)} ${e.instance} ${e.text}\n`;
}

/** parseLogFileLine reads a stored line back (undefined when it is not one), keeping sub-millisecond time. */
export function parseLogFileLine(line: string): { at: number; instance: string; text: string } | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z (\S+) ?(.*)$/.exec(line);
  if (!m) return undefined;
  const whole = Date.parse(`${m[1]}Z`);
  if (Number.isNaN(whole)) return undefined;
  const frac = m[2] ? Number(`0.${m[2]}`) * 1000 : 0;
  return { at: whole + frac, instance: m[3]!, text: m[4]! };
}
