import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cgroup, cgroupFiles, CPU_PERIOD_US, detectCgroups, procCpuTicks } from '../../../src/backends/local/cgroup.js';

async function fakeV1(root: string, controllers: string[]): Promise<void> {
  const marker: Record<string, string> = { cpu: 'cpu.cfs_quota_us', memory: 'memory.limit_in_bytes', pids: 'cgroup.procs', cpuacct: 'cpuacct.usage' };
  for (const c of controllers) {
    await mkdir(join(root, c), { recursive: true });
    await writeFile(join(root, c, marker[c]!), '');
    await writeFile(join(root, c, 'tasks'), '');
  }
}

describe('local backend cgroups on a fake root', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'hf-cg-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('finds cgroup v1 cpu, memory and pids and creates the parent group in each', async () => {
    await fakeV1(root, ['cpu', 'memory', 'pids']);
    const s = await detectCgroups(root, 'hyperfaas');
    expect(s.version).to.equal('v1');
    expect(s.parents).to.deep.equal({ cpu: join(root, 'cpu/hyperfaas'), memory: join(root, 'memory/hyperfaas'), pids: join(root, 'pids/hyperfaas') });
    expect(s.reason).to.equal('');
    expect(existsSync(join(root, 'memory/hyperfaas'))).to.equal(true);
  });

  it('joins a v1 cpuacct hierarchy of its own (accounting only: the ICS reads cpuacct.usage), not one co-mounted with cpu', async () => {
    await fakeV1(root, ['cpu', 'memory', 'pids', 'cpuacct']);
    const s = await detectCgroups(root, 'hyperfaas');
    expect(s.parents.cpuacct).to.equal(join(root, 'cpuacct/hyperfaas'));
    expect(s.reason).to.equal('');
    const cg = await Cgroup.create(s, 'fn-acct', { cpu: 0.5 });
    expect(cg.procsFiles).to.include(join(root, 'cpuacct/hyperfaas/fn-acct/cgroup.procs'));
    await rm(join(root, 'cpuacct/hyperfaas'), { recursive: true });
    // cpu,cpuacct co-mounted: the cpu group has cpuacct.usage already, and no second group is made.
    await writeFile(join(root, 'cpu', 'cpuacct.usage'), '');
    const co = await detectCgroups(root, 'hyperfaas');
    expect(co.parents.cpuacct).to.equal(undefined);
  });

  it('says which v1 controller is missing', async () => {
    await fakeV1(root, ['cpu', 'memory']);
    const s = await detectCgroups(root, 'hyperfaas');
    expect(s.version).to.equal('v1');
    expect(Object.keys(s.parents)).to.deep.equal(['cpu', 'memory']);
    expect(s.reason).to.contain('pids');
  });

  it('falls back to a v2 hierarchy under unified/ that offers the controllers, enabling them for children', async () => {
    await mkdir(join(root, 'unified'), { recursive: true });
    await writeFile(join(root, 'unified/cgroup.controllers'), 'cpuset cpu io memory pids\n');
    const s = await detectCgroups(root, 'hyperfaas');
    expect(s.version).to.equal('v2');
    expect(s.parents.cpu).to.equal(join(root, 'unified/hyperfaas'));
    expect(await readFile(join(root, 'unified/cgroup.subtree_control'), 'utf8')).to.equal('+cpu +memory +pids');
    expect(await readFile(join(root, 'unified/hyperfaas/cgroup.subtree_control'), 'utf8')).to.equal('+cpu +memory +pids');
  });

  it('reports none when the v2 hierarchy offers no controller we use (only hugetlb, as on this kind of host)', async () => {
    await mkdir(join(root, 'unified'), { recursive: true });
    await writeFile(join(root, 'unified/cgroup.controllers'), 'hugetlb\n');
    const s = await detectCgroups(root, 'hyperfaas');
    expect(s.version).to.equal('none');
    expect(s.reason).to.contain('offers none');
  });

  it('reports none with a reason for an empty root', async () => {
    const s = await detectCgroups(root, 'hyperfaas');
    expect(s).to.deep.include({ version: 'none', parents: {} });
    expect(s.reason).to.contain(root);
  });

  const files: { name: string; version: 'v1' | 'v2'; limits: { cpu?: number; memoryBytes?: number; pids?: number }; want: Record<string, [string, string][]> }[] = [
    {
      name: 'writes a half-core quota, a memory limit and a pids limit on v1',
      version: 'v1',
      limits: { cpu: 0.5, memoryBytes: 134217728, pids: 64 },
      want: {
        cpu: [['cpu.cfs_period_us', '100000'], ['cpu.cfs_quota_us', '50000']],
        memory: [['memory.limit_in_bytes', '134217728']],
        pids: [['pids.max', '64']],
        cpuacct: [],
      },
    },
    {
      name: 'lifts every limit on v1 when none is given',
      version: 'v1',
      limits: {},
      want: { cpu: [['cpu.cfs_period_us', '100000'], ['cpu.cfs_quota_us', '-1']], memory: [['memory.limit_in_bytes', '-1']], pids: [['pids.max', 'max']], cpuacct: [] },
    },
    {
      name: 'writes cpu.max and memory.max on v2',
      version: 'v2',
      limits: { cpu: 2, memoryBytes: 1000 },
      want: { cpu: [['cpu.max', '200000 100000']], memory: [['memory.max', '1000'], ['memory.swap.max', '0']], pids: [['pids.max', 'max']], cpuacct: [] },
    },
    {
      name: 'never writes a quota below one millisecond per period',
      version: 'v2',
      limits: { cpu: 0.001 },
      want: { cpu: [['cpu.max', '1000 100000']], memory: [['memory.max', 'max'], ['memory.swap.max', '0']], pids: [['pids.max', 'max']], cpuacct: [] },
    },
  ];
  for (const c of files) it(c.name, () => expect(cgroupFiles(c.version, c.limits)).to.deep.equal(c.want));

  it('creates an instance group, resizes it in place and removes it', async () => {
    await fakeV1(root, ['cpu', 'memory', 'pids']);
    const s = await detectCgroups(root, 'hyperfaas');
    const cg = await Cgroup.create(s, 'fn-abc', { cpu: 0.25, memoryBytes: 64 << 20, pids: 100 });
    expect(await readFile(join(root, 'cpu/hyperfaas/fn-abc/cpu.cfs_quota_us'), 'utf8')).to.equal(String(0.25 * CPU_PERIOD_US));
    expect(await readFile(join(root, 'pids/hyperfaas/fn-abc/pids.max'), 'utf8')).to.equal('100');
    await cg.setLimits({ cpu: 1.5, memoryBytes: 256 << 20 });
    expect(await readFile(join(root, 'cpu/hyperfaas/fn-abc/cpu.cfs_quota_us'), 'utf8')).to.equal('150000');
    expect(await readFile(join(root, 'memory/hyperfaas/fn-abc/memory.limit_in_bytes'), 'utf8')).to.equal(String(256 << 20));
    expect(cg.procsFiles).to.have.length(3);
    await cg.destroy();
    expect(existsSync(join(root, 'cpu/hyperfaas/fn-abc'))).to.equal(false);
  });

  it('attaches to an existing group without writing limits, and removes it', async () => {
    await fakeV1(root, ['cpu', 'memory']);
    const s = await detectCgroups(root, 'hyperfaas');
    await Cgroup.create(s, 'left-over', { cpu: 1 });
    const cg = Cgroup.attach(s, 'left-over');
    expect(Object.keys(cg.dirs)).to.deep.equal(['cpu', 'memory']);
    await cg.destroy();
    expect(existsSync(join(root, 'cpu/hyperfaas/left-over'))).to.equal(false);
    expect(existsSync(join(root, 'memory/hyperfaas/left-over'))).to.equal(false);
  });

  it('reads utime and stime from a /proc stat line whose command holds spaces and parentheses', () => {
    const line = '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 5000 0 0 0 250 35 0 0 20 0 11 0 12345 1000000 5000';
    expect(procCpuTicks(line)).to.equal(285);
    expect(procCpuTicks('')).to.equal(0);
  });

  it('samples memory from the group and CPU from its processes', async () => {
    await fakeV1(root, ['cpu', 'memory']);
    const s = await detectCgroups(root, 'hyperfaas');
    const cg = await Cgroup.create(s, 'sampled', {});
    await writeFile(join(root, 'memory/hyperfaas/sampled/memory.usage_in_bytes'), '1048576\n');
    await writeFile(join(root, 'cpu/hyperfaas/sampled/cgroup.procs'), `${process.pid}\n`);
    const u = await cg.usage();
    expect(u.memoryBytes).to.equal(1048576);
    expect(u.cpuSeconds).to.be.greaterThan(0); // this test process has used some CPU
  });

  it('refuses a group name that is not a single path segment', async () => {
    await fakeV1(root, ['cpu']);
    const s = await detectCgroups(root, 'hyperfaas');
    let err: unknown;
    await Cgroup.create(s, '../escape', {}).catch((e) => (err = e));
    expect(String(err)).to.contain('bad cgroup name');
  });
});

describe('local backend cgroups on this host', function () {
  this.timeout(30_000);
  const root = '/sys/fs/cgroup';
  const parent = `hyperfaas-test-${process.pid}`;
  const isRoot = process.getuid?.() === 0;
  const v1 = existsSync(join(root, 'cpu/tasks')) && existsSync(join(root, 'memory/tasks'));

  after(async () => {
    for (const c of ['cpu', 'memory', 'pids']) await rmdir(join(root, c, parent)).catch(() => undefined);
  });

  it(isRoot && v1 ? 'limits a real process through the v1 hierarchy and resizes it in place' : 'reports the fallback on a host without writable cgroups', async () => {
    const s = await detectCgroups(root, parent);
    if (!(isRoot && v1)) {
      // No writable v1 hierarchy here: the backend must say it runs without cgroups, or use v2 if offered.
      if (s.version === 'none') expect(s.reason).to.not.equal('');
      else expect(s.version).to.equal('v2');
      return;
    }
    expect(s.version).to.equal('v1');
    expect(s.parents.cpu).to.equal(join(root, 'cpu', parent));
    const cg = await Cgroup.create(s, 'probe', { cpu: 0.5, memoryBytes: 64 << 20, pids: 32 });
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await cg.join(child.pid!);
      const own = await readFile(`/proc/${child.pid}/cgroup`, 'utf8');
      expect(own).to.match(new RegExp(`:cpu[^:]*:/${parent}/probe`));
      expect(own).to.match(new RegExp(`:memory:/${parent}/probe`));
      expect((await readFile(join(root, 'cpu', parent, 'probe/cpu.cfs_quota_us'), 'utf8')).trim()).to.equal('50000');
      await cg.setLimits({ cpu: 1.25, memoryBytes: 128 << 20, pids: 32 });
      expect((await readFile(join(root, 'cpu', parent, 'probe/cpu.cfs_quota_us'), 'utf8')).trim()).to.equal('125000');
      expect((await readFile(join(root, 'memory', parent, 'probe/memory.limit_in_bytes'), 'utf8')).trim()).to.equal(String(128 << 20));
      if (s.parents.pids) expect((await readFile(join(root, 'pids', parent, 'probe/pids.max'), 'utf8')).trim()).to.equal('32');
      expect(await cg.pids()).to.include(child.pid);
    } finally {
      await cg.destroy();
    }
    expect(child.exitCode !== null || child.signalCode !== null || (await new Promise((r) => child.once('exit', () => r(true))))).to.equal(true);
    expect(existsSync(join(root, 'cpu', parent, 'probe'))).to.equal(false);
  });
});
