/**
 * watermark decides, purely, where an instance stands against its low and high watermarks. The load is the largest of
 * the fractions that have a limit: in-flight over capacity per slot that has one, CPU used over the CPU limit, memory
 * used over the memory limit. At or above high is "high" (the instance stops admitting and would bounce), at or below
 * low is "low" (it has room to lend), in between "normal".
 */
import type { SlotReport, Watermark } from './protocol.js';

/** LoadSample is what the watermark is computed from. */
export interface LoadSample {
  slots: readonly Pick<SlotReport, 'inflight' | 'capacity' | 'state'>[];
  cpu: { used: number; limit: number };
  memory: { used: number; limit: number };
}

/** Watermarks are fractions (e.g. low 0.6, high 0.9). */
export interface Watermarks {
  low: number;
  high: number;
}

/** defaultWatermarks are the documented defaults: env watermark_low=0.6, watermark_high=0.9. */
export const defaultWatermarks: Watermarks = Object.freeze({ low: 0.6, high: 0.9 });

/** loadFraction is the largest limited fraction of the sample (0 when nothing has a limit). */
export function loadFraction(s: LoadSample): number {
  let f = 0;
  for (const slot of s.slots) {
    if (slot.state === 'serving' && slot.capacity > 0) f = Math.max(f, slot.inflight / slot.capacity);
  }
  if (s.cpu.limit > 0) f = Math.max(f, s.cpu.used / s.cpu.limit);
  if (s.memory.limit > 0) f = Math.max(f, s.memory.used / s.memory.limit);
  return f;
}

/** watermarkOf maps a sample to low, normal or high. */
export function watermarkOf(s: LoadSample, w: Watermarks = defaultWatermarks): Watermark {
  const f = loadFraction(s);
  if (f >= w.high) return 'high';
  if (f <= w.low) return 'low';
  return 'normal';
}
