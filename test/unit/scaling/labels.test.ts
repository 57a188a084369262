import { expect } from 'chai';
import { labelDefaults, minReplicasOf, parseScalingLabels, validateScalingLabels, wakeReplicasOf } from '../../../src/scaling/labels.js';
import type { ScalingLabels } from '../../../src/scaling/types.js';

describe('scaling labels', () => {
  it('gives the documented defaults when no label is set', () => {
    const r = parseScalingLabels(undefined);
    expect(r.ok).to.equal(true);
    if (!r.ok) return;
    expect(r.labels).to.deep.equal({ ...labelDefaults });
    expect(r.labels.min).to.equal(1);
    expect(r.labels.max).to.equal(20);
    expect(r.labels.zero).to.equal(false);
    expect(r.labels.zeroDurationMs).to.equal(15 * 60_000);
    expect(r.labels.policy).to.equal('hyperfaas');
  });

  const good: Array<{ name: string; labels: Record<string, string>; want: Partial<ScalingLabels> }> = [
    { name: 'reads min and max', labels: { 'com.openfaas.scale.min': '2', 'com.openfaas.scale.max': '10' }, want: { min: 2, max: 10 } },
    { name: 'accepts min 0', labels: { 'com.openfaas.scale.min': '0' }, want: { min: 0 } },
    { name: 'reads factor in 1..100', labels: { 'com.openfaas.scale.factor': '100' }, want: { factor: 100 } },
    { name: 'reads zero=true case-insensitively', labels: { 'com.openfaas.scale.zero': 'True' }, want: { zero: true } },
    { name: 'reads a Go duration for zero-duration', labels: { 'com.openfaas.scale.zero-duration': '1m30s' }, want: { zeroDurationMs: 90_000 } },
    { name: 'reads bare seconds for zero-duration', labels: { 'com.openfaas.scale.zero-duration': '45' }, want: { zeroDurationMs: 45_000 } },
    { name: 'reads a fractional target', labels: { 'com.openfaas.scale.target': '12.5' }, want: { target: 12.5 } },
    { name: 'reads the type', labels: { 'com.openfaas.scale.type': 'capacity' }, want: { type: 'capacity' } },
    { name: 'reads target-proportion as a fraction', labels: { 'com.openfaas.scale.target-proportion': '0.7' }, want: { targetProportion: 0.7 } },
    { name: 'reads the down window', labels: { 'com.openfaas.scale.down.window': '2m' }, want: { downWindowMs: 120_000 } },
    { name: 'reads the hpa-tuned policy', labels: { 'com.hyperfaas.policy': 'hpa-tuned' }, want: { policy: 'hpa-tuned' } },
    { name: 'reads watermarks as fractions or percentages', labels: { 'com.hyperfaas.watermark.low': '20%', 'com.hyperfaas.watermark.high': '0.9' }, want: { watermarkLow: 0.2, watermarkHigh: 0.9 } },
    { name: 'reads the runtime', labels: { 'com.hyperfaas.runtime': 'node' }, want: { runtime: 'node' } },
    { name: 'ignores unknown labels', labels: { 'com.openfaas.ui.ext': 'js', faas_function: 'x' }, want: {} },
  ];
  for (const c of good) {
    it(c.name, () => {
      const r = parseScalingLabels(c.labels);
      expect(r.ok, JSON.stringify(r)).to.equal(true);
      if (r.ok) expect(r.labels).to.deep.equal({ ...labelDefaults, ...c.want });
    });
  }

  const bad: Array<{ name: string; labels: Record<string, string>; mentions: string[] }> = [
    { name: 'rejects a non-numeric max', labels: { 'com.openfaas.scale.max': 'ten' }, mentions: ['com.openfaas.scale.max', '"ten"', '[1, 1000]'] },
    { name: 'rejects max 0', labels: { 'com.openfaas.scale.max': '0' }, mentions: ['com.openfaas.scale.max'] },
    { name: 'rejects a negative min', labels: { 'com.openfaas.scale.min': '-1' }, mentions: ['com.openfaas.scale.min'] },
    { name: 'rejects min above max', labels: { 'com.openfaas.scale.min': '5', 'com.openfaas.scale.max': '3' }, mentions: ['lower the min or raise the max'] },
    { name: 'rejects factor 0, which breaks the gateway', labels: { 'com.openfaas.scale.factor': '0' }, mentions: ['[1, 100]'] },
    { name: 'rejects factor 101', labels: { 'com.openfaas.scale.factor': '101' }, mentions: ['[1, 100]'] },
    { name: 'rejects zero=yes', labels: { 'com.openfaas.scale.zero': 'yes' }, mentions: ['"true" or "false"'] },
    { name: 'rejects an unparsable zero-duration', labels: { 'com.openfaas.scale.zero-duration': '15 minutes' }, mentions: ['zero-duration', '"15m"'] },
    { name: 'rejects a zero-duration under 1s', labels: { 'com.openfaas.scale.zero-duration': '500ms' }, mentions: ['at least 1s'] },
    { name: 'rejects target 0', labels: { 'com.openfaas.scale.target': '0' }, mentions: ['positive number'] },
    { name: 'rejects an unknown type', labels: { 'com.openfaas.scale.type': 'memory' }, mentions: ['rps, capacity, cpu'] },
    { name: 'rejects an unknown policy', labels: { 'com.hyperfaas.policy': 'kpa' }, mentions: ['hyperfaas, hpa, hpa-tuned, none'] },
    { name: 'rejects a watermark above 1', labels: { 'com.hyperfaas.watermark.high': '1.5' }, mentions: ['(0, 1]'] },
    { name: 'rejects a low watermark at or above the high one', labels: { 'com.hyperfaas.watermark.low': '0.8', 'com.hyperfaas.watermark.high': '0.8' }, mentions: ['must be below'] },
    { name: 'rejects a down window over 1h', labels: { 'com.openfaas.scale.down.window': '2h' }, mentions: ['at most 1h'] },
    { name: 'rejects a runtime with upper case or spaces', labels: { 'com.hyperfaas.runtime': 'Node JS' }, mentions: ['com.hyperfaas.runtime'] },
  ];
  for (const c of bad) {
    it(c.name, () => {
      const r = parseScalingLabels(c.labels);
      expect(r.ok).to.equal(false);
      const text = validateScalingLabels(c.labels).join('\n');
      for (const m of c.mentions) expect(text).to.contain(m);
    });
  }

  it('reports every bad label, not only the first', () => {
    const errs = validateScalingLabels({ 'com.openfaas.scale.max': 'x', 'com.openfaas.scale.zero': 'maybe', 'com.hyperfaas.policy': '?' });
    expect(errs).to.have.length(3);
  });

  it('returns no errors for good labels', () => {
    expect(validateScalingLabels({ 'com.openfaas.scale.max': '5' })).to.deep.equal([]);
  });
});

describe('minReplicasOf', () => {
  const cases: { name: string; labels?: Record<string, string>; want: number }[] = [
    { name: 'starts one replica without the label', want: 1 },
    { name: 'starts com.openfaas.scale.min replicas', labels: { 'com.openfaas.scale.min': '3' }, want: 3 },
    { name: 'accepts a minimum of zero', labels: { 'com.openfaas.scale.min': '0' }, want: 0 },
    { name: 'falls back to one for a label that is not a number', labels: { 'com.openfaas.scale.min': 'many' }, want: 1 },
    { name: 'falls back to one for a fraction', labels: { 'com.openfaas.scale.min': '1.5' }, want: 1 },
    { name: 'falls back to one for a negative number', labels: { 'com.openfaas.scale.min': '-1' }, want: 1 },
    { name: 'falls back to one above the replica cap', labels: { 'com.openfaas.scale.min': '1001' }, want: 1 },
  ];
  for (const c of cases) it(c.name, () => expect(minReplicasOf(c.labels)).to.equal(c.want));
});

describe('wakeReplicasOf', () => {
  const cases: [Record<string, string> | undefined, number][] = [
    [undefined, 1],
    [{}, 1],
    [{ 'com.openfaas.scale.min': '0' }, 1],
    [{ 'com.openfaas.scale.min': '4' }, 4],
    [{ 'com.openfaas.scale.min': '4', 'com.openfaas.scale.max': '2' }, 4], // min above max does not parse: min alone
    [{ 'com.openfaas.scale.min': 'x' }, 1],
    [{ 'com.openfaas.scale.min': '3', 'com.openfaas.scale.factor': '500' }, 3],
  ];
  for (const [labels, want] of cases) it(`wakes to ${want} with labels ${JSON.stringify(labels)}`, () => expect(wakeReplicasOf(labels)).to.equal(want));
});

describe('policyFor', () => {
  it('returns the policy each com.hyperfaas.policy value names, and none never acts', async () => {
    const { policyFor } = await import('../../../src/scaling/index.js');
    const { input, spec, inst } = await import('./fixtures.js');
    for (const n of ['hyperfaas', 'hpa', 'hpa-tuned', 'none'] as const) expect(policyFor(n).name).to.equal(n);
    const none = policyFor('none');
    const d = none.decide(input(0, spec(), { instances: [inst('a', { inflight: 4 })], demand: { windowMs: 1000, arrivalRate: 1000, queued: 50, bounced: 5 } }), none.initialState(0));
    expect(d.actions).to.deep.equal([]);
  });
});
