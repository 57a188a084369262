import { expect } from 'chai';
import request from 'supertest';
import { once } from 'node:events';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LogMessage } from '../../../src/types/index.js';
import { buildApp, type TestApp } from './build-app.js';

const line = (n: number, fn = 'figlet', ts = `2026-01-01T00:00:0${n}.000000001Z`): LogMessage => ({
  name: fn,
  namespace: 'openfaas-fn',
  instance: 'figlet-1',
  timestamp: ts,
  text: `line ${n}`,
});

function parseNdjson(text: string): LogMessage[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as LogMessage);
}

describe('api: GET /system/logs', () => {
  let t: TestApp;
  beforeEach(() => {
    t = buildApp();
    t.backend.addFunction({ service: 'figlet', image: 'i', namespace: 'openfaas-fn' });
    for (let i = 1; i <= 3; i++) t.backend.pushLog(line(i));
    t.backend.pushLog(line(4, 'other'));
  });
  afterEach(() => t.close());

  it('streams NDJSON with all five keys and ends when follow=false', async () => {
    const res = await request(t.app).get('/system/logs?name=figlet&follow=false&tail=-1').expect(200);
    expect(res.headers['content-type']).to.equal('application/x-ndjson');
    const msgs = parseNdjson(res.text);
    expect(msgs.map((m) => m.text)).to.deep.equal(['line 1', 'line 2', 'line 3']);
    expect(Object.keys(msgs[0]!).sort()).to.deep.equal(['instance', 'name', 'namespace', 'text', 'timestamp']);
  });

  it('passes tail, since and instance to the backend, the last repeated value winning', async () => {
    await request(t.app)
      .get('/system/logs?name=figlet&follow=false&tail=5&tail=2&since=2026-01-01T00:00:02Z&instance=figlet-1')
      .expect(200);
    const req = t.backend.callsOf('logs')[0]!.args[0] as { tail: number; since: Date; instance: string; follow: boolean };
    expect(req.tail).to.equal(2);
    expect(req.since.toISOString()).to.equal('2026-01-01T00:00:02.000Z');
    expect(req.instance).to.equal('figlet-1');
    expect(req.follow).to.equal(false);
  });

  it('answers 422 for a tail that is not an integer', async () => {
    const res = await request(t.app).get('/system/logs?name=figlet&tail=many').expect(422);
    expect(res.text).to.match(/^could not parse the log request/);
  });

  it('answers 422 for a since that is not RFC 3339', async () => {
    await request(t.app).get('/system/logs?name=figlet&since=yesterday').expect(422);
  });

  it('answers 400 without a name', async () => {
    await request(t.app).get('/system/logs').expect(400);
  });

  it('answers 404 for an unknown function', async () => {
    await request(t.app).get('/system/logs?name=nope&follow=false').expect(404);
  });

  describe('with follow=true', () => {
    let server: Server;
    before(() => undefined);
    afterEach(async () => {
      server?.closeAllConnections();
      await new Promise((r) => server?.close(r));
    });

    it('writes each new line as it arrives, then stops when the client leaves', async () => {
      server = createServer(t.app).listen(0, '127.0.0.1');
      await once(server, 'listening');
      const { port } = server.address() as AddressInfo;
      const received: string[] = [];
      const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
        get(`http://127.0.0.1:${port}/system/logs?name=figlet&follow=true&tail=1`, resolve).on('error', reject);
      });
      expect(res.statusCode).to.equal(200);
      res.setEncoding('utf8');
      let buf = '';
      const waitFor = (n: number): Promise<void> =>
        new Promise((resolve) => {
          const check = (): void => {
            if (received.length >= n) {
              res.off('data', onData);
              resolve();
            }
          };
          const onData = (d: string): void => {
            buf += d;
            const parts = buf.split('\n');
            buf = parts.pop()!;
            received.push(...parts.filter((p) => p !== ''));
            check();
          };
          res.on('data', onData);
          check();
        });
      await waitFor(1);
      expect(JSON.parse(received[0]!).text).to.equal('line 3');
      t.backend.pushLog(line(5));
      await waitFor(2);
      expect(JSON.parse(received[1]!).text).to.equal('line 5');
      res.destroy();
    });
  });
});
