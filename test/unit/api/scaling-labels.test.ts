/**
 * What the API accepts, the scaler runs: every scaling label value the deploy endpoint accepts is deployed, and one
 * scaler tick must then hand the function to its policy. A label the API let through but the scaler refused would
 * leave the function unscaled for good, with nothing but a warning in the log.
 */
import { expect } from 'chai';
import request from 'supertest';
import { silentLogger } from '../../../src/logger.js';
import { ScalerLoop, specFor, type Observation } from '../../../src/control/scaler-loop.js';
import type { PolicyName, ScalingPolicy } from '../../../src/scaling/types.js';
import { buildApp, deployment, type TestApp } from './build-app.js';

/** accepted are label sets at the edges of what each label allows, one deployment each. */
const accepted: Record<string, string>[] = [
  { 'com.openfaas.scale.min': '0' },
  { 'com.openfaas.scale.min': '1000', 'com.openfaas.scale.max': '1000' },
  { 'com.openfaas.scale.max': '1' },
  { 'com.openfaas.scale.factor': '1' },
  { 'com.openfaas.scale.factor': '100' },
  { 'com.openfaas.scale.zero': 'true' },
  { 'com.openfaas.scale.zero': 'FALSE' },
  { 'com.openfaas.scale.zero-duration': '1s' },
  { 'com.openfaas.scale.zero-duration': '1h30m' },
  { 'com.openfaas.scale.zero-duration': '90' },
  { 'com.openfaas.scale.target': '0.5' },
  { 'com.openfaas.scale.target': '1000' },
  { 'com.openfaas.scale.target-proportion': '1' },
  { 'com.openfaas.scale.target-proportion': '80%' },
  { 'com.openfaas.scale.type': 'rps' },
  { 'com.openfaas.scale.type': 'capacity' },
  { 'com.openfaas.scale.type': 'cpu' },
  { 'com.openfaas.scale.down.window': '0s' },
  { 'com.openfaas.scale.down.window': '1h' },
  { 'com.hyperfaas.policy': 'hyperfaas' },
  { 'com.hyperfaas.policy': 'hpa' },
  { 'com.hyperfaas.policy': 'hpa-tuned' },
  { 'com.hyperfaas.policy': 'none' },
  { 'com.hyperfaas.watermark.low': '0.01', 'com.hyperfaas.watermark.high': '1' },
  { 'com.hyperfaas.watermark.low': '10%', 'com.hyperfaas.watermark.high': '20%' },
  { 'com.hyperfaas.runtime': 'node' },
  { 'com.hyperfaas.ablate': 'scale-up,multiplex' },
  { 'com.hyperfaas.ablate': 'none' },
  { 'com.openfaas.scale.min': '2', 'com.openfaas.scale.max': '2', 'com.openfaas.scale.factor': '50', 'com.hyperfaas.policy': 'hpa' },
];

/** refused are label sets the scaler cannot run; the API must answer 400 naming the label. */
const refused: { name: string; labels: Record<string, string>; mentions: string }[] = [
  { name: 'a scale factor of 0', labels: { 'com.openfaas.scale.factor': '0' }, mentions: 'com.openfaas.scale.factor' },
  { name: 'a scale factor over 100', labels: { 'com.openfaas.scale.factor': '101' }, mentions: 'com.openfaas.scale.factor' },
  { name: 'a maximum of 0', labels: { 'com.openfaas.scale.max': '0' }, mentions: 'com.openfaas.scale.max' },
  { name: 'a minimum above the maximum', labels: { 'com.openfaas.scale.min': '3', 'com.openfaas.scale.max': '2' }, mentions: 'com.openfaas.scale.min' },
  { name: 'an unknown policy', labels: { 'com.hyperfaas.policy': 'fast' }, mentions: 'com.hyperfaas.policy' },
  { name: 'a zero-duration under 1s', labels: { 'com.openfaas.scale.zero-duration': '500ms' }, mentions: 'com.openfaas.scale.zero-duration' },
  { name: 'a down window over 1h', labels: { 'com.openfaas.scale.down.window': '2h' }, mentions: 'com.openfaas.scale.down.window' },
  { name: 'watermarks the wrong way round', labels: { 'com.hyperfaas.watermark.low': '0.9', 'com.hyperfaas.watermark.high': '0.5' }, mentions: 'com.hyperfaas.watermark.low' },
  { name: 'an unknown ablation', labels: { 'com.hyperfaas.ablate': 'phase-3' }, mentions: 'com.hyperfaas.ablate' },
];

/** recording is a policy that only notes which functions it was asked about. */
function recording(name: PolicyName, seen: Set<string>): ScalingPolicy<null> {
  return {
    name,
    initialState: () => null,
    decide: (input) => {
      seen.add(input.spec.key);
      return { state: null, phase: 'steady', replicas: input.replicas, actions: [], reasons: [] };
    },
  };
}

describe('scaling labels: what the API accepts, the scaler runs', () => {
  let t: TestApp;
  beforeEach(() => (t = buildApp()));
  afterEach(() => t.close());

  it('deploys every accepted label set and one scaler tick runs each function', async () => {
    const names = accepted.map((_, i) => `fn-${i}`);
    for (const [i, labels] of accepted.entries()) {
      const res = await request(t.app).post('/system/functions').send(deployment(names[i]!, { labels }));
      expect(res.status, `${JSON.stringify(labels)}: ${res.text}`).to.equal(202);
    }
    const seen = new Set<string>();
    const loop = new ScalerLoop({
      ports: {
        functions: () => t.backend.list('openfaas-fn'),
        observe: () => ({}) as Observation,
        waiting: () => 0,
        act: async () => {},
      },
      policies: { hyperfaas: recording('hyperfaas', seen), hpa: recording('hpa', seen), 'hpa-tuned': recording('hpa-tuned', seen) },
      defaultPolicy: 'hyperfaas',
      now: () => 0,
      ticker: { start: () => {}, stop: () => {} },
      logger: silentLogger(),
    });
    await loop.tick();
    const fns = await t.backend.list('openfaas-fn');
    expect(fns).to.have.length(accepted.length);
    for (const fn of fns) {
      const { spec, errors } = specFor(fn, 'hyperfaas');
      expect(errors, `${fn.name}: ${JSON.stringify(fn.labels)}`).to.deep.equal([]);
      // A function labelled "none" is parsed but never handed to a policy: that is its meaning.
      if (spec!.labels.policy !== 'none') expect(seen.has(`${fn.name}.openfaas-fn`), JSON.stringify(fn.labels)).to.equal(true);
    }
  });

  for (const c of refused) {
    it(`refuses ${c.name} with a 400 naming the label`, async () => {
      const res = await request(t.app).post('/system/functions').send(deployment('refused', { labels: c.labels })).expect(400);
      expect(res.text).to.contain(c.mentions);
    });
  }
});
