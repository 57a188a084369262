/**
 * units is where the provider reads settings and resource values: one duration grammar and one quantity grammar
 * (the watchdog's, so the provider validates an instance's env exactly as the watchdog will read it) and the one
 * error for settings that do not parse.
 */
import { parseDuration } from '@hyperfaas/watchdog/units';

export { parseCpu, parseMemory, parseQuantity } from '@hyperfaas/watchdog/units';

/**
 * parseDurationMs reads "30" (seconds), "2.5s", "500ms", "1m30s" or "1.5h" into milliseconds; undefined when the
 * text is not a duration (negative ones are not).
 */
export const parseDurationMs: (text: string) => number | undefined = parseDuration;

/** positiveQuantity parses q with parse (parseCpu or parseMemory); undefined when it is malformed or not above zero. */
export function positiveQuantity(parse: (q: string) => number, q: string): number | undefined {
  try {
    const n = parse(q);
    return n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** ConfigError lists every bad setting, each as "key = value, must be ...". */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** problems holds one line per bad setting. */
  readonly problems: string[];
  constructor(problems: string | string[]) {
    const list = typeof problems === 'string' ? [problems] : problems;
    super(`invalid configuration: ${list.join('; ')}`);
    this.problems = list;
  }
}
