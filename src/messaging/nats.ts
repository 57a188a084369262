import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, headers as natsHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../logger.js';
import { groupHeaderPairs, headerPairsFromSet, type HeaderPair, type HttpHeaderSet } from './headers.js';

export type { NatsConnection, MsgHdrs } from '@nats-io/transport-node';

/**
 * connectNats opens the provider's NATS connection: it waits for the first connect, then reconnects forever every
 * 250 ms (measured here: a server restarted on the same port is back within about half a second), and logs
 * every status change. It resolves once connected. With credsFile it authenticates with that creds file (read
 * again at every reconnect, so a rotated file is picked up).
 */
export async function connectNats(url: string, logger: Logger, name: string, credsFile?: string): Promise<NatsConnection> {
  const log = logger.child({ component: 'nats' });
  if (credsFile) readFileSync(credsFile); // fail at start, with the path, rather than on every reconnect
  const nc = await connect({
    servers: url,
    name,
    ...(credsFile ? { authenticator: credsAuthenticator(() => new Uint8Array(readFileSync(credsFile))) } : {}),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
  });
  log.info('connected to NATS', { url, name, authenticated: !!credsFile });
  void (async () => {
    for await (const s of nc.status()) {
      switch (s.type) {
        case 'disconnect':
          log.warn('disconnected from NATS', { server: s.server });
          break;
        case 'reconnect':
          log.info('reconnected to NATS', { server: s.server });
          break;
        case 'error':
          log.warn('NATS error', { error: String(s.error) });
          break;
        case 'close':
          log.info('NATS connection closed');
          break;
        case 'ping':
        case 'reconnecting':
          log.debug(`NATS ${s.type}`);
          break;
        default:
          log.debug(`NATS ${s.type}`);
      }
    }
  })().catch(() => undefined);
  return nc;
}

/** toNatsHeaders builds NATS headers from an HTTP header set: canonical keys, one append per value (repeated keys kept). */
export function toNatsHeaders(set: HttpHeaderSet | readonly HeaderPair[], skip?: ReadonlySet<string>): MsgHdrs {
  const h = natsHeaders();
  const pairs = Array.isArray(set) ? (set as readonly HeaderPair[]) : headerPairsFromSet(set as HttpHeaderSet, skip);
  for (const [k, v] of pairs) {
    if (skip?.has(k.toLowerCase())) continue;
    h.append(k, v);
  }
  return h;
}

/** fromNatsHeaders reads NATS headers back into Go's http.Header shape (canonical key -> values). */
export function fromNatsHeaders(h: MsgHdrs | undefined): Record<string, string[]> {
  if (!h) return {};
  const pairs: HeaderPair[] = [];
  for (const k of h.keys()) for (const v of h.values(k)) pairs.push([k, v]);
  return groupHeaderPairs(headerPairsFromSet(groupHeaderPairs(pairs)));
}
