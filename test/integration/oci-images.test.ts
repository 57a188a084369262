/**
 * OCI images from a registry, end to end without the internet: a real docker-registry on 127.0.0.1 (and a second
 * one behind htpasswd auth), images built here from a static busybox and pushed with skopeo, and the real provider
 * process (runc, as root) deploying them by reference. Then the store alone: pull policies and garbage collection.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isBackendError } from '../../src/backends/backend.js';
import { OciImageStore } from '../../src/backends/local/oci-store.js';
import { parseImageRef } from '../../src/backends/local/registry.js';
import { eventually, httpCall } from '../support/http.js';
import { pushImage, startRegistry, webImage, type Registry } from '../support/oci-registry.js';
import { freePort } from '../support/ports.js';
import { startProviderProcess, type ProviderProcess } from '../support/provider-process.js';

const exec = promisify(execFile);

async function netnsList(): Promise<string[]> {
  return (await exec('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((l) => l !== '');
}

describe('OCI images from a local registry (real provider, runc)', function () {
  this.timeout(300_000);
  let pub: Registry;
  let priv: Registry;
  let tmp: string;
  let authFile: string;
  let base: string;
  let provider: ProviderProcess | undefined;
  const output = (): string => provider?.output() ?? '';
  const http = (method: string, path: string, body?: unknown) => httpCall(base, method, path, body, { timeoutMs: 120_000 });
  const status = async (name: string) => {
    const r = await http('GET', `/system/function/${name}`);
    return { code: r.status, st: r.status === 200 ? (JSON.parse(r.body) as { replicas: number; availableReplicas: number; annotations: Record<string, string> }) : undefined };
  };
  const waitAvailable = (name: string, n: number) =>
    eventually(async () => {
      const { st } = await status(name);
      expect(st?.availableReplicas, output().slice(-3000)).to.equal(n);
    }, 90_000, 100);

  before(async function () {
    if (process.getuid?.() !== 0) throw new Error('this test needs root (runc)');
    pub = await startRegistry();
    priv = await startRegistry({ user: 'fn-user', password: 's3cret' });
    await pushImage(`${pub.host}/test/web:1`, webImage('hi'));
    await pushImage(`${priv.host}/private/web:1`, webImage('private'), priv.authFile);
    tmp = await mkdtemp(join(tmpdir(), 'hf-oci-it-'));
    authFile = join(tmp, 'auth.json');
    // Wrong credentials at first: the private-registry test swaps in the right ones.
    await writeFile(authFile, JSON.stringify({ auths: { [priv.host]: { auth: Buffer.from('fn-user:wrong').toString('base64') } } }));
    provider = await startProviderProcess({
      cwd: tmp,
      env: {
        HYPERFAAS_LISTEN: '127.0.0.1',
        HYPERFAAS_DATA: join(tmp, 'data'),
        HYPERFAAS_IMAGE_PATH: join(tmp, 'images'),
        HYPERFAAS_HEALTH_INTERVAL: '200ms',
        HYPERFAAS_STOP_TIMEOUT: '2s',
        HYPERFAAS_INSECURE_REGISTRIES: `${pub.host},${priv.host}`,
        HYPERFAAS_REGISTRY_AUTH: authFile,
        HYPERFAAS_NEED_KUBECTL: '0',
      },
    });
    base = provider.base;
  });

  after(async () => {
    await provider?.stop();
    await pub?.stop();
    await priv?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('deploys an image by reference, invokes it, scales it to 3 and back, shows its logs and removes it', async () => {
    expect((await http('POST', '/system/secrets', { name: 'db-pass', value: 'pw' })).status).to.be.oneOf([200, 201, 202]);
    const dep = await http('POST', '/system/functions', {
      service: 'web',
      image: `${pub.host}/test/web:1`,
      envProcess: 'ignored-by-httpd',
      secrets: ['db-pass'],
      labels: {},
      annotations: {},
    });
    expect(dep.status, dep.body).to.equal(202);
    await waitAvailable('web', 1);
    const { st } = await status('web');
    expect(st!.annotations['com.hyperfaas.image.digest']).to.match(/^sha256:[0-9a-f]{64}$/);
    expect(st!.annotations['com.hyperfaas.ics']).to.equal('none');

    const r = await http('POST', '/function/web', 'hello image');
    expect(r.status, r.body).to.equal(200);
    // The image config applied: its env, its working dir (the CGI runs in cgi-bin below it), HOME of its user;
    // envProcess as fprocess; the function's own uid (not root); its secret mounted.
    expect(r.body).to.contain('greeting=hi fprocess=ignored-by-httpd cwd=/www/cgi-bin');
    expect(r.body).to.contain('home=/home/app');
    const uid = Number(/uid=(\d+)/.exec(r.body)![1]);
    expect(uid).to.be.greaterThanOrEqual(2_000_000);
    expect(r.body).to.contain('body=hello image');
    expect(r.body).to.contain('secret=db-pass');

    expect((await http('POST', '/system/scale-function/web', { serviceName: 'web', replicas: 3 })).status).to.equal(202);
    await waitAvailable('web', 3);
    const nets = (await netnsList()).filter((n) => n.startsWith('hf-web-'));
    expect(nets).to.have.length(3);
    for (let i = 0; i < 6; i++) expect((await http('POST', '/function/web', `n${i}`)).body).to.contain(`body=n${i}`);
    expect((await http('POST', '/system/scale-function/web', { serviceName: 'web', replicas: 1 })).status).to.equal(202);
    await waitAvailable('web', 1);
    await eventually(async () => expect((await netnsList()).filter((n) => n.startsWith('hf-web-'))).to.have.length(1), 30_000, 100);

    const logs = await http('GET', '/system/logs?name=web&follow=false&tail=-1');
    expect(logs.status).to.equal(200);
    const text = logs.body
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { text: string; instance: string })
      .map((l) => `${l.instance} ${l.text}`)
      .join('\n');
    expect(text).to.match(new RegExp(`pull pulling ${pub.host.replace(/\./g, '\\.')}/test/web:1`));
    expect(text).to.match(/pull Copying blob sha256:/);
    expect(text).to.match(/pull pulled .* \(sha256:[0-9a-f]{64}\)/);
    expect(text).to.contain('served request');

    expect((await http('DELETE', '/system/functions', { functionName: 'web' })).status).to.equal(202);
    expect((await status('web')).code).to.equal(404);
    await eventually(async () => expect((await netnsList()).filter((n) => n.startsWith('hf-web-'))).to.deep.equal([]), 30_000, 100);
    await eventually(async () => expect(await readdir(join(tmp, 'data', 'run'))).to.deep.equal([]), 30_000, 100);
  });

  it('refuses a reference the registry does not have with 400 saying so, and leaves nothing behind', async () => {
    const r = await http('POST', '/system/functions', { service: 'nope', image: `${pub.host}/test/nope:1` });
    expect(r.status).to.equal(400);
    expect(r.body).to.contain(`pulling ${pub.host}/test/nope:1: not found: registry ${pub.host} has no image test/nope:1`);
    expect((await status('nope')).code).to.equal(404);
    expect(await readdir(join(tmp, 'data', 'oci', 'tmp'))).to.deep.equal([]);
    expect(existsSync(join(tmp, 'data', 'logs', 'openfaas-fn__nope.log'))).to.equal(false);
  });

  it('refuses an unreachable registry with 503 naming it, and a malformed reference with 400', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const r = await http('POST', '/system/functions', { service: 'dead', image: `${dead}/x/y:1` });
    expect(r.status).to.equal(503);
    expect(r.body).to.contain(`registry ${dead} is unreachable`);
    expect(r.body).to.contain('connection refused');
    expect((await status('dead')).code).to.equal(404);
    const bad = await http('POST', '/system/functions', { service: 'bad', image: `${pub.host}/Test/UP:1` });
    expect(bad.status).to.equal(400);
    expect(bad.body).to.contain('has the path component "Test"');
    expect(await readdir(join(tmp, 'data', 'oci', 'tmp'))).to.deep.equal([]);
  });

  it('pulls from a private registry only with the credentials of HYPERFAAS_REGISTRY_AUTH', async () => {
    const image = `${priv.host}/private/web:1`;
    const refused = await http('POST', '/system/functions', { service: 'private', image });
    expect(refused.status).to.equal(400);
    expect(refused.body).to.contain(`registry ${priv.host} refused access (authentication failed or required; credentials come from HYPERFAAS_REGISTRY_AUTH=${authFile})`);
    expect((await status('private')).code).to.equal(404);
    await writeFile(authFile, JSON.stringify({ auths: { [priv.host]: { auth: Buffer.from('fn-user:s3cret').toString('base64') } } }));
    const ok = await http('POST', '/system/functions', { service: 'private', image });
    expect(ok.status, ok.body).to.equal(202);
    await waitAvailable('private', 1);
    expect((await http('POST', '/function/private', 'x')).body).to.contain('greeting=private');
    expect((await http('DELETE', '/system/functions', { functionName: 'private' })).status).to.equal(202);
  });
});

describe('OCI image store: pull policies and garbage collection (real registry, skopeo, umoci)', function () {
  this.timeout(120_000);
  let reg: Registry;
  let dir: string;
  const lines: string[] = [];
  const log = (l: string) => lines.push(l);

  before(async () => {
    reg = await startRegistry();
    await pushImage(`${reg.host}/t/a:1`, webImage('a'));
    dir = await mkdtemp(join(tmpdir(), 'hf-oci-store-'));
  });
  after(async () => {
    await reg?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('Never refuses what is not stored; IfNotPresent pulls once and then needs no registry; Always asks it again', async () => {
    const store = new OciImageStore(dir, { pullPolicy: 'IfNotPresent', insecure: [reg.host] });
    await store.init();
    const ref = parseImageRef(`${reg.host}/t/a:1`)!;
    const never = await store.get(ref, log, 'Never').catch((e: unknown) => e);
    expect(isBackendError(never, 'Invalid')).to.equal(true);
    expect((never as Error).message).to.contain('is not stored here and image_pull_policy is Never');
    const img = await store.get(ref, log);
    expect(img.process.args).to.deep.equal(['/bin/busybox', 'httpd', '-f', '-v', '-p', '8080', '-h', '/www']);
    expect(img.process.cwd).to.equal('/www');
    expect(img.process.env).to.include({ GREETING: 'a' });
    expect(existsSync(join(img.rootfs, 'www', 'cgi-bin', 'index.cgi'))).to.equal(true);
    expect(existsSync(join(img.rootfs, 'var', 'openfaas', 'secrets'))).to.equal(true);
    await reg.stop();
    expect((await store.get(ref, log)).digest).to.equal(img.digest);
    expect((await store.get(ref, log, 'Never')).digest).to.equal(img.digest);
    const always = await store.get(ref, log, 'Always').catch((e: unknown) => e);
    expect(isBackendError(always, 'Unavailable'), String(always)).to.equal(true);
    expect((always as Error).message).to.contain(`registry ${reg.host} is unreachable`);
    // gc keeps what is in use, then collects it with its reference once unused.
    expect(await store.gc(new Set([img.digest.slice(7)]), Date.now(), 0)).to.deep.equal([]);
    expect(await store.gc(new Set(), Date.now(), 0)).to.deep.equal([img.digest]);
    expect(existsSync(img.rootfs)).to.equal(false);
    const gone = await store.get(ref, log, 'Never').catch((e: unknown) => e);
    expect((gone as Error).message).to.contain('is not stored here');
  });
});
