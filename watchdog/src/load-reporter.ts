/**
 * load-reporter is the instance's view of its own load: CPU and memory sampled from its cgroup (or /proc) every
 * load_interval, the slots' fill levels, and the watermark they add up to. It builds the LoadReport the GS receives
 * and tells the watchdog at once when the watermark changes, so admission and the GS see it without waiting for the
 * next periodic report.
 */
import type { WatchdogConfig } from './config.js';
import { cpuMemBetween, detectSource, type CpuMem, type Usage, type UsageSource } from './load.js';
import type { LoadReport, Watermark } from './protocol.js';
import type { Slot, SlotTable } from './slots.js';
import { watermarkOf } from './watermark.js';

/** LoadReporterHost is what the reporter reads from the watchdog, and where it says that the watermark changed. */
export interface LoadReporterHost {
  readonly config: WatchdogConfig;
  readonly slots: SlotTable;
  /** port is the bound request port (the report's URL without advertise_url). */
  port(): number;
  draining(): boolean;
  /** queued is how many requests wait in the slots' queues. */
  queued(): number;
  /** changed hears every report whose watermark differs from the last one's. */
  changed(r: LoadReport): void;
}

/** LoadReporter samples load, tracks the watermark and builds reports. */
export class LoadReporter {
  private seq = 0;
  private load: CpuMem = { cpu: { used: 0, limit: 0 }, memory: { used: 0, limit: 0 } };
  private limitOverride: { cpu?: number; memory?: number } = {};
  private mark: Watermark = 'low';
  private readonly slotMarks: Record<string, Watermark> = { home: 'low', guest: 'low' };
  private sampler: NodeJS.Timeout | undefined;
  private source: UsageSource | undefined;
  private lastUsage: { u: Usage; at: number } | undefined;

  constructor(private readonly h: LoadReporterHost) {}

  /** watermark is the state of the last check. */
  get watermark(): Watermark {
    return this.mark;
  }

  /** sourceKind names where CPU and memory figures come from (cgroup-v2, cgroup-v1, proc), "none" before start. */
  get sourceKind(): string {
    return this.source?.kind ?? 'none';
  }

  /** stop ends sampling. */
  stop(): void {
    if (this.sampler) clearInterval(this.sampler);
  }

  /** setLimits replaces the CPU (cores) and memory (bytes) limits the watermarks are measured against. */
  setLimits(l: { cpu?: number; memoryBytes?: number }): void {
    if (l.cpu !== undefined) this.limitOverride.cpu = l.cpu;
    if (l.memoryBytes !== undefined) this.limitOverride.memory = l.memoryBytes;
  }

  /** start reads the load source once and then every load_interval. */
  async start(): Promise<void> {
    this.source = await detectSource({ cpuLimit: this.h.config.cpuLimit, memoryLimit: this.h.config.memoryLimit });
    await this.sample();
    this.sampler = setInterval(() => void this.sample(), this.h.config.loadIntervalMs);
    this.sampler.unref();
  }

  private async sample(): Promise<void> {
    if (!this.source) return;
    try {
      const u = await this.source.read();
      const at = performance.now();
      if (this.lastUsage) this.load = cpuMemBetween(this.lastUsage.u, u, at - this.lastUsage.at);
      else this.load = { cpu: { used: 0, limit: u.cpuLimit }, memory: { used: u.memUsed, limit: u.memLimit } };
      this.lastUsage = { u, at };
      this.check();
    } catch {
      /* keep the previous sample */
    }
  }

  /** slotMoved re-checks the watermark only when a slot's own fill level crosses a watermark (two comparisons). */
  slotMoved(slot: Slot): void {
    const f = slot.inflight / slot.capacity;
    const mark: Watermark = f >= this.h.config.watermarkHigh ? 'high' : f <= this.h.config.watermarkLow ? 'low' : 'normal';
    if (mark !== this.slotMarks[slot.kind]) {
      this.slotMarks[slot.kind] = mark;
      this.check();
    }
  }

  /** check recomputes the watermark and tells the host when it changed (always when force). */
  check(force = false): void {
    const r = this.report();
    if (force || r.watermark !== this.mark) {
      this.mark = r.watermark;
      this.h.changed(r);
    }
  }

  /** report is the instance's current LoadReport. */
  report(): LoadReport {
    const c = this.h.config;
    const cpu = { used: this.load.cpu.used, limit: this.limitOverride.cpu ?? this.load.cpu.limit };
    const memory = { used: this.load.memory.used, limit: this.limitOverride.memory ?? this.load.memory.limit };
    const slots = this.h.slots.report();
    return {
      instance: c.instanceId,
      function: c.functionName,
      namespace: c.namespace,
      url: c.advertiseURL || `http://127.0.0.1:${this.h.port()}`,
      runtime: c.runtime,
      seq: ++this.seq,
      at: Date.now(),
      slots,
      cpu,
      memory,
      watermark: watermarkOf({ slots, cpu, memory }, { low: c.watermarkLow, high: c.watermarkHigh }),
      draining: this.h.draining(),
      queued: this.h.queued(),
    };
  }
}
