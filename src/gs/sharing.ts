import type { NatsConnection } from '@nats-io/transport-node';
import type { Counter } from 'prom-client';
import { request } from 'undici';
import { headers as H, subjects, type ControlReply, type ControlRequest } from '../../watchdog/src/protocol.js';
import type { FunctionBackend, Instance } from '../backends/backend.js';
import type { Logger } from '../logger.js';
import type { InstanceView } from '../scheduler/view.js';
import { functionKey, parseFunctionKey } from '../names.js';

/** ControlChannel sends one control command to one instance's ICS. */
export type ControlChannel = (instance: Instance, req: ControlRequest, timeoutMs: number) => Promise<ControlReply>;

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

/** GuestSharingOptions wire a GuestSharing. */
export interface GuestSharingOptions {
  view: InstanceView;
  backend: FunctionBackend;
  control: ControlChannel;
  logger: Logger;
  timeoutMs?: number;
  /** specialisations counts specialise/release outcomes. */
  counter?: Counter<'op' | 'outcome'>;
}

/**
 * GuestSharing lends generic (guest) slots across functions (DESIGN.md, container sharing): specialise loads a
 * function's code into another instance's guest slot and, once the ICS says it serves, adds it to placement;
 * release takes it out of placement first (no new requests), then returns the slot to generic.
 */
export class GuestSharing {
  private readonly log: Logger;

  constructor(private readonly o: GuestSharingOptions) {
    this.log = o.logger.child({ component: 'sharing' });
  }

  /** specialise lends hostId's guest slot to fnKey ("name.namespace"); resolves to the ICS's reply. */
  async specialise(hostId: string, fnKey: string): Promise<ControlReply> {
    const host = this.o.view.candidate(hostId)?.instance;
    if (!host) return this.done('specialise', { ok: false, error: `unknown host instance ${hostId}` });
    const { name, namespace } = parseFunctionKey(fnKey, host.namespace);
    const code = await this.o.backend.codeRef?.(namespace, name, hostId);
    if (!code) return this.done('specialise', { ok: false, error: `the ${this.o.backend.name} backend has no code source for ${fnKey}` });
    const st = await this.o.backend.get(namespace, name);
    const capacity = Number(st.envVars?.max_inflight ?? 0);
    const req: ControlRequest = {
      op: 'specialise',
      function: fnKey,
      code,
      env: st.envVars ?? {},
      ...(st.secrets?.length ? { secrets: st.secrets } : {}),
      ...(capacity > 0 ? { capacity } : {}),
    };
    const reply = await this.o.control(host, req, this.o.timeoutMs ?? 10_000).catch((e: unknown) => ({ ok: false, error: String(e) }) as ControlReply);
    if (reply.ok) {
      this.o.view.addGuest(hostId, namespace, name);
      this.log.info('guest slot specialised', { host: hostId, function: fnKey, ms: reply.ms });
    } else {
      this.log.warn('guest slot specialisation failed', { host: hostId, function: fnKey, error: reply.error });
    }
    return this.done('specialise', reply);
  }

  /** release takes hostId's lent slot out of placement and returns it to generic. */
  async release(hostId: string): Promise<ControlReply> {
    const host = this.o.view.candidate(hostId)?.instance;
    const lent = this.o.view.removeGuest(hostId);
    if (!host) return this.done('release', { ok: true, ms: 0 });
    const reply = await this.o.control(host, { op: 'release' }, this.o.timeoutMs ?? 10_000).catch((e: unknown) => ({ ok: false, error: String(e) }) as ControlReply);
    this.log.info('guest slot released', { host: hostId, function: lent ? functionKey(lent.name, lent.namespace) : undefined, ok: reply.ok });
    return this.done('release', reply);
  }

  /** notifyResize tells an ICS its new limits after a scale-up or give-back, so its watermarks measure against them. */
  async notifyResize(instanceId: string, cpu?: number, memoryBytes?: number): Promise<void> {
    const host = this.o.view.candidate(instanceId)?.instance;
    if (!host) return;
    const req: ControlRequest = { op: 'resize', ...(cpu !== undefined ? { cpu } : {}), ...(memoryBytes !== undefined ? { memoryBytes } : {}) };
    await this.o.control(host, req, this.o.timeoutMs ?? 10_000).catch(() => undefined);
  }

  private done(op: string, r: ControlReply): ControlReply {
    this.o.counter?.inc({ op, outcome: r.ok ? 'ok' : 'failed' });
    return r;
  }
}
