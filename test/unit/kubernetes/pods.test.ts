import { expect } from 'chai';
import type { V1Pod } from '../../../src/backends/kubernetes/kube-api.js';
import { cpuQuantity, memoryQuantity, parseLogLine, podToInstance, resizePatch } from '../../../src/backends/kubernetes/pods.js';

const pod = (over: { ready?: boolean; ip?: string; phase?: string; deleting?: boolean; port?: number; resources?: object } = {}): V1Pod => ({
  metadata: {
    name: 'echo-abc-xyz12',
    namespace: 'openfaas-fn',
    labels: { faas_function: 'echo', 'com.hyperfaas.runtime': 'node' },
    creationTimestamp: new Date('2026-01-01T00:00:00Z'),
    ...(over.deleting ? { deletionTimestamp: new Date('2026-01-01T00:01:00Z') } : {}),
  },
  spec: {
    containers: [
      {
        name: 'echo',
        image: 'echo:1',
        ports: [{ name: 'http', containerPort: over.port ?? 8080 }],
        ...(over.resources ? { resources: over.resources } : {}),
      },
    ],
  },
  status: {
    phase: over.phase ?? 'Running',
    ...(over.ip === '' ? {} : { podIP: over.ip ?? '10.1.2.3' }),
    startTime: '2026-01-01T00:00:02Z' as unknown as Date,
    conditions: [{ type: 'Ready', status: over.ready ? 'True' : 'False' }],
  },
});

describe('kubernetes pods: podToInstance', () => {
  const cases = [
    { name: 'is not an instance before the pod has an IP', p: pod({ ip: '' }), want: undefined },
    { name: 'is not an instance once the pod has failed', p: pod({ phase: 'Failed' }), want: undefined },
    { name: 'is not an instance once the pod has succeeded', p: pod({ phase: 'Succeeded' }), want: undefined },
    { name: 'is a ready instance when the Ready condition is True', p: pod({ ready: true }), want: { ready: true, url: 'http://10.1.2.3:8080' } },
    { name: 'is not ready while the readiness probe fails', p: pod({ ready: false }), want: { ready: false } },
    { name: 'is not ready while the pod is being deleted', p: pod({ ready: true, deleting: true }), want: { ready: false } },
    { name: 'uses the container port named http', p: pod({ ready: true, port: 31001 }), want: { url: 'http://10.1.2.3:31001' } },
    { name: 'brackets an IPv6 pod IP in the URL', p: pod({ ip: 'fd00::5' }), want: { url: 'http://[fd00::5]:8080' } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = podToInstance(c.p);
      if (c.want === undefined) expect(got).to.equal(undefined);
      else expect(got).to.deep.include(c.want);
    });
  }

  it('names the instance after the pod and carries function, namespace, runtime and start time', () => {
    expect(podToInstance(pod({ ready: true }))).to.deep.equal({
      id: 'echo-abc-xyz12',
      function: 'echo',
      namespace: 'openfaas-fn',
      url: 'http://10.1.2.3:8080',
      ready: true,
      startedAt: Date.parse('2026-01-01T00:00:02Z'),
      runtime: 'node',
    });
  });
});

describe('kubernetes pods: resizePatch', () => {
  const cases = [
    {
      name: 'patches only the limits of a Burstable container',
      p: pod({ resources: { limits: { cpu: '500m', memory: '128Mi' }, requests: { cpu: '100m', memory: '64Mi' } } }),
      limits: { cpu: 1.5, memoryBytes: 256 * 1024 * 1024 },
      want: { spec: { containers: [{ name: 'echo', resources: { limits: { cpu: '1500m', memory: '256Mi' } } }] } },
    },
    {
      name: 'raises requests with limits where they were equal, so a Guaranteed pod stays Guaranteed',
      p: pod({ resources: { limits: { cpu: '1', memory: '128Mi' }, requests: { cpu: '1', memory: '128Mi' } } }),
      limits: { cpu: 2 },
      want: { spec: { containers: [{ name: 'echo', resources: { limits: { cpu: '2000m' }, requests: { cpu: '2000m' } } }] } },
    },
    {
      name: 'works for a container without resources',
      p: pod(),
      limits: { memoryBytes: 1 },
      want: { spec: { containers: [{ name: 'echo', resources: { limits: { memory: '1Mi' } } }] } },
    },
    { name: 'has nothing to patch when no limit is given', p: pod(), limits: {}, want: undefined },
    { name: 'has nothing to patch for zero limits', p: pod(), limits: { cpu: 0, memoryBytes: 0 }, want: undefined },
  ];
  for (const c of cases) it(c.name, () => expect(resizePatch(c.p, c.limits)).to.deep.equal(c.want));

  const qty = [
    { name: 'writes 0.25 cores as 250m', got: () => cpuQuantity(0.25), want: '250m' },
    { name: 'writes a tiny cpu as at least 1m', got: () => cpuQuantity(0.0001), want: '1m' },
    { name: 'rounds memory up to whole MiB', got: () => memoryQuantity(300 * 1024 * 1024 + 1), want: '301Mi' },
  ];
  for (const c of qty) it(c.name, () => expect(c.got()).to.equal(c.want));
});

describe('kubernetes pods: parseLogLine', () => {
  it('splits the API server timestamp from the text', () => {
    expect(parseLogLine('2026-01-02T03:04:05.123456789Z hello world', 'f', 'ns', 'pod-1')).to.deep.equal({
      name: 'f',
      namespace: 'ns',
      instance: 'pod-1',
      timestamp: '2026-01-02T03:04:05.123456789Z',
      text: 'hello world',
    });
  });
  it('keeps a line without a timestamp whole and stamps it now', () => {
    const now = new Date('2026-05-05T05:05:05Z');
    expect(parseLogLine('no stamp here', 'f', 'ns', 'p', () => now)).to.deep.include({ text: 'no stamp here', timestamp: now.toISOString() });
  });
  it('keeps an empty line after a timestamp as empty text', () => {
    expect(parseLogLine('2026-01-02T03:04:05Z', 'f', 'ns', 'p').text).to.equal('');
  });
});
