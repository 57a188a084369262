import { expect } from 'chai';
import { ConfigError, parseCpu, parseDurationMs, parseMemory, parseQuantity, positiveQuantity } from '../../src/units.js';

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

describe('positiveQuantity', () => {
  const cases: { name: string; got: number | undefined; want: number | undefined }[] = [
    { name: 'reads 128Mi as 128 MiB', got: positiveQuantity(parseMemory, '128Mi'), want: 134_217_728 },
    { name: 'refuses a memory quantity with an unknown unit', got: positiveQuantity(parseMemory, '12Qi'), want: undefined },
    { name: 'reads 1.5 as one and a half cores', got: positiveQuantity(parseCpu, '1.5'), want: 1.5 },
    { name: 'refuses a zero cpu quantity', got: positiveQuantity(parseCpu, '0'), want: undefined },
  ];
  for (const c of cases) it(c.name, () => expect(c.got).to.equal(c.want));
});

describe('parseDurationMs', () => {
  const cases: [string, number | undefined][] = [
    ['60', 60_000],
    ['2.5', 2500],
    ['1m', 60_000],
    ['1m5s', 65_000],
    ['1m30s', 90_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['2.5s', 2500],
    ['250ms', 250],
    ['250us', 0.25],
    ['', undefined],
    ['5x', undefined],
    ['5 m', undefined],
    ['5 parsecs', undefined],
    ['-1s', undefined],
    ['3d', undefined],
    ['s', undefined],
  ];
  for (const [text, want] of cases) it(`reads "${text}" as ${want} ms`, () => expect(parseDurationMs(text)).to.equal(want));
});

describe('ConfigError', () => {
  it('lists one problem or several, each in the message', () => {
    expect(new ConfigError('a = 1, must be 2').problems).to.deep.equal(['a = 1, must be 2']);
    const e = new ConfigError(['a = 1, must be 2', 'b = x, must be a number']);
    expect(e.message).to.equal('invalid configuration: a = 1, must be 2; b = x, must be a number');
    expect(e.name).to.equal('ConfigError');
  });
});
