/**
 * status answers "what is the scheduler doing with this function": its instances with their slots, load and
 * watermark, the guest slots it borrows, the scaling phase with the policy's recent decisions and their reasons, and
 * the last minutes of traffic. It reads only what the provider holds in memory (the GS's view, the load reports, the
 * scaler's state, the invocation counters), so the status API and the dashboard cost no backend call beyond the
 * backend's own in-memory get/list. It also exports the same picture as hyperfaas_function_* gauges.
 */
import { Gauge, type Registry } from 'prom-client';
import type { LoadReport, SlotReport } from '@hyperfaas/watchdog/protocol';
import type { FunctionBackend } from '../backends/backend.js';
import type { DecisionRecord } from '../control/scaler-loop.js';
import type { Phase, PolicyName } from '../scaling/types.js';
import type { Candidate } from '../gs/placement.js';
import type { FunctionStatus } from '../types/index.js';
import type { FunctionMetrics, SpecialiseFailure } from './function-metrics.js';
import type { Point } from './live.js';
import { functionKey } from '../names.js';

/** ScalerState is what status reads from the scaler loop; keys are "name.namespace". */
export interface ScalerState {
  phaseOf(key: string): Phase | undefined;
  policyOf(key: string): PolicyName | undefined;
  decisions(key: string): readonly DecisionRecord[];
}

/** StatusPorts are the in-memory sources status reads. */
export interface StatusPorts {
  backend: FunctionBackend;
  /** candidates returns the GS's view of a function: its own instances and the guest slots lent to it. */
  candidates(namespace: string, name: string): readonly Candidate[];
  /** report returns an instance's latest fresh load report (none without NATS). */
  report(instanceId: string): LoadReport | undefined;
  scaler?: ScalerState;
  metrics: FunctionMetrics;
  now(): number;
}

/** InstanceStatus is one of the function's own instances. */
export interface InstanceStatus {
  id: string;
  url: string;
  ready: boolean;
  startedAt: string;
  /** inflight is what this provider has routed to the instance and not yet seen finish. */
  inflight: number;
  /** blocked: the instance said it is over its high watermark or draining; placement avoids it. */
  blocked: boolean;
  /** held: the scaling policy keeps the router off it for now (the HPA comparator's not-yet-ready pod). */
  held: boolean;
  /** load is from the instance's last load report; null when none is fresh (no NATS, or not reporting). */
  load: {
    cpu: { used: number; limit: number };
    memory: { used: number; limit: number };
    watermark: LoadReport['watermark'];
    queued: number;
    draining: boolean;
    reportedAt: string;
  } | null;
  slots: SlotReport[];
}

/** BorrowedSlot is another function's instance whose guest slot runs this function. */
export interface BorrowedSlot {
  hostInstance: string;
  hostFunction: string;
  ready: boolean;
  inflight: number;
  slot: SlotReport | null;
}

/** FunctionStatusDoc is GET /system/hyperfaas/functions/<name>. */
export interface FunctionStatusDoc {
  name: string;
  namespace: string;
  /** function is "name.namespace", the label every metric uses. */
  function: string;
  image: string;
  replicas: number;
  availableReplicas: number;
  invocationCount: number;
  policy: PolicyName | null;
  phase: Phase | null;
  instances: InstanceStatus[];
  borrowed: BorrowedSlot[];
  traffic: {
    /** last60s: mean req/s, latency percentiles (ms), errors, bounces and boosts over the last minute. */
    last60s: { rps: number; p50: number | null; p99: number | null; errors: number; bounces: number; boosts: number };
    /** series: one point per second, oldest first. */
    series: Point[];
  };
  decisions: readonly DecisionRecord[];
  /**
   * warnings are what went wrong that the dashboard shows: the last failures to specialise a guest slot with this
   * function's code (e.g. its code could not be fetched or loaded), oldest first.
   */
  warnings: { specialiseFailures: readonly SpecialiseFailure[] };
}

/** StatusService builds status documents and the hyperfaas_function_* gauges. */
export class StatusService {
  constructor(
    private readonly p: StatusPorts,
    registry?: Registry,
  ) {
    // One set of gauges per registry: a second app on the same registry (tests) reuses the first one's.
    if (registry && !registry.getSingleMetric('hyperfaas_function_instances')) this.registerGauges(registry);
  }

  /** function builds one function's document; the backend's NotFound passes through (the API answers 404). */
  async function(namespace: string, name: string, seriesSeconds = 120): Promise<FunctionStatusDoc> {
    return this.doc(await this.p.backend.get(namespace, name), seriesSeconds);
  }

  /** functions builds the documents of every function of a namespace, sorted by name. */
  async functions(namespace: string, seriesSeconds = 120): Promise<FunctionStatusDoc[]> {
    const list = await this.p.backend.list(namespace);
    list.sort((a, b) => a.name.localeCompare(b.name));
    return list.map((f) => this.doc(f, seriesSeconds));
  }

  private doc(f: FunctionStatus, seriesSeconds: number): FunctionStatusDoc {
    const ns = f.namespace ?? '';
    const key = functionKey(f.name, ns);
    const now = this.p.now();
    const instances: InstanceStatus[] = [];
    const borrowed: BorrowedSlot[] = [];
    for (const c of this.p.candidates(ns, f.name)) {
      if (c.guestOf) {
        const r = this.p.report(c.guestOf);
        borrowed.push({
          hostInstance: c.guestOf,
          hostFunction: r ? functionKey(r.function, r.namespace) : 'unknown',
          ready: c.instance.ready,
          inflight: c.inflight,
          slot: r?.slots.find((s) => s.kind === 'guest') ?? null,
        });
        continue;
      }
      const r = this.p.report(c.instance.id);
      instances.push({
        id: c.instance.id,
        url: c.instance.url,
        ready: c.instance.ready,
        startedAt: new Date(c.instance.startedAt).toISOString(),
        inflight: c.inflight,
        blocked: c.blocked === true,
        held: c.held === true,
        load: r
          ? {
              cpu: r.cpu,
              memory: r.memory,
              watermark: r.watermark,
              queued: r.queued ?? 0,
              draining: r.draining,
              reportedAt: new Date(r.at).toISOString(),
            }
          : null,
        slots: r?.slots ?? [],
      });
    }
    instances.sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.id.localeCompare(b.id));
    return {
      name: f.name,
      namespace: ns,
      function: key,
      image: f.image,
      replicas: f.replicas,
      availableReplicas: f.availableReplicas,
      invocationCount: this.p.metrics.invocationCount(key),
      policy: this.p.scaler?.policyOf(key) ?? null,
      phase: this.p.scaler?.phaseOf(key) ?? null,
      instances,
      borrowed,
      traffic: {
        last60s: this.p.metrics.live.summary(key, now, 60),
        series: this.p.metrics.live.points(key, now, seriesSeconds),
      },
      decisions: this.p.scaler?.decisions(key) ?? [],
      warnings: { specialiseFailures: this.p.metrics.specialiseFailures(key) },
    };
  }

  private registerGauges(registry: Registry): void {
    // prom-client collects metrics concurrently, so each gauge fills itself from one shared snapshot per scrape.
    let snap: { at: number; docs: Promise<FunctionStatusDoc[]> } | undefined;
    const snapshot = (): Promise<FunctionStatusDoc[]> => {
      const now = this.p.now();
      if (!snap || now - snap.at > 250) {
        snap = {
          at: now,
          docs: (async () => {
            const out: FunctionStatusDoc[] = [];
            for (const ns of await this.p.backend.namespaces()) out.push(...(await this.functions(ns, 0)));
            return out;
          })(),
        };
      }
      return snap.docs;
    };
    const gauge = <L extends string>(name: string, help: string, labelNames: L[], fill: (g: Gauge<L>, d: FunctionStatusDoc) => void): void => {
      const g: Gauge<L> = new Gauge<L>({
        name,
        help,
        labelNames,
        registers: [registry],
        async collect() {
          const docs = await snapshot();
          // Rebuilt at every scrape, so removed functions and instances disappear.
          g.reset();
          for (const d of docs) fill(g, d);
        },
      });
    };
    gauge('hyperfaas_function_instances', 'Instances of each function by state (ready, starting)', ['function_name', 'state'], (g, d) => {
      g.set({ function_name: d.function, state: 'ready' }, d.instances.filter((i) => i.ready).length);
      g.set({ function_name: d.function, state: 'starting' }, d.instances.filter((i) => !i.ready).length);
    });
    gauge(
      'hyperfaas_function_slots',
      "Worker slots on each function's instances, by kind (home, guest) and state, from the load reports",
      ['function_name', 'kind', 'state'],
      (g, d) => {
        for (const i of d.instances) for (const sl of i.slots) g.inc({ function_name: d.function, kind: sl.kind, state: sl.state });
      },
    );
    gauge('hyperfaas_function_borrowed_slots', "Other functions' guest slots serving each function (phase 2)", ['function_name'], (g, d) =>
      g.set({ function_name: d.function }, d.borrowed.length),
    );
    gauge('hyperfaas_function_phase', 'The scaling phase each function is in (1 for the current phase)', ['function_name', 'phase'], (g, d) => {
      if (d.phase) g.set({ function_name: d.function, phase: d.phase }, 1);
    });
    gauge('hyperfaas_function_queued', "Requests waiting inside each function's instances (load reports)", ['function_name'], (g, d) =>
      g.set({ function_name: d.function }, d.instances.reduce((a, i) => a + (i.load?.queued ?? 0), 0)),
    );
    gauge('hyperfaas_function_inflight', 'Requests this provider has routed to each function and not yet seen finish', ['function_name'], (g, d) =>
      g.set({ function_name: d.function }, d.instances.reduce((a, i) => a + i.inflight, 0) + d.borrowed.reduce((a, b) => a + b.inflight, 0)),
    );
  }
}
