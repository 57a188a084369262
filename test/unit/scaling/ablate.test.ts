// com.hyperfaas.ablate: per-function switches for the A/B ablation arms .
import { expect } from 'chai';
import { parseScalingLabels } from '../../../src/scaling/labels.js';
import { createHyperfaasPolicy, type HyperfaasState } from '../../../src/scaling/hyperfaas.js';
import type { GuestSlotObservation } from '../../../src/scaling/types.js';
import { inst, input, spec } from './fixtures.js';

const guest: GuestSlotObservation = { hostInstance: 'h1', hostFunction: 'other.openfaas-fn', state: 'generic', inflight: 0, capacity: 4, hostLoad: 0 };

describe('com.hyperfaas.ablate label', () => {
  const cases: Array<{ name: string; value: string; want?: string[]; error?: boolean }> = [
    { name: 'one phase is read as a list of one', value: 'scale-up', want: ['scale-up'] },
    { name: 'a comma-separated list keeps each phase once', value: 'multiplex, scale-up,multiplex', want: ['multiplex', 'scale-up'] },
    { name: '"none" switches nothing off', value: 'none', want: undefined },
    { name: 'an empty value switches nothing off', value: '', want: undefined },
    { name: 'an unknown phase is an error naming the label', value: 'scale-out', error: true },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = parseScalingLabels({ 'com.hyperfaas.ablate': c.value });
      if (c.error) {
        expect(r.ok).to.equal(false);
        if (!r.ok) expect(r.errors[0]).to.contain('com.hyperfaas.ablate');
        return;
      }
      expect(r.ok).to.equal(true);
      if (r.ok) expect(r.labels.ablate).to.deep.equal(c.want);
    });
  }
});

describe('hyperfaas policy with com.hyperfaas.ablate', () => {
  const hot = () => [inst('a', { cpuUsed: 0.45 })];
  const run = (ablate: ('scale-up' | 'multiplex')[] | undefined) => {
    const policy = createHyperfaasPolicy();
    let st: HyperfaasState = policy.initialState(0);
    const s = spec({}, ablate ? { ablate } : {});
    const kinds: string[] = [];
    for (const t of [0, 300, 600, 900]) {
      const d = policy.decide(input(t, s, { instances: hot(), guests: [guest], demand: { windowMs: 1000, arrivalRate: 200, queued: 12, bounced: 3 }, node: { cpuCores: 2, cpuFree: 1 } }), st);
      st = d.state;
      kinds.push(...d.actions.map((a) => a.kind));
    }
    return new Set(kinds);
  };

  it('without the label a hot, short function is resized, borrows a slot and scales out', () => {
    expect([...run(undefined)].sort()).to.deep.equal(['resize', 'scaleTo', 'specialise']);
  });

  it('scale-up switched off: no resize, the other phases still act', () => {
    expect([...run(['scale-up'])].sort()).to.deep.equal(['scaleTo', 'specialise']);
  });

  it('multiplex switched off: no guest slot is specialised', () => {
    expect([...run(['multiplex'])].sort()).to.deep.equal(['resize', 'scaleTo']);
  });
});
