import { expect } from 'chai';
import { estimateDemand, HYPERFAAS_DEFAULTS, planScaleUp } from '../../../src/scaling/hyperfaas.js';
import type { GuestSlotObservation, ScalingAction } from '../../../src/scaling/types.js';
import { inst, input, spec, timeline } from './fixtures.js';

const kinds = (as: ScalingAction[]): string[] => as.map((a) => a.kind);
const guest = (host: string, hostLoad: number, over: Partial<GuestSlotObservation> = {}): GuestSlotObservation => ({
  hostInstance: host,
  hostFunction: 'other.openfaas-fn',
  state: 'generic',
  inflight: 0,
  capacity: 4,
  hostLoad,
  ...over,
});
const demand = (queued: number, arrivalRate = 100) => ({ windowMs: 1000, arrivalRate, queued, bounced: 0 });

describe('hyperfaas policy: phase 1 (scale up and give back)', () => {
  it('raises the CPU limit of a hot instance at once and gives it back after 2 s of calm', () => {
    const tick = timeline();
    const s = spec();
    const d0 = tick(input(0, s, { instances: [inst('a', { cpuUsed: 0.45 })], node: { cpuCores: 2, cpuFree: 1 } }));
    expect(d0.phase).to.equal('scale-up');
    expect(d0.actions).to.deep.equal([{ kind: 'resize', instance: 'a', cpu: 1.5 }]);
    // boosted and still busy: nothing to give back
    const d1 = tick(input(1_000, s, { instances: [inst('a', { cpuUsed: 1.0, cpuLimit: 1.5 })], node: { cpuCores: 2, cpuFree: 0 } }));
    expect(d1.actions).to.deep.equal([]);
    // the burst passes: 0.3 cores would fit under 0.8 x 0.5
    const calm = { instances: [inst('a', { cpuUsed: 0.3, cpuLimit: 1.5 })], node: { cpuCores: 2, cpuFree: 0 } };
    expect(tick(input(2_000, s, calm)).actions).to.deep.equal([]);
    expect(tick(input(3_999, s, calm)).actions).to.deep.equal([]);
    const d4 = tick(input(4_000, s, calm));
    expect(d4.phase).to.equal('give-back');
    expect(d4.actions).to.deep.equal([{ kind: 'restore', instance: 'a', cpu: 0.5 }]);
  });

  it('leaves a starting instance under the backend\'s start CPU limit alone (the backend lowers it once ready)', () => {
    const tick = timeline();
    const s = spec();
    const starting = { instances: [inst('a'), inst('b', { ready: false, cpuUsed: 0.2, cpuLimit: 1 })], node: { cpuCores: 2, cpuFree: 0.5 } };
    for (let t = 0; t <= 5_000; t += 250) expect(kinds(tick(input(t, s, starting)).actions), `at ${t}`).to.not.include('restore');
    // Ready and still over its own limit (the backend did not lower it): now it is given back like a boost.
    const ready = { instances: [inst('a'), inst('b', { cpuUsed: 0.2, cpuLimit: 1 })], node: { cpuCores: 2, cpuFree: 0.5 } };
    tick(input(5_250, s, ready));
    expect(kinds(tick(input(7_250, s, ready)).actions)).to.include('restore');
  });

  it('starts the calm period again when the load comes back', () => {
    const tick = timeline();
    const s = spec();
    const at = (t: number, used: number) => tick(input(t, s, { instances: [inst('a', { cpuUsed: used, cpuLimit: 1.5 })], node: { cpuCores: 2, cpuFree: 0 } }));
    at(0, 0.3);
    at(1_500, 0.9);
    expect(at(2_500, 0.3).actions).to.deep.equal([]);
    expect(at(4_000, 0.3).actions).to.deep.equal([]);
    expect(kinds(at(4_500, 0.3).actions)).to.deep.equal(['restore']);
  });

  const clamp = [
    { name: 'shares 0.8 free cores between two hot instances (0.9 each)', free: 0.8, want: [0.9, 0.9] },
    { name: 'caps a boost at 4x the normal limit', free: 10, want: [2, 2] },
    { name: 'skips a resize below the 0.05-core step', free: 0.06, want: [] },
    { name: 'does nothing when the node has no free CPU', free: 0, want: [] },
  ];
  for (const c of clamp) {
    it(`phase 1 ${c.name}`, () => {
      const s = spec();
      const is = [inst('a', { cpuUsed: 0.45 }), inst('b', { cpuUsed: 0.42 }), inst('c', { cpuUsed: 0.1 })];
      const got = planScaleUp(s, is, c.free, undefined, HYPERFAAS_DEFAULTS).map((a) => (a.kind === 'resize' ? a.cpu : -1));
      expect(got).to.deep.equal(c.want);
    });
  }

  it('phase 1 adds memory headroom to an instance whose memory is high too', () => {
    const s = spec({ memoryLimitBytes: 128 << 20 });
    const a = planScaleUp(s, [inst('a', { cpuUsed: 0.45, memoryUsed: 120 << 20, memoryLimit: 128 << 20 })], 1, 1 << 30, HYPERFAAS_DEFAULTS);
    expect(a).to.deep.equal([{ kind: 'resize', instance: 'a', cpu: 1.5, memoryBytes: 192 << 20 }]);
  });

  it('phase 1 leaves functions without a CPU limit alone', () => {
    expect(planScaleUp(spec({ cpuLimit: 0 }), [inst('a', { cpuUsed: 3, cpuLimit: 0 })], 1, undefined, HYPERFAAS_DEFAULTS)).to.deep.equal([]);
  });
});

describe('hyperfaas policy: phases 1 -> 2 -> 3 and back (one burst, as a timeline)', () => {
  // F-io-like: capacity 4 per instance, high watermark 0.8 -> 3.2 in flight per instance.
  const s = spec({ capacity: 4 }, { max: 10 });
  const guests = [guest('g1', 0.1), guest('g2', 0.05), guest('g3', 0.5), guest('g4', 0.0, { state: 'serving', function: 'third.openfaas-fn' })];
  // Slower than the defaults so each phase gets its own tick; phase 1 for concurrency (its own tests: relief.test.ts)
  // off, so the actions of each tick are only those of phases 2 and 3.
  const tick = timeline({ multiplexAfterMs: 500, scaleOutAfterMs: 1_500, maxConcurrentStarts: 2, inflightBoost: 1 });
  const full = (id: string) => inst(id, { inflight: 4 });

  it('t=0: a burst arrives; it waits before multiplexing (phase 1 has its chance)', () => {
    const d = tick(input(0, s, { instances: [full('a')], demand: demand(6), guests }));
    expect(kinds(d.actions)).to.not.include('specialise');
    expect(kinds(d.actions)).to.not.include('scaleTo');
  });

  it('t=0.5 s: still short, it specialises the generic slots of the two least-loaded under-used hosts', () => {
    const d = tick(input(500, s, { instances: [full('a')], demand: demand(6), guests }));
    expect(d.phase).to.equal('multiplex');
    expect(d.actions).to.deep.equal([
      { kind: 'specialise', hostInstance: 'g2', function: s.key },
      { kind: 'specialise', hostInstance: 'g1', function: s.key },
    ]);
  });

  it('t=1 s: the pending specialisations count; no host is asked twice', () => {
    const d = tick(input(1_000, s, { instances: [full('a')], demand: demand(6), guests }));
    expect(kinds(d.actions)).to.deep.equal([]);
  });

  const borrowed = [guest('g1', 0.1, { state: 'serving', function: s.key, inflight: 4 }), guest('g2', 0.05, { state: 'serving', function: s.key, inflight: 4 }), guests[2]!, guests[3]!];

  it('t=1.5 s: still short of D = 14 with 3.2 + 6.4: it scales out, two cold starts at a time', () => {
    const d = tick(input(1_500, s, { instances: [full('a')], demand: demand(6), guests: borrowed }));
    expect(d.phase).to.equal('scale-out');
    // D = 4 + 8 (borrowed) + 6 queued... = 18 in flight -> ceil(18 / 3.2) = 6 own instances wanted, 1 + 2 now
    expect(d.actions).to.deep.equal([{ kind: 'scaleTo', replicas: 3 }]);
    expect(d.replicas).to.equal(3);
  });

  it('t=2 s: while two instances start, it starts no more', () => {
    const d = tick(input(2_000, s, { replicas: 3, instances: [full('a'), inst('b', { ready: false }), inst('c', { ready: false })], demand: demand(6), guests: borrowed }));
    expect(kinds(d.actions)).to.not.include('scaleTo');
  });

  it('t=2.1 s: once they are ready, it starts the next two', () => {
    const d = tick(input(2_100, s, { replicas: 3, instances: [full('a'), full('b'), full('c')], demand: demand(6), guests: borrowed }));
    expect(d.actions).to.deep.equal([{ kind: 'scaleTo', replicas: 5 }]);
  });

  const five = ['a', 'b', 'c', 'd', 'e'].map((id) => inst(id, { inflight: 2 }));
  const lent = [guest('g1', 0.1, { state: 'serving', function: s.key, inflight: 1 }), guest('g2', 0.05, { state: 'serving', function: s.key, inflight: 1 }), guests[2]!, guests[3]!];

  it('t=3 s: own capacity covers demand; borrowed slots stay for the calm period', () => {
    const d = tick(input(3_000, s, { replicas: 5, instances: five, demand: demand(0), guests: lent }));
    expect(kinds(d.actions)).to.deep.equal([]);
  });

  it('t=5 s: after 2 s of calm it releases the borrowed slots', () => {
    const d = tick(input(5_000, s, { replicas: 5, instances: five, demand: demand(0), guests: lent }));
    expect(d.phase).to.equal('give-back');
    expect(d.actions).to.deep.equal([
      { kind: 'release', hostInstance: 'g1', function: s.key },
      { kind: 'release', hostInstance: 'g2', function: s.key },
    ]);
  });

  it('t=5.5 s: a report that still shows the slots serving does not make it release them again', () => {
    const d = tick(input(5_500, s, { replicas: 5, instances: five, demand: demand(0), guests: lent }));
    expect(kinds(d.actions)).to.not.include('release');
  });

  const quiet = ['a', 'b', 'c', 'd', 'e'].map((id) => inst(id, { inflight: id === 'a' ? 1 : 0 }));

  it('t=6..32 s: demand is back to one instance, but the 30 s window still holds a recommendation of 9 (t=2.1 s)', () => {
    for (let t = 6_000; t <= 32_000; t += 1_000) {
      const d = tick(input(t, s, { replicas: 5, instances: quiet, demand: demand(0, 5), guests: guests }));
      expect(kinds(d.actions), `at ${t}`).to.not.include('scaleTo');
    }
  });

  it('t=33 s: the highest recommendation left in the window is 4 (t=5 s, D = 12 -> ceil(12 / 3.2)): it scales in to 4', () => {
    const d = tick(input(33_000, s, { replicas: 5, instances: quiet, demand: demand(0, 5), guests: guests }));
    expect(d.phase).to.equal('scale-in');
    expect(d.actions).to.deep.equal([{ kind: 'scaleTo', replicas: 4 }]);
  });

  it('t=36 s: every recommendation of the last 30 s says 1: it scales in to 1', () => {
    const d = tick(input(36_000, s, { replicas: 4, instances: quiet.slice(0, 4), demand: demand(0, 5), guests: guests }));
    expect(d.actions).to.deep.equal([{ kind: 'scaleTo', replicas: 1 }]);
  });
});

describe('hyperfaas policy: scale-out limits and sizing', () => {
  it('never asks for more than com.openfaas.scale.max', () => {
    const tick = timeline({ scaleOutAfterMs: 0, multiplexAfterMs: 0, maxConcurrentStarts: 100 });
    const s = spec({ capacity: 4 }, { max: 3 });
    const d = tick(input(0, s, { instances: [inst('a', { inflight: 4 })], demand: demand(100) }));
    expect(d.actions.filter((a) => a.kind === 'scaleTo')).to.deep.equal([{ kind: 'scaleTo', replicas: 3 }]);
  });

  it('scales a function over its max down to the max', () => {
    const tick = timeline();
    const s = spec({}, { max: 2 });
    const d = tick(input(0, s, { instances: [inst('a'), inst('b'), inst('c')] }));
    expect(d.actions).to.deep.equal([{ kind: 'scaleTo', replicas: 2 }]);
  });

  it('sizes by Little\'s law when the mean service time is known (F-io: 400 req/s x 50 ms / 3.2 -> 7)', () => {
    const s = spec({ capacity: 4 });
    const e = estimateDemand(input(0, s, { instances: [inst('a')], demand: { windowMs: 1000, arrivalRate: 400, queued: 0, bounced: 0, meanServiceMs: 50 } }), 0);
    expect(e.concurrency).to.equal(20);
    expect(e.needed).to.equal(7);
  });

  it('sizes a backlog by how fast it can drain, not by its length (8 in flight, 80 queued, 160 req/s x 50 ms -> 4)', () => {
    const s = spec({ capacity: 4 });
    const instances = [inst('a', { inflight: 4 })];
    const guests = [guest('g1', 0.1, { state: 'serving', function: s.key, inflight: 4 })];
    const e = estimateDemand(input(0, s, { instances, guests, demand: { windowMs: 1000, arrivalRate: 160, queued: 80, bounced: 0, meanServiceMs: 50 } }), 1);
    expect(e.concurrency).to.equal(88);
    // 8 sustained + 80 x 50 / 1000 = 12 -> ceil(12 / 3.2) = 4
    expect(e.sizing).to.equal(12);
    expect(e.needed).to.equal(4);
    // A longer drain target sizes for less: 8 + 80 x 50 / 4000 = 9 -> 3.
    expect(estimateDemand(input(0, s, { instances, guests, demand: { windowMs: 1000, arrivalRate: 160, queued: 80, bounced: 0, meanServiceMs: 50 } }), 1, 4000).needed).to.equal(3);
    // Without a service time it can only size for D itself.
    expect(estimateDemand(input(0, s, { instances, guests, demand: { windowMs: 1000, arrivalRate: 160, queued: 80, bounced: 0 } }), 1).needed).to.equal(28);
  });

  it('sizes a shortfall with the calm service time, not the one inflated by the burst itself', () => {
    const tick = timeline({ multiplexAfterMs: 0, scaleOutAfterMs: 0, maxConcurrentStarts: 100 });
    const s = spec({ capacity: 4 }, { max: 20 });
    const d = (rate: number, queued: number, serviceMs: number) => ({ windowMs: 1000, arrivalRate: rate, queued, bounced: 0, meanServiceMs: serviceMs });
    // Calm: 20 req/s at 50 ms, one instance, nothing to do.
    for (let t = 0; t <= 2_000; t += 250) expect(kinds(tick(input(t, s, { instances: [inst('a', { inflight: 1 })], demand: d(20, 0, 50) })).actions)).to.deep.equal([]);
    // The burst: the first tick sees the queue (the service time still reads calm) and marks the shortfall.
    tick(input(2_250, s, { instances: [inst('a', { inflight: 4 })], demand: d(100, 10, 50) }));
    // Now the window says 200 ms per request: with it, 200 req/s would need 200 x 0.2 / 3.2 -> 13 instances; with the
    // calm 50 ms it is 200 x 0.05 = 10 (+ no backlog) -> 4.
    const dec = tick(input(2_500, s, { instances: [inst('a', { inflight: 4 })], demand: d(200, 0, 200) }));
    expect(dec.actions).to.deep.equal([{ kind: 'scaleTo', replicas: 4 }]);
  });

  it('sizes an unlimited-concurrency function by the rps target (400 / (50 x 0.9) -> 9)', () => {
    const s = spec({ capacity: 0 });
    const e = estimateDemand(input(0, s, { instances: [inst('a', { capacity: 0 })], demand: { windowMs: 1000, arrivalRate: 400, queued: 0, bounced: 0 } }), 0);
    expect(e.needed).to.equal(9);
  });

  it('replaces borrowed slots with own instances when they carried load for 20 s', () => {
    const tick = timeline();
    const s = spec({ capacity: 4 });
    const busyGuest = guest('g1', 0.1, { state: 'serving', function: s.key, inflight: 3 });
    // own 3.2 + borrowed 3.2 covers D = 6 but own alone does not
    const obs = (t: number) => input(t, s, { instances: [inst('a', { inflight: 3 })], demand: demand(0), guests: [busyGuest] });
    for (let t = 0; t < 20_000; t += 1_000) expect(kinds(tick(obs(t)).actions), `at ${t}`).to.not.include('scaleTo');
    expect(tick(obs(20_000)).actions).to.deep.equal([{ kind: 'scaleTo', replicas: 2 }]);
  });

  it('uses the down.window label instead of the default scale-in window', () => {
    const tick = timeline();
    const s = spec({}, { downWindowMs: 5_000 });
    const idle = (t: number) => input(t, s, { replicas: 3, instances: [inst('a'), inst('b'), inst('c')], demand: demand(0, 1) });
    expect(kinds(tick(idle(0)).actions)).to.deep.equal([]);
    expect(kinds(tick(idle(4_000)).actions)).to.deep.equal([]);
    expect(tick(idle(5_000)).actions).to.deep.equal([{ kind: 'scaleTo', replicas: 1 }]);
  });
});

describe('hyperfaas policy: to and from zero', () => {
  it('scales to zero after zero-duration of idleness when com.openfaas.scale.zero=true', () => {
    const tick = timeline();
    const s = spec({}, { zero: true, zeroDurationMs: 60_000 });
    const idle = (t: number) => input(t, s, { instances: [inst('a')], demand: demand(0, 0) });
    tick(input(0, s, { instances: [inst('a', { inflight: 1 })], demand: demand(0, 1) }));
    expect(kinds(tick(idle(59_999)).actions)).to.deep.equal([]);
    const d = tick(idle(60_000));
    expect(d.phase).to.equal('to-zero');
    expect(d.actions).to.deep.equal([{ kind: 'scaleTo', replicas: 0 }]);
  });

  it('never scales to zero without com.openfaas.scale.zero=true', () => {
    const tick = timeline();
    const s = spec({}, { zero: false, zeroDurationMs: 1_000 });
    for (let t = 0; t <= 3_600_000; t += 60_000) {
      expect(kinds(tick(input(t, s, { instances: [inst('a')], demand: demand(0, 0) })).actions)).to.deep.equal([]);
    }
  });

  it('stays at zero without demand and leaves at the first request, borrowing a warm slot meanwhile', () => {
    const tick = timeline();
    const s = spec({}, { zero: true, min: 2 });
    const z = tick(input(0, s, { replicas: 0, demand: demand(0, 0), guests: [guest('g1', 0.1)] }));
    expect(z.phase).to.equal('zero');
    expect(z.actions).to.deep.equal([]);
    const d = tick(input(1_000, s, { replicas: 0, demand: demand(1, 1), guests: [guest('g1', 0.1)] }));
    expect(d.phase).to.equal('from-zero');
    expect(d.actions).to.deep.equal([
      { kind: 'scaleTo', replicas: 2 },
      { kind: 'specialise', hostInstance: 'g1', function: s.key },
    ]);
  });

  it('releases borrowed slots when it scales to zero', () => {
    const tick = timeline();
    const s = spec({}, { zero: true, zeroDurationMs: 10_000 });
    const g = [guest('g1', 0.1, { state: 'serving', function: s.key })];
    tick(input(0, s, { instances: [inst('a')], demand: demand(0, 1), guests: g }));
    const d = tick(input(10_000, s, { instances: [inst('a')], demand: demand(0, 0), guests: g }));
    expect(d.actions).to.deep.equal([
      { kind: 'release', hostInstance: 'g1', function: s.key },
      { kind: 'scaleTo', replicas: 0 },
    ]);
  });
});

describe('hyperfaas policy: ablations and hot instances', () => {
  const s = spec({ capacity: 4 }, { max: 10 });
  const hot = () => [inst('a', { inflight: 4, cpuUsed: 0.45 })];

  it('without phase 1 it never resizes (the "B minus phase 1" arm)', () => {
    const tick = timeline({ scaleUp: false });
    expect(kinds(tick(input(0, s, { instances: hot(), node: { cpuCores: 2, cpuFree: 1 } })).actions)).to.not.include('resize');
  });

  it('without phase 2 it never specialises and goes straight to scale-out (the "B minus phase 2" arm)', () => {
    const tick = timeline({ multiplex: false, scaleOutAfterMs: 1_500 });
    const g = [guest('g1', 0.1)];
    const acts: string[] = [];
    for (let t = 0; t <= 2_000; t += 500) acts.push(...kinds(tick(input(t, s, { instances: hot(), demand: demand(6), guests: g })).actions));
    expect(acts).to.not.include('specialise');
    expect(acts).to.include('scaleTo');
  });

  it('asks for one more instance when every instance is over its high watermark and phase 1 has nothing left', () => {
    const tick = timeline({ multiplexAfterMs: 0, scaleOutAfterMs: 0 });
    const over = [inst('a', { inflight: 1, cpuUsed: 0.5, overHigh: true }), inst('b', { inflight: 1, cpuUsed: 0.5, overHigh: true })];
    const d = tick(input(0, s, { instances: over, demand: demand(0, 10), node: { cpuCores: 2, cpuFree: 0 } }));
    expect(d.actions).to.deep.equal([{ kind: 'scaleTo', replicas: 3 }]);
  });

  it('does not scale out hot instances that phase 1 can still scale up', () => {
    const tick = timeline({ multiplexAfterMs: 0, scaleOutAfterMs: 0 });
    const over = [inst('a', { inflight: 1, cpuUsed: 0.5, overHigh: true })];
    const d = tick(input(0, s, { instances: over, demand: demand(0, 10), node: { cpuCores: 2, cpuFree: 1 } }));
    expect(kinds(d.actions)).to.deep.equal(['resize']);
  });
});
