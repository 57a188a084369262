import { expect } from 'chai';
import type { Instance } from '../../../src/backends/backend.js';
import { pick, type Candidate } from '../../../src/gs/placement.js';

const inst = (id: string, ready = true): Instance => ({ id, function: 'f', namespace: 'ns', url: `http://127.0.0.1/${id}`, ready, startedAt: 0 });
const cand = (id: string, inflight: number, extra: Partial<Candidate> & { ready?: boolean } = {}): Candidate => ({
  instance: inst(id, extra.ready ?? true),
  inflight,
  ...(extra.blocked !== undefined ? { blocked: extra.blocked } : {}),
});

/** seq returns an rng that yields the given values in turn. */
const seq = (...values: number[]): (() => number) => {
  let i = 0;
  return () => values[i++ % values.length]!;
};

describe('placement.pick', () => {
  const cases: { name: string; candidates: Candidate[]; rng?: () => number; exclude?: string[]; want: string | null }[] = [
    { name: 'returns null when there are no candidates', candidates: [], want: null },
    { name: 'returns null when no candidate is ready', candidates: [cand('a', 0, { ready: false })], want: null },
    { name: 'returns the only ready candidate', candidates: [cand('a', 0, { ready: false }), cand('b', 9)], want: 'b' },
    { name: 'takes the less loaded of two', candidates: [cand('a', 3), cand('b', 1)], want: 'b' },
    { name: 'takes the first of two equally loaded', candidates: [cand('a', 2), cand('b', 2)], want: 'a' },
    { name: 'skips excluded candidates', candidates: [cand('a', 0), cand('b', 5)], exclude: ['a'], want: 'b' },
    { name: 'returns null when every ready candidate is excluded', candidates: [cand('a', 0)], exclude: ['a'], want: null },
    {
      name: 'compares two random distinct candidates among many and takes the less loaded',
      // rng 0.0 -> index 0 (a, 5 in flight); 0.5 over the other 3 -> position 1, shifted past 0 -> index 2 (c, 1).
      candidates: [cand('a', 5), cand('b', 0), cand('c', 1), cand('d', 0)],
      rng: seq(0.0, 0.5),
      want: 'c',
    },
    {
      name: 'never compares a candidate with itself',
      // both draws are 0: the second is shifted to index 1, so b (0) beats a (4).
      candidates: [cand('a', 4), cand('b', 0), cand('c', 9)],
      rng: seq(0, 0),
      want: 'b',
    },
    { name: 'avoids a blocked candidate while another is ready', candidates: [cand('a', 0, { blocked: true }), cand('b', 7)], want: 'b' },
    { name: 'uses blocked candidates when nothing else is ready', candidates: [cand('a', 3, { blocked: true }), cand('b', 1, { blocked: true })], want: 'b' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = pick(c.candidates, c.rng ?? seq(0.3, 0.7), c.exclude ? new Set(c.exclude) : undefined);
      expect(p ? p.instance.id : null).to.equal(c.want);
    });
  }

  it('counts the pick as in flight until released, and only once', () => {
    const a = cand('a', 0);
    const p = pick([a], Math.random)!;
    expect(a.inflight).to.equal(1);
    p.release();
    p.release();
    expect(a.inflight).to.equal(0);
  });

  it('spreads load: 1000 picks with immediate release never leave anything in flight', () => {
    const cs = [cand('a', 0), cand('b', 0), cand('c', 0), cand('d', 0)];
    const held = [];
    for (let i = 0; i < 1000; i++) held.push(pick(cs, Math.random)!);
    const counts = cs.map((c) => c.inflight);
    expect(counts.reduce((x, y) => x + y, 0)).to.equal(1000);
    // Power of two choices keeps the spread tight: the most and least loaded differ by little.
    expect(Math.max(...counts) - Math.min(...counts)).to.be.at.most(10);
    for (const h of held) h.release();
    expect(cs.map((c) => c.inflight)).to.deep.equal([0, 0, 0, 0]);
  });
});
