/**
 * Observability end to end: the real provider process (local backend, real nats-server), a real Prometheus scraping
 * it, and the dashboard in headless Chromium. Prometheus is asked the very query the stock gateway's list handler
 * runs and must return the number of invocations sent (sync and async; unknown functions not counted). The
 * dashboard is watched during a bounded burst: it must show the bursting function leaving the steady phase and a
 * guest slot of another function specialised for it. Screenshots go to docs/img/ (the README shows them).
 */
import { expect } from 'chai';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { postStatus } from '../support/http.js';
import { deploy, poll, startStack, type Stack } from '../../bench/ab/stack.js';
import { repoRoot } from '../../src/paths.js';
import { startPrometheus, type Prometheus } from '../support/prometheus.js';

const NS = 'openfaas-fn';
const LENDER = 'lender';
const BURST = 'burst';

function invoke(base: string, path: string): Promise<number> {
  return postStatus(base, path, 'hello');
}

/** chromiumPath finds Debian's chromium (installed by scripts/ensure-tools.sh). */
function chromiumPath(): string {
  return process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
}

describe('observability: gateway metrics in a real Prometheus, the status API and the dashboard in Chromium', function () {
  this.timeout(300_000);
  let s: Stack;
  let prom: Prometheus | undefined;
  let browser: Browser | undefined;

  before(async () => {
    s = await startStack({ tickMs: 250, env: { HYPERFAAS_START_CPU: '0' } });
    await deploy(s, { service: LENDER, image: 'hyperfaas/echo:latest', labels: { 'com.hyperfaas.policy': 'none', 'com.hyperfaas.runtime': 'node' }, envVars: { max_inflight: '4' } });
    await deploy(s, {
      service: BURST,
      image: 'hyperfaas/cpu:latest',
      envVars: { max_inflight: '2' },
      labels: { 'com.hyperfaas.policy': 'hyperfaas', 'com.hyperfaas.runtime': 'node', 'com.openfaas.scale.min': '1', 'com.openfaas.scale.max': '3', 'com.openfaas.scale.down.window': '3s' },
      limits: { cpu: '250m' },
    });
  });

  after(async () => {
    await browser?.close();
    await prom?.stop();
    await s?.stop();
  });

  it("Prometheus returns the invocation counts for the gateway's own query, and the provider's invocationCount agrees", async () => {
    prom = await startPrometheus([`127.0.0.1:${s.port}`]);
    const SYNC = 25;
    const ASYNC = 3;
    for (let i = 0; i < SYNC; i++) expect(await invoke(s.base, `/function/${LENDER}`)).to.equal(200);
    for (let i = 0; i < ASYNC; i++) expect(await invoke(s.base, `/async-function/${LENDER}`)).to.equal(202);
    expect(await invoke(s.base, '/function/no-such-function')).to.equal(404);
    const want = SYNC + ASYNC;
    // The gateway's list handler asks exactly this (faas gateway metrics/exporter), with the namespace of the first item.
    const gatewayQuery = `sum(gateway_function_invocation_total{function_name=~".*.${NS}"}) by (function_name)`;
    const counts = await poll(
      `Prometheus to report ${want} invocations of ${LENDER}`,
      async () => {
        const r = await prom!.query(gatewayQuery);
        const byFn = Object.fromEntries(r.map((x) => [x.metric.function_name, Number(x.value[1])]));
        return byFn[`${LENDER}.${NS}`] === want ? byFn : undefined;
      },
      90_000,
      500,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\nprometheus log:\n${prom!.log().slice(-3000)}`);
    });
    expect(counts).not.to.have.property(`no-such-function.${NS}`);
    const replicas = await prom.query(`gateway_service_count{function_name="${LENDER}.${NS}"}`);
    expect(replicas.map((x) => Number(x.value[1]))).to.deep.equal([1]);
    const list = JSON.parse((await s.http('GET', `/system/functions?namespace=${NS}`)).body) as { name: string; invocationCount: number }[];
    expect(list.find((f) => f.name === LENDER)?.invocationCount).to.equal(want);
    const status = JSON.parse((await s.http('GET', `/system/hyperfaas/functions/${LENDER}`)).body) as {
      invocationCount: number;
      instances: { ready: boolean; slots: { kind: string; state: string }[] }[];
    };
    expect(status.invocationCount).to.equal(want);
    // /system/info says how this host confines instances (runc as root here, else the process fallback).
    const info = JSON.parse((await s.http('GET', '/system/info')).body) as { provider: string; isolation?: { runtime: string; level: string } };
    expect(info.provider).to.equal('hyperfaas');
    expect(info.isolation?.runtime).to.be.oneOf(['runc', 'process']);
    expect(info.isolation?.level).to.be.oneOf(['full', 'partial', 'none']);
    expect(status.instances).to.have.length(1);
    expect(status.instances[0]!.slots.map((x) => x.kind).sort()).to.deep.equal(['guest', 'home']);
  });

  it('the dashboard shows the burst: the phase leaves steady and a guest slot is specialised for the bursting function', async () => {
    const shots = join(repoRoot, 'docs', 'img');
    mkdirSync(shots, { recursive: true });
    browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    const page: Page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
    await page.goto(`${s.base}/ui/hyperfaas/`);
    await page.waitForSelector(`[data-function="${BURST}.${NS}"] tr[data-instance]`, { timeout: 30_000 });
    await page.waitForSelector(`[data-function="${LENDER}.${NS}"] [data-slot-kind="guest"]`, { timeout: 30_000 });
    await page.screenshot({ path: join(shots, 'dashboard-idle.png'), fullPage: true });

    // A bounded burst: 16 closed loops against the CPU-bound function for at most 150 s, stopped once the page showed it.
    let stop = false;
    const loops = Array.from({ length: 16 }, async () => {
      const deadline = Date.now() + 150_000;
      while (!stop && Date.now() < deadline) await invoke(s.base, `/function/${BURST}`);
    });
    const card = `[data-function="${BURST}.${NS}"]`;
    const phases = new Set<string>();
    let borrowedSeen = false;
    try {
      await poll(
        'the dashboard to show a non-steady phase and a borrowed guest slot',
        async () => {
          // The badge shows the phase of the latest tick; the decision list keeps the phases of recent ticks.
          const phase = await page.getAttribute(card, 'data-phase');
          if (phase) phases.add(phase);
          for (const m of ((await page.textContent(`${card} .decisions`)) ?? '').matchAll(/(scale-up|multiplex|scale-out)/g)) phases.add(m[1]!);
          const borrowedNow =
            (await page.$$(`${card} [data-borrowed-from]`)).length > 0 ||
            (await page.$$(`[data-function="${LENDER}.${NS}"] [data-slot-kind="guest"][data-slot-state="serving"]`)).length > 0;
          if (borrowedNow && !borrowedSeen) {
            borrowedSeen = true;
            await page.screenshot({ path: join(shots, 'dashboard-burst.png'), fullPage: true });
          }
          return borrowedSeen && [...phases].some((p) => p !== 'steady');
        },
        150_000,
        200,
      ).catch(async (e: Error) => {
        const doc = (await s.http('GET', `/system/hyperfaas/functions/${BURST}?seconds=0`)).body;
        throw new Error(`${e.message}; phases seen ${JSON.stringify([...phases])}, borrowed ${borrowedSeen}; status ${doc.slice(0, 3000)}`);
      });
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    expect([...phases].filter((p) => ['scale-up', 'multiplex', 'scale-out'].includes(p))).to.not.be.empty;
    expect(borrowedSeen).to.equal(true);
    expect(await page.getAttribute('#updated', 'data-ok')).to.equal('true');
  });
});
