/**
 * Python functions end to end on the local backend: a real nats-server, the real provider process (runc containers
 * where the host allows, as the other local-backend tests), functions from the python3-http template. The py-echo
 * example answers with what it received; the README's Python walkthrough runs as written (faas-cli stand-in, real
 * hyperfaas publish); a build with a requirements.txt gets its dependency from a wheel shipped
 * beside it (pip, no index); and a Python function borrows another Python function's generic guest slot under a
 * burst, served there by the Python guest runtime (x-hyperfaas-slot: guest).
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from '../../bench/loadgen/loadgen.js';
import { constantRate } from '../../bench/loadgen/workloads.js';
import { Provider, ReportWatch, httpCall, until } from '../../bench/hierarchical/harness.js';
import { repoRoot } from '../../src/paths.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { readmeBlock, runWalkthrough } from '../support/readme.js';

const pyEchoBuild = join(repoRoot, 'stack-templates', 'examples', 'build', 'py-echo');

/** writeWheel writes a minimal pure-Python wheel of package `name` (one module with shout()) into dir. */
function writeWheel(dir: string, name: string, version: string): void {
  const script = `
import base64, hashlib, sys, zipfile
name, version, out = sys.argv[1], sys.argv[2], sys.argv[3]
info = f"{name}-{version}.dist-info"
files = {
    f"{name}/__init__.py": "def shout(s):\\n    return s.upper() + '!'\\n",
    f"{info}/METADATA": f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n",
    f"{info}/WHEEL": "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
record = [f"{n},sha256={base64.urlsafe_b64encode(hashlib.sha256(c.encode()).digest()).rstrip(b'=').decode()},{len(c.encode())}" for n, c in files.items()]
files[f"{info}/RECORD"] = "\\n".join(record + [f"{info}/RECORD,,"]) + "\\n"
with zipfile.ZipFile(f"{out}/{name}-{version}-py3-none-any.whl", "w") as z:
    for n, c in files.items():
        z.writestr(n, c)
`;
  execFileSync('python3', ['-c', script, name, version, dir]);
}

/** pythonBuild writes build/<name> from the py-echo build with handler.py and requirements.txt replaced. */
function pythonBuild(root: string, name: string, handler: string, requirements: string): string {
  const dir = join(root, name);
  cpSync(pyEchoBuild, dir, { recursive: true });
  writeFileSync(join(dir, 'function', 'handler.py'), handler);
  writeFileSync(join(dir, 'function', 'requirements.txt'), requirements);
  return dir;
}

describe('Python functions (python3-http template) on the local backend', function () {
  this.timeout(300_000);
  let nats: NatsServer;
  let provider: Provider;
  let reports: ReportWatch;
  let images: string;

  before(async () => {
    images = mkdtempSync(join(tmpdir(), 'hf-python-builds-'));
    const withWheel = pythonBuild(
      images,
      'py-deps',
      'import tinydep\n\n\ndef handle(event, context):\n    return tinydep.shout(event.body.decode())\n',
      '--no-index\n--find-links ./wheels\ntinydep==1.0\n',
    );
    mkdirSync(join(withWheel, 'function', 'wheels'));
    writeWheel(join(withWheel, 'function', 'wheels'), 'tinydep', '1.0');
    pythonBuild(images, 'py-missing-dep', 'def handle(event, context):\n    return "unreachable"\n', '--no-index\nno-such-package-hyperfaas==9.9\n');
    nats = await startNatsServer();
    reports = await ReportWatch.open(nats.url);
    provider = await Provider.start({
      natsUrl: nats.url,
      env: {
        HYPERFAAS_ISOLATION: 'auto',
        HYPERFAAS_DEFAULT_POLICY: 'none',
        HYPERFAAS_IMAGE_PATH: `${images}:${join(repoRoot, 'stack-templates', 'examples', 'build')}`,
      },
    });
  });
  after(async () => {
    const code = await provider?.stop();
    await reports?.close();
    await nats?.dispose();
    if (images) rmSync(images, { recursive: true, force: true });
    expect(code, provider?.output).to.equal(0);
  });

  it('deploys the py-echo example and answers with the body, headers, query and status code its dict says', async () => {
    await provider.deploy({ service: 'py-echo', image: 'hyperfaas/py-echo:latest', labels: { 'com.hyperfaas.runtime': 'python' } });
    await provider.waitAvailable('py-echo', 1);
    const r = await httpCall(provider.base, 'POST', '/function/py-echo/some/path?status=202&tag=a&tag=b', 'hello python', { 'content-type': 'text/plain' });
    expect(r.status, r.body).to.equal(202);
    expect(r.headers['x-runtime']).to.equal('python');
    expect(r.headers['content-type']).to.equal('application/json');
    const body = JSON.parse(r.body) as Record<string, unknown>;
    expect(body).to.deep.include({
      body: 'hello python',
      method: 'POST',
      path: '/some/path',
      query: { status: ['202'], tag: ['a', 'b'] },
      'content-type': 'text/plain',
      runtime: 'python 3.11',
    });
    // Under runc the instance is a container whose hostname is its id: Debian's python3 ran inside it.
    const info = JSON.parse((await httpCall(provider.base, 'GET', '/system/info')).body) as { isolation?: { runtime?: string } };
    if (info.isolation?.runtime === 'runc') expect(body.hostname).to.match(/^py-echo-/);
    else expect(body.hostname).to.be.a('string').and.not.equal('');
  });

  it('runs the README\'s Python walkthrough as written: faas-cli new --lang python3-http, build --shrinkwrap, publish, deploy, invoke', async () => {
    const setup = (await readmeBlock('walkthrough'))?.split('\n\n')[0];
    const block = await readmeBlock('walkthrough-python');
    expect(setup, 'the README walkthrough block').to.not.equal(undefined);
    expect(block, 'the README Python walkthrough block').to.not.equal(undefined);
    const r = await runWalkthrough(`${setup}\n${block}`, join(images, 'walkthrough'), provider.base);
    expect(r.code, `${r.out}\nprovider:\n${provider.output}`).to.equal(0);
    expect(r.out).to.contain('Published build/greet as greet:latest');
    expect(r.out).to.contain('{"message": "Hello, world!"}');
  });

  it('installs requirements.txt into the function (a local wheel, no index) and the handler imports it', async () => {
    await provider.deploy({ service: 'py-deps', image: 'py-deps:latest' });
    await provider.waitAvailable('py-deps', 1);
    const r = await httpCall(provider.base, 'POST', '/function/py-deps', 'wheels work');
    expect([r.status, r.body]).to.deep.equal([200, 'WHEELS WORK!']);
    expect(r.headers['content-type']).to.equal('text/html; charset=utf-8');
  });

  it('refuses a deploy whose requirements pip cannot install with a 400 that says why', async () => {
    const r = await httpCall(provider.base, 'POST', '/system/functions', { service: 'py-missing-dep', image: 'py-missing-dep:latest', labels: {}, annotations: {} });
    expect(r.status, r.body).to.equal(400);
    expect(r.body).to.contain('installing the Python dependencies of');
    expect(r.body).to.contain('function/requirements.txt');
    expect(r.body).to.contain('No matching distribution found for no-such-package-hyperfaas==9.9');
  });

  it('a Python function borrows another Python function\'s guest slot under a burst, served there by the Python runtime', async () => {
    await provider.deploy({ service: 'py-lender', image: 'hyperfaas/py-echo:latest', labels: { 'com.hyperfaas.policy': 'none', 'com.hyperfaas.runtime': 'python' } });
    await provider.deploy({
      service: 'py-borrower',
      image: 'hyperfaas/py-echo:latest',
      envVars: { max_inflight: '2', sleep_ms: '50' },
      labels: { 'com.hyperfaas.policy': 'hyperfaas', 'com.hyperfaas.runtime': 'python', 'com.openfaas.scale.max': '1' },
    });
    await provider.waitAvailable('py-lender', 1);
    await provider.waitAvailable('py-borrower', 1);
    await until(() => {
      const [l] = reports.of('py-lender');
      expect(l?.runtime).to.equal('python');
      expect(l?.slots.find((s) => s.kind === 'guest')?.state).to.equal('generic');
    }, 60_000);
    let lentSeen = false;
    const watching = setInterval(() => {
      const [l] = reports.of('py-lender');
      if (l?.slots.some((s) => s.kind === 'guest' && s.function === 'py-borrower.openfaas-fn' && s.state === 'serving')) lentSeen = true;
    }, 20);
    const r = await runLoad({
      target: `${provider.base}/function/py-borrower`,
      schedule: constantRate(80, 5_000, { process: 'uniform' }),
      method: 'POST',
      body: 'g',
      timeoutMs: 60_000,
      recordHeaders: ['x-hyperfaas-slot', 'x-runtime'],
    }).finally(() => clearInterval(watching));
    const failed = r.records.filter((x) => x.status !== 200).map((x) => `${x.status}${x.error ? `/${x.error}` : ''}`);
    expect(failed).to.deep.equal([]);
    const guest = r.records.filter((x) => x.headers?.['x-hyperfaas-slot'] === 'guest');
    expect(guest.length, 'requests served by a guest slot').to.be.greaterThan(0);
    // Served by handler.py: only the Python runtime can answer those.
    expect(new Set(guest.map((x) => x.headers?.['x-runtime']))).to.deep.equal(new Set(['python']));
    expect(lentSeen, 'the lender reported its guest slot serving py-borrower').to.equal(true);
    expect(await provider.metric('hyperfaas_guest_slot_operations_total', { op: 'specialise', outcome: 'ok' })).to.be.at.least(1);
    // Calm again: the slot goes back to a generic Python runtime, and the lender's own function is untouched.
    await until(() => {
      const [l] = reports.of('py-lender');
      expect(l?.slots.find((s) => s.kind === 'guest')?.state).to.equal('generic');
    }, 60_000, 250);
    const own = await httpCall(provider.base, 'POST', '/function/py-lender', 'own');
    expect(own.status).to.equal(200);
    expect((JSON.parse(own.body) as { body: string }).body).to.equal('own');
  });
});
