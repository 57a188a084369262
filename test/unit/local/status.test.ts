import { expect } from 'chai';
import { limitsOf, restartDelayMs, toFunctionStatus } from '../../../src/backends/local/status.js';
import { mkdir, mkdtemp, chmod, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLaunch, noIsolation, othersCanRead, shellQuote, withoutUserUnlessReadable } from '../../../src/backends/local/isolation.js';

describe('local backend status mapping', () => {
  it('fills every field a client relies on, with faas_function added and nothing invented', () => {
    const st = toFunctionStatus(
      { service: 'echo', image: 'hyperfaas/echo', namespace: 'openfaas-fn', envProcess: 'cat', envVars: { A: '1' }, limits: { memory: '128Mi', cpu: '100m' }, secrets: ['s'], labels: { x: 'y' } },
      '2026-01-01T00:00:00.000Z',
      2,
      1,
    );
    expect(st).to.deep.equal({
      name: 'echo',
      image: 'hyperfaas/echo',
      namespace: 'openfaas-fn',
      envProcess: 'cat',
      envVars: { A: '1' },
      limits: { memory: '128Mi', cpu: '100m' },
      secrets: ['s'],
      labels: { x: 'y', faas_function: 'echo' },
      annotations: {},
      invocationCount: 0,
      replicas: 2,
      availableReplicas: 1,
      createdAt: '2026-01-01T00:00:00.000Z',
    });
  });

  it('leaves out envVars, limits and requests that were not set', () => {
    const st = toFunctionStatus({ service: 'f', image: 'i', namespace: 'n', envVars: {}, requests: {} }, 't', 0, 0);
    expect(st).to.not.have.any.keys('envVars', 'limits', 'requests', 'secrets', 'envProcess');
    expect(st.labels).to.deep.equal({ faas_function: 'f' });
  });

  it('reads limits into cores and bytes, raising memory to the floor', () => {
    expect(limitsOf({ service: 'f', image: 'i', limits: { cpu: '250m', memory: '5Mi' } }, 64 << 20)).to.deep.equal({ cpu: 0.25, memoryBytes: 64 << 20 });
    expect(limitsOf({ service: 'f', image: 'i' }, 1)).to.deep.equal({});
    expect(() => limitsOf({ service: 'f', image: 'i', limits: { cpu: 'lots' } }, 1)).to.throw('limits.cpu');
  });
});

describe('local backend restart back-off', () => {
  const cases: { name: string; restarts: number; want: number }[] = [
    { name: 'waits the minimum before the first restart', restarts: 0, want: 500 },
    { name: 'doubles for each restart in a row', restarts: 3, want: 4000 },
    { name: 'stops at the maximum', restarts: 7, want: 30_000 },
    { name: 'stays at the maximum however long the crash loop', restarts: 10_000, want: 30_000 },
  ];
  for (const c of cases) it(c.name, () => expect(restartDelayMs(c.restarts, 500, 30_000)).to.equal(c.want));
});

describe('local backend launch command', () => {
  const base = { node: '/usr/bin/node', watchdogMain: '/w/main.js', funcDir: "/data/images/it's", secretsDir: '/data/run/i/secrets', tmpSizeBytes: 1000 };

  it('runs the watchdog directly without isolation', () => {
    expect(buildLaunch({ ...base, cgroupProcs: [], mountNamespace: false })).to.deep.equal({ command: '/usr/bin/node', args: ['/w/main.js'], cwd: base.funcDir });
  });

  it('joins the cgroups from a shell that then execs the watchdog in place', () => {
    const l = buildLaunch({ ...base, cgroupProcs: ['/cg/cpu/x/cgroup.procs'], mountNamespace: false });
    expect(l.command).to.equal('/bin/sh');
    expect(l.args[1]).to.contain("echo $$ > '/cg/cpu/x/cgroup.procs'");
    expect(l.args[1]!.split('\n').pop()).to.equal("exec '/usr/bin/node' '/w/main.js'");
  });

  it('mounts secrets, code and /tmp in a private namespace and drops to the user', () => {
    const l = buildLaunch({ ...base, cgroupProcs: [], mountNamespace: true, user: { name: 'app', uid: 999, gid: 998 } });
    expect(l.command).to.equal('unshare');
    expect(l.args.slice(0, 4)).to.deep.equal(['--mount', '--propagation', 'private', '--']);
    const script = l.args[l.args.length - 1]!;
    expect(script).to.contain('mount -t tmpfs');
    expect(script).to.contain(`mount --bind ${shellQuote(base.funcDir)} /var/openfaas/function`);
    expect(script).to.contain('chown -R 999:998 /var/openfaas/secrets');
    expect(script).to.match(/exec setpriv --reuid=999 --regid=998 .*--no-new-privs -- '\/usr\/bin\/node' '\/w\/main.js'$/);
  });

  it('keeps /tmp private for an install under /tmp by binding it at /var/openfaas/install first', () => {
    const l = buildLaunch({ ...base, watchdogMain: '/tmp/tmp.ab/ci/watchdog/dist/src/main.js', cgroupProcs: [], mountNamespace: true });
    const lines = l.args[l.args.length - 1]!.split('\n');
    const bind = lines.indexOf("mount --bind '/tmp/tmp.ab' /var/openfaas/install");
    const tmp = lines.findIndex((x) => x.endsWith(' hyperfaas-tmp /tmp'));
    expect(bind, 'the install is bound').to.be.greaterThan(-1);
    expect(tmp, 'the private /tmp is mounted after it').to.be.greaterThan(bind);
    expect(lines.at(-1)).to.equal("exec '/usr/bin/node' '/var/openfaas/install/ci/watchdog/dist/src/main.js'");
  });

  it('binds nothing extra for an install outside /tmp', () => {
    const l = buildLaunch({ ...base, cgroupProcs: [], mountNamespace: true });
    expect(l.args[l.args.length - 1]).to.not.contain('/var/openfaas/install');
  });

  it('quotes single quotes for the shell', () => {
    expect(shellQuote("it's")).to.equal(`'it'\\''s'`);
  });
});

describe('local backend run-as user', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hf-read-'));
    await chmod(dir, 0o755);
    await mkdir(join(dir, 'open'), { mode: 0o755 });
    await writeFile(join(dir, 'open', 'main.js'), '', { mode: 0o644 });
    await mkdir(join(dir, 'closed'), { mode: 0o700 });
    await writeFile(join(dir, 'closed', 'main.js'), '', { mode: 0o644 });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('sees a file others can reach and read', () => {
    expect(othersCanRead(join(dir, 'open', 'main.js'))).to.equal(true);
  });

  it('refuses a file behind a directory others cannot search', () => {
    expect(othersCanRead(join(dir, 'closed', 'main.js'))).to.equal(false);
  });

  it('refuses a missing file', () => {
    expect(othersCanRead(join(dir, 'nope.js'))).to.equal(false);
  });

  it('drops the user, and says why, when the watchdog is out of its reach', () => {
    const base = noIsolation([], true);
    const iso = { ...base, user: { name: 'app', uid: 999, gid: 999 }, summary: { ...base.summary, level: 'full' as const, user: 'app' } };
    const kept = withoutUserUnlessReadable(iso, [join(dir, 'open', 'main.js')]);
    expect(kept.user?.name).to.equal('app');
    const dropped = withoutUserUnlessReadable(iso, [join(dir, 'closed', 'main.js')]);
    expect(dropped.user).to.equal(undefined);
    expect(dropped.summary.user).to.equal(undefined);
    expect(dropped.summary.level).to.equal('partial');
    expect(dropped.summary.notes.join(' ')).to.contain(join(dir, 'closed', 'main.js'));
  });
});
