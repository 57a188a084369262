/**
 * logs forwards a function's stdout/stderr to the watchdog's own, line by line with of-watchdog's optional
 * "date time stream: " prefix, and writes the watchdog's own lines in Go's log format ("2006/01/02 15:04:05 msg").
 */
import type { Readable, Writable } from 'node:stream';

/** lastSecond and lastStamp keep the formatted time of the current second: per-request lines share it. */
let lastSecond = -1;
let lastStamp = '';

function stamp(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second === lastSecond) return lastStamp;
  const d = new Date(now);
  const p = (n: number) => (n < 10 ? '0' + n : String(n));
  lastSecond = second;
  lastStamp = `${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return lastStamp;
}

/** log writes one watchdog line to stderr, as Go's log package does. */
export function log(msg: string): void {
  process.stderr.write(`${stamp()} ${msg}\n`);
}

/**
 * pipeLogs copies from (a child's stdout or stderr) to out. With prefix, each line becomes "<date> <time> <name>: line".
 * Lines longer than bufferSize are cut into pieces; bufferSize -1 copies chunks as they come, unsplit.
 */
export function pipeLogs(name: string, from: Readable, out: Writable, prefix: boolean, bufferSize: number): void {
  if (bufferSize < 0 && !prefix) {
    from.on('data', (c: Buffer) => out.write(c));
    return;
  }
  let pending = '';
  const emit = (line: string) => out.write(prefix ? `${stamp()} ${name}: ${line}\n` : line + '\n');
  from.setEncoding('utf8');
  from.on('data', (chunk: string) => {
    if (bufferSize < 0) {
      for (const l of chunk.replace(/\n$/, '').split('\n')) emit(l);
      return;
    }
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      let line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      while (line.length > bufferSize) {
        emit(line.slice(0, bufferSize));
        line = line.slice(bufferSize);
      }
      emit(line);
    }
    while (pending.length > bufferSize) {
      emit(pending.slice(0, bufferSize));
      pending = pending.slice(bufferSize);
    }
  });
  from.on('end', () => {
    if (pending !== '') emit(pending);
    pending = '';
  });
}
