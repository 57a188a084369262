import { expect } from 'chai';
import request from 'supertest';
import { startEcho, type EchoServer } from '../router/echo-server.js';
import { buildApp, type TestApp } from './build-app.js';

/**
 * These tests replay the HTTP calls faas-cli 0.18.12 makes (contract §3), with its headers: no login means an empty
 * Bearer token, JSON bodies, the namespace in the body for remove and secrets, and name.namespace for invoke.
 */
describe('api: driven the way faas-cli drives it', () => {
  let t: TestApp;
  let fn: EchoServer;
  const cli = { Authorization: 'Bearer ', 'User-Agent': 'faas-cli/0.18.12' };
  const spec = {
    service: 'figlet',
    image: 'ghcr.io/openfaas/figlet:latest',
    namespace: 'openfaas-fn',
    envProcess: 'figlet',
    labels: {},
    annotations: {},
    readOnlyRootFilesystem: false,
  };

  beforeEach(async () => {
    t = buildApp();
    fn = await startEcho({ name: 'figlet' });
  });
  afterEach(async () => {
    await t.close();
    await fn.close();
  });

  /** deploy is `faas-cli deploy`: PUT first, POST only when PUT says 404. Returns the statuses seen. */
  async function deploy(body: object): Promise<number[]> {
    const put = await request(t.app).put('/system/functions').set(cli).set('Content-Type', 'application/json').send(body);
    if (put.status !== 404) return [put.status];
    const post = await request(t.app).post('/system/functions').set(cli).set('Content-Type', 'application/json').send(body);
    return [put.status, post.status];
  }

  it('deploy: the first deploy is PUT 404 then POST 202; the next is a PUT 202 rolling update', async () => {
    expect(await deploy(spec)).to.deep.equal([404, 202]);
    expect(await deploy({ ...spec, envVars: { mode: 'serializing' } })).to.deep.equal([202]);
    expect(t.backend.functions.get('openfaas-fn/figlet')!.fd.envVars).to.deep.equal({ mode: 'serializing' });
  });

  it('list, describe (status with usage=1 then list) and ready', async () => {
    await deploy(spec);
    const list = await request(t.app).get('/system/functions').set(cli).expect(200);
    expect(list.body.map((f: { name: string }) => f.name)).to.deep.equal(['figlet']);

    const notReady = await request(t.app).get('/system/function/figlet?namespace=openfaas-fn&usage=1').set(cli).expect(200);
    expect(notReady.body.availableReplicas).to.equal(0);
    t.backend.addInstance('openfaas-fn', 'figlet', fn.url);
    await request(t.app).get('/healthz').expect(200);
    const ready = await request(t.app).get('/system/function/figlet?namespace=openfaas-fn&usage=1').set(cli).expect(200);
    expect(ready.body.availableReplicas).to.equal(1);
    expect(ready.body.labels).to.include({ faas_function: 'figlet' });
    await request(t.app).get('/system/functions?namespace=openfaas-fn').set(cli).expect(200);
  });

  it('describe of a missing function is 404', async () => {
    await request(t.app).get('/system/function/nope?namespace=openfaas-fn&usage=1').set(cli).expect(404);
  });

  it('invoke: POST /function/<name>.openfaas-fn reaches the function', async () => {
    await deploy(spec);
    t.backend.addInstance('openfaas-fn', 'figlet', fn.url);
    const res = await request(t.app)
      .post('/function/figlet.openfaas-fn')
      .set('Content-Type', 'text/plain')
      .send('hello')
      .expect(200);
    expect(res.body.method).to.equal('POST');
    expect(res.body.bytes).to.equal(5);
  });

  it('remove: DELETE with the namespace in the body is 202, then 404', async () => {
    await deploy(spec);
    await request(t.app).delete('/system/functions').set(cli).send({ functionName: 'figlet', namespace: 'openfaas-fn' }).expect(202);
    await request(t.app).delete('/system/functions').set(cli).send({ functionName: 'figlet', namespace: 'openfaas-fn' }).expect(404);
  });

  it('secret create --from-file sends both rawValue and value; --replace retries with PUT after 409', async () => {
    const raw = Buffer.from('from-file').toString('base64');
    await request(t.app).post('/system/secrets').set(cli).send({ name: 'api-key', namespace: 'openfaas-fn', value: 'from-file', rawValue: raw }).expect(202);
    await request(t.app).post('/system/secrets').set(cli).send({ name: 'api-key', namespace: 'openfaas-fn', value: 'v2' }).expect(409);
    await request(t.app).put('/system/secrets').set(cli).send({ name: 'api-key', namespace: 'openfaas-fn', value: 'v2' }).expect(202);
    const list = await request(t.app).get('/system/secrets?namespace=openfaas-fn').set(cli).expect(200);
    expect(list.body).to.deep.equal([{ name: 'api-key', namespace: 'openfaas-fn' }]);
    await request(t.app).delete('/system/secrets').set(cli).send({ name: 'api-key', namespace: 'openfaas-fn' }).expect(202);
  });

  it('version: /system/info has the provider and version objects faas-cli decodes and dereferences', async () => {
    // faas-cli decodes the gateway's GatewayInfo: {provider: ProviderInfo, version: VersionInfo, arch}.
    const res = await request(t.app).get('/system/info').set(cli).expect(200);
    expect(res.body.provider.provider).to.equal('hyperfaas');
    expect(res.body.provider.orchestration).to.be.a('string').and.not.equal('');
    expect(res.body.provider.version.sha).to.be.a('string').and.not.equal('');
    expect(res.body.provider.version.release).to.be.a('string').and.not.equal('');
    expect(res.body.version.sha).to.be.a('string').and.not.equal('');
    expect(res.body.version.release).to.be.a('string').and.not.equal('');
  });

  it('namespace list: the default first', async () => {
    const res = await request(t.app).get('/system/namespaces').set(cli).expect(200);
    expect(res.body[0]).to.equal('openfaas-fn');
  });

  it('logs --tail=false: follow=false&tail=-1 ends after the existing lines', async () => {
    await deploy(spec);
    t.backend.pushLog({ name: 'figlet', namespace: 'openfaas-fn', instance: 'i1', timestamp: '2026-01-01T00:00:00.000000001Z', text: 'Forking fprocess.' });
    const res = await request(t.app)
      .get('/system/logs?name=figlet&namespace=openfaas-fn&follow=false&tail=-1&since=2025-01-01T00:00:00Z')
      .set(cli)
      .expect(200);
    expect(res.text.trim().split('\n').map((l) => JSON.parse(l).text)).to.deep.equal(['Forking fprocess.']);
  });
});
