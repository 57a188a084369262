import { expect } from 'chai';
import { depthByFunction } from '../../../src/async/depth.js';
import { isSubjectToken, splitAsyncUrl } from '../../../src/async/names.js';
import { canonicalHeaderKey, groupHeaderPairs, headerPairsFromRaw, headerPairsFromSet, toNodeHeaders } from '../../../src/messaging/headers.js';

describe('isSubjectToken', () => {
  it('refuses names that cannot be one NATS subject token', () => {
    expect(isSubjectToken('figlet-2_x')).to.equal(true);
    for (const bad of ['a.b', 'a*', '>', 'a b', '']) expect(isSubjectToken(bad), bad).to.equal(false);
  });
});

describe('splitAsyncUrl', () => {
  const cases: { name: string; url: string; want: { name: string; path: string; query: string } }[] = [
    { name: 'gives an empty path for the bare route', url: '/async-function/f', want: { name: 'f', path: '', query: '' } },
    { name: 'gives "/" for a trailing slash', url: '/async-function/f/', want: { name: 'f', path: '/', query: '' } },
    { name: 'keeps the sub-path raw', url: '/async-function/f.ns/a/b%20c', want: { name: 'f.ns', path: '/a/b%20c', query: '' } },
    { name: 'splits the raw query', url: '/async-function/f/x?a=1&b=%20', want: { name: 'f', path: '/x', query: 'a=1&b=%20' } },
    { name: 'reads the name before a query', url: '/async-function/f?a=1', want: { name: 'f', path: '', query: 'a=1' } },
    { name: 'gives an empty name for the bare prefix', url: '/async-function/', want: { name: '', path: '', query: '' } },
    { name: 'works under a prefix', url: '/api/async-function/f/y', want: { name: 'f', path: '/y', query: '' } },
  ];
  for (const c of cases) it(c.name, () => expect(splitAsyncUrl(c.url)).to.deep.equal(c.want));
});

describe('canonicalHeaderKey (Go textproto.CanonicalMIMEHeaderKey)', () => {
  const cases: { name: string; key: string; want: string }[] = [
    { name: 'capitalises each dash-separated word', key: 'x-call-id', want: 'X-Call-Id' },
    { name: 'lower-cases the rest', key: 'CONTENT-TYPE', want: 'Content-Type' },
    { name: 'handles a single word', key: 'accept', want: 'Accept' },
    { name: 'capitalises after a leading dash', key: '-foo', want: '-Foo' },
    { name: 'keeps a key with a space unchanged', key: 'bad key', want: 'bad key' },
    { name: 'keeps digits', key: 'x-b3-traceid', want: 'X-B3-Traceid' },
  ];
  for (const c of cases) it(c.name, () => expect(canonicalHeaderKey(c.key)).to.equal(c.want));
});

describe('header mapping between HTTP and NATS/Go shapes', () => {
  it('keeps repeated raw headers in order and drops skipped ones', () => {
    const pairs = headerPairsFromRaw(['Host', 'h', 'x-a', '1', 'X-A', '2', 'transfer-encoding', 'chunked'], new Set(['host', 'transfer-encoding']));
    expect(groupHeaderPairs(pairs)).to.deep.equal({ 'X-A': ['1', '2'] });
  });

  it('expands array values into repeated pairs', () => {
    expect(headerPairsFromSet({ 'set-cookie': ['a=1', 'b=2'], 'content-length': 3, skip: undefined })).to.deep.equal([
      ['Set-Cookie', 'a=1'],
      ['Set-Cookie', 'b=2'],
      ['Content-Length', '3'],
    ]);
  });

  it('turns a Go header map back into Node headers, merging case variants and skipping hop-by-hop', () => {
    expect(toNodeHeaders({ 'X-A': ['1'], 'x-a': ['2'], Connection: ['close'], 'Content-Type': ['text/plain'] }, new Set(['connection']))).to.deep.equal({
      'x-a': ['1', '2'],
      'content-type': 'text/plain',
    });
  });
});

describe('depthByFunction', () => {
  it('counts messages per name.namespace and puts bare-subject messages under unknown', () => {
    const got = depthByFunction({ 'faas-request.openfaas-fn.echo': 3, 'faas-request.team.echo': 1, 'faas-request': 2 });
    expect(Object.fromEntries(got)).to.deep.equal({ 'echo.openfaas-fn': 3, 'echo.team': 1, unknown: 2 });
  });
});

describe('toNatsHeaders / fromNatsHeaders', () => {
  it('carries canonical keys and repeated values through NATS headers and back', async () => {
    const { fromNatsHeaders, toNatsHeaders } = await import('../../../src/messaging/nats.js');
    const h = toNatsHeaders({ 'x-call-id': 'abc', 'set-cookie': ['a=1', 'b=2'], host: 'skip-me' }, new Set(['host']));
    expect(h.keys().sort()).to.deep.equal(['Set-Cookie', 'X-Call-Id']);
    expect(h.values('Set-Cookie')).to.deep.equal(['a=1', 'b=2']);
    expect(fromNatsHeaders(h)).to.deep.equal({ 'X-Call-Id': ['abc'], 'Set-Cookie': ['a=1', 'b=2'] });
    expect(fromNatsHeaders(undefined)).to.deep.equal({});
  });
});
