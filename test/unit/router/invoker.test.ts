import { expect } from 'chai';
import { isBackendError } from '../../../src/backends/backend.js';
import { silentLogger } from '../../../src/logger.js';
import type { InvokeRequest } from '../../../src/invoke/invoker.js';
import { createSchedulerInvoker } from '../../../src/router/scheduler-invoker.js';
import { Upstreams } from '../../../src/router/upstream.js';
import { GlobalScheduler } from '../../../src/gs/global-scheduler.js';
import { FakeBackend } from '../../support/fake-backend.js';
import { startEcho, type EchoServer } from './echo-server.js';

const base = (extra: Partial<InvokeRequest> = {}): InvokeRequest => ({
  namespace: 'openfaas-fn',
  name: 'figlet',
  method: 'POST',
  path: '/',
  query: '',
  headers: {},
  body: Buffer.from('hello'),
  ...extra,
});

describe('router: createSchedulerInvoker', () => {
  let backend: FakeBackend;
  let scheduler: GlobalScheduler;
  let upstreams: Upstreams;
  const servers: EchoServer[] = [];

  beforeEach(() => {
    backend = new FakeBackend();
    scheduler = new GlobalScheduler({ backend, logger: silentLogger(), coldStartTimeoutMs: 5_000 });
    scheduler.start();
    upstreams = new Upstreams({ headersTimeoutMs: 5_000, bodyTimeoutMs: 5_000 });
    backend.addFunction({ service: 'figlet', image: 'i', namespace: 'openfaas-fn' });
  });
  afterEach(async () => {
    scheduler.close();
    await upstreams.close();
    for (const s of servers.splice(0)) await s.close();
  });

  async function echo(opts: { busy?: boolean; name?: string } = {}): Promise<EchoServer> {
    const s = await startEcho(opts);
    servers.push(s);
    return s;
  }

  it('runs a buffered invocation and returns the whole answer', async () => {
    const s = await echo({ name: 'one' });
    backend.addInstance('openfaas-fn', 'figlet', s.url);
    const inv = createSchedulerInvoker({ scheduler, upstreams, defaultTimeoutMs: 5_000 });
    const r = await inv.invoke(base({ path: '/x', query: 'a=1', headers: { 'X-Call-Id': 'c1', Connection: 'close' } }));
    expect(r.status).to.equal(200);
    const seen = JSON.parse(r.body.toString()) as { method: string; url: string; bytes: number; headers: Record<string, string> };
    expect(seen.url).to.equal('/x?a=1');
    expect(seen.bytes).to.equal(5);
    expect(seen.headers['x-call-id']).to.equal('c1');
    expect(r.headers['content-type']).to.equal('application/json');
    expect(r.headers).to.not.have.property('connection');
  });

  it('rejects with BackendError NotFound for an unknown function', async () => {
    const inv = createSchedulerInvoker({ scheduler, upstreams, defaultTimeoutMs: 5_000 });
    try {
      await inv.invoke(base({ name: 'nope' }));
      expect.fail('should reject');
    } catch (e) {
      expect(isBackendError(e, 'NotFound')).to.equal(true);
    }
  });

  it('retries a 429 on another instance', async () => {
    const busy = await echo({ busy: true });
    const ok = await echo({ name: 'ok' });
    backend.addInstance('openfaas-fn', 'figlet', busy.url);
    backend.addInstance('openfaas-fn', 'figlet', ok.url);
    const inv = createSchedulerInvoker({ scheduler, upstreams, defaultTimeoutMs: 5_000 });
    const r = await inv.invoke(base());
    expect(r.status).to.equal(200);
    expect(scheduler.candidatesOf('openfaas-fn', 'figlet').map((c) => c.inflight)).to.deep.equal([0, 0]);
  });

  it('avoids the instances it is told to avoid while another is ready', async () => {
    const a = await echo({ name: 'a' });
    const b = await echo({ name: 'b' });
    const ia = backend.addInstance('openfaas-fn', 'figlet', a.url);
    backend.addInstance('openfaas-fn', 'figlet', b.url);
    const inv = createSchedulerInvoker({ scheduler, upstreams, defaultTimeoutMs: 5_000 });
    for (let i = 0; i < 4; i++) {
      const r = await inv.invoke(base({ avoidInstances: [ia.id] }));
      expect(JSON.parse(r.body.toString()).server).to.equal('b');
    }
  });

  it('uses an avoided instance when it is the only one', async () => {
    const a = await echo({ name: 'a' });
    const ia = backend.addInstance('openfaas-fn', 'figlet', a.url);
    const inv = createSchedulerInvoker({ scheduler, upstreams, defaultTimeoutMs: 5_000 });
    const r = await inv.invoke(base({ avoidInstances: [ia.id] }));
    expect(r.status).to.equal(200);
  });

  it('returns the 429 when every instance is full', async () => {
    const busy = await echo({ busy: true });
    backend.addInstance('openfaas-fn', 'figlet', busy.url);
    const inv = createSchedulerInvoker({ scheduler, upstreams, defaultTimeoutMs: 5_000 });
    const r = await inv.invoke(base());
    expect(r.status).to.equal(429);
  });

  it('returns 503 marked internal when no instance becomes ready in time', async () => {
    const inv = createSchedulerInvoker({ scheduler, upstreams, defaultTimeoutMs: 5_000 });
    const r = await inv.invoke(base({ timeoutMs: 200 }));
    expect(r.status).to.equal(503);
    expect(r.headers['x-openfaas-internal']).to.equal('proxy');
  });

  it('returns 504 marked internal when the function outlives timeoutMs', async () => {
    const s = await echo();
    backend.addInstance('openfaas-fn', 'figlet', s.url);
    const inv = createSchedulerInvoker({ scheduler, upstreams, defaultTimeoutMs: 5_000 });
    const r = await inv.invoke(base({ path: '/slow', timeoutMs: 300 }));
    expect(r.status).to.equal(504);
    expect(r.headers['x-openfaas-internal']).to.equal('proxy');
  });
});
