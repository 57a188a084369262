import { expect } from 'chai';
import { backoffDelayMs, decideOutcome } from '../../../src/async/backoff.js';

describe('backoffDelayMs (attempt -> delay)', () => {
  const cases: { name: string; attempt: number; initial: number; max: number; jitter?: number; want: number }[] = [
    { name: 'waits the initial delay after the first attempt', attempt: 1, initial: 1000, max: 60_000, want: 1000 },
    { name: 'doubles after the second attempt', attempt: 2, initial: 1000, max: 60_000, want: 2000 },
    { name: 'doubles again after the third', attempt: 3, initial: 1000, max: 60_000, want: 4000 },
    { name: 'reaches 32s after the sixth', attempt: 6, initial: 1000, max: 60_000, want: 32_000 },
    { name: 'is capped at the maximum after the seventh', attempt: 7, initial: 1000, max: 60_000, want: 60_000 },
    { name: 'stays capped for very late attempts without overflowing', attempt: 5000, initial: 1000, max: 60_000, want: 60_000 },
    { name: 'is zero for attempt 0', attempt: 0, initial: 1000, max: 60_000, want: 0 },
    { name: 'is zero when the initial delay is zero', attempt: 3, initial: 0, max: 60_000, want: 0 },
    { name: 'shortens the delay by up to a quarter with jitter', attempt: 2, initial: 1000, max: 60_000, jitter: 0.5, want: 1750 },
    { name: 'ignores a jitter outside [0, 1)', attempt: 1, initial: 1000, max: 60_000, jitter: -3, want: 1000 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(backoffDelayMs(c.attempt, c.initial, c.max, c.jitter)).to.equal(c.want);
    });
  }

  it('never grows between attempts and never exceeds the cap', () => {
    let prev = 0;
    for (let a = 1; a <= 30; a++) {
      const d = backoffDelayMs(a, 100, 5000);
      expect(d).to.be.at.least(prev).and.at.most(5000);
      prev = d;
    }
  });
});

describe('decideOutcome', () => {
  const policy = { maxAttempts: 3, initialBackoffMs: 100, maxBackoffMs: 1000 };
  const cases: { name: string; attempt: number; status: number | undefined; want: ReturnType<typeof decideOutcome> }[] = [
    { name: 'is done on 200', attempt: 1, status: 200, want: { kind: 'done' } },
    { name: 'is done on a function 500 (not retried, like OpenFaaS)', attempt: 1, status: 500, want: { kind: 'done' } },
    { name: 'is done on 404', attempt: 1, status: 404, want: { kind: 'done' } },
    { name: 'retries 429 after the initial delay', attempt: 1, status: 429, want: { kind: 'retry', delayMs: 100 } },
    { name: 'retries 502 with a doubled delay', attempt: 2, status: 502, want: { kind: 'retry', delayMs: 200 } },
    { name: 'retries 504', attempt: 1, status: 504, want: { kind: 'retry', delayMs: 100 } },
    { name: 'retries a connection error', attempt: 1, status: undefined, want: { kind: 'retry', delayMs: 100 } },
    { name: 'dead-letters a 503 on the last attempt', attempt: 3, status: 503, want: { kind: 'dead', reason: 'status 503 after 3 attempts' } },
    { name: 'dead-letters an unreachable function on the last attempt', attempt: 3, status: undefined, want: { kind: 'dead', reason: 'unreachable after 3 attempts' } },
    { name: 'is still done on a 200 at the last attempt', attempt: 3, status: 200, want: { kind: 'done' } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(decideOutcome(c.attempt, c.status, policy)).to.deep.equal(c.want);
    });
  }
});
