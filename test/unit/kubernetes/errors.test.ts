import { expect } from 'chai';
import { BackendError } from '../../../src/backends/backend.js';
import { kindForStatusCode, statusMessage, toBackendError } from '../../../src/backends/kubernetes/errors.js';

const statusBody = (code: number, reason: string, message: string) =>
  JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });

describe('kubernetes errors: one table from API status to BackendError kind', () => {
  const cases = [
    { name: 'maps 404 to NotFound', code: 404, want: 'NotFound' },
    { name: 'maps 409 (AlreadyExists or Conflict) to Conflict', code: 409, want: 'Conflict' },
    { name: 'maps 410 (expired resourceVersion) to Conflict', code: 410, want: 'Conflict' },
    { name: 'maps 400 to Invalid', code: 400, want: 'Invalid' },
    { name: 'maps 422 to Invalid', code: 422, want: 'Invalid' },
    { name: 'maps 415 to Invalid', code: 415, want: 'Invalid' },
    { name: 'maps 401 (our credentials) to Unavailable', code: 401, want: 'Unavailable' },
    { name: 'maps 403 (our RBAC) to Unavailable', code: 403, want: 'Unavailable' },
    { name: 'maps 429 to Unavailable', code: 429, want: 'Unavailable' },
    { name: 'maps 500 to Unavailable', code: 500, want: 'Unavailable' },
    { name: 'maps 503 to Unavailable', code: 503, want: 'Unavailable' },
  ];
  for (const c of cases) it(c.name, () => expect(kindForStatusCode(c.code)).to.equal(c.want));

  it("keeps the API server's message from a Status body given as text", () => {
    const e = toBackendError({ code: 404, body: statusBody(404, 'NotFound', 'deployments.apps "x" not found') }, 'read');
    expect(e).to.be.instanceOf(BackendError);
    expect(e.kind).to.equal('NotFound');
    expect(e.message).to.equal('deployments.apps "x" not found');
  });

  it("keeps the API server's message from a parsed Status body", () => {
    const e = toBackendError({ code: 409, body: { message: 'deployments.apps "x" already exists' } }, 'create');
    expect([e.kind, e.message]).to.deep.equal(['Conflict', 'deployments.apps "x" already exists']);
  });

  it('uses a plain-text body as the message', () => {
    expect(statusMessage('404 page not found\n')).to.equal('404 page not found');
  });

  it('maps an error without a status code (connection refused) to Unavailable and says what was being done', () => {
    const e = toBackendError(Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }), 'list namespaces');
    expect(e.kind).to.equal('Unavailable');
    expect(e.message).to.contain('list namespaces').and.contain('ECONNREFUSED');
  });

  it('passes a BackendError through unchanged', () => {
    const orig = new BackendError('Invalid', 'bad');
    expect(toBackendError(orig, 'x')).to.equal(orig);
  });
});
