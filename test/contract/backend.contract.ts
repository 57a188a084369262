import { expect } from 'chai';
import { isBackendError, type BackendErrorKind, type FunctionBackend, type InstanceEvent } from '../../src/backends/backend.js';
import type { FunctionDeployment } from '../../src/types/index.js';
import { eventually } from '../support/http.js';

export { eventually };

/** ContractTarget is one backend under test, built fresh for each case. */
export interface ContractTarget {
  backend: FunctionBackend;
  /** image is an image the backend can run (a function that answers HTTP). */
  image: string;
  /** envProcessImage is an image that runs envProcess in fork mode, when the backend tells them apart. */
  envProcessImage?: string;
  /** markReady makes the function's instances ready where the backend does not by itself (a fake cluster). */
  markReady?(namespace: string, name: string): Promise<void>;
  cleanup(): Promise<void>;
}

const NS = 'openfaas-fn';

async function expectKind(p: Promise<unknown>, kind: BackendErrorKind): Promise<void> {
  try {
    await p;
  } catch (e) {
    expect(isBackendError(e), `expected a BackendError, got ${String(e)}`).to.equal(true);
    expect((e as { kind: string }).kind).to.equal(kind);
    return;
  }
  expect.fail(`expected a BackendError ${kind}, but the call succeeded`);
}

/**
 * runBackendContract is the one behaviour suite every FunctionBackend passes: the semantics the
 * provider API relies on, independent of where instances come from.
 */
export function runBackendContract(name: string, setup: () => Promise<ContractTarget>): void {
  describe(`backend contract: ${name}`, function () {
    this.timeout(60_000);
    let t: ContractTarget;
    let seq = 0;
    const fnName = () => `contract-${process.pid % 1000}-${++seq}`;
    const fd = (service: string, extra: Partial<FunctionDeployment> = {}): FunctionDeployment & { namespace: string } => ({
      service,
      image: t.image,
      namespace: NS,
      labels: {},
      annotations: {},
      ...extra,
    });
    const ready = async (service: string, want = 1) => {
      if (t.markReady) await t.markReady(NS, service);
      return eventually(async () => {
        const st = await t.backend.get(NS, service);
        expect(st.availableReplicas, 'availableReplicas').to.be.at.least(want);
        return st;
      });
    };

    beforeEach(async () => {
      t = await setup();
    });
    afterEach(async () => {
      await t.cleanup();
    });

    it('lists the default namespace first', async () => {
      const nss = await t.backend.namespaces();
      expect(nss[0]).to.equal(NS);
    });

    it('deploys a function whose status carries the faas-provider fields', async () => {
      const n = fnName();
      await t.backend.deploy(
        fd(n, {
          envVars: { GREETING: 'hi' },
          labels: { team: 'a' },
          annotations: { note: 'line1\nline2' },
          limits: { memory: '128Mi', cpu: '500m' },
        }),
);
      const st = await t.backend.get(NS, n);
      expect(st.name).to.equal(n);
      expect(st.namespace).to.equal(NS);
      expect(st.image).to.equal(t.image);
      expect(st.labels).to.include({ team: 'a', faas_function: n });
      expect(st.annotations).to.include({ note: 'line1\nline2' });
      expect(st.limits).to.deep.include({ memory: '128Mi', cpu: '500m' });
      expect(st.replicas).to.equal(1);
      expect(st.invocationCount).to.equal(0);
      expect(Number.isNaN(Date.parse(st.createdAt))).to.equal(false);
      expect(st.createdAt).to.match(/^\d{4}-\d\d-\d\dT/);
    });

    it('returns labels and annotations objects even when none were given', async () => {
      const n = fnName();
      await t.backend.deploy({ service: n, image: t.image, namespace: NS });
      const st = await t.backend.get(NS, n);
      expect(st.labels).to.be.an('object');
      expect(st.annotations).to.be.an('object');
      expect(st.requests ?? undefined).to.equal(undefined);
    });

    it('starts com.openfaas.scale.min replicas', async () => {
      const n = fnName();
      await t.backend.deploy(fd(n, { labels: { 'com.openfaas.scale.min': '2' } }));
      expect((await t.backend.get(NS, n)).replicas).to.equal(2);
      await ready(n, 2);
    });

    it('refuses to deploy a function twice with Conflict', async () => {
      const n = fnName();
      await t.backend.deploy(fd(n));
      await expectKind(t.backend.deploy(fd(n)), 'Conflict');
    });

    it('refuses a deployment naming an unknown secret with Invalid, and creates nothing', async () => {
      const n = fnName();
      await expectKind(t.backend.deploy(fd(n, { secrets: ['no-such-secret'] })), 'Invalid');
      await expectKind(t.backend.get(NS, n), 'NotFound');
    });

    it('lists deployed functions per namespace', async () => {
      const a = fnName();
      const b = fnName();
      await t.backend.deploy(fd(a));
      await t.backend.deploy(fd(b));
      const names = (await t.backend.list(NS)).map((s) => s.name);
      expect(names).to.include.members([a, b]);
      for (const s of await t.backend.list(NS)) expect(s.namespace).to.equal(NS);
    });

    it('becomes ready, and shows ready instances with a URL', async () => {
      const n = fnName();
      await t.backend.deploy(fd(n));
      await ready(n);
      const inst = t.backend.instances(NS, n);
      expect(inst.filter((i) => i.ready)).to.have.length.at.least(1);
      for (const i of inst) {
        expect(i.function).to.equal(n);
        expect(i.namespace).to.equal(NS);
        expect(i.url).to.match(/^http:\/\/[^/]+:\d+$/);
      }
    });

    it('tells watchers about instances as they are added and become ready', async () => {
      const n = fnName();
      const events: InstanceEvent[] = [];
      const stop = t.backend.watchInstances((ev) => {
        if (ev.instance.function === n) events.push(ev);
      });
      try {
        await t.backend.deploy(fd(n));
        await ready(n);
        await eventually(() => {
          expect(events.some((e) => e.type === 'added')).to.equal(true);
          expect(events.some((e) => e.instance.ready)).to.equal(true);
        });
      } finally {
        stop();
      }
    });

    it('updates an existing function and answers NotFound for a missing one', async () => {
      const n = fnName();
      await t.backend.deploy(fd(n, { envVars: { V: '1' } }));
      await t.backend.update(fd(n, { envVars: { V: '2' }, labels: { changed: 'yes' } }));
      const st = await t.backend.get(NS, n);
      expect(st.labels).to.include({ changed: 'yes', faas_function: n });
      await expectKind(t.backend.update(fd(fnName())), 'NotFound');
    });

    it('scales to a desired count, zero included', async () => {
      const n = fnName();
      await t.backend.deploy(fd(n));
      await ready(n);
      await t.backend.scale(NS, n, 2);
      expect((await t.backend.get(NS, n)).replicas).to.equal(2);
      await ready(n, 2);
      await t.backend.scale(NS, n, 0);
      expect((await t.backend.get(NS, n)).replicas).to.equal(0);
      await eventually(async () => expect((await t.backend.get(NS, n)).availableReplicas).to.equal(0));
      await expectKind(t.backend.scale(NS, fnName(), 1), 'NotFound');
    });

    it('removes a function, and answers NotFound for a missing one', async () => {
      const n = fnName();
      await t.backend.deploy(fd(n));
      await t.backend.remove(NS, n);
      await expectKind(t.backend.get(NS, n), 'NotFound');
      expect((await t.backend.list(NS)).map((s) => s.name)).not.to.include(n);
      await eventually(() => expect(t.backend.instances(NS, n)).to.have.length(0));
      await expectKind(t.backend.remove(NS, n), 'NotFound');
    });

    it('keeps secrets: create, list without values, conflict, update, delete', async () => {
      const s = `sec-${process.pid % 1000}-${++seq}`;
      await t.backend.createSecret(NS, s, Buffer.from('v1'));
      await expectKind(t.backend.createSecret(NS, s, Buffer.from('again')), 'Conflict');
      const listed = await t.backend.listSecrets(NS);
      const mine = listed.find((x) => x.name === s);
      expect(mine).to.deep.equal({ name: s, namespace: NS });
      await t.backend.updateSecret(NS, s, Buffer.from('v2'));
      await expectKind(t.backend.updateSecret(NS, `${s}-missing`, Buffer.from('x')), 'NotFound');
      await t.backend.deleteSecret(NS, s);
      expect((await t.backend.listSecrets(NS)).map((x) => x.name)).not.to.include(s);
      await expectKind(t.backend.deleteSecret(NS, s), 'NotFound');
    });

    it('deploys a function that uses an existing secret', async () => {
      const s = `sec-${process.pid % 1000}-${++seq}`;
      await t.backend.createSecret(NS, s, Buffer.from('shh'));
      const n = fnName();
      await t.backend.deploy(fd(n, { secrets: [s] }));
      expect((await t.backend.get(NS, n)).secrets).to.deep.equal([s]);
    });

    it('ends a log stream that does not follow', async () => {
      const n = fnName();
      await t.backend.deploy(fd(n));
      await ready(n);
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), 15_000);
      try {
        const lines = [];
        for await (const m of t.backend.logs({ name: n, namespace: NS, tail: -1, follow: false }, ac.signal)) {
          expect(m).to.have.all.keys('name', 'namespace', 'instance', 'timestamp', 'text');
          expect(m.name).to.equal(n);
          lines.push(m);
        }
        expect(ac.signal.aborted, 'the stream ended by itself').to.equal(false);
      } finally {
        clearTimeout(timer);
      }
    });
  });
}
