import { expect } from 'chai';
import { assertLoopbackTarget, errorCode, runLoad } from '../../../bench/loadgen/loadgen.js';

describe('loadgen: target and errors', () => {
  const allowed = ['http://127.0.0.1:8080/function/f', 'http://localhost:1/', 'http://[::1]:8080/x'];
  for (const t of allowed) it(`accepts the loopback target ${t}`, () => expect(assertLoopbackTarget(t).toString()).to.be.a('string'));

  const refused = ['http://10.0.0.1/x', 'http://example.com/', 'http://127.0.0.2/', 'http://0.0.0.0:8080/', 'ftp://127.0.0.1/', 'not a url'];
  for (const t of refused) it(`refuses ${t}`, () => expect(() => assertLoopbackTarget(t)).to.throw(/loadgen/));

  it('refuses a non-loopback target before sending anything', async () => {
    let threw = false;
    try {
      await runLoad({ target: 'http://192.168.1.1/', schedule: { sendAt: [0], durationMs: 1 } });
    } catch (e) {
      threw = true;
      expect(String(e)).to.contain('refused');
    }
    expect(threw).to.equal(true);
  });

  const codes = [
    { name: 'a timeout we fired is TIMEOUT', err: new Error('x'), timedOut: true, want: 'TIMEOUT' },
    { name: 'undici headers timeout is TIMEOUT', err: Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), timedOut: false, want: 'TIMEOUT' },
    { name: 'an abort is ABORTED', err: Object.assign(new Error('x'), { name: 'AbortError' }), timedOut: false, want: 'ABORTED' },
    { name: 'a socket error keeps its code', err: Object.assign(new Error('x'), { code: 'ECONNRESET' }), timedOut: false, want: 'ECONNRESET' },
    { name: 'a wrapped cause code is used', err: Object.assign(new Error('x'), { cause: { code: 'ECONNREFUSED' } }), timedOut: false, want: 'ECONNREFUSED' },
  ];
  for (const c of codes) it(c.name, () => expect(errorCode(c.err, c.timedOut)).to.equal(c.want));
});
