import { expect } from 'chai';
import { admit, WaitQueue, type AdmissionInput } from '../src/ics/admission.js';

const base: AdmissionInput = { queueing: true, serving: true, full: false, watermark: 'normal', bounces: 0, maxBounces: 2, canBounce: true, queueLength: 0, maxQueue: 100 };

describe('ICS admission', () => {
  const cases: { name: string; in: Partial<AdmissionInput>; want: string }[] = [
    { name: 'runs a request when its slot has room and the container is below its high watermark', in: {}, want: 'run' },
    { name: 'runs at the low watermark too', in: { watermark: 'low' }, want: 'run' },
    { name: 'bounces when the slot is full', in: { full: true }, want: 'bounce' },
    { name: 'bounces when the container is over its high watermark even with a free slot', in: { watermark: 'high' }, want: 'bounce' },
    { name: 'queues once the request has been bounced maxBounces times', in: { full: true, bounces: 2 }, want: 'queue' },
    { name: 'queues when NATS is down or the body does not fit', in: { full: true, canBounce: false }, want: 'queue' },
    { name: 'rejects only when the queue is full as well', in: { full: true, canBounce: false, queueLength: 100 }, want: 'reject' },
    { name: 'bounces rather than reject when the queue is full but a bounce is allowed', in: { full: true, queueLength: 100 }, want: 'bounce' },
    { name: 'does not pass requests already waiting for the slot', in: { queueLength: 1 }, want: 'bounce' },
    { name: 'waits behind them when it cannot bounce', in: { queueLength: 1, canBounce: false }, want: 'queue' },
    { name: 'runs over the high watermark when it can no longer bounce', in: { watermark: 'high', bounces: 2 }, want: 'run' },
    { name: 'asks whether it can bounce only when a bounce is considered', in: { canBounce: () => expect.fail('asked') }, want: 'run' },
    { name: 'answers 429 when full without queueing (of-watchdog)', in: { queueing: false, full: true }, want: 'reject' },
    { name: 'runs without queueing when the slot has room', in: { queueing: false, watermark: 'high' }, want: 'run' },
    { name: 'answers 503 for a slot that does not serve', in: { serving: false }, want: 'unavailable' },
    { name: 'answers 429 for a full slot that does not serve', in: { serving: false, full: true }, want: 'reject' },
  ];
  for (const c of cases) it(c.name, () => expect(admit({ ...base, ...c.in })).to.equal(c.want));
});

describe('WaitQueue', () => {
  it('wakes waiters oldest first', async () => {
    const q = new WaitQueue();
    const order: number[] = [];
    const a = q.wait(5_000).then((ok) => ok && order.push(1));
    const b = q.wait(5_000).then((ok) => ok && order.push(2));
    expect(q.length).to.equal(2);
    expect(q.wake()).to.equal(true);
    expect(q.wake()).to.equal(true);
    await Promise.all([a, b]);
    expect(order).to.deep.equal([1, 2]);
    expect(q.wake()).to.equal(false);
  });

  it('gives up after its timeout and leaves the queue', async () => {
    const q = new WaitQueue();
    expect(await q.wait(10)).to.equal(false);
    expect(q.length).to.equal(0);
  });

  it('gives up when the caller goes away', async () => {
    const q = new WaitQueue();
    const ac = new AbortController();
    const p = q.wait(5_000, ac.signal);
    ac.abort();
    expect(await p).to.equal(false);
    expect(q.length).to.equal(0);
  });
});
