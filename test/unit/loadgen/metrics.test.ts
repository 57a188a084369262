import { expect } from 'chai';
import {
  binRecords,
  countHeader,
  failures,
  quantile,
  slidingQuantile,
  sloViolation,
  summarise,
  timeToFirstRelief,
  timeToRecover,
  type Bin,
  type RequestRecord,
  type SeriesPoint,
} from '../../../bench/loadgen/metrics.js';

const rec = (i: number, scheduledMs: number, latency: number, status = 200, extra: Partial<RequestRecord> = {}): RequestRecord => ({
  i,
  scheduledMs,
  startMs: scheduledMs + 1,
  endMs: scheduledMs + latency,
  status,
  ...extra,
});
const bin = (t: number, p99: number): Bin => ({ t, count: 1, ok: 1, byStatus: { '200': 1 }, p50: p99, p99, max: p99 });
const pts = (values: number[], from = 1000): SeriesPoint[] => values.map((v, k) => ({ t: from + k * 1000, v }));

describe('loadgen metrics', () => {
  const q = [
    { name: 'p50 of 1..10 is 5 (nearest rank)', data: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], q: 0.5, want: 5 },
    { name: 'p99 of 1..100 is 99', data: Array.from({ length: 100 }, (_, i) => i + 1), q: 0.99, want: 99 },
    { name: 'p99 of 10 values is the max', data: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], q: 0.99, want: 10 },
    { name: 'p0 is the min', data: [3, 4], q: 0, want: 3 },
  ];
  for (const c of q) it(c.name, () => expect(quantile(c.data, c.q)).to.equal(c.want));
  it('quantile of nothing is NaN', () => expect(quantile([], 0.5)).to.be.NaN);

  it('bins by scheduled time, keeps empty bins and counts outcomes by status and error', () => {
    const r = [rec(0, 100, 10), rec(1, 900, 30, 429), rec(2, 2500, 5000, 0, { error: 'TIMEOUT' })];
    const b = binRecords(r, 1000, 4000);
    expect(b).to.have.length(4);
    expect(b[0]).to.include({ t: 0, count: 2, ok: 1, p50: 10, p99: 30, max: 30 });
    expect(b[0]!.byStatus).to.deep.equal({ '200': 1, '429': 1 });
    expect(b[1]!.count).to.equal(0);
    expect(b[1]!.p99).to.be.NaN;
    expect(b[2]!.byStatus).to.deep.equal({ TIMEOUT: 1 });
    expect(b[2]!.p99).to.equal(5000);
  });

  it('measures latency from the scheduled time, not the actual send', () => {
    const r = [{ i: 0, scheduledMs: 0, startMs: 400, endMs: 450, status: 200 }];
    expect(binRecords(r, 1000)[0]!.p50).to.equal(450);
  });

  it('computes the sliding p99 over [t - 5 s, t)', () => {
    const r = [rec(0, 500, 10), rec(1, 5500, 100), rec(2, 9000, 20)];
    const s = slidingQuantile(r, 0.99, 5000, 1000, 11_000);
    const at = (t: number) => s.find((p) => p.t === t)!.v;
    expect(at(1000)).to.equal(10);
    expect(at(5000)).to.equal(10);
    expect(at(6000)).to.equal(100); // [1 s, 6 s): only the 5.5 s request
    expect(at(10_000)).to.equal(100);
    expect(at(11_000)).to.equal(20);
    expect(slidingQuantile([rec(0, 0, 1)], 0.99, 1000, 1000, 3000).map((p) => p.v)[2]).to.be.NaN;
  });

  const relief = [
    { name: 'follows the doc example: felt at bin 1, relief at bin 3', p99: [50, 400, 900, 150, 80], want: 3000 },
    { name: 'is 0 when the burst is never felt', p99: [50, 60, 70], want: 0 },
    { name: 'is null when relief never comes', p99: [50, 400, 900], want: null },
  ];
  for (const c of relief) {
    it(`time to first relief ${c.name}`, () => {
      const bins = c.p99.map((v, k) => bin(10_000 + k * 1000, v));
      expect(timeToFirstRelief(bins, 10_000, 100)).to.equal(c.want);
    });
  }

  it('time to first relief of an absorbed burst is 0, not the delay of the next burst', () => {
    // Two bursts at 10 s and 15 s: the first is never felt; the second is felt at 16 s and relieved at 17 s.
    const bins = [50, 60, 50, 60, 50, 50, 900, 80, 60].map((v, k) => bin(10_000 + k * 1000, v));
    expect(timeToFirstRelief(bins, 10_000, 100, 15_000)).to.equal(0);
    expect(timeToFirstRelief(bins, 15_000, 100)).to.equal(2000);
    expect(timeToFirstRelief(bins, 10_000, 100), 'unbounded, it would read the second burst').to.equal(7000);
  });

  const ttr = [
    { name: 'follows the doc example (4 s)', v: [80, 300, 120, 90, ...Array(12).fill(90)], want: 4000 },
    { name: 'is 0 when the p99 never exceeded the SLO', v: Array(15).fill(50), want: 0 },
    { name: 'restarts the calm stretch after a relapse', v: [300, 90, 90, 300, ...Array(11).fill(90)], want: 5000 },
    { name: 'is null when the calm stretch is shorter than 10 s at the end', v: [300, ...Array(5).fill(90)], want: null },
  ];
  for (const c of ttr) {
    it(`time to recover ${c.name}`, () => expect(timeToRecover(pts(c.v, 1000), 0, 100)).to.equal(c.want));
  }

  it('time to recover ignores points before the onset and empty windows', () => {
    const s = [...pts([500, 500], 1000), { t: 3000, v: NaN }, ...pts(Array(12).fill(50), 4000)];
    expect(timeToRecover(s, 2500, 100)).to.equal(0);
  });

  it('SLO violation follows the doc example: p99 50, 250, 150 vs 100 -> 2 s, 200 ms·s', () => {
    expect(sloViolation([bin(0, 50), bin(1000, 250), bin(2000, 150)], 100)).to.deep.equal({ seconds: 2, areaMsS: 200 });
  });

  it('counts failures by code and the success ratio', () => {
    const r = [rec(0, 0, 1), rec(1, 0, 1, 429), rec(2, 0, 1, 429), rec(3, 0, 1, 0, { error: 'ECONNREFUSED' }), rec(4, 0, 1, 204)];
    expect(failures(r)).to.deep.equal({ total: 5, ok: 2, failed: 3, successRatio: 0.4, byCode: { '429': 2, ECONNREFUSED: 1 } });
    expect(failures([]).successRatio).to.equal(1);
  });

  it('counts header values', () => {
    const r = [rec(0, 0, 1, 200, { headers: { 'x-hyperfaas-route': 'direct' } }), rec(1, 0, 1, 200, { headers: { 'x-hyperfaas-route': 'bounced' } }), rec(2, 0, 1, 200, { headers: { 'x-hyperfaas-route': 'direct' } }), rec(3, 0, 1)];
    expect(countHeader(r, 'x-hyperfaas-route')).to.deep.equal({ direct: 2, bounced: 1 });
  });

  it('summarises a run with a burst', () => {
    const r: RequestRecord[] = [];
    let i = 0;
    for (let t = 0; t < 30_000; t += 10) {
      const lat = t >= 10_000 && t < 13_000 ? 500 : 20;
      r.push(rec(i++, t, lat));
    }
    const s = summarise(r, 100, [10_000], 30_000);
    expect(s.requests).to.equal(3000);
    expect(s.peakP99).to.equal(500);
    expect(s.slo.seconds).to.equal(3);
    expect(s.firstReliefMs).to.deep.equal([3000]);
    // the first 5 s window wholly under the SLO starts at 13 s, when the slow stretch ends (its trailing end is 18 s)
    expect(s.recoverMs).to.deep.equal([3000]);
    expect(s.failures.failed).to.equal(0);
  });
});
