import { cpus } from 'node:os';
import type { LoadReport } from '@hyperfaas/watchdog/protocol';
import type { FunctionBackend } from '../backends/backend.js';
import type { GuestSharing } from '../gs/sharing.js';
import type { ReportView } from '../gs/report-view.js';
import type { GlobalScheduler } from '../gs/global-scheduler.js';
import type { FunctionSpec, GuestSlotObservation, InstanceObservation, ScalingAction } from '../scaling/types.js';
import type { FunctionStatus } from '../types/index.js';
import type { Observation, ScalerPorts } from './scaler-loop.js';
import { functionKey } from '../names.js';

/** ScalerPortsDeps are the live parts the scaler observes and acts on. */
export interface ScalerPortsDeps {
  backend: FunctionBackend;
  scheduler: GlobalScheduler;
  /** reports is the GS's view of the ICS load reports; absent without NATS. */
  reports?: () => ReportView | undefined;
  sharing?: GuestSharing;
  /** cpuCores of the host (the sum of every instance's CPU limit is subtracted from it). */
  cpuCores?: number;
}

function homeSlot(r: LoadReport | undefined) {
  return r?.slots.find((s) => s.kind === 'home');
}

/**
 * createScalerPorts joins what the GS knows (instance view, load reports, demand) into the policies' observations,
 * and turns their actions into backend calls (resize, scale) and guest-slot lending. Reports are soft state: without
 * them (no NATS) instances look idle to phase 1 and no guest slot is known, so only phase 3 acts.
 */
export function createScalerPorts(d: ScalerPortsDeps): ScalerPorts & { setRoutable(fn: FunctionStatus, ids: string[] | undefined): void } {
  const readyAt = new Map<string, number>();
  const cores = d.cpuCores ?? cpus().length;

  return {
    async functions() {
      const out: FunctionStatus[] = [];
      for (const ns of await d.backend.namespaces()) out.push(...(await d.backend.list(ns)));
      return out;
    },

    observe(fn: FunctionStatus, spec: FunctionSpec, nowMs: number): Observation {
      const view = d.reports?.();
      const instances: InstanceObservation[] = [];
      let reportedQueue = 0;
      for (const c of d.scheduler.candidatesOf(fn.namespace, fn.name)) {
        if (c.guestOf) continue;
        const i = c.instance;
        if (i.ready && !readyAt.has(i.id)) readyAt.set(i.id, nowMs);
        const r = view?.get(i.id, nowMs);
        const home = homeSlot(r);
        reportedQueue += r?.queued ?? 0;
        const ra = readyAt.get(i.id);
        instances.push({
          id: i.id,
          ready: i.ready,
          startedAt: i.startedAt,
          ...(ra !== undefined ? { readyAt: ra } : {}),
          cpuUsed: r?.cpu.used ?? 0,
          cpuLimit: r?.cpu.limit || spec.cpuLimit,
          ...(r ? { memoryUsed: r.memory.used, memoryLimit: r.memory.limit } : {}),
          inflight: Math.max(c.inflight, home?.inflight ?? 0),
          capacity: home?.capacity ?? spec.capacity,
          overHigh: r?.watermark === 'high',
          draining: r?.draining ?? false,
          ...(r ? { slots: r.slots } : {}),
        });
      }
      const f = d.scheduler.demandOf(spec.key, nowMs);
      const guests: GuestSlotObservation[] = [];
      let promised = 0;
      for (const r of view?.all(nowMs) ?? []) {
        promised += r.cpu.limit;
        const hostKey = functionKey(r.function, r.namespace);
        // A borrowed function runs inside the lender's container, beside the lender's secrets and code: lending stays
        // within one namespace, the tenant boundary.
        if (hostKey === spec.key || !spec.labels.runtime || r.runtime !== spec.labels.runtime || r.draining) continue;
        if (r.namespace !== fn.namespace) continue;
        const g = r.slots.find((s) => s.kind === 'guest');
        if (!g || g.state === 'down') continue;
        const home = homeSlot(r);
        const cpuShare = r.cpu.limit > 0 ? r.cpu.used / r.cpu.limit : 0;
        const slotShare = home && home.capacity > 0 ? home.inflight / home.capacity : 0;
        guests.push({
          hostInstance: r.instance,
          hostFunction: hostKey,
          state: g.state,
          ...(g.function ? { function: g.function } : {}),
          inflight: g.inflight,
          capacity: g.capacity,
          hostLoad: Math.max(cpuShare, slotShare),
        });
      }
      return {
        instances,
        demand: {
          windowMs: f.windowMs,
          arrivalRate: f.arrivalRate,
          queued: f.waiting + reportedQueue,
          bounced: f.bounced,
          ...(f.meanServiceMs !== undefined ? { meanServiceMs: f.meanServiceMs } : {}),
        },
        guests,
        node: { cpuCores: cores, cpuFree: Math.max(0, cores - promised) },
      };
    },

    waiting(fn: FunctionStatus, nowMs: number): number {
      return d.scheduler.demandOf(functionKey(fn.name, fn.namespace), nowMs).waiting;
    },

    async act(fn: FunctionStatus, a: ScalingAction): Promise<void> {
      switch (a.kind) {
        case 'resize':
        case 'restore':
          await d.backend.resize(a.instance, { cpu: a.cpu, ...(a.memoryBytes !== undefined ? { memoryBytes: a.memoryBytes } : {}) });
          await d.sharing?.notifyResize(a.instance, a.cpu, a.memoryBytes);
          return;
        case 'inflight': {
          // The concurrency limit lives in the instance's ICS: a control request, no backend change.
          if (!d.sharing) throw new Error('instance control is not configured');
          const r = await d.sharing.setCapacity(a.instance, a.capacity);
          if (!r.ok) throw new Error(r.error ?? 'setting the concurrency limit failed');
          return;
        }
        case 'specialise': {
          if (!d.sharing) throw new Error('guest sharing is not configured');
          const r = await d.sharing.specialise(a.hostInstance, a.function);
          if (!r.ok) throw new Error(r.error ?? 'specialise failed');
          return;
        }
        case 'release': {
          if (!d.sharing) throw new Error('guest sharing is not configured');
          await d.sharing.release(a.hostInstance);
          return;
        }
        case 'scaleTo':
          await d.backend.scale(fn.namespace, fn.name, a.replicas);
          return;
      }
    },

    setRoutable(fn: FunctionStatus, ids: string[] | undefined) {
      d.scheduler.setRoutable(fn.namespace, fn.name, ids);
    },
  };
}
