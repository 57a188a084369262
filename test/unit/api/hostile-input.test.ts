/**
 * Bad input is refused at the API with a 400 that says what to fix and what the bound is, and nothing reaches the
 * backend: JSON nested too deeply, oversized labels and annotations, watchdog settings the watchdog would refuse at
 * start, and replicas above the function's maximum or the hard cap.
 */
import { expect } from 'chai';
import request from 'supertest';
import { jsonDepth, maxJsonDepth, metadataBounds, validateDeployment } from '../../../src/api/validate.js';
import { buildApp, deployment, type TestApp } from './build-app.js';

/** nested builds {"a":{"a":...}} n levels deep as text (never as an object: that is what we must not build). */
function nestedText(n: number): string {
  return `${'{"a":'.repeat(n)}"x"${'}'.repeat(n)}`;
}

describe('api: hostile input', () => {
  let t: TestApp;
  beforeEach(() => {
    t = buildApp();
  });
  afterEach(() => t.close());

  describe('JSON nesting', () => {
    it('jsonDepth counts objects and arrays, ignoring brackets inside strings and escaped quotes', () => {
      expect(jsonDepth(Buffer.from('{"a":[1,{"b":"[[[{{{"}]}'))).to.equal(3);
      expect(jsonDepth(Buffer.from('{"a":"\\"{{{{"}'))).to.equal(1);
      expect(jsonDepth(Buffer.from('"plain"'))).to.equal(0);
    });

    it('answers 400 naming the bound for labels nested 200,000 deep, and deploys nothing', async () => {
      const body = `{"service":"deep","image":"i","labels":${nestedText(200_000)}}`;
      const res = await request(t.app).post('/system/functions').set('Content-Type', 'application/json').send(body).expect(400);
      expect(res.text).to.equal(`JSON nests more than ${maxJsonDepth} levels deep; at most ${maxJsonDepth} are allowed\n`);
      expect(t.backend.callsOf('deploy')).to.have.length(0);
    });

    it('applies to every JSON body: secrets and scale too', async () => {
      const secret = await request(t.app).post('/system/secrets').send(`{"name":"s","value":${nestedText(40)}}`).expect(400);
      expect(secret.text).to.include(`at most ${maxJsonDepth} are allowed`);
      t.backend.addFunction({ service: 'figlet', image: 'i', namespace: 'openfaas-fn' });
      const scale = await request(t.app).post('/system/scale-function/figlet').send(`[${nestedText(40)}]`).expect(400);
      expect(scale.text).to.include(`at most ${maxJsonDepth} are allowed`);
      expect(t.backend.callsOf('createSecret')).to.have.length(0);
      expect(t.backend.callsOf('scale')).to.have.length(0);
    });

    it('still accepts a body nested exactly to the bound', async () => {
      // {"a": ... } inside labels: the body object is level 1, so maxJsonDepth - 1 levels of labels reach the bound.
      const res = await request(t.app)
        .post('/system/functions')
        .send(`{"service":"ok","image":"i","labels":${nestedText(maxJsonDepth - 1)}}`)
        .expect(400);
      // Refused by the validator (labels must be strings), not by the depth bound.
      expect(res.text).to.include('labels.a: must be a string');
    });
  });

  describe('labels and annotations', () => {
    const b = metadataBounds;
    const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));
    const cases: { name: string; extra: Record<string, unknown>; want: string }[] = [
      { name: 'too many labels', extra: { labels: many(b.maxCount + 1) }, want: `labels: ${b.maxCount + 1} keys, at most ${b.maxCount} are allowed` },
      { name: 'too many annotations', extra: { annotations: many(b.maxCount + 1) }, want: `annotations: ${b.maxCount + 1} keys, at most ${b.maxCount} are allowed` },
      { name: 'a label key name over 63 characters', extra: { labels: { ['n'.repeat(64)]: 'v' } }, want: 'has a name part of 64 characters, it must be 1 to 63' },
      { name: 'an annotation key prefix over 253 characters', extra: { annotations: { [`${'p'.repeat(254)}/n`]: 'v' } }, want: 'has a prefix of 254 characters, at most 253 are allowed' },
      { name: 'an empty key name', extra: { labels: { 'example.com/': 'v' } }, want: 'has a name part of 0 characters, it must be 1 to 63' },
      { name: 'a label value over 63 characters', extra: { labels: { team: 'v'.repeat(64) } }, want: 'labels.team: the value has 64 characters, at most 63 are allowed' },
      {
        name: 'annotations over 256 KiB together',
        extra: { annotations: { a: 'x'.repeat(200 * 1024), b: 'y'.repeat(100 * 1024) } },
        want: `annotations: keys and values take ${300 * 1024 + 2} bytes together, at most ${256 * 1024} (256 KiB) are allowed`,
      },
    ];
    for (const c of cases) {
      it(`answers 400 for ${c.name}, and deploys nothing`, async () => {
        const res = await request(t.app).post('/system/functions').send(deployment('meta', c.extra)).expect(400);
        expect(res.text).to.include(c.want);
        expect(t.backend.callsOf('deploy')).to.have.length(0);
      });
    }

    it('accepts labels and annotations right at the bounds', () => {
      const labels = { [`${'p'.repeat(253)}/${'n'.repeat(63)}`]: 'v'.repeat(63), ...many(b.maxCount - 1) };
      const annotations = { long: 'x'.repeat(256 * 1024 - 4) };
      expect(validateDeployment(deployment('edge', { labels, annotations }))).to.deep.equal([]);
    });

    it('caps the problems listed in one answer', () => {
      const labels = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, 1]));
      const got = validateDeployment(deployment('noisy', { labels }));
      expect(got).to.have.length(21);
      expect(got[20]).to.equal('... and 80 more problems');
    });
  });

  describe('watchdog settings in envVars', () => {
    const cases: { name: string; envVars: Record<string, string>; want: string[] }[] = [
      { name: 'an exec_timeout that is not a duration', envVars: { exec_timeout: 'soon' }, want: ['envVars.exec_timeout = "soon": the watchdog allows a duration >= 0s'] },
      { name: 'a zero write_timeout', envVars: { write_timeout: '0' }, want: ['envVars.write_timeout = "0": the watchdog allows a duration >= 0.001s'] },
      { name: 'a negative max_inflight', envVars: { max_inflight: '-1' }, want: ['envVars.max_inflight = "-1": the watchdog allows an integer in [0, 1000000]'] },
      { name: 'an unknown mode', envVars: { mode: 'turbo' }, want: ['envVars.mode = "turbo": the watchdog allows http, streaming, serializing, classic, static'] },
      {
        name: 'several bad settings at once',
        envVars: { read_timeout: 'x', max_inflight: 'many', prefix_logs: 'maybe' },
        want: ['envVars.read_timeout', 'envVars.max_inflight', 'envVars.prefix_logs = "maybe": the watchdog allows true, false, 1 or 0'],
      },
    ];
    for (const c of cases) {
      it(`answers 400 for ${c.name}`, async () => {
        const res = await request(t.app).post('/system/functions').send(deployment('wd', { envVars: c.envVars })).expect(400);
        for (const w of c.want) expect(res.text).to.include(w);
        expect(t.backend.callsOf('deploy')).to.have.length(0);
      });
    }

    it('accepts good settings and plain variables, and an http mode whose upstream the image supplies', async () => {
      const envVars = { exec_timeout: '10s', write_timeout: '1m30s', read_timeout: '15', max_inflight: '4', mode: 'http', GREETING: 'hi', empty: '' };
      await request(t.app).post('/system/functions').send(deployment('wd', { envVars })).expect(202);
    });

    it('is checked on update too', async () => {
      t.backend.addFunction({ service: 'wd', image: 'i', namespace: 'openfaas-fn' });
      const res = await request(t.app).put('/system/functions').send(deployment('wd', { envVars: { exec_timeout: '-5s' } })).expect(400);
      expect(res.text).to.include('envVars.exec_timeout = "-5s"');
      expect(t.backend.callsOf('update')).to.have.length(0);
    });
  });

  describe('replicas', () => {
    beforeEach(() => {
      t.backend.addFunction({ service: 'capped', image: 'i', namespace: 'openfaas-fn', labels: { 'com.openfaas.scale.max': '3' } });
      t.backend.addFunction({ service: 'free', image: 'i', namespace: 'openfaas-fn' });
    });

    it('answers 400 above the function\'s com.openfaas.scale.max, naming it, and leaves the replicas alone', async () => {
      const res = await request(t.app).post('/system/scale-function/capped').send({ serviceName: 'capped', replicas: 4 }).expect(400);
      expect(res.text).to.equal("replicas: 4 is above 3, the function's com.openfaas.scale.max label\n");
      expect(t.backend.callsOf('scale')).to.have.length(0);
      expect(t.backend.functions.get('openfaas-fn/capped')!.replicas).to.equal(1);
    });

    it('accepts the maximum itself', async () => {
      await request(t.app).post('/system/scale-function/capped').send({ serviceName: 'capped', replicas: 3 }).expect(202);
    });

    it('answers 400 above the hard cap of 1000 when the function sets no maximum', async () => {
      const res = await request(t.app).post('/system/scale-function/free').send({ serviceName: 'free', replicas: 1001 }).expect(400);
      expect(res.text).to.equal("replicas: 1001 is above 1000, the provider's hard cap (set com.openfaas.scale.max to go lower)\n");
      expect(t.backend.callsOf('scale')).to.have.length(0);
    });
  });
});
