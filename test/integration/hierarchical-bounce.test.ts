/**
 * The GS side of bounce-back on a real nats-server: a bounce is re-run elsewhere only when another instance has room;
 * when every other instance is full (or there is none), the GS refuses at once and the ICS keeps the request in its
 * own queue (and stops asking for a moment), so an overloaded cluster does not spend more hops and NATS round trips
 * on each request. Also the
 * scheduler's hasRoom over the view (ready, routable, not over the high watermark, not excluded).
 */
import { expect } from 'chai';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Counter, Registry } from 'prom-client';
import type { FunctionBackend, Instance } from '../../src/backends/backend.js';
import { startBounceResponder } from '../../src/gs/nats/bounce-responder.js';
import { silentLogger } from '../../src/logger.js';
import type { InvokeRequest, Invoker } from '../../src/invoke/invoker.js';
import { GlobalScheduler } from '../../src/gs/global-scheduler.js';
import { InstanceView } from '../../src/gs/view.js';
import { BounceUnavailable, NatsLink } from '@hyperfaas/watchdog/nats-link';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { eventually } from '../contract/backend.contract.js';
import { sumMetric } from '../../bench/hierarchical/harness.js';

function inst(id: string, ready = true): Instance {
  return { id, function: 'f', namespace: 'ns', url: `http://127.0.0.1:1/${id}`, ready, startedAt: 0 };
}

describe('hierarchical bounce-back: the GS keeps no hop it cannot use', function () {
  this.timeout(30_000);

  describe('GlobalScheduler.hasRoom', () => {
    const cases: Array<{ name: string; setup: (v: InstanceView) => void; exclude?: string[]; want: boolean }> = [
      { name: 'is false when the function has no instance', setup: () => undefined, want: false },
      { name: 'is true when another ready instance is below its high watermark', setup: (v) => ['a', 'b'].forEach((id) => v.apply({ type: 'added', instance: inst(id) })), exclude: ['a'], want: true },
      { name: 'is false when the only other instance is over its high watermark', setup: (v) => (['a', 'b'].forEach((id) => v.apply({ type: 'added', instance: inst(id) })), v.setBlocked('b', true)), exclude: ['a'], want: false },
      { name: 'is false when the only other instance is not ready', setup: (v) => (v.apply({ type: 'added', instance: inst('a') }), v.apply({ type: 'added', instance: inst('b', false) })), exclude: ['a'], want: false },
      { name: 'is false when the only other instance is held by the policy', setup: (v) => (['a', 'b'].forEach((id) => v.apply({ type: 'added', instance: inst(id) })), v.setRoutable('ns', 'f', ['a'])), exclude: ['a'], want: false },
      {
        name: 'is true when a lent guest slot of another function has room',
        setup: (v) => (v.apply({ type: 'added', instance: inst('a') }), v.apply({ type: 'added', instance: { ...inst('h'), function: 'g' } }), v.addGuest('h', 'ns', 'f')),
        exclude: ['a'],
        want: true,
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const view = new InstanceView();
        const s = new GlobalScheduler({ backend: {} as FunctionBackend, logger: silentLogger(), view });
        c.setup(view);
        expect(s.hasRoom('ns', 'f', c.exclude ? new Set(c.exclude) : undefined)).to.equal(c.want);
      });
    }
  });

  describe('GlobalScheduler.lessBusyThan', () => {
    const cases: Array<{ name: string; backlog: Record<string, number>; notReady?: string[]; margin?: number; want: boolean }> = [
      { name: 'is true when another instance has a backlog shorter by 2 or more (the default margin)', backlog: { a: 20, b: 4, c: 30 }, want: true },
      { name: 'is false when the others are as busy (no ping-pong on ties)', backlog: { a: 5, b: 4, c: 5 }, want: false },
      { name: 'is false without a report from the bouncing instance', backlog: { b: 0, c: 0 }, want: false },
      { name: 'ignores instances without a report', backlog: { a: 9 }, want: false },
      { name: 'ignores instances that are not ready', backlog: { a: 9, b: 0, c: 9 }, notReady: ['b'], want: false },
      { name: 'is false when the difference is under a larger margin', backlog: { a: 7, b: 4, c: 9 }, margin: 4, want: false },
      { name: 'is true when the difference reaches a larger margin', backlog: { a: 8, b: 4, c: 9 }, margin: 4, want: true },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const view = new InstanceView();
        const s = new GlobalScheduler({ backend: {} as FunctionBackend, logger: silentLogger(), view });
        for (const id of ['a', 'b', 'c']) view.apply({ type: 'added', instance: inst(id, !c.notReady?.includes(id)) });
        expect(s.lessBusyThan('ns', 'f', 'a', (id) => c.backlog[id], c.margin)).to.equal(c.want);
      });
    }
  });

  describe('over NATS', () => {
    let nats: NatsServer;
    let gs: NatsConnection;
    let link: NatsLink;
    let responder: { stop(): void };
    const registry = new Registry();
    const bounced = new Counter({ name: 'hyperfaas_bounces_total', help: 'bounces', labelNames: ['outcome'], registers: [registry] });
    const calls: InvokeRequest[] = [];
    const asked: Array<{ name: string; avoid: readonly string[] }> = [];
    const invoker: Invoker = {
      async invoke(req) {
        calls.push(req);
        return { status: 200, headers: { 'content-type': 'text/plain' }, body: Buffer.from('ran elsewhere') };
      },
    };

    before(async () => {
      nats = await startNatsServer();
      gs = await connect({ servers: nats.url });
      responder = startBounceResponder({
        nc: gs,
        invoker,
        logger: silentLogger(),
        defaultNamespace: 'ns',
        timeoutMs: 5_000,
        bounced,
        hasRoom: (_ns, name, avoid) => {
          asked.push({ name, avoid });
          return name !== 'full';
        },
      });
      link = new NatsLink({
        url: nats.url,
        instanceId: 'i-a',
        namespace: 'ns',
        fn: 'full',
        reportEveryMs: 1_000,
        noRoomHoldMs: 500,
        log: () => undefined,
        hooks: { snapshot: () => ({ instance: 'i-a', function: 'full', namespace: 'ns', url: '', slots: [], cpu: { used: 0, limit: 0 }, memory: { used: 0, limit: 0 }, watermark: 'high', draining: false }), control: async () => ({ ok: true }) },
      });
      link.start();
      await eventually(() => expect(link.connected).to.equal(true), 10_000);
    });
    after(async () => {
      responder.stop();
      await link.close();
      await gs.close();
      await nats.dispose();
    });

    it('refuses a bounce when no other instance has room: the ICS keeps it and the function is not run', async () => {
      let err: unknown;
      try {
        await link.bounce({ fn: 'full.ns', method: 'POST', path: '/', query: '', from: 'i-a', bounces: 1 }, {}, Buffer.from('x'), 5_000);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(BounceUnavailable);
      expect(String((err as Error).message)).to.match(/has room/);
      expect(calls).to.have.length(0);
      expect(asked.at(-1)).to.deep.equal({ name: 'full', avoid: ['i-a'] });
      expect(sumMetric(await registry.metrics(), 'hyperfaas_bounces_total', { outcome: 'kept' })).to.equal(1);
    });

    it('then fails further bounces of that function at once, without asking the GS, until the hold passes', async () => {
      const bounceFull = () => link.bounce({ fn: 'full.ns', method: 'POST', path: '/', query: '', from: 'i-a', bounces: 1 }, {}, Buffer.from('x'), 5_000);
      const askedBefore = asked.length;
      let err: unknown;
      try {
        await bounceFull();
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(BounceUnavailable);
      expect(asked.length, 'the GS was not asked again').to.equal(askedBefore);
      // After the hold the GS is asked again (and refuses again here).
      await eventually(async () => {
        await bounceFull().catch(() => undefined);
        expect(asked.length).to.be.greaterThan(askedBefore);
      }, 5_000, 100);
      expect(sumMetric(await registry.metrics(), 'hyperfaas_bounces_total', { outcome: 'kept' })).to.equal(2);
    });

    it('re-runs a bounce elsewhere when another instance has room', async () => {
      const { reply, body } = await link.bounce({ fn: 'roomy.ns', method: 'POST', path: '/p', query: '', from: 'i-a', bounces: 1 }, {}, Buffer.from('y'), 5_000);
      expect(reply.status).to.equal(200);
      expect(Buffer.from(body).toString()).to.equal('ran elsewhere');
      expect(calls.map((c) => c.name)).to.deep.equal(['roomy']);
      expect(sumMetric(await registry.metrics(), 'hyperfaas_bounces_total', { outcome: 'rerouted' })).to.equal(1);
    });
  });
});
