import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { requestListener } from '../../../src/api/app.js';
import { freePort } from '../../support/ports.js';
import { buildApp, type TestApp } from '../api/build-app.js';
import { startEcho, type EchoServer } from './echo-server.js';

interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** call sends one request to the provider on 127.0.0.1 with exactly the given headers. */
function call(port: number, method: string, path: string, opts: { headers?: OutgoingHttpHeaders; body?: Buffer | string } = {}): Promise<Reply> {
  const headers: OutgoingHttpHeaders = { ...opts.headers };
  // Node sends DELETE and OPTIONS bodies without framing unless told: say how long the body is.
  if (opts.body !== undefined && headers['Transfer-Encoding'] === undefined) headers['Content-Length'] = Buffer.byteLength(opts.body);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const json = (r: Reply): { method: string; url: string; headers: Record<string, string>; bytes: number; sha256: string; server: string } =>
  JSON.parse(r.body.toString());

describe('router: /function/<name>[.<ns>][/path]', () => {
  let t: TestApp;
  let server: Server;
  let port: number;
  let echo: EchoServer;
  const extra: EchoServer[] = [];

  async function serve(env: Record<string, string> = {}, backendOpts = {}): Promise<void> {
    t = buildApp({ HYPERFAAS_NAMESPACES: 'team-a', ...env }, { backend: backendOpts });
    server = createServer(requestListener(t.app)).listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  }

  beforeEach(async () => {
    echo = await startEcho({ name: 'one' });
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await t.close();
    await echo.close();
    for (const e of extra.splice(0)) await e.close();
  });

  describe('with one ready instance', () => {
    beforeEach(async () => {
      await serve();
      t.backend.addFunction({ service: 'figlet', image: 'i', namespace: 'openfaas-fn' });
      t.backend.addInstance('openfaas-fn', 'figlet', echo.url);
    });

    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      it(`passes ${method} through with its method`, async () => {
        const r = await call(port, method, '/function/figlet', { body: method === 'GET' ? undefined : 'x' });
        expect(r.status).to.equal(200);
        expect(json(r).method).to.equal(method);
      });
    }

    it('passes HEAD through with no body', async () => {
      const r = await call(port, 'HEAD', '/function/figlet');
      expect(r.status).to.equal(200);
      expect(r.body.length).to.equal(0);
      expect(echo.seen[0]!.method).to.equal('HEAD');
    });

    it('answers 405 to other methods, marked as internal', async () => {
      const r = await call(port, 'PROPFIND', '/function/figlet');
      expect(r.status).to.equal(405);
      expect(r.headers['x-openfaas-internal']).to.equal('proxy');
      expect(echo.seen).to.have.length(0);
    });

    it('keeps the path after the name and the raw query string', async () => {
      const r = await call(port, 'GET', '/function/figlet.openfaas-fn/a/b?testing=1&x=%20y');
      expect(json(r).url).to.equal('/a/b?testing=1&x=%20y');
    });

    it('sends "/" when nothing follows the name', async () => {
      const r = await call(port, 'POST', '/function/figlet', { body: 'hi' });
      expect(json(r).url).to.equal('/');
    });

    it('passes a 302 through without following it', async () => {
      const r = await call(port, 'GET', '/function/figlet/redirect');
      expect(r.status).to.equal(302);
      expect(r.headers.location).to.equal('http://example.com/');
    });

    it('adds X-Forwarded-For and X-Forwarded-Host when absent', async () => {
      const r = await call(port, 'GET', '/function/figlet', { headers: { Host: 'gateway.example:8080' } });
      const h = json(r).headers;
      expect(h['x-forwarded-for']).to.match(/127\.0\.0\.1/);
      expect(h['x-forwarded-host']).to.equal('gateway.example:8080');
    });

    it('keeps X-Forwarded-For and X-Forwarded-Host the gateway already set', async () => {
      const r = await call(port, 'GET', '/function/figlet', { headers: { 'X-Forwarded-For': '10.1.2.3', 'X-Forwarded-Host': 'orig' } });
      const h = json(r).headers;
      expect(h['x-forwarded-for']).to.equal('10.1.2.3');
      expect(h['x-forwarded-host']).to.equal('orig');
    });

    it('drops hop-by-hop headers and keeps the rest, Authorization included', async () => {
      const r = await call(port, 'POST', '/function/figlet', {
        headers: {
          Connection: 'keep-alive, X-Drop-Me',
          'X-Drop-Me': 'secret',
          'Keep-Alive': 'timeout=5',
          'Proxy-Authorization': 'Basic abc',
          TE: 'trailers',
          Authorization: 'Bearer fn-token',
          'X-Call-Id': 'call-1',
        },
        body: 'x',
      });
      const h = json(r).headers;
      expect(h).to.not.have.property('x-drop-me');
      expect(h).to.not.have.property('keep-alive');
      expect(h).to.not.have.property('proxy-authorization');
      expect(h).to.not.have.property('te');
      expect(h.authorization).to.equal('Bearer fn-token');
      expect(h['x-call-id']).to.equal('call-1');
    });

    it('copies the function response headers, multi-valued ones included', async () => {
      const r = await call(port, 'GET', '/function/figlet');
      expect(r.headers['x-served-by-test']).to.equal('one');
      expect(r.headers['set-cookie']).to.deep.equal(['a=1', 'b=2']);
      expect(r.headers['content-type']).to.equal('application/json');
    });

    it("uses the request's Content-Type when the function sends none", async () => {
      const r = await call(port, 'POST', '/function/figlet/nocontent-type', { headers: { 'Content-Type': 'text/csv' }, body: 'a,b' });
      expect(r.headers['content-type']).to.equal('text/csv');
    });

    it('streams a large request body to the function as it arrives', async () => {
      const chunk = Buffer.alloc(256 * 1024, 7);
      const hash = createHash('sha256');
      const res = new Promise<Reply>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/function/figlet/stream-in', agent: false }, (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => resolve({ status: r.statusCode!, headers: r.headers, body: Buffer.concat(chunks) }));
        });
        req.on('error', reject);
        req.write(chunk);
        hash.update(chunk);
        // The rest is only sent once the function has seen the first chunk: a buffering proxy would hang here.
        void echo.firstChunk.then(() => {
          for (let i = 0; i < 31; i++) {
            req.write(chunk);
            hash.update(chunk);
          }
          req.end();
        });
      });
      const r = await res;
      expect(r.status).to.equal(200);
      expect(json(r).bytes).to.equal(32 * chunk.length);
      expect(json(r).sha256).to.equal(hash.digest('hex'));
    });

    it('streams a response body to the client before the function finished it', async () => {
      const r = await new Promise<number>((resolve, reject) => {
        httpRequest({ host: '127.0.0.1', port, path: '/function/figlet/stream-out', agent: false }, (res) => {
          let bytes = 0;
          let released = false;
          res.on('data', (c: Buffer) => {
            bytes += c.length;
            // The function holds back its second half until the client has the first: a buffering proxy would hang.
            if (!released && bytes >= 64 * 1024) {
              released = true;
              echo.releaseOut();
            }
          });
          res.on('end', () => resolve(bytes));
        })
          .on('error', reject)
          .end();
      });
      expect(r).to.equal(128 * 1024);
    });

    it('answers 404 for an unknown function, as plain text marked internal', async () => {
      const r = await call(port, 'GET', '/function/nope');
      expect(r.status).to.equal(404);
      expect(r.headers['content-type']).to.match(/^text\/plain/);
      expect(r.headers['x-openfaas-internal']).to.equal('proxy');
    });

    it('answers 404 for an empty name (the certifier probe)', async () => {
      const r = await call(port, 'POST', '/function/.openfaas-fn', { body: 'x' });
      expect(r.status).to.equal(404);
    });

    it('answers 404 for a function in another namespace', async () => {
      const r = await call(port, 'GET', '/function/figlet.team-a');
      expect(r.status).to.equal(404);
    });

    it('answers 502 marked internal when the instance is gone', async () => {
      await echo.close();
      const r = await call(port, 'GET', '/function/figlet');
      expect(r.status).to.equal(502);
      expect(r.headers['x-openfaas-internal']).to.equal('proxy');
      expect(r.body.toString()).to.equal("Can't reach service for: figlet.openfaas-fn.\n");
    });

    it('releases the in-flight count when the client leaves before the function answers', async () => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/function/figlet/slow', agent: false });
      req.on('error', () => undefined);
      req.end();
      const c = t.scheduler.candidatesOf('openfaas-fn', 'figlet')[0]!;
      for (let i = 0; i < 400 && c.inflight === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(c.inflight).to.equal(1);
      req.destroy();
      for (let i = 0; i < 400 && c.inflight !== 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(c.inflight).to.equal(0);
    });

    it('releases the in-flight count when each response ends', async () => {
      await call(port, 'GET', '/function/figlet');
      await call(port, 'GET', '/function/figlet/redirect');
      await call(port, 'GET', '/function/nope');
      const c = t.scheduler.candidatesOf('openfaas-fn', 'figlet')[0]!;
      expect(c.inflight).to.equal(0);
    });
  });

  describe('without a ready instance', () => {
    it('answers 503 marked internal when nothing becomes ready in time', async () => {
      await serve({ HYPERFAAS_COLD_START_TIMEOUT: '300ms' });
      t.backend.addFunction({ service: 'figlet', image: 'i', namespace: 'openfaas-fn' }, 1);
      t.backend.addInstance('openfaas-fn', 'figlet', echo.url, false);
      const r = await call(port, 'GET', '/function/figlet');
      expect(r.status).to.equal(503);
      expect(r.headers['x-openfaas-internal']).to.equal('proxy');
      expect(r.body.toString()).to.equal('No endpoints available for: figlet.openfaas-fn.\n');
    });

    it('waits for a starting instance to become ready, without scaling', async () => {
      await serve();
      t.backend.addFunction({ service: 'figlet', image: 'i', namespace: 'openfaas-fn' }, 1);
      const inst = t.backend.addInstance('openfaas-fn', 'figlet', echo.url, false);
      const pending = call(port, 'GET', '/function/figlet');
      setTimeout(() => t.backend.setReady(inst.id, true), 100);
      const r = await pending;
      expect(r.status).to.equal(200);
      expect(t.backend.callsOf('scale')).to.have.length(0);
    });

    it('scales a function from zero to its minimum and serves once an instance is ready', async () => {
      await serve({}, {
        onScale: (ns: string, name: string, n: number) => {
          for (let i = 0; i < n; i++) setTimeout(() => t.backend.addInstance(ns, name, echo.url, true), 150);
        },
      });
      t.backend.addFunction({ service: 'figlet', image: 'i', namespace: 'openfaas-fn', labels: { 'com.openfaas.scale.min': '2' } }, 0);
      const replies = await Promise.all([call(port, 'GET', '/function/figlet'), call(port, 'POST', '/function/figlet', { body: 'x' })]);
      expect(replies.map((r) => r.status)).to.deep.equal([200, 200]);
      const scales = t.backend.callsOf('scale');
      expect(scales).to.have.length(1);
      expect(scales[0]!.args).to.deep.equal(['openfaas-fn', 'figlet', 2]);
    });
  });

  describe('when waking a function fails', () => {
    it("answers with the backend error's status, marked internal", async () => {
      await serve();
      t.backend.addFunction({ service: 'figlet', image: 'i', namespace: 'openfaas-fn' }, 0);
      t.backend.scale = async () => {
        const { BackendError } = await import('../../../src/backends/backend.js');
        throw new BackendError('Unavailable', 'no capacity to start figlet');
      };
      const r = await call(port, 'GET', '/function/figlet');
      expect(r.status).to.equal(503);
      expect(r.body.toString()).to.equal('no capacity to start figlet\n');
      expect(r.headers['x-openfaas-internal']).to.equal('proxy');
    });
  });

  describe('with an instance that is full (429)', () => {
    beforeEach(async () => {
      await serve();
      const busy = await startEcho({ busy: true, name: 'busy' });
      extra.push(busy);
      t.backend.addFunction({ service: 'figlet', image: 'i', namespace: 'openfaas-fn' });
      // With two candidates placement is least in-flight with ties to the first added: the busy one.
      t.backend.addInstance('openfaas-fn', 'figlet', busy.url);
      t.backend.addInstance('openfaas-fn', 'figlet', echo.url);
    });

    it('retries a GET on another instance', async () => {
      const r = await call(port, 'GET', '/function/figlet');
      expect(r.status).to.equal(200);
      expect(json(r).server).to.equal('one');
    });

    it('retries a small POST whose body it buffered', async () => {
      const r = await call(port, 'POST', '/function/figlet', { body: 'small', headers: { 'Content-Length': '5' } });
      expect(r.status).to.equal(200);
      expect(json(r).bytes).to.equal(5);
    });

    it('passes the 429 through for a streamed (chunked) body', async () => {
      const r = await call(port, 'POST', '/function/figlet', { body: 'streamed', headers: { 'Transfer-Encoding': 'chunked' } });
      expect(r.status).to.equal(429);
    });
  });

  describe('with a slow function', () => {
    it('answers 504 marked internal after write_timeout', async () => {
      await serve({ write_timeout: '500ms' });
      t.backend.addFunction({ service: 'figlet', image: 'i', namespace: 'openfaas-fn' });
      t.backend.addInstance('openfaas-fn', 'figlet', echo.url);
      const r = await call(port, 'GET', '/function/figlet/slow');
      expect(r.status).to.equal(504);
      expect(r.headers['x-openfaas-internal']).to.equal('proxy');
    });
  });

  describe('when the instance URL has nothing listening', () => {
    it('retries a GET on another instance', async () => {
      await serve();
      t.backend.addFunction({ service: 'figlet', image: 'i', namespace: 'openfaas-fn' });
      t.backend.addInstance('openfaas-fn', 'figlet', `http://127.0.0.1:${await freePort()}`);
      t.backend.addInstance('openfaas-fn', 'figlet', echo.url);
      const r = await call(port, 'GET', '/function/figlet');
      expect(r.status).to.equal(200);
    });
  });
});
