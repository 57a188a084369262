/**
 * control is the GS's control surface on one instance: specialise or release the guest slot, resize (new limits and
 * concurrency after a scale-up), drain. Requests come over NATS, or over HTTP with the instance's control token.
 */
import { tokenMatches } from './credentials.js';
import type { ControlReply, ControlRequest } from './protocol.js';

/** SpecialiseCode is the code reference of a specialise request: an object in the code bucket, or a directory. */
export type SpecialiseCode = Extract<ControlRequest, { op: 'specialise' }>['code'];

/** ControlVerdict is whether an HTTP control request may run, and if not the status and message to answer. */
export type ControlVerdict = { ok: true } | { ok: false; status: 401 | 403; message: string };

/**
 * controlAllowed: every control request over HTTP carries x-hyperfaas-token equal to this instance's token, from
 * loopback too (every instance on a host shares loopback, so an address proves nothing). Without a token of its
 * own the instance takes control over NATS only.
 */
export function controlAllowed(tokenHeader: string | string[] | undefined, token: string): ControlVerdict {
  if (token === '') return { ok: false, status: 403, message: 'control over HTTP is disabled: this instance has no control token' };
  if (tokenHeader === undefined || tokenHeader === '') return { ok: false, status: 401, message: 'control requests need an x-hyperfaas-token header' };
  if (!tokenMatches(tokenHeader, token)) return { ok: false, status: 403, message: 'x-hyperfaas-token is not this instance\'s control token' };
  return { ok: true };
}

/** ControlTarget is what a control request acts on (the Watchdog). */
export interface ControlTarget {
  specialiseCode(fn: string, code: SpecialiseCode, env?: Record<string, string>, capacity?: number): Promise<ControlReply>;
  release(): Promise<ControlReply>;
  resize(r: { cpu?: number; memoryBytes?: number; capacity?: number }): ControlReply;
  drain(): Promise<ControlReply>;
}

/** runControl runs one ControlRequest on t (the HTTP endpoint and the NATS subscriber share it). */
export async function runControl(t: ControlTarget, req: ControlRequest): Promise<ControlReply> {
  switch (req?.op) {
    case 'specialise':
      if (typeof req.function !== 'string' || !req.function) return { ok: false, error: 'specialise needs a function' };
      if (req.code?.kind !== 'dir' && req.code?.kind !== 'object') {
        return { ok: false, error: `code kind ${String((req.code as { kind?: unknown } | undefined)?.kind)} is not supported: use {kind:"object"} or {kind:"dir"}` };
      }
      return t.specialiseCode(req.function, req.code, req.env ?? {}, req.capacity);
    case 'release':
      return t.release();
    case 'resize':
      return t.resize(req);
    case 'drain':
      return t.drain();
    default:
      return { ok: false, error: `unknown op ${JSON.stringify((req as { op?: unknown })?.op)}` };
  }
}
