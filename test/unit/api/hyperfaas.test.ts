import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type { DecisionRecord } from '../../../src/control/scaler-loop.js';
import type { LoadReport } from '@hyperfaas/watchdog/protocol';
import { ReportView } from '../../../src/gs/report-view.js';
import { buildApp, type TestApp } from './build-app.js';
import { functionMetricsFor } from '../../../src/observe/function-metrics.js';

function upstream(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.statusCode = req.url === '/fail' ? 500 : 200;
      res.end('ok');
    });
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })));
}

describe('api: invocation metrics, status API, faas-cli version, dashboard', () => {
  let t: TestApp;
  let up: { server: Server; url: string };
  const reports = new ReportView(60_000);
  const decisions: DecisionRecord[] = [
    { at: Date.now(), policy: 'hyperfaas', phase: 'multiplex', replicas: 1, reasons: ['demand 9 > capacity 4'], actions: [{ kind: 'specialise' }] },
  ];

  beforeEach(async () => {
    up = await upstream();
    t = buildApp({}, {
      deps: {
        version: { sha: 'abc123', release: '0.1.0' },
        reports: () => reports,
        scaler: { phaseOf: () => 'multiplex', policyOf: () => 'hyperfaas', decisions: () => decisions },
      },
    });
    t.backend.addFunction({ service: 'echo', image: 'hyperfaas/echo:latest', namespace: 'openfaas-fn' });
    const inst = t.backend.addInstance('openfaas-fn', 'echo', up.url);
    const r: LoadReport = {
      instance: inst.id,
      function: 'echo',
      namespace: 'openfaas-fn',
      url: up.url,
      seq: 1,
      at: Date.now(),
      slots: [
        { kind: 'home', state: 'serving', function: 'echo.openfaas-fn', inflight: 1, capacity: 4 },
        { kind: 'guest', state: 'generic', inflight: 0, capacity: 4 },
      ],
      cpu: { used: 0.2, limit: 0.5 },
      memory: { used: 50 << 20, limit: 128 << 20 },
      watermark: 'normal',
      draining: false,
      queued: 2,
    };
    reports.apply(r, Date.now(), () => true);
  });
  afterEach(async () => {
    await t.close();
    up.server.close();
  });

  it('counts invocations of known functions under the gateway names, and invocationCount follows', async () => {
    for (let i = 0; i < 3; i++) await request(t.app).post('/function/echo').send('hi').expect(200);
    await request(t.app).get('/function/echo/fail').expect(500);
    await request(t.app).get('/function/nope').expect(404);
    const text = await t.registry.metrics();
    expect(text).to.contain('gateway_function_invocation_total{function_name="echo.openfaas-fn",code="200"} 3');
    expect(text).to.contain('gateway_function_invocation_total{function_name="echo.openfaas-fn",code="500"} 1');
    expect(text).to.contain('gateway_function_invocation_started{function_name="echo.openfaas-fn"} 4');
    expect(text).to.match(/gateway_functions_seconds_count\{function_name="echo.openfaas-fn",code="200"\} 3/);
    expect(text).to.contain('gateway_functions_seconds_bucket{le="0.005",function_name="echo.openfaas-fn",code="200"}');
    expect(text).to.contain('gateway_service_count{function_name="echo.openfaas-fn"} 1');
    expect(text).not.to.contain('nope.openfaas-fn');
    const list = await request(t.app).get('/system/functions').expect(200);
    expect(list.body[0]).to.include({ name: 'echo', invocationCount: 4 });
    const one = await request(t.app).get('/system/function/echo').expect(200);
    expect(one.body.invocationCount).to.equal(4);
  });

  it('exports the scheduler picture as hyperfaas_function_* gauges', async () => {
    const text = await t.registry.metrics();
    expect(text).to.contain('hyperfaas_function_instances{function_name="echo.openfaas-fn",state="ready"} 1');
    expect(text).to.contain('hyperfaas_function_slots{function_name="echo.openfaas-fn",kind="guest",state="generic"} 1');
    expect(text).to.contain('hyperfaas_function_phase{function_name="echo.openfaas-fn",phase="multiplex"} 1');
    expect(text).to.contain('hyperfaas_function_queued{function_name="echo.openfaas-fn"} 2');
  });

  it('GET /system/hyperfaas/functions/<name> shows instances, slots, load, phase, decisions and traffic', async () => {
    await request(t.app).post('/function/echo').send('hi').expect(200);
    const res = await request(t.app).get('/system/hyperfaas/functions/echo?seconds=5').expect(200);
    expect(res.body).to.include({ name: 'echo', namespace: 'openfaas-fn', function: 'echo.openfaas-fn', policy: 'hyperfaas', phase: 'multiplex', invocationCount: 1 });
    expect(res.body.instances).to.have.length(1);
    const i = res.body.instances[0];
    expect(i).to.include({ ready: true, inflight: 0, blocked: false, held: false });
    expect(i.load).to.deep.include({ watermark: 'normal', queued: 2, cpu: { used: 0.2, limit: 0.5 } });
    expect(i.slots.map((s: { kind: string }) => s.kind)).to.deep.equal(['home', 'guest']);
    expect(res.body.decisions[0]).to.deep.include({ phase: 'multiplex', reasons: ['demand 9 > capacity 4'] });
    expect(res.body.traffic.series).to.have.length(5);
    expect(res.body.borrowed).to.deep.equal([]);
    const all = await request(t.app).get('/system/hyperfaas/functions').expect(200);
    expect(all.body.map((d: { name: string }) => d.name)).to.deep.equal(['echo']);
  });

  it('counts failed specialisations and shows the last ones as warnings of the function', async () => {
    const m = functionMetricsFor(t.registry, async () => []);
    m.specialised('echo.openfaas-fn', 'lender-1', true);
    for (let i = 1; i <= 7; i++) m.specialised('echo.openfaas-fn', `lender-${i}`, false, `fetch failed ${i}`);
    const text = await t.registry.metrics();
    expect(text).to.contain('hyperfaas_specialisations_total{function_name="echo.openfaas-fn",outcome="ok"} 1');
    expect(text).to.contain('hyperfaas_specialisations_total{function_name="echo.openfaas-fn",outcome="failed"} 7');
    const res = await request(t.app).get('/system/hyperfaas/functions/echo').expect(200);
    // The last five, oldest first.
    expect(res.body.warnings.specialiseFailures.map((f: { host: string; error: string }) => [f.host, f.error])).to.deep.equal(
      [3, 4, 5, 6, 7].map((i) => [`lender-${i}`, `fetch failed ${i}`]),
    );
    expect(res.body.warnings.specialiseFailures[0].at).to.be.a('number');
  });

  it('answers 404 for an unknown function, 400 for a bad seconds, 405 for POST', async () => {
    const nf = await request(t.app).get('/system/hyperfaas/functions/nope').expect(404);
    expect(nf.text).to.match(/nope/);
    const bad = await request(t.app).get('/system/hyperfaas/functions/echo?seconds=9999').expect(400);
    expect(bad.text).to.equal('seconds: must be a whole number from 0 to 299, got "9999"\n');
    await request(t.app).post('/system/hyperfaas/functions/echo').expect(405);
  });

  it('answers faas-cli (its User-Agent, no gateway in between) in the gateway shape, everyone else in the provider shape', async () => {
    const cli = await request(t.app).get('/system/info').set('User-Agent', 'faas-cli/0.17.6').expect(200);
    expect(cli.body.provider).to.deep.equal({ provider: 'hyperfaas', orchestration: 'fake', version: { sha: 'abc123', release: '0.1.0' } });
    expect(cli.body.version).to.deep.equal({ sha: 'abc123', release: '0.1.0' });
    expect(cli.body.arch).to.be.a('string').and.not.equal('');
    // Through the gateway: the gateway forwards faas-cli's User-Agent but adds X-Forwarded-For, and parses the
    // provider shape itself.
    const gw = await request(t.app).get('/system/info').set('User-Agent', 'faas-cli/0.17.6').set('X-Forwarded-For', '10.0.0.1').expect(200);
    expect(gw.body).to.deep.equal({ provider: 'hyperfaas', orchestration: 'fake', version: { sha: 'abc123', release: '0.1.0' } });
    const go = await request(t.app).get('/system/info').set('User-Agent', 'Go-http-client/1.1').expect(200);
    expect(go.body.provider).to.equal('hyperfaas');
  });

  it('serves the dashboard and its chart library, behind basic auth when it is on', async () => {
    await request(t.app).get('/ui/hyperfaas').expect(301).expect('location', '/ui/hyperfaas/');
    const page = await request(t.app).get('/ui/hyperfaas/').expect(200).expect('content-type', /html/);
    expect(page.text).to.contain('<script src="app.js"></script>');
    await request(t.app).get('/ui/hyperfaas/app.js').expect(200).expect('content-type', /javascript/);
    await request(t.app).get('/ui/hyperfaas/vendor/uPlot.iife.min.js').expect(200);
    await request(t.app).get('/ui/hyperfaas/../package.json').expect(404);

    const secured = buildApp({ basic_auth: 'true' }, { deps: { credentials: { user: 'admin', password: 'pw' } } });
    try {
      await request(secured.app).get('/ui/hyperfaas/').expect(401);
      await request(secured.app).get('/system/hyperfaas/functions').expect(401);
      await request(secured.app).get('/ui/hyperfaas/').auth('admin', 'pw').expect(200);
    } finally {
      await secured.close();
    }
  });
});
