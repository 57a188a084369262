import { expect } from 'chai';
import { mulberry32 } from '../../../src/scaling/backoff.js';
import { azureMinuteMultipliers, byName, constantRate, fromInvocationTrace, fromPieces, w1Step, w2Spikes, w3AzureLike, w4Ramp, type Schedule } from '../../../bench/loadgen/workloads.js';

const countIn = (s: Schedule, from: number, to: number): number => s.sendAt.filter((t) => t >= from && t < to).length;

function wellFormed(s: Schedule): void {
  for (let i = 0; i < s.sendAt.length; i++) {
    expect(s.sendAt[i]).to.be.at.least(0);
    expect(s.sendAt[i]).to.be.below(s.durationMs);
    if (i) expect(s.sendAt[i]).to.be.at.least(s.sendAt[i - 1]!);
  }
}

describe('workloads: schedules', () => {
  it('uniform 40 req/s for 1 s sends exactly 40, half a gap from the start', () => {
    const s = constantRate(40, 1000, { process: 'uniform' });
    expect(s.sendAt.length).to.equal(40);
    expect(s.sendAt[0]).to.be.closeTo(12.5, 1e-6);
    expect(s.sendAt[39]).to.be.closeTo(987.5, 1e-6);
    wellFormed(s);
  });

  it('W1 uniform has 40 x 60 + 400 x 180 + 40 x 360 requests in its three segments', () => {
    const s = w1Step({ process: 'uniform' });
    expect(s.durationMs).to.equal(600_000);
    expect(countIn(s, 0, 60_000)).to.equal(2_400);
    expect(countIn(s, 60_000, 240_000)).to.equal(72_000);
    expect(countIn(s, 240_000, 600_000)).to.equal(14_400);
    expect(s.onsets).to.deep.equal([60_000]);
    wellFormed(s);
  });

  it('W1 compressed by 10 keeps the rates and divides durations and counts by 10', () => {
    const s = w1Step({ process: 'uniform', compress: 10 });
    expect(s.durationMs).to.equal(60_000);
    expect(countIn(s, 0, 6_000)).to.equal(240);
    expect(countIn(s, 6_000, 24_000)).to.equal(7_200);
    expect(s.rateAt(10_000)).to.equal(400);
    expect(s.onsets).to.deep.equal([6_000]);
  });

  it('W1 poisson is close to the nominal counts and repeats exactly for one seed', () => {
    const a = w1Step({ seed: 7, compress: 10 });
    const b = w1Step({ seed: 7, compress: 10 });
    const c = w1Step({ seed: 8, compress: 10 });
    expect(Array.from(a.sendAt)).to.deep.equal(Array.from(b.sendAt));
    expect(Array.from(a.sendAt)).to.not.deep.equal(Array.from(c.sendAt));
    expect(countIn(a, 6_000, 24_000)).to.be.within(7_200 * 0.95, 7_200 * 1.05);
    expect(countIn(a, 0, 6_000)).to.be.within(240 * 0.8, 240 * 1.2);
    wellFormed(a);
  });

  it('W2 has ten 5 s spikes at 15x the base, one per minute', () => {
    const s = w2Spikes({ process: 'uniform' });
    expect(s.durationMs).to.equal(600_000);
    expect(s.onsets).to.have.length(10);
    expect(s.onsets[0]).to.equal(30_000);
    expect(s.onsets[9]).to.equal(570_000);
    for (const o of s.onsets) expect(countIn(s, o, o + 5_000)).to.be.within(2_999, 3_001);
    expect(countIn(s, 0, 30_000)).to.equal(1_200);
    expect(s.rateAt(31_000)).to.equal(600);
    wellFormed(s);
  });

  it('W4 ramps 0 -> 400 req/s over 120 s: 24 000 requests, ever denser', () => {
    const s = w4Ramp({ process: 'uniform' });
    expect(s.sendAt.length).to.be.within(23_999, 24_000);
    expect(countIn(s, 0, 12_000)).to.be.below(countIn(s, 108_000, 120_000));
    expect(countIn(s, 108_000, 120_000)).to.be.within(4_550, 4_570); // 12 s x mean(360, 400)
    wellFormed(s);
  });

  it('W3 minute multipliers are heavy-tailed: about one in ten a 5-50x burst, the rest near base', () => {
    const m = azureMinuteMultipliers({ minutes: 2_000 }, mulberry32(3));
    const bursts = m.filter((x) => x >= 5);
    expect(bursts.length / m.length).to.be.within(0.07, 0.13);
    expect(Math.max(...m)).to.be.at.most(50);
    expect(bursts.some((x) => x >= 20)).to.equal(true);
    for (const x of m.filter((v) => v < 5)) expect(x).to.be.within(0.75, 1.25);
  });

  it('W3 is seeded, bursty inside minutes (MMPP) and near its expected volume', () => {
    const a = w3AzureLike({ seed: 5, minutes: 30, process: 'uniform' });
    const b = w3AzureLike({ seed: 5, minutes: 30, process: 'uniform' });
    expect(Array.from(a.sendAt)).to.deep.equal(Array.from(b.sendAt));
    expect(a.durationMs).to.be.closeTo(30 * 60_000, 1);
    wellFormed(a);
    const mult = azureMinuteMultipliers({ minutes: 30 }, mulberry32(5 ^ 0x5eed));
    const expected = mult.reduce((x, y) => x + y, 0) * 20 * 60;
    expect(a.sendAt.length).to.be.within(expected * 0.5, expected * 1.5);
    // ON periods run at 10x OFF: per-second counts within near-base minutes vary widely
    const perSec = new Map<number, number>();
    for (const t of a.sendAt) perSec.set(Math.floor(t / 1000), (perSec.get(Math.floor(t / 1000)) ?? 0) + 1);
    const quiet: number[] = [];
    for (let m = 0; m < 30; m++) if (mult[m]! < 5) for (let s = m * 60; s < m * 60 + 60; s++) quiet.push(perSec.get(s) ?? 0);
    expect(Math.max(...quiet)).to.be.at.least(5 * Math.max(1, Math.min(...quiet)));
  });

  it('refuses a compression factor below 1', () => {
    expect(() => w1Step({ compress: 0.5 })).to.throw(RangeError);
  });

  it('builds each named workload', () => {
    for (const n of ['w1', 'w2', 'w3', 'w4', 'constant'] as const) {
      const s = byName(n, { compress: 60, seed: 2 });
      expect(s.sendAt.length, n).to.be.greaterThan(0);
      wellFormed(s);
    }
  });

  it('thins a Poisson process to follow a linear ramp', () => {
    const t = fromPieces([{ startMs: 0, endMs: 100_000, fromRate: 0, toRate: 100 }], 'poisson', mulberry32(1));
    const first = t.filter((x) => x < 50_000).length;
    const second = t.length - first;
    expect(t.length).to.be.within(4_750, 5_250);
    expect(second / first).to.be.within(2.6, 3.4); // 3750 / 1250
  });

  it('replays an invocation trace: arrival = end - duration, filtered, from 0', () => {
    const csv = 'app,func,end_timestamp,duration\na,f,10.5,0.5\na,g,11.0,0.2\nb,f,12.0,1.0\na,f,10.2,0.1\n';
    const s = fromInvocationTrace(csv, { app: 'a', func: 'f' });
    expect(s.sendAt.length).to.equal(2); // arrivals 10.0 and 10.1
    expect(s.sendAt[0]).to.equal(0);
    expect(s.sendAt[1]).to.be.closeTo(100, 1e-6);
    const all = fromInvocationTrace(csv, { compress: 2 });
    expect(all.sendAt.length).to.equal(4);
    expect(all.sendAt[3]).to.be.closeTo((11.0 - 10.0) * 1000 / 2, 1e-6);
    expect(() => fromInvocationTrace('x,y\n1,2\n')).to.throw(/missing column/);
  });
});
