import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { expect } from 'chai';
import express from 'express';
import { Registry } from 'prom-client';
import request from 'supertest';
import { request as httpRequest } from 'undici';
import { createAsync, HttpInvoker, readAsyncConfig, type AsyncService } from '../../src/async/index.js';
import { silentLogger } from '../../src/logger.js';
import { connectNats, type NatsConnection } from '../../src/messaging/nats.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';

const here = dirname(fileURLToPath(import.meta.url));
const harnessMain = join(here, '..', 'support', 'async-harness.js');
const workerMain = join(here, '..', '..', 'src', 'async', 'worker-main.js');

interface Callback {
  headers: IncomingMessage['headers'];
  body: string;
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    });
  });
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Functions: a real HTTP upstream whose first path segment names the function. */
class Upstream {
  server!: Server;
  port = 0;
  echoDelayMs = 0;
  calls = new Map<string, number>();

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void (async () => {
        const body = await readAll(req);
        const url = new URL(req.url ?? '/', 'http://x');
        const [, fn, ...rest] = url.pathname.split('/');
        const callId = String(req.headers['x-call-id'] ?? '');
        const key = `${fn}:${callId}`;
        const n = (this.calls.get(key) ?? 0) + 1;
        this.calls.set(key, n);
        if (fn === 'echo') {
          if (this.echoDelayMs > 0) await new Promise((r) => setTimeout(r, this.echoDelayMs));
          res.writeHead(200, {
            'Content-Type': 'text/plain',
            'X-Echo-Method': req.method ?? '',
            'X-Echo-Path': `/${rest.join('/')}`,
            'X-Echo-Query': url.search.replace(/^\?/, ''),
            'X-Echo-Custom': String(req.headers['x-custom'] ?? ''),
            'X-Echo-Has-Content-Length-Or-Host': String(req.headers.host === undefined ? 'no-host' : 'host'),
          });
          res.end(body);
        } else if (fn === 'slow') {
          await new Promise((r) => setTimeout(r, 5000));
          res.writeHead(200, { 'Content-Type': 'text/plain' }).end('slow done');
        } else if (fn === 'flaky') {
          if (n <= 3) res.writeHead(503).end('busy');
          else res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`ok after ${n}`);
        } else {
          res.writeHead(503).end('always down');
        }
      })();
    });
    this.port = await listen(this.server);
  }

  urls(): Record<string, string> {
    const base = `http://127.0.0.1:${this.port}`;
    return { echo: `${base}/echo`, flaky: `${base}/flaky`, broken: `${base}/broken`, slow: `${base}/slow` };
  }

  callsFor(fn: string, callId: string): number {
    return this.calls.get(`${fn}:${callId}`) ?? 0;
  }
}

/** CallbackSink records every callback POST by X-Call-Id. */
class CallbackSink {
  server!: Server;
  port = 0;
  byId = new Map<string, Callback[]>();
  /** refused counts callbacks answered 500 on purpose: /cb-flaky refuses the first two per call id. */
  refused = new Map<string, number>();

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void readAll(req).then((b) => {
        const id = String(req.headers['x-call-id'] ?? '');
        if (req.url === '/cb-flaky' && (this.refused.get(id) ?? 0) < 2) {
          this.refused.set(id, (this.refused.get(id) ?? 0) + 1);
          res.writeHead(500).end();
          return;
        }
        const list = this.byId.get(id) ?? [];
        list.push({ headers: req.headers, body: b.toString() });
        this.byId.set(id, list);
        res.writeHead(200).end();
      });
    });
    this.port = await listen(this.server);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/cb`;
  }

  delivered(ids: readonly string[]): number {
    return ids.filter((id) => (this.byId.get(id)?.length ?? 0) > 0).length;
  }
}

/** Harness is the AsyncService + express app in a child process (test/support/async-harness.ts). */
class Harness {
  proc?: ChildProcess;
  port = 0;
  constructor(private readonly env: Record<string, string>) {}

  async start(): Promise<void> {
    const proc = spawn(process.execPath, [harnessMain], { env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'inherit'] });
    this.proc = proc;
    this.port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error('harness did not start')), 30_000);
      proc.stdout!.on('data', (d: Buffer) => {
        if (process.env.HARNESS_LOG) process.stderr.write(d);
        out += d.toString();
        const m = /READY (\d+)/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(Number(m[1]));
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`harness exited with ${code}`));
      });
    });
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => p.kill('SIGKILL'), 15_000);
      p.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      p.kill(signal);
    });
  }

  async metric(name: string, fn: string): Promise<number> {
    const r = await httpRequest(`${this.base}/metrics`);
    const text = await r.body.text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`function="${fn}"`));
    return line ? Number(line.split(' ').pop()) : 0;
  }
}

async function postAsync(base: string, path: string, body: string, headers: Record<string, string>): Promise<{ status: number; callId: string }> {
  const r = await httpRequest(`${base}${path}`, { method: 'POST', body, headers: { 'content-type': 'text/plain', ...headers } });
  await r.body.dump();
  return { status: r.statusCode, callId: String(r.headers['x-call-id'] ?? '') };
}

/** sendMany posts n echo requests (20 at a time) and returns the call ids in order. */
async function sendMany(base: string, n: number, tag: string, callbackUrl: string): Promise<string[]> {
  const ids: string[] = new Array<string>(n);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const r = await postAsync(base, `/async-function/echo/p/${tag}/${i}?i=${i}`, `${tag}-body-${i}`, { 'X-Callback-Url': callbackUrl, 'X-Custom': `c${i}` });
      expect(r.status, `request ${i}`).to.equal(202);
      ids[i] = r.callId;
    }
  };
  await Promise.all(Array.from({ length: 20 }, worker));
  return ids;
}

function expectEchoCallback(cb: Callback, tag: string, i: number, callId: string): void {
  expect(cb.body).to.equal(`${tag}-body-${i}`);
  expect(cb.headers['x-call-id']).to.equal(callId);
  expect(cb.headers['x-function-status']).to.equal('200');
  expect(cb.headers['x-function-name']).to.equal('echo');
  expect(cb.headers['x-duration-seconds']).to.match(/^\d+\.\d{6}$/);
  expect(cb.headers['x-echo-method']).to.equal('POST');
  expect(cb.headers['x-echo-path']).to.equal(`/p/${tag}/${i}`);
  expect(cb.headers['x-echo-query']).to.equal(`i=${i}`);
  expect(cb.headers['x-echo-custom']).to.equal(`c${i}`);
  expect(cb.headers['content-type']).to.equal('text/plain');
}

describe('async invocations over NATS JetStream (real nats-server, provider in a child process)', function () {
  this.timeout(180_000);
  let nats: NatsServer;
  const upstream = new Upstream();
  const sink = new CallbackSink();
  let harness: Harness;
  let env: Record<string, string>;

  before(async () => {
    nats = await startNatsServer();
    await upstream.start();
    await sink.start();
    env = {
      NATS_URL: nats.url,
      UPSTREAMS: JSON.stringify(upstream.urls()),
      async_concurrency: '4',
      async_ack_wait: '2s',
      async_max_attempts: '4',
      async_initial_backoff: '50ms',
      async_max_backoff: '200ms',
      async_max_body: '65536',
      async_publish_timeout: '2s',
      async_callback_attempts: '3',
      async_depth_interval: '200ms',
    };
    harness = new Harness(env);
    await harness.start();
  });

  after(async () => {
    await harness?.stop('SIGKILL');
    upstream.server?.close();
    sink.server?.close();
    await nats?.dispose();
  });

  it('delivers 200 async invocations as 200 callbacks carrying the function answer and the call headers', async () => {
    upstream.echoDelayMs = 0;
    const ids = await sendMany(harness.base, 200, 'plain', sink.url);
    expect(new Set(ids).size).to.equal(200);
    await waitFor('200 callbacks', () => sink.delivered(ids) === 200);
    ids.forEach((id, i) => {
      const cbs = sink.byId.get(id)!;
      expect(cbs, `callbacks for ${i}`).to.have.length(1);
      expectEchoCallback(cbs[0]!, 'plain', i, id);
    });
    expect(await harness.metric('hyperfaas_async_queued_total', 'echo.openfaas-fn')).to.be.at.least(200);
    await waitFor('completed metric', async () => (await harness.metric('hyperfaas_async_completed_total', 'echo.openfaas-fn')) >= 200);
  });

  it('keeps the client-sent X-Call-Id and answers with X-Start-Time', async () => {
    const r = await httpRequest(`${harness.base}/async-function/echo`, {
      method: 'POST',
      body: 'mine',
      headers: { 'X-Call-Id': 'client-chosen-id-1', 'X-Callback-Url': sink.url },
    });
    await r.body.dump();
    expect(r.statusCode).to.equal(202);
    expect(r.headers['x-call-id']).to.equal('client-chosen-id-1');
    expect(r.headers['x-start-time']).to.match(/^\d{19}$/);
    await waitFor('the callback', () => sink.delivered(['client-chosen-id-1']) === 1);
    expect(sink.byId.get('client-chosen-id-1')![0]!.body).to.equal('mine');
  });

  it('still delivers every accepted request when the provider is SIGKILLed and restarted mid-queue', async () => {
    upstream.echoDelayMs = 40;
    const ids = await sendMany(harness.base, 200, 'kill', sink.url);
    await waitFor('some callbacks', () => sink.delivered(ids) >= 20);
    await harness.stop('SIGKILL');
    const atKill = sink.delivered(ids);
    expect(atKill).to.be.below(200);
    await harness.start();
    await waitFor('every callback after the restart', () => sink.delivered(ids) === 200, 120_000);
    ids.forEach((id, i) => {
      for (const cb of sink.byId.get(id)!) expectEchoCallback(cb, 'kill', i, id);
    });
  });

  it('loses nothing when nats-server is killed and restarted mid-queue', async () => {
    upstream.echoDelayMs = 40;
    const ids = await sendMany(harness.base, 200, 'natsdown', sink.url);
    await waitFor('some callbacks', () => sink.delivered(ids) >= 20);
    await nats.stop(true);
    const atKill = sink.delivered(ids);
    expect(atKill).to.be.below(200);
    await new Promise((r) => setTimeout(r, 500));
    await nats.restart();
    await waitFor('every callback after the nats restart', () => sink.delivered(ids) === 200, 120_000);
    ids.forEach((id, i) => {
      for (const cb of sink.byId.get(id)!) expectEchoCallback(cb, 'natsdown', i, id);
    });
  });

  it('retries a function that answers 503 a few times, then delivers its success', async () => {
    const r = await postAsync(harness.base, '/async-function/flaky', 'x', { 'X-Callback-Url': sink.url });
    expect(r.status).to.equal(202);
    await waitFor('the flaky callback', () => sink.delivered([r.callId]) === 1);
    const cb = sink.byId.get(r.callId)![0]!;
    expect(cb.headers['x-function-status']).to.equal('200');
    expect(cb.body).to.equal('ok after 4');
    expect(upstream.callsFor('flaky', r.callId)).to.equal(4);
    expect(await harness.metric('hyperfaas_async_retried_total', 'flaky.openfaas-fn')).to.be.at.least(3);
  });

  it('retries a callback that fails until the receiver takes it', async () => {
    const r = await postAsync(harness.base, '/async-function/echo/p/cbretry/0?i=0', 'cbretry-body-0', { 'X-Callback-Url': `http://127.0.0.1:${sink.port}/cb-flaky`, 'X-Custom': 'c0' });
    expect(r.status).to.equal(202);
    await waitFor('the accepted callback', () => sink.delivered([r.callId]) === 1);
    expect(sink.refused.get(r.callId)).to.equal(2);
    expectEchoCallback(sink.byId.get(r.callId)![0]!, 'cbretry', 0, r.callId);
    expect(upstream.callsFor('echo', r.callId)).to.equal(1);
  });

  it('keeps a message running longer than the ack wait (working) instead of running it twice', async () => {
    const r = await postAsync(harness.base, '/async-function/slow', '', { 'X-Callback-Url': sink.url });
    expect(r.status).to.equal(202);
    await waitFor('the slow callback', () => sink.delivered([r.callId]) === 1);
    await new Promise((res) => setTimeout(res, 2500));
    expect(upstream.callsFor('slow', r.callId)).to.equal(1);
    expect(sink.byId.get(r.callId)).to.have.length(1);
    expect(Number(sink.byId.get(r.callId)![0]!.headers['x-duration-seconds'])).to.be.at.least(5);
  });

  it('dead-letters a function that always fails after the last attempt and reports 503 to the callback', async () => {
    const r = await postAsync(harness.base, '/async-function/broken.openfaas-fn/x?y=1', 'doomed', { 'X-Callback-Url': sink.url });
    expect(r.status).to.equal(202);
    await waitFor('the broken callback', () => sink.delivered([r.callId]) === 1);
    expect(sink.byId.get(r.callId)![0]!.headers['x-function-status']).to.equal('503');
    expect(sink.byId.get(r.callId)![0]!.headers['x-function-name']).to.equal('broken.openfaas-fn');
    expect(upstream.callsFor('broken', r.callId)).to.equal(4);
    const nc = await connectNats(nats.url, silentLogger(), 'test-dead-reader');
    try {
      const jsm = await jetstreamManager(nc);
      const sm = await jsm.streams.getMessage('faas-request-dead', { last_by_subj: 'faas-request-dead.openfaas-fn.broken' });
      const qr = JSON.parse(Buffer.from(sm!.data).toString()) as { Header: Record<string, string[]>; Function: string; Path: string; QueryString: string };
      expect(qr.Header['X-Call-Id']).to.deep.equal([r.callId]);
      expect(qr.Function).to.equal('broken.openfaas-fn');
      expect(qr.Path).to.equal('/x');
      expect(qr.QueryString).to.equal('y=1');
      expect(sm!.header.get('Hyperfaas-Attempts')).to.equal('4');
      expect(sm!.header.get('Hyperfaas-Last-Status')).to.equal('503');
    } finally {
      await nc.close();
    }
    expect(await harness.metric('hyperfaas_async_dead_lettered_total', 'broken.openfaas-fn')).to.be.at.least(1);
  });

  it('re-creates the stream and consumer when the server lost them, and keeps delivering', async () => {
    const nc = await connectNats(nats.url, silentLogger(), 'test-wipe');
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete('faas-request');
    } finally {
      await nc.close();
    }
    upstream.echoDelayMs = 0;
    let r = { status: 0, callId: '' };
    await waitFor('a 202 after the stream was deleted', async () => {
      r = await postAsync(harness.base, '/async-function/echo/again?i=0', 'plain-body-0', { 'X-Callback-Url': sink.url, 'X-Custom': 'c0' });
      return r.status === 202;
    });
    await waitFor('its callback', () => sink.delivered([r.callId]) === 1);
    expect(sink.byId.get(r.callId)![0]!.body).to.equal('plain-body-0');
  });

  const bad: { name: string; method: string; path: string; headers?: Record<string, string>; body?: string; want: number }[] = [
    { name: 'answers 404 for an unknown function', method: 'POST', path: '/async-function/nope', want: 404 },
    { name: 'answers 404 for a known function in an unknown namespace', method: 'POST', path: '/async-function/echo.elsewhere', want: 404 },
    { name: 'answers 400 for a callback URL that is not a URL', method: 'POST', path: '/async-function/echo', headers: { 'X-Callback-Url': 'not a url' }, want: 400 },
    { name: 'answers 400 for a callback URL that is not http', method: 'POST', path: '/async-function/echo', headers: { 'X-Callback-Url': 'ftp://127.0.0.1/x' }, want: 400 },
    { name: 'answers 413 for a body over async_max_body', method: 'POST', path: '/async-function/echo', body: 'x'.repeat(100_000), want: 413 },
    { name: 'answers 405 for GET', method: 'GET', path: '/async-function/echo', want: 405 },
    { name: 'answers 405 for PUT on a sub-path', method: 'PUT', path: '/async-function/echo/a/b', want: 405 },
  ];
  for (const c of bad) {
    it(c.name, async () => {
      const r = await httpRequest(`${harness.base}${c.path}`, { method: c.method as 'POST', headers: c.headers, body: c.body });
      const text = await r.body.text();
      expect(r.statusCode, text).to.equal(c.want);
      expect(text).to.not.equal('');
      expect(r.headers['x-call-id']).to.equal(undefined);
      if (c.want === 405) expect(r.headers.allow).to.equal('POST');
    });
  }

  it('answers 503, never 202, while nats-server is down, and accepts again once it is back', async () => {
    await nats.stop();
    try {
      const r = await httpRequest(`${harness.base}/async-function/echo`, { method: 'POST', body: 'lost?', headers: { 'X-Callback-Url': sink.url } });
      const text = await r.body.text();
      expect(r.statusCode).to.equal(503);
      expect(text).to.match(/not queued/);
    } finally {
      await nats.restart();
    }
    let last = 0;
    await waitFor('a 202 after the restart', async () => {
      last = (await postAsync(harness.base, '/async-function/echo', 'back', { 'X-Callback-Url': sink.url })).status;
      return last === 202;
    });
    expect(last).to.equal(202);
  });
});

describe('async: what is stored is OpenFaaS QueueRequest JSON', function () {
  this.timeout(60_000);
  let nats: NatsServer;
  let nc: NatsConnection;
  let service: AsyncService;

  before(async () => {
    nats = await startNatsServer();
    nc = await connectNats(nats.url, silentLogger(), 'test-shape');
    service = await createAsync({
      nc,
      invoker: new HttpInvoker(() => undefined),
      functionExists: async (ns, name) => ns === 'openfaas-fn' && name === 'shape',
      defaultNamespace: 'openfaas-fn',
      logger: silentLogger(),
      registry: new Registry(),
      config: readAsyncConfig({}),
    });
  });

  after(async () => {
    await service?.close();
    await nc?.close();
    await nats?.dispose();
  });

  function app() {
    const a = express();
    a.all('/async-function/:name', service.handler);
    a.all('/async-function/:name/*path', service.handler);
    return a;
  }

  it('stores PascalCase keys, a base64 body, canonical headers and CallbackUrl as a Go url.URL object', async () => {
    const res = await request(app())
      .post('/async-function/shape.openfaas-fn/a/b?x=1&y=two')
      .set('x-callback-url', 'http://cb.example:8888/done?k=v')
      .set('x-custom-thing', 'one')
      .set('content-type', 'application/json')
      .send('{"hello":"world"}')
      .expect(202);
    const callId = res.headers['x-call-id'] as string;
    expect(callId).to.match(/^[0-9a-f-]{36}$/);
    const jsm = await jetstreamManager(nc);
    const sm = await jsm.streams.getMessage('faas-request', { last_by_subj: 'faas-request.openfaas-fn.shape' });
    const raw = Buffer.from(sm!.data).toString();
    const j = JSON.parse(raw) as Record<string, unknown>;
    expect(Object.keys(j)).to.deep.equal(['Header', 'Host', 'Body', 'Method', 'Path', 'QueryString', 'Function', 'CallbackUrl']);
    expect(Buffer.from(j.Body as string, 'base64').toString()).to.equal('{"hello":"world"}');
    expect(j.Method).to.equal('POST');
    expect(j.Path).to.equal('/a/b');
    expect(j.QueryString).to.equal('x=1&y=two');
    expect(j.Function).to.equal('shape.openfaas-fn');
    expect(j.Host).to.match(/^127\.0\.0\.1:\d+$/);
    const h = j.Header as Record<string, string[]>;
    expect(h['X-Call-Id']).to.deep.equal([callId]);
    expect(h['X-Start-Time']![0]).to.match(/^\d{19}$/);
    expect(h['X-Callback-Url']).to.deep.equal(['http://cb.example:8888/done?k=v']);
    expect(h['X-Custom-Thing']).to.deep.equal(['one']);
    expect(h['Content-Type']).to.deep.equal(['application/json']);
    expect(h).to.not.have.property('Host');
    expect(j.CallbackUrl).to.deep.equal({
      Scheme: 'http',
      Opaque: '',
      User: null,
      Host: 'cb.example:8888',
      Path: '/done',
      RawPath: '',
      OmitHost: false,
      ForceQuery: false,
      RawQuery: 'k=v',
      Fragment: '',
      RawFragment: '',
    });
    expect(sm!.header.get('Nats-Msg-Id')).to.equal(callId);
  });

  it('works the same when mounted as plain middleware, as the provider app does', async () => {
    const a = express();
    a.use((req, res, next) => (req.url.startsWith('/async-function/') ? service.handler(req, res, next) : next()));
    await request(a).post('/async-function/shape/m?z=1').set('x-call-id', 'mw-1').send('b').expect(202);
    const jsm = await jetstreamManager(nc);
    const sm = await jsm.streams.getMessage('faas-request', { last_by_subj: 'faas-request.openfaas-fn.shape' });
    const j = JSON.parse(Buffer.from(sm!.data).toString()) as Record<string, unknown>;
    expect([j.Function, j.Path, j.QueryString]).to.deep.equal(['shape', '/m', 'z=1']);
    expect((j.Header as Record<string, string[]>)['X-Call-Id']).to.deep.equal(['mw-1']);
    await request(a).post('/async-function/').expect(404);
    await request(a).post('/async-function/nope.openfaas-fn').expect(404);
  });

  it('drops Body and Path and CallbackUrl when there are none, and de-duplicates a repeated X-Call-Id', async () => {
    const jsm = await jetstreamManager(nc);
    const before = (await jsm.streams.info('faas-request')).state.messages;
    await request(app()).post('/async-function/shape').set('x-call-id', 'dup-1').expect(202);
    await request(app()).post('/async-function/shape').set('x-call-id', 'dup-1').expect(202);
    const after = (await jsm.streams.info('faas-request')).state.messages;
    expect(after - before).to.equal(1);
    const sm = await jsm.streams.getMessage('faas-request', { last_by_subj: 'faas-request.openfaas-fn.shape' });
    const j = JSON.parse(Buffer.from(sm!.data).toString()) as Record<string, unknown>;
    expect(j).to.not.have.any.keys('Body', 'Path', 'CallbackUrl', 'QueryString');
    expect(j.Function).to.equal('shape');
    expect((j.Header as Record<string, string[]>)['X-Call-Id']).to.deep.equal(['dup-1']);
  });
});

describe('async: the queue worker as its own process (worker-main) invoking the provider over HTTP', function () {
  this.timeout(120_000);
  let nats: NatsServer;
  let provider: Server;
  let providerPort = 0;
  const seen: string[] = [];
  const sink = new CallbackSink();
  let harness: Harness;
  let worker: ChildProcess | undefined;

  before(async () => {
    nats = await startNatsServer();
    await sink.start();
    provider = createServer((req, res) => {
      void readAll(req).then((b) => {
        seen.push(`${req.method} ${req.url}`);
        res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Seen-Path': req.url ?? '' }).end(`provider:${b.toString()}`);
      });
    });
    providerPort = await listen(provider);
    harness = new Harness({ NATS_URL: nats.url, UPSTREAMS: JSON.stringify({ echo: 'http://127.0.0.1:9/unused' }), HARNESS_WORKER: 'false', async_depth_interval: '200ms' });
    await harness.start();
  });

  after(async () => {
    if (worker && worker.exitCode === null) worker.kill('SIGKILL');
    await harness?.stop('SIGKILL');
    provider?.close();
    sink.server?.close();
    await nats?.dispose();
  });

  it('drains what the provider queued through /function/<name>.<namespace> and exits cleanly on SIGTERM', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await postAsync(harness.base, `/async-function/echo/sub/${i}?n=${i}`, `w${i}`, { 'X-Callback-Url': sink.url });
      expect(r.status).to.equal(202);
      ids.push(r.callId);
    }
    expect(sink.delivered(ids)).to.equal(0);
    await waitFor('the queue depth gauge to show 20', async () => (await harness.metric('hyperfaas_async_queue_depth', 'echo.openfaas-fn')) === 20);
    worker = spawn(process.execPath, [workerMain], {
      env: { ...process.env, NATS_URL: nats.url, PROVIDER_URL: `http://127.0.0.1:${providerPort}/`, async_concurrency: '2', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await waitFor('20 callbacks from the worker process', () => sink.delivered(ids) === 20);
    ids.forEach((id, i) => {
      const cb = sink.byId.get(id)![0]!;
      expect(cb.body).to.equal(`provider:w${i}`);
      expect(cb.headers['x-seen-path']).to.equal(`/function/echo.openfaas-fn/sub/${i}?n=${i}`);
      expect(cb.headers['x-function-status']).to.equal('200');
    });
    expect(seen.every((s) => s.startsWith('POST /function/echo.openfaas-fn/sub/'))).to.equal(true);
    await waitFor('the queue depth gauge to drop to 0', async () => (await harness.metric('hyperfaas_async_queue_depth', 'echo.openfaas-fn')) === 0);
    const w = worker;
    const code = await new Promise<number | null>((resolve) => {
      w.once('exit', (c) => resolve(c));
      w.kill('SIGTERM');
    });
    expect(code).to.equal(0);
  });
});
