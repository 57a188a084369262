/**
 * upstream-client is a small HTTP/1.1 client for the one upstream a slot talks to: a pool of keep-alive sockets, the
 * request head written as one string, the body passed through (re-chunked when the client sent it chunked), and the
 * response parsed by a compact state machine (Content-Length, chunked, or until close). It does what node:http's
 * ClientRequest does for this one use at about half the CPU per request, which is most of a watchdog hop's cost.
 */
import { connect, type Socket } from 'node:net';

/** Handlers receive one response; exactly one of onEnd or onError ends it. */
export interface ResponseHandlers {
  /** onHead gets the final (non-1xx) status line and the raw header pairs. */
  onHead(status: number, reason: string, rawHeaders: string[]): void;
  /** onData gets body bytes; return false to pause until resume(). */
  onData(chunk: Buffer): boolean;
  onEnd(): void;
  onError(err: Error): void;
}

/** Call is one request in flight. */
export interface Call {
  /** write sends request body bytes (only when the head announced a body); false means wait for onDrain. */
  write(chunk: Buffer): boolean;
  /** onDrain calls f once the connection can take more body bytes. */
  onDrain(f: () => void): void;
  /** end finishes the request body. */
  end(): void;
  /** resume continues a response paused by onData returning false. */
  resume(): void;
  /** abort drops the connection; no handler is called after it. */
  abort(): void;
}

/** BodyKind is how the request body is framed: none, fixed Content-Length, or chunked. */
export type BodyKind = 'none' | 'length' | 'chunked';

const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

const enum St {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailer,
  UntilClose,
  Done,
}

class Conn {
  readonly socket: Socket;
  handlers: ResponseHandlers | undefined;
  reused = false;
  gotBytes = false;
  private st = St.Done;
  private head: Buffer | undefined;
  private remaining = 0;
  private line = '';
  private headOnly = false;
  private keepAlive = true;
  idleMs = 0;
  idleTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly pool: UpstreamPool,
    socket: Socket,
  ) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('upstream closed the connection')));
  }

  start(h: ResponseHandlers, headOnly: boolean): void {
    this.handlers = h;
    this.st = St.Head;
    this.head = undefined;
    this.headOnly = headOnly;
    this.keepAlive = true;
    this.gotBytes = false;
  }

  private fail(err: Error): void {
    const h = this.handlers;
    this.handlers = undefined;
    this.pool.drop(this);
    if (!h) return;
    if (this.st === St.UntilClose && err.message === 'upstream closed the connection') {
      this.st = St.Done;
      h.onEnd();
      return;
    }
    this.st = St.Done;
    if (this.reused && !this.gotBytes && this.pool.retry(this, h)) return;
    h.onError(err);
  }

  private finish(): void {
    const h = this.handlers!;
    this.handlers = undefined;
    this.st = St.Done;
    if (this.keepAlive) this.pool.release(this);
    else this.pool.drop(this, true);
    h.onEnd();
  }

  private onData(d: Buffer): void {
    if (!this.handlers) return; // bytes on an idle socket: ignore (the close that follows drops it)
    this.gotBytes = true;
    let at = 0;
    while (at < d.length && this.handlers) {
      switch (this.st) {
        case St.Head: {
          const buf = this.head ? Buffer.concat([this.head, d.subarray(at)]) : d.subarray(at);
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) {
            if (buf.length > 64 * 1024) return this.fail(new Error('upstream response head too large'));
            this.head = Buffer.from(buf);
            return;
          }
          const consumed = end + 4 - (this.head ? this.head.length : 0);
          this.head = undefined;
          at += consumed;
          this.parseHead(buf.toString('latin1', 0, end));
          break;
        }
        case St.Length: {
          const n = Math.min(this.remaining, d.length - at);
          const chunk = d.subarray(at, at + n);
          at += n;
          this.remaining -= n;
          const more = this.handlers.onData(chunk);
          if (this.remaining === 0) return this.finish();
          if (!more) this.socket.pause();
          break;
        }
        case St.ChunkSize: {
          const nl = d.indexOf(10, at);
          if (nl < 0) {
            this.line += d.toString('latin1', at);
            if (this.line.length > 1024) return this.fail(new Error('bad chunk size line'));
            return;
          }
          const line = (this.line + d.toString('latin1', at, nl)).trim();
          this.line = '';
          at = nl + 1;
          const size = parseInt(line.split(';', 1)[0]!, 16);
          if (!Number.isFinite(size) || size < 0) return this.fail(new Error(`bad chunk size "${line}"`));
          if (size === 0) this.st = St.Trailer;
          else {
            this.remaining = size;
            this.st = St.ChunkData;
          }
          break;
        }
        case St.ChunkData: {
          const n = Math.min(this.remaining, d.length - at);
          const chunk = d.subarray(at, at + n);
          at += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            this.st = St.ChunkDataEnd;
            this.remaining = 2;
          }
          if (!this.handlers.onData(chunk)) this.socket.pause();
          break;
        }
        case St.ChunkDataEnd: {
          const n = Math.min(this.remaining, d.length - at);
          at += n;
          this.remaining -= n;
          if (this.remaining === 0) this.st = St.ChunkSize;
          break;
        }
        case St.Trailer: {
          const nl = d.indexOf(10, at);
          if (nl < 0) {
            this.line += d.toString('latin1', at);
            return;
          }
          const line = (this.line + d.toString('latin1', at, nl)).trim();
          this.line = '';
          at = nl + 1;
          if (line === '') return this.finish();
          break;
        }
        case St.UntilClose: {
          const chunk = d.subarray(at);
          at = d.length;
          if (!this.handlers.onData(chunk)) this.socket.pause();
          break;
        }
        case St.Done:
          return;
      }
    }
  }

  private parseHead(text: string): void {
    const lines = text.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(lines[0]!);
    if (!m) return this.fail(new Error(`bad upstream status line "${lines[0]}"`));
    const status = Number(m[2]);
    const raw: string[] = [];
    let length = -1;
    let chunked = false;
    let close = m[1] === '0';
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i]!;
      const c = l.indexOf(':');
      if (c <= 0) continue;
      const name = l.slice(0, c);
      const value = l.slice(c + 1).trim();
      raw.push(name, value);
      const lk = name.length >= 10 && name.length <= 17 ? name.toLowerCase() : '';
      if (lk === 'content-length') length = Number(value);
      else if (lk === 'transfer-encoding') chunked = value.toLowerCase().includes('chunked');
      else if (lk === 'connection') {
        const v = value.toLowerCase();
        if (v.includes('close')) close = true;
        else if (v.includes('keep-alive')) close = false;
      } else if (lk === 'keep-alive') {
        const t = /timeout=(\d+)/.exec(value);
        if (t) this.idleMs = Math.max(0, Number(t[1]) * 1000 - 1000);
      }
    }
    if (status >= 100 && status < 200 && status !== 101) {
      this.st = St.Head; // 100 Continue and friends: wait for the final head
      return;
    }
    if (status === 101) return this.fail(new Error('protocol upgrades are not supported'));
    this.keepAlive = !close;
    this.handlers!.onHead(status, m[3] ?? '', raw);
    if (!this.handlers) return;
    if (this.headOnly || status === 204 || status === 304) return this.finish();
    if (chunked) this.st = St.ChunkSize;
    else if (length >= 0) {
      if (length === 0) return this.finish();
      this.remaining = length;
      this.st = St.Length;
    } else {
      this.keepAlive = false;
      this.st = St.UntilClose;
    }
  }
}

/** UpstreamPool keeps keep-alive connections to one host:port. */
export class UpstreamPool {
  private readonly idle: Conn[] = [];
  private readonly all = new Set<Conn>();
  private closed = false;
  private readonly pending = new WeakMap<Conn, () => void>();

  constructor(
    readonly host: string,
    readonly port: number,
    readonly maxIdle = 256,
  ) {}

  /**
   * request sends a request head (rawHeaders are name/value pairs, already free of hop-by-hop headers and of any
   * framing header that contradicts body) and returns a Call to stream the body and control the response.
   */
  request(method: string, path: string, rawHeaders: string[], body: BodyKind, h: ResponseHandlers): Call {
    let head = `${method} ${path} HTTP/1.1\r\n`;
    for (let i = 0; i < rawHeaders.length; i += 2) head += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
    head += '\r\n';
    let conn: Conn | undefined;
    let aborted = false;
    const send = (c: Conn) => {
      conn = c;
      c.start(h, method === 'HEAD');
      c.socket.write(head, 'latin1');
    };
    const first = this.take();
    send(first);
    // A reused connection that the upstream had just closed is retried once on a new one, for body-less requests.
    this.pending.set(first, () => {
      if (aborted) return;
      send(this.take(true));
    });
    if (body !== 'none') this.pending.delete(first);
    const chunked = body === 'chunked';
    return {
      write: (chunk) => {
        if (!conn || aborted || chunk.length === 0) return true;
        if (chunked) {
          conn.socket.cork();
          conn.socket.write(chunk.length.toString(16) + '\r\n', 'latin1');
          conn.socket.write(chunk);
          const ok = conn.socket.write(CRLF);
          conn.socket.uncork();
          return ok;
        }
        return conn.socket.write(chunk);
      },
      onDrain: (f) => {
        if (conn && !aborted) conn.socket.once('drain', f);
        else f();
      },
      end: () => {
        if (conn && !aborted && chunked) conn.socket.write(LAST_CHUNK);
      },
      resume: () => {
        if (conn && !aborted) conn.socket.resume();
      },
      abort: () => {
        aborted = true;
        if (conn) {
          conn.handlers = undefined;
          this.drop(conn, true);
        }
      },
    };
  }

  private take(fresh = false): Conn {
    if (!fresh) {
      const c = this.idle.pop();
      if (c) {
        if (c.idleTimer) clearTimeout(c.idleTimer);
        c.idleTimer = undefined;
        c.reused = true;
        c.socket.ref();
        return c;
      }
    }
    const c = new Conn(this, connect(this.port, this.host));
    this.all.add(c);
    return c;
  }

  /** retry is called by a reused connection that failed before any byte came back. */
  retry(c: Conn, h: ResponseHandlers): boolean {
    const again = this.pending.get(c);
    this.pending.delete(c);
    if (!again || this.closed) return false;
    void h;
    again();
    return true;
  }

  /** release returns a finished connection to the idle list. */
  release(c: Conn): void {
    this.pending.delete(c);
    if (this.closed || this.idle.length >= this.maxIdle || c.socket.destroyed) return this.drop(c, true);
    c.socket.resume();
    c.socket.unref();
    this.idle.push(c);
    if (c.idleMs > 0) {
      c.idleTimer = setTimeout(() => this.drop(c, true), c.idleMs);
      c.idleTimer.unref();
    }
  }

  /** drop forgets a connection, destroying its socket when asked. */
  drop(c: Conn, destroy = false): void {
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    if (c.idleTimer) clearTimeout(c.idleTimer);
    this.all.delete(c);
    if (destroy && !c.socket.destroyed) c.socket.destroy();
  }

  /** destroy closes every connection. */
  destroy(): void {
    this.closed = true;
    for (const c of [...this.all]) {
      c.handlers = undefined;
      this.drop(c, true);
    }
  }
}
