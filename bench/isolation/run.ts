import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { createLocalBackend, readLocalConfig, type LocalBackend } from '../../src/backends/local/index.js';
import { silentLogger } from '../../src/logger.js';
import { repoRoot } from '../../src/paths.js';
import { postStatus } from '../../test/support/http.js';

// Isolation benchmark: what an OCI container under runc costs against the process-group fallback.
//  1. Cold start: scale a function 0 -> 1 and time until the new instance answers its first request with 200.
//  2. Phase-1 resize: rewrite an instance's CPU quota in place, by writing its cgroup file (what the backend does)
//     and, for comparison, with `runc update`.
// Bounded and loopback only. Run as root with runc installed.
// Usage: node dist/bench/isolation/run.js [starts=15] [resizes=200]
const STARTS = Number(process.argv[2] ?? 15);
const RESIZES = Number(process.argv[3] ?? 200);
const NS = 'openfaas-fn';
const run = promisify(execFile);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** post sends one small POST on a fresh connection and resolves to its status (0 on an error). */
const post = (url: string): Promise<number> => postStatus(url, '', 'x', 5000);

async function until(pred: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** coldStarts scales echo 0 -> 1 `n` times and returns the times to the first 200, in ms. */
async function coldStarts(b: LocalBackend, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    const t0 = performance.now();
    await b.scale(NS, 'echo', 1);
    let url = '';
    await until(async () => {
      url ||= b.instances(NS, 'echo').find((i) => i.url)?.url ?? '';
      return url !== '' && (await post(url)) === 200;
    });
    out.push(performance.now() - t0);
    await b.scale(NS, 'echo', 0);
    await until(() => b.instances(NS, 'echo').length === 0);
  }
  return out.sort((a, c) => a - c);
}

async function timed(n: number, op: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await op(i);
    out.push(performance.now() - t0);
  }
  return out.sort((a, c) => a - c);
}

const rows: string[] = [];
const results: Record<string, number[]> = {};
for (const mode of ['auto', 'process'] as const) {
  const data = await mkdtemp('/var/tmp/hf-bench-iso-');
  const b = await createLocalBackend(
    readLocalConfig({ HYPERFAAS_DATA: data, HYPERFAAS_ISOLATION: mode, HYPERFAAS_HEALTH_INTERVAL: '1s', HYPERFAAS_STOP_TIMEOUT: '5s' }),
    silentLogger(),
  );
  try {
    const label = b.isolation.runtime === 'runc' ? 'runc container' : `process group (${b.isolation.level})`;
    await b.deploy({ service: 'echo', image: 'hyperfaas/echo:latest', namespace: NS, labels: { 'com.openfaas.scale.min': '0' }, limits: { cpu: '500m', memory: '128Mi' } });
    await coldStarts(b, 1); // prepares the image and warms the page cache
    const s = await coldStarts(b, STARTS);
    results[`start ${label}`] = s;
    rows.push(`| new instance → first 200, ${label} | ${STARTS} | ${pct(s, 50).toFixed(0)} | ${pct(s, 90).toFixed(0)} | ${s[s.length - 1]!.toFixed(0)} |`);
    await b.scale(NS, 'echo', 1);
    await until(() => b.instances(NS, 'echo').some((i) => i.ready));
    const id = b.instances(NS, 'echo')[0]!.id;
    const w = await timed(RESIZES, (i) => b.resize(id, { cpu: i % 2 ? 1.5 : 0.5 }));
    rows.push(`| resize (cgroup file write), ${label} | ${RESIZES} | ${pct(w, 50).toFixed(2)} | ${pct(w, 99).toFixed(2)} | ${w[w.length - 1]!.toFixed(2)} |`);
    if (b.isolation.runtime === 'runc') {
      const state = join(data, 'runc', 'state');
      const u = await timed(RESIZES, (i) => run('runc', ['--root', state, 'update', '--cpu-quota', String(i % 2 ? 150000 : 50000), id]));
      rows.push(`| resize (\`runc update --cpu-quota\`), ${label} | ${RESIZES} | ${pct(u, 50).toFixed(2)} | ${pct(u, 99).toFixed(2)} | ${u[u.length - 1]!.toFixed(2)} |`);
    }
  } finally {
    await b.close();
    await rm(data, { recursive: true, force: true });
  }
}

const md = [
  '# Isolation benchmark',
  '',
  `Command: \`node dist/bench/isolation/run.js ${STARTS} ${RESIZES}\` (as root, runc installed). ${cpus().length} CPUs, load average ${loadavg()[0]!.toFixed(2)} at the end`,
  '(other work shared the machine). The echo example with limits 500m / 128Mi; times in milliseconds.',
  '',
  '| what | n | p50 | p90 (start) / p99 (resize) | max |',
  '| --- | --- | --- | --- | --- |',
  ...rows,
  '',
].join('\n');
console.log(md);
mkdirSync(join(repoRoot, 'bench', 'results'), { recursive: true });
writeFileSync(join(repoRoot, 'bench', 'results', 'isolation.md'), md);
