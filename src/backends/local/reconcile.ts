/**
 * reconcile is the pure step that decides, for one function, which instances to start and which to stop, from its
 * desired state and its live instances. The backend applies the plan; it may run at any time, any number of times.
 *
 * Rules: a removed function stops everything. Otherwise instances of the current generation are brought to the
 * desired count (unless starts are paused after a failure, or there is no runnable image); a scale-in stops
 * not-ready instances first, then the newest. During a rolling update, as many old-generation instances are kept
 * as current ones are still not ready, the ready old ones preferred; the rest are stopped.
 */

/** LiveInstance is what reconcile needs to know of an instance that is not stopping. */
export interface LiveInstance {
  id: string;
  generation: number;
  ready: boolean;
  startedAt: number;
}

/** Desired is a function's target. */
export interface Desired {
  removed: boolean;
  replicas: number;
  generation: number;
  /** canStart is false without a runnable image or while starts are paused. */
  canStart: boolean;
}

/** Plan says how many instances to start and which to stop, each with the reason logged for it. */
export interface Plan {
  start: number;
  stop: { id: string; why: string }[];
}

/** plan computes the reconcile step. */
export function plan(d: Desired, live: readonly LiveInstance[]): Plan {
  if (d.removed) return { start: 0, stop: live.map((i) => ({ id: i.id, why: 'function removed' })) };
  const cur = live.filter((i) => i.generation === d.generation);
  const old = live.filter((i) => i.generation !== d.generation);
  const start = d.canStart ? Math.max(0, d.replicas - cur.length) : 0;
  const stop: Plan['stop'] = [];
  if (cur.length > d.replicas) {
    const victims = [...cur].sort((a, b) => Number(a.ready) - Number(b.ready) || b.startedAt - a.startedAt).slice(0, cur.length - d.replicas);
    for (const v of victims) stop.push({ id: v.id, why: `scaled to ${d.replicas}` });
  }
  const curReady = cur.filter((i) => i.ready).length;
  const keep = Math.max(0, d.replicas - curReady);
  const byPreference = [...old].sort((a, b) => Number(b.ready) - Number(a.ready) || a.startedAt - b.startedAt);
  for (const v of byPreference.slice(keep)) stop.push({ id: v.id, why: 'replaced by a newer version' });
  return { start, stop };
}
