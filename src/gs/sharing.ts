import type { Counter } from 'prom-client';
import type { ControlReply, ControlRequest } from '@hyperfaas/watchdog/protocol';
import type { FunctionBackend, Instance } from '../backends/backend.js';
import type { Logger } from '../logger.js';
import { functionKey, parseFunctionKey } from '../names.js';

/** ControlChannel sends one control command to one instance's ICS (gs/nats/control-channel.ts is the real one). */
export type ControlChannel = (instance: Instance, req: ControlRequest, timeoutMs: number) => Promise<ControlReply>;

/** GuestSlots is the part of the GS's view that guest sharing changes (the GlobalScheduler implements it). */
export interface GuestSlots {
  /** instanceOf returns one instance the view holds, if any. */
  instanceOf(id: string): Instance | undefined;
  /** addGuest adds host's guest slot, now serving namespace/name, to that function's placement. */
  addGuest(hostId: string, namespace: string, name: string): boolean;
  /** removeGuest takes host's lent guest slot out of placement; returns the function it served, if any. */
  removeGuest(hostId: string): { namespace: string; name: string } | undefined;
}

/** GuestSharingOptions wire a GuestSharing. */
export interface GuestSharingOptions {
  slots: GuestSlots;
  backend: FunctionBackend;
  control: ControlChannel;
  logger: Logger;
  timeoutMs?: number;
  /** specialisations counts specialise/release outcomes. */
  counter?: Counter<'op' | 'outcome'>;
  /** onSpecialise hears every specialise outcome of a function ("name.namespace") on a host instance. */
  onSpecialise?: (fnKey: string, hostId: string, reply: ControlReply) => void;
}

/**
 * GuestSharing lends generic (guest) slots across functions (container sharing): specialise loads a
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
    const host = this.o.slots.instanceOf(hostId);
    if (!host) return this.failed(hostId, fnKey, `unknown host instance ${hostId}`);
    const { name, namespace } = parseFunctionKey(fnKey, host.namespace);
    let code;
    try {
      code = await this.o.backend.codeRef?.(namespace, name);
    } catch (e) {
      return this.failed(hostId, fnKey, `publishing ${fnKey}'s code failed: ${(e as Error).message}`);
    }
    if (!code) return this.failed(hostId, fnKey, `the ${this.o.backend.name} backend has no code of ${fnKey} to lend`);
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
    if (!reply.ok) return this.failed(hostId, fnKey, reply.error ?? 'specialise failed', reply.ms);
    this.o.slots.addGuest(hostId, namespace, name);
    this.log.info('guest slot specialised', { host: hostId, function: fnKey, ms: reply.ms });
    this.o.onSpecialise?.(fnKey, hostId, reply);
    return this.done('specialise', reply);
  }

  /** failed reports a specialisation that did not happen: a warning, the counter and onSpecialise. */
  private failed(hostId: string, fnKey: string, error: string, ms?: number): ControlReply {
    const reply: ControlReply = { ok: false, error, ...(ms !== undefined ? { ms } : {}) };
    this.log.warn(`guest slot specialisation failed: ${error}`, { host: hostId, function: fnKey, error });
    this.o.onSpecialise?.(fnKey, hostId, reply);
    return this.done('specialise', reply);
  }

  /** release takes hostId's lent slot out of placement and returns it to generic. */
  async release(hostId: string): Promise<ControlReply> {
    const host = this.o.slots.instanceOf(hostId);
    const lent = this.o.slots.removeGuest(hostId);
    if (!host) return this.done('release', { ok: true, ms: 0 });
    const reply = await this.o.control(host, { op: 'release' }, this.o.timeoutMs ?? 10_000).catch((e: unknown) => ({ ok: false, error: String(e) }) as ControlReply);
    this.log.info('guest slot released', { host: hostId, function: lent ? functionKey(lent.name, lent.namespace) : undefined, ok: reply.ok });
    return this.done('release', reply);
  }

  /** notifyResize tells an ICS its new limits after a scale-up or give-back, so its watermarks measure against them. */
  async notifyResize(instanceId: string, cpu?: number, memoryBytes?: number): Promise<void> {
    const host = this.o.slots.instanceOf(instanceId);
    if (!host) return;
    const req: ControlRequest = { op: 'resize', ...(cpu !== undefined ? { cpu } : {}), ...(memoryBytes !== undefined ? { memoryBytes } : {}) };
    await this.o.control(host, req, this.o.timeoutMs ?? 10_000).catch(() => undefined);
  }

  /**
   * setCapacity sets an instance's home-slot concurrency limit (phase 1 for an instance short of concurrency, and its
   * give-back to max_inflight); resolves to the ICS's reply.
   */
  async setCapacity(instanceId: string, capacity: number): Promise<ControlReply> {
    const host = this.o.slots.instanceOf(instanceId);
    if (!host) return { ok: false, error: `unknown instance ${instanceId}` };
    return this.o.control(host, { op: 'resize', capacity }, this.o.timeoutMs ?? 10_000).catch((e: unknown) => ({ ok: false, error: String(e) }) as ControlReply);
  }

  private done(op: string, r: ControlReply): ControlReply {
    this.o.counter?.inc({ op, outcome: r.ok ? 'ok' : 'failed' });
    return r;
  }
}
