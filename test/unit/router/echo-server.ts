/** echo-server is a real upstream on 127.0.0.1 standing in for a watchdog in router tests. */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Seen is what the upstream received for one request. */
export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  bytes: number;
  sha256: string;
}

/** EchoServer answers JSON describing each request; some paths behave specially (see start). */
export interface EchoServer {
  url: string;
  port: number;
  seen: Seen[];
  /** firstChunk resolves when the upstream got the first chunk of a /stream-in body. */
  firstChunk: Promise<void>;
  /** releaseOut lets /stream-out finish its body. */
  releaseOut: () => void;
  close(): Promise<void>;
}

/**
 * startEcho starts an upstream. Paths: /redirect answers 302; /busy answers 429 (when busy is true); /slow never
 * answers; /stream-in reports its first chunk; /stream-out sends one chunk then waits for releaseOut; /nocontent-type
 * answers without Content-Type; anything else echoes { method, url, headers, bytes, sha256 } as JSON.
 */
export async function startEcho(opts: { busy?: boolean; name?: string } = {}): Promise<EchoServer> {
  const seen: Seen[] = [];
  let onFirst!: () => void;
  const firstChunk = new Promise<void>((r) => (onFirst = r));
  let releaseOut!: () => void;
  const outReleased = new Promise<void>((r) => (releaseOut = r));
  const server: Server = createServer((req, res) => {
    const hash = createHash('sha256');
    let bytes = 0;
    if (req.url === '/slow') return; // never answers
    if (opts.busy) {
      req.resume();
      res.writeHead(429, { 'Content-Type': 'text/plain', 'X-OpenFaaS-Internal': 'watchdog' });
      res.end('busy\n');
      return;
    }
    if (req.url === '/stream-out') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      res.write(Buffer.alloc(64 * 1024, 1));
      void outReleased.then(() => res.end(Buffer.alloc(64 * 1024, 2)));
      return;
    }
    req.on('data', (c: Buffer) => {
      if (bytes === 0) onFirst();
      bytes += c.length;
      hash.update(c);
    });
    req.on('end', () => {
      const s: Seen = { method: req.method!, url: req.url!, headers: req.headers, bytes, sha256: hash.digest('hex') };
      seen.push(s);
      if (req.url === '/redirect') {
        res.writeHead(302, { Location: 'http://example.com/', 'Content-Type': 'text/plain' });
        res.end('moved\n');
        return;
      }
      if (req.url === '/nocontent-type') {
        res.writeHead(200);
        res.end('plain');
        return;
      }
      const body = JSON.stringify({ ...s, server: opts.name ?? '' });
      res.writeHead(200, {
        'Content-Type': 'application/json',
        'X-Served-By-Test': opts.name ?? 'echo',
        'Set-Cookie': ['a=1', 'b=2'],
        Connection: 'keep-alive',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    firstChunk,
    releaseOut,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
