import { expect } from 'chai';
import request from 'supertest';
import { buildApp, type TestApp } from './build-app.js';

describe('api: /system/secrets', () => {
  let t: TestApp;
  beforeEach(() => {
    t = buildApp({ HYPERFAAS_NAMESPACES: 'team-a' });
  });
  afterEach(() => t.close());

  it('creates a secret from value and answers 202', async () => {
    await request(t.app).post('/system/secrets').send({ name: 'api-key', value: 'hunter2' }).expect(202);
    expect(t.backend.secrets.get('openfaas-fn/api-key')!.toString()).to.equal('hunter2');
  });

  it('prefers rawValue (base64) over value when both are sent', async () => {
    const raw = Buffer.from([0, 1, 2, 255]);
    await request(t.app)
      .post('/system/secrets')
      .send({ name: 'bin', value: 'ignored', rawValue: raw.toString('base64') })
      .expect(202);
    expect(t.backend.secrets.get('openfaas-fn/bin')).to.deep.equal(raw);
  });

  it('answers 409 when the secret exists', async () => {
    await request(t.app).post('/system/secrets').send({ name: 'a', value: '1' }).expect(202);
    await request(t.app).post('/system/secrets').send({ name: 'a', value: '2' }).expect(409);
  });

  it('answers 400 for an invalid name', async () => {
    const res = await request(t.app).post('/system/secrets').send({ name: 'Not_Valid', value: '1' }).expect(400);
    expect(res.text).to.match(/^name: "Not_Valid" must be a DNS-1123 subdomain/);
  });

  it('answers 400 for rawValue that is not base64', async () => {
    await request(t.app).post('/system/secrets').send({ name: 'a', rawValue: '***' }).expect(400);
    expect(t.backend.calls).to.have.length(0);
  });

  it('lists names and namespaces, never values', async () => {
    await request(t.app).post('/system/secrets').send({ name: 'a', value: 'top-secret' }).expect(202);
    const res = await request(t.app).get('/system/secrets').expect(200);
    expect(res.body).to.deep.equal([{ name: 'a', namespace: 'openfaas-fn' }]);
    expect(res.text).to.not.include('top-secret');
  });

  it('lists the namespace from the query', async () => {
    await request(t.app).post('/system/secrets').send({ name: 'a', value: '1', namespace: 'team-a' }).expect(202);
    expect((await request(t.app).get('/system/secrets').expect(200)).body).to.deep.equal([]);
    expect((await request(t.app).get('/system/secrets?namespace=team-a').expect(200)).body).to.deep.equal([{ name: 'a', namespace: 'team-a' }]);
  });

  it('updates a secret and answers 202', async () => {
    await request(t.app).post('/system/secrets').send({ name: 'a', value: '1' }).expect(202);
    const res = await request(t.app).put('/system/secrets').send({ name: 'a', value: '2' }).expect(202);
    expect(res.text).to.equal('');
    expect(t.backend.secrets.get('openfaas-fn/a')!.toString()).to.equal('2');
  });

  it('answers 404 to an update of a missing secret', async () => {
    await request(t.app).put('/system/secrets').send({ name: 'a', value: '2' }).expect(404);
  });

  it('deletes a secret and answers 202, then 404', async () => {
    await request(t.app).post('/system/secrets').send({ name: 'a', value: '1' }).expect(202);
    await request(t.app).delete('/system/secrets').send({ name: 'a' }).expect(202);
    await request(t.app).delete('/system/secrets').send({ name: 'a' }).expect(404);
  });

  it('answers 400 for an unknown namespace in the body', async () => {
    await request(t.app).post('/system/secrets').send({ name: 'a', value: '1', namespace: 'nope' }).expect(400);
  });
});
