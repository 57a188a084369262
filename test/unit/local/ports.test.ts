import { expect } from 'chai';
import { allocatePorts, canBind, PortAllocator } from '../../../src/backends/local/ports.js';
import { createServer } from 'node:net';
import { freePort } from '../../support/ports.js';

describe('local backend ports', () => {
  it('hands out ports round-robin and never the same one twice while held', () => {
    const a = new PortAllocator(40000, 40002);
    expect([a.take(), a.take(), a.take()]).to.deep.equal([40000, 40001, 40002]);
    expect(a.take()).to.equal(undefined);
    a.release(40001);
    expect(a.take()).to.equal(40001);
  });

  it('reuses a released port only after the others', () => {
    const a = new PortAllocator(40000, 40003);
    const p = a.take()!;
    a.release(p);
    expect(a.take()).to.equal(40001);
  });

  it('starts the round-robin where it is told and wraps around', () => {
    const a = new PortAllocator(40000, 40003, 40002);
    expect([a.take(), a.take(), a.take(), a.take(), a.take()]).to.deep.equal([40002, 40003, 40000, 40001, undefined]);
  });

  it('skips ports the caller refuses', () => {
    const a = new PortAllocator(40000, 40003);
    expect(a.take((p) => p < 40002)).to.equal(40002);
  });

  it('rejects an inverted range', () => {
    expect(() => new PortAllocator(5000, 4000)).to.throw(RangeError);
  });

  it('allocates only ports that pass the probe', async () => {
    const a = new PortAllocator(40000, 40009);
    const got = await allocatePorts(a, 3, async (p) => p % 2 === 1);
    expect(got).to.deep.equal([40001, 40003, 40005]);
    expect(a.inUse).to.equal(3);
  });

  it('releases what it took when the range runs out', async () => {
    const a = new PortAllocator(40000, 40003);
    let err: unknown;
    await allocatePorts(a, 3, async (p) => p < 40002).catch((e) => (err = e));
    expect(String(err)).to.contain('no free port');
    expect(a.inUse).to.equal(0);
  });

  it('probes a real port: free, then taken by a listener', async () => {
    const port = await freePort();
    expect(await canBind(port)).to.equal(true);
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', () => r()));
    try {
      expect(await canBind(port)).to.equal(false);
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });
});
