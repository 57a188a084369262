/**
 * The local backend with real instances: our watchdog and the example functions as process groups on 127.0.0.1,
 * isolated as far as this host allows (the assertions follow the backend's own isolation summary), and a real
 * nats-server whose URL instances receive.
 */
import { expect } from 'chai';
import { pbkdf2Sync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { cp, readdir, readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createLocalBackend, readLocalConfig, type LocalBackend } from '../../src/backends/local/index.js';
import type { InstanceEvent } from '../../src/backends/backend.js';
import { silentLogger } from '../../src/logger.js';
import { repoRoot } from '../../src/paths.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { freePortWindow } from '../support/ports.js';
import { eventually } from '../contract/backend.contract.js';

const NS = 'openfaas-fn';

interface Reply {
  status: number;
  body: string;
}

/** call sends one request on a fresh connection (no keep-alive, so a draining instance never resets a reused socket). */
function call(url: string, opts: { method?: string; path?: string; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers = opts.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(opts.body)) };
    const req = request(`${url}${opts.path ?? '/'}`, { method: opts.method ?? 'POST', agent: false, timeout: 15_000, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

async function readyCount(b: LocalBackend, name: string): Promise<number> {
  return (await b.get(NS, name)).availableReplicas;
}

async function waitReady(b: LocalBackend, name: string, n: number): Promise<void> {
  await eventually(async () => expect(await readyCount(b, name)).to.equal(n), 60_000, 100);
}

function readyUrl(b: LocalBackend, name: string): string {
  const i = b.instances(NS, name).find((x) => x.ready);
  if (!i) throw new Error(`no ready instance of ${name}`);
  return i.url;
}

/** pidsOf finds the processes that belong to an instance (by the env the backend gave them). */
async function pidsOf(instanceId: string, cmdPart: string): Promise<number[]> {
  const out: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const env = await readFile(`/proc/${d}/environ`, 'utf8').catch(() => '');
    if (!env.split('\0').includes(`HYPERFAAS_INSTANCE_ID=${instanceId}`)) continue;
    const cmd = (await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ');
    if (cmd.includes(cmdPart)) out.push(Number(d));
  }
  return out;
}

// The same suite on each runtime a root host offers: runc containers (auto picks them) and the process fallback.
for (const isolation of ['auto', 'process'] as const) describe(`local backend with real instances (HYPERFAAS_ISOLATION=${isolation})`, function () {
  this.timeout(180_000);
  let data: string;
  let nats: NatsServer;
  let b: LocalBackend;
  const events: InstanceEvent[] = [];
  let secretPath = '';

  before(async () => {
    data = await mkdtemp(join(tmpdir(), 'hf-local-it-'));
    nats = await startNatsServer();
    b = await createLocalBackend(readLocalConfig(env()), silentLogger());
    b.watchInstances((ev) => events.push(ev));
  });
  after(async () => {
    await b?.close();
    await nats?.dispose();
    await rm(data, { recursive: true, force: true });
  });

  const env = () => ({
    HYPERFAAS_ISOLATION: isolation,
    HYPERFAAS_DATA: data,
    NATS_URL: nats.url,
    HYPERFAAS_HEALTH_INTERVAL: '200ms',
    HYPERFAAS_RESTART_BACKOFF_MIN: '200ms',
    HYPERFAAS_RESTART_BACKOFF_MAX: '2s',
    HYPERFAAS_STOP_TIMEOUT: '15s',
  });

  it('deploys the echo example, becomes ready and answers plain HTTP on its instance URL', async () => {
    await b.deploy({ service: 'echo', image: 'hyperfaas/echo:latest', namespace: NS, labels: {}, annotations: {}, limits: { cpu: '500m', memory: '128Mi' } });
    await waitReady(b, 'echo', 1);
    const r = await call(readyUrl(b, 'echo'), { method: 'PUT', path: '/a/b?x=1', body: 'hello' });
    expect(r.status).to.equal(200);
    const got = JSON.parse(r.body) as { method: string; path: string; query: Record<string, string>; body: string; instance: string };
    expect(got).to.deep.include({ method: 'PUT', path: '/a/b', body: 'hello' });
    expect(got.query).to.deep.equal({ x: '1' });
    expect(got.instance).to.equal(b.instances(NS, 'echo')[0]!.id);
    expect(events.some((e) => e.type === 'added' && e.instance.function === 'echo')).to.equal(true);
    expect(events.some((e) => e.type === 'modified' && e.instance.ready)).to.equal(true);
  });

  it('scales to 3 instances on distinct ports, each serving', async () => {
    await b.scale(NS, 'echo', 3);
    await waitReady(b, 'echo', 3);
    if (b.isolation.limits.includes('memory')) {
      // faas-cli describe's usage: memory charged to the instances' cgroups, CPU in cores.
      const st = await eventually(async () => {
        const s = await b.get(NS, 'echo');
        expect(s.usage?.totalMemoryBytes).to.be.greaterThan(1 << 20);
        return s;
      }, 30_000, 200);
      expect(st.usage!.cpu).to.be.at.least(0);
    } else {
      expect((await b.get(NS, 'echo')).usage).to.equal(undefined);
    }
    const inst = b.instances(NS, 'echo');
    expect(new Set(inst.map((i) => i.url)).size).to.equal(3);
    for (const i of inst) {
      const r = await call(i.url, { body: 'x' });
      expect(JSON.parse(r.body).instance).to.equal(i.id);
    }
  });

  it('scales to 0: no ready replica and no instance left', async () => {
    await b.scale(NS, 'echo', 0);
    expect((await b.get(NS, 'echo')).replicas).to.equal(0);
    await eventually(() => expect(b.instances(NS, 'echo')).to.have.length(0), 30_000, 100);
    expect(await readyCount(b, 'echo')).to.equal(0);
    expect(events.filter((e) => e.type === 'deleted' && e.instance.function === 'echo')).to.have.length(3);
  });

  it('isolates instances as its summary says: user, cgroup, and no NATS settings in the function environment', async () => {
    await b.deploy({ service: 'env', image: 'functions/alpine:latest', namespace: NS, envProcess: 'env', limits: { memory: '64Mi' } });
    await waitReady(b, 'env', 1);
    const id = b.instances(NS, 'env')[0]!.id;
    const r = await call(readyUrl(b, 'env'), { method: 'GET', path: '/p?q=1' });
    expect(r.status).to.equal(200);
    expect(r.body).to.contain('Http_Method=GET');
    expect(r.body).to.contain('Http_Query=q=1');
    // The watchdog gets NATS_URL; it takes every NATS_* setting out of the function's environment.
    expect(r.body).to.not.contain('NATS_URL=');
    expect(r.body).to.contain(`HYPERFAAS_INSTANCE_ID=${id}`);
    const iso = b.isolation;
    await b.update({ service: 'env', image: 'functions/alpine:latest', namespace: NS, envProcess: 'cat' });
    await eventually(async () => expect((await call(readyUrl(b, 'env'), { body: 'cat me' })).body).to.equal('cat me'), 30_000, 200);
    await b.update({ service: 'env', image: 'functions/alpine:latest', namespace: NS, envProcess: 'cat /proc/self/cgroup' });
    await eventually(async () => {
      const c = await call(readyUrl(b, 'env'));
      expect(c.body).to.match(/cgroup|^\d+:/m);
      return c;
    }, 30_000, 200);
    const cg = (await call(readyUrl(b, 'env'))).body;
    if (iso.cgroup === 'v1') expect(cg).to.match(/:memory:\/hyperfaas\/env-/);
    else expect(iso.notes.length).to.be.greaterThan(0);
    await b.update({ service: 'env', image: 'functions/alpine:latest', namespace: NS, envProcess: 'id -u' });
    await eventually(async () => expect((await call(readyUrl(b, 'env'))).body.trim()).to.match(/^\d+$/), 30_000, 200);
    const uid = Number((await call(readyUrl(b, 'env'))).body.trim());
    if (iso.user) expect(uid).to.not.equal(0);
    else expect(uid).to.equal(process.getuid?.());
    // A private /tmp: the host's /tmp (which holds this test's data dir) is not what the function sees.
    await b.update({ service: 'env', image: 'functions/alpine:latest', namespace: NS, envProcess: 'ls -a /tmp' });
    await eventually(async () => expect((await call(readyUrl(b, 'env'))).body).to.not.match(/^\d+\s*$/), 30_000, 200);
    const tmpList = (await call(readyUrl(b, 'env'))).body;
    if (iso.mountNamespace) expect(tmpList.split('\n').filter((l) => l && l !== '.' && l !== '..')).to.deep.equal(['.lock']);
    else expect(tmpList).to.contain(basename(data));
  });

  it('gives a function its secrets at /var/openfaas/secrets/<name> (or the fallback dir)', async () => {
    await b.createSecret(NS, 'db-pass', Buffer.from('s3cret-value'));
    secretPath = b.isolation.mountNamespace ? '/var/openfaas/secrets/db-pass' : '';
    if (secretPath) {
      await b.deploy({ service: 'secret', image: 'functions/alpine:latest', namespace: NS, envProcess: `cat ${secretPath}`, secrets: ['db-pass'] });
      await waitReady(b, 'secret', 1);
      const r = await call(readyUrl(b, 'secret'));
      expect(r.body).to.equal('s3cret-value');
    } else {
      // Fallback: the function finds its secrets in the directory named by HYPERFAAS_SECRETS_DIR.
      await b.deploy({ service: 'secret', image: 'functions/alpine:latest', namespace: NS, envProcess: 'env', secrets: ['db-pass'] });
      await waitReady(b, 'secret', 1);
      const dir = /HYPERFAAS_SECRETS_DIR=(.*)/.exec((await call(readyUrl(b, 'secret'))).body)![1]!;
      expect(await readFile(join(dir, 'db-pass'), 'utf8')).to.equal('s3cret-value');
    }
  });

  it('restarts an instance whose function process was killed, with the crash in its logs', async () => {
    await b.scale(NS, 'echo', 1);
    await waitReady(b, 'echo', 1);
    const id = b.instances(NS, 'echo')[0]!.id;
    const fnPids = await pidsOf(id, 'index.js');
    expect(fnPids.length).to.be.greaterThan(0);
    for (const p of fnPids) process.kill(p, 'SIGKILL');
    await eventually(async () => {
      const lines: string[] = [];
      for await (const m of b.logs({ name: 'echo', namespace: NS, instance: id, tail: -1, follow: false }, new AbortController().signal)) lines.push(m.text);
      expect(lines.some((l) => l.includes('instance crashed'))).to.equal(true);
    }, 30_000, 100);
    await waitReady(b, 'echo', 1);
    expect(b.instances(NS, 'echo')[0]!.id).to.equal(id);
    const r = await call(readyUrl(b, 'echo'), { body: 'again' });
    expect(JSON.parse(r.body).body).to.equal('again');
    const restarted = await pidsOf(id, 'index.js');
    expect(restarted.length).to.be.greaterThan(0);
    expect(restarted.filter((p) => fnPids.includes(p))).to.deep.equal([]);
  });

  it('rolls an update without a failed request under a small steady load', async () => {
    await b.scale(NS, 'echo', 2);
    await waitReady(b, 'echo', 2);
    const before = new Set(b.instances(NS, 'echo').map((i) => i.id));
    const served = new Set<string>();
    const failures: string[] = [];
    let sent = 0;
    let stop = false;
    const load = (async () => {
      // About 40 requests a second from two workers, bounded to 4000 requests.
      await Promise.all(
        [0, 1].map(async () => {
          while (!stop && sent < 4000) {
            sent++;
            try {
              const r = await call(readyUrl(b, 'echo'), { body: 'load' });
              if (r.status !== 200) failures.push(`status ${r.status}: ${r.body}`);
              else served.add(JSON.parse(r.body).instance as string);
            } catch (e) {
              failures.push(String(e));
            }
            await new Promise((r) => setTimeout(r, 50));
          }
        }),
      );
    })();
    await new Promise((r) => setTimeout(r, 500));
    await b.update({ service: 'echo', image: 'hyperfaas/echo:latest', namespace: NS, envVars: { VERSION: '2' }, limits: { cpu: '500m', memory: '128Mi' } });
    await eventually(() => {
      const now = b.instances(NS, 'echo');
      expect(now.filter((i) => i.ready && !before.has(i.id))).to.have.length(2);
      expect(now.filter((i) => before.has(i.id))).to.have.length(0);
    }, 90_000, 100);
    await new Promise((r) => setTimeout(r, 500));
    stop = true;
    await load;
    expect(failures).to.deep.equal([]);
    expect([...served].some((i) => before.has(i)), 'old instances served').to.equal(true);
    expect([...served].some((i) => !before.has(i)), 'new instances served').to.equal(true);
    expect((await b.get(NS, 'echo')).envVars).to.deep.equal({ VERSION: '2' });
  });

  it('resizes an instance in place where cgroups exist, else answers Unavailable', async () => {
    const i = b.instances(NS, 'echo')[0]!;
    if (b.isolation.cgroup === 'v1') {
      await b.resize(i.id, { cpu: 1.5, memoryBytes: 256 << 20 });
      expect((await readFile(`/sys/fs/cgroup/cpu/hyperfaas/${i.id}/cpu.cfs_quota_us`, 'utf8')).trim()).to.equal('150000');
      expect((await readFile(`/sys/fs/cgroup/memory/hyperfaas/${i.id}/memory.limit_in_bytes`, 'utf8')).trim()).to.equal(String(256 << 20));
    } else {
      let err: { kind?: string } | undefined;
      await b.resize(i.id, { cpu: 1.5 }).catch((e) => (err = e));
      expect(err?.kind).to.equal('Unavailable');
    }
  });

  it('starts an instance under the start CPU limit and writes its own limit once it is ready', async () => {
    // With the v1 cpu controller the quota file shows both; without cgroups the instance just starts.
    const v1 = b.isolation.cgroup === 'v1' && b.isolation.limits.includes('cpu');
    const quota = (id: string) => readFileSync(`/sys/fs/cgroup/cpu/hyperfaas/${id}/cpu.cfs_quota_us`, 'utf8').trim();
    const atAdd = new Map<string, string>();
    const stopWatching = b.watchInstances((ev) => {
      // 'added' comes after the cgroup is made and before the process is started: read the quota it starts with.
      if (v1 && ev.type === 'added' && ev.instance.function === 'boost') atAdd.set(ev.instance.id, quota(ev.instance.id));
    });
    try {
      await b.deploy({ service: 'boost', image: 'hyperfaas/echo:latest', namespace: NS, labels: {}, annotations: {}, limits: { cpu: '200m' } });
      await waitReady(b, 'boost', 1);
      const id = b.instances(NS, 'boost')[0]!.id;
      if (v1) {
        expect(atAdd.get(id), 'quota while starting (HYPERFAAS_START_CPU, default 1 core)').to.equal('100000');
        await eventually(() => expect(quota(id)).to.equal('20000'), 5_000, 20);
        // The ICS reads its load from the instance's cgroup (cpuacct joined too), not by walking /proc every second.
        const st = await call(readyUrl(b, 'boost'), { method: 'GET', path: '/_/hyperfaas/status' });
        expect(JSON.parse(st.body).loadSource).to.equal('cgroup-v1');
      }
      const r = await call(readyUrl(b, 'boost'), { body: 'x' });
      expect(r.status).to.equal(200);
    } finally {
      stopWatching();
      await b.remove(NS, 'boost');
    }
  });

  it('restores functions, desired replicas and secrets in a second backend on the same data dir', async () => {
    const createdAt = (await b.get(NS, 'echo')).createdAt;
    await b.close();
    b = await createLocalBackend(readLocalConfig(env()), silentLogger());
    const st = await b.get(NS, 'echo');
    expect(st.createdAt).to.equal(createdAt);
    expect(st.replicas).to.equal(2);
    expect(st.envVars).to.deep.equal({ VERSION: '2' });
    expect((await b.listSecrets(NS)).map((s) => s.name)).to.include('db-pass');
    // The log lines of before the restart are still there (read back from the log file).
    const old: string[] = [];
    for await (const m of b.logs({ name: 'echo', namespace: NS, tail: -1, follow: false }, new AbortController().signal)) old.push(m.text);
    expect(old.some((t) => t.includes('instance crashed'))).to.equal(true);
    await waitReady(b, 'echo', 2);
    await waitReady(b, 'secret', 1);
    const r = await call(readyUrl(b, 'secret'));
    if (secretPath) expect(r.body).to.equal('s3cret-value');
    else expect(r.body).to.contain('HYPERFAAS_SECRETS_DIR=');
  });

  it('runs the sleep and cpu examples: fixed work, the same answer every time', async () => {
    for (const f of ['sleep', 'cpu']) await b.deploy({ service: f, image: `hyperfaas/${f}:latest`, namespace: NS });
    await waitReady(b, 'sleep', 1);
    await waitReady(b, 'cpu', 1);
    const slept = JSON.parse((await call(readyUrl(b, 'sleep'), { body: 'z' })).body) as { slept: number; digest: string };
    expect(slept.slept).to.equal(50);
    expect(slept.digest).to.match(/^[0-9a-f]{16}$/);
    const cpu = JSON.parse((await call(readyUrl(b, 'cpu'), { path: '/?iterations=1000', body: 'pw' })).body) as { iterations: number; key: string };
    expect(cpu.iterations).to.equal(1000);
    expect(cpu.key).to.equal(pbkdf2Sync('pw', 'hyperfaas-salt', 1000, 32, 'sha256').toString('hex'));
    for (const f of ['sleep', 'cpu']) await b.remove(NS, f);
  });

  it('removes every function and stops their instances', async () => {
    await eventually(() => expect(b.instances().filter((i) => i.function === 'sleep' || i.function === 'cpu')).to.deep.equal([]), 30_000, 100);
    const ids = b.instances().map((i) => i.id);
    expect(ids).to.have.length(4); // echo x2, env, secret
    for (const f of await b.list(NS)) await b.remove(NS, f.name);
    expect(await b.list(NS)).to.deep.equal([]);
    await eventually(() => expect(b.instances()).to.have.length(0), 30_000, 100);
    for (const id of ids) {
      expect(existsSync(join(data, 'run', id)), `run dir of ${id}`).to.equal(false);
      if (b.isolation.cgroup === 'v1') expect(existsSync(`/sys/fs/cgroup/cpu/hyperfaas/${id}`), `cgroup of ${id}`).to.equal(false);
      expect(await pidsOf(id, '')).to.deep.equal([]);
    }
  });
});

describe('local backend without isolation (HYPERFAAS_ISOLATION=none, as on a host that allows nothing)', function () {
  this.timeout(120_000);
  let data: string;
  let b: LocalBackend;

  before(async () => {
    data = await mkdtemp(join(tmpdir(), 'hf-local-none-'));
    b = await createLocalBackend(readLocalConfig({ HYPERFAAS_DATA: data, HYPERFAAS_ISOLATION: 'none', HYPERFAAS_HEALTH_INTERVAL: '200ms' }), silentLogger());
  });
  after(async () => {
    await b?.close();
    await rm(data, { recursive: true, force: true });
  });

  it('says so in its isolation summary', () => {
    expect(b.isolation).to.deep.include({ level: 'none', cgroup: 'none', mountNamespace: false, limits: [] });
    expect(b.isolation.notes.join(' ')).to.contain('HYPERFAAS_ISOLATION=none');
  });

  it('hands secrets over in the per-instance directory named by HYPERFAAS_SECRETS_DIR and secret_mount_path', async () => {
    await b.createSecret(NS, 'token', Buffer.from('t0ken'));
    await b.deploy({ service: 'plain', image: 'functions/alpine:latest', namespace: NS, envProcess: 'env', secrets: ['token'] });
    await waitReady(b, 'plain', 1);
    const out = (await call(readyUrl(b, 'plain'))).body;
    const dir = /^HYPERFAAS_SECRETS_DIR=(.*)$/m.exec(out)?.[1];
    expect(dir, out).to.be.a('string');
    expect(out).to.contain(`secret_mount_path=${dir}`);
    expect(dir!.startsWith(data)).to.equal(true);
    expect(await readFile(join(dir!, 'token'), 'utf8')).to.equal('t0ken');
    expect(/^TMPDIR=(.*)$/m.exec(out)?.[1]?.startsWith(data)).to.equal(true);
  });

  it('runs the example function as the provider user and answers Unavailable to resize', async () => {
    await b.deploy({ service: 'echo', image: 'hyperfaas/echo:latest', namespace: NS });
    await waitReady(b, 'echo', 1);
    expect((await call(readyUrl(b, 'echo'), { body: 'plain' })).status).to.equal(200);
    const id = b.instances(NS, 'echo')[0]!.id;
    const pids = await pidsOf(id, 'index.js');
    expect(pids.length).to.be.greaterThan(0);
    const uid = /^Uid:\s+(\d+)/m.exec(await readFile(`/proc/${pids[0]}/status`, 'utf8'))?.[1];
    expect(Number(uid)).to.equal(process.getuid?.());
    let err: { kind?: string } | undefined;
    await b.resize(id, { cpu: 1 }).catch((e) => (err = e));
    expect(err?.kind).to.equal('Unavailable');
  });

  it('never kills the instances of a live backend when a second one starts on the same data dir', async () => {
    const id = b.instances(NS, 'echo')[0]!.id;
    const before = await pidsOf(id, 'index.js');
    const second = await createLocalBackend(readLocalConfig({ HYPERFAAS_DATA: data, HYPERFAAS_ISOLATION: 'none' }), silentLogger());
    try {
      expect(await pidsOf(id, 'index.js')).to.deep.equal(before);
      expect((await call(readyUrl(b, 'echo'), { body: 'still here' })).status).to.equal(200);
    } finally {
      await second.close();
    }
    expect(await pidsOf(id, 'index.js')).to.deep.equal(before);
    expect(b.instances(NS, 'echo').map((i) => i.id)).to.deep.equal([id]);
  });
});

describe('local backend with a function that crashes at start', function () {
  this.timeout(120_000);
  let root: string;
  let b: LocalBackend;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'hf-local-crash-'));
    // A copy of the echo example whose handler throws as it loads: the function process dies, so does the instance.
    await cp(join(repoRoot, 'stack-templates/examples/build/echo'), join(root, 'images/broken'), { recursive: true });
    await writeFile(join(root, 'images/broken/function/handler.js'), "throw new Error('boom at load');\n");
    b = await createLocalBackend(
      readLocalConfig({
        HYPERFAAS_DATA: join(root, 'data'),
        HYPERFAAS_IMAGE_PATH: join(root, 'images'),
        HYPERFAAS_RESTART_BACKOFF_MIN: '100ms',
        HYPERFAAS_RESTART_BACKOFF_MAX: '400ms',
      }),
      silentLogger(),
    );
  });
  after(async () => {
    await b?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('restarts it with exponential back-off up to the maximum, never ready, the cause in its logs', async () => {
    await b.deploy({ service: 'broken', image: 'acme/broken:1', namespace: NS });
    const texts = async () => {
      const out: string[] = [];
      for await (const m of b.logs({ name: 'broken', namespace: NS, tail: -1, follow: false }, new AbortController().signal)) out.push(m.text);
      return out;
    };
    const delays = await eventually(async () => {
      const d = (await texts()).map((t) => /instance crashed .* in (\d+) ms/.exec(t)?.[1]).filter((x): x is string => !!x).map(Number);
      expect(d.length).to.be.at.least(4);
      return d;
    }, 60_000, 200);
    expect(delays.slice(0, 4)).to.deep.equal([100, 200, 400, 400]);
    expect((await texts()).some((t) => t.includes('boom at load'))).to.equal(true);
    expect((await b.get(NS, 'broken')).availableReplicas).to.equal(0);
    expect(b.instances(NS, 'broken')).to.have.length(1);
  });
});

describe('local backend out of ports', function () {
  this.timeout(120_000);
  let data: string;
  let b: LocalBackend;

  before(async () => {
    data = await mkdtemp(join(tmpdir(), 'hf-local-ports-'));
    // Room for exactly one instance (three ports), free when the test starts and outside the ephemeral range.
    const from = await freePortWindow(3);
    b = await createLocalBackend(
      readLocalConfig({
        HYPERFAAS_DATA: data,
        HYPERFAAS_PORT_RANGE: `${from}-${from + 2}`,
        HYPERFAAS_RESTART_BACKOFF_MIN: '100ms',
        HYPERFAAS_RESTART_BACKOFF_MAX: '400ms',
        HYPERFAAS_HEALTH_INTERVAL: '200ms',
      }),
      silentLogger(),
    );
  });
  after(async () => {
    await b?.close();
    await rm(data, { recursive: true, force: true });
  });

  it('keeps the instance it has, and retries the one it cannot place with back-off instead of spinning', async () => {
    await b.deploy({ service: 'echo', image: 'hyperfaas/echo:latest', namespace: NS });
    await waitReady(b, 'echo', 1);
    await b.scale(NS, 'echo', 2);
    const failures = async () => {
      let n = 0;
      for await (const m of b.logs({ name: 'echo', namespace: NS, tail: -1, follow: false }, new AbortController().signal)) {
        if (m.text.includes('failed to start') && m.text.includes('no free port')) n++;
      }
      return n;
    };
    await eventually(async () => expect(await failures()).to.be.at.least(2), 30_000, 100);
    const first = await failures();
    await new Promise((r) => setTimeout(r, 1000));
    // With a 400 ms cap, one second holds a handful of attempts; without back-off it would be thousands.
    expect((await failures()) - first).to.be.at.most(10);
    expect((await b.get(NS, 'echo')).availableReplicas).to.equal(1);
    expect((await call(readyUrl(b, 'echo'), { body: 'ok' })).status).to.equal(200);
    await b.scale(NS, 'echo', 1);
  });
});
