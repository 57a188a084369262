import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { AUTH_FILES, NatsAuthority } from '../../src/messaging/nats-auth.js';
import { startReportSubscriber } from '../../src/gs/nats/report-subscriber.js';
import { decodeBounceReply, encodeBounceRequest } from '@hyperfaas/watchdog/bounce-codec';
import { startBounceResponder } from '../../src/gs/nats/bounce-responder.js';
import { silentLogger } from '../../src/logger.js';
import type { InvokeRequest, Invoker } from '../../src/invoke/invoker.js';
import { BounceUnavailable, NatsLink } from '@hyperfaas/watchdog/nats-link';
import { subjects, type ControlRequest, type LoadReport } from '@hyperfaas/watchdog/protocol';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { eventually } from '../contract/backend.contract.js';

function snapshot(): Omit<LoadReport, 'seq' | 'at'> {
  return {
    instance: 'i-a',
    function: 'echo',
    namespace: 'openfaas-fn',
    url: 'http://127.0.0.1:1',
    slots: [{ kind: 'home', state: 'serving', function: 'echo.openfaas-fn', inflight: 3, capacity: 4 }],
    cpu: { used: 0.5, limit: 1 },
    memory: { used: 10, limit: 0 },
    watermark: 'high',
    draining: false,
  };
}

// The same protocol runs on an open server and on one with HyperFaaS's authorization, where the ICS holds only its
// minted instance user and the GS the provider's.
for (const auth of [false, true]) describe(`ICS <-> GS over a real nats-server${auth ? ' with authorization (instance user, provider user)' : ''}`, function () {
  this.timeout(30_000);
  let nats: NatsServer;
  let gs: NatsConnection;
  let link: NatsLink;
  const calls: InvokeRequest[] = [];
  const controls: ControlRequest[] = [];
  const invoker: Invoker = {
    async invoke(req) {
      calls.push(req);
      if (req.name === 'missing') {
        const { BackendError } = await import('../../src/backends/backend.js');
        throw new BackendError('NotFound', 'no such function');
      }
      return {
        status: 201,
        headers: { 'content-type': 'text/plain', 'x-multi': ['a', 'b'] },
        body: Buffer.concat([Buffer.from(`${req.method} ${req.path}?${req.query} `), req.body]),
      };
    },
  };

  before(async () => {
    nats = await startNatsServer({ auth });
    gs = await connect({
      servers: nats.url,
      ...(auth ? { authenticator: credsAuthenticator(new Uint8Array(readFileSync(join(nats.authDir!, AUTH_FILES.providerCreds)))) } : {}),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    const creds = auth
      ? new TextEncoder().encode(
          await (await NatsAuthority.load(join(nats.authDir!, AUTH_FILES.signingKey))).mintInstanceCreds({ instanceId: 'i-a', namespace: 'openfaas-fn', service: 'echo' }),
        )
      : undefined;
    startBounceResponder({ nc: gs, invoker, logger: silentLogger(), defaultNamespace: 'openfaas-fn', timeoutMs: 5_000 });
    link = new NatsLink({
      url: nats.url,
      instanceId: 'i-a',
      namespace: 'openfaas-fn',
      fn: 'echo',
      ...(creds ? { creds } : {}),
      reportEveryMs: 100,
      log: () => undefined,
      hooks: {
        snapshot,
        async control(req) {
          controls.push(req);
          return { ok: true, ms: 1 };
        },
      },
    });
    link.start();
    await eventually(() => expect(link.connected).to.equal(true), 10_000);
  });
  after(async () => {
    await link.close();
    await gs.close();
    await nats.dispose();
  });

  it('publishes load reports with increasing seq on the function subject', async () => {
    const got: LoadReport[] = [];
    const sub = gs.subscribe(subjects.reportsAll, { callback: (_e, m) => void got.push(m.json<LoadReport>()) });
    try {
      await eventually(() => expect(got.length).to.be.at.least(2), 5_000);
      expect(got[0].instance).to.equal('i-a');
      expect(got[0].watermark).to.equal('high');
      expect(got[1].seq).to.be.greaterThan(got[0].seq);
    } finally {
      sub.unsubscribe();
    }
  });

  it('hands a bounced request to the GS and returns its response, headers and status intact', async () => {
    const { reply, body } = await link.bounce(
      { fn: 'echo.openfaas-fn', method: 'PUT', path: '/a/b', query: 'x=1', from: 'i-a', bounces: 1 },
      { 'Content-Type': 'text/plain', 'X-Call-Id': 'c1', host: 'dropped', 'content-length': '5' },
      Buffer.from('hello'),
      5_000,
    );
    expect(reply.status).to.equal(201);
    expect(reply.headers['x-multi']).to.deep.equal(['a', 'b']);
    expect(reply.headers['x-hyperfaas-route']).to.equal('bounced');
    expect(Buffer.from(body).toString()).to.equal('PUT /a/b?x=1 hello');
    const call = calls.at(-1)!;
    expect(call.name).to.equal('echo');
    expect(call.namespace).to.equal('openfaas-fn');
    expect(call.avoidInstances).to.deep.equal(['i-a']);
    expect(call.headers['x-call-id']).to.equal('c1');
    expect(call.headers).to.not.have.property('host');
    expect(call.headers).to.not.have.property('content-length');
  });

  it('fails with BounceUnavailable when the GS cannot place the request', async () => {
    let err: unknown;
    try {
      await link.bounce({ fn: 'missing.openfaas-fn', method: 'GET', path: '/', query: '', from: 'i-a', bounces: 1 }, {}, new Uint8Array(), 5_000);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(BounceUnavailable);
  });

  it('refuses a body over the NATS payload limit without sending it', async () => {
    let err: unknown;
    try {
      await link.bounce({ fn: 'echo', method: 'POST', path: '/', query: '', from: 'i-a', bounces: 1 }, {}, Buffer.alloc(2 * 1024 * 1024), 5_000);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(BounceUnavailable);
    expect(String((err as Error).message)).to.match(/payload limit/);
  });

  it('answers control requests through the watchdog hooks', async () => {
    const m = await gs.request(subjects.control('i-a'), JSON.stringify({ op: 'release' }), { timeout: 5_000 });
    expect(m.json()).to.deep.equal({ ok: true, ms: 1 });
    expect(controls.at(-1)).to.deep.equal({ op: 'release' });
  });

  it('drops a report whose body names another instance than its subject, and takes the genuine ones', async () => {
    const known = new Set(['i-a', 'i-b']);
    const { view, stop } = startReportSubscriber({ nc: gs, target: { known: (id) => known.has(id), setBlocked: () => undefined }, logger: silentLogger() });
    try {
      const forged = { ...snapshot(), instance: 'i-b', seq: 1, at: Date.now() };
      gs.publish(subjects.report('openfaas-fn', 'echo', 'i-a'), JSON.stringify(forged));
      await eventually(() => expect(view.get('i-a', Date.now())).to.not.equal(undefined), 5_000);
      expect(view.get('i-b', Date.now())).to.equal(undefined);
    } finally {
      stop();
    }
  });

  it('refuses a bounce whose sender is not the instance its subject names', async () => {
    const h = encodeBounceRequest({ fn: 'echo.openfaas-fn', method: 'GET', path: '/', query: '', from: 'i-b', bounces: 1 }, {});
    const m = await gs.request(subjects.bounce('i-a'), new Uint8Array(), { timeout: 5_000, headers: h });
    expect(decodeBounceReply(m.headers)).to.deep.include({ status: 400, error: 'bounce from i-b arrived on hyperfaas.bounce.i-a' });
  });

  it('fails fast while NATS is down and bounces again once it is back', async () => {
    await nats.stop(true);
    await eventually(() => expect(link.connected).to.equal(false), 10_000);
    let err: unknown;
    try {
      await link.bounce({ fn: 'echo', method: 'GET', path: '/', query: '', from: 'i-a', bounces: 1 }, {}, new Uint8Array(), 5_000);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(BounceUnavailable);
    await nats.restart();
    await eventually(() => expect(link.connected).to.equal(true), 15_000);
    const { reply } = await eventually(
      () => link.bounce({ fn: 'echo', method: 'GET', path: '/', query: '', from: 'i-a', bounces: 1 }, {}, new Uint8Array(), 2_000),
      15_000,
      200,
    );
    expect(reply.status).to.equal(201);
  });
});
