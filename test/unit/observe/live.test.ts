import { expect } from 'chai';
import { BUCKET_BOUNDS, LiveSeries, percentileMs } from '../../../src/observe/live.js';

describe('observe/live: one-second bins per function', () => {
  const T0 = 1_700_000_000_000; // a whole second

  it('reads percentiles from histogram counts, interpolating inside the bucket', () => {
    const counts = new Array<number>(BUCKET_BOUNDS.length + 1).fill(0);
    expect(percentileMs(counts, 0.5)).to.equal(null);
    counts[BUCKET_BOUNDS.indexOf(0.05)] = 100; // 100 requests in (35 ms, 50 ms]
    expect(percentileMs(counts, 0.5)).to.be.closeTo(42.5, 1e-9);
    expect(percentileMs(counts, 0.99)).to.be.closeTo(49.85, 1e-9);
    counts[BUCKET_BOUNDS.length] = 1; // one over the last bound reads as that bound
    expect(percentileMs(counts, 1)).to.equal(60_000);
  });

  it('puts each request in its second and leaves the current second out', () => {
    const s = new LiveSeries(10);
    for (let i = 0; i < 5; i++) s.request('a.ns', T0 + 100, 200, 0.004);
    s.request('a.ns', T0 + 900, 500, 0.2);
    s.request('a.ns', T0 + 1500, 200, 0.004);
    s.bounce('a.ns', T0 + 1200);
    s.boost('a.ns', T0 + 1300);
    const pts = s.points('a.ns', T0 + 2100, 3);
    expect(pts.map((p) => p.t)).to.deep.equal([T0 / 1000 - 1, T0 / 1000, T0 / 1000 + 1]);
    expect(pts[0]).to.deep.include({ rps: 0, p50: null, bounces: 0 });
    expect(pts[1]).to.deep.include({ rps: 6, errors: 1, bounces: 0, boosts: 0 });
    expect(pts[1]!.p50).to.be.within(2, 5);
    expect(pts[1]!.p99).to.be.within(150, 250);
    expect(pts[2]).to.deep.include({ rps: 1, errors: 0, bounces: 1, boosts: 1 });
    // The second still filling (T0+2s) is not shown.
    s.request('a.ns', T0 + 2050, 200, 0.004);
    expect(s.points('a.ns', T0 + 2100, 1)[0]!.rps).to.equal(1);
  });

  it('forgets bins older than the window instead of adding to them', () => {
    const s = new LiveSeries(10);
    s.request('a.ns', T0, 200, 0.01);
    // Ten seconds later the same ring slot is reused for a new second.
    s.request('a.ns', T0 + 10_000, 200, 0.01);
    const pts = s.points('a.ns', T0 + 11_000, 9);
    expect(pts.reduce((a, p) => a + p.rps, 0)).to.equal(1);
    expect(pts[pts.length - 1]).to.deep.include({ t: T0 / 1000 + 10, rps: 1 });
  });

  it('summarises the last minute: mean req/s over the window and percentiles over all its requests', () => {
    const s = new LiveSeries(300);
    for (let sec = 0; sec < 30; sec++) for (let i = 0; i < 4; i++) s.request('b.ns', T0 + sec * 1000, sec < 29 ? 200 : 503, 0.01);
    s.bounce('b.ns', T0 + 5000);
    const sum = s.summary('b.ns', T0 + 60_000, 60);
    expect(sum.rps).to.equal(2); // 120 requests over 60 s
    expect(sum.errors).to.equal(4);
    expect(sum.bounces).to.equal(1);
    expect(sum.p50).to.be.within(5, 10);
    expect(s.summary('other.ns', T0, 60)).to.deep.equal({ rps: 0, p50: null, p99: null, errors: 0, bounces: 0, boosts: 0 });
  });
});
