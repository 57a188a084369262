/**
 * Guest code through the JetStream object store, against a real nats-server in operator mode with HyperFaaS's
 * generated authorization: the provider's CodeStore publishes function directories into one bucket per namespace,
 * and a watchdog reads them back with nothing but its own instance's NATS user (fetchBundle, CodeCache), checked
 * against the hash. Then both backends end to end: Kubernetes against the fake API server with real watchdog
 * processes standing for the pods, and the local backend with real instances and its data dir under /tmp or under a
 * 0700 parent; in each, the GS specialises a lender's guest slot with another function's code from the object store.
 */
import { expect } from 'chai';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { Objm } from '@nats-io/obj';
import { CodeCache, fetchBundle } from '@hyperfaas/watchdog/code-fetch';
import { packDir, sha256Hex } from '@hyperfaas/watchdog/bundle';
import { codeBucket, codeKey, headers as H, subjects, type CodeObject, type ControlReply } from '@hyperfaas/watchdog/protocol';
import { CodeStore } from '../../src/messaging/code-store.js';
import { AUTH_FILES, NatsAuthority } from '../../src/messaging/nats-auth.js';
import { readKubernetesConfig } from '../../src/backends/kubernetes/config.js';
import { createKubernetesBackend } from '../../src/backends/kubernetes/index.js';
import { createLocalBackend, readLocalConfig, type LocalBackend } from '../../src/backends/local/index.js';
import type { FunctionBackend } from '../../src/backends/backend.js';
import { GlobalScheduler } from '../../src/gs/global-scheduler.js';
import { GuestSharing } from '../../src/gs/sharing.js';
import { controlChannel } from '../../src/gs/nats/control-channel.js';
import { silentLogger } from '../../src/logger.js';
import { repoRoot } from '../../src/paths.js';
import { startFakeKubeApi, type FakeKube } from '../support/fake-kube-api.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { eventually } from '../support/http.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { chromium, type Browser } from 'playwright-core';
import { createApp, requestListener } from '../../src/api/app.js';
import { readConfig } from '../../src/config.js';
import { Upstreams } from '../../src/router/upstream.js';
import { backendReplicas, functionMetricsFor } from '../../src/observe/function-metrics.js';
import type { FunctionStatusDoc } from '../../src/observe/status.js';
import { freePort, startWatchdog, type Running } from '@hyperfaas/watchdog/testing';

const NS = 'openfaas-fn';
const echoBuild = join(repoRoot, 'stack-templates', 'examples', 'build', 'echo');

/** instanceConnection logs in as one instance's minted NATS user, with that instance's own inbox prefix. */
async function instanceConnection(nats: NatsServer, who: { instanceId: string; namespace: string; service: string }): Promise<NatsConnection> {
  const authority = await NatsAuthority.load(join(nats.authDir!, AUTH_FILES.signingKey));
  const creds = await authority.mintInstanceCreds(who);
  return connect({
    servers: nats.url,
    inboxPrefix: subjects.inboxPrefix(who.instanceId),
    authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
    reconnect: false,
  });
}

describe('guest code through the JetStream object store, read with an instance user', function () {
  this.timeout(60_000);
  let nats: NatsServer;
  let provider: NatsConnection;
  let instance: NatsConnection;
  let store: CodeStore;
  let dir: string;
  before(async () => {
    nats = await startNatsServer({ auth: true });
    provider = await connect({ servers: nats.url, authenticator: credsAuthenticator(await readFile(join(nats.authDir!, AUTH_FILES.providerCreds))) });
    instance = await instanceConnection(nats, { instanceId: 'lender-1', namespace: NS, service: 'lender' });
    store = new CodeStore(provider);
  });
  after(async () => {
    await instance?.close();
    await provider?.close();
    await nats?.dispose();
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hf-code-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const fnDir = async (name: string, body: string | Buffer) => {
    const d = join(dir, name);
    await mkdir(join(d, 'function'), { recursive: true });
    await writeFile(join(d, 'function', 'handler.js'), body);
    await writeFile(join(d, 'package.json'), '{"name":"fn"}\n');
    return d;
  };

  it("publishes a function directory into its namespace's bucket under its hash, and an instance fetches and unpacks it privately", async () => {
    const src = await fnDir('src', 'module.exports = async () => "hello";\n');
    const ref = await store.publish(NS, 'hello.openfaas-fn', src);
    expect(ref.bucket).to.equal('hyperfaas-code-openfaas-fn');
    expect(ref.hash).to.equal(sha256Hex(await packDir(src)));
    expect(ref.key).to.equal(`sha256-${ref.hash}`);

    const cache = new CodeCache({ fetch: (r) => fetchBundle(instance, r), parent: join(dir, 'private') });
    try {
      const got = await cache.dirFor(ref);
      expect(await readFile(join(got, 'function', 'handler.js'), 'utf8')).to.equal('module.exports = async () => "hello";\n');
      expect(await readFile(join(got, 'package.json'), 'utf8')).to.equal('{"name":"fn"}\n');
      // The cache's own directory is the watchdog's alone.
      expect((await stat(join(got, '..'))).mode & 0o777).to.equal(0o700);
      expect(await cache.dirFor(ref)).to.equal(got);
    } finally {
      await cache.close();
    }
  });

  it('fetches a bundle of many chunks whole', async () => {
    const big = randomBytes(600 * 1024);
    const src = await fnDir('big', big);
    const ref = await store.publish(NS, 'big.openfaas-fn', src);
    const bundle = await fetchBundle(instance, ref);
    expect(sha256Hex(bundle)).to.equal(ref.hash);
    expect(bundle.length).to.be.greaterThan(600 * 1024);
  });

  it('stores identical code once, whichever function publishes it, and different code apart', async () => {
    const a = await store.publish(NS, 'a.openfaas-fn', await fnDir('a', 'same\n'));
    const b = await store.publish(NS, 'b.openfaas-fn', await fnDir('b', 'same\n'));
    const c = await store.publish(NS, 'c.openfaas-fn', await fnDir('c', 'different\n'));
    expect(b).to.deep.equal(a);
    expect(c.key).not.to.equal(a.key);
    const os = await new Objm(provider).open(codeBucket(NS));
    const names = (await os.list()).map((i) => i.name);
    expect(names.filter((n) => n === a.key)).to.have.length(1);
    expect(names).to.include(c.key);
  });

  it('refuses a tampered bundle: the object under a hash holds other bytes', async () => {
    const good = await packDir(await fnDir('good', 'good\n'));
    const hash = sha256Hex(good);
    const evil = await packDir(await fnDir('evil', 'evil\n'));
    const os = await new Objm(provider).create(codeBucket(NS));
    await os.putBlob({ name: codeKey(hash) }, evil);
    const ref = { bucket: codeBucket(NS), key: codeKey(hash), hash };
    const cache = new CodeCache({ fetch: (r) => fetchBundle(instance, r), parent: join(dir, 'private') });
    try {
      let err: unknown;
      await cache.dirFor(ref).catch((e: unknown) => (err = e));
      expect(String(err)).to.equal(`Error: code bundle ${codeKey(hash)} has hash ${sha256Hex(evil)}, expected ${hash}: refused`);
      expect(cache.cached()).to.deep.equal([]);
    } finally {
      await cache.close();
    }
  });

  it('answers a missing object with an error naming it and its bucket', async () => {
    await store.publish(NS, 'x.openfaas-fn', await fnDir('x', 'x\n'));
    const hash = '0'.repeat(64);
    let err: unknown;
    await fetchBundle(instance, { bucket: codeBucket(NS), key: codeKey(hash), hash }).catch((e: unknown) => (err = e));
    expect(String(err)).to.equal(`Error: code bundle ${codeKey(hash)} not found in bucket hyperfaas-code-openfaas-fn`);
  });

  it("cannot read another namespace's bucket with its own user", async () => {
    const ref = await store.publish('tenant-b', 'secret.tenant-b', await fnDir('b', 'tenant b code\n'));
    let err: unknown;
    await fetchBundle(instance, ref).catch((e: unknown) => (err = e));
    expect(String(err)).to.contain('Permissions Violation for Publish to "$JS.API.STREAM.MSG.GET.OBJ_hyperfaas-code-tenant-b"');
  });

  it('keeps the most recently used bundles and never evicts the pinned one', async () => {
    const refs: CodeObject[] = [];
    for (const n of ['p', 'q', 'r', 's']) refs.push(await store.publish(NS, `${n}.openfaas-fn`, await fnDir(n, `${n}\n`)));
    const cache = new CodeCache({ fetch: (r) => fetchBundle(instance, r), parent: join(dir, 'private'), keep: 2 });
    try {
      const first = await cache.dirFor(refs[0]!);
      cache.pin(refs[0]!.hash);
      await cache.dirFor(refs[1]!);
      await cache.dirFor(refs[2]!);
      const gone = await cache.dirFor(refs[3]!);
      await eventually(() => expect(cache.cached()).to.deep.equal([refs[0]!.hash, refs[3]!.hash]));
      expect(await readFile(join(first, 'function', 'handler.js'), 'utf8')).to.equal('p\n');
      expect(await readFile(join(gone, 'function', 'handler.js'), 'utf8')).to.equal('s\n');
    } finally {
      await cache.close();
    }
  });
});

describe('guest code on the Kubernetes backend: real watchdogs stand for the pods', function () {
  this.timeout(120_000);
  let nats: NatsServer;
  let nc: NatsConnection;
  let fake: FakeKube;
  let backend: FunctionBackend;
  let scheduler: GlobalScheduler;
  let dir: string;
  const pods: Running[] = [];

  before(async () => {
    nats = await startNatsServer({ auth: true });
    nc = await connect({ servers: nats.url, authenticator: credsAuthenticator(await readFile(join(nats.authDir!, AUTH_FILES.providerCreds))) });
    fake = await startFakeKubeApi();
    dir = await mkdtemp(join(tmpdir(), 'hf-k8s-code-'));
    // The build the provider holds for image "burst:1" (as `hyperfaas publish` leaves it); the pods run registry images.
    await cp(echoBuild, join(dir, 'burst'), { recursive: true });
    const store = new CodeStore(nc);
    backend = await createKubernetesBackend({ ...readKubernetesConfig({}), connection: { kind: 'inline', text: fake.kubeconfig } }, silentLogger(), {
      publishCode: store.publish,
      codeDir: (image) => (image === 'burst:1' ? join(dir, 'burst') : undefined),
    });
    scheduler = new GlobalScheduler({ backend, logger: silentLogger() });
    scheduler.start();
  });
  after(async () => {
    for (const p of pods) await p.stop();
    scheduler?.close();
    await backend?.close();
    await fake?.close();
    await nc?.close();
    await nats?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  /** standIn runs a real watchdog as the pod: its instance id is the pod's name, its NATS user minted for it. */
  const standIn = async (pod: string, fn: string): Promise<Running> => {
    const authority = await NatsAuthority.load(join(nats.authDir!, AUTH_FILES.signingKey));
    const creds = await mkdtemp(join(dir, 'creds-'));
    await writeFile(join(creds, 'nats.creds'), await authority.mintInstanceCreds({ instanceId: pod, namespace: NS, service: fn }), { mode: 0o600 });
    const wd = await startWatchdog({
      mode: 'http',
      fprocess: `${process.execPath} ${join(repoRoot, 'stack-templates', 'template', 'node20', 'index.js')}`,
      upstream_url: `http://127.0.0.1:${await freePort()}`,
      HYPERFAAS_FUNCTION: fn,
      HYPERFAAS_NAMESPACE: NS,
      HYPERFAAS_INSTANCE_ID: pod,
      HYPERFAAS_CREDENTIALS_DIR: creds,
      NATS_URL: nats.url,
    });
    pods.push(wd);
    return wd;
  };

  it("publishes a function's build at deploy, and a lender pod's watchdog specialises its guest slot from the object store", async () => {
    const labels = { 'com.hyperfaas.runtime': 'node' };
    await backend.deploy({ service: 'lender', image: 'registry.example.com/lender:1', namespace: NS, labels });
    await backend.deploy({ service: 'burst', image: 'burst:1', namespace: NS, labels });
    // Published before the Deployment was created: the object is there, under the hash of the build.
    const hash = sha256Hex(await packDir(join(dir, 'burst'), new Set(['.git'])));
    const os = await new Objm(nc).open(codeBucket(NS));
    expect((await os.info(codeKey(hash)))?.description).to.equal('burst.openfaas-fn');
    expect(await backend.codeRef!(NS, 'burst')).to.deep.equal({ kind: 'object', bucket: 'hyperfaas-code-openfaas-fn', key: codeKey(hash), hash });
    expect(await backend.codeRef!(NS, 'lender'), 'a registry image only: no code to lend').to.equal(undefined);

    await fake.markReady(NS, 'lender');
    const pod = await eventually(() => {
      const [i] = backend.instances(NS, 'lender');
      expect(i && scheduler.instanceOf(i.id)?.ready).to.equal(true);
      return i!.id;
    }, 20_000);
    const wd = await standIn(pod, 'lender');
    const guestState = async () => ((await (await fetch(`${wd.url}/_/hyperfaas/status`)).json()) as { slots: { kind: string; state: string }[] }).slots[1]!.state;
    await eventually(async () => expect(await guestState()).to.equal('generic'), 20_000);

    const control = controlChannel(() => nc);
    // A missing object: the watchdog answers ok:false with what it looked for, and its slot stays generic.
    const missing = '1'.repeat(64);
    const bad: ControlReply = await eventually(async () => {
      const r = await control(backend.instances(NS, 'lender')[0]!, {
        op: 'specialise',
        function: 'ghost.openfaas-fn',
        code: { kind: 'object', bucket: codeBucket(NS), key: codeKey(missing), hash: missing },
      }, 10_000);
      expect(r.error ?? '').not.to.contain('no responders');
      return r;
    }, 20_000);
    expect(bad.ok).to.equal(false);
    expect(bad.error).to.equal(`fetching ghost.openfaas-fn's code failed: code bundle ${codeKey(missing)} not found in bucket hyperfaas-code-openfaas-fn`);
    expect(await guestState()).to.equal('generic');

    const outcomes: [string, string, ControlReply][] = [];
    const sharing = new GuestSharing({ slots: scheduler, backend, control, logger: silentLogger(), onSpecialise: (f, h, r) => outcomes.push([f, h, r]) });
    const r = await sharing.specialise(pod, 'burst.openfaas-fn');
    expect(r, JSON.stringify(r)).to.include({ ok: true });
    expect(outcomes.map(([f, h, o]) => [f, h, o.ok])).to.deep.equal([['burst.openfaas-fn', pod, true]]);

    const res = await fetch(`${wd.url}/?via=guest`, { method: 'POST', headers: { [H.function]: 'burst.openfaas-fn' }, body: 'from the object store' });
    expect(res.status).to.equal(200);
    expect(res.headers.get(H.slot)).to.equal('guest');
    expect(await res.json()).to.deep.include({ method: 'POST', body: 'from the object store', instance: pod });
  });
});

/**
 * The local backend in this process with real instances (auto: runc containers as root where runc works, else
 * process groups, as in production; process: process groups, confined as far as the host allows), a real nats-server
 * with per-instance users, and the provider's data dir where the measured failure was: under /tmp, and under a parent
 * only root may enter (0700).
 */
for (const [placement, isolation] of [
  ['under /tmp', 'auto'],
  ['under a 0700 parent', 'auto'],
  ['under a 0700 parent', 'process'],
] as const) {
  describe(`guest code on the local backend, data dir ${placement} (HYPERFAAS_ISOLATION=${isolation})`, function () {
    this.timeout(180_000);
    let nats: NatsServer;
    let nc: NatsConnection;
    let root: string;
    let backend: LocalBackend;
    let scheduler: GlobalScheduler;
    const outcomes: [string, string, ControlReply][] = [];

    before(async () => {
      nats = await startNatsServer({ auth: true });
      nc = await connect({ servers: nats.url, authenticator: credsAuthenticator(await readFile(join(nats.authDir!, AUTH_FILES.providerCreds))) });
      root = await mkdtemp(join(tmpdir(), 'hf-guest-local-'));
      let data = join(root, 'data');
      if (placement === 'under a 0700 parent') {
        await mkdir(join(root, 'private', 'nested'), { recursive: true });
        await chmod(join(root, 'private'), 0o700);
        data = join(root, 'private', 'nested', 'data');
      }
      const authority = await NatsAuthority.load(join(nats.authDir!, AUTH_FILES.signingKey));
      const store = new CodeStore(nc);
      backend = await createLocalBackend(
        readLocalConfig({
          HYPERFAAS_DATA: data,
          NATS_URL: nats.url,
          HYPERFAAS_HEALTH_INTERVAL: '200ms',
          HYPERFAAS_START_CPU: '0',
          HYPERFAAS_CGROUP_PARENT: `hyperfaas-guest-code-${process.pid}`,
          HYPERFAAS_ISOLATION: isolation,
        }),
        silentLogger(),
        { instanceFiles: async (who) => ({ 'nats.creds': await authority.mintInstanceCreds(who) }), publishCode: store.publish },
      );
      scheduler = new GlobalScheduler({ backend, logger: silentLogger() });
      scheduler.start();
    });
    after(async () => {
      scheduler?.close();
      await backend?.close();
      await nc?.close();
      await nats?.dispose();
      await rm(root, { recursive: true, force: true });
    });

    it("a lender of another function specialises its guest slot from the object store and serves the borrower's requests", async () => {
      const labels = { 'com.hyperfaas.runtime': 'node', 'com.hyperfaas.policy': 'none' };
      await backend.deploy({ service: 'lender', image: 'hyperfaas/echo:latest', namespace: NS, labels });
      await backend.deploy({ service: 'borrower', image: 'hyperfaas/sleep:latest', namespace: NS, labels });
      const code = await backend.codeRef!(NS, 'borrower');
      expect(code).to.include({ kind: 'object', bucket: 'hyperfaas-code-openfaas-fn' });

      const lender = await eventually(() => {
        const [i] = backend.instances(NS, 'lender').filter((x) => x.ready);
        expect(i, 'a ready lender').to.not.equal(undefined);
        return i!;
      }, 90_000);
      const guestState = async () => ((await (await fetch(`${lender.url}/_/hyperfaas/status`)).json()) as { slots: { kind: string; state: string }[] }).slots[1]!.state;
      await eventually(async () => expect(await guestState()).to.equal('generic'), 30_000);

      const sharing = new GuestSharing({ slots: scheduler, backend, control: controlChannel(() => nc), logger: silentLogger(), onSpecialise: (f, h, r) => outcomes.push([f, h, r]) });
      // The lender's watchdog joins NATS in the background: retried until its control subject answers.
      const r = await eventually(async () => {
        const reply = await sharing.specialise(lender.id, 'borrower.openfaas-fn');
        expect(reply, JSON.stringify(reply)).to.include({ ok: true });
        return reply;
      }, 30_000, 250);
      expect(r.ok).to.equal(true);

      const res = await fetch(`${lender.url}/`, { method: 'POST', headers: { [H.function]: 'borrower.openfaas-fn' }, body: 'lent' });
      let digest = Buffer.from('lent');
      for (let i = 0; i < 200; i++) digest = createHash('sha256').update(digest).digest();
      expect(await res.json()).to.deep.equal({ slept: 50, digest: digest.toString('hex').slice(0, 16) });
      expect(res.headers.get(H.slot)).to.equal('guest');
      expect(outcomes.at(-1)!.slice(0, 2)).to.deep.equal(['borrower.openfaas-fn', lender.id]);

      // Its own function still answers from its home slot.
      const own = await fetch(`${lender.url}/`, { method: 'POST', body: 'own' });
      expect(own.headers.get(H.slot)).to.not.equal('guest');
      expect(((await own.json()) as { body: string }).body).to.equal('own');
      expect((await sharing.release(lender.id)).ok).to.equal(true);
    });

    if (placement === 'under /tmp' && isolation === 'auto') {
      it('a tampered code object: the watchdog refuses it, the provider counts and warns, and the dashboard shows the failure', async () => {
        const registry = new Registry();
        const functions = functionMetricsFor(registry, backendReplicas(backend));
        const upstreams = new Upstreams({ headersTimeoutMs: 10_000, bodyTimeoutMs: 10_000 });
        const app = createApp({ config: readConfig({}), backend, scheduler, logger: silentLogger(), registry, upstreams, functions });
        const server = createServer(requestListener(app));
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
        const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        let browser: Browser | undefined;
        try {
          const labels = { 'com.hyperfaas.runtime': 'node', 'com.hyperfaas.policy': 'none', 'com.openfaas.scale.min': '0' };
          await backend.deploy({ service: 'tampered', image: 'hyperfaas/cpu:latest', namespace: NS, labels });
          const ref = (await backend.codeRef!(NS, 'tampered')) as CodeObject;
          // Someone with write access to the bucket (never an instance) puts other bytes under the published hash.
          const evil = await packDir(join(repoRoot, 'stack-templates', 'examples', 'build', 'echo'));
          await (await new Objm(nc).open(ref.bucket)).putBlob({ name: ref.key }, evil);

          const [lender] = backend.instances(NS, 'lender').filter((x) => x.ready);
          const sharing = new GuestSharing({
            slots: scheduler,
            backend,
            control: controlChannel(() => nc),
            logger: silentLogger(),
            onSpecialise: (fnKey, host, r) => functions.specialised(fnKey, host, r.ok, r.error),
          });
          const r = await sharing.specialise(lender!.id, 'tampered.openfaas-fn');
          const why = `fetching tampered.openfaas-fn's code failed: code bundle ${ref.key} has hash ${sha256Hex(evil)}, expected ${ref.hash}: refused`;
          expect(r).to.include({ ok: false, error: why });

          const metrics = await (await fetch(`${base}/metrics`)).text();
          expect(metrics).to.contain('hyperfaas_specialisations_total{function_name="tampered.openfaas-fn",outcome="failed"} 1');
          const doc = (await (await fetch(`${base}/system/hyperfaas/functions/tampered`)).json()) as FunctionStatusDoc;
          expect(doc.warnings.specialiseFailures.map((f) => [f.host, f.error])).to.deep.equal([[lender!.id, why]]);

          browser = await chromium.launch({ executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
          const page = await browser.newPage();
          await page.goto(`${base}/ui/hyperfaas/`);
          const warning = `[data-function="tampered.openfaas-fn"] [data-warning="specialise-failed"]`;
          await page.waitForSelector(warning, { timeout: 30_000 });
          expect(await page.textContent(warning)).to.contain(`guest slot on ${lender!.id} not specialised: ${why}`);
        } finally {
          await browser?.close();
          server.closeAllConnections();
          await new Promise((r) => server.close(r));
          await upstreams.close();
        }
      });
    }
  });
}
