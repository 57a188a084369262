// HyperFaaS Node function runtime (no dependencies).
//
//   node server.js <functionDir>   serve <functionDir>/function/handler.js on $http_port (default 3000)
//   node server.js --generic       listen at once (answering 503), wait for IPC {type:'specialise', dir, port, env},
//                                  answer {type:'ready'} once the handler serves; {type:'release'} ends the process.
//
// The handler follows the OpenFaaS node template convention:
//   module.exports = async (event, context) => context.status(200).headers({...}).succeed(body)
// with event = {body, headers, method, query, path}; body is parsed JSON for application/json, a string for text/*,
// a Buffer otherwise, and {} when the request has no body. A returned value is sent when succeed/fail was not called.
import http from 'node:http';
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

class FunctionEvent {
  constructor(req, body, url) {
    this.body = body;
    this.headers = req.headers;
    this.method = req.method;
    const q = {};
    for (const [k, v] of url.searchParams) {
      if (k in q) q[k] = Array.isArray(q[k]) ? [...q[k], v] : [q[k], v];
      else q[k] = v;
    }
    this.query = q;
    this.path = url.pathname;
  }
}

class FunctionContext {
  constructor(cb) {
    this.statusCode = 200;
    this.headerValues = {};
    this.cb = cb;
    this.cbCalled = 0;
  }
  status(code) {
    if (code === undefined) return this.statusCode;
    this.statusCode = code;
    return this;
  }
  headers(values) {
    if (values === undefined) return this.headerValues;
    this.headerValues = values;
    return this;
  }
  succeed(value) {
    this.cbCalled++;
    this.cb(undefined, value);
  }
  fail(value) {
    this.cbCalled++;
    this.cb(value === undefined ? new Error('function failed') : value);
  }
}

function hasBody(req) {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
}

// readBody buffers a request body. It rejects when the client goes away before sending all of it (a declared
// Content-Length never reached, a chunked body never finished): node:http then emits 'error' (or only 'close'),
// and the caller must drop the request rather than let the rejection go unhandled and end the process.
function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('client closed the request before its body was complete'));
    });
  });
}

function parseBody(req, buf) {
  const type = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  if (type === 'application/json' || type.endsWith('+json')) return buf.length ? JSON.parse(buf.toString('utf8')) : {};
  if (type.startsWith('text/') || type === '') return buf.toString('utf8');
  return buf;
}

/** requestListener wraps a handler function into a node:http listener. */
export function requestListener(handler) {
  const serve = async (req, res) => {
    let body = {};
    if (hasBody(req)) {
      let buf;
      try {
        buf = await readBody(req);
      } catch (err) {
        // Nobody is left to answer: drop the request, keep serving the others.
        console.error(`request dropped: ${err && err.message ? err.message : String(err)}`);
        res.destroy();
        return;
      }
      try {
        body = parseBody(req, buf);
      } catch (err) {
        res.writeHead(400, { 'Content-Type': 'text/plain' });
        res.end(`invalid JSON body: ${err.message}\n`);
        return;
      }
    }
    let done = false;
    const cb = (err, result) => {
      if (done) return;
      done = true;
      if (err) {
        console.error(err);
        const code = ctx.statusCode >= 400 ? ctx.statusCode : 500;
        res.writeHead(code, { 'Content-Type': 'text/plain' });
        res.end(err && err.toString ? err.toString() : String(err));
        return;
      }
      const hdrs = ctx.headerValues || {};
      let out = result;
      let type;
      if (out === undefined || out === null) out = '';
      else if (Buffer.isBuffer(out) || out instanceof Uint8Array) type = 'application/octet-stream';
      else if (typeof out === 'object') {
        out = JSON.stringify(out);
        type = 'application/json; charset=utf-8';
      } else {
        out = String(out);
        type = 'text/html; charset=utf-8';
      }
      const has = Object.keys(hdrs).some((k) => k.toLowerCase() === 'content-type');
      res.writeHead(ctx.statusCode, has || !type ? hdrs : { 'Content-Type': type, ...hdrs });
      res.end(out);
    };
    const ctx = new FunctionContext(cb);
    const url = new URL(req.url, 'http://function');
    try {
      const r = await handler(new FunctionEvent(req, body, url), ctx, cb);
      if (!ctx.cbCalled) ctx.succeed(r);
    } catch (err) {
      cb(err);
    }
  };
  // Whatever still escapes (a response that cannot be written any more) ends this request, never the process.
  return (req, res) =>
    serve(req, res).catch((err) => {
      console.error(err);
      res.destroy();
    });
}

/** loadHandler imports <dir>/function/handler.js (CommonJS module.exports or an ESM default export). */
export async function loadHandler(dir) {
  const file = path.join(path.resolve(dir), 'function', 'handler.js');
  const mod = await import(pathToFileURL(file).href);
  const h = typeof mod.default === 'function' ? mod.default : typeof mod.handler === 'function' ? mod.handler : mod.default && mod.default.handler;
  if (typeof h !== 'function') throw new Error(`${file} exports no handler function`);
  return h;
}

function listen(server, port, host) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

const host = process.env.http_host || '127.0.0.1';

function newServer(listener) {
  const s = http.createServer(listener);
  s.keepAliveTimeout = 65_000; // outlive the watchdog's pooled connections
  return s;
}

/** serve loads dir's handler and listens on port (default $http_port or 3000); resolves with the bound port. */
export async function serve(dir, port = Number(process.env.http_port || 3000)) {
  const handler = await loadHandler(dir);
  process.chdir(path.resolve(dir));
  return listen(newServer(requestListener(handler)), port, host);
}

/** generic is the warm runtime: it listens now and is specialised later over IPC. */
export async function generic() {
  let active = null;
  let warming = null;
  const server = newServer((req, res) => {
    if (active) return active(req, res);
    if (warming && req.headers['x-hyperfaas-warm'] === '1') return warming(req, res);
    res.writeHead(503, { 'Content-Type': 'text/plain', 'X-OpenFaaS-Internal': 'hyperfaas' });
    res.end('generic runtime: not specialised\n');
  });
  let port = await listen(server, Number(process.env.http_port || 0), host);
  // Warm the module loader (ESM -> CommonJS translation, file resolution) so specialising only pays for the handler.
  // Then run one request through the handler wrapper so its code is compiled before the first real one.
  try {
    const warm = await import(pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), 'warm.cjs')).href);
    warming = requestListener(warm.default);
    await new Promise((resolve) => {
      const req = http.request({ host, port, method: 'POST', path: '/?warm=1', headers: { 'x-hyperfaas-warm': '1', 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', resolve);
      req.end('{"warm":true}');
    });
  } catch {
    /* warming is best effort */
  }
  warming = null;
  const send = (m) => process.send && process.send(m);
  process.on('message', async (m) => {
    if (!m || typeof m !== 'object') return;
    if (m.type === 'specialise' || m.type === 'specialize') {
      const t0 = performance.now();
      try {
        if (m.env) Object.assign(process.env, m.env);
        const handler = await loadHandler(m.dir);
        process.chdir(path.resolve(m.dir));
        if (m.port && m.port !== port) {
          await new Promise((r) => server.close(r));
          port = await listen(server, m.port, host);
        }
        active = requestListener(handler);
        send({ type: 'ready', port, ms: performance.now() - t0 });
      } catch (err) {
        send({ type: 'error', error: err && err.message ? err.message : String(err) });
      }
    } else if (m.type === 'release') {
      active = null;
      server.close();
      server.closeAllConnections();
      send({ type: 'released' });
      process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'generic', port });
  return port;
}

function isMain() {
  try {
    return process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  const arg = process.argv[2];
  const run = arg === '--generic' ? generic() : serve(arg || process.cwd());
  run.then(
    (port) => {
      if (arg !== '--generic') console.log(`node runtime listening on ${host}:${port}`);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
