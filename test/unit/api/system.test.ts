import { expect } from 'chai';
import request from 'supertest';
import { buildApp, type TestApp } from './build-app.js';

describe('api: scale, info, namespaces, health, metrics', () => {
  let t: TestApp;
  beforeEach(() => {
    t = buildApp({ HYPERFAAS_NAMESPACES: 'team-a,team-b' }, { deps: { version: { sha: 'abc123', release: '0.1.0' } } });
    t.backend.addFunction({ service: 'figlet', image: 'i', namespace: 'openfaas-fn' });
  });
  afterEach(() => t.close());

  describe('POST /system/scale-function/:name', () => {
    it('scales and answers 202 when the body has no Content-Type (as the gateway sends it)', async () => {
      const req = request(t.app).post('/system/scale-function/figlet?namespace=openfaas-fn');
      req.unset('Content-Type');
      await req.send(Buffer.from('{"serviceName":"figlet","replicas":3}')).expect(202);
      expect(t.backend.callsOf('scale')[0]!.args).to.deep.equal(['openfaas-fn', 'figlet', 3]);
    });

    it('accepts 0 replicas (scale to zero)', async () => {
      await request(t.app).post('/system/scale-function/figlet').send({ serviceName: 'figlet', replicas: 0 }).expect(202);
      expect(t.backend.functions.get('openfaas-fn/figlet')!.replicas).to.equal(0);
    });

    it('answers 404 for an unknown function', async () => {
      await request(t.app).post('/system/scale-function/nope').send({ serviceName: 'nope', replicas: 1 }).expect(404);
    });

    it('answers 400 for bad JSON', async () => {
      await request(t.app).post('/system/scale-function/figlet').set('Content-Type', 'application/json').send('{bad').expect(400);
      expect(t.backend.callsOf('scale')).to.have.length(0);
    });

    const badReplicas: [string, unknown][] = [
      ['a negative count', -1],
      ['a fraction', 1.5],
      ['a string', '2'],
      ['nothing', undefined],
    ];
    for (const [what, replicas] of badReplicas) {
      it(`answers 400 for replicas given as ${what}`, async () => {
        const res = await request(t.app).post('/system/scale-function/figlet').send({ serviceName: 'figlet', replicas }).expect(400);
        expect(res.text).to.match(/^replicas: must be a whole number >= 0/);
      });
    }

    it('answers 405 for GET', async () => {
      await request(t.app).get('/system/scale-function/figlet').expect(405);
    });
  });

  describe('GET /system/info', () => {
    it('answers provider, orchestration and version', async () => {
      const res = await request(t.app).get('/system/info').expect(200);
      expect(res.body).to.deep.equal({ provider: 'hyperfaas', orchestration: 'fake', version: { sha: 'abc123', release: '0.1.0' } });
    });
  });

  describe('GET /system/namespaces', () => {
    it('answers the valid namespaces, the default first', async () => {
      const res = await request(t.app).get('/system/namespaces').expect(200);
      expect(res.body).to.deep.equal(['openfaas-fn', 'team-a', 'team-b']);
    });
  });

  describe('/system/namespace/:name', () => {
    for (const method of ['get', 'post', 'put', 'delete'] as const) {
      it(`answers 501 to ${method.toUpperCase()} like faas-provider without a handler`, async () => {
        const res = await request(t.app)[method]('/system/namespace/team-a').expect(501);
        expect(res.text).to.equal('Feature not implemented in this version of OpenFaaS\n');
      });
    }
    it('answers 501 with an empty name', async () => {
      await request(t.app).post('/system/namespace/').expect(501);
    });
  });

  describe('/healthz', () => {
    it('answers GET with 200', async () => {
      await request(t.app).get('/healthz').expect(200);
    });
    it('answers HEAD with 200', async () => {
      await request(t.app).head('/healthz').expect(200);
    });
    it('answers POST with 405', async () => {
      await request(t.app).post('/healthz').expect(405);
    });
  });

  describe('unknown paths', () => {
    it('answers 404 "404 page not found"', async () => {
      const res = await request(t.app).get('/system/nothing').expect(404);
      expect(res.text).to.equal('404 page not found\n');
    });
    it('answers 404 for /async-function/ when async is not enabled', async () => {
      await request(t.app).post('/async-function/figlet').expect(404);
    });
  });

  describe('/async-function/*', () => {
    const paths: [string, string][] = [
      ['/async-function/figlet.openfaas-fn/x?y=1', 'figlet.openfaas-fn'],
      ['/async-function/figlet', 'figlet'],
    ];
    for (const [url, name] of paths) {
      it(`routes ${url} to the async handler with params.name ${name} and the URL intact`, async () => {
        let seen = { name: '', url: '' };
        const a = buildApp({}, {
          deps: {
            asyncHandler: (req, res) => {
              seen = { name: String(req.params.name), url: req.originalUrl };
              res.status(202).end();
            },
          },
        });
        try {
          await request(a.app).post(url).send('hi').expect(202);
          expect(seen).to.deep.equal({ name, url });
        } finally {
          await a.close();
        }
      });
    }
  });

  describe('/metrics', () => {
    it('labels requests by route template, never by raw URL', async () => {
      await request(t.app).get('/system/function/figlet').expect(200);
      await request(t.app).get('/system/function/other').expect(404);
      const res = await request(t.app).get('/metrics').expect(200);
      expect(res.text).to.include('provider_http_requests_total{code="200",method="GET",path="/system/function/:name"} 1');
      expect(res.text).to.include('provider_http_requests_total{code="404",method="GET",path="/system/function/:name"} 1');
      expect(res.text).to.include('provider_http_request_duration_seconds_bucket');
      expect(res.text).to.not.include('path="/system/function/figlet"');
    });

    it('labels invocations with /function/:name', async () => {
      await request(t.app).get('/function/nope').expect(404);
      const res = await request(t.app).get('/metrics').expect(200);
      expect(res.text).to.include('provider_http_requests_total{code="404",method="GET",path="/function/:name"} 1');
    });
  });
});
