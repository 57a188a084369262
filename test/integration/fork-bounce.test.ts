/**
 * Fork-mode functions (a process per request: streaming, serializing, classic) overflow like http-mode ones: a full
 * instance bounces the request to the GS over NATS, which re-runs it on another instance and answers through the
 * instance that bounced it. Real nats-server with authorization (each instance has its own NATS user), the real
 * provider process with the local backend, two instances of each function, one request at a time each. The function
 * prints the instance that ran it and what it received (body on stdin, CGI variables), so the test sees that the
 * other instance ran it and that nothing was lost on the way. A bounce that fails (no GS) keeps the request, body
 * included, in the instance's own queue.
 */
import { expect } from 'chai';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Provider, ReportWatch, httpCall, sumMetric, until } from '../../bench/hierarchical/harness.js';
import { AUTH_FILES } from '../../src/messaging/nats-auth.js';
import { startWatchdog, type Running } from '@hyperfaas/watchdog/testing';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';

/** handler waits (so the instance stays full), then prints who ran it and what it got. */
const handler = `sleep 0.6
printf 'instance=%s\\n' "$HYPERFAAS_INSTANCE_ID"
printf 'method=%s path=%s query=%s\\n' "$Http_Method" "$Http_Path" "$Http_Query"
printf 'header=%s\\n' "$Http_X_Fork_Test"
printf 'body='
cat
`;

/** ran reads the handler's output into its fields. */
function ran(body: string): { instance: string; line: string; header: string; body: string } {
  const m = /^instance=(.*)\n(method=.*)\nheader=(.*)\nbody=([\s\S]*)$/.exec(body);
  if (!m) throw new Error(`not the handler's output: ${JSON.stringify(body)}`);
  return { instance: m[1]!, line: m[2]!, header: m[3]!, body: m[4]! };
}

describe('fork-mode functions bounce like http-mode ones', function () {
  this.timeout(240_000);

  describe('through the GS to another instance (provider, local backend, NATS with authorization)', () => {
    let root: string;
    let nats: NatsServer;
    let provider: Provider;
    let reports: ReportWatch;

    before(async () => {
      root = await mkdtemp(join(tmpdir(), 'hf-fork-bounce-'));
      const images = join(root, 'images');
      for (const mode of ['streaming', 'serializing']) {
        const dir = join(images, 'acme', `fork-${mode}`);
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'Dockerfile'), `FROM scratch\nENV fprocess="sh handler.sh"\nENV mode="${mode}"\n`);
        await writeFile(join(dir, 'handler.sh'), handler);
      }
      const classicHandler = join(root, 'classic.sh');
      await writeFile(classicHandler, handler);
      await chmod(root, 0o755);
      nats = await startNatsServer({ auth: true });
      reports = await ReportWatch.open(nats.url, join(nats.authDir!, AUTH_FILES.providerCreds));
      provider = await Provider.start({
        natsUrl: nats.url,
        env: { HYPERFAAS_DEFAULT_POLICY: 'none', HYPERFAAS_NATS_AUTH_DIR: nats.authDir!, HYPERFAAS_IMAGE_PATH: images },
      });
      const labels = { 'com.hyperfaas.policy': 'none' };
      const envVars = { max_inflight: '1' };
      await provider.deploy({ service: 'fork-streaming', image: 'acme/fork-streaming:latest', envVars, labels });
      await provider.deploy({ service: 'fork-serializing', image: 'acme/fork-serializing:latest', envVars, labels });
      await provider.deploy({ service: 'fork-classic', image: 'functions/alpine:latest', envProcess: `sh ${classicHandler}`, envVars, labels });
      for (const fn of ['fork-streaming', 'fork-serializing', 'fork-classic']) {
        await provider.scale(fn, 2);
        await provider.waitAvailable(fn, 2);
      }
      // Every instance has joined NATS with its own user and reports on its own subject.
      await until(() => {
        for (const fn of ['fork-streaming', 'fork-serializing', 'fork-classic']) expect(reports.of(fn), fn).to.have.length(2);
      }, 30_000);
    });
    after(async () => {
      const code = await provider?.stop();
      await reports?.close();
      await nats?.dispose();
      if (root) await rm(root, { recursive: true, force: true });
      expect(code, provider?.output).to.equal(0);
    });

    for (const [fn, contentType] of [
      ['fork-streaming', 'application/octet-stream'],
      ['fork-serializing', 'application/octet-stream'],
      ['fork-classic', 'text/plain'],
    ] as const) {
      it(`${fn}: the second of two requests sent to one full instance is bounced, run by the other, answered whole`, async () => {
        const [one, other] = reports.of(fn);
        expect(one && other, 'reports of both instances').to.not.equal(undefined);
        const rerouted = await provider.metric('hyperfaas_bounces_total', { outcome: 'rerouted' });
        const send = (n: number) =>
          httpCall(one!.url, 'POST', `/some/path?n=${n}&q=a%20b`, `body ${n}\nsecond line`, { 'X-Fork-Test': `header ${n}`, 'Content-Type': 'text/plain' });
        const [a, b] = await Promise.all([send(1), send(2)]);
        const replies = [a, b].map((r, i) => ({ r, n: i + 1, out: ran(r.body) }));
        for (const { r, n, out } of replies) {
          expect(r.status, r.body).to.equal(200);
          expect(r.headers['content-type']).to.equal(contentType);
          expect(out.line).to.equal(`method=POST path=/some/path query=n=${n}&q=a%20b`);
          expect(out.header).to.equal(`header ${n}`);
          expect(out.body).to.equal(`body ${n}\nsecond line`);
        }
        const bounced = replies.filter((x) => x.r.headers['x-hyperfaas-route'] === 'bounced');
        const here = replies.filter((x) => x.r.headers['x-hyperfaas-route'] === undefined);
        expect(bounced.map((x) => x.out.instance), JSON.stringify(replies.map((x) => x.r.headers))).to.deep.equal([other!.instance]);
        expect(here.map((x) => x.out.instance)).to.deep.equal([one!.instance]);
        // The GS counted it as re-routed.
        expect(await provider.metric('hyperfaas_bounces_total', { outcome: 'rerouted' })).to.equal(rerouted + 1);
      });
    }
  });

  describe('when no GS answers (nats-server up, no provider)', () => {
    let nats: NatsServer;
    let dir: string;
    const started: Running[] = [];
    before(async () => {
      nats = await startNatsServer();
      dir = await mkdtemp(join(tmpdir(), 'hf-fork-nogs-'));
      await writeFile(join(dir, 'slow.sh'), 'sleep 0.3\nprintf "%s:" "$Http_Query"\ncat\n');
    });
    afterEach(async () => {
      for (const w of started.splice(0)) await w.stop();
    });
    after(async () => {
      await nats?.dispose();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    for (const mode of ['streaming', 'serializing', 'classic']) {
      it(`${mode}: the request whose bounce failed runs here once a slot frees, with the body it was bounced with`, async () => {
        const wd = await startWatchdog({
          mode,
          fprocess: `sh ${join(dir, 'slow.sh')}`,
          guest_slot: 'false',
          max_inflight: '1',
          NATS_URL: nats.url,
          HYPERFAAS_INSTANCE_ID: `wd-${mode}`,
          HYPERFAAS_FUNCTION: 'fork',
        });
        started.push(wd);
        // Until the link is up a full slot queues at once; once it is, the bounce is tried, fails (no responder) and
        // the request, its body already read for the bounce, waits here.
        await until(async () => {
          const send = (n: number) => httpCall(wd.url, 'POST', `/?n=${n}`, `payload ${n}`, { 'Content-Type': 'text/plain' });
          const rs = await Promise.all([send(1), send(2)]);
          expect(rs.map((r) => [r.status, r.body])).to.deep.equal([
            [200, 'n=1:payload 1'],
            [200, 'n=2:payload 2'],
          ]);
          expect(rs.map((r) => r.headers['x-hyperfaas-route'] ?? 'direct').sort()).to.deep.equal(['direct', 'queued']);
          const metrics = await httpCall(`http://127.0.0.1:${wd.metricsPort}`, 'GET', '/metrics');
          expect(sumMetric(metrics.body, 'hyperfaas_ics_overflow_total', { outcome: 'bounce_failed' })).to.be.at.least(1);
        }, 20_000, 200);
      });
    }
  });
});
