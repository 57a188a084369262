import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { parseFunctionKey } from '../../names.js';
import type { Counter } from 'prom-client';
import { decodeBounceRequest, encodeBounceReply } from '@hyperfaas/watchdog/bounce-codec';
import { headers as H, subjects } from '@hyperfaas/watchdog/protocol';
import { isBackendError } from '../../backends/backend.js';
import type { Logger } from '../../logger.js';
import type { Invoker } from '../../invoke/invoker.js';

/** BounceResponderOptions configure the GS side of bounce-back. */
export interface BounceResponderOptions {
  nc: NatsConnection;
  invoker: Invoker;
  logger: Logger;
  defaultNamespace: string;
  /** timeoutMs bounds one re-scheduled invocation. */
  timeoutMs: number;
  /** bounced counts bounces by outcome (rerouted, kept, failed, too-large). */
  bounced?: Counter<'outcome'>;
  /**
   * hasRoom tells whether any instance other than `avoid` can take the function's request now. When it says no, the
   * bounce is refused at once and the ICS keeps the request in its own queue: hopping to another full instance only
   * to be bounced or queued there costs two more hops and a NATS round trip per request, and under load such retries feed on themselves.
   */
  hasRoom?: (namespace: string, name: string, avoid: readonly string[]) => boolean;
  /** onBounce hears every bounced request's function (the scaling policies count bounces as demand). */
  onBounce?: (namespace: string, name: string) => void;
}

/**
 * startBounceResponder subscribes the GS to bounced requests (queue group, so several GS replicas share them),
 * re-runs each through the Invoker on another instance, and replies with the response; when no other instance has
 * room (hasRoom) it replies at once with an error, so the ICS queues the request itself. A reply whose body does not
 * fit in one NATS message becomes a 502 marked internal (the function did run: it is never run twice).
 */
export function startBounceResponder(o: BounceResponderOptions): { stop(): void } {
  const log = o.logger.child({ component: 'bounce' });
  const sub: Subscription = o.nc.subscribe(subjects.bouncesAll, {
    queue: subjects.bounceQueue,
    callback: (err, msg) => {
      if (err) return;
      void (async () => {
        let decoded;
        try {
          decoded = decodeBounceRequest(msg.headers);
        } catch (e) {
          msg.respond(new Uint8Array(), { headers: encodeBounceReply({ status: 400, headers: {}, error: String(e) }) });
          return;
        }
        const { meta, headers } = decoded;
        // An instance may bounce only on its own subject (NATS permissions); one that claims another sender would
        // make the GS avoid the wrong instance.
        if (msg.subject !== subjects.bounce(meta.from)) {
          o.bounced?.inc({ outcome: 'forged' });
          msg.respond(new Uint8Array(), { headers: encodeBounceReply({ status: 400, headers: {}, error: `bounce from ${meta.from} arrived on ${msg.subject}` }) });
          return;
        }
        const { name, namespace } = parseFunctionKey(meta.fn, o.defaultNamespace);
        headers[H.bounces] = String(meta.bounces);
        o.onBounce?.(namespace, name);
        const avoid = meta.from ? [meta.from] : [];
        if (o.hasRoom && !o.hasRoom(namespace, name, avoid)) {
          o.bounced?.inc({ outcome: 'kept' });
          msg.respond(new Uint8Array(), { headers: encodeBounceReply({ status: 503, headers: {}, error: `no other instance of ${meta.fn} has room: keep it queued`, noRoom: true }) });
          return;
        }
        try {
          const res = await o.invoker.invoke({
            namespace,
            name,
            method: meta.method,
            path: meta.path,
            query: meta.query,
            headers,
            body: Buffer.from(msg.data),
            timeoutMs: o.timeoutMs,
            avoidInstances: avoid,
          });
          const max = o.nc.info?.max_payload ?? 1024 * 1024;
          if (res.body.length > max - 16 * 1024) {
            o.bounced?.inc({ outcome: 'too-large' });
            msg.respond(new TextEncoder().encode(`response of ${res.body.length} bytes does not fit the NATS payload limit\n`), {
              headers: encodeBounceReply({ status: 502, headers: { [H.internal]: 'bounce', 'content-type': 'text/plain' } }),
            });
            return;
          }
          o.bounced?.inc({ outcome: 'rerouted' });
          log.debug('bounce re-routed', { fn: meta.fn, from: meta.from, bounces: meta.bounces, status: res.status });
          msg.respond(res.body, { headers: encodeBounceReply({ status: res.status, headers: { ...res.headers, [H.route]: 'bounced' } }) });
        } catch (e) {
          o.bounced?.inc({ outcome: 'failed' });
          const status = isBackendError(e, 'NotFound') ? 404 : 503;
          log.debug('bounce could not be placed', { fn: meta.fn, error: String(e) });
          msg.respond(new Uint8Array(), { headers: encodeBounceReply({ status, headers: {}, error: String((e as Error).message ?? e) }) });
        }
      })();
    },
  });
  return { stop: () => sub.unsubscribe() };
}
