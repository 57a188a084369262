/**
 * view is the GS's live picture of every instance, per function: seeded from backend.instances() and kept current by
 * backend.watchInstances(). It owns the Candidate records placement mutates, so in-flight counts survive an instance
 * being modified (e.g. turning ready). Later steps feed load reports into the same records.
 */
import type { FunctionBackend, Instance, InstanceEvent } from '../backends/backend.js';
import { functionKey } from '../names.js';
import type { Candidate } from './placement.js';

/** ViewListener hears every change the view applied, after it applied it. */
export type ViewListener = (ev: InstanceEvent, key: string) => void;

/** InstanceView holds Candidates by function and tells listeners about changes. */
export class InstanceView {
  private readonly byFunction = new Map<string, Candidate[]>();
  private readonly byId = new Map<string, Candidate>();
  private readonly listeners = new Set<ViewListener>();
  private unwatch: (() => void) | undefined;

  /** attach seeds the view from the backend and follows its instance watch until detach. */
  attach(backend: Pick<FunctionBackend, 'watchInstances' | 'instances'>): void {
    this.detach();
    // Subscribe first so nothing that changes between the snapshot and the subscription is lost; apply is idempotent.
    this.unwatch = backend.watchInstances((ev) => this.apply(ev));
    for (const inst of backend.instances()) this.apply({ type: 'added', instance: inst });
  }

  /** detach stops following the backend. */
  detach(): void {
    this.unwatch?.();
    this.unwatch = undefined;
  }

  /** apply folds one instance event into the view. */
  apply(ev: InstanceEvent): void {
    const inst = ev.instance;
    const key = functionKey(inst.function, inst.namespace);
    const existing = this.byId.get(inst.id);
    if (ev.type === 'deleted') {
      if (!existing) return;
      if (!existing.guestOf && this.byId.has(`${inst.id}/guest`)) this.removeGuest(inst.id);
      this.byId.delete(inst.id);
      const oldKey = functionKey(existing.instance.function, existing.instance.namespace);
      const list = this.byFunction.get(oldKey);
      if (list) {
        const i = list.indexOf(existing);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) this.byFunction.delete(oldKey);
      }
      // A lease still held on a deleted instance releases into this orphaned record, harmlessly.
      existing.instance = { ...existing.instance, ready: false };
    } else if (existing) {
      existing.instance = inst;
      const guest = existing.guestOf ? undefined : this.byId.get(`${inst.id}/guest`);
      if (guest) guest.instance = { ...guest.instance, ready: inst.ready, url: inst.url };
    } else {
      const c: Candidate = { instance: inst, inflight: 0 };
      this.byId.set(inst.id, c);
      const list = this.byFunction.get(key);
      if (list) list.push(c);
      else this.byFunction.set(key, [c]);
    }
    for (const l of this.listeners) l(ev, key);
  }

  /**
   * addGuest lends host's guest slot to function namespace/name: a candidate with its own id (host id + "/guest")
   * and the host's URL; the router names the function in x-hyperfaas-function, so the host's ICS routes it to the
   * guest slot. Removing the host removes the guest candidate with it.
   */
  addGuest(hostId: string, namespace: string, name: string): boolean {
    const host = this.byId.get(hostId);
    if (!host || host.guestOf) return false;
    const id = `${hostId}/guest`;
    this.removeGuest(hostId);
    const inst: Instance = { ...host.instance, id, function: name, namespace };
    const c: Candidate = { instance: inst, inflight: 0, guestOf: hostId };
    this.byId.set(id, c);
    const key = functionKey(name, namespace);
    const list = this.byFunction.get(key);
    if (list) list.push(c);
    else this.byFunction.set(key, [c]);
    for (const l of this.listeners) l({ type: 'added', instance: inst }, key);
    return true;
  }

  /** removeGuest takes host's lent guest slot out of placement; returns the function it served, if any. */
  removeGuest(hostId: string): { namespace: string; name: string } | undefined {
    const c = this.byId.get(`${hostId}/guest`);
    if (!c) return undefined;
    this.apply({ type: 'deleted', instance: c.instance });
    return { namespace: c.instance.namespace, name: c.instance.function };
  }

  /** guests lists the host instance ids whose guest slots serve namespace/name. */
  guests(namespace: string, name: string): string[] {
    return this.candidates(namespace, name)
      .filter((c) => c.guestOf !== undefined)
      .map((c) => c.guestOf!);
  }

  /** setRoutable limits which of a function's own instances placement may use; undefined lifts the limit. */
  setRoutable(namespace: string, name: string, ids: readonly string[] | undefined): void {
    const allowed = ids ? new Set(ids) : undefined;
    for (const c of this.candidates(namespace, name)) {
      if (c.guestOf) continue;
      c.held = allowed !== undefined && !allowed.has(c.instance.id);
    }
  }

  /** candidates returns the live records of one function's instances ([] when none). */
  candidates(namespace: string, name: string): readonly Candidate[] {
    return this.byFunction.get(functionKey(name, namespace)) ?? [];
  }

  /** candidate returns one instance's record. */
  candidate(id: string): Candidate | undefined {
    return this.byId.get(id);
  }

  /** known tells whether the view holds this instance (load reports for unknown instances are ignored). */
  known(id: string): boolean {
    return this.byId.has(id);
  }

  /**
   * setBlocked marks an instance as unable to take new work (over its high watermark, draining); placement then
   * uses it only when nothing else is ready. Unknown ids are ignored.
   */
  setBlocked(id: string, blocked: boolean): void {
    const c = this.byId.get(id);
    if (c) c.blocked = blocked;
    // A host over its high watermark takes no new work in its lent guest slot either.
    const g = this.byId.get(`${id}/guest`);
    if (g) g.blocked = blocked;
  }

  /** instances returns a snapshot of every real instance in the view (lent guest slots are not instances). */
  instances(): Instance[] {
    return [...this.byId.values()].filter((c) => !c.guestOf).map((c) => c.instance);
  }

  /** subscribe calls listener after every change; returns the unsubscribe function. */
  subscribe(listener: ViewListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
