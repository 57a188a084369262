import { expect } from 'chai';
import type { V1Pod } from '../../../src/backends/kubernetes/kube-api.js';
import { cpuQuantity, memoryQuantity, parseLogLine, podToInstance, qosOf, resizePlan, resizeState } from '../../../src/backends/kubernetes/pods.js';

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

describe('kubernetes pods: resizePlan', () => {
  const patchOf = (plan: ReturnType<typeof resizePlan>) => (plan && 'patch' in plan ? plan.patch : plan);
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
      name: 'never puts a Burstable limit below its request',
      p: pod({ resources: { limits: { cpu: '1' }, requests: { cpu: '500m' } } }),
      limits: { cpu: 0.25 },
      want: { spec: { containers: [{ name: 'echo', resources: { limits: { cpu: '500m' } } }] } },
    },
    {
      name: 'keeps a Burstable pod from becoming Guaranteed by a limit equal to its request',
      p: pod({ resources: { limits: { cpu: '1', memory: '64Mi' }, requests: { cpu: '500m', memory: '64Mi' } } }),
      limits: { cpu: 0.5 },
      want: { spec: { containers: [{ name: 'echo', resources: { limits: { cpu: '501m' } } }] } },
    },
    {
      name: 'leaves a resource without a limit alone',
      p: pod({ resources: { limits: { cpu: '1' }, requests: { cpu: '1', memory: '64Mi' } } }),
      limits: { cpu: 2, memoryBytes: 512 * 1024 * 1024 },
      want: { spec: { containers: [{ name: 'echo', resources: { limits: { cpu: '2000m' } } }] } },
    },
    { name: 'has nothing to patch when no limit is given', p: pod(), limits: {}, want: undefined },
    { name: 'has nothing to patch for zero limits', p: pod({ resources: { limits: { cpu: '1' } } }), limits: { cpu: 0, memoryBytes: 0 }, want: undefined },
  ];
  for (const c of cases) it(c.name, () => expect(patchOf(resizePlan(c.p, c.limits))).to.deep.equal(c.want));

  it('skips a BestEffort pod: Kubernetes cannot add limits in place', () => {
    const plan = resizePlan(pod(), { cpu: 2 });
    expect(plan).to.have.property('skip').that.contains('BestEffort');
  });

  it('names the patch that undoes it', () => {
    const plan = resizePlan(pod({ resources: { limits: { cpu: '1', memory: '128Mi' }, requests: { cpu: '1', memory: '128Mi' } } }), { cpu: 2 });
    expect(plan && 'undo' in plan ? plan.undo : undefined).to.deep.equal({
      spec: { containers: [{ name: 'echo', resources: { limits: { cpu: '1' }, requests: { cpu: '1' } } }] },
    });
  });

  it('computes QoS classes like the API server', () => {
    expect(qosOf([{}])).to.equal('BestEffort');
    expect(qosOf([{ limits: { cpu: '1', memory: '1Gi' } }])).to.equal('Guaranteed');
    expect(qosOf([{ limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '1000m', memory: '1Gi' } }])).to.equal('Guaranteed');
    expect(qosOf([{ requests: { cpu: '1' } }])).to.equal('Burstable');
  });

  const withStatus = (status: object, spec = { limits: { cpu: '2' }, requests: { cpu: '2' } }, extra: object = {}): V1Pod => {
    const p = pod({ resources: spec });
    return { ...p, metadata: { ...p.metadata, ...extra }, status: { ...p.status, ...status } } as V1Pod;
  };
  const states = [
    { name: 'applied once the container status shows the spec', p: withStatus({ containerStatuses: [{ name: 'echo', resources: { limits: { cpu: '2000m' }, requests: { cpu: '2' } } }] }), want: 'applied' },
    { name: 'waiting while the status shows the old values', p: withStatus({ containerStatuses: [{ name: 'echo', resources: { limits: { cpu: '1' }, requests: { cpu: '1' } } }] }), want: 'waiting' },
    { name: 'pending when the kubelet defers it', p: withStatus({ conditions: [{ type: 'PodResizePending', status: 'True', reason: 'Deferred' }] }), want: 'pending' },
    { name: 'pending with the pre-1.33 status.resize', p: withStatus({ resize: 'Infeasible' }), want: 'pending' },
    { name: 'gone when the pod is being deleted', p: withStatus({}, undefined, { deletionTimestamp: new Date() }), want: 'gone' },
  ];
  for (const c of states) it(`resizeState: ${c.name}`, () => expect(resizeState(c.p, 'echo').state).to.equal(c.want));

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
