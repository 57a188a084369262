import { expect } from 'chai';
import { admit, WaitQueue, type AdmissionInput } from '../src/ics/admission.js';

const base: AdmissionInput = { slotFree: true, watermark: 'normal', bounces: 0, maxBounces: 2, canBounce: true, queueLength: 0, maxQueue: 100 };

describe('ICS admission', () => {
  const cases: { name: string; in: Partial<AdmissionInput>; want: string }[] = [
    { name: 'runs a request when its slot has room and the container is below its high watermark', in: {}, want: 'run' },
    { name: 'runs at the low watermark too', in: { watermark: 'low' }, want: 'run' },
    { name: 'bounces when the slot is full', in: { slotFree: false }, want: 'bounce' },
    { name: 'bounces when the container is over its high watermark even with a free slot', in: { watermark: 'high' }, want: 'bounce' },
    { name: 'queues once the request has been bounced maxBounces times', in: { slotFree: false, bounces: 2 }, want: 'queue' },
    { name: 'queues when NATS is down or the body does not fit', in: { slotFree: false, canBounce: false }, want: 'queue' },
    { name: 'rejects only when the queue is full as well', in: { slotFree: false, canBounce: false, queueLength: 100 }, want: 'reject' },
    { name: 'bounces rather than reject when the queue is full but a bounce is allowed', in: { slotFree: false, queueLength: 100 }, want: 'bounce' },
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
