import { expect } from 'chai';
import { DemandTracker } from '../../../src/gs/demand.js';

describe('DemandTracker', () => {
  it('reports the arrival rate over its window and forgets arrivals that left it', () => {
    const d = new DemandTracker(2_000, 250);
    for (let t = 0; t < 1_000; t += 10) d.arrival('f.ns', t);
    expect(d.figures('f.ns', 1_000).arrivalRate).to.equal(50);
    expect(d.figures('f.ns', 4_000).arrivalRate).to.equal(0);
  });

  it('keeps functions apart and answers zeros for one it never saw', () => {
    const d = new DemandTracker();
    d.arrival('a.ns', 0);
    expect(d.figures('b.ns', 0)).to.deep.equal({ windowMs: 2_000, arrivalRate: 0, bounced: 0, waiting: 0 });
  });

  it('averages service time and counts bounces and waiters', () => {
    const d = new DemandTracker();
    d.served('f.ns', 100, 40);
    d.served('f.ns', 200, 60);
    d.bounce('f.ns', 150);
    d.waitStart('f.ns');
    d.waitStart('f.ns');
    d.waitEnd('f.ns');
    const f = d.figures('f.ns', 300);
    expect(f.meanServiceMs).to.equal(50);
    expect(f.bounced).to.equal(1);
    expect(f.waiting).to.equal(1);
  });

  it('never lets the waiter count go below zero', () => {
    const d = new DemandTracker();
    d.waitEnd('f.ns');
    expect(d.figures('f.ns', 0).waiting).to.equal(0);
  });
});
