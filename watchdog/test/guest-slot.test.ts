import { expect } from 'chai';
import { join } from 'node:path';
import { fixtures, freePort, repo, slotClient, startWatchdog, waitFor, type Running } from './helpers.js';

interface Report {
  slots: { kind: string; state: string; function?: string; inflight: number; capacity: number }[];
  draining: boolean;
}

describe('watchdog guest slot: specialise, serve, release (node20 template at home)', function () {
  this.timeout(60_000);
  let wd: Running;
  const token = 'guest-slot-test-token';
  const { control, status, guestCall } = slotClient(() => wd, token);

  before(async () => {
    const up = await freePort();
    wd = await startWatchdog({
      mode: 'http',
      fprocess: `${process.execPath} ${join(repo, 'stack-templates', 'template', 'node20', 'index.js')}`,
      upstream_url: `http://127.0.0.1:${up}`,
      HYPERFAAS_FUNCTION: 'home-fn',
      HYPERFAAS_NAMESPACE: 'openfaas-fn',
      HYPERFAAS_CONTROL_TOKEN: token,
    });
    await waitFor(async () => (await status()).slots[1]!.state === 'generic', 15_000, 'generic guest');
  });
  after(async () => wd?.stop());

  it('serves the home function from the node20 template without the header or with its name', async () => {
    const a = await fetch(`${wd.url}/`, { method: 'POST', body: '{"x":1}', headers: { 'content-type': 'application/json' } });
    expect(a.status).to.equal(200);
    expect(await a.json()).to.deep.equal({ body: { x: 1 }, 'content-type': 'application/json' });
    const b = await guestCall('home-fn', '/', { method: 'POST', body: 'text', headers: { 'content-type': 'text/plain' } });
    expect(await b.json()).to.deep.equal({ body: 'text', 'content-type': 'text/plain' });
  });

  it('answers 404 for a function that no slot holds', async () => {
    const r = await guestCall('echo.openfaas-fn');
    expect(r.status).to.equal(404);
    expect(r.headers.get('x-openfaas-internal')).to.equal('hyperfaas');
  });

  it('refuses malformed and unknown control requests', async () => {
    expect((await control('not json')).status).to.equal(400);
    const unknown = await control({ op: 'explode' });
    expect(unknown.status).to.equal(409);
    expect(unknown.reply.ok).to.equal(false);
    const obj = await control({ op: 'specialise', function: 'x.ns', code: { kind: 'object', bucket: 'b', key: 'k', hash: 'h' } });
    expect(obj.reply).to.deep.equal({ ok: false, error: 'cannot fetch k: this watchdog has no NATS connection for code' });
    const res = await fetch(`${wd.url}/_/hyperfaas/control`);
    expect(res.status).to.equal(405);
    const noToken = await fetch(`${wd.url}/_/hyperfaas/control`, { method: 'POST', body: '{"op":"release"}' });
    expect([noToken.status, await noToken.text()]).to.deep.equal([401, 'control requests need an x-hyperfaas-token header\n']);
  });

  it('specialises the generic slot and routes by x-hyperfaas-function', async () => {
    const r = await control({ op: 'specialise', function: 'echo.openfaas-fn', code: { kind: 'dir', path: join(fixtures, 'fn-echo') }, env: { GREETING: 'hi' }, capacity: 3 });
    expect(r.status).to.equal(200);
    expect(r.reply.ok).to.equal(true);
    expect(r.reply.ms).to.be.a('number');
    const res = await guestCall('echo.openfaas-fn', '/a/b?x=1&x=2', { method: 'POST', body: '{"k":"v"}', headers: { 'content-type': 'application/json' } });
    expect(res.status).to.equal(201);
    expect(res.headers.get('x-fn')).to.equal('echo');
    expect(res.headers.get('x-hyperfaas-slot')).to.equal('guest');
    expect(await res.json()).to.deep.equal({ body: { k: 'v' }, method: 'POST', query: { x: ['1', '2'] }, path: '/a/b', greeting: 'hi' });
    const s = await status();
    expect(s.slots[1]).to.deep.include({ kind: 'guest', state: 'serving', function: 'echo.openfaas-fn', capacity: 3 });
    // the home function is untouched
    expect((await fetch(`${wd.url}/`)).status).to.equal(200);
  });

  it('refuses to specialise a slot that already serves', async () => {
    const r = await control({ op: 'specialise', function: 'other.openfaas-fn', code: { kind: 'dir', path: join(fixtures, 'fn-hello') } });
    expect(r.status).to.equal(409);
    expect(r.reply.error).to.contain('serving');
  });

  it('releases the slot back to a fresh generic runtime', async () => {
    const r = await control({ op: 'release' });
    expect(r.reply.ok).to.equal(true);
    const s = await status();
    expect(s.slots[1]!.state).to.equal('generic');
    expect(s.slots[1]!.function).to.equal(undefined);
    expect((await guestCall('echo.openfaas-fn')).status).to.equal(404);
  });

  it('specialises again with another function and enforces the guest capacity', async () => {
    const r = await control({ op: 'specialise', function: 'hello.openfaas-fn', code: { kind: 'dir', path: join(fixtures, 'fn-hello') }, capacity: 1 });
    expect(r.reply.ok, r.reply.error).to.equal(true);
    const ok = await guestCall('hello.openfaas-fn', '/', { method: 'POST', body: 'you', headers: { 'content-type': 'text/plain' } });
    expect(await ok.text()).to.equal('hello you');
    const slow = guestCall('hello.openfaas-fn', '/?sleep=1500');
    await waitFor(async () => (await status()).slots[1]!.inflight === 1, 5000);
    const busy = await guestCall('hello.openfaas-fn');
    expect(busy.status).to.equal(429);
    expect(await busy.text()).to.equal('Concurrent request limit exceeded. Max concurrent requests: 1');
    expect((await slow).status).to.equal(200);
    const failed = await guestCall('hello.openfaas-fn', '/?fail=1');
    expect(failed.status).to.equal(500);
    expect(await failed.text()).to.contain('asked to fail');
  });

  it('a missing handler fails the specialisation and leaves the slot generic', async () => {
    expect((await control({ op: 'release' })).reply.ok).to.equal(true);
    const r = await control({ op: 'specialise', function: 'nope.openfaas-fn', code: { kind: 'dir', path: join(fixtures, 'no-such-fn') } });
    expect(r.reply.ok).to.equal(false);
    expect((await status()).slots[1]!.state).to.equal('generic');
  });

  it('resizes the home slot and drains', async () => {
    expect((await control({ op: 'resize', capacity: 7, cpu: 1.5 })).reply.ok).to.equal(true);
    const s = (await (await fetch(`${wd.url}/_/hyperfaas/status`)).json()) as Report & { cpu: { limit: number } };
    expect(s.slots[0]!.capacity).to.equal(7);
    expect(s.cpu.limit).to.equal(1.5);
    expect((await control({ op: 'drain' })).reply.ok).to.equal(true);
    expect((await fetch(`${wd.url}/_/ready`)).status).to.equal(503);
    expect((await status()).draining).to.equal(true);
  });
});
