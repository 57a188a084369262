import { expect } from 'chai';
import { isBackendError } from '../../../src/backends/backend.js';
import { silentLogger } from '../../../src/logger.js';
import { GlobalScheduler, SchedulerError } from '../../../src/gs/global-scheduler.js';
import { FakeBackend } from '../../support/fake-backend.js';

describe('GlobalScheduler', () => {
  let backend: FakeBackend;
  let gs: GlobalScheduler;
  const url = 'http://127.0.0.1:1';

  function start(onScale?: (ns: string, name: string, n: number) => void): void {
    backend = new FakeBackend(onScale ? { onScale } : {});
    gs = new GlobalScheduler({ backend, logger: silentLogger(), coldStartTimeoutMs: 5_000 });
  }
  afterEach(() => gs.close());

  it('sees the instances that existed before it started', () => {
    start();
    backend.addInstance('openfaas-fn', 'f', url);
    gs.start();
    expect(gs.tryAcquire('openfaas-fn', 'f')).to.not.equal(null);
  });

  it('follows added, modified and deleted instances', () => {
    start();
    gs.start();
    const i = backend.addInstance('openfaas-fn', 'f', url, false);
    expect(gs.tryAcquire('openfaas-fn', 'f')).to.equal(null);
    backend.setReady(i.id, true);
    const lease = gs.tryAcquire('openfaas-fn', 'f');
    expect(lease?.instance.id).to.equal(i.id);
    backend.removeInstance(i.id);
    expect(gs.tryAcquire('openfaas-fn', 'f')).to.equal(null);
    lease!.release(); // releasing a lease on a deleted instance is harmless
  });

  it('keeps in-flight counts when an instance is modified', () => {
    start();
    gs.start();
    const i = backend.addInstance('openfaas-fn', 'f', url);
    gs.tryAcquire('openfaas-fn', 'f');
    backend.setReady(i.id, true);
    expect(gs.candidatesOf('openfaas-fn', 'f').find((c) => c.instance.id === i.id)!.inflight).to.equal(1);
  });

  it('lets load reports block an instance through the view, and unblock it', () => {
    start();
    gs.start();
    const a = backend.addInstance('openfaas-fn', 'f', url);
    const b = backend.addInstance('openfaas-fn', 'f', url);
    expect(gs.known(a.id)).to.equal(true);
    expect(gs.known('nope')).to.equal(false);
    gs.setBlocked(a.id, true);
    const picks = [1, 2, 3].map(() => gs.tryAcquire('openfaas-fn', 'f')!);
    expect(picks.map((p) => p.instance.id)).to.deep.equal([b.id, b.id, b.id]);
    gs.setBlocked(a.id, false);
    expect(gs.tryAcquire('openfaas-fn', 'f')!.instance.id).to.equal(a.id);
  });

  it('rejects with NotFound for an unknown function', async () => {
    start();
    gs.start();
    try {
      await gs.acquire('openfaas-fn', 'nope');
      expect.fail('should reject');
    } catch (e) {
      expect(isBackendError(e, 'NotFound')).to.equal(true);
    }
  });

  it('asks the scaler once about a function at zero, whatever the number of waiters, and leases when ready', async () => {
    start();
    const asked: { name: string; waiting: number }[] = [];
    gs.setWaker(async (ns, name) => {
      await new Promise((r) => setTimeout(r, 20)); // every request below is waiting by now
      asked.push({ name, waiting: gs.demandOf(`${name}.${ns}`, Date.now()).waiting });
      setTimeout(() => {
        for (let k = 0; k < 3; k++) backend.addInstance(ns, name, url);
      }, 30);
    });
    gs.start();
    backend.addFunction({ service: 'f', image: 'i', namespace: 'openfaas-fn', labels: { 'com.openfaas.scale.min': '3' } }, 0);
    const leases = await Promise.all([1, 2, 3, 4].map(() => gs.acquire('openfaas-fn', 'f')));
    expect(leases).to.have.length(4);
    // The waiting requests are the demand the scaler's floor answers.
    expect(asked).to.deep.equal([{ name: 'f', waiting: 4 }]);
  });

  it('never sets replicas itself: at zero it only asks the scaler, and waits', async () => {
    start();
    const asked: string[] = [];
    gs.setWaker(async (ns, name) => void asked.push(`${name}.${ns}`));
    gs.start();
    backend.addFunction({ service: 'f', image: 'i', namespace: 'openfaas-fn' }, 0);
    try {
      await gs.acquire('openfaas-fn', 'f', { timeoutMs: 100 });
      expect.fail('should time out: the waker started nothing');
    } catch (e) {
      expect((e as SchedulerError).kind).to.equal('timeout');
    }
    expect(asked).to.deep.equal(['f.openfaas-fn']);
    expect(backend.callsOf('scale')).to.have.length(0);
    expect((await backend.get('openfaas-fn', 'f')).replicas).to.equal(0);
  });

  it("fails the waiting requests with the scaler's error when the wake failed", async () => {
    start();
    gs.setWaker(async () => {
      throw new Error('no capacity');
    });
    gs.start();
    backend.addFunction({ service: 'f', image: 'i', namespace: 'openfaas-fn' }, 0);
    const results = await Promise.allSettled([gs.acquire('openfaas-fn', 'f'), gs.acquire('openfaas-fn', 'f')]);
    expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'leased'))).to.deep.equal(['Error: no capacity', 'Error: no capacity']);
  });

  it('waits without scaling when instances are starting', async () => {
    start();
    gs.start();
    backend.addFunction({ service: 'f', image: 'i', namespace: 'openfaas-fn' }, 1);
    const i = backend.addInstance('openfaas-fn', 'f', url, false);
    setTimeout(() => backend.setReady(i.id, true), 30);
    const lease = await gs.acquire('openfaas-fn', 'f');
    expect(lease.instance.id).to.equal(i.id);
    expect(backend.callsOf('scale')).to.have.length(0);
  });

  it('times out with SchedulerError timeout when nothing becomes ready', async () => {
    start();
    gs.start();
    backend.addFunction({ service: 'f', image: 'i', namespace: 'openfaas-fn' }, 1);
    try {
      await gs.acquire('openfaas-fn', 'f', { timeoutMs: 100 });
      expect.fail('should reject');
    } catch (e) {
      expect(e).to.be.instanceOf(SchedulerError);
      expect((e as SchedulerError).kind).to.equal('timeout');
    }
  });

  it('stops waiting with SchedulerError aborted when the signal fires', async () => {
    start();
    gs.start();
    backend.addFunction({ service: 'f', image: 'i', namespace: 'openfaas-fn' }, 1);
    const ac = new AbortController();
    const p = gs.acquire('openfaas-fn', 'f', { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    try {
      await p;
      expect.fail('should reject');
    } catch (e) {
      expect((e as SchedulerError).kind).to.equal('aborted');
    }
  });
});
