import { expect } from 'chai';
import request from 'supertest';
import { buildApp, deployment, type TestApp } from './build-app.js';

describe('api: /system/functions and /system/function/:name', () => {
  let t: TestApp;
  beforeEach(() => {
    t = buildApp({ HYPERFAAS_NAMESPACES: 'team-a' });
  });
  afterEach(() => t.close());

  describe('GET /system/functions', () => {
    it('answers [] as JSON when the namespace is empty', async () => {
      const res = await request(t.app).get('/system/functions').expect(200);
      expect(res.headers['content-type']).to.match(/^application\/json/);
      expect(res.body).to.deep.equal([]);
    });

    it('lists only the functions of the requested namespace', async () => {
      t.backend.addFunction({ service: 'a', image: 'i', namespace: 'openfaas-fn' });
      t.backend.addFunction({ service: 'b', image: 'i', namespace: 'team-a' });
      const def = await request(t.app).get('/system/functions').expect(200);
      expect(def.body.map((f: { name: string }) => f.name)).to.deep.equal(['a']);
      const other = await request(t.app).get('/system/functions?namespace=team-a').expect(200);
      expect(other.body.map((f: { name: string }) => f.name)).to.deep.equal(['b']);
    });

    it('treats an empty ?namespace= as the default namespace', async () => {
      t.backend.addFunction({ service: 'a', image: 'i', namespace: 'openfaas-fn' });
      const res = await request(t.app).get('/system/functions?namespace=').expect(200);
      expect(res.body).to.have.length(1);
      expect(t.backend.callsOf('list')[0]!.args).to.deep.equal(['openfaas-fn']);
    });

    it('answers 400 naming the valid namespaces for an unknown one', async () => {
      const res = await request(t.app).get('/system/functions?namespace=nope').expect(400);
      expect(res.text).to.equal('namespace "nope" is not allowed; valid namespaces: openfaas-fn, team-a\n');
      expect(res.headers['content-type']).to.match(/^text\/plain/);
    });

    it('always includes labels, annotations and namespace on every item', async () => {
      t.backend.addFunction({ service: 'a', image: 'i', namespace: 'openfaas-fn' });
      const res = await request(t.app).get('/system/functions').expect(200);
      expect(res.body[0]).to.include.keys('labels', 'annotations', 'namespace', 'replicas', 'availableReplicas', 'createdAt');
    });
  });

  describe('POST /system/functions', () => {
    it('deploys and answers 202 with an empty body', async () => {
      const res = await request(t.app).post('/system/functions').send(deployment('figlet')).expect(202);
      expect(res.text).to.equal('');
      expect(t.backend.functions.has('openfaas-fn/figlet')).to.equal(true);
    });

    it('parses JSON whatever the Content-Type says', async () => {
      await request(t.app)
        .post('/system/functions')
        .set('Content-Type', 'text/plain')
        .send(JSON.stringify(deployment('figlet')))
        .expect(202);
      expect(t.backend.callsOf('deploy')).to.have.length(1);
    });

    it('takes the namespace from the body before the query', async () => {
      await request(t.app).post('/system/functions?namespace=openfaas-fn').send(deployment('figlet', { namespace: 'team-a' })).expect(202);
      expect(t.backend.functions.has('team-a/figlet')).to.equal(true);
    });

    it('takes the namespace from the query when the body has none', async () => {
      await request(t.app).post('/system/functions?namespace=team-a').send(deployment('figlet')).expect(202);
      expect(t.backend.functions.has('team-a/figlet')).to.equal(true);
    });

    it('treats an empty namespace in the body (the UI sends "") as the default', async () => {
      await request(t.app).post('/system/functions').send(deployment('figlet', { namespace: '' })).expect(202);
      expect(t.backend.functions.has('openfaas-fn/figlet')).to.equal(true);
    });

    it('ignores unknown fields such as the UI network', async () => {
      await request(t.app).post('/system/functions').send(deployment('figlet', { network: 'func_functions' })).expect(202);
      expect(t.backend.callsOf('deploy')[0]!.args[0]).to.not.have.property('network');
    });

    it('answers 400 for bad JSON and touches nothing', async () => {
      const res = await request(t.app).post('/system/functions').set('Content-Type', 'application/json').send('{"service":').expect(400);
      expect(res.text).to.match(/^invalid JSON body/);
      expect(t.backend.calls).to.have.length(0);
    });

    it('answers 400 listing every problem and touches nothing', async () => {
      const res = await request(t.app)
        .post('/system/functions')
        .send({ service: 'Bad_Name', image: '', limits: { memory: 'lots' } })
        .expect(400);
      expect(res.text).to.include('service: "Bad_Name"');
      expect(res.text).to.include('image: is required');
      expect(res.text).to.include('limits.memory');
      expect(res.text.endsWith('\n')).to.equal(true);
      expect(t.backend.calls).to.have.length(0);
    });

    it('answers 400 for an unknown namespace and touches nothing', async () => {
      await request(t.app).post('/system/functions').send(deployment('figlet', { namespace: 'nope' })).expect(400);
      expect(t.backend.calls).to.have.length(0);
    });

    it('answers 400 when the backend says the request is invalid (a missing secret)', async () => {
      const res = await request(t.app).post('/system/functions').send(deployment('figlet', { secrets: ['missing'] })).expect(400);
      expect(res.text).to.equal('secret missing does not exist\n');
    });

    it('updates an existing function instead of failing, and still answers 202', async () => {
      await request(t.app).post('/system/functions').send(deployment('figlet')).expect(202);
      await request(t.app).post('/system/functions').send(deployment('figlet', { image: 'functions/figlet:2' })).expect(202);
      expect(t.backend.callsOf('update')).to.have.length(1);
      expect(t.backend.functions.get('openfaas-fn/figlet')!.fd.image).to.equal('functions/figlet:2');
    });
  });

  describe('PUT /system/functions', () => {
    it('answers 404 for a function that does not exist', async () => {
      const res = await request(t.app).put('/system/functions').send(deployment('figlet')).expect(404);
      expect(res.text).to.equal('function figlet not found\n');
    });

    it('updates an existing function and answers 202', async () => {
      t.backend.addFunction({ service: 'figlet', image: 'old', namespace: 'openfaas-fn' });
      await request(t.app).put('/system/functions').send(deployment('figlet')).expect(202);
      expect(t.backend.functions.get('openfaas-fn/figlet')!.fd.image).to.equal('functions/figlet:latest');
    });

    it('answers 400 for an invalid body before asking the backend', async () => {
      await request(t.app).put('/system/functions').send({ service: 'figlet' }).expect(400);
      expect(t.backend.calls).to.have.length(0);
    });
  });

  describe('DELETE /system/functions', () => {
    it('removes a function and answers 202', async () => {
      t.backend.addFunction({ service: 'figlet', image: 'i', namespace: 'openfaas-fn' });
      await request(t.app).delete('/system/functions').send({ functionName: 'figlet' }).expect(202);
      expect(t.backend.functions.size).to.equal(0);
    });

    it('answers 404 for a function that does not exist', async () => {
      await request(t.app).delete('/system/functions').send({ functionName: 'figlet' }).expect(404);
    });

    it('answers 400 when functionName is missing', async () => {
      const res = await request(t.app).delete('/system/functions').send({}).expect(400);
      expect(res.text).to.equal('functionName: is required\n');
    });

    it('reads a chunked JSON body without Content-Length', async () => {
      t.backend.addFunction({ service: 'figlet', image: 'i', namespace: 'team-a' });
      const req = request(t.app).delete('/system/functions').set('Transfer-Encoding', 'chunked');
      req.write('{"functionName":');
      req.write('"figlet","namespace":"team-a"}');
      await req.expect(202);
      expect(t.backend.callsOf('remove')[0]!.args).to.deep.equal(['team-a', 'figlet']);
    });

    it('takes the namespace from the query as the UI sends it', async () => {
      t.backend.addFunction({ service: 'figlet', image: 'i', namespace: 'team-a' });
      await request(t.app).delete('/system/functions?namespace=team-a').send({ functionName: 'figlet' }).expect(202);
      expect(t.backend.callsOf('remove')[0]!.args).to.deep.equal(['team-a', 'figlet']);
    });
  });

  describe('GET /system/function/:name', () => {
    it('answers the status with labels and annotations objects', async () => {
      t.backend.addFunction({ service: 'figlet', image: 'i', namespace: 'openfaas-fn' });
      const res = await request(t.app).get('/system/function/figlet?usage=1').expect(200);
      expect(res.headers['content-type']).to.match(/^application\/json/);
      expect(res.body.name).to.equal('figlet');
      expect(res.body.namespace).to.equal('openfaas-fn');
      expect(res.body.labels).to.be.an('object');
      expect(res.body.annotations).to.be.an('object');
    });

    it('answers 404 for a function that does not exist', async () => {
      await request(t.app).get('/system/function/nope').expect(404);
    });

    it('reads the namespace from the query', async () => {
      t.backend.addFunction({ service: 'figlet', image: 'i', namespace: 'team-a' });
      await request(t.app).get('/system/function/figlet?namespace=team-a&usage=false').expect(200);
      await request(t.app).get('/system/function/figlet').expect(404);
    });
  });

  it('answers 405 for a known path with the wrong method', async () => {
    await request(t.app).patch('/system/functions').send({}).expect(405);
    await request(t.app).post('/system/function/figlet').expect(405);
  });
});
