import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createLocalBackend, readLocalConfig } from '../../src/backends/local/index.js';
import { silentLogger } from '../../src/logger.js';
import { repoRoot } from '../../src/paths.js';
import { pushImage, startRegistry, webImage } from '../../test/support/oci-registry.js';
import { postStatus } from '../../test/support/http.js';

// OCI image benchmark: pull + first start of a small image (static busybox running httpd as its watchdog on 8080,
// ~1 MB compressed) from a docker-registry on 127.0.0.1. Each round uses a fresh data dir, so the pull is cold:
//  - pull: the deploy call (skopeo copy, umoci raw unpack, rename into place)
//  - first start: from the deploy's return to the instance's first 200 (network namespace, runc, httpd up)
//  - warm start: a second function of the same image, already stored (image_pull_policy IfNotPresent)
// Loopback only. Run as root with runc, skopeo, umoci, docker-registry installed.
// Usage: node dist/bench/oci/run.js [rounds=10]
const ROUNDS = Number(process.argv[2] ?? 10);
const NS = 'openfaas-fn';

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** post sends one small POST on a fresh connection and resolves to its status (0 on an error). */
const post = (url: string): Promise<number> => postStatus(url, '', 'x', 5000);

async function firstOk(b: Awaited<ReturnType<typeof createLocalBackend>>, name: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const i = b.instances(NS, name).find((x) => x.ready);
    if (i && (await post(`${i.url}/`)) === 200) return;
    if (Date.now() > deadline) throw new Error(`${name} never answered 200`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function main(): Promise<void> {
  const reg = await startRegistry();
  const image = `${reg.host}/bench/web:1`;
  await pushImage(image, webImage('bench'));
  const pull: number[] = [];
  const first: number[] = [];
  const warm: number[] = [];
  try {
    for (let r = 0; r < ROUNDS; r++) {
      const data = await mkdtemp(join(tmpdir(), 'hf-bench-oci-'));
      const cfg = readLocalConfig({
        HYPERFAAS_DATA: data,
        HYPERFAAS_IMAGE_PATH: join(data, 'none'),
        HYPERFAAS_INSECURE_REGISTRIES: reg.host,
        HYPERFAAS_HEALTH_INTERVAL: '200ms',
        HYPERFAAS_STOP_TIMEOUT: '1s',
        image_pull_policy: 'IfNotPresent',
      });
      const b = await createLocalBackend(cfg, silentLogger());
      try {
        if (b.isolation.runtime !== 'runc') throw new Error(`needs runc: ${b.isolation.notes.join('; ')}`);
        const t0 = performance.now();
        await b.deploy({ service: 'cold', image, namespace: NS });
        const t1 = performance.now();
        await firstOk(b, 'cold');
        const t2 = performance.now();
        await b.deploy({ service: 'warm', image, namespace: NS });
        await firstOk(b, 'warm');
        const t3 = performance.now();
        pull.push(t1 - t0);
        first.push(t2 - t1);
        warm.push(t3 - t2);
      } finally {
        await b.close();
        await rm(data, { recursive: true, force: true });
      }
    }
  } finally {
    await reg.stop();
  }
  const row = (what: string, xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return `| ${what} | ${s.length} | ${pct(s, 50).toFixed(0)} | ${pct(s, 90).toFixed(0)} | ${s[s.length - 1]!.toFixed(0)} |`;
  };
  const md = [
    '# OCI image benchmark: pull + first start',
    '',
    `Command: \`node dist/bench/oci/run.js ${ROUNDS}\` (as root; runc, skopeo ${'1.9'}, umoci 0.4.7, docker-registry from Debian 12).`,
    `${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg()[0]!.toFixed(2)} at the end (other work may share the machine).`,
    'Image: static busybox (Debian busybox-static) running `httpd` on 8080 as its watchdog, one ~1 MB layer, pushed to a',
    'docker-registry on 127.0.0.1. Fresh data dir per round, so every pull is cold. Times in milliseconds.',
    '',
    '| what | n | p50 | p90 | max |',
    '| --- | --- | --- | --- | --- |',
    row('pull: deploy call (skopeo copy + umoci raw unpack + rename)', pull),
    row('first start: deploy returned → first 200 (netns + runc + httpd)', first),
    row('warm: deploy of a 2nd function, image stored → first 200', warm),
    '',
  ].join('\n');
  mkdirSync(join(repoRoot, 'bench', 'results'), { recursive: true });
  writeFileSync(join(repoRoot, 'bench', 'results', 'oci.md'), md);
  process.stdout.write(md);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
