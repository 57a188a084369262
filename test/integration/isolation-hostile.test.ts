/**
 * Hostile functions against the local backend's runc runtime: real instances under real runc. An "attacker"
 * function is a shell that runs whatever command a request's body holds (fork mode: the body is its stdin), next
 * to a "victim" with a secret, a secret env var and its own code. Each attack asserts the exact way it fails.
 * The host side first proves the victim really holds what is attacked, so no case passes for the wrong reason.
 */
import { expect } from 'chai';
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalBackend, readLocalConfig, type LocalBackend } from '../../src/backends/local/index.js';
import { silentLogger } from '../../src/logger.js';
import { repoRoot } from '../../src/paths.js';
import { eventually } from '../contract/backend.contract.js';
import { httpCall } from '../support/http.js';

const NS = 'openfaas-fn';

/** pidsOf finds an instance's processes on the host by the env the backend gave them. */
async function pidsOf(instanceId: string): Promise<number[]> {
  const out: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const env = await readFile(`/proc/${d}/environ`, 'utf8').catch(() => '');
    if (env.split('\0').includes(`HYPERFAAS_INSTANCE_ID=${instanceId}`)) out.push(Number(d));
  }
  return out.sort((a, b) => a - b);
}

describe('hostile functions under the runc runtime', function () {
  this.timeout(120_000);
  let root: string;
  let data: string;
  let b: LocalBackend;
  let victimId: string;
  let victimPid: number;

  /** sh runs one shell command line inside the attacker and returns its output (stdout and stderr). */
  async function sh(cmd: string): Promise<string> {
    const i = b.instances(NS, 'attacker').find((x) => x.ready);
    if (!i) throw new Error('attacker not ready');
    const r = await httpCall(i.url, 'POST', '/', `${cmd}\n`);
    expect(r.status, r.body).to.equal(200);
    return r.body;
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'hf-hostile-'));
    data = join(root, 'data');
    const attacker = join(root, 'images', 'attacker');
    await mkdir(attacker, { recursive: true });
    await writeFile(join(attacker, 'Dockerfile'), 'FROM scratch\nENV fprocess="sh /var/openfaas/function/attack.sh"\nENV mode="streaming"\n');
    await writeFile(join(attacker, 'attack.sh'), 'read -r cmd\nexec 2>&1\neval "$cmd"\necho "rc=$?"\n');
    b = await createLocalBackend(
      readLocalConfig({ HYPERFAAS_DATA: data, HYPERFAAS_IMAGE_PATH: `${join(root, 'images')}:${join(repoRoot, 'stack-templates/examples/build')}`, HYPERFAAS_HEALTH_INTERVAL: '200ms' }),
      silentLogger(),
    );
    await b.createSecret(NS, 'victim-pass', Buffer.from('victim-secret-value'));
    await b.createSecret(NS, 'attacker-pass', Buffer.from('attacker-own'));
    await b.deploy({ service: 'victim', image: 'hyperfaas/echo:latest', namespace: NS, secrets: ['victim-pass'], envVars: { VICTIM_TOKEN: 'env-secret-value' } });
    await b.deploy({ service: 'attacker', image: 'acme/attacker:1', namespace: NS, secrets: ['attacker-pass'] });
    await eventually(async () => {
      expect((await b.get(NS, 'victim')).availableReplicas).to.equal(1);
      expect((await b.get(NS, 'attacker')).availableReplicas).to.equal(1);
    }, 60_000, 100);
    victimId = b.instances(NS, 'victim')[0]!.id;
    victimPid = (await pidsOf(victimId))[0]!;
  });
  after(async () => {
    await b?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('runs on runc, each function under its own uid', async () => {
    expect(b.isolation.runtime, b.isolation.notes.join('; ')).to.equal('runc');
    // The fork-mode process was started by the watchdog's spawn helper, inside the container too.
    expect(await sh('cat /proc/$PPID/comm')).to.equal('hf-spawn\nrc=0\n');
    const own = Number((await sh('id -u')).split('\n')[0]);
    expect(own).to.equal(b.uidOf(NS, 'attacker'));
    expect(own).to.not.equal(b.uidOf(NS, 'victim'));
    const status = await readFile(`/proc/${victimPid}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).to.equal(String(b.uidOf(NS, 'victim')));
  });

  it('sees only its own processes: another instance\'s /proc/<pid>/environ and root are not there', async () => {
    // The host sees what the attack is after.
    expect(await readFile(`/proc/${victimPid}/environ`, 'utf8')).to.contain('VICTIM_TOKEN=env-secret-value');
    const env = await sh(`cat /proc/${victimPid}/environ`);
    expect(env).to.match(new RegExp(`cat: /proc/${victimPid}/environ: No such file or directory`));
    expect(env).to.not.contain('env-secret-value');
    const viaRoot = await sh(`cat /proc/${victimPid}/root/var/openfaas/secrets/victim-pass`);
    expect(viaRoot).to.contain('No such file or directory');
    // Its PID namespace holds its watchdog (PID 1) and its own children only.
    const pids = (await sh('ls /proc')).split('\n').filter((l) => /^\d+$/.test(l)).map(Number);
    expect(pids).to.include(1);
    expect(pids.every((p) => p < victimPid)).to.equal(true);
    expect(await sh(`kill -9 ${victimPid}`)).to.match(/No such process/);
  });

  it('cannot read another function\'s secrets: only its own are mounted, the host\'s copies are not in its root', async () => {
    expect(await sh('ls /var/openfaas/secrets')).to.equal('attacker-pass\nrc=0\n');
    expect(await sh('cat /var/openfaas/secrets/attacker-pass')).to.equal('attacker-ownrc=0\n');
    const victimSecretOnHost = join(data, 'run', victimId, 'secrets', 'victim-pass');
    expect(await readFile(victimSecretOnHost, 'utf8')).to.equal('victim-secret-value');
    expect(await sh(`cat ${victimSecretOnHost}`)).to.contain(`cat: ${victimSecretOnHost}: No such file or directory`);
    expect(await sh(`cat ${join(data, 'secrets', NS, 'victim-pass')}`)).to.contain('No such file or directory');
  });

  it('cannot read another function\'s code: the prepared images and the image path are outside its root', async () => {
    const victimDir = join(data, 'images');
    expect((await readdir(victimDir)).length).to.be.greaterThan(0);
    expect(await sh(`ls ${victimDir}`)).to.contain(`ls: cannot access '${victimDir}': No such file or directory`);
    // Lent code is fetched by a lender's watchdog into its own /tmp: no host directory of lent code exists in a root.
    expect(await sh('ls /var/openfaas/guest')).to.contain("ls: cannot access '/var/openfaas/guest': No such file or directory");
    expect(await sh('ls /var/openfaas/function')).to.equal('Dockerfile\nattack.sh\nrc=0\n');
  });

  it('cannot change its root, mount, or get capabilities through a user namespace', async () => {
    expect(await sh('touch /usr/bin/x')).to.contain('Read-only file system');
    expect(await sh('echo x > /var/openfaas/function/attack.sh')).to.contain('Read-only file system');
    expect(await sh('mount -t tmpfs x /mnt')).to.match(/must be superuser|Operation not permitted|permission denied/i);
    expect(await sh('unshare -U -r id')).to.contain('unshare failed: Operation not permitted');
    expect(await sh('grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status')).to.equal('CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nNoNewPrivs:\t1\nrc=0\n');
  });
});
