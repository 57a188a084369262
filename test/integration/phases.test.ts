/**
 * The multi-phase policy end to end on the local backend: a real nats-server, the real provider process (scaler tick
 * 250 ms, cgroup isolation), a CPU-bound function with a CPU limit and max_inflight, and an idle function of the same
 * runtime whose guest slot can be lent. A bounded burst drives the function through phase 1 (its cgroup CPU quota is
 * raised), phase 2 (the idle function's guest slot is specialised with it) and phase 3 (new replicas), and after the
 * burst back: the quota is given back, the slot released, and the replicas scaled in after a short down window
 * (label com.openfaas.scale.down.window). Assertions are on the scaler's phase lines and metrics and on backend state
 * (cgroup files, the ICS load reports on NATS, the provider's replica counts); none on timing.
 */
import { expect } from 'chai';
import { existsSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { postStatus } from '../support/http.js';
import { deploy, functionStatus, metric, poll, startStack, type Stack } from '../../bench/ab/stack.js';

const NS = 'openfaas-fn';
const FN = 'burst';
const KEY = `${FN}.${NS}`;
const LENDER = 'lender';
const CPU_LIMIT = 0.25;
const QUOTA = Math.round(CPU_LIMIT * 100_000);
const CGROUP_PARENT = `hyperfaas-phases-${process.pid}`;
const CPU_ROOT = '/sys/fs/cgroup/cpu';

function quotaOf(instance: string): number | undefined {
  const f = join(CPU_ROOT, CGROUP_PARENT, instance, 'cpu.cfs_quota_us');
  if (!existsSync(f)) return undefined;
  return Number(readFileSync(f, 'utf8').trim());
}

function invoke(base: string, path: string): Promise<number> {
  return postStatus(base, path, 'burst');
}

describe('multi-phase scaling end to end (local backend, NATS, cgroups)', function () {
  this.timeout(300_000);
  let s: Stack;
  const statuses: Record<string, number> = {};
  let sent = 0;
  let stopBurst = false;
  let burst: Promise<void> | undefined;

  before(async () => {
    // Start CPU limit off (HYPERFAAS_START_CPU=0): a starting replica's quota must not pass for a phase-1 boost here
    // (the local backend test covers the start limit).
    s = await startStack({ tickMs: 250, isolation: 'auto', env: { HYPERFAAS_CGROUP_PARENT: CGROUP_PARENT, HYPERFAAS_START_CPU: '0' } });
    await deploy(s, { service: LENDER, image: 'hyperfaas/echo:latest', labels: { 'com.hyperfaas.policy': 'none', 'com.hyperfaas.runtime': 'node' }, envVars: { max_inflight: '4' } });
    await deploy(s, {
      service: FN,
      image: 'hyperfaas/cpu:latest',
      envVars: { max_inflight: '2' },
      labels: {
        'com.hyperfaas.policy': 'hyperfaas',
        'com.hyperfaas.runtime': 'node',
        'com.openfaas.scale.min': '1',
        'com.openfaas.scale.max': '3',
        'com.openfaas.scale.down.window': '3s',
      },
      limits: { cpu: `${Math.round(CPU_LIMIT * 1000)}m` },
    });
  });

  after(async () => {
    stopBurst = true;
    await burst;
    await s?.stop();
    try {
      if (existsSync(join(CPU_ROOT, CGROUP_PARENT))) rmdirSync(join(CPU_ROOT, CGROUP_PARENT));
      for (const c of ['memory', 'pids']) if (existsSync(join('/sys/fs/cgroup', c, CGROUP_PARENT))) rmdirSync(join('/sys/fs/cgroup', c, CGROUP_PARENT));
    } catch {
      /* an instance group the backend could not remove yet: left for the reaper */
    }
  });

  it('starts with one instance at its normal quota and the lender\'s guest slot generic', async () => {
    const st = await functionStatus(s, FN);
    expect(st?.replicas).to.equal(1);
    const mine = await poll('a load report of burst', async () => (s.reports.latest(FN).length ? s.reports.latest(FN) : undefined), 30_000);
    expect(quotaOf(mine[0]!.instance), 'cgroup quota of the first instance').to.equal(QUOTA);
    const lent = await poll('a load report of the lender', async () => s.reports.latest(LENDER)[0], 30_000);
    expect(lent.slots.find((x) => x.kind === 'guest')?.state).to.equal('generic');
  });

  it('a bounded burst moves it through phase 1 (quota raised), phase 2 (guest slot specialised) and phase 3 (new replicas)', async () => {
    // 16 closed-loop senders, at most 4000 requests or until every phase was seen (the 300 s test timeout bounds it too).
    burst = Promise.all(
      Array.from({ length: 16 }, async () => {
        while (!stopBurst && sent < 4000) {
          sent++;
          const code = await invoke(s.base, `/function/${FN}`);
          statuses[code] = (statuses[code] ?? 0) + 1;
        }
      }),
    ).then(() => undefined);

    // Phase 1: some instance of burst got a CPU quota above its limit, in its cgroup and in its ICS report.
    let boostedQuota = 0;
    await poll('a boosted cgroup quota', async () => {
      for (const r of s.reports.latest(FN, 3000)) {
        const q = quotaOf(r.instance) ?? 0;
        if (q > QUOTA) boostedQuota = q;
      }
      return boostedQuota > QUOTA;
    }, 150_000, 50);
    expect(boostedQuota).to.be.greaterThan(QUOTA);
    await poll('an ICS report with the raised limit', async () => s.reports.ever((r) => r.function === FN && r.cpu.limit > CPU_LIMIT + 1e-3), 30_000);

    // Phase 2: the lender's guest slot serves burst.
    await poll('the lender\'s guest slot specialised with burst', async () =>
      s.reports.ever((r) => r.function === LENDER && r.slots.some((x) => x.kind === 'guest' && x.function === KEY && (x.state === 'serving' || x.state === 'specialising'))), 150_000, 100);

    // Phase 3: more than one replica is wanted and ready.
    await poll('a second ready replica', async () => ((await functionStatus(s, FN))?.availableReplicas ?? 0) >= 2, 150_000, 100);

    stopBurst = true;
    await burst;

    const phases = s.events.filter((e) => e.function === KEY);
    const to = new Set(phases.map((e) => e.to));
    // A phase line names the highest phase of its tick: phase 1 and phase 2 often act in the same tick (the policy
    // multiplexes on the first tick that sees a shortfall), and that line says multiplex; its reasons name both.
    expect([...to], 'phase lines').to.include('scale-out');
    expect([...to].filter((p) => p === 'scale-up' || p === 'multiplex'), 'phase lines').to.not.be.empty;
    const reasons = phases.flatMap((e) => e.reasons ?? []).join('\n');
    expect(reasons).to.match(/phase 1: \d+ instance\(s\) over the high watermark/);
    expect(reasons).to.match(/phase 2: .*specialise \d+/);
    expect(reasons).to.match(/phase 3: need \d+/);
    const upOrMultiplex =
      (await metric(s, 'hyperfaas_scaler_phase_changes_total', { function: KEY, phase: 'scale-up' })) +
      (await metric(s, 'hyperfaas_scaler_phase_changes_total', { function: KEY, phase: 'multiplex' }));
    expect(upOrMultiplex).to.be.at.least(1);
    expect(await metric(s, 'hyperfaas_scaler_phase_changes_total', { function: KEY, phase: 'scale-out' })).to.be.at.least(1);
    expect(await metric(s, 'hyperfaas_scaler_actions_total', { function: KEY, kind: 'resize' })).to.be.at.least(1);
    expect(await metric(s, 'hyperfaas_scaler_actions_total', { function: KEY, kind: 'specialise' })).to.be.at.least(1);
    expect(await metric(s, 'hyperfaas_scaler_actions_total', { function: KEY, kind: 'scaleTo' })).to.be.at.least(1);
    // Every request of the burst got an answer from the function (the ICS queues or bounces; it never sheds).
    expect(Object.values(statuses).reduce((a, b) => a + b, 0)).to.equal(sent);
    expect(statuses[200] ?? 0, JSON.stringify(statuses)).to.equal(sent);
  });

  it('after the burst it gives the quota back, releases the guest slot and scales in to one replica', async () => {
    await poll('every instance back at its normal quota', async () => {
      const live = s.reports.latest(FN, 2000);
      return live.length > 0 && live.every((r) => quotaOf(r.instance) === QUOTA || quotaOf(r.instance) === undefined);
    }, 120_000, 200);
    await poll('the lender\'s guest slot generic again', async () => {
      const r = s.reports.latest(LENDER, 2000)[0];
      return r?.slots.find((x) => x.kind === 'guest')?.state === 'generic';
    }, 120_000, 200);
    await poll('one replica left', async () => {
      const st = await functionStatus(s, FN);
      return st?.replicas === 1 && st.availableReplicas === 1;
    }, 120_000, 200);
    const to = new Set(s.events.filter((e) => e.function === KEY).map((e) => e.to));
    expect([...to], 'phase lines').to.include.members(['give-back', 'scale-in']);
    expect(await metric(s, 'hyperfaas_scaler_actions_total', { function: KEY, kind: 'restore' })).to.be.at.least(1);
    expect(await metric(s, 'hyperfaas_scaler_actions_total', { function: KEY, kind: 'release' })).to.be.at.least(1);
    expect(await metric(s, 'hyperfaas_scaler_phase_changes_total', { function: KEY, phase: 'scale-in' })).to.be.at.least(1);
  });
});
