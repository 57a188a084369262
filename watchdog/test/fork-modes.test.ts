import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtures, startWatchdog, waitFor, type Running } from './helpers.js';

async function post(url: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', body, headers });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

const forkCmd = (what: string) => `${process.execPath} ${join(fixtures, 'fork.mjs')} ${what}`;

describe('watchdog forking modes (a process per request)', function () {
  this.timeout(30_000);
  const started: Running[] = [];
  afterEach(async () => {
    for (const w of started.splice(0)) await w.stop();
  });

  it('streaming mode pipes the body through cat and logs like the classic watchdog', async () => {
    const wd = await startWatchdog({ mode: 'streaming', fprocess: 'cat', guest_slot: 'false' });
    started.push(wd);
    const r = await post(`${wd.url}/`, 'hello cat');
    expect(r.status).to.equal(200);
    expect(r.body).to.equal('hello cat');
    expect(r.headers.get('content-type')).to.equal('application/octet-stream');
    await waitFor(() => /Wrote 9 Bytes/.test(wd.output()), 5000, 'Wrote line');
    expect(wd.output()).to.contain('Forking fprocess');
  });

  it('streaming mode sets content_type and the CGI Http_* environment', async () => {
    const wd = await startWatchdog({ mode: 'streaming', fprocess: forkCmd('env'), content_type: 'application/json', guest_slot: 'false' });
    started.push(wd);
    const r = await post(`${wd.url}/p/q?a=1`, '{}', { 'Content-Type': 'text/plain', 'X-Call-Id': 'abc' });
    expect(r.headers.get('content-type')).to.equal('application/json');
    const env = JSON.parse(r.body) as Record<string, string>;
    expect(env.Http_Method).to.equal('POST');
    expect(env.Http_Path).to.equal('/p/q');
    expect(env.Http_Query).to.equal('a=1');
    expect(env.Http_Content_Type).to.equal('text/plain');
    expect(env.Http_X_Call_Id).to.equal('abc');
  });

  it('does not hand the control token to function processes', async () => {
    const wd = await startWatchdog({ mode: 'serializing', fprocess: forkCmd('token'), HYPERFAAS_CONTROL_TOKEN: 's3cret', guest_slot: 'false' });
    started.push(wd);
    expect((await post(`${wd.url}/`, '')).body).to.equal('token=(unset)');
  });

  it('takes its control token from the credentials dir and hides every credential setting from the function', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wd-creds-'));
    writeFileSync(join(dir, 'control-token'), 'file-token\n', { mode: 0o400 });
    const wd = await startWatchdog({
      mode: 'serializing',
      fprocess: forkCmd('platform-env'),
      guest_slot: 'false',
      HYPERFAAS_CONTROL_TOKEN: 'env-token',
      HYPERFAAS_CREDENTIALS_DIR: dir,
      HYPERFAAS_INSTANCE_ID: 'wd-creds-1',
      HYPERFAAS_FUNCTION: 'creds',
      HYPERFAAS_NATS_SIGNING_KEY: '/nowhere',
      NATS_CREDS: '/nowhere',
      hyperfaas_overflow: '429',
    });
    started.push(wd);
    const seen = JSON.parse((await post(`${wd.url}/`, '')).body) as string[];
    expect(seen).to.deep.equal(['HYPERFAAS_FUNCTION', 'HYPERFAAS_INSTANCE_ID', 'HYPERFAAS_NODE_RUNTIME', 'HYPERFAAS_PYTHON_RUNTIME']);
    const control = (token: string) => post(`${wd.url}/_/hyperfaas/control`, '{"op":"resize","capacity":3}', { 'x-hyperfaas-token': token });
    const withEnvToken = await control('env-token');
    expect([withEnvToken.status, withEnvToken.body]).to.deep.equal([403, "x-hyperfaas-token is not this instance's control token\n"]);
    const withFileToken = await control('file-token');
    expect(withFileToken.status).to.equal(200);
    rmSync(dir, { recursive: true, force: true });
  });

  it('streaming mode keeps 200 and truncates when the exec timeout kills the process', async () => {
    const wd = await startWatchdog({ mode: 'streaming', fprocess: forkCmd('sleep'), exec_timeout: '500ms', guest_slot: 'false' });
    started.push(wd);
    const r = await post(`${wd.url}/`, '');
    expect(r.status).to.equal(200);
    expect(r.body).to.equal('');
    await waitFor(() => wd.output().includes('ExecTimeout'), 5000);
  });

  it('serializing mode answers with the output, Content-Type and X-Duration-Seconds', async () => {
    const wd = await startWatchdog({ mode: 'serializing', fprocess: 'cat', content_type: 'text/plain', guest_slot: 'false' });
    started.push(wd);
    const r = await post(`${wd.url}/`, 'buffered');
    expect(r.status).to.equal(200);
    expect(r.body).to.equal('buffered');
    expect(r.headers.get('content-type')).to.equal('text/plain');
    expect(r.headers.get('x-duration-seconds')).to.match(/^\d+\.\d+$/);
  });

  it('serializing mode answers 500 with the error when the function fails', async () => {
    const wd = await startWatchdog({ mode: 'serializing', fprocess: forkCmd('fail'), guest_slot: 'false' });
    started.push(wd);
    const r = await post(`${wd.url}/`, 'x');
    expect(r.status).to.equal(500);
    expect(r.body).to.contain('exit status 4');
    await waitFor(() => wd.output().includes('failing on purpose'), 5000);
  });

  it('serializing mode answers 500 when the exec timeout passes', async () => {
    const wd = await startWatchdog({ mode: 'serializing', fprocess: forkCmd('sleep'), exec_timeout: '300ms', guest_slot: 'false' });
    started.push(wd);
    const r = await post(`${wd.url}/`, 'x');
    expect(r.status).to.equal(500);
    expect(r.body).to.contain('timeout');
  });

  it('forking modes honour max_inflight with a 429', async () => {
    const wd = await startWatchdog({ mode: 'serializing', fprocess: forkCmd('sleep'), exec_timeout: '2s', max_inflight: '1', guest_slot: 'false' });
    started.push(wd);
    const first = post(`${wd.url}/`, 'x');
    await waitFor(async () => (await fetch(`${wd.url}/_/ready`)).status === 429, 5000);
    const r = await post(`${wd.url}/`, 'y');
    expect(r.status).to.equal(429);
    expect(r.body).to.equal('Concurrent request limit exceeded. Max concurrent requests: 1');
    await first;
  });

  it('static mode serves files from static_path', async () => {
    const wd = await startWatchdog({ mode: 'static', static_path: join(fixtures, 'static'), guest_slot: 'false' });
    started.push(wd);
    const index = await fetch(`${wd.url}/`);
    expect(index.status).to.equal(200);
    expect(await index.text()).to.contain('static ok');
    expect(index.headers.get('content-type')).to.contain('text/html');
    const file = await fetch(`${wd.url}/file.txt`);
    expect(await file.text()).to.equal('plain text\n');
    expect((await fetch(`${wd.url}/missing`)).status).to.equal(404);
    expect((await fetch(`${wd.url}/../../package.json`)).status).to.equal(404);
  });
});
