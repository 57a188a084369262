/**
 * units holds the one grammar for durations and the one grammar for resource quantities. The watchdog reads its own
 * env with them, and the provider validates deployments and reads its settings with the same functions, so a value
 * one side accepts the other side reads the same way.
 */

const durationUnits: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * parseDuration reads an of-watchdog / faas-provider duration: a bare number means seconds ("30", "2.5"), otherwise a
 * Go duration such as "500ms", "30s" or "1m30s". Returns milliseconds (not rounded: "250us" is 0.25), or undefined
 * when the text is not a duration. Negative durations are not durations.
 */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  if (s.length === 0) return undefined;
  while (at < s.length) {
    re.lastIndex = at;
    const m = re.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * durationUnits[m[2]!]!;
    at = re.lastIndex;
  }
  return total;
}

const quantitySuffixes: Record<string, number> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

// sign? digits with an optional fraction, then either a decimal exponent or a suffix (Kubernetes allows one or the other).
const quantityRe = /^\+?(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/;

/** parseQuantity turns a non-negative Kubernetes quantity into its value in base units; throws RangeError when malformed. */
export function parseQuantity(q: string): number {
  if (typeof q !== 'string') throw new RangeError(`quantity must be a string, got ${typeof q}`);
  const m = quantityRe.exec(q.trim());
  if (!m || q.trim() === '') throw new RangeError(`"${q}" is not a quantity (examples: 100m, 0.5, 2, 128Mi, 1G)`);
  const base = Number(m[1]);
  const value = m[2] !== undefined ? base * 10 ** Number(m[2]) : base * quantitySuffixes[m[3] ?? '']!;
  if (!Number.isFinite(value)) throw new RangeError(`"${q}" is out of range`);
  return value;
}

/** parseCpu turns a CPU quantity ("100m", "0.5", "2") into cores. */
export function parseCpu(q: string): number {
  return parseQuantity(q);
}

/** parseMemory turns a memory quantity ("128Mi", "1G", "5Mi", "1048576") into whole bytes, rounding up like Kubernetes. */
export function parseMemory(q: string): number {
  return Math.ceil(parseQuantity(q));
}
