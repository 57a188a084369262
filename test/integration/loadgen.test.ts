import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runLoad } from '../../bench/loadgen/loadgen.js';
import { binRecords, failures } from '../../bench/loadgen/metrics.js';
import { constantRate } from '../../bench/loadgen/workloads.js';
import { freePort } from '../support/ports.js';

/** A tiny function stand-in: 200 with a route header; every 7th request 429; /hang never answers. */
function startServer(): Promise<{ server: Server; port: number; seen: () => number; statuses: Record<number, number> }> {
  let n = 0;
  const statuses: Record<number, number> = {};
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/hang')) return; // never answers: the client's timeout must fire
    n++;
    const status = n % 7 === 0 ? 429 : 200;
    statuses[status] = (statuses[status] ?? 0) + 1;
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'x-hyperfaas-route': status === 200 ? 'direct' : 'bounced', 'content-type': 'text/plain' });
      setTimeout(() => res.end('ok'), n % 3);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, seen: () => n, statuses })),
  );
}

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

describe('loadgen against a local HTTP server', function () {
  this.timeout(60_000);
  let srv: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    srv = await startServer();
  });
  after(async () => {
    await stop(srv.server);
  });

  it('sends every scheduled request of a 2 s run and records each one with its status and route header', async () => {
    const schedule = constantRate(100, 2_000, { process: 'uniform' });
    expect(schedule.sendAt.length).to.equal(200);
    const r = await runLoad({ target: `http://127.0.0.1:${srv.port}/function/f?x=1`, schedule, method: 'POST', body: 'hello', connections: 32 });
    expect(r.records).to.have.length(200);
    r.records.forEach((x, k) => {
      expect(x.i).to.equal(k);
      expect(x.scheduledMs).to.equal(schedule.sendAt[k]);
      expect(x.startMs).to.be.at.least(x.scheduledMs);
      expect(x.endMs).to.be.at.least(x.startMs);
    });
    expect(srv.seen()).to.equal(200);
    const f = failures(r.records);
    expect(f.ok).to.equal(srv.statuses[200]);
    expect(f.byCode).to.deep.equal({ '429': srv.statuses[429] });
    const routes = r.records.map((x) => x.headers?.['x-hyperfaas-route']);
    expect(routes.filter((x) => x === 'direct')).to.have.length(srv.statuses[200]!);
    expect(routes.filter((x) => x === 'bounced')).to.have.length(srv.statuses[429]!);
    expect(r.bins.map((b) => b.count)).to.deep.equal([100, 100]);
    expect(r.bins).to.deep.equal(binRecords(r.records, 1000, schedule.durationMs));
    const byStatus = r.bins.reduce<Record<string, number>>((acc, b) => {
      for (const [k, v] of Object.entries(b.byStatus)) acc[k] = (acc[k] ?? 0) + v;
      return acc;
    }, {});
    expect(byStatus).to.deep.equal({ '200': srv.statuses[200], '429': srv.statuses[429] });
    expect(r.truncated).to.equal(false);
  });

  it('times out requests that get no answer and records them as TIMEOUT', async () => {
    const schedule = { name: 'hang', sendAt: [0, 10, 20, 30, 40], durationMs: 50 };
    const r = await runLoad({ target: `http://127.0.0.1:${srv.port}/hang`, schedule, timeoutMs: 300 });
    expect(r.records.map((x) => x.error)).to.deep.equal(Array(5).fill('TIMEOUT'));
    expect(r.records.every((x) => x.status === 0)).to.equal(true);
  });

  it('records connection errors when nothing listens, and truncates to maxRequests', async () => {
    const port = await freePort();
    const schedule = constantRate(50, 200, { process: 'uniform' });
    const r = await runLoad({ target: `http://127.0.0.1:${port}/`, schedule, maxRequests: 4, timeoutMs: 2_000 });
    expect(r.records).to.have.length(4);
    expect(r.truncated).to.equal(true);
    for (const x of r.records) expect(x.error).to.equal('ECONNREFUSED');
  });

  it('stops on abort and records the unsent rest as NOT_SENT', async () => {
    const schedule = constantRate(20, 60_000, { process: 'uniform' });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const r = await runLoad({ target: `http://127.0.0.1:${srv.port}/`, schedule, signal: ac.signal });
    expect(r.records).to.have.length(schedule.sendAt.length);
    const notSent = r.records.filter((x) => x.error === 'NOT_SENT').length;
    expect(notSent).to.be.greaterThan(1_000);
    expect(r.records.every((x) => x !== undefined)).to.equal(true);
  });
});
