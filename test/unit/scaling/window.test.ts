import { expect } from 'chai';
import { TimeWindow } from '../../../src/scaling/window.js';
import { backoffDelay, mulberry32 } from '../../../src/scaling/backoff.js';

describe('TimeWindow', () => {
  it('follows the worked example of its doc comment', () => {
    const w = new TimeWindow(10_000, 1_000);
    w.record(0, 4);
    w.record(500, 6);
    w.record(9_500, 2);
    expect(w.sum(9_999)).to.equal(12);
    expect(w.count(9_999)).to.equal(3);
    expect(w.average(9_999)).to.equal(4);
    expect(w.max(9_999)).to.equal(6);
    expect(w.sum(10_000)).to.equal(2);
    expect(w.max(10_000)).to.equal(2);
  });

  it('is empty after a whole window without records', () => {
    const w = new TimeWindow(5_000, 1_000);
    w.record(1_000, 7);
    expect(w.rate(1_000)).to.equal((7 * 1000) / 5_000);
    expect(w.sum(6_000)).to.equal(0);
    expect(w.average(6_000)).to.equal(0);
    expect(w.max(6_000)).to.equal(0);
  });

  it('computes a rate per second over the window', () => {
    const w = new TimeWindow(2_000, 500);
    for (let t = 0; t < 2_000; t += 10) w.record(t, 1);
    expect(w.rate(1_999)).to.equal(100);
  });

  it('refuses a bucket larger than the window', () => {
    expect(() => new TimeWindow(1_000, 2_000)).to.throw(RangeError);
  });
});

describe('backoffDelay', () => {
  const cases = [
    { name: 'doubles without jitter', attempt: 3, jitter: 0, rng: 0.5, want: 400 },
    { name: 'caps at maxMs', attempt: 10, jitter: 0, rng: 0.5, want: 1000 },
    { name: 'takes half off with jitter 0.5 and rng 0', attempt: 3, jitter: 0.5, rng: 0, want: 200 },
    { name: 'draws the full range with full jitter', attempt: 2, jitter: 1, rng: 0.25, want: 50 },
  ];
  for (const c of cases) {
    it(c.name, () => expect(backoffDelay(c.attempt, { baseMs: 100, maxMs: 1000, jitter: c.jitter }, () => c.rng)).to.equal(c.want));
  }
  it('refuses attempt 0', () => expect(() => backoffDelay(0, { baseMs: 1, maxMs: 2 }, Math.random)).to.throw(RangeError));
  it('mulberry32 repeats for one seed and differs across seeds', () => {
    const a = mulberry32(7);
    const b = mulberry32(7);
    const c = mulberry32(8);
    const sa = [a(), a(), a()];
    expect([b(), b(), b()]).to.deep.equal(sa);
    expect([c(), c(), c()]).to.not.deep.equal(sa);
    for (const x of sa) expect(x).to.be.within(0, 1);
  });
});
