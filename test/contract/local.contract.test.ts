import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalBackend, readLocalConfig } from '../../src/backends/local/index.js';
import { silentLogger } from '../../src/logger.js';
import { runBackendContract } from './backend.contract.js';

/**
 * leftovers lists what a closed backend must not leave behind for the given functions: processes and cgroups of
 * any of their instances (instance ids start with "<function>-", also those of instances nobody was told about).
 */
async function leftovers(fns: Set<string>, cgroupDirs: string[]): Promise<string[]> {
  const out: string[] = [];
  const mine = (id: string) => [...fns].some((f) => id.startsWith(`${f}-`));
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const env = (await readFile(`/proc/${d}/environ`, 'utf8').catch(() => '')).split('\0');
    const id = env.find((e) => e.startsWith('HYPERFAAS_INSTANCE_ID='))?.slice('HYPERFAAS_INSTANCE_ID='.length);
    if (id && mine(id)) out.push(`process ${d} of ${id}`);
  }
  for (const dir of cgroupDirs) {
    for (const id of existsSync(dir) ? await readdir(dir) : []) if (mine(id)) out.push(`cgroup ${join(dir, id)}`);
  }
  return out;
}

runBackendContract('local', async () => {
  const data = await mkdtemp(join(tmpdir(), 'hf-contract-'));
  const cfg = readLocalConfig({
    HYPERFAAS_DATA: data,
    HYPERFAAS_HEALTH_INTERVAL: '200ms',
    HYPERFAAS_RESTART_BACKOFF_MIN: '100ms',
    HYPERFAAS_RESTART_BACKOFF_MAX: '2s',
    HYPERFAAS_STOP_TIMEOUT: '10s',
  });
  const backend = await createLocalBackend(cfg, silentLogger());
  const fns = new Set<string>();
  backend.watchInstances((ev) => fns.add(ev.instance.function));
  const cgroupDirs =
    backend.isolation.cgroup === 'v1' ? backend.isolation.limits.map((c) => join(cfg.cgroupRoot, c, cfg.cgroupParent)) : [];
  return {
    backend,
    image: 'hyperfaas/echo:latest',
    envProcessImage: 'functions/alpine:latest',
    async cleanup() {
      await backend.close();
      await rm(data, { recursive: true, force: true });
      // Closing must stop every instance and remove its cgroups, and start none while it stops the others.
      const still = backend.instances().map((i) => i.id);
      await new Promise((r) => setTimeout(r, 200));
      const left = [...still.map((id) => `instance ${id}`), ...(await leftovers(fns, cgroupDirs))];
      if (left.length) throw new Error(`the closed backend left behind: ${left.join(', ')}`);
    },
  };
});
