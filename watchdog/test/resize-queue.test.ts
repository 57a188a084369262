import { expect } from 'chai';
import { slotClient, startWatchdog, waitFor, type Running } from './helpers.js';

// Phase 1 for an instance short of concurrency raises its home slot's limit over control: requests already waiting in
// the instance's queue must start at once, not one per finished request.
describe('watchdog: a higher concurrency limit admits the requests waiting for it', function () {
  this.timeout(60_000);
  let wd: Running;
  const token = 'resize-queue-test-token';
  const { control, status } = slotClient(() => wd, token);
  const aborts: AbortController[] = [];

  before(async () => {
    wd = await startWatchdog({
      mode: 'streaming',
      fprocess: 'sleep 30',
      max_inflight: '1',
      hyperfaas_overflow: 'queue',
      exec_timeout: '60s',
      write_timeout: '60s',
      guest_slot: 'false',
      HYPERFAAS_CONTROL_TOKEN: token,
    });
  });
  after(async () => {
    for (const a of aborts) a.abort();
    await wd?.stop();
  });

  it('runs 1 and parks 2 at max_inflight 1, then runs all 3 once the limit is 3, while the first is still running', async () => {
    for (let i = 0; i < 3; i++) {
      const a = new AbortController();
      aborts.push(a);
      fetch(`${wd.url}/`, { method: 'POST', body: 'x', signal: a.signal }).catch(() => undefined);
    }
    await waitFor(async () => {
      const s = await status();
      return s.slots[0]!.inflight === 1 && s.queued === 2;
    }, 15_000, '1 running and 2 queued');
    expect((await control({ op: 'resize', capacity: 3 })).reply.ok).to.equal(true);
    // Each request sleeps 30 s: reaching 3 in flight means the queued two started without waiting for the first.
    await waitFor(async () => {
      const s = await status();
      return s.slots[0]!.capacity === 3 && s.slots[0]!.inflight === 3 && s.queued === 0;
    }, 15_000, '3 running, none queued');
  });
});
