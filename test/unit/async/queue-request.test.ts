import { expect } from 'chai';
import {
  callbackTarget,
  decodeQueueRequest,
  encodeQueueRequest,
  goUrlString,
  InvalidUrlError,
  parseGoUrl,
  QueueRequestDecodeError,
  type GoUrl,
  type QueueRequest,
} from '../../../src/async/queue-request.js';

const blankUrl: GoUrl = {
  Scheme: '',
  Opaque: '',
  User: null,
  Host: '',
  Path: '',
  RawPath: '',
  OmitHost: false,
  ForceQuery: false,
  RawQuery: '',
  Fragment: '',
  RawFragment: '',
};

function req(over: Partial<QueueRequest>): QueueRequest {
  return {
    header: {},
    host: '',
    body: Buffer.alloc(0),
    method: 'POST',
    path: '',
    queryString: '',
    function: 'figlet',
    queueName: '',
    annotations: {},
    callbackUrl: null,
    ...over,
  };
}

describe('parseGoUrl fills url.URL like Go url.Parse', () => {
  const cases: { name: string; raw: string; want: Partial<GoUrl> }[] = [
    { name: 'keeps host and port as written and splits path and query', raw: 'http://cb:8888/done?k=v', want: { Scheme: 'http', Host: 'cb:8888', Path: '/done', RawQuery: 'k=v' } },
    { name: 'leaves Path empty for a bare host', raw: 'https://example.com', want: { Scheme: 'https', Host: 'example.com', Path: '' } },
    { name: 'lower-cases the scheme only', raw: 'HTTP://Example.COM/A', want: { Scheme: 'http', Host: 'Example.COM', Path: '/A' } },
    { name: 'decodes the path and keeps RawPath when the escaping is not the default one', raw: 'http://h/a%2Fb', want: { Path: '/a/b', RawPath: '/a%2Fb' } },
    { name: 'decodes the path and leaves RawPath empty when escaping is the default one', raw: 'http://h/a%20b', want: { Path: '/a b', RawPath: '' } },
    { name: 'sets ForceQuery for a trailing question mark', raw: 'http://h/x?', want: { Path: '/x', ForceQuery: true, RawQuery: '' } },
    { name: 'splits off the fragment', raw: 'http://h/x?q=1#frag', want: { Path: '/x', RawQuery: 'q=1', Fragment: 'frag' } },
    { name: 'serialises credentials as an empty User object (Userinfo has no exported fields)', raw: 'http://u:p@h/x', want: { User: {}, Host: 'h', Path: '/x' } },
    { name: 'keeps an IPv6 host with brackets', raw: 'http://[::1]:8080/', want: { Host: '[::1]:8080', Path: '/' } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(parseGoUrl(c.raw)).to.deep.equal({ ...blankUrl, Scheme: 'http', ...c.want, ...(c.want.Host === undefined ? { Host: 'h' } : {}) });
    });
  }

  const invalid: { name: string; raw: string }[] = [
    { name: 'rejects a relative URL', raw: '/callback' },
    { name: 'rejects words', raw: 'not a url' },
    { name: 'rejects other schemes', raw: 'ftp://h/x' },
    { name: 'rejects a missing host', raw: 'http:///x' },
    { name: 'rejects a broken percent escape', raw: 'http://h/%zz' },
    { name: 'rejects an invalid port', raw: 'http://h:99999/' },
  ];
  for (const c of invalid) {
    it(c.name, () => {
      expect(() => parseGoUrl(c.raw)).to.throw(InvalidUrlError);
    });
  }

  it('round-trips through goUrlString', () => {
    for (const raw of ['http://cb:8888/done?k=v', 'https://h/a%2Fb?x#f', 'http://h/a%20b', 'http://h']) {
      expect(goUrlString(parseGoUrl(raw))).to.equal(raw);
    }
  });
});

describe('encodeQueueRequest writes Go encoding/json output for types.QueueRequest', () => {
  it('orders the keys like the Go struct and drops empty omitempty fields', () => {
    const json = encodeQueueRequest(req({ header: { 'X-Call-Id': ['id1'] }, host: 'gw:8080', body: Buffer.from('hi'), callbackUrl: parseGoUrl('http://cb:8888/') }));
    expect(json).to.equal(
      '{"Header":{"X-Call-Id":["id1"]},"Host":"gw:8080","Body":"aGk=","Method":"POST","Function":"figlet",' +
        '"CallbackUrl":{"Scheme":"http","Opaque":"","User":null,"Host":"cb:8888","Path":"/","RawPath":"","OmitHost":false,"ForceQuery":false,"RawQuery":"","Fragment":"","RawFragment":""}}',
    );
  });

  it('always writes Method and Function, even when nothing else is set', () => {
    expect(encodeQueueRequest(req({}))).to.equal('{"Method":"POST","Function":"figlet"}');
  });

  it('writes Path, QueryString, QueueName and Annotations when set', () => {
    const j = JSON.parse(encodeQueueRequest(req({ path: '/a', queryString: 'x=1', queueName: 'q', annotations: { k: 'v' } }))) as Record<string, unknown>;
    expect(Object.keys(j)).to.deep.equal(['Method', 'Path', 'QueryString', 'Function', 'QueueName', 'Annotations']);
  });
});

describe('decodeQueueRequest reads what OpenFaaS tooling writes', () => {
  it('decodes the contract example and fills Go zero values', () => {
    const r = decodeQueueRequest(
      '{"Header":{"X-Call-Id":["4d6f"],"X-Callback-Url":["http://cb:8888/"]},"Host":"gw:8080","Body":"aGk=","Method":"POST","Function":"figlet","CallbackUrl":{"Scheme":"http","Host":"cb:8888","Path":"/","User":null}}',
    );
    expect(r.body.toString()).to.equal('hi');
    expect(r.header['X-Call-Id']).to.deep.equal(['4d6f']);
    expect(r.path).to.equal('');
    expect(r.queryString).to.equal('');
    expect(r.callbackUrl).to.deep.equal({ ...blankUrl, Scheme: 'http', Host: 'cb:8888', Path: '/' });
  });

  it('round-trips an encoded request', () => {
    const original = req({ header: { 'Content-Type': ['text/plain'], 'X-A': ['1', '2'] }, host: 'h', body: Buffer.from([0, 255, 10]), method: 'PUT', path: '/p', queryString: 'q=1', function: 'f.ns', callbackUrl: parseGoUrl('https://cb/x?y#z') });
    expect(decodeQueueRequest(Buffer.from(encodeQueueRequest(original)))).to.deep.equal(original);
  });

  it('defaults a missing Method to POST, as the CE worker always posts', () => {
    expect(decodeQueueRequest('{"Function":"f"}').method).to.equal('POST');
  });

  const bad: { name: string; raw: string }[] = [
    { name: 'rejects text that is not JSON', raw: 'hello' },
    { name: 'rejects a JSON array', raw: '[]' },
    { name: 'rejects a message without Function', raw: '{"Method":"POST"}' },
    { name: 'rejects header values that are not string arrays', raw: '{"Function":"f","Header":{"A":"b"}}' },
    { name: 'rejects CallbackUrl given as a plain string', raw: '{"Function":"f","CallbackUrl":"http://cb/"}' },
  ];
  for (const c of bad) {
    it(c.name, () => {
      expect(() => decodeQueueRequest(c.raw)).to.throw(QueueRequestDecodeError);
    });
  }
});

describe('callbackTarget', () => {
  it('prefers the X-Callback-Url header as sent, which keeps credentials', () => {
    expect(callbackTarget(req({ header: { 'X-Callback-Url': ['http://u:p@h/x'] }, callbackUrl: parseGoUrl('http://u:p@h/x') }))).to.equal('http://u:p@h/x');
  });
  it('falls back to the CallbackUrl object', () => {
    expect(callbackTarget(req({ callbackUrl: parseGoUrl('http://h:1/x?y=2') }))).to.equal('http://h:1/x?y=2');
  });
  it('is undefined without either', () => {
    expect(callbackTarget(req({}))).to.equal(undefined);
  });
});
