import { expect } from 'chai';
import { formatLogFileLine, LineSplitter, LogBuffer, parseLogFileLine, rfc3339Nano, toLogMessage } from '../../../src/backends/local/logs.js';

function filled(): LogBuffer {
  const b = new LogBuffer(100);
  b.append('i1', 'one', 1000);
  b.append('i2', 'two', 2000);
  b.append('i1', 'three', 3000);
  b.append('i2', 'four', 4000);
  return b;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('local backend log buffer', () => {
  const cases: { name: string; q: { instance?: string; sinceMs?: number; tail: number }; want: string[] }[] = [
    { name: 'returns every line oldest first when tail is -1', q: { tail: -1 }, want: ['one', 'two', 'three', 'four'] },
    { name: 'returns the last two lines with tail 2', q: { tail: 2 }, want: ['three', 'four'] },
    { name: 'returns one instance only', q: { tail: 0, instance: 'i1' }, want: ['one', 'three'] },
    { name: 'returns lines at or after since', q: { tail: 0, sinceMs: 2000 }, want: ['two', 'three', 'four'] },
    { name: 'applies tail after the other filters', q: { tail: 1, instance: 'i1', sinceMs: 0 }, want: ['three'] },
  ];
  for (const c of cases) it(c.name, () => expect(filled().query(c.q).map((e) => e.text)).to.deep.equal(c.want));

  it('drops the oldest lines beyond its capacity', () => {
    const b = new LogBuffer(3);
    for (let i = 1; i <= 5; i++) b.append('i', `l${i}`, i);
    expect(b.size).to.equal(3);
    expect(b.entries().map((e) => e.text)).to.deep.equal(['l3', 'l4', 'l5']);
  });

  it('ends a stream that does not follow after the existing lines', async () => {
    const got = await collect(filled().stream({ tail: 2 }, false, new AbortController().signal));
    expect(got.map((e) => e.text)).to.deep.equal(['three', 'four']);
  });

  it('follows new lines until aborted, without repeating old ones', async () => {
    const b = filled();
    const ac = new AbortController();
    const seen: string[] = [];
    const done = (async () => {
      for await (const e of b.stream({ tail: 1, instance: 'i2' }, true, ac.signal)) {
        seen.push(e.text);
        if (seen.length === 3) ac.abort();
      }
    })();
    await new Promise((r) => setImmediate(r));
    b.append('i1', 'not mine', 5000);
    b.append('i2', 'five', 6000);
    b.append('i2', 'six', 7000);
    await done;
    expect(seen).to.deep.equal(['four', 'five', 'six']);
  });

  it('stops a following stream that has nothing more when aborted', async () => {
    const ac = new AbortController();
    const p = collect(filled().stream({ tail: 0 }, true, ac.signal));
    setTimeout(() => ac.abort(), 10);
    expect((await p).length).to.equal(4);
  });

  it('formats timestamps as RFC 3339 with nanoseconds', () => {
    expect(rfc3339Nano(Date.UTC(2026, 0, 2, 3, 4, 5, 678) + 0.25)).to.equal('2026-01-02T03:04:05.678250000Z');
    const m = toLogMessage('fn', 'ns', { seq: 1, at: 0, instance: 'i', text: 't' });
    expect(m).to.deep.equal({ name: 'fn', namespace: 'ns', instance: 'i', timestamp: '1970-01-01T00:00:00.000000000Z', text: 't' });
  });

  it('splits chunks into lines, keeps partial lines for the next chunk and cuts runaway lines', () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l), 5);
    s.push('ab\r\ncd');
    s.push('e\nfghijklm');
    s.end();
    expect(lines).to.deep.equal(['ab', 'cde', 'fghij', 'klm']);
  });

  it('stores a line in the log file format and reads it back with its sub-millisecond time', () => {
    const at = Date.UTC(2026, 10, 27, 5, 2, 5, 407) + 0.817871;
    const line = formatLogFileLine({ seq: 1, at, instance: 'echo-1a', text: 'hello  world' });
    expect(line).to.equal('2026-11-27T05:02:05.407817871Z echo-1a hello  world\n');
    const back = parseLogFileLine(line.trimEnd())!;
    expect(back.instance).to.equal('echo-1a');
    expect(back.text).to.equal('hello  world');
    expect(rfc3339Nano(back.at)).to.equal('2026-11-27T05:02:05.407817871Z');
  });

  it('refuses a line that is not in the log file format', () => {
    expect(parseLogFileLine('garbage')).to.equal(undefined);
    expect(parseLogFileLine('')).to.equal(undefined);
  });
});
