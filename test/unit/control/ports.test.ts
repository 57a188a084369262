import { expect } from 'chai';
import { createScalerPorts } from '../../../src/control/ports.js';
import { ReportView } from '../../../src/gs/report-view.js';
import { silentLogger } from '../../../src/logger.js';
import { specFor } from '../../../src/control/scaler-loop.js';
import { GlobalScheduler } from '../../../src/gs/global-scheduler.js';
import type { LoadReport } from '@hyperfaas/watchdog/protocol';
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
