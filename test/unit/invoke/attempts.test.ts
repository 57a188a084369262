import { expect } from 'chai';
import { Attempts, maxAttempts, type LeaseSource } from '../../../src/invoke/attempts.js';

interface FakeLease {
  instance: { id: string };
  release(): void;
}

/** source leases the first of ids not excluded, and records every exclude set and reroute. */
function source(ids: string[]): LeaseSource<FakeLease> & { excluded: string[][]; reroutes: string[] } {
  const s = {
    excluded: [] as string[][],
    reroutes: [] as string[],
    tryAcquire(_ns: string, _name: string, exclude?: ReadonlySet<string>): FakeLease | null {
      s.excluded.push([...(exclude ?? [])].sort());
      const id = ids.find((i) => !exclude?.has(i));
      return id === undefined ? null : { instance: { id }, release() {} };
    },
    rerouted(reason: 'full' | 'unreachable') {
      s.reroutes.push(reason);
    },
  };
  return s;
}

const lease = (id: string): FakeLease => ({ instance: { id }, release() {} });

describe('Attempts', () => {
  it('offers a refused request to an instance not yet tried and counts the reroute', () => {
    const src = source(['a', 'b', 'c']);
    const a = new Attempts(src, 'ns', 'fn');
    a.offered(lease('a'));
    expect(a.another('full')?.instance.id).to.equal('b');
    expect(src.excluded).to.deep.equal([['a']]);
    expect(src.reroutes).to.deep.equal(['full']);
  });

  it(`stops after ${maxAttempts} offers`, () => {
    const src = source(['a', 'b', 'c', 'd']);
    const a = new Attempts(src, 'ns', 'fn');
    let l: FakeLease | null = lease('a');
    const ids: string[] = [];
    while (l) {
      ids.push(l.instance.id);
      a.offered(l);
      l = a.another('unreachable');
    }
    expect(ids).to.deep.equal(['a', 'b', 'c']);
    expect(src.reroutes).to.have.length(maxAttempts - 1);
  });

  it('never picks an avoided instance and counts nothing when none is left', () => {
    const src = source(['a', 'b']);
    const a = new Attempts(src, 'ns', 'fn', new Set(['b']));
    a.offered(lease('a'));
    expect(a.another('full')).to.equal(null);
    expect(src.excluded).to.deep.equal([['a', 'b']]);
    expect(src.reroutes).to.deep.equal([]);
  });
});
