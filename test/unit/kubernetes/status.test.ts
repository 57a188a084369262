import { expect } from 'chai';
import { readKubernetesConfig } from '../../../src/backends/kubernetes/config.js';
import { toDeployment } from '../../../src/backends/kubernetes/manifests.js';
import { toFunctionStatus, toIsoTime, zeroTime } from '../../../src/backends/kubernetes/status.js';
import type { FunctionDeployment } from '../../../src/types/index.js';

const cfg = readKubernetesConfig({});
const fd = (extra: Partial<FunctionDeployment>): FunctionDeployment & { namespace: string } => ({
  service: 'echo',
  image: 'ghcr.io/x/echo:2',
  namespace: 'team-a',
  ...extra,
});

describe('kubernetes status: toFunctionStatus', () => {
  const cases: { name: string; fd: Partial<FunctionDeployment>; want: Record<string, unknown>; absent?: string[] }[] = [
    {
      name: 'returns name, image and namespace, with zero invocations',
      fd: {},
      want: { name: 'echo', image: 'ghcr.io/x/echo:2', namespace: 'team-a', invocationCount: 0 },
      absent: ['envVars', 'limits', 'requests', 'secrets', 'envProcess', 'readOnlyRootFilesystem', 'constraints'],
    },
    {
      name: 'returns the pod template labels, faas_function included, and the annotations',
      fd: { labels: { tier: 'web' }, annotations: { note: 'x' } },
      want: { labels: { tier: 'web', faas_function: 'echo' }, annotations: { 'prometheus.io.scrape': 'false', note: 'x' } },
    },
    {
      name: 'returns envProcess but never envVars',
      fd: { envProcess: 'cat', envVars: { SECRET_SAUCE: '1' } },
      want: { envProcess: 'cat' },
      absent: ['envVars'],
    },
    {
      name: 'returns limits and requests as the same strings',
      fd: { limits: { cpu: '0.5', memory: '1G' }, requests: { cpu: '100m' } },
      want: { limits: { cpu: '0.5', memory: '1G' }, requests: { cpu: '100m' } },
    },
    {
      name: 'returns secrets, constraints and a read-only root filesystem',
      fd: { secrets: ['s1'], constraints: ['disk=ssd'], readOnlyRootFilesystem: true },
      want: { secrets: ['s1'], constraints: ['disk=ssd'], readOnlyRootFilesystem: true },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const st = toFunctionStatus(toDeployment(fd(c.fd), cfg));
      expect(st).to.deep.include(c.want);
      for (const k of c.absent ?? []) expect(st, k).not.to.have.property(k);
    });
  }

  it('takes desired replicas from the spec and available replicas from the status', () => {
    const d = toDeployment(fd({}), cfg, 3);
    d.status = { availableReplicas: 2, readyReplicas: 2, replicas: 3 };
    expect(toFunctionStatus(d)).to.deep.include({ replicas: 3, availableReplicas: 2 });
  });

  it('reports zero available replicas when the status omits the field (Kubernetes drops zeros)', () => {
    const d = toDeployment(fd({}), cfg, 0);
    d.status = {};
    expect(toFunctionStatus(d)).to.deep.include({ replicas: 0, availableReplicas: 0 });
  });

  it('always returns labels and annotations objects', () => {
    const st = toFunctionStatus({ metadata: { name: 'bare', namespace: 'n' }, spec: { selector: {}, template: {} } });
    expect(st.labels).to.deep.equal({});
    expect(st.annotations).to.deep.equal({});
  });

  const timeCases = [
    { name: 'writes a Date from a list as RFC 3339 without milliseconds', input: new Date('2026-01-02T03:04:05Z'), want: '2026-01-02T03:04:05Z' },
    { name: 'keeps an RFC 3339 string from a watch event', input: '2026-01-02T03:04:05Z', want: '2026-01-02T03:04:05Z' },
    { name: 'writes Go zero time for a missing timestamp, never ""', input: undefined, want: zeroTime },
    { name: 'writes Go zero time for an unparsable timestamp', input: 'yesterday', want: zeroTime },
  ];
  for (const c of timeCases) it(c.name, () => expect(toIsoTime(c.input)).to.equal(c.want));
});
