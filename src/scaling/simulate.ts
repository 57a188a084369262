/**
 * simulate drives any scaling policy against a small fluid model of one function on one host, in virtual time: the
 * model's predictions for the A/B (what each policy should do to W1..W4 before a single real request is sent), and a
 * closed loop for tests. Pure: no clock, no I/O.
 *
 * The model, per tick of `tickMs`: requests arrive at `rate(t)`; every ready own instance and every borrowed guest slot
 * serves up to `capacity` requests at a time, each taking `serviceMs` (so a slot set serves capacity x 1000 /
 * serviceMs req/s); what cannot be served waits in one FIFO queue; a request's latency is its queueing time
 * (queue / throughput, Little) plus serviceMs. Instances become ready `startMs` after a scaleTo; a specialised guest
 * slot serves `specialiseMs` after the specialise action, when one is free; an `inflight` action sets an instance's
 * concurrency (its share of throughput grows with it) `controlMs` later. CPU use is requests served x
 * `cpuPerRequestMs`, so CPU utilisation of the request tracks load (F-io: 1 ms x 80 req/s = 0.08 cores per replica).
 *
 * Worked example (F-io at 400 req/s, capacity 4, 50 ms): one replica serves 80 req/s; the other 320 req/s queue up,
 * 320 per second of delay, so latency grows by ~4 s per second until capacity catches up.
 */
import type { Decision, GuestSlotObservation, InstanceObservation, PolicyInput, ScalingPolicy, FunctionSpec } from './types.js';

/** SimOptions describe the function, the host and the workload. */
export interface SimOptions {
  spec: FunctionSpec;
  /** rate is the arrival rate (req/s) at a virtual time (ms). */
  rate: (tMs: number) => number;
  untilMs: number;
  /** tickMs is the policy's tick and the model's step (default 250). */
  tickMs?: number;
  /** serviceMs is the time a request occupies a slot (default 50). */
  serviceMs?: number;
  /** cpuPerRequestMs is CPU per request (default 1). */
  cpuPerRequestMs?: number;
  /** startMs is how long a new instance takes to be ready (default 80: a Node process on an idle host). */
  startMs?: number;
  /** specialiseMs is how long a generic slot takes to serve after specialise (default 8). */
  specialiseMs?: number;
  /** controlMs is how long a control command (a concurrency change) takes to reach an instance (default 10). */
  controlMs?: number;
  /** guests is how many generic slots other functions' instances lend (default 0). */
  guests?: number;
  /** initialReplicas (default 1, already ready at 0). */
  initialReplicas?: number;
  /** nodeCpu is the host's cores (default 2). */
  nodeCpu?: number;
}

/** SimPoint is the model's state after one tick. */
export interface SimPoint {
  t: number;
  replicas: number;
  ready: number;
  borrowed: number;
  queue: number;
  /** latencyMs is the predicted latency of a request arriving now. */
  latencyMs: number;
  phase: string;
}

/** SimResult is a whole simulated run. */
export interface SimResult {
  points: SimPoint[];
  /** actions are every action with its time. */
  actions: Array<{ t: number; action: Decision<unknown>['actions'][number] }>;
}

interface SimInstance {
  id: string;
  startedAt: number;
  readyAt: number;
  cpuLimit: number;
  /** capacity is its concurrency limit (max_inflight unless phase 1 raised it); capacityAt is when it takes effect. */
  capacity: number;
  pending?: { capacity: number; at: number };
}

/** simulate runs the policy from t = 0 to untilMs and returns the model's timeline. */
export function simulate<S>(policy: ScalingPolicy<S>, o: SimOptions): SimResult {
  const tick = o.tickMs ?? 250;
  const serviceMs = o.serviceMs ?? 50;
  const cpuPerReq = o.cpuPerRequestMs ?? 1;
  const startMs = o.startMs ?? 80;
  const specialiseMs = o.specialiseMs ?? 8;
  const cap = Math.max(1, o.spec.capacity);
  const perSlotRps = (cap * 1000) / serviceMs;
  let n = 0;
  const controlMs = o.controlMs ?? 10;
  let instances: SimInstance[] = Array.from({ length: o.initialReplicas ?? 1 }, () => ({ id: `i${n++}`, startedAt: -600_000, readyAt: -599_920, cpuLimit: o.spec.cpuLimit, capacity: cap }));
  let replicas = instances.length;
  const guestIds = Array.from({ length: o.guests ?? 0 }, (_, k) => `g${k}`);
  const borrowedAt = new Map<string, number>(); // guest -> serving from
  let state = policy.initialState(0);
  let routable: string[] | undefined;
  let queue = 0;
  let served = { own: new Map<string, number>(), guest: new Map<string, number>() };
  const points: SimPoint[] = [];
  const actions: SimResult['actions'] = [];

  for (let t = 0; t <= o.untilMs; t += tick) {
    // 1. the model: who can serve during (t - tick, t]
    for (const i of instances) {
      if (i.pending && i.pending.at <= t) {
        i.capacity = i.pending.capacity;
        i.pending = undefined;
      }
    }
    const readyOwn = instances.filter((i) => i.readyAt <= t && (routable === undefined || routable.includes(i.id)));
    const guestsServing = [...borrowedAt.entries()].filter(([, at]) => at <= t).map(([g]) => g);
    // A slot is max_inflight requests at a time: an instance whose concurrency phase 1 raised counts for more.
    const slots = readyOwn.reduce((a, i) => a + i.capacity / cap, 0) + guestsServing.length;
    const throughput = slots * perSlotRps; // req/s
    const arrivals = (o.rate(t) * tick) / 1000;
    const work = queue + arrivals;
    const done = Math.min(work, (throughput * tick) / 1000);
    queue = work - done;
    const perSlot = slots ? done / slots : 0;
    served = { own: new Map(readyOwn.map((i) => [i.id, (perSlot * i.capacity) / cap])), guest: new Map(guestsServing.map((g) => [g, perSlot])) };
    const latencyMs = throughput > 0 ? (queue / throughput) * 1000 + serviceMs : queue > 0 ? Infinity : serviceMs;
    // Share of the slots' capacity in use: 1 while a queue stands, else served rate / capacity rate.
    const busyFraction = throughput > 0 ? (queue > 1e-9 ? 1 : Math.min(1, (done * 1000) / tick / throughput)) : 0;

    // 2. what the policy observes
    const inflightPerSlot = Math.min(cap, busyFraction * cap);
    const obs: InstanceObservation[] = instances.map((i) => {
      const servedHere = served.own.get(i.id) ?? 0;
      const cpuUsed = Math.min(i.cpuLimit || Infinity, (servedHere * cpuPerReq) / tick);
      return {
        id: i.id,
        ready: i.readyAt <= t,
        startedAt: i.startedAt,
        readyAt: i.readyAt <= t ? i.readyAt : undefined,
        cpuUsed,
        cpuLimit: i.cpuLimit,
        inflight: served.own.has(i.id) ? (inflightPerSlot * i.capacity) / cap : 0,
        capacity: i.capacity,
        overHigh: served.own.has(i.id) && inflightPerSlot >= o.spec.labels.watermarkHigh * cap && queue > 0,
      };
    });
    const guests: GuestSlotObservation[] = guestIds.map((g) => ({
      hostInstance: g,
      hostFunction: 'other.sim',
      state: borrowedAt.has(g) ? (borrowedAt.get(g)! <= t ? 'serving' : 'specialising') : 'generic',
      ...(borrowedAt.has(g) ? { function: o.spec.key } : {}),
      inflight: served.guest.has(g) ? inflightPerSlot : 0,
      capacity: cap,
      hostLoad: 0.05,
    }));
    const input: PolicyInput = {
      nowMs: t,
      spec: o.spec,
      replicas,
      instances: obs,
      demand: { windowMs: tick, arrivalRate: o.rate(t), queued: Math.round(queue), bounced: 0, meanServiceMs: serviceMs },
      guests,
      node: { cpuCores: o.nodeCpu ?? 2, cpuFree: Math.max(0, (o.nodeCpu ?? 2) - instances.reduce((a, i) => a + (i.cpuLimit || 0), 0)) },
    };
    const d = policy.decide(input, state);
    state = d.state;
    routable = d.routable;

    // 3. carry out the actions
    for (const a of d.actions) {
      actions.push({ t, action: a });
      if (a.kind === 'scaleTo') {
        while (instances.length < a.replicas) instances.push({ id: `i${n++}`, startedAt: t, readyAt: t + startMs, cpuLimit: o.spec.cpuLimit, capacity: cap });
        if (instances.length > a.replicas) instances = instances.slice(0, a.replicas);
        replicas = a.replicas;
      } else if (a.kind === 'specialise') {
        if (guestIds.includes(a.hostInstance) && !borrowedAt.has(a.hostInstance)) borrowedAt.set(a.hostInstance, t + specialiseMs);
      } else if (a.kind === 'release') {
        borrowedAt.delete(a.hostInstance);
      } else if (a.kind === 'inflight') {
        const inst = instances.find((i) => i.id === a.instance);
        if (inst) inst.pending = { capacity: a.capacity, at: t + controlMs };
      } else {
        const inst = instances.find((i) => i.id === a.instance);
        if (inst) inst.cpuLimit = a.cpu;
      }
    }
    points.push({ t, replicas, ready: instances.filter((i) => i.readyAt <= t).length, borrowed: borrowedAt.size, queue, latencyMs, phase: d.phase });
  }
  return { points, actions };
}
