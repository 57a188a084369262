/**
 * The README's faas-cli walkthrough, run by bash exactly as written from a fresh folder against the real provider
 * process, with test/support/faas-cli.ts standing in for faas-cli 0.17.6 and the real `hyperfaas publish`. The same
 * provider then shows the deploy-time rules through the API: an image that resolves to nothing is a 400 saying how
 * to publish, images resolve only inside HYPERFAAS_IMAGE_PATH, and command images answer like the classic watchdog.
 */
import { expect } from 'chai';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { packDir } from '@hyperfaas/watchdog/bundle';
import { outRoot, repoRoot } from '../../src/paths.js';
import { httpCall } from '../support/http.js';
import { readmeBlock, runWalkthrough } from '../support/readme.js';
import { startProviderProcess, type ProviderProcess } from '../support/provider-process.js';

describe('README faas-cli walkthrough and deploy-time image rules (real provider)', function () {
  this.timeout(180_000);
  let tmp: string;
  let imagePath: string;
  let base: string;
  let provider: ProviderProcess | undefined;
  const output = (): string => provider?.output() ?? '';
  const http = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => httpCall(base, method, path, body, { headers });
  const outside = () =>
    `an image resolves only inside HYPERFAAS_IMAGE_PATH (${imagePath}) or to a published build`;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'hf-walk-'));
    imagePath = join(tmp, 'images');
    await mkdir(imagePath);
    provider = await startProviderProcess({
      cwd: tmp,
      env: {
        HYPERFAAS_LISTEN: '127.0.0.1',
        HYPERFAAS_DATA: join(tmp, 'data'),
        HYPERFAAS_IMAGE_PATH: imagePath,
        HYPERFAAS_HEALTH_INTERVAL: '200ms',
        HYPERFAAS_STOP_TIMEOUT: '5s',
      },
    });
    base = provider.base;
  });

  after(async () => {
    await provider?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('runs the walkthrough as written from a fresh folder and answers the handler JSON', async () => {
    const block = await readmeBlock('walkthrough');
    expect(block, 'the README walkthrough block').to.not.equal(undefined);
    const r = await runWalkthrough(block!, tmp, base);
    const home = join(tmp, 'home');
    expect(r.code, `${r.out}\nprovider:\n${output()}`).to.equal(0);
    expect(r.out).to.contain('{"message":"Hello, world!"}');
    expect(r.out).to.contain('Published build/hello as hello:latest');
    expect(r.out).to.contain('Deployed. 202 Accepted.');
    expect(await readFile(join(home, 'hello-fn', 'stack.yaml'), 'utf8')).to.equal(
      `version: 1.0\nprovider:\n  name: openfaas\n  gateway: ${base}\nfunctions:\n  hello:\n    lang: node20\n    handler: ./hello\n    image: hello:latest\n\n`,
    );
    const list = JSON.parse((await http('GET', '/system/images')).body) as { key: string }[];
    expect(list.map((i) => i.key)).to.deep.equal(['hello:latest']);
  });

  it('refuses a template-built image that resolves to nothing with 400, where it looked and how to publish', async () => {
    const r = await http('POST', '/system/functions', { service: 'nope', image: 'nope:latest', envProcess: 'node index.js', labels: {}, annotations: {} });
    expect(r.status).to.equal(400);
    expect(r.body).to.equal(
      `image nope:latest resolves to nothing: no published build and no function folder (template.yml or Dockerfile) at ${join(tmp, 'data', 'published', 'nope:latest')}, ${join(imagePath, 'nope')}. ` +
        'Publish it from the folder holding your stack.yaml: faas-cli build --shrinkwrap, then hyperfaas publish (uploads build/nope/ as nope:latest); ' +
        'or put build/nope on HYPERFAAS_IMAGE_PATH. envProcess "node index.js" runs only inside that build; to run it as a plain command instead, set the label com.hyperfaas.fork=true.\n',
    );
  });

  describe('images resolve only inside HYPERFAAS_IMAGE_PATH', () => {
    let elsewhere: string;
    before(async () => {
      elsewhere = join(tmp, 'elsewhere', 'somedir');
      await mkdir(elsewhere, { recursive: true });
      await writeFile(join(elsewhere, 'Dockerfile'), 'FROM scratch\nENV fprocess="cat"\n');
      await writeFile(join(elsewhere, 'root-only.txt'), 'secret\n', { mode: 0o600 });
    });
    const deploy = (service: string, image: string) => http('POST', '/system/functions', { service, image, labels: {}, annotations: {} });

    it('answers 400 for an absolute path outside it', async () => {
      const r = await deploy('abs', elsewhere);
      expect(r.status).to.equal(400);
      expect(r.body).to.equal(`image ${elsewhere} is a path outside the image path: ${outside()}\n`);
    });

    it('answers 400 for a name with ..', async () => {
      const r = await deploy('dots', '../elsewhere/somedir');
      expect(r.status).to.equal(400);
      expect(r.body).to.equal(`image "../elsewhere/somedir" contains "..": ${outside()}\n`);
    });

    it('answers 400 for a folder that is a symlink pointing out of it', async () => {
      await symlink(elsewhere, join(imagePath, 'leak'));
      const r = await deploy('leak', 'leak:latest');
      expect(r.status).to.equal(400);
      expect(r.body).to.equal(`image leak:latest resolves to ${join(imagePath, 'leak')}, a symlink leading out of the image path (to ${elsewhere}): ${outside()}\n`);
    });

    it('answers 400 for a folder holding a symlink that points out of it', async () => {
      const dir = join(imagePath, 'inner');
      await mkdir(dir);
      await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nENV fprocess="cat"\n');
      await symlink(join(elsewhere, 'root-only.txt'), join(dir, 'data.txt'));
      const r = await deploy('inner', 'inner');
      expect(r.status).to.equal(400);
      expect(r.body).to.equal(`image inner: ${join(dir, 'data.txt')} is a symlink leading out of the image path (to ${join(elsewhere, 'root-only.txt')}): ${outside()}\n`);
    });

    it('accepts an absolute path inside it', async () => {
      const dir = join(imagePath, 'inside');
      await mkdir(dir);
      await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nENV fprocess="cat"\nENV mode="classic"\n');
      const r = await deploy('inside', dir);
      expect(r.status, r.body).to.equal(202);
      expect((await http('DELETE', '/system/functions', { functionName: 'inside' })).status).to.equal(202);
    });
  });

  describe('the command image answers like the classic watchdog', () => {
    it('runs envProcess for functions/alpine, and a failing command answers 500 with the exit status', async () => {
      const ok = await http('POST', '/system/functions', { service: 'echoer', image: 'functions/alpine:latest', envProcess: 'cat', labels: {}, annotations: {} });
      expect(ok.status, ok.body).to.equal(202);
      const r = await http('POST', '/function/echoer', 'ping');
      expect(r.status, r.body).to.equal(200);
      expect(r.body).to.equal('ping');
      const bad = await http('POST', '/system/functions', { service: 'broken', image: 'functions/alpine:latest', envProcess: 'ls /no-such-dir', labels: {}, annotations: {} });
      expect(bad.status, bad.body).to.equal(202);
      const b = await http('POST', '/function/broken', '');
      expect(b.status).to.equal(500);
      expect(b.body).to.equal("exit status 2\nls: cannot access '/no-such-dir': No such file or directory\n");
    });
  });

  describe('PUT /system/images says what to fix', () => {
    it('answers 400 without ?image=', async () => {
      const r = await http('PUT', '/system/images', 'x');
      expect(r.status).to.equal(400);
      expect(r.body).to.equal('image: give the image reference in the query, e.g. PUT /system/images?image=hello:latest\n');
    });
    it('answers 400 for a body that is not a bundle', async () => {
      const r = await http('PUT', '/system/images?image=x:1', 'just text');
      expect(r.status).to.equal(400);
      expect(r.body).to.equal('the upload is not a usable bundle: not a HyperFaaS code bundle\n');
    });
    it('answers 400 for a bundle of the folder above the build', async () => {
      const above = join(tmp, 'above');
      await mkdir(join(above, 'hello'), { recursive: true });
      await writeFile(join(above, 'hello', 'template.yml'), 'fprocess: cat\n');
      const res = await fetch(`${base}/system/images?image=x:1`, { method: 'PUT', body: gzipSync(await packDir(above)), headers: { 'content-type': 'application/gzip' } });
      expect(res.status).to.equal(400);
      expect(await res.text()).to.equal('the upload has no template.yml or Dockerfile at its top: pack the contents of build/<function>/ (what faas-cli build --shrinkwrap writes), not the folder above it\n');
    });
    it('answers 400 for a reference it cannot store', async () => {
      const r = await http('PUT', '/system/images?image=Hello:latest', 'x');
      expect(r.status).to.equal(400);
      expect(r.body).to.equal('image "Hello:latest" has the path component "Hello": use lowercase letters, digits and single . _ - between them\n');
    });
  });
});
