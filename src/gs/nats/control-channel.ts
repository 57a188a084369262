/**
 * control-channel carries the GS's control commands (specialise, release, resize) to one instance's ICS: over NATS
 * request/reply when connected, else over the watchdog's HTTP control endpoint.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { request } from 'undici';
import { headers as H, subjects, type ControlReply } from '@hyperfaas/watchdog/protocol';
import type { ControlChannel } from '../sharing.js';

/** TokenFor returns the control token to send to one instance (its own, or a shared fallback), if any. */
export type TokenFor = (instanceId: string) => string | undefined;

/**
 * controlChannel sends control commands over NATS request/reply when a connection is up, and otherwise over the
 * watchdog's own HTTP control endpoint with that instance's control token (tokenFor; a string is one token for
 * every instance): so a local provider without NATS can still lend slots.
 */
export function controlChannel(nc: () => NatsConnection | undefined, tokenFor?: string | TokenFor): ControlChannel {
  const tokenOf: TokenFor = typeof tokenFor === 'function' ? tokenFor : () => tokenFor;
  return async (instance, req, timeoutMs) => {
    const c = nc();
    if (c && !c.isClosed()) {
      try {
        const m = await c.request(subjects.control(instance.id), JSON.stringify(req), { timeout: timeoutMs });
        return m.json<ControlReply>();
      } catch {
        /* fall back to HTTP below */
      }
    }
    const token = tokenOf(instance.id);
    const res = await request(`${instance.url}/_/hyperfaas/control`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { [H.controlToken]: token } : {}) },
      body: JSON.stringify(req),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const text = await res.body.text();
    try {
      return JSON.parse(text) as ControlReply;
    } catch {
      return { ok: false, error: `control answered ${res.statusCode}: ${text.trim()}` };
    }
  };
}
