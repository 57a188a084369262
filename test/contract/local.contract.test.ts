import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalBackend, readLocalConfig } from '../../src/backends/local/index.js';
import { silentLogger } from '../../src/logger.js';
import { runBackendContract } from './backend.contract.js';

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
  return {
    backend,
    image: 'hyperfaas/echo:latest',
    envProcessImage: 'functions/alpine:latest',
    async cleanup() {
      await backend.close();
      await rm(data, { recursive: true, force: true });
    },
  };
});
