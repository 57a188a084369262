import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import request from 'supertest';
import { sameSecret } from '../../../src/api/middleware/basic-auth.js';
import { buildApp, type TestApp } from './build-app.js';

const basic = (u: string, p: string): string => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

describe('api: basic auth', () => {
  describe('when basic_auth=true', () => {
    let dir: string;
    let t: TestApp;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'hf-auth-'));
      writeFileSync(join(dir, 'basic-auth-user'), 'admin\n');
      writeFileSync(join(dir, 'basic-auth-password'), ' s3cret \n');
    });
    after(() => rmSync(dir, { recursive: true, force: true }));
    beforeEach(() => {
      t = buildApp({ basic_auth: 'true', secret_mount_path: dir });
    });
    afterEach(() => t.close());

    const protectedRoutes: [string, string][] = [
      ['get', '/system/functions'],
      ['post', '/system/functions'],
      ['put', '/system/functions'],
      ['delete', '/system/functions'],
      ['get', '/system/function/figlet'],
      ['post', '/system/scale-function/figlet'],
      ['get', '/system/info'],
      ['get', '/system/secrets'],
      ['post', '/system/secrets'],
      ['put', '/system/secrets'],
      ['delete', '/system/secrets'],
      ['get', '/system/logs?name=figlet'],
    ];
    for (const [method, path] of protectedRoutes) {
      it(`answers 401 to ${method.toUpperCase()} ${path} without credentials`, async () => {
        const res = await (request(t.app) as unknown as Record<string, (p: string) => request.Test>)[method]!(path).expect(401);
        expect(res.headers['www-authenticate']).to.equal('Basic realm="Restricted"');
        expect(res.text).to.equal('invalid credentials\n');
        expect(t.backend.calls).to.have.length(0);
      });
    }

    it('answers 401 to a wrong password', async () => {
      await request(t.app).get('/system/functions').set('Authorization', basic('admin', 'nope')).expect(401);
    });

    it('answers 401 to a wrong user', async () => {
      await request(t.app).get('/system/functions').set('Authorization', basic('root', 's3cret')).expect(401);
    });

    it("answers 401 to faas-cli's empty Bearer header", async () => {
      await request(t.app).get('/system/functions').set('Authorization', 'Bearer ').expect(401);
    });

    it('accepts the trimmed credentials from the files', async () => {
      await request(t.app).get('/system/functions').set('Authorization', basic('admin', 's3cret')).expect(200);
    });

    const openRoutes: [string, number][] = [
      ['/system/namespaces', 200],
      ['/healthz', 200],
      ['/metrics', 200],
      ['/system/namespace/x', 501],
      ['/function/figlet', 404],
    ];
    for (const [path, code] of openRoutes) {
      it(`leaves ${path} open`, async () => {
        await request(t.app).get(path).expect(code);
      });
    }
  });

  describe('when basic_auth is off', () => {
    it("ignores faas-cli's empty Bearer header", async () => {
      const t = buildApp();
      try {
        await request(t.app).get('/system/functions').set('Authorization', 'Bearer ').expect(200);
      } finally {
        await t.close();
      }
    });
  });

  it('refuses to build the app when the credential files are missing', () => {
    expect(() => buildApp({ basic_auth: 'true', secret_mount_path: '/nonexistent-hf' })).to.throw('basic-auth-user');
  });

  describe('sameSecret', () => {
    const cases: [string, string, boolean][] = [
      ['a', 'a', true],
      ['a', 'b', false],
      ['', '', true],
      ['short', 'a much longer secret', false],
    ];
    for (const [a, b, want] of cases) {
      it(`says "${a}" and "${b}" are ${want ? '' : 'not '}the same`, () => {
        expect(sameSecret(a, b)).to.equal(want);
      });
    }
  });
});
