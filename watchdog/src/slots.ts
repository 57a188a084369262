/**
 * slots is the pure bookkeeping of the two worker slots: which function each holds, its state, its concurrency limit
 * and its in-flight count. Like knative's Breaker it admits or refuses at once (no queue): acquire() hands back a
 * ticket whose release() is idempotent, so in-flight accounting cannot leak or go negative.
 */
import type { SlotKind, SlotReport, SlotState } from './protocol.js';

/** Ticket is an admitted request; release() it exactly when the request ends (extra calls are ignored). */
export interface Ticket {
  readonly slot: SlotKind;
  release(): void;
}

/** Slot is one worker slot's state. */
export interface Slot {
  readonly kind: SlotKind;
  state: SlotState;
  /** function is "name.namespace" (undefined while generic). */
  function: string | undefined;
  capacity: number;
  inflight: number;
}

/** SlotTable holds the home and guest slots and admits requests against their capacities. */
export class SlotTable {
  readonly home: Slot;
  readonly guest: Slot;

  constructor(home: { function: string; capacity: number; state?: SlotState }, guest?: { capacity: number; state?: SlotState }) {
    this.home = { kind: 'home', state: home.state ?? 'serving', function: home.function, capacity: home.capacity, inflight: 0 };
    this.guest = { kind: 'guest', state: guest ? (guest.state ?? 'generic') : 'down', function: undefined, capacity: guest?.capacity ?? 0, inflight: 0 };
  }

  /**
   * route names the slot for the value of the x-hyperfaas-function header: none, the home function ("name" or
   * "name.namespace") means home; the guest's function means guest; anything else is undefined (not here).
   */
  route(fn: string | undefined): Slot | undefined {
    if (fn === undefined || fn === '') return this.home;
    const guest = this.guest.function;
    if (guest !== undefined && (fn === guest || guest.startsWith(fn + '.'))) return this.guest;
    const home = this.home.function;
    if (home === undefined || home === '' || fn === home || home.startsWith(fn + '.')) return this.home;
    return undefined;
  }

  /** acquire admits one request to slot if it is serving and below its capacity (0 = unlimited); else null. */
  acquire(slot: Slot): Ticket | null {
    if (slot.state !== 'serving') return null;
    if (slot.capacity > 0 && slot.inflight >= slot.capacity) return null;
    slot.inflight++;
    let done = false;
    return {
      slot: slot.kind,
      release: () => {
        if (done) return;
        done = true;
        slot.inflight--;
      },
    };
  }

  /** full tells whether slot is at its capacity. */
  full(slot: Slot): boolean {
    return slot.capacity > 0 && slot.inflight >= slot.capacity;
  }

  /** inflight is the total over both slots. */
  inflight(): number {
    return this.home.inflight + this.guest.inflight;
  }

  /** report is the slots as a LoadReport carries them. */
  report(): SlotReport[] {
    return [this.home, this.guest].map((s) => {
      const r: SlotReport = { kind: s.kind, state: s.state, inflight: s.inflight, capacity: s.capacity };
      if (s.function !== undefined) r.function = s.function;
      return r;
    });
  }
}
