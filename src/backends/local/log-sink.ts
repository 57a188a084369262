/**
 * log-sink records each function's log: every line goes to the function's in-memory ring (logs.ts) and is appended
 * to its file under <data>/logs (one rotated copy at LOG_FILE_MAX), from which the ring is refilled after a restart.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../logger.js';
import { parseFunctionKey } from '../../names.js';
import { formatLogFileLine, LogBuffer, parseLogFileLine, type LogEntry, type LogQuery } from './logs.js';

const LOG_FILE_MAX = 8 * 1024 * 1024;
/** RESTORE_MAX bounds how much of a log file is read back at start: enough for the ring, whatever the file grew to. */
const RESTORE_MAX = 4 * 1024 * 1024;

/** LogSink holds the rings and files of every function, keyed by function key ("name.namespace"). */
export class LogSink {
  private readonly buffers = new Map<string, LogBuffer>();
  private readonly files = new Map<string, { stream: WriteStream; size: number; path: string }>();

  constructor(
    private readonly dir: string,
    private readonly lines: number,
    private readonly logger: Logger,
  ) {}

  private buffer(key: string): LogBuffer {
    let b = this.buffers.get(key);
    if (!b) this.buffers.set(key, (b = new LogBuffer(this.lines)));
    return b;
  }

  /** path is the function's log file, named "<namespace>__<name>.log" (a name with no dot, so files sort by namespace). */
  private path(key: string): string {
    const { name, namespace } = parseFunctionKey(key, '');
    return join(this.dir, `${namespace}__${name}.log`);
  }

  /** line records one line of a function's log. */
  line(key: string, instance: string, text: string): void {
    const at = performance.timeOrigin + performance.now();
    const e = this.buffer(key).append(instance, text, at);
    let lf = this.files.get(key);
    if (!lf) {
      const path = this.path(key);
      lf = { stream: createWriteStream(path, { flags: 'a', mode: 0o600 }), size: 0, path };
      lf.stream.on('error', (err) => this.logger.warn(`log file ${path}: ${err.message}`));
      this.files.set(key, lf);
    }
    const line = formatLogFileLine(e);
    lf.size += line.length;
    lf.stream.write(line);
    if (lf.size > LOG_FILE_MAX) {
      // Keep one previous file: bounded on disk like the ring is in memory.
      const old = lf;
      this.files.delete(key);
      old.stream.end(() => void rename(old.path, `${old.path}.1`).catch(() => undefined));
    }
  }

  /** stream yields a function's lines as LogBuffer.stream does. */
  stream(key: string, q: LogQuery, follow: boolean, signal: AbortSignal): AsyncIterable<LogEntry> {
    return this.buffer(key).stream(q, follow, signal);
  }

  /** restore refills a function's ring from the tail of its log file, so logs outlive a restart. */
  async restore(key: string): Promise<void> {
    let text: string;
    try {
      const path = this.path(key);
      const size = (await stat(path)).size;
      const fh = await open(path, 'r');
      try {
        const len = Math.min(size, RESTORE_MAX);
        const buf = Buffer.alloc(len);
        await fh.read(buf, 0, len, size - len);
        text = buf.toString();
      } finally {
        await fh.close();
      }
    } catch {
      return;
    }
    const lines = text.split('\n');
    const buf = this.buffer(key);
    for (const l of lines.slice(Math.max(0, lines.length - this.lines - 1))) {
      const e = parseLogFileLine(l);
      if (e) buf.append(e.instance, e.text, e.at);
    }
  }

  /** drop forgets a removed function's log: ring, open file and the file itself. */
  async drop(key: string): Promise<void> {
    const lf = this.files.get(key);
    if (lf) {
      lf.stream.end();
      this.files.delete(key);
    }
    this.buffers.delete(key);
    await rm(this.path(key), { force: true });
  }

  /** close flushes and closes every file. */
  async close(): Promise<void> {
    await Promise.all([...this.files.values()].map((lf) => new Promise<void>((r) => lf.stream.end(() => r()))));
    this.files.clear();
  }
}
