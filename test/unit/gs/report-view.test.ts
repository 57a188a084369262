import { expect } from 'chai';
import { ReportView } from '../../../src/gs/report-view.js';
import type { LoadReport } from '@hyperfaas/watchdog/protocol';

function report(over: Partial<LoadReport> = {}): LoadReport {
  return {
    instance: 'i-1',
    function: 'echo',
    namespace: 'openfaas-fn',
    url: 'http://127.0.0.1:31000',
    seq: 1,
    at: 0,
    slots: [{ kind: 'home', state: 'serving', function: 'echo.openfaas-fn', inflight: 0, capacity: 4 }],
    cpu: { used: 0.1, limit: 1 },
    memory: { used: 1, limit: 0 },
    watermark: 'normal',
    draining: false,
    ...over,
  };
}

const known = (id: string) => id.startsWith('i-');

describe('ReportView', () => {
  const cases: { name: string; steps: { r: Partial<LoadReport>; now: number }[]; want: string }[] = [
    { name: 'accepts the first report of a known instance', steps: [{ r: {}, now: 0 }], want: 'accepted' },
    { name: 'ignores a report from an unknown instance', steps: [{ r: { instance: 'x-9' }, now: 0 }], want: 'unknown-instance' },
    { name: 'ignores a report sent longer ago than staleMs', steps: [{ r: { at: 0 }, now: 3_001 }], want: 'stale' },
    {
      name: 'ignores a report older than the one it holds',
      steps: [
        { r: { seq: 5, at: 100 }, now: 100 },
        { r: { seq: 4, at: 90 }, now: 110 },
      ],
      want: 'out-of-order',
    },
    {
      name: 'accepts a restarted sender whose seq went back but whose clock moved on',
      steps: [
        { r: { seq: 5, at: 100 }, now: 100 },
        { r: { seq: 1, at: 200 }, now: 200 },
      ],
      want: 'accepted',
    },
    {
      name: 'says when the watermark state changed',
      steps: [
        { r: { seq: 1, at: 0 }, now: 0 },
        { r: { seq: 2, at: 10, watermark: 'high' }, now: 10 },
      ],
      want: 'watermark-changed',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const v = new ReportView(3_000);
      let last = '';
      for (const s of c.steps) last = v.apply(report(s.r), s.now, known);
      expect(last).to.equal(c.want);
    });
  }

  it('evicts instances that stop reporting and no longer returns them', () => {
    const v = new ReportView(1_000);
    v.apply(report({ instance: 'i-1', at: 0 }), 0, known);
    v.apply(report({ instance: 'i-2', at: 900 }), 900, known);
    expect(v.get('i-1', 500)).to.not.equal(undefined);
    expect(v.get('i-1', 1_001)).to.equal(undefined);
    expect(v.evict(1_500)).to.deep.equal(['i-1']);
    expect(v.size).to.equal(1);
    expect(v.all(1_500).map((r) => r.instance)).to.deep.equal(['i-2']);
  });

  it('reports overHigh only from a fresh high-watermark report', () => {
    const v = new ReportView(1_000);
    v.apply(report({ watermark: 'high', at: 0 }), 0, known);
    expect(v.overHigh('i-1', 10)).to.equal(true);
    expect(v.overHigh('i-1', 2_000)).to.equal(false);
    v.forget('i-1');
    expect(v.overHigh('i-1', 10)).to.equal(false);
  });
});
