/**
 * Hierarchical scheduling end to end (the sync and bounce-back request paths): a real nats-server, the real provider process with
 * the local backend, and several real instances of the sleep example (~50 ms per request, max_inflight 4). Bursts
 * far over one instance's capacity must complete without a failed request: the ICS bounces what it cannot take to the
 * GS over NATS, queues when it may not bounce any more, and queues locally while NATS is down.
 */
import { expect } from 'chai';
import { runLoad, type LoadResult } from '../../bench/loadgen/loadgen.js';
import { constantRate } from '../../bench/loadgen/workloads.js';
import { Provider, ReportWatch, httpCall, until } from '../../bench/hierarchical/harness.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';

/** failedOf lists every non-2xx outcome of a run as "status/error" strings. */
function failedOf(r: LoadResult): string[] {
  return r.records.filter((x) => x.status < 200 || x.status >= 300).map((x) => `${x.status}${x.error ? `/${x.error}` : ''}`);
}

function routes(r: LoadResult, header = 'x-hyperfaas-route'): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of r.records) {
    const v = x.headers?.[header] ?? 'direct';
    out[v] = (out[v] ?? 0) + 1;
  }
  return out;
}

describe('hierarchical scheduling with a real nats-server and real instances', function () {
  this.timeout(240_000);
  let nats: NatsServer;
  let provider: Provider;
  let reports: ReportWatch;
  // sleep: 50 ms of waiting per request; 4 at a time => one instance serves about 80 req/s.
  const capacity = 4;
  const perInstanceRps = (capacity * 1000) / 50;

  before(async () => {
    nats = await startNatsServer();
    reports = await ReportWatch.open(nats.url);
    provider = await Provider.start({ natsUrl: nats.url, env: { HYPERFAAS_DEFAULT_POLICY: 'none' } });
    await provider.deploy({ service: 'burst', image: 'hyperfaas/sleep:latest', envVars: { max_inflight: String(capacity) }, labels: { 'com.hyperfaas.policy': 'none' } });
    await provider.scale('burst', 3);
    await provider.waitAvailable('burst', 3);
    // Every instance has joined NATS and reports (the GS's view and ours both know them).
    await until(() => expect(reports.of('burst')).to.have.length(3), 30_000);
  });
  after(async () => {
    const code = await provider?.stop();
    await reports?.close();
    await nats?.dispose();
    expect(code, provider?.output).to.equal(0);
  });

  it('serves a burst at 5x one instance capacity through the provider with no failed request, counting bounces', async () => {
    const before = await provider.metric('hyperfaas_bounces_total');
    const r = await runLoad({
      target: `${provider.base}/function/burst`,
      schedule: constantRate(5 * perInstanceRps, 2_000, { process: 'uniform' }),
      method: 'POST',
      body: 'x',
      timeoutMs: 60_000,
    });
    expect(failedOf(r), JSON.stringify(routes(r))).to.deep.equal([]);
    expect(r.records).to.have.length(800);
    // 400 req/s against 3 x 80 req/s: instances over their high watermark bounce work to the GS, which re-runs it
    // elsewhere when another instance has room and otherwise lets the instance keep it queued; both are counted.
    const after = await provider.metric('hyperfaas_bounces_total');
    expect(after - before, JSON.stringify(routes(r))).to.be.greaterThan(0);
    expect(routes(r).queued ?? 0).to.be.greaterThan(0);
  });

  it('serves the same burst sent straight at one watchdog: bounced back through NATS, the caller sees only 200s', async () => {
    const [one] = reports.of('burst');
    expect(one, 'a fresh report of a burst instance').to.not.equal(undefined);
    const before = await provider.metric('hyperfaas_bounces_total', { outcome: 'rerouted' });
    const r = await runLoad({
      target: one!.url,
      schedule: constantRate(5 * perInstanceRps, 2_000, { process: 'uniform' }),
      method: 'POST',
      body: 'y',
      timeoutMs: 60_000,
    });
    const codes = new Set(r.records.map((x) => x.status));
    expect([...codes], JSON.stringify(failedOf(r).slice(0, 5))).to.deep.equal([200]);
    const rt = routes(r);
    // One instance alone serves ~80 of 400 req/s and the two others have ~160 req/s to spare: many requests ran
    // elsewhere, through the GS (the rest waited in the instance's queue while the others were full too).
    expect(rt.bounced ?? 0, JSON.stringify(rt)).to.be.greaterThan(r.records.length / 8);
    const after = await provider.metric('hyperfaas_bounces_total', { outcome: 'rerouted' });
    expect(after - before).to.be.at.least(rt.bounced ?? 0);
  });

  it('fails no request when nats-server is killed mid-burst, and everything reconnects by itself', async () => {
    const [one] = reports.of('burst');
    const load = Promise.all([
      runLoad({ target: `${provider.base}/function/burst`, schedule: constantRate(3 * perInstanceRps, 4_000, { process: 'uniform' }), method: 'POST', body: 'z', timeoutMs: 60_000 }),
      runLoad({ target: one!.url, schedule: constantRate(2 * perInstanceRps, 4_000, { process: 'uniform' }), method: 'POST', body: 'w', timeoutMs: 60_000 }),
    ]);
    await new Promise((r) => setTimeout(r, 1_000));
    await nats.stop(true);
    await new Promise((r) => setTimeout(r, 1_500));
    await nats.restart();
    const [viaProvider, direct] = await load;
    expect(failedOf(viaProvider)).to.deep.equal([]);
    expect(failedOf(direct)).to.deep.equal([]);
    // While NATS was down the watchdogs kept requests locally (queued) instead of failing them.
    expect((routes(viaProvider).queued ?? 0) + (routes(direct).queued ?? 0)).to.be.greaterThan(0);
    // Reconnected: every instance reports again, and a new overload is bounced through the GS again.
    const since = Date.now();
    await until(() => expect(reports.of('burst').filter((x) => x.at > since)).to.have.length(3), 30_000);
    const before = await provider.metric('hyperfaas_bounces_total', { outcome: 'rerouted' });
    await until(async () => {
      const r = await runLoad({ target: one!.url, schedule: constantRate(5 * perInstanceRps, 1_000, { process: 'uniform' }), method: 'POST', body: 'v', timeoutMs: 60_000 });
      expect(failedOf(r)).to.deep.equal([]);
      expect(await provider.metric('hyperfaas_bounces_total', { outcome: 'rerouted' })).to.be.greaterThan(before);
    }, 30_000, 500);
  });

  it('counts re-routes when of-watchdog-style instances answer 429 (hyperfaas_overflow=429)', async () => {
    await provider.deploy({
      service: 'plain',
      image: 'hyperfaas/sleep:latest',
      envVars: { max_inflight: String(capacity), hyperfaas_overflow: '429' },
      labels: { 'com.hyperfaas.policy': 'none' },
    });
    await provider.scale('plain', 2);
    await provider.waitAvailable('plain', 2);
    const before = await provider.metric('hyperfaas_reroutes_total', { reason: 'full' });
    const r = await runLoad({
      target: `${provider.base}/function/plain`,
      schedule: constantRate(4 * perInstanceRps, 1_000, { process: 'uniform' }),
      method: 'POST',
      body: 'p',
      timeoutMs: 60_000,
    });
    // Nothing is bounced or queued here: a full instance refuses at once and the router offers the request elsewhere.
    expect(routes(r).bounced ?? 0).to.equal(0);
    expect(new Set(r.records.map((x) => x.status))).to.satisfy((codes: Set<number>) => [...codes].every((c) => c === 200 || c === 429));
    expect(await provider.metric('hyperfaas_reroutes_total', { reason: 'full' })).to.be.greaterThan(before);
  });

  it('lends a generic slot of another function: specialised under a burst, serves it (x-hyperfaas-slot: guest), released after', async () => {
    await provider.deploy({
      service: 'lender',
      image: 'hyperfaas/echo:latest',
      labels: { 'com.hyperfaas.policy': 'none', 'com.hyperfaas.runtime': 'node' },
    });
    await provider.deploy({
      service: 'borrower',
      image: 'hyperfaas/sleep:latest',
      envVars: { max_inflight: '2' },
      labels: { 'com.hyperfaas.policy': 'hyperfaas', 'com.hyperfaas.runtime': 'node', 'com.openfaas.scale.max': '1' },
    });
    await provider.waitAvailable('lender', 1);
    await provider.waitAvailable('borrower', 1);
    await until(() => {
      const [l] = reports.of('lender');
      expect(l?.slots.find((s) => s.kind === 'guest')?.state).to.equal('generic');
    }, 30_000);
    const r = await runLoad({
      target: `${provider.base}/function/borrower`,
      schedule: constantRate(120, 4_000, { process: 'uniform' }),
      method: 'POST',
      body: 'g',
      timeoutMs: 60_000,
    });
    expect(failedOf(r)).to.deep.equal([]);
    const slots = routes(r, 'x-hyperfaas-slot');
    expect(slots.guest ?? 0, JSON.stringify(slots)).to.be.greaterThan(0);
    expect(await provider.metric('hyperfaas_guest_slot_operations_total', { op: 'specialise', outcome: 'ok' })).to.be.at.least(1);
    // Calm again: the policy gives the slot back and the lender's guest slot is generic once more.
    await until(async () => {
      expect(await provider.metric('hyperfaas_guest_slot_operations_total', { op: 'release', outcome: 'ok' })).to.be.at.least(1);
      const [l] = reports.of('lender');
      expect(l?.slots.find((s) => s.kind === 'guest')?.state).to.equal('generic');
    }, 60_000, 250);
    // The lender's own function is untouched, and the borrower still answers from its own slot.
    expect((await httpCall(provider.base, 'POST', '/function/lender', 'own')).status).to.equal(200);
    const own = await httpCall(provider.base, 'POST', '/function/borrower', 'home');
    expect(own.status).to.equal(200);
    expect(own.headers['x-hyperfaas-slot']).to.not.equal('guest');
  });
});
