import { expect } from 'chai';
import { join } from 'node:path';
import { fixtures, freePort, repo, slotClient, startWatchdog, waitFor, type Running } from './helpers.js';

describe('watchdog with the Python runtime: python3-http template at home, a generic Python guest slot', function () {
  this.timeout(60_000);
  let wd: Running;
  const token = 'python-runtime-test-token';
  const { control, status, guestCall } = slotClient(() => wd, token);

  before(async () => {
    const up = await freePort();
    wd = await startWatchdog({
      mode: 'http',
      fprocess: `python3 ${join(repo, 'stack-templates', 'template', 'python3-http', 'index.py')}`,
      upstream_url: `http://127.0.0.1:${up}`,
      HYPERFAAS_FUNCTION: 'home-py',
      HYPERFAAS_NAMESPACE: 'openfaas-fn',
      HYPERFAAS_RUNTIME: 'python',
      HYPERFAAS_CONTROL_TOKEN: token,
    });
    await waitFor(async () => (await status()).slots[1]!.state === 'generic', 15_000, 'generic guest');
  });
  after(async () => wd?.stop());

  it('serves the home function from the python3-http template, and reports the python runtime', async () => {
    const a = await fetch(`${wd.url}/`, { method: 'POST', body: '{"x":1}', headers: { 'content-type': 'application/json' } });
    expect(a.status).to.equal(200);
    expect(a.headers.get('content-type')).to.equal('application/json');
    expect(await a.json()).to.deep.equal({ body: '{"x":1}', 'content-type': 'application/json' });
    expect((await status()).runtime).to.equal('python');
  });

  it('specialises the generic slot by importing the handler module (its dependencies from <dir>/python), and serves it', async () => {
    const r = await control({ op: 'specialise', function: 'py-hello.openfaas-fn', code: { kind: 'dir', path: join(fixtures, 'py-hello') }, env: { GREETING: 'hi' }, capacity: 2 });
    expect(r.reply.ok, r.reply.error).to.equal(true);
    expect(r.reply.ms).to.be.a('number');
    const res = await guestCall('py-hello.openfaas-fn', '/a/b?x=1&x=2', { method: 'PUT', body: 'you', headers: { 'content-type': 'text/plain' } });
    expect(res.status).to.equal(201);
    expect(res.headers.get('x-fn')).to.equal('py-hello');
    expect(res.headers.get('x-hyperfaas-slot')).to.equal('guest');
    expect(await res.json()).to.deep.equal({
      greeting: 'hello you',
      shouted: 'YOU',
      method: 'PUT',
      path: '/a/b',
      query: { x: ['1', '2'] },
      'content-type': 'text/plain',
      env: 'hi',
      cwd: join(fixtures, 'py-hello'),
    });
    // A chunked request body arrives whole.
    const chunked = await guestCall('py-hello.openfaas-fn', '/', {
      method: 'POST',
      body: new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode('chun'));
          c.enqueue(new TextEncoder().encode('ked'));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(((await chunked.json()) as { greeting: string }).greeting).to.equal('hello chunked');
    const failed = await guestCall('py-hello.openfaas-fn', '/?fail=1');
    expect(failed.status).to.equal(500);
    expect(await failed.text()).to.equal('RuntimeError: asked to fail');
    expect((await status()).slots[1]).to.deep.include({ kind: 'guest', state: 'serving', function: 'py-hello.openfaas-fn', capacity: 2 });
    expect((await fetch(`${wd.url}/`, { method: 'POST', body: 'home' })).status).to.equal(200);
  });

  it('releases the slot back to a fresh generic Python runtime', async () => {
    expect((await control({ op: 'release' })).reply.ok).to.equal(true);
    const s = await status();
    expect(s.slots[1]).to.deep.include({ state: 'generic' });
    expect(s.slots[1]!.function).to.equal(undefined);
    expect((await guestCall('py-hello.openfaas-fn')).status).to.equal(404);
  });

  it('a handler that fails to import fails the specialisation with its error and leaves the slot generic', async () => {
    const r = await control({ op: 'specialise', function: 'broken.openfaas-fn', code: { kind: 'dir', path: join(fixtures, 'py-broken') } });
    expect(r.reply.ok).to.equal(false);
    expect(r.reply.error).to.contain("ModuleNotFoundError: No module named 'no_such_module_anywhere'");
    expect((await status()).slots[1]!.state).to.equal('generic');
    const missing = await control({ op: 'specialise', function: 'nope.openfaas-fn', code: { kind: 'dir', path: join(fixtures, 'no-such-fn') } });
    expect(missing.reply.ok).to.equal(false);
    expect(missing.reply.error).to.contain('handler.py does not exist');
    // The same runtime still specialises with a good function afterwards.
    const ok = await control({ op: 'specialise', function: 'py-hello.openfaas-fn', code: { kind: 'dir', path: join(fixtures, 'py-hello') } });
    expect(ok.reply.ok, ok.reply.error).to.equal(true);
    const res = await guestCall('py-hello.openfaas-fn', '/', { method: 'POST', body: 'again' });
    expect(((await res.json()) as { greeting: string }).greeting).to.equal('hello again');
    expect((await control({ op: 'release' })).reply.ok).to.equal(true);
  });
});

describe('watchdog with the Python runtime but no Python interpreter', function () {
  this.timeout(60_000);
  let wd: Running;
  const token = 'python-missing-test-token';
  const { control, status } = slotClient(() => wd, token);

  before(async () => {
    wd = await startWatchdog({
      mode: 'serializing',
      fprocess: 'cat',
      HYPERFAAS_FUNCTION: 'home',
      HYPERFAAS_RUNTIME: 'python',
      guest_python: '/nonexistent/python3',
      HYPERFAAS_CONTROL_TOKEN: token,
    });
    await waitFor(() => wd.output().includes('did not start'), 15_000, 'the guest runtime failure in the log');
  });
  after(async () => wd?.stop());

  it('keeps the guest slot down, refuses to specialise it at once, and still serves its own function', async () => {
    expect((await status()).slots[1]).to.deep.include({ kind: 'guest', state: 'down' });
    const r = await control({ op: 'specialise', function: 'py-hello.openfaas-fn', code: { kind: 'dir', path: join(fixtures, 'py-hello') } });
    expect(r.reply).to.deep.include({ ok: false, error: 'guest slot is down' });
    expect(wd.output()).to.contain('Guest runtime');
    expect(wd.output()).to.contain('ENOENT');
    const own = await fetch(`${wd.url}/`, { method: 'POST', body: 'still here' });
    expect([own.status, await own.text()]).to.deep.equal([200, 'still here']);
  });
});
