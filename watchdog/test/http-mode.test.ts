import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { httpUpstreamEnv, startWatchdog, waitFor, type Running } from './helpers.js';

/** get sends one request with node:http (fetch follows redirects and hides some headers). */
function send(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('watchdog http mode (real upstream process)', function () {
  this.timeout(30_000);
  let wd: Running;
  before(async () => {
    wd = await startWatchdog(await httpUpstreamEnv({ max_inflight: '2', HYPERFAAS_FUNCTION: 'echo.openfaas-fn', exec_timeout: '3s' }));
  });
  after(async () => wd?.stop());

  it('writes the lock file and answers /_/health with 200 OK', async () => {
    expect(existsSync(wd.lockFile)).to.equal(true);
    const r = await send(`${wd.url}/_/health`);
    expect(r.status).to.equal(200);
    expect(r.body).to.equal('OK');
  });

  it('answers other methods on /_/health and /_/ready with 405', async () => {
    expect((await send(`${wd.url}/_/health`, { method: 'POST' })).status).to.equal(405);
    expect((await send(`${wd.url}/_/ready`, { method: 'PUT' })).status).to.equal(405);
  });

  it('answers /_/ready with 200 when there is room', async () => {
    expect((await send(`${wd.url}/_/ready`)).status).to.equal(200);
  });

  it('proxies method, path, query, headers and body, and adds X-Duration-Seconds', async () => {
    const r = await send(`${wd.url}/some/path?x=1`, { method: 'PUT', headers: { 'content-type': 'text/plain', 'x-call-id': 'c1' }, body: 'hello' });
    expect(r.status).to.equal(200);
    const got = JSON.parse(r.body) as { method: string; path: string; query: string; headers: Record<string, string>; body: string };
    expect(got.method).to.equal('PUT');
    expect(got.path).to.equal('/some/path');
    expect(got.query).to.equal('?x=1');
    expect(got.body).to.equal('hello');
    expect(got.headers['x-call-id']).to.equal('c1');
    expect(r.headers['x-duration-seconds']).to.match(/^\d+\.\d{6}$/);
    expect(r.headers['set-cookie']).to.deep.equal(['a=1', 'b=2']);
  });

  it('streams a chunked request body through', async () => {
    const r = await new Promise<string>((resolve, reject) => {
      const req = request(`${wd.url}/`, { method: 'POST' }, (res) => {
        let b = '';
        res.on('data', (d: Buffer) => (b += d.toString()));
        res.on('end', () => resolve(b));
      });
      req.on('error', reject);
      req.write('part1-');
      setTimeout(() => req.end('part2'), 30);
    });
    expect((JSON.parse(r) as { body: string }).body).to.equal('part1-part2');
  });

  it('answers HEAD and 204 without a body and keeps the connection usable', async () => {
    const head = await send(`${wd.url}/`, { method: 'HEAD' });
    expect(head.status).to.equal(200);
    expect(head.body).to.equal('');
    const empty = await send(`${wd.url}/status?code=204`);
    expect(empty.status).to.equal(204);
    expect((await send(`${wd.url}/status?code=200`)).body).to.equal('status');
  });

  it('carries a 1 MiB body both ways', async () => {
    const big = 'x'.repeat(1024 * 1024);
    const r = await send(`${wd.url}/`, { method: 'POST', body: big, headers: { 'content-type': 'text/plain' } });
    expect(r.status).to.equal(200);
    expect((JSON.parse(r.body) as { body: string }).body.length).to.equal(big.length);
  });

  it('serves concurrent requests over pooled connections without mixing up responses', async () => {
    for (let batch = 0; batch < 20; batch++) {
      // two at a time: max_inflight is 2 here
      const rs = await Promise.all([0, 1].map((j) => send(`${wd.url}/item/${batch}-${j}`)));
      expect(rs.map((r) => r.status)).to.deep.equal([200, 200]);
      expect(rs.map((r) => (JSON.parse(r.body) as { path: string }).path)).to.deep.equal([`/item/${batch}-0`, `/item/${batch}-1`]);
    }
  });

  it('passes upstream status codes and headers through', async () => {
    const r = await send(`${wd.url}/status?code=418`);
    expect(r.status).to.equal(418);
    expect(r.headers['x-custom']).to.equal('yes');
  });

  it('does not follow redirects', async () => {
    const r = await send(`${wd.url}/redirect`);
    expect(r.status).to.equal(302);
    expect(r.headers.location).to.equal('/elsewhere');
  });

  it('answers 429 with of-watchdog body and headers over max_inflight', async () => {
    const slow = [send(`${wd.url}/sleep?ms=1500`), send(`${wd.url}/sleep?ms=1500`)];
    await waitFor(async () => (await send(`${wd.url}/_/ready`)).status === 429, 5000, 'ready 429');
    const r = await send(`${wd.url}/`);
    expect(r.status).to.equal(429);
    expect(r.body).to.equal('Concurrent request limit exceeded. Max concurrent requests: 2');
    expect(r.headers['content-type']).to.equal('text/plain');
    expect(r.headers['x-openfaas-internal']).to.equal('faas-middleware');
    const done = await Promise.all(slow);
    expect(done.map((d) => d.status)).to.deep.equal([200, 200]);
  });

  it('answers 504 with X-Duration-Seconds when exec_timeout passes', async () => {
    const r = await send(`${wd.url}/sleep?ms=6000`);
    expect(r.status).to.equal(504);
    expect(r.headers['x-openfaas-internal']).to.equal('of-watchdog');
    expect(Number(r.headers['x-duration-seconds'])).to.be.greaterThan(2.9);
  });

  it('lets X-Timeout shorten the exec timeout', async () => {
    const r = await send(`${wd.url}/sleep?ms=2500`, { headers: { 'X-Timeout': '200ms' } });
    expect(r.status).to.equal(504);
    expect(Number(r.headers['x-duration-seconds'])).to.be.lessThan(2.4);
  });

  it('does not let X-Timeout lengthen the exec timeout', async () => {
    const r = await send(`${wd.url}/sleep?ms=6000`, { headers: { 'X-Timeout': '60s' } });
    expect(r.status).to.equal(504);
  });

  it('forwards function stdout and stderr with the of-watchdog prefix', async () => {
    await send(`${wd.url}/log`);
    await waitFor(() => wd.output().includes('stdout: hello from the function'), 5000, 'stdout line');
    await waitFor(() => wd.output().includes('stderr: oops from the function'), 5000, 'stderr line');
    expect(wd.output()).to.match(/\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d stdout: hello from the function/);
  });

  it('serves of-watchdog metric names on the metrics port', async () => {
    const r = await send(`http://127.0.0.1:${wd.metricsPort}/metrics`);
    expect(r.status).to.equal(200);
    expect(r.body).to.match(/http_requests_total\{code="200",method="get"\} \d+/);
    expect(r.body).to.match(/http_requests_total\{code="429",method="get"\} \d+/);
    expect(r.body).to.contain('http_request_duration_seconds_bucket');
    expect(r.body).to.contain('http_requests_in_flight');
    expect(r.body).to.contain('hyperfaas_slot_inflight');
  });

  it('reports its load on /_/hyperfaas/status', async () => {
    const r = await send(`${wd.url}/_/hyperfaas/status`);
    expect(r.status).to.equal(200);
    const rep = JSON.parse(r.body) as { function: string; namespace: string; slots: { kind: string; capacity: number }[]; watermark: string; memory: { used: number } };
    expect(rep.function).to.equal('echo');
    expect(rep.namespace).to.equal('openfaas-fn');
    expect(rep.slots[0]).to.include({ kind: 'home', capacity: 2 });
    expect(['low', 'normal', 'high']).to.include(rep.watermark);
    expect(rep.memory.used).to.be.greaterThan(0);
  });
});

describe('watchdog http mode, other settings', function () {
  this.timeout(30_000);
  const started: Running[] = [];
  afterEach(async () => {
    for (const w of started.splice(0)) await w.stop();
  });

  it('answers 504 while the function never starts listening (exec timeout still applies)', async () => {
    const env = await httpUpstreamEnv({ exec_timeout: '1s' });
    // the function listens on http_port, but upstream_url points at port 9 where nothing listens
    const wd = await startWatchdog({ ...env, http_port: new URL(env.upstream_url!).port, upstream_url: 'http://127.0.0.1:9' }, false);
    started.push(wd);
    const r = await send(`${wd.url}/`);
    expect(r.status).to.equal(504);
    expect(r.headers['x-openfaas-internal']).to.equal('of-watchdog');
    expect((await send(`${wd.url}/_/health`)).status).to.equal(503);
  });

  it('answers 500 with X-OpenFaaS-Internal when the upstream connection fails', async () => {
    const wd = await startWatchdog(await httpUpstreamEnv());
    started.push(wd);
    const r = await send(`${wd.url}/hangup`);
    expect(r.status).to.equal(500);
    expect(r.headers['x-openfaas-internal']).to.equal('of-watchdog');
    expect(r.headers['x-duration-seconds']).to.match(/^\d+\.\d+$/);
  });

  it('exits non-zero when the upstream process dies', async () => {
    const wd = await startWatchdog(await httpUpstreamEnv());
    started.push(wd);
    await send(`${wd.url}/exit`);
    const code = await wd.exited;
    expect(code).to.not.equal(0);
    expect(code).to.not.equal(null);
    expect(wd.output()).to.contain('Forked function has terminated');
  });

  it('asks the function at ready_path for /_/ready', async () => {
    const wd = await startWatchdog(await httpUpstreamEnv({ ready_path: '/ready-check', READY_CODE: '503' }));
    started.push(wd);
    expect((await send(`${wd.url}/_/ready`)).status).to.equal(503);
  });

  it('with suppress_lock writes no lock file and answers health with 503', async () => {
    const wd = await startWatchdog(await httpUpstreamEnv({ suppress_lock: 'true' }), false);
    started.push(wd);
    await waitFor(() => wd.output().includes('Listening on port'), 10_000);
    expect(existsSync(wd.lockFile)).to.equal(false);
    expect((await send(`${wd.url}/_/health`)).status).to.equal(503);
    expect((await send(`${wd.url}/`)).status).to.equal(200);
  });

  it('with buffer_http sends the upstream a Content-Length instead of chunks', async () => {
    const wd = await startWatchdog(await httpUpstreamEnv({ buffer_http: 'true' }));
    started.push(wd);
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(`${wd.url}/`, { method: 'POST' }, (res) => {
        let b = '';
        res.on('data', (d: Buffer) => (b += d.toString()));
        res.on('end', () => resolve(b));
      });
      req.on('error', reject);
      req.write('abc');
      req.end('def');
    });
    const got = JSON.parse(body) as { headers: Record<string, string>; body: string };
    expect(got.body).to.equal('abcdef');
    expect(got.headers['content-length']).to.equal('6');
    expect(got.headers['transfer-encoding']).to.equal(undefined);
  });

  it('without prefix_logs forwards function lines as they are', async () => {
    const wd = await startWatchdog(await httpUpstreamEnv({ prefix_logs: 'false' }));
    started.push(wd);
    await send(`${wd.url}/log`);
    await waitFor(() => wd.output().includes('hello from the function'), 5000);
    expect(wd.output()).to.match(/(^|\n)hello from the function\n/);
  });

  it('with log_callid writes access log lines carrying X-Call-Id', async () => {
    const wd = await startWatchdog(await httpUpstreamEnv({ log_callid: 'true' }));
    started.push(wd);
    await send(`${wd.url}/status?code=201`, { headers: { 'X-Call-Id': 'call-123' } });
    await waitFor(() => wd.output().includes('[call-123]'), 5000, 'access log line');
    expect(wd.output(), wd.output()).to.match(/GET \/status\?code=201 - 201 - ContentLength: (\d+|-)B \(\d+\.\d+s\) \[call-123\]/);
  });

  it('streams the response: the first chunk arrives before the function finishes', async () => {
    const wd = await startWatchdog(await httpUpstreamEnv());
    started.push(wd);
    const chunks = await new Promise<string[]>((resolve, reject) => {
      const got: string[] = [];
      request(`${wd.url}/stream`, (res) => {
        res.setEncoding('utf8');
        res.on('data', (d: string) => got.push(d));
        res.on('end', () => resolve(got));
      })
        .on('error', reject)
        .end();
    });
    expect(chunks.join('')).to.equal('one\ntwo\n');
    expect(chunks.length).to.be.greaterThan(1);
  });

  it('reports the high watermark while its only slot is full', async () => {
    const wd = await startWatchdog(await httpUpstreamEnv({ max_inflight: '1' }));
    started.push(wd);
    const status = async () => JSON.parse((await send(`${wd.url}/_/hyperfaas/status`)).body) as { watermark: string };
    expect((await status()).watermark).to.not.equal('high');
    const slow = send(`${wd.url}/sleep?ms=1500`);
    await waitFor(async () => (await status()).watermark === 'high', 5000, 'high watermark');
    await slow;
    await waitFor(async () => (await status()).watermark !== 'high', 5000, 'watermark back down');
  });

  it('drains on SIGTERM: health turns 503, in-flight requests finish, then it exits 0', async () => {
    const wd = await startWatchdog(await httpUpstreamEnv({ healthcheck_interval: '3s', write_timeout: '15s' }));
    started.push(wd);
    const inflight = send(`${wd.url}/sleep?ms=4500`);
    await waitFor(async () => {
      const s = JSON.parse((await send(`${wd.url}/_/hyperfaas/status`)).body) as { slots: { inflight: number }[] };
      return s.slots[0]!.inflight === 1;
    });
    wd.proc.kill('SIGTERM');
    await waitFor(() => !existsSync(wd.lockFile), 5000, 'lock file removed');
    const h = await send(`${wd.url}/_/health`);
    expect(h.status).to.equal(503);
    expect((await send(`${wd.url}/_/ready`)).status).to.equal(503);
    const r = await inflight;
    expect(r.status).to.equal(200);
    expect(r.body).to.equal('slept 4500');
    expect(await wd.exited).to.equal(0);
  });
});
