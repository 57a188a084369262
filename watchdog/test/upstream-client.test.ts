import { expect } from 'chai';
import { createServer, type Server, type Socket } from 'node:net';
import { UpstreamPool, type BodyKind } from '../src/upstream-client.js';

const END = '\u0000END';

/** rawServer answers each request with what reply() returns, written in the given pieces. */
async function rawServer(reply: (req: string, n: number) => (string | Buffer)[] | 'close'): Promise<{ server: Server; port: number; conns: () => number; received: string[] }> {
  let conns = 0;
  const received: string[] = [];
  let n = 0;
  const server = createServer((sock: Socket) => {
    conns++;
    let buf = '';
    sock.on('data', async (d) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.slice(0, end);
      const cl = /content-length: (\d+)/i.exec(head);
      const chunked = /transfer-encoding: chunked/i.test(head);
      const bodyStart = end + 4;
      if (cl && buf.length < bodyStart + Number(cl[1])) return;
      if (chunked && !buf.includes('\r\n0\r\n\r\n', bodyStart - 2)) return;
      const reqText = buf;
      buf = '';
      received.push(reqText);
      const parts = reply(reqText, n++);
      if (parts === 'close') return void sock.destroy();
      for (const p of parts) {
        if (p === END) {
          sock.end();
          break;
        }
        sock.write(p);
        await new Promise((r) => setTimeout(r, 5));
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return { server, port: typeof a === 'object' && a ? a.port : 0, conns: () => conns, received };
}

function call(pool: UpstreamPool, method: string, path: string, headers: string[] = ['Host', 'x'], body: BodyKind = 'none', bodyParts: string[] = []) {
  return new Promise<{ status: number; reason: string; headers: string[]; body: string }>((resolve, reject) => {
    let status = 0;
    let reason = '';
    let hs: string[] = [];
    const chunks: Buffer[] = [];
    const c = pool.request(method, path, headers, body, {
      onHead: (s, r, h) => {
        status = s;
        reason = r;
        hs = h;
      },
      onData: (d) => {
        chunks.push(Buffer.from(d));
        return true;
      },
      onEnd: () => resolve({ status, reason, headers: hs, body: Buffer.concat(chunks).toString() }),
      onError: reject,
    });
    for (const p of bodyParts) c.write(Buffer.from(p));
    c.end();
  });
}

describe('upstream client (raw HTTP/1.1 server)', () => {
  const servers: Server[] = [];
  const pools: UpstreamPool[] = [];
  afterEach(() => {
    for (const p of pools.splice(0)) p.destroy();
    for (const s of servers.splice(0)) s.close();
  });
  const setup = async (reply: Parameters<typeof rawServer>[0]) => {
    const s = await rawServer(reply);
    servers.push(s.server);
    const pool = new UpstreamPool('127.0.0.1', s.port);
    pools.push(pool);
    return { ...s, pool };
  };

  it('reads a Content-Length body split across packets and reuses the connection', async () => {
    const s = await setup(() => ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-A: 1\r\n', '\r\nhello', ' wrld']);
    const a = await call(s.pool, 'GET', '/a');
    expect(a).to.deep.include({ status: 200, reason: 'OK', body: 'hello wrld' });
    expect(a.headers).to.deep.equal(['Content-Length', '10', 'X-A', '1']);
    await call(s.pool, 'GET', '/b');
    expect(s.conns()).to.equal(1);
  });

  it('decodes a chunked body with extensions and trailers split anywhere', async () => {
    const s = await setup(() => ['HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhel', 'lo\r\n6\r', '\n world\r\n0\r\nX-T: 1\r\n', '\r\n']);
    const r = await call(s.pool, 'GET', '/');
    expect(r.status).to.equal(201);
    expect(r.body).to.equal('hello world');
    await call(s.pool, 'GET', '/');
    expect(s.conns()).to.equal(1);
  });

  it('reads a body delimited by close and does not reuse that connection', async () => {
    const s = await setup(() => ['HTTP/1.1 200 OK\r\n\r\nuntil', ' close', END]);
    expect((await call(s.pool, 'GET', '/')).body).to.equal('until close');
    expect((await call(s.pool, 'GET', '/')).body).to.equal('until close');
    expect(s.conns()).to.equal(2);
  });

  it('skips 100 Continue and returns the final response', async () => {
    const s = await setup(() => ['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok']);
    const r = await call(s.pool, 'POST', '/', ['Host', 'x', 'Content-Length', '3'], 'length', ['abc']);
    expect(r).to.deep.include({ status: 200, body: 'ok' });
    expect(s.received[0]).to.match(/\r\n\r\nabc$/);
  });

  it('re-chunks a chunked request body', async () => {
    const s = await setup(() => ['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n']);
    await call(s.pool, 'POST', '/up', ['Host', 'x', 'Transfer-Encoding', 'chunked'], 'chunked', ['ab', 'cde']);
    expect(s.received[0]).to.contain('POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n');
  });

  it('has no body for HEAD, 204 and 304', async () => {
    const s = await setup((req) => [req.startsWith('HEAD') ? 'HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n' : req.includes('/204') ? 'HTTP/1.1 204 No Content\r\n\r\n' : 'HTTP/1.1 304 Not Modified\r\n\r\n']);
    expect((await call(s.pool, 'HEAD', '/')).body).to.equal('');
    expect((await call(s.pool, 'GET', '/204')).status).to.equal(204);
    expect((await call(s.pool, 'GET', '/304')).status).to.equal(304);
    expect(s.conns()).to.equal(1);
  });

  it('retries a body-less request once when a reused connection was closed by the upstream', async () => {
    const s = await setup((_req, n) => (n === 1 ? 'close' : ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n' + n]));
    expect((await call(s.pool, 'GET', '/')).body).to.equal('0');
    expect((await call(s.pool, 'GET', '/')).body).to.equal('2');
    expect(s.conns()).to.equal(2);
  });

  it('reports an error when nothing listens', async () => {
    const pool = new UpstreamPool('127.0.0.1', 9);
    pools.push(pool);
    let err: Error | undefined;
    await call(pool, 'GET', '/').catch((e: Error) => (err = e));
    expect(err).to.be.instanceOf(Error);
  });
});
