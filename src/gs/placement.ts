/**
 * placement picks the instance a request goes to. It is pure policy: no I/O, no timers; randomness comes in as rng.
 * The pick hands back its own release, so in-flight counts cannot leak: call release exactly once when the
 * response has ended (extra calls are ignored).
 */
import type { Instance } from '../backends/backend.js';

/** Candidate is what placement knows about one instance: the GS's live view keeps one per instance. */
export interface Candidate {
  instance: Instance;
  /** inflight is how many requests this GS has on the instance right now; pick and release maintain it. */
  inflight: number;
  /**
   * blocked is set when the instance said it is full (over its high watermark, draining): it is only used when
   * every ready candidate is blocked. Load reports (a later step) set it.
   */
  blocked?: boolean;
  /**
   * held is set when the scaling policy does not let the router use the instance yet (the HPA arm models a pod that
   * Kubernetes has not marked ready); a held instance is never picked.
   */
  held?: boolean;
  /** guestOf is the host instance id when this candidate is another function's guest slot lent to this function. */
  guestOf?: string;
}

/** Pick is a chosen instance and the callback that gives its slot back. */
export interface Pick {
  instance: Instance;
  release: () => void;
}

/** Rng returns a float in [0, 1), like Math.random. */
export type Rng = () => number;

function take(c: Candidate): Pick {
  c.inflight++;
  let released = false;
  return {
    instance: c.instance,
    release: () => {
      if (released) return;
      released = true;
      c.inflight--;
    },
  };
}

/**
 * pick chooses among ready, non-excluded candidates by the power of two choices: two distinct random candidates,
 * the one with fewer requests in flight wins (ties go to the first drawn). With two or fewer it is plain least
 * in-flight. Blocked candidates are only considered when no unblocked one is ready. Returns null when none is ready.
 */
export function pick(candidates: readonly Candidate[], rng: Rng, exclude?: ReadonlySet<string>): Pick | null {
  let pool: Candidate[] = [];
  let blocked: Candidate[] | undefined;
  for (const c of candidates) {
    if (!c.instance.ready || c.held || (exclude !== undefined && exclude.has(c.instance.id))) continue;
    if (c.blocked) (blocked ??= []).push(c);
    else pool.push(c);
  }
  if (pool.length === 0) {
    if (!blocked) return null;
    pool = blocked;
  }
  if (pool.length === 1) return take(pool[0]!);
  if (pool.length === 2) return take(pool[1]!.inflight < pool[0]!.inflight ? pool[1]! : pool[0]!);
  const i = Math.floor(rng() * pool.length) % pool.length;
  // j is drawn from the other n-1 positions so the two choices are distinct.
  let j = Math.floor(rng() * (pool.length - 1)) % (pool.length - 1);
  if (j >= i) j++;
  const a = pool[i]!;
  const b = pool[j]!;
  return take(b.inflight < a.inflight ? b : a);
}
