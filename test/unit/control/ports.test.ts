import { expect } from 'chai';
import { createScalerPorts } from '../../../src/control/ports.js';
import { ReportView } from '../../../src/gs/report-view.js';
import { silentLogger } from '../../../src/logger.js';
import { specFor } from '../../../src/control/scaler-loop.js';
import { GlobalScheduler } from '../../../src/gs/global-scheduler.js';
import { GuestSharing } from '../../../src/gs/sharing.js';
import type { Instance } from '../../../src/backends/backend.js';
import type { ControlRequest, LoadReport } from '@hyperfaas/watchdog/protocol';
import { FakeBackend } from '../../support/fake-backend.js';

function report(instance: string, fn: string, namespace: string, runtime: string, at: number): LoadReport {
  return {
    instance,
    function: fn,
    namespace,
    url: 'http://127.0.0.1:1',
    runtime,
    seq: 1,
    at,
    slots: [
      { kind: 'home', state: 'serving', function: `${fn}.${namespace}`, inflight: 0, capacity: 4 },
      { kind: 'guest', state: 'generic', inflight: 0, capacity: 0 },
    ],
    cpu: { used: 0, limit: 0.5 },
    memory: { used: 0, limit: 0 },
    watermark: 'low',
    draining: false,
  };
}

describe('control/ports: which guest slots a function may borrow', () => {
  it('offers only idle instances of the same runtime in the same namespace (the tenant boundary)', async () => {
    const backend = new FakeBackend({ namespaces: ['team-a', 'team-b'] });
    backend.addFunction({ service: 'burst', image: 'i', namespace: 'team-a', labels: { 'com.hyperfaas.runtime': 'node' } });
    const scheduler = new GlobalScheduler({ backend, logger: silentLogger(), coldStartTimeoutMs: 1000 });
    const now = Date.now();
    const reports = new ReportView(60_000);
    for (const r of [
      report('same-ns', 'lender', 'team-a', 'node', now),
      report('other-ns', 'lender', 'team-b', 'node', now),
      report('other-runtime', 'py', 'team-a', 'python', now),
    ]) {
      reports.apply(r, now, () => true);
    }
    const ports = createScalerPorts({ backend, scheduler, reports: () => reports, cpuCores: 2 });
    const fn = (await backend.list('team-a'))[0]!;
    const { spec } = specFor(fn, 'hyperfaas');
    const obs = ports.observe(fn, spec!, now);
    expect(obs.guests.map((g) => g.hostInstance)).to.deep.equal(['same-ns']);
    scheduler.close();
  });
});

describe('control/ports: phase 1 for concurrency', () => {
  it('carries out an inflight action as a resize of the instance\'s concurrency over its control channel, nothing else', async () => {
    const backend = new FakeBackend({ namespaces: ['openfaas-fn'] });
    backend.addFunction({ service: 'io', image: 'i', namespace: 'openfaas-fn' });
    const scheduler = new GlobalScheduler({ backend, logger: silentLogger(), coldStartTimeoutMs: 1000 });
    const sent: Array<{ to: string; req: ControlRequest }> = [];
    const host = { id: 'io-1', namespace: 'openfaas-fn' } as Instance;
    const sharing = new GuestSharing({
      slots: { instanceOf: (id) => (id === 'io-1' ? host : undefined), addGuest: () => false, removeGuest: () => undefined },
      backend,
      control: async (i, req) => (sent.push({ to: i.id, req }), { ok: true, ms: 0 }),
      logger: silentLogger(),
    });
    const ports = createScalerPorts({ backend, scheduler, sharing, cpuCores: 2 });
    const fn = (await backend.list('openfaas-fn'))[0]!;
    await ports.act(fn, { kind: 'inflight', instance: 'io-1', capacity: 8 });
    expect(sent).to.deep.equal([{ to: 'io-1', req: { op: 'resize', capacity: 8 } }]);
    let err: unknown;
    await ports.act(fn, { kind: 'inflight', instance: 'gone', capacity: 8 }).catch((e: unknown) => (err = e));
    expect(String(err)).to.contain('unknown instance gone');
    scheduler.close();
  });
});
