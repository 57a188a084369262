/**
 * quantity parses Kubernetes resource quantities ("100m", "0.5", "128Mi", "1G", "1e3") into plain numbers, so
 * validation and every backend agree on what a limit means.
 */

const suffixes: Record<string, number> = {
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
  const value = m[2] !== undefined ? base * 10 ** Number(m[2]) : base * suffixes[m[3] ?? '']!;
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
