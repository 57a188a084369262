/** Pure parts of the local backend's split: the reconcile plan, the instance state machine, the OCI spec. */
import { expect } from 'chai';
import { ociSpec, passwdFor, SECCOMP_DENIED } from '../../../src/backends/local/oci.js';
import { plan } from '../../../src/backends/local/reconcile.js';
import { installBinds } from '../../../src/backends/local/runc.js';
import { transition } from '../../../src/backends/local/supervisor.js';

const inst = (id: string, generation: number, ready: boolean, startedAt: number) => ({ id, generation, ready, startedAt });

describe('reconcile plan', () => {
  it('starts the missing instances of the current generation, unless it cannot start', () => {
    expect(plan({ removed: false, replicas: 3, generation: 1, canStart: true }, [inst('a', 1, true, 1)])).to.deep.equal({ start: 2, stop: [] });
    expect(plan({ removed: false, replicas: 3, generation: 1, canStart: false }, [inst('a', 1, true, 1)])).to.deep.equal({ start: 0, stop: [] });
  });

  it('scales in not-ready instances first, then the newest', () => {
    const p = plan({ removed: false, replicas: 1, generation: 1, canStart: true }, [inst('old', 1, true, 1), inst('new', 1, true, 5), inst('cold', 1, false, 2)]);
    expect(p.stop.map((s) => s.id)).to.deep.equal(['cold', 'new']);
    expect(p.stop[0]!.why).to.equal('scaled to 1');
  });

  it('keeps as many old-generation instances as new ones are not ready yet, the ready ones first', () => {
    const live = [inst('o1', 1, true, 1), inst('o2', 1, false, 2), inst('n1', 2, true, 3), inst('n2', 2, false, 4)];
    expect(plan({ removed: false, replicas: 2, generation: 2, canStart: true }, live)).to.deep.equal({ start: 0, stop: [{ id: 'o2', why: 'replaced by a newer version' }] });
  });

  it('stops everything of a removed function', () => {
    expect(plan({ removed: true, replicas: 2, generation: 1, canStart: true }, [inst('a', 1, true, 1)]).stop).to.deep.equal([{ id: 'a', why: 'function removed' }]);
  });
});

describe('instance state machine', () => {
  it('moves through start, readiness, crash, back-off and drain', () => {
    expect(transition('starting', 'healthy')).to.equal('ready');
    expect(transition('ready', 'unhealthy')).to.equal('starting');
    expect(transition('ready', 'exited')).to.equal('crashed');
    expect(transition('crashed', 'backoff')).to.equal('backing-off');
    expect(transition('backing-off', 'relaunch')).to.equal('starting');
    expect(transition('ready', 'stop')).to.equal('draining');
    expect(transition('draining', 'healthy')).to.equal('draining');
    expect(transition('draining', 'exited')).to.equal('draining');
    expect(transition('draining', 'gone')).to.equal('stopped');
    expect(transition('stopped', 'relaunch')).to.equal('stopped');
  });
});

describe('OCI spec of an instance', () => {
  const spec = ociSpec({
    rootfs: '/d/runc/rootfs',
    hostname: 'echo-1',
    uid: 2000001,
    gid: 2000001,
    args: ['/usr/bin/node', '/opt/hyperfaas/dist/watchdog/src/main.js'],
    env: { A: '1' },
    cwd: '/var/openfaas/function',
    binds: [{ source: '/usr', destination: '/usr' }, { source: '/d/images/abc/function', destination: '/var/openfaas/function' }],
    tmpBytes: 1024,
    shmBytes: 2048,
    cgroupsPath: '/hyperfaas/echo-1',
    cgroupDirs: ['/sys/fs/cgroup/memory/hyperfaas/echo-1'],
    limits: { cpu: 0.25, memoryBytes: 128 << 20, pids: 64 },
    arch: 'x64',
  }) as {
    process: { user: { uid: number }; capabilities: Record<string, string[]>; noNewPrivileges: boolean; env: string[] };
    root: { readonly: boolean };
    mounts: { destination: string; type: string; options: string[] }[];
    linux: { namespaces: { type: string }[]; resources: Record<string, unknown>; seccomp: { syscalls: { names: string[] }[] } };
  };

  it('runs the function user with no capabilities, no new privileges and a read-only root', () => {
    expect(spec.process.user.uid).to.equal(2000001);
    for (const set of Object.values(spec.process.capabilities)) expect(set).to.deep.equal([]);
    expect(spec.process.noNewPrivileges).to.equal(true);
    expect(spec.root.readonly).to.equal(true);
    expect(spec.process.env).to.deep.equal(['A=1']);
  });

  it('has its own PID, IPC, UTS and mount namespaces and the host network', () => {
    expect(spec.linux.namespaces.map((n) => n.type).sort()).to.deep.equal(['ipc', 'mount', 'pid', 'uts']);
  });

  it('binds read-only, private tmpfs for /tmp and /dev/shm, and no host path for lent guest code', () => {
    const m = (d: string) => spec.mounts.find((x) => x.destination === d)!;
    expect(m('/usr').options).to.include('ro');
    expect(m('/var/openfaas/function').options).to.include('ro');
    expect(spec.mounts.map((x) => x.destination)).not.to.include('/var/openfaas/guest');
    expect(m('/tmp')).to.deep.include({ type: 'tmpfs' });
    expect(m('/tmp').options).to.include('size=1024');
    expect(m('/dev/shm').options).to.include('size=2048');
    expect(m('/sys/fs/cgroup/memory/hyperfaas/echo-1').options).to.include('ro');
  });

  it('sets CPU, memory and pids limits, and a seccomp filter that refuses mount, unshare and ptrace', () => {
    expect(spec.linux.resources).to.deep.include({ cpu: { quota: 25000, period: 100000 }, memory: { limit: 128 << 20 }, pids: { limit: 64 } });
    expect(SECCOMP_DENIED).to.include.members(['mount', 'unshare', 'ptrace', 'setns', 'bpf']);
    expect(spec.linux.seccomp.syscalls.map((s) => s.names).flat()).to.include.members(['clone', 'clone3']);
  });

  it('gives the instance a passwd naming its own uid', () => {
    expect(passwdFor(7, 8).passwd).to.contain('app:x:7:8:');
  });

  it('brings the watchdog, its package.json, modules and runtime under /opt/hyperfaas', () => {
    const r = installBinds('/repo/watchdog/dist/src/main.js', '/nonexistent-repo');
    expect(r.main).to.equal('/opt/hyperfaas/dist/watchdog/src/main.js');
    expect(r.binds).to.deep.equal([
      { source: '/repo/watchdog/dist', destination: '/opt/hyperfaas/dist/watchdog' },
      { source: '/nonexistent-repo/package.json', destination: '/opt/hyperfaas/package.json' },
    ]);
  });
});
