/**
 * view is the GS's live picture of every instance, per function: seeded from backend.instances() and kept current by
 * backend.watchInstances(). It owns the Candidate records placement mutates, so in-flight counts survive an instance
 * being modified (e.g. turning ready). Later steps feed load reports into the same records.
 */
import type { FunctionBackend, Instance, InstanceEvent } from '../backends/backend.js';
import type { Candidate } from './placement.js';

/** functionKey is the view's key for one function. */
export function functionKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** ViewListener hears every change the view applied, after it applied it. */
export type ViewListener = (ev: InstanceEvent, key: string) => void;

/** InstanceView holds Candidates by function and tells listeners about changes. */
export class InstanceView {
  private readonly byFunction = new Map<string, Candidate[]>();
  private readonly byId = new Map<string, Candidate>();
  private readonly listeners = new Set<ViewListener>();
  private unwatch: (() => void) | undefined;

  /** attach seeds the view from the backend and follows its instance watch until detach. */
  attach(backend: FunctionBackend): void {
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
    const key = functionKey(inst.namespace, inst.function);
    const existing = this.byId.get(inst.id);
    if (ev.type === 'deleted') {
      if (!existing) return;
      this.byId.delete(inst.id);
      const oldKey = functionKey(existing.instance.namespace, existing.instance.function);
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
    } else {
      const c: Candidate = { instance: inst, inflight: 0 };
      this.byId.set(inst.id, c);
      const list = this.byFunction.get(key);
      if (list) list.push(c);
      else this.byFunction.set(key, [c]);
    }
    for (const l of this.listeners) l(ev, key);
  }

  /** candidates returns the live records of one function's instances ([] when none). */
  candidates(namespace: string, name: string): readonly Candidate[] {
    return this.byFunction.get(functionKey(namespace, name)) ?? [];
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
  }

  /** instances returns a snapshot of every instance in the view. */
  instances(): Instance[] {
    return [...this.byId.values()].map((c) => c.instance);
  }

  /** subscribe calls listener after every change; returns the unsubscribe function. */
  subscribe(listener: ViewListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
