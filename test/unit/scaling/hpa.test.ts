import { expect } from 'chai';
import {
  advanceMetrics,
  behaviorScaleDownLimit,
  behaviorScaleUpLimit,
  calcReplicas,
  compressHpaParams,
  createHpaPolicy,
  defaultHpaBehavior,
  describeHpaParams,
  groupPods,
  HPA_DEFAULT,
  HPA_DEFAULT_BEHAVIOR,
  HPA_TUNED,
  modelPod,
  normalizeLegacy,
  normalizeWithBehavior,
  scaleUpLimit,
  type HpaParams,
  type ModelledPod,
  type PodMetricSample,
} from '../../../src/scaling/hpa.js';
import type { InstanceObservation } from '../../../src/scaling/types.js';
import { inst, input, spec } from './fixtures.js';

/** Cluster is a tiny simulated deployment driven by the HPA emulator, one tick per second. */
interface SimResult {
  /** replicas is the sequence of distinct desired counts, starting with the initial one. */
  sequence: number[];
  /** changes are [time, replicas] of every scaleTo. */
  changes: Array<[number, number]>;
}

function simulate(
  p: Readonly<HpaParams>,
  o: { request: number; limit: number; target: number; max: number; demand: (t: number) => number; untilMs: number },
): SimResult {
  const policy = createHpaPolicy(p);
  let state = policy.initialState(0);
  const s = spec({ cpuRequest: o.request, cpuLimit: o.limit }, { target: o.target, min: 1, max: o.max, policy: 'hpa' });
  let pods: InstanceObservation[] = [inst('p0', { startedAt: -600_000, readyAt: -599_000 })];
  let replicas = 1;
  let routable: string[] = ['p0'];
  let n = 1;
  const sequence = [1];
  const changes: Array<[number, number]> = [];
  for (let t = 0; t <= o.untilMs; t += 1000) {
    const serving = pods.filter((x) => routable.includes(x.id));
    // A reading at t is the mean over (t - 1 s, t], so it reflects the demand of the second that just ended.
    const perPod = serving.length ? Math.min(o.limit, o.demand(t - 1000) / serving.length) : 0;
    const obs = pods.map((x) => ({ ...x, ready: t >= (x.readyAt ?? 0), cpuUsed: routable.includes(x.id) ? perPod : 0, cpuLimit: o.limit }));
    const d = policy.decide(input(t, s, { replicas, instances: obs }), state);
    state = d.state;
    routable = d.routable ?? [];
    for (const a of d.actions) {
      if (a.kind !== 'scaleTo') continue;
      while (pods.length < a.replicas) pods.push(inst(`p${n++}`, { startedAt: t, readyAt: t + 80 }));
      if (pods.length > a.replicas) pods = pods.slice(0, a.replicas);
      replicas = a.replicas;
      changes.push([t, a.replicas]);
      if (sequence[sequence.length - 1] !== a.replicas) sequence.push(a.replicas);
    }
  }
  return { sequence, changes };
}

// W1-like step: 1 replica at half its target, then 10x (needs 10 replicas at the 50 % target).
const step = (t: number): number => (t < 60_000 ? 0.25 : 2.5);

describe('HPA emulator: a 10x step from 1 replica ', () => {
  it('goes 1 -> 2 -> 4 -> 8 -> 10 when the CPU limit equals the request (ratio capped at 2 per cycle)', () => {
    const r = simulate(HPA_DEFAULT, { request: 0.5, limit: 0.5, target: 50, max: 10, demand: step, untilMs: 400_000 });
    expect(r.sequence).to.deep.equal([1, 2, 4, 8, 10]);
    const first = r.changes[0]![0];
    const stable = r.changes[r.changes.length - 1]![0];
    // Detection needs a scrape covering the step and a sync: 15-30 s; stable after 4 cycles.
    expect(first - 60_000).to.be.within(15_000, 30_000);
    expect(stable - 60_000).to.be.within(60_000, 180_000);
  });

  it('goes 1 -> 4 -> 8 -> 10 on the legacy path when the limit is far above the request', () => {
    const r = simulate(HPA_DEFAULT, { request: 0.5, limit: 4, target: 50, max: 10, demand: step, untilMs: 400_000 });
    expect(r.sequence).to.deep.equal([1, 4, 8, 10]);
    // first relief one scrape + sync after the step (the paper's "after ~40 s" includes pod start and probes)
    expect(r.changes[0]![0] - 60_000).to.be.within(15_000, 30_000);
  });

  it('goes 1 -> 5 -> 10 with the default behavior (+4 pods beats +100 %)', () => {
    const r = simulate(HPA_DEFAULT_BEHAVIOR, { request: 0.5, limit: 4, target: 50, max: 10, demand: step, untilMs: 400_000 });
    expect(r.sequence).to.deep.equal([1, 5, 10]);
  });

  it('holds the peak for the 300 s down-stabilisation window after the burst ends', () => {
    const burst = (t: number): number => (t >= 60_000 && t < 240_000 ? 2.5 : 0.25);
    const r = simulate(HPA_DEFAULT, { request: 0.5, limit: 4, target: 50, max: 10, demand: burst, untilMs: 700_000 });
    const peakAt = r.changes.findIndex(([, n]) => n === 10);
    const down = r.changes.slice(peakAt).find(([, n]) => n < 10)!;
    expect(down, JSON.stringify(r.changes)).to.not.equal(undefined);
    // the last recommendation of 10 was made at or before the burst's last sync; the drop waits 300 s after it.
    expect(down[0] - 240_000).to.be.within(300_000, 330_000);
    expect(r.changes[r.changes.length - 1]![1]).to.equal(1);
  });

  it('reacts within seconds, not tens of seconds, with the tuned parameters', () => {
    const r = simulate(HPA_TUNED, { request: 0.5, limit: 4, target: 50, max: 10, demand: step, untilMs: 200_000 });
    expect(r.sequence[r.sequence.length - 1]).to.equal(10);
    expect(r.changes[0]![0] - 60_000).to.be.at.most(10_000);
  });
});

describe('HPA emulator: replica calculation rules', () => {
  const pods = (n: number): ModelledPod[] =>
    Array.from({ length: n }, (_, i) => ({ id: `p${i}`, phase: 'Running', startTime: 0, runningAt: 2_000, ready: true, readyTransitionAt: 4_000, deleting: false }));
  const samples = (cores: number[], ts = 600_000): Record<string, PodMetricSample> =>
    Object.fromEntries(cores.map((c, i) => [`p${i}`, { cores: c, timestamp: ts, windowMs: 15_000 }]));
  const now = 600_000;

  const tolCases = [
    { name: 'keeps the count when the ratio is within the 0.1 tolerance (1.08)', cores: [0.54, 0.54], want: 2 },
    { name: 'scales up when the ratio is just past the tolerance (1.12)', cores: [0.56, 0.56], want: 3 },
    { name: 'keeps the count at 0.92', cores: [0.46, 0.46], want: 2 },
    { name: 'scales down at 0.5', cores: [0.25, 0.25], want: 1 },
    { name: 'follows the docs example: 90 % vs target 75 % -> x1.2', cores: Array(50).fill(0.9), want: 60, target: 75, request: 1 },
  ];
  for (const c of tolCases) {
    it(c.name, () => {
      const ps = pods(c.cores.length);
      const sm = samples(c.cores);
      const g = groupPods(ps, sm, HPA_DEFAULT, now);
      const r = calcReplicas(c.cores.length, g, sm, c.request ?? 1, c.target ?? 50, 0.1);
      expect(r.replicas).to.equal(c.want);
    });
  }

  it('treats missing pods as 0 % on a scale-up', () => {
    // two pods at 100 % of request (ratio 2 vs 50 %), one missing -> (100+100+0)/3 = 66 % -> ratio 1.33 -> ceil(4) = 4
    const ps = pods(3);
    const sm = samples([1, 1]);
    const g = groupPods(ps, sm, HPA_DEFAULT, now);
    expect(g.missing).to.deep.equal(['p2']);
    expect(calcReplicas(3, g, sm, 1, 50, 0.1).replicas).to.equal(4);
  });

  it('treats missing pods as 100 % of request on a scale-down', () => {
    // two pods at 10 %, one missing at 100 %: 40 % vs target 50 % -> 0.8 -> ceil(2.4) = 3 = current: no change.
    const ps = pods(3);
    const sm = samples([0.1, 0.1]);
    const g = groupPods(ps, sm, HPA_DEFAULT, now);
    expect(calcReplicas(3, g, sm, 1, 50, 0.1).replicas).to.equal(3);
    // without the missing pod the same two would scale down to 1
    const g2 = groupPods(pods(2), sm, HPA_DEFAULT, now);
    expect(calcReplicas(2, g2, sm, 1, 50, 0.1).replicas).to.equal(1);
  });

  it('keeps the count when counting unready pods as 0 % flips the direction', () => {
    const ps = pods(2);
    ps[1] = { ...ps[1]!, ready: false, readyTransitionAt: 2_000, startTime: now - 10_000 };
    const sm = samples([0.6, 0.6]);
    const g = groupPods(ps, sm, HPA_DEFAULT, now);
    expect(g.unready).to.deep.equal(['p1']);
    // ready ratio 1.2 -> with the unready pod at 0 %: 60 % / 2 / 50 = 0.6 -> opposite direction -> keep 2
    expect(calcReplicas(2, g, sm, 1, 50, 0.1).replicas).to.equal(2);
  });

  it('reports an error and keeps the count when no pod has a usable metric', () => {
    const ps = pods(2);
    const g = groupPods(ps, {}, HPA_DEFAULT, now);
    const r = calcReplicas(2, g, {}, 1, 50, 0.1);
    expect(r.error).to.be.a('string');
    expect(r.replicas).to.equal(2);
  });

  const group = [
    { name: 'ignores a deleting pod', pod: { deleting: true }, sample: true, want: 'ignored' },
    { name: 'counts a Pending pod as unready', pod: { phase: 'Pending' as const }, sample: false, want: 'unready' },
    { name: 'counts a Running pod without a sample as missing', pod: {}, sample: false, want: 'missing' },
    { name: 'counts a young pod whose sample window began before Ready as unready (cpu-init rule)', pod: { startTime: 590_000, readyTransitionAt: 590_000 }, sample: true, ts: 600_000, want: 'unready' },
    { name: 'counts a young ready pod with a clean window as ready', pod: { startTime: 500_000, readyTransitionAt: 520_000 }, sample: true, ts: 600_000, want: 'ready' },
    { name: 'counts a young unready pod as unready', pod: { startTime: 500_000, ready: false, readyTransitionAt: 500_000 }, sample: true, want: 'unready' },
    { name: 'counts an old unready pod that never became ready within 30 s as unready', pod: { startTime: 0, ready: false, readyTransitionAt: 10_000 }, sample: true, want: 'unready' },
    { name: 'counts an old unready pod that was ready after 30 s as ready (its metric counts)', pod: { startTime: 0, ready: false, readyTransitionAt: 100_000 }, sample: true, want: 'ready' },
  ];
  for (const c of group) {
    it(c.name, () => {
      const pod = { ...pods(1)[0]!, ...c.pod } as ModelledPod;
      const sm = c.sample ? samples([0.5], c.ts ?? now) : {};
      const g = groupPods([pod], sm, HPA_DEFAULT, now);
      const where = g.ignored.length ? 'ignored' : g.unready.length ? 'unready' : g.missing.length ? 'missing' : 'ready';
      expect(where).to.equal(c.want);
    });
  }
});

describe('HPA emulator: normalisation', () => {
  const legacy = [
    { cur: 1, want: 4 },
    { cur: 3, want: 6 },
    { cur: 8, want: 16 },
  ];
  for (const c of legacy) {
    it(`limits a legacy scale-up from ${c.cur} to max(2 x ${c.cur}, 4) = ${c.want}`, () => {
      expect(scaleUpLimit(c.cur)).to.equal(c.want);
      expect(normalizeLegacy(HPA_DEFAULT, [], c.cur, 100, 1, 50, 0).replicas).to.equal(c.want);
    });
  }

  it('clamps a legacy recommendation to [min, max]', () => {
    expect(normalizeLegacy(HPA_DEFAULT, [], 8, 30, 1, 10, 0).replicas).to.equal(10);
    expect(normalizeLegacy(HPA_DEFAULT, [], 3, 1, 2, 10, 0).replicas).to.equal(2);
  });

  it('stabilises a legacy scale-down on the highest recommendation of the last 300 s (the cutoff itself included)', () => {
    const hist = [{ at: 0, value: 9 }, { at: 100_000, value: 7 }];
    expect(normalizeLegacy(HPA_DEFAULT, hist, 9, 2, 1, 10, 300_000).replicas).to.equal(9);
    expect(normalizeLegacy(HPA_DEFAULT, hist, 9, 2, 1, 10, 300_001).replicas).to.equal(7);
    expect(normalizeLegacy(HPA_DEFAULT, hist, 9, 2, 1, 10, 400_001).replicas).to.equal(2);
  });

  const b = defaultHpaBehavior();
  const up = [
    { name: 'allows +4 pods from 1 (Pods 4 beats Percent 100)', cur: 1, ups: [], want: 5 },
    { name: 'allows doubling from 5 (Percent 100 beats Pods 4)', cur: 5, ups: [], want: 10 },
    { name: 'counts pods added within the 15 s period', cur: 5, ups: [{ at: 990_000, value: 4 }], want: 5 },
    { name: 'forgets pods added before the period', cur: 5, ups: [{ at: 985_000, value: 4 }], want: 10 },
  ];
  for (const c of up) {
    it(`behavior scale-up ${c.name}`, () => expect(behaviorScaleUpLimit(c.cur, c.ups, [], b.scaleUp, 1_000_000)).to.equal(c.want));
  }

  it('behavior scale-up with selectPolicy Min takes the smaller proposal', () => {
    expect(behaviorScaleUpLimit(5, [], [], { ...b.scaleUp, selectPolicy: 'Min' }, 0)).to.equal(9);
    expect(behaviorScaleUpLimit(5, [], [], { ...b.scaleUp, selectPolicy: 'Disabled' }, 0)).to.equal(5);
  });

  it('behavior scale-down by Pods 1 per 60 s removes one pod at a time', () => {
    const rules = { stabilizationWindowSeconds: 0, selectPolicy: 'Max' as const, policies: [{ type: 'Pods' as const, value: 1, periodSeconds: 60 }] };
    expect(behaviorScaleDownLimit(10, [], [], rules, 0)).to.equal(9);
    expect(behaviorScaleDownLimit(9, [], [{ at: -10_000, value: 1 }], rules, 0)).to.equal(9);
  });

  it('behavior stabilises a scale-down on the max of the down-window and rate-limits the scale-up', () => {
    const hist = [{ at: 100_000, value: 8 }];
    const down = normalizeWithBehavior(b, hist, [], [], 8, 2, 1, 10, 200_000);
    expect(down.replicas).to.equal(8);
    const later = normalizeWithBehavior(b, hist, [], [], 8, 2, 1, 10, 400_001);
    expect(later.replicas).to.equal(2);
    const upN = normalizeWithBehavior(b, [], [], [], 1, 10, 1, 10, 0);
    expect(upN.replicas).to.equal(5);
  });

  it('describes its parameters in one line and compresses them by k', () => {
    const c = compressHpaParams(HPA_DEFAULT_BEHAVIOR, 10);
    expect(c.syncPeriodMs).to.equal(1_500);
    expect(c.downscaleStabilizationMs).to.equal(30_000);
    expect(c.behavior!.scaleUp.policies[0]!.periodSeconds).to.equal(1.5);
    expect(describeHpaParams(HPA_DEFAULT)).to.contain('sync 15s').and.contain('legacy');
    expect(() => compressHpaParams(HPA_DEFAULT, 0.5)).to.throw(RangeError);
  });
});

describe('HPA emulator: pod model and metrics pipeline', () => {
  it('follows the pod model worked example (start 2 s, probe 2 s + 2 s)', () => {
    const i = inst('a', { startedAt: 10_000, readyAt: 10_080 });
    expect(modelPod(i, HPA_DEFAULT, 11_999).phase).to.equal('Pending');
    expect(modelPod(i, HPA_DEFAULT, 12_000)).to.include({ phase: 'Running', ready: false });
    expect(modelPod(i, HPA_DEFAULT, 13_999).ready).to.equal(false);
    expect(modelPod(i, HPA_DEFAULT, 14_000)).to.include({ ready: true, readyTransitionAt: 14_000 });
  });

  it('waits for the next probe when the instance became healthy late', () => {
    const i = inst('a', { startedAt: 0, readyAt: 5_000 });
    expect(modelPod(i, HPA_DEFAULT, 5_500).ready).to.equal(false);
    expect(modelPod(i, HPA_DEFAULT, 6_000)).to.include({ ready: true, readyTransitionAt: 6_000 });
  });

  /** samplesOf runs the pipeline for one pod from `from` to `to`, one observation per second. */
  function samplesOf(startedAt: number, from: number, to: number): Map<number, PodMetricSample | undefined> {
    const i = inst('a', { startedAt, cpuUsed: 0.5 });
    let counters = {};
    const out = new Map<number, PodMetricSample | undefined>();
    for (let t = from; t <= to; t += 1_000) {
      counters = advanceMetrics(counters, [modelPod(i, HPA_DEFAULT, t)], [i], HPA_DEFAULT, t);
      out.set(t, (counters as Record<string, { sample?: PodMetricSample }>)['a']?.sample);
    }
    return out;
  }

  it('gives a pod 10-15 s old at its first scrape a sample at once, from its start time (metrics-server fresh container)', () => {
    const s = samplesOf(1_000, 3_000, 16_000); // running from 3 s, 12 s old at the 15 s scrape
    expect(s.get(14_000)).to.equal(undefined);
    expect(s.get(15_000)).to.deep.equal({ cores: 0.5, timestamp: 15_000, windowMs: 12_000 });
  });

  it('gives a pod under 10 s old at its first scrape its first sample only at the second scrape', () => {
    const s = samplesOf(6_000, 8_000, 31_000); // running from 8 s, 7 s old at the 15 s scrape
    expect(s.get(15_000)).to.equal(undefined);
    expect(s.get(29_000)).to.equal(undefined);
    const s30 = s.get(30_000)!;
    expect(s30.timestamp).to.equal(30_000);
    expect(s30.windowMs).to.equal(15_000);
    expect(s30.cores).to.be.closeTo(0.5, 1e-9);
  });

  it('never scales a function at 0 replicas (autoscaling disabled) and scales one above max down to max', () => {
    const policy = createHpaPolicy(HPA_DEFAULT);
    const s = spec({}, { min: 1, max: 3 });
    const zero = policy.decide(input(0, s, { replicas: 0 }), policy.initialState(0));
    expect(zero.actions).to.deep.equal([]);
    const over = policy.decide(input(0, s, { replicas: 5, instances: [inst('a'), inst('b'), inst('c'), inst('d'), inst('e')] }), policy.initialState(0));
    expect(over.actions).to.deep.equal([{ kind: 'scaleTo', replicas: 3 }]);
    const under = policy.decide(input(0, spec({}, { min: 2, max: 3 }), { replicas: 1, instances: [inst('a')] }), policy.initialState(0));
    expect(under.actions).to.deep.equal([{ kind: 'scaleTo', replicas: 2 }]);
  });

  it('only decides on sync ticks and does nothing in between', () => {
    const policy = createHpaPolicy(HPA_DEFAULT);
    let st = policy.initialState(0);
    const s = spec();
    const d0 = policy.decide(input(0, s, { instances: [inst('a')] }), st);
    st = d0.state;
    expect(d0.reasons).to.have.length(1);
    const d1 = policy.decide(input(5_000, s, { replicas: 1, instances: [inst('a', { cpuUsed: 0.5 })] }), st);
    expect(d1.actions).to.deep.equal([]);
    expect(d1.reasons).to.deep.equal([]);
    expect(d1.phase).to.equal('steady');
    expect(d1.state.nextSyncAt).to.equal(15_000);
  });
});
