/**
 * Hierarchical scheduling when an instance dies: the real provider (local backend, NATS) with two instances of a
 * slow fork-mode function. Killing one instance's process group mid-request gives its in-flight requests a clear
 * platform error (they are not silently run a second time elsewhere), and requests sent after it died go to the
 * other instance. Also: stale reports and reports naming an instance the GS does not know change nothing.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Provider, ReportWatch, httpCall, until, type Reply } from '../../bench/hierarchical/harness.js';
import { subjects, type LoadReport } from '@hyperfaas/watchdog/protocol';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';

/** listenerPid finds the process listening on 127.0.0.1:port (the instance's watchdog). */
function listenerPid(port: number): number {
  const out = execFileSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8' });
  const m = /pid=(\d+)/.exec(out);
  if (!m) throw new Error(`nothing listens on port ${port}: ${out}`);
  return Number(m[1]);
}

/** processGroup reads a process's group id from /proc. */
function processGroup(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command: state ppid pgrp ...
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

describe('hierarchical scheduling when an instance dies', function () {
  this.timeout(240_000);
  let nats: NatsServer;
  let provider: Provider;
  let reports: ReportWatch;
  let nc: NatsConnection;

  before(async () => {
    nats = await startNatsServer();
    reports = await ReportWatch.open(nats.url);
    nc = await connect({ servers: nats.url });
    provider = await Provider.start({ natsUrl: nats.url, env: { HYPERFAAS_DEFAULT_POLICY: 'none' } });
    // Fork mode: every request runs `sleep 3`, so requests are still running when the instance is killed.
    await provider.deploy({ service: 'slow', image: 'functions/alpine:latest', envProcess: 'sleep 3', labels: { 'com.hyperfaas.policy': 'none' } });
    await provider.scale('slow', 2);
    await provider.waitAvailable('slow', 2);
    await until(() => expect(reports.of('slow')).to.have.length(2), 30_000);
  });
  after(async () => {
    const code = await provider?.stop();
    await nc?.close();
    await reports?.close();
    await nats?.dispose();
    expect(code, provider?.output).to.equal(0);
  });

  it('ignores stale reports and reports from unknown instances: both instances keep taking work', async () => {
    const [a, b] = reports.of('slow');
    // Were the stale one applied, instance a would be blocked and all four requests would land on b.
    const stale: LoadReport = { ...a!, seq: 1e9, at: Date.now() - 60_000, watermark: 'high' };
    const unknown: LoadReport = { ...a!, instance: 'no-such-instance', seq: 1, at: Date.now(), watermark: 'high' };
    for (const r of [stale, unknown]) nc.publish(subjects.report(r.namespace, r.function, r.instance), JSON.stringify(r));
    await nc.flush();
    const calls = [0, 1, 2, 3].map(() => httpCall(provider.base, 'GET', '/function/slow'));
    await until(() => {
      expect(reports.latest.get(a!.instance)?.slots[0]?.inflight ?? 0).to.be.greaterThan(0);
      expect(reports.latest.get(b!.instance)?.slots[0]?.inflight ?? 0).to.be.greaterThan(0);
    }, 2_500, 50);
    expect((await Promise.all(calls)).map((r) => r.status)).to.deep.equal([200, 200, 200, 200]);
  });

  it('gives in-flight requests of a killed instance a clear error and sends later requests to the other one', async () => {
    const [victim] = reports.of('slow');
    const port = Number(new URL(victim!.url).port);
    const pgid = processGroup(listenerPid(port));
    expect(pgid, 'the instance runs in its own process group').to.not.equal(processGroup(process.pid));
    const sentAt = Date.now();
    const inflight = [0, 1, 2, 3, 4, 5].map(() => httpCall(provider.base, 'POST', '/function/slow', 'a'));
    // A report sent after these requests left, showing the victim running some of them.
    await until(() => {
      const r = reports.latest.get(victim!.instance);
      expect(r && r.at > sentAt + 100 ? r.slots[0]?.inflight : 0).to.be.greaterThan(0);
    }, 5_000, 50);
    process.kill(-pgid, 'SIGKILL');
    const later: Promise<Reply>[] = [];
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 100));
      later.push(httpCall(provider.base, 'POST', '/function/slow', 'b'));
    }
    const first = await Promise.all(inflight);
    const failed = first.filter((r) => r.status !== 200);
    expect(failed.length, first.map((r) => r.status).join(',')).to.be.greaterThan(0);
    expect(failed.length).to.be.lessThan(first.length);
    for (const r of failed) {
      expect(r.status).to.equal(502);
      expect(r.headers['x-openfaas-internal']).to.equal('proxy');
      expect(r.body).to.match(/failed while running the request/);
    }
    expect((await Promise.all(later)).map((r) => r.status)).to.deep.equal([200, 200, 200, 200]);
    // The backend brings the instance back by itself.
    await provider.waitAvailable('slow', 2);
  });
});
