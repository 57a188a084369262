import { expect } from 'chai';
import { readKubernetesConfig } from '../../../src/backends/kubernetes/config.js';
import {
  parseConstraints,
  toDeployment,
  toResourceMap,
  toService,
} from '../../../src/backends/kubernetes/manifests.js';
import type { FunctionDeployment } from '../../../src/types/index.js';

const cfg = readKubernetesConfig({ HYPERFAAS_NATS_URL: 'nats://nats.openfaas:4222' });
const base: FunctionDeployment & { namespace: string } = { service: 'figlet', image: 'ghcr.io/x/figlet:1', namespace: 'openfaas-fn' };

describe('kubernetes manifests: toDeployment', () => {
  const cases: { name: string; fd: Partial<FunctionDeployment>; check: (d: ReturnType<typeof toDeployment>) => void }[] = [
    {
      name: 'labels the deployment, its pod template and its selector with faas_function',
      fd: { labels: { team: 'a' } },
      check: (d) => {
        expect(d.metadata?.labels).to.deep.equal({ team: 'a', faas_function: 'figlet' });
        expect(d.spec?.template.metadata?.labels).to.deep.equal({ team: 'a', faas_function: 'figlet' });
        expect(d.spec?.selector.matchLabels).to.deep.equal({ faas_function: 'figlet' });
      },
    },
    {
      name: 'keeps a user label named faas_function from overriding the function name',
      fd: { labels: { faas_function: 'other' } },
      check: (d) => expect(d.spec?.template.metadata?.labels?.faas_function).to.equal('figlet'),
    },
    {
      name: 'adds prometheus.io.scrape=false to the user annotations',
      fd: { annotations: { topic: 'orders' } },
      check: (d) => expect(d.spec?.template.metadata?.annotations).to.deep.equal({ 'prometheus.io.scrape': 'false', topic: 'orders' }),
    },
    {
      name: 'writes envProcess as fprocess, winning over an fprocess env var, and keeps the other env vars sorted',
      fd: { envProcess: 'node index.js', envVars: { b: '2', a: '1', fprocess: 'cat' } },
      check: (d) => {
        const env = d.spec!.template.spec!.containers[0]!.env!;
        const user = env.filter((e) => !e.name.startsWith('HYPERFAAS_'));
        expect(user).to.deep.equal([
          { name: 'a', value: '1' },
          { name: 'b', value: '2' },
          { name: 'fprocess', value: 'node index.js' },
        ]);
      },
    },
    {
      name: 'tells the watchdog its function, namespace, pod name as instance id, and the NATS URL',
      fd: {},
      check: (d) => {
        const env = d.spec!.template.spec!.containers[0]!.env!;
        expect(env.find((e) => e.name === 'HYPERFAAS_FUNCTION')?.value).to.equal('figlet');
        expect(env.find((e) => e.name === 'HYPERFAAS_NAMESPACE')?.value).to.equal('openfaas-fn');
        expect(env.find((e) => e.name === 'HYPERFAAS_INSTANCE_ID')?.valueFrom?.fieldRef?.fieldPath).to.equal('metadata.name');
        expect(env.find((e) => e.name === 'HYPERFAAS_NATS_URL')?.value).to.equal('nats://nats.openfaas:4222');
      },
    },
    {
      name: 'copies limits and requests as the same strings, gpus included',
      fd: { limits: { memory: '128Mi', cpu: '500m', 'nvidia.com/gpu': '1' }, requests: { memory: '64Mi' } },
      check: (d) => {
        const r = d.spec!.template.spec!.containers[0]!.resources!;
        expect(r.limits).to.deep.equal({ memory: '128Mi', cpu: '500m', 'nvidia.com/gpu': '1' });
        expect(r.requests).to.deep.equal({ memory: '64Mi' });
      },
    },
    {
      name: 'sets no resources when none were asked for',
      fd: { limits: {}, requests: { cpu: '' } },
      check: (d) => expect(d.spec!.template.spec!.containers[0]!.resources).to.equal(undefined),
    },
    {
      name: 'mounts a writable emptyDir at /tmp under a read-only root filesystem',
      fd: { readOnlyRootFilesystem: true },
      check: (d) => {
        const c = d.spec!.template.spec!.containers[0]!;
        expect(c.securityContext?.readOnlyRootFilesystem).to.equal(true);
        expect(c.volumeMounts).to.deep.include({ name: 'tmp', mountPath: '/tmp' });
        expect(d.spec!.template.spec!.volumes).to.deep.include({ name: 'tmp', emptyDir: {} });
      },
    },
    {
      name: 'projects each secret into /var/openfaas/secrets, read-only',
      fd: { secrets: ['db-pass', 'api-key'] },
      check: (d) => {
        const c = d.spec!.template.spec!.containers[0]!;
        expect(c.volumeMounts).to.deep.include({ name: 'secrets', mountPath: '/var/openfaas/secrets', readOnly: true });
        const vol = d.spec!.template.spec!.volumes!.find((v) => v.name === 'secrets')!;
        expect(vol.projected?.sources?.map((s) => s.secret?.name)).to.deep.equal(['db-pass', 'api-key']);
      },
    },
    {
      name: 'turns key=value constraints into a node selector',
      fd: { constraints: ['kubernetes.io/arch=amd64', 'disk == ssd'] },
      check: (d) => expect(d.spec!.template.spec!.nodeSelector).to.deep.equal({ 'kubernetes.io/arch': 'amd64', disk: 'ssd' }),
    },
    {
      name: 'probes the watchdog: liveness on /_/health, readiness on /_/health too (a full instance stays routable), port 8080, every 2s with a 1s timeout',
      fd: {},
      check: (d) => {
        const c = d.spec!.template.spec!.containers[0]!;
        expect(c.livenessProbe?.httpGet).to.deep.include({ path: '/_/health', port: 8080 });
        expect(c.readinessProbe?.httpGet).to.deep.include({ path: '/_/health', port: 8080 });
        for (const p of [c.livenessProbe!, c.readinessProbe!]) expect([p.periodSeconds, p.timeoutSeconds]).to.deep.equal([2, 1]);
        expect(c.ports).to.deep.equal([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
      },
    },
    {
      name: 'rolls updates without taking an instance away first (maxUnavailable 0)',
      fd: {},
      check: (d) => expect(d.spec!.strategy).to.deep.equal({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } }),
    },
    {
      name: 'lets cpu and memory be resized in place without a restart',
      fd: {},
      check: (d) =>
        expect(d.spec!.template.spec!.containers[0]!.resizePolicy).to.deep.equal([
          { resourceName: 'cpu', restartPolicy: 'NotRequired' },
          { resourceName: 'memory', restartPolicy: 'NotRequired' },
        ]),
    },
    {
      name: 'starts com.openfaas.scale.min replicas',
      fd: { labels: { 'com.openfaas.scale.min': '3' } },
      check: (d) => expect(d.spec!.replicas).to.equal(3),
    },
  ];
  for (const c of cases) it(c.name, () => c.check(toDeployment({ ...base, ...c.fd }, cfg)));
});

describe('kubernetes manifests: helpers', () => {
  const constraintCases = [
    { name: 'reports a constraint without "=" as bad', input: ['nonsense'], bad: ['nonsense'], sel: undefined },
    { name: 'reports a constraint with two "=" signs apart from "==" as bad', input: ['a=b=c'], bad: ['a=b=c'], sel: undefined },
    { name: 'gives no node selector for no constraints', input: [], bad: [], sel: undefined },
  ];
  for (const c of constraintCases) {
    it(c.name, () => {
      const got = parseConstraints(c.input);
      expect(got.bad).to.deep.equal(c.bad);
      expect(got.nodeSelector).to.deep.equal(c.sel);
    });
  }

  it('drops empty resource values', () => expect(toResourceMap({ cpu: ' ', memory: '1Gi' })).to.deep.equal({ memory: '1Gi' }));

  it('builds a ClusterIP service on port 8080 selecting the function pods', () => {
    const s = toService(base, cfg);
    expect(s.metadata).to.deep.include({ name: 'figlet', namespace: 'openfaas-fn' });
    expect(s.spec?.selector).to.deep.equal({ faas_function: 'figlet' });
    expect(s.spec?.ports).to.deep.equal([{ name: 'http', port: 8080, targetPort: 8080, protocol: 'TCP' }]);
  });
});
