/**
 * http runs requests on a long-lived upstream (of-watchdog's http mode, and every guest slot) over the watchdog's
 * own pooled HTTP/1.1 client (upstream-client.ts): measured against node:http's agent on the same hop it costs about
 * two thirds of the CPU per request. Bodies stream both ways with back-pressure; hop-by-hop headers are dropped.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { WatchdogConfig } from '../config.js';
import { hopByHop, hopByHopMaxLength } from '../http-headers.js';
import { log } from '../logs.js';
import { headers as H } from '../protocol.js';
import { gatewayTimeout, secondsSince } from '../respond.js';
import { UpstreamPool, type BodyKind, type Call, type ResponseHandlers } from '../upstream-client.js';
import type { Executor } from './executor.js';

/** HttpTarget is where the upstream listens; prefix is a path prepended to every request ("" for none). */
export interface HttpTarget {
  host: string;
  port: number;
  prefix: string;
}

/** HttpOptions are the settings the hop reads. */
export type HttpOptions = Pick<WatchdogConfig, 'bufferHttp' | 'logCallId' | 'functionName'>;

/** HttpExecutor proxies each request to one upstream over a connection pool. */
export class HttpExecutor implements Executor {
  private readonly pool: UpstreamPool;
  private ready = true;
  private wait: Promise<boolean> | undefined;

  constructor(
    readonly target: HttpTarget,
    private readonly o: HttpOptions,
  ) {
    this.pool = new UpstreamPool(target.host, target.port);
  }

  /**
   * waitFor holds requests until started settles (the upstream listens, or never will): a request that arrives
   * before the function listens waits for it, within its exec timeout.
   */
  waitFor(started: Promise<boolean>): void {
    this.ready = false;
    this.wait = started.then((ok) => {
      this.ready = ok;
      return ok;
    });
  }

  run(req: IncomingMessage, res: ServerResponse, timeoutMs: number, start: bigint, body?: Buffer): void {
    if (this.ready || !this.wait) return this.proxy(req, res, timeoutMs, start, body);
    let expired = false;
    const t = timeoutMs > 0 ? setTimeout(() => ((expired = true), gatewayTimeout(res, start, timeoutMs)), timeoutMs) : undefined;
    void this.wait.then(() => {
      if (t) clearTimeout(t);
      if (!expired && !res.destroyed) this.proxy(req, res, timeoutMs - Number(process.hrtime.bigint() - start) / 1e6, start, body);
    });
  }

  /** warm opens one pooled connection now (the answer is ignored), so the first real request reuses it. */
  warm(): void {
    const ignore: ResponseHandlers = { onHead: () => undefined, onData: () => true, onEnd: () => undefined, onError: () => undefined };
    this.pool.request('GET', '/_/hyperfaas/warm', ['Host', `${this.target.host}:${this.target.port}`], 'none', ignore).end();
  }

  close(): void {
    this.pool.destroy();
  }

  private proxy(req: IncomingMessage, res: ServerResponse, timeoutMs: number, start: bigint, body?: Buffer): void {
    const t = this.target;
    if (this.o.bufferHttp && body === undefined && req.headers['transfer-encoding'] !== undefined) {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.proxy(req, res, timeoutMs, start, Buffer.concat(chunks)));
      return;
    }
    // Raw header pairs go to the upstream as they came, less the hop-by-hop ones about the client's connection.
    const raw = req.rawHeaders;
    const headers: string[] = [];
    let host = false;
    let kind: BodyKind = 'none';
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!;
      const lk = k.length >= 4 && k.length <= 17 ? k.toLowerCase() : '';
      if (lk === 'connection' || lk === 'keep-alive' || lk === 'proxy-connection') continue;
      if (lk === 'transfer-encoding' || lk === 'content-length') {
        if (body !== undefined) continue;
        if (lk === 'transfer-encoding') kind = 'chunked';
        else if (kind === 'none' && raw[i + 1] !== '0') kind = 'length';
      }
      if (lk === 'host') host = true;
      headers.push(k, raw[i + 1]!);
    }
    if (!host) headers.push('Host', `${t.host}:${t.port}`);
    if (body !== undefined) {
      headers.push('Content-Length', String(body.length));
      kind = body.length > 0 ? 'length' : 'none';
    }
    let timer: NodeJS.Timeout | undefined;
    let call: Call | undefined;
    const h: ResponseHandlers = {
      onHead: (status, reason, rawRes) => {
        const out: string[] = [];
        for (let i = 0; i < rawRes.length; i += 2) {
          const k = rawRes[i]!;
          if (k.length > hopByHopMaxLength || !hopByHop.has(k.toLowerCase())) out.push(k, rawRes[i + 1]!);
          else if (this.o.logCallId && k.toLowerCase() === 'content-length') (res as ServerResponse & { upstreamLength?: string }).upstreamLength = rawRes[i + 1];
        }
        out.push('X-Duration-Seconds', secondsSince(start));
        res.writeHead(status, reason || STATUS_CODES[status] || 'Unknown', out);
      },
      onData: (chunk) => {
        if (res.write(chunk)) return true;
        res.once('drain', () => call?.resume());
        return false;
      },
      onEnd: () => {
        if (timer) clearTimeout(timer);
        res.end();
      },
      onError: (err) => {
        if (timer) clearTimeout(timer);
        if (res.headersSent) {
          res.destroy();
          return;
        }
        if (res.writableEnded) return;
        log(`Upstream HTTP request error: ${err.message}`);
        res.writeHead(500, { [H.internal]: 'of-watchdog', 'X-Duration-Seconds': secondsSince(start), 'Content-Type': 'text/plain' });
        res.end(`Can't reach service for: ${this.o.functionName || 'function'}.\n`);
      },
    };
    call = this.pool.request(req.method ?? 'GET', t.prefix + (req.url ?? '/'), headers, kind, h);
    const c = call;
    if (timeoutMs > 0) {
      timer = setTimeout(() => {
        timer = undefined;
        c.abort();
        gatewayTimeout(res, start, timeoutMs);
      }, timeoutMs);
    }
    res.on('close', () => {
      if (!res.writableFinished) c.abort();
      if (timer) clearTimeout(timer);
    });
    if (body !== undefined) {
      if (body.length > 0) c.write(body);
      c.end();
    } else if (kind === 'none') {
      req.resume();
    } else {
      req.on('data', (chunk: Buffer) => {
        if (!c.write(chunk)) {
          req.pause();
          c.onDrain(() => req.resume());
        }
      });
      req.on('end', () => c.end());
    }
  }
}
