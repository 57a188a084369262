import { expect } from 'chai';
import { parseCpu, parseMemory, parseQuantity } from '../../../src/api/quantity.js';

describe('quantity', () => {
  const cpu: [string, number][] = [
    ['100m', 0.1],
    ['0.5', 0.5],
    ['2', 2],
    ['1500m', 1.5],
    ['2e-1', 0.2],
  ];
  for (const [q, want] of cpu) {
    it(`parses cpu "${q}" as ${want} cores`, () => {
      expect(parseCpu(q)).to.be.closeTo(want, 1e-9);
    });
  }

  const memory: [string, number][] = [
    ['128Mi', 128 * 2 ** 20],
    ['5Mi', 5 * 2 ** 20],
    ['1G', 1e9],
    ['1Gi', 2 ** 30],
    ['1048576', 1048576],
    ['64k', 64_000],
    ['1.5Ki', 1536],
    ['1e6', 1e6],
  ];
  for (const [q, want] of memory) {
    it(`parses memory "${q}" as ${want} bytes`, () => {
      expect(parseMemory(q)).to.equal(want);
    });
  }

  it('rounds fractional bytes up', () => {
    expect(parseMemory('100m')).to.equal(1);
  });

  const bad = ['', 'abc', '12MB', '-1', '1..2', 'Mi', '1 Gi', '1e', '1e3m'];
  for (const q of bad) {
    it(`rejects "${q}" with a message naming it`, () => {
      expect(() => parseQuantity(q)).to.throw(RangeError, 'is not a quantity');
    });
  }
});
