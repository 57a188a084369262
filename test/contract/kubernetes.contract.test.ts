import { silentLogger } from '../../src/logger.js';
import { createKubernetesBackend, readKubernetesConfig } from '../../src/backends/kubernetes/index.js';
import { startFakeKubeApi } from '../support/fake-kube-api.js';
import { runBackendContract } from './backend.contract.js';

// The Kubernetes backend through @kubernetes/client-node, talking HTTP to the in-process fake API server.
runBackendContract('kubernetes (fake API server)', async () => {
  const fake = await startFakeKubeApi();
  const cfg = { ...readKubernetesConfig({}), connection: { kind: 'inline' as const, text: fake.kubeconfig } };
  const backend = await createKubernetesBackend(cfg, silentLogger());
  return {
    backend,
    image: 'ghcr.io/hyperfaas/contract-fn:latest',
    markReady: (namespace, name) => fake.markReady(namespace, name),
    async cleanup() {
      await backend.close();
      await fake.close();
    },
  };
});
