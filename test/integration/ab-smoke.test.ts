/**
 * CI smoke run of the A/B harness (bench/ab/run.ts), TIME-COMPRESSED and labelled so: HPA timers and the workload
 * timeline divided by 10, the W1 step shortened to 0.4 (24 s per arm), rates halved, two arms (hyperfaas, hpa). It
 * runs the compiled harness as its own process (real nats-server, provider and instances) and checks that the report
 * and figures are written with the expected sections and that the request counts add up. No timing assertions:
 * latency and recovery figures of a compressed run on a CI box are not results.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reportSections, type ArmRun } from '../../bench/ab/report.js';
import { caseDefs, caseUnavailable } from '../../bench/ab/run.js';

const here = dirname(fileURLToPath(import.meta.url));
const harness = join(here, '..', '..', 'bench', 'ab', 'run.js');

/** runHarness runs the compiled harness as its own process with args; resolves to its exit code and output. */
async function runHarness(args: string[]): Promise<{ code: number | null; log: string }> {
  let log = '';
  const child = spawn(process.execPath, [harness, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (c: Buffer) => (log += c.toString()));
  child.stderr.on('data', (c: Buffer) => (log += c.toString()));
  const timer = setTimeout(() => child.kill('SIGTERM'), 280_000);
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  clearTimeout(timer);
  return { code, log };
}

describe('A/B harness smoke run (compressed)', function () {
  this.timeout(300_000);
  let out: string;
  let log = '';
  let code: number | null = null;

  before(async () => {
    out = await mkdtemp(join(tmpdir(), 'hf-ab-smoke-'));
    ({ code, log } = await runHarness(['--compress', '10', '--duration-scale', '0.4', '--rate-scale', '0.5', '--workloads', 'w1', '--arms', 'hyperfaas,hpa', '--cpu-request', '0.25', '--out', out, '--name', 'ab-smoke', '--no-latest']));
  });

  after(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  it('exits 0 and writes the report with every section, labelled compressed', () => {
    expect(code, log).to.equal(0);
    const md = readFileSync(join(out, 'ab-smoke.md'), 'utf8');
    for (const h of reportSections) expect(md, h).to.contain(`\n${h}\n`);
    expect(md.split('\n')[0]).to.match(/\(compressed\)$/);
    expect(md).to.contain('**Compressed run**');
    expect(md).to.contain('--compress 10');
    expect(md).to.match(/\| hpa \| sync 1\.5s,.*pod start 0\.2s/);
    expect(md).to.match(/^\| hyperfaas \| \d+ \|/m);
    expect(md).to.match(/^\| hpa \| \d+ \|/m);
    expect(existsSync(join(out, 'ab-latest.md'))).to.equal(false);
  });

  it('draws the latency and scale-timeline figures the report links to', () => {
    const md = readFileSync(join(out, 'ab-smoke.md'), 'utf8');
    for (const f of ['ab-smoke/w1-latency.svg', 'ab-smoke/w1-timeline.svg']) {
      expect(md).to.contain(`](${f})`);
      const svg = readFileSync(join(out, f), 'utf8');
      expect(svg).to.match(/^<\?xml[^]*<svg /);
      expect(svg).to.contain('hyperfaas');
      expect(svg).to.contain('hpa');
    }
  });

  it('accounts for every scheduled request in each arm: ok + failures by code = recorded = scheduled', () => {
    const runs = JSON.parse(readFileSync(join(out, 'ab-smoke', 'runs.json'), 'utf8')) as ArmRun[];
    expect(runs.map((r) => r.arm)).to.deep.equal(['hyperfaas', 'hpa']);
    const md = readFileSync(join(out, 'ab-smoke.md'), 'utf8');
    for (const r of runs) {
      const f = r.summary.failures;
      expect(r.summary.requests, r.arm).to.equal(r.scheduled);
      expect(f.total, r.arm).to.equal(r.scheduled);
      expect(f.ok + Object.values(f.byCode).reduce((a, b) => a + b, 0), r.arm).to.equal(f.total);
      expect(f.failed, r.arm).to.equal(f.total - f.ok);
      expect(Object.values(r.routes).reduce((a, b) => a + b, 0), r.arm).to.be.at.most(f.ok + (f.byCode['429'] ?? 0) + (f.byCode['502'] ?? 0) + (f.byCode['503'] ?? 0) + (f.byCode['504'] ?? 0));
      expect(r.samples.length, r.arm).to.be.greaterThan(10);
      expect(r.cost.containerSeconds, r.arm).to.be.greaterThan(0);
      expect(md).to.match(new RegExp(`^\\| ${r.arm} \\| ${r.summary.requests} \\| ${f.ok} \\|`, 'm'));
    }
  });
});

describe('A/B harness smoke run of the relief cases (--quick, compressed)', function () {
  this.timeout(300_000);
  let out: string;
  let log = '';
  let code: number | null = null;

  before(async () => {
    out = await mkdtemp(join(tmpdir(), 'hf-ab-cases-'));
    // The quick step (5 + 15 + 5 s) divided by 10: 2.5 s per arm. The Python case runs only where its template exists.
    ({ code, log } = await runHarness(['--quick', '--compress', '10', '--cases', 'http-node,fork,http-python', '--arms', 'hyperfaas,hpa', '--cpu-request', '0.25', '--out', out, '--name', 'ab-cases', '--no-latest']));
  });

  after(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  it('runs http and fork mode on both arms and reports each case in the summary, with its figures', () => {
    expect(code, log).to.equal(0);
    const md = readFileSync(join(out, 'ab-cases.md'), 'utf8');
    expect(md).to.contain('\n### Summary\n');
    for (const c of ['http-node', 'fork']) {
      for (const arm of ['hyperfaas', 'hpa']) expect(md).to.match(new RegExp(`^\\| ${c} \\| ${arm} \\| \\d+ \\| \\d+ \\|`, 'm'));
      for (const f of [`ab-cases/${c}-latency.svg`, `ab-cases/${c}-timeline.svg`]) {
        expect(md).to.contain(`](${f})`);
        expect(readFileSync(join(out, f), 'utf8')).to.match(/^<\?xml[^]*<svg /);
      }
    }
    const runs = JSON.parse(readFileSync(join(out, 'ab-cases', 'runs.json'), 'utf8')) as ArmRun[];
    for (const r of runs) expect(r.summary.requests, `${r.workload} ${r.arm}`).to.equal(r.scheduled);
  });

  it('reports the Python case, or says the runtime is not in this tree instead of failing', () => {
    const md = readFileSync(join(out, 'ab-cases.md'), 'utf8');
    const python = caseDefs.find((c) => c.id === 'http-python')!;
    if (caseUnavailable(python) === undefined) {
      expect(md).to.match(/^\| http-python \| hyperfaas \| \d+ \|/m);
    } else {
      expect(md).to.contain('http-python: not run: python runtime not available in this tree');
    }
  });
});
