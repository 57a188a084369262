import { expect } from 'chai';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../../src/backends/local/store.js';

describe('local backend store', () => {
  let dir: string;
  let store: Store;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hf-store-'));
    store = new Store(dir);
    await store.init();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('saves and loads functions with their createdAt and desired replicas', async () => {
    const spec = { service: 'echo', image: 'hyperfaas/echo', namespace: 'openfaas-fn', labels: { a: 'b' } };
    await store.saveFunction({ spec, createdAt: '2026-01-01T00:00:00.000Z', replicas: 3 });
    await store.saveFunction({ spec: { ...spec, service: 'other', namespace: 'team' }, createdAt: '2026-01-02T00:00:00.000Z', replicas: 0 });
    const got = await new Store(dir).loadFunctions();
    expect(got).to.have.deep.members([
      { spec, createdAt: '2026-01-01T00:00:00.000Z', replicas: 3 },
      { spec: { ...spec, service: 'other', namespace: 'team' }, createdAt: '2026-01-02T00:00:00.000Z', replicas: 0 },
    ]);
  });

  it('deletes a function and leaves no temp files behind', async () => {
    const spec = { service: 'echo', image: 'i', namespace: 'openfaas-fn' };
    await store.saveFunction({ spec, createdAt: 'x', replicas: 1 });
    await store.saveFunction({ spec, createdAt: 'x', replicas: 2 });
    expect(await readdir(join(dir, 'functions/openfaas-fn'))).to.deep.equal(['echo.json']);
    await store.deleteFunction('openfaas-fn', 'echo');
    expect(await store.loadFunctions()).to.deep.equal([]);
  });

  it('skips and reports an unreadable function file', async () => {
    await store.saveFunction({ spec: { service: 'ok', image: 'i', namespace: 'openfaas-fn' }, createdAt: 'x', replicas: 1 });
    await writeFile(join(dir, 'functions/openfaas-fn/broken.json'), '{');
    const bad: string[] = [];
    const got = await store.loadFunctions((f) => bad.push(f));
    expect(got.map((f) => f.spec.service)).to.deep.equal(['ok']);
    expect(bad).to.deep.equal([join(dir, 'functions/openfaas-fn/broken.json')]);
  });

  it('keeps secrets owner-only: 0700 directories and 0600 files', async () => {
    await store.writeSecret('openfaas-fn', 'db-pass', Buffer.from([0, 1, 2, 255]));
    expect((await stat(join(dir, 'secrets'))).mode & 0o777).to.equal(0o700);
    expect((await stat(join(dir, 'secrets/openfaas-fn'))).mode & 0o777).to.equal(0o700);
    expect((await stat(join(dir, 'secrets/openfaas-fn/db-pass'))).mode & 0o777).to.equal(0o600);
    const all = await new Store(dir).loadSecrets();
    expect(all.get('openfaas-fn')?.get('db-pass')).to.deep.equal(Buffer.from([0, 1, 2, 255]));
    await store.deleteSecret('openfaas-fn', 'db-pass');
    expect((await store.loadSecrets()).get('openfaas-fn')?.size).to.equal(0);
  });

  const unsafe = ['../etc', 'a/b', 'UPPER', '', '.hidden'];
  for (const name of unsafe) {
    it(`refuses the unsafe name ${JSON.stringify(name)}`, async () => {
      let err: unknown;
      await store.writeSecret('openfaas-fn', name, Buffer.from('x')).catch((e) => (err = e));
      expect(String(err)).to.contain('unsafe');
    });
  }
});
