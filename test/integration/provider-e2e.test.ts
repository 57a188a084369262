/**
 * The real provider process (compiled src/main.js) with the local backend, driven over HTTP like faas-cli and the
 * gateway drive it: deploy, invoke with every method, scale, scale to zero and back, logs, a rolling update under
 * load, a provider restart that keeps functions and secrets, and removal.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpCall } from '../support/http.js';
import { eventually } from '../contract/backend.contract.js';
import { freePort } from '../support/ports.js';
import { startProviderProcess, type ProviderProcess } from '../support/provider-process.js';

const http = (base: string, method: string, path: string, body?: unknown) => httpCall(base, method, path, body);

describe('provider end to end with the local backend', function () {
  this.timeout(240_000);
  let data: string;
  let port: number;
  let base: string;
  let provider: ProviderProcess | undefined;

  async function startProvider(): Promise<void> {
    provider = await startProviderProcess({
      port,
      env: {
        HYPERFAAS_DATA: data,
        HYPERFAAS_HEALTH_INTERVAL: '200ms',
        HYPERFAAS_RESTART_BACKOFF_MIN: '200ms',
        HYPERFAAS_RESTART_BACKOFF_MAX: '2s',
        HYPERFAAS_STOP_TIMEOUT: '15s',
      },
    });
  }

  async function stopProvider(): Promise<void> {
    const p = provider;
    provider = undefined;
    if (!p) return;
    expect(await p.stop(60_000), `provider exit code; output:\n${p.output()}`).to.equal(0);
  }

  async function status(name: string): Promise<{ replicas: number; availableReplicas: number; envVars?: Record<string, string>; createdAt: string }> {
    const r = await http(base, 'GET', `/system/function/${name}?namespace=openfaas-fn`);
    expect(r.status, r.body).to.equal(200);
    return JSON.parse(r.body);
  }

  async function waitAvailable(name: string, n: number): Promise<void> {
    await eventually(async () => expect((await status(name)).availableReplicas).to.equal(n), 60_000, 100);
  }

  before(async () => {
    data = await mkdtemp(join(tmpdir(), 'hf-e2e-'));
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    await startProvider();
  });
  after(async () => {
    await stopProvider().catch(() => undefined);
    await rm(data, { recursive: true, force: true });
  });

  it('deploys the echo example and reports it ready', async () => {
    const r = await http(base, 'POST', '/system/functions', { service: 'echo', image: 'hyperfaas/echo:latest', labels: {}, annotations: {} });
    expect([200, 202], r.body).to.include(r.status);
    await waitAvailable('echo', 1);
    const st = await status('echo');
    expect(st.replicas).to.equal(1);
  });

  it('invokes /function/echo with each HTTP method, path and query intact', async () => {
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
      const r = await http(base, method, `/function/echo.openfaas-fn/a/b?m=${method}`, method === 'GET' ? undefined : `body-${method}`);
      expect(r.status, `${method}: ${r.body}`).to.equal(200);
      const got = JSON.parse(r.body) as { method: string; path: string; query: Record<string, string>; body: string };
      expect(got.method).to.equal(method);
      expect(got.path).to.equal('/a/b');
      expect(got.query).to.deep.equal({ m: method });
      if (method !== 'GET') expect(got.body).to.equal(`body-${method}`);
    }
    expect((await http(base, 'POST', '/function/no-such-fn', 'x')).status).to.equal(404);
  });

  it('scales to 3 and then to 0', async () => {
    const up = await http(base, 'POST', '/system/scale-function/echo', { serviceName: 'echo', replicas: 3 });
    expect([200, 202], up.body).to.include(up.status);
    await waitAvailable('echo', 3);
    const down = await http(base, 'POST', '/system/scale-function/echo?namespace=openfaas-fn', { serviceName: 'echo', replicas: 0 });
    expect([200, 202], down.body).to.include(down.status);
    await waitAvailable('echo', 0);
    expect((await status('echo')).replicas).to.equal(0);
  });

  it('invokes a function scaled to zero: it starts and answers', async () => {
    const r = await http(base, 'POST', '/function/echo', 'from-zero');
    expect(r.status, r.body).to.equal(200);
    expect(JSON.parse(r.body).body).to.equal('from-zero');
    expect((await status('echo')).availableReplicas).to.be.at.least(1);
  });

  it('streams /system/logs as NDJSON and ends without follow', async () => {
    const r = await http(base, 'GET', '/system/logs?name=echo&namespace=openfaas-fn&follow=false&tail=-1');
    expect(r.status).to.equal(200);
    expect(String(r.headers['content-type'])).to.contain('application/x-ndjson');
    const lines = r.body
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { name: string; namespace: string; instance: string; timestamp: string; text: string });
    expect(lines.length).to.be.greaterThan(3);
    for (const l of lines) expect(l).to.have.all.keys('name', 'namespace', 'instance', 'timestamp', 'text');
    expect(lines.some((l) => l.text.includes('Listening on port'))).to.equal(true);
    const two = await http(base, 'GET', '/system/logs?name=echo&follow=false&tail=2');
    expect(two.body.split('\n').filter((l) => l !== '')).to.have.length(2);
  });

  it('rolls a PUT update under steady load without a failed request', async () => {
    const failures: string[] = [];
    let ok = 0;
    let stop = false;
    const load = Promise.all(
      [0, 1].map(async () => {
        for (let n = 0; !stop && n < 2000; n++) {
          try {
            const r = await http(base, 'POST', '/function/echo', 'load');
            if (r.status === 200) ok++;
            else failures.push(`${r.status}: ${r.body}`);
          } catch (e) {
            failures.push(String(e));
          }
          await new Promise((res) => setTimeout(res, 40));
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 500));
    const before = ok;
    const r = await http(base, 'PUT', '/system/functions', { service: 'echo', image: 'hyperfaas/echo:latest', envVars: { VERSION: '2' }, labels: {}, annotations: {} });
    expect([200, 202], r.body).to.include(r.status);
    await eventually(async () => {
      const st = await status('echo');
      expect(st.envVars).to.deep.equal({ VERSION: '2' });
      expect(st.availableReplicas).to.equal(1);
    }, 60_000, 100);
    // Let the old instance drain and exit while the load continues.
    await new Promise((res) => setTimeout(res, 3000));
    stop = true;
    await load;
    expect(failures).to.deep.equal([]);
    expect(ok).to.be.greaterThan(before);
  });

  it('keeps functions and secrets across a provider restart', async () => {
    const s = await http(base, 'POST', '/system/secrets', { name: 'api-key', value: 'k-123' });
    expect([200, 201, 202], s.body).to.include(s.status);
    const d = await http(base, 'POST', '/system/functions', {
      service: 'reader',
      image: 'functions/alpine:latest',
      envProcess: 'env',
      secrets: ['api-key'],
      labels: {},
      annotations: {},
    });
    expect([200, 202], d.body).to.include(d.status);
    await waitAvailable('reader', 1);
    const createdAt = (await status('echo')).createdAt;

    await stopProvider();
    await startProvider();

    const list = JSON.parse((await http(base, 'GET', '/system/functions')).body) as { name: string }[];
    expect(list.map((f) => f.name).sort()).to.deep.equal(['echo', 'reader']);
    expect((await status('echo')).createdAt).to.equal(createdAt);
    const secrets = JSON.parse((await http(base, 'GET', '/system/secrets')).body) as { name: string }[];
    expect(secrets.map((x) => x.name)).to.include('api-key');
    await waitAvailable('echo', 1);
    await waitAvailable('reader', 1);
    const r = await http(base, 'POST', '/function/reader', '');
    expect(r.status).to.equal(200);
    expect(r.body).to.match(/secret_mount_path=\S+/);
  });

  it('reaps the instances a killed provider left behind when it starts again', async () => {
    const logs = await http(base, 'GET', '/system/logs?name=echo&follow=false&tail=-1');
    const ids = [...new Set(logs.body.split('\n').filter((l) => l).map((l) => (JSON.parse(l) as { instance: string }).instance))].filter((i) => i.startsWith('echo-'));
    const alive = async () => {
      const out: number[] = [];
      for (const d of await readdir('/proc')) {
        if (!/^\d+$/.test(d)) continue;
        const env = (await readFile(`/proc/${d}/environ`, 'utf8').catch(() => '')).split('\0');
        if (ids.some((id) => env.includes(`HYPERFAAS_INSTANCE_ID=${id}`))) out.push(Number(d));
      }
      return out;
    };
    const before = await alive();
    expect(before.length, 'instance processes before the kill').to.be.greaterThan(0);
    const killed = provider!;
    provider = undefined;
    await killed.kill();
    // Instances run in their own process groups, so they outlive a provider killed without a chance to stop them.
    expect((await alive()).length).to.be.greaterThan(0);
    await startProvider();
    await eventually(async () => expect(await alive()).to.deep.equal([]), 30_000, 100);
    for (const c of ['cpu', 'memory', 'pids']) {
      for (const id of ids) expect(existsSync(`/sys/fs/cgroup/${c}/hyperfaas/${id}`), `cgroup ${c} of ${id}`).to.equal(false);
    }
    await waitAvailable('echo', 1);
    expect((await http(base, 'POST', '/function/echo', 'after')).status).to.equal(200);
  });

  it('removes the functions: status answers 404 and the list is empty', async () => {
    for (const name of ['echo', 'reader']) {
      const r = await http(base, 'DELETE', '/system/functions', { functionName: name, namespace: 'openfaas-fn' });
      expect([200, 202], r.body).to.include(r.status);
      expect((await http(base, 'GET', `/system/function/${name}`)).status).to.equal(404);
    }
    expect(JSON.parse((await http(base, 'GET', '/system/functions')).body)).to.deep.equal([]);
  });
});
