/**
 * bench/router/servers: one server per process for bench/router/run. argv[2] picks the kind: upstream (a trivial
 * function), router (our provider app over a fake backend with one instance), http-proxy, undici (a bare undici Pool
 * hop). argv[3] is the upstream URL. Each listens on 127.0.0.1:0 and reports { port } over IPC.
 */
import { createServer, Agent, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import httpProxy from 'http-proxy';
import { Registry } from 'prom-client';
import { Pool } from 'undici';
import { createApp, requestListener } from '../../src/api/app.js';
import { readConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { GlobalScheduler } from '../../src/gs/global-scheduler.js';
import { FakeBackend } from '../../test/support/fake-backend.js';

const kind = process.argv[2];
const upstream = process.argv[3] ?? '';

function build(): Server {
  switch (kind) {
    case 'upstream':
      return createServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '2' });
        res.end('ok');
      });
    case 'router': {
      const config = readConfig({});
      const backend = new FakeBackend();
      backend.addFunction({ service: 'hello', image: 'bench', namespace: 'openfaas-fn' });
      backend.addInstance('openfaas-fn', 'hello', upstream);
      const logger = silentLogger();
      const scheduler = new GlobalScheduler({ backend, logger });
      scheduler.start();
      const app = createApp({ config, backend, scheduler, logger, registry: new Registry() });
      return createServer(requestListener(app));
    }
    case 'http-proxy': {
      const proxy = httpProxy.createProxyServer({ target: upstream, agent: new Agent({ keepAlive: true, maxSockets: 256 }) });
      proxy.on('error', (_e, _req, res) => {
        if ('writeHead' in res) res.writeHead(502).end();
      });
      return createServer((req, res) => proxy.web(req, res));
    }
    case 'undici': {
      const pool = new Pool(upstream, { connections: 256 });
      return createServer((req, res) => {
        pool
          .request({ method: req.method as 'GET', path: req.url ?? '/', headers: {}, body: req.method === 'GET' ? null : req })
          .then((r) => {
            res.writeHead(r.statusCode, r.headers as Record<string, string>);
            pipeline(r.body, res, () => undefined);
          })
          .catch(() => res.writeHead(502).end());
      });
    }
    default:
      throw new Error(`unknown server kind ${kind}`);
  }
}

const server = build();
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
process.on('disconnect', () => process.exit(0));
