import { expect } from 'chai';
import { createHpaPolicy, HPA_DEFAULT, HPA_DEFAULT_BEHAVIOR, HPA_TUNED } from '../../../src/scaling/hpa.js';
import { createHyperfaasPolicy } from '../../../src/scaling/hyperfaas.js';
import { simulate, type SimResult } from '../../../src/scaling/simulate.js';
import type { ScalingPolicy } from '../../../src/scaling/types.js';
import { recoverAfter, spec } from './fixtures.js';

// F-io : 50 ms per request, max_inflight 4 -> 80 req/s per replica; 1 ms CPU per request, so the
// CPU request 0.08 cores is 100 % at full capacity. W1: 40 -> 400 req/s at 60 s for 180 s, then 40 again.
const fio = (policy: 'hyperfaas' | 'hpa') =>
  spec({ capacity: 4, cpuRequest: 0.08, cpuLimit: 0.08 }, { min: 1, max: 10, target: 50, policy });
const w1 = (t: number): number => (t >= 60_000 && t < 240_000 ? 400 : 40);

const containerSeconds = (r: SimResult, tick = 250): number => r.points.reduce((a, p) => a + (p.replicas * tick) / 1000, 0);
const run = (p: ScalingPolicy<any>, kind: 'hyperfaas' | 'hpa', guests = 0) => simulate(p, { spec: fio(kind), rate: w1, untilMs: 600_000, guests });

describe('simulate: the model A/B on W1 (F-io, 10x step)', () => {
  const slo = 120;
  const hyper = run(createHyperfaasPolicy(), 'hyperfaas', 2);
  const hpa = run(createHpaPolicy(HPA_DEFAULT), 'hpa');
  const hpaB = run(createHpaPolicy(HPA_DEFAULT_BEHAVIOR), 'hpa');
  const tuned = run(createHpaPolicy(HPA_TUNED, 'hpa-tuned'), 'hpa');

  it('is steady at the base load: one replica, no queue', () => {
    for (const r of [hyper, hpa]) {
      const before = r.points.filter((p) => p.t > 5_000 && p.t < 60_000);
      expect(before.every((p) => p.replicas === 1 && p.queue < 1)).to.equal(true);
    }
  });

  it('predicts HyperFaaS recovers within 2 s and HPA-default only after tens of seconds', () => {
    const h = recoverAfter(hyper, 60_000, slo);
    const d = recoverAfter(hpa, 60_000, slo);
    const b = recoverAfter(hpaB, 60_000, slo);
    const t = recoverAfter(tuned, 60_000, slo);
    expect(h).to.not.equal(null);
    expect(h!).to.be.at.most(2_000);
    expect(d!).to.be.at.least(30_000);
    expect(b!).to.be.at.least(30_000);
    expect(t!).to.be.within(h!, d!);
  });

  it('uses phases 1 -> 2 -> 3 and back under HyperFaaS: borrows slots at once, releases them once its own instances serve', () => {
    const borrowedDuring = hyper.points.filter((p) => p.t >= 60_000 && p.t < 62_000).some((p) => p.borrowed > 0);
    expect(borrowedDuring).to.equal(true);
    const peak = Math.max(...hyper.points.map((p) => p.replicas));
    expect(peak).to.be.within(6, 10);
    expect(hyper.points.filter((p) => p.t > 70_000 && p.t < 240_000).every((p) => p.borrowed === 0)).to.equal(true);
  });

  it('holds the HPA peak for the 300 s stabilisation but lets HyperFaaS scale in after its 30 s window', () => {
    const at = (r: SimResult, t: number) => r.points.find((p) => p.t === t)!.replicas;
    expect(at(hpa, 500_000)).to.be.greaterThan(1);
    expect(at(hyper, 300_000)).to.equal(1);
    expect(containerSeconds(hyper)).to.be.below(containerSeconds(hpa));
  });
});
