import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { readKubernetesConfig } from '../../../src/backends/kubernetes/config.js';
import { kubePermissions } from '../../../src/backends/kubernetes/kube-api.js';
import { toDeployment } from '../../../src/backends/kubernetes/manifests.js';
import { readFunctionNamespaces } from '../../../src/config.js';
import { repoRoot } from '../../../src/paths.js';
import { restrictedViolations } from '../../support/pod-security.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** render runs `kubectl kustomize` on an overlay (offline) and parses the documents it prints. */
async function render(overlay: string): Promise<Obj[]> {
  const { stdout } = await promisify(execFile)('kubectl', ['kustomize', join(repoRoot, 'yaml', overlay)], { maxBuffer: 16 << 20 });
  return parseAllDocuments(stdout).map((d) => d.toJSON() as Obj);
}

const find = (docs: Obj[], kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata?.name === name);
const envOf = (c: Obj) => Object.fromEntries((c.env ?? []).map((e: Obj) => [e.name, e.value]));
const apiVersionOf: Record<string, string> = {
  Namespace: 'v1',
  ServiceAccount: 'v1',
  Service: 'v1',
  ConfigMap: 'v1',
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  Role: 'rbac.authorization.k8s.io/v1',
  RoleBinding: 'rbac.authorization.k8s.io/v1',
};

/** workloads are the rendered objects that carry a pod template. */
const workloads = (docs: Obj[]) => docs.filter((d) => d.kind === 'Deployment' || d.kind === 'StatefulSet');

/** serviceReaches tells whether a Service named `host` on `port` exists and selects pods of some workload with that target port. */
function serviceReaches(docs: Obj[], host: string, port: number): boolean {
  const svc = find(docs, 'Service', host);
  const p = svc?.spec?.ports?.find((x: Obj) => x.port === port);
  if (!svc || !p) return false;
  const workloads = docs.filter((d) => d.kind === 'Deployment' || d.kind === 'StatefulSet');
  return workloads.some((w) => {
    const labels = w.spec.template.metadata.labels ?? {};
    const selects = Object.entries(svc.spec.selector ?? {}).every(([k, v]) => labels[k] === v);
    const ports = w.spec.template.spec.containers.flatMap((c: Obj) => c.ports ?? []);
    return selects && ports.some((cp: Obj) => cp.name === p.targetPort || cp.containerPort === p.targetPort);
  });
}

for (const overlay of ['with-gateway', 'standalone']) {
  describe(`yaml/${overlay} rendered by kubectl kustomize`, function () {
    this.timeout(60_000);
    let docs: Obj[];
    before(async () => {
      docs = await render(overlay);
    });

    it('renders only known kinds, each with its API version', () => {
      expect(docs.length).to.be.greaterThan(5);
      for (const d of docs) expect(d.apiVersion, `${d.kind}/${d.metadata?.name}`).to.equal(apiVersionOf[d.kind]);
    });

    it('creates openfaas and openfaas-fn, the latter labelled openfaas=1', () => {
      expect(find(docs, 'Namespace', 'openfaas')).to.not.equal(undefined);
      expect(find(docs, 'Namespace', 'openfaas-fn')?.metadata.labels).to.include({ openfaas: '1' });
    });

    it('runs the provider on 8081 with the kubernetes backend, the RBAC service account, shared basic auth and probes', () => {
      const dep = find(docs, 'Deployment', 'hyperfaas-provider')!;
      const pod = dep.spec.template.spec;
      const c = pod.containers[0];
      expect(c.image).to.match(/^ghcr\.io\/hyperfaas\/provider:\d+\.\d+\.\d+$/);
      expect(c.ports).to.deep.include({ name: 'http', containerPort: 8081 });
      expect(envOf(c)).to.include({ HYPERFAAS_BACKEND: 'kubernetes', port: '8081', HYPERFAAS_DEFAULT_NAMESPACE: 'openfaas-fn', basic_auth: 'true' });
      expect(envOf(c).NATS_URL).to.equal('nats://nats.openfaas:4222');
      expect(c.readinessProbe.httpGet).to.deep.include({ path: '/healthz', port: 'http' });
      expect(c.livenessProbe.httpGet).to.deep.include({ path: '/healthz', port: 'http' });
      const auth = pod.volumes.find((v: Obj) => v.secret?.secretName === 'basic-auth');
      expect(c.volumeMounts.find((m: Obj) => m.name === auth.name).mountPath).to.equal(envOf(c).secret_mount_path);
      expect(pod.securityContext).to.include({ runAsNonRoot: true });
      expect(pod.securityContext.runAsUser).to.be.a('number').and.greaterThan(0);
      expect(pod.serviceAccountName).to.equal('hyperfaas-provider');
      expect(serviceReaches(docs, 'hyperfaas-provider', 8081)).to.equal(true);
    });

    it('never runs two providers at once: the Deployment is replaced, not rolled', () => {
      const dep = find(docs, 'Deployment', 'hyperfaas-provider')!;
      expect(dep.spec.replicas).to.equal(1);
      expect(dep.spec.strategy).to.deep.equal({ type: 'Recreate' });
    });

    it('starts NATS from its config file, which sets what has no flag (max_payload)', () => {
      const sts = find(docs, 'StatefulSet', 'nats')!;
      const c = sts.spec.template.spec.containers[0];
      expect(c.args).to.deep.equal(['-c', '/etc/nats/nats.conf']);
      const mount = c.volumeMounts.find((m: Obj) => m.mountPath === '/etc/nats');
      const vol = sts.spec.template.spec.volumes.find((v: Obj) => v.name === mount.name);
      const conf = find(docs, 'ConfigMap', vol.configMap.name)!.data['nats.conf'];
      expect(conf).to.match(/max_payload:\s*8MB/);
      expect(conf).to.match(/jetstream\s*\{[^}]*store_dir:\s*\/data/);
      expect(c.args.join(' ')).not.to.contain('--max_payload');
    });

    it("governs the NATS StatefulSet with a headless Service that selects its pods", () => {
      const sts = find(docs, 'StatefulSet', 'nats')!;
      const svc = find(docs, 'Service', sts.spec.serviceName);
      expect(svc, `Service ${sts.spec.serviceName}`).to.not.equal(undefined);
      expect(svc!.spec.clusterIP).to.equal('None');
      expect(svc!.spec.selector).to.deep.equal(sts.spec.selector.matchLabels);
    });

    it('meets Pod Security "restricted" in every pod it renders, and in the function pods the provider creates', () => {
      for (const w of workloads(docs)) expect(restrictedViolations(w.spec.template.spec), `${w.kind}/${w.metadata.name}`).to.deep.equal([]);
      const cfg = readKubernetesConfig({});
      const fns = [
        toDeployment({ service: 'plain', image: 'x:1', namespace: 'openfaas-fn' }, cfg),
        toDeployment({ service: 'ro', image: 'x:1', namespace: 'openfaas-fn', readOnlyRootFilesystem: true, secrets: ['a', 'reg'] }, cfg, 1, ['reg']),
        toDeployment({ service: 'own-user', image: 'x:1', namespace: 'openfaas-fn' }, readKubernetesConfig({ set_nonroot_user: 'false' })),
      ];
      for (const d of fns) expect(restrictedViolations(d.spec!.template.spec!), `function ${d.metadata!.name}`).to.deep.equal([]);
    });

    it('runs NATS with JetStream on a persistent volume, reachable as nats:4222', () => {
      const sts = find(docs, 'StatefulSet', 'nats')!;
      const c = sts.spec.template.spec.containers[0];
      expect(c.image).to.match(/^nats:2\.\d+/);
      const conf = find(docs, 'ConfigMap', 'nats-config')!.data['nats.conf'];
      expect(conf).to.match(/jetstream\s*\{/);
      expect(c.volumeMounts.map((m: Obj) => m.name)).to.include(sts.spec.volumeClaimTemplates[0].metadata.name);
      expect(serviceReaches(docs, 'nats', 4222)).to.equal(true);
    });

    it('grants the provider exactly the permissions the KubeApi port calls, by a Role in each function namespace only', () => {
      // Nothing cluster-wide: no ClusterRole, no ClusterRoleBinding (secrets of kube-system stay out of reach).
      expect(docs.filter((d) => d.kind === 'ClusterRole' || d.kind === 'ClusterRoleBinding').map((d) => d.metadata.name)).to.deep.equal([]);
      const env = envOf(find(docs, 'Deployment', 'hyperfaas-provider')!.spec.template.spec.containers[0]);
      const fnNamespaces = readFunctionNamespaces(env).namespaces;
      const roles = docs.filter((d) => d.kind === 'Role');
      expect(roles.map((r) => r.metadata.namespace).sort()).to.deep.equal([...fnNamespaces].sort());
      const needed = new Set(kubePermissions.flatMap((p) => p.verbs.map((v) => `${p.group}|${p.resource}|${v}`)));
      for (const role of roles) {
        const granted = new Set<string>();
        for (const r of role.rules) {
          for (const x of [...r.apiGroups, ...r.resources, ...r.verbs]) expect(x, 'no wildcard').not.to.equal('*');
          expect(r.resourceNames, 'no resourceNames trick').to.equal(undefined);
          for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) granted.add(`${g}|${res}|${v}`);
        }
        expect([...granted].sort(), `Role in ${role.metadata.namespace}`).to.deep.equal([...needed].sort());
        // Powers the provider must never have: creating pods directly, exec into them.
        for (const bad of ['|pods/exec|create', '|pods|create']) expect(granted.has(bad)).to.equal(false);
        const binding = docs.find((d) => d.kind === 'RoleBinding' && d.metadata.namespace === role.metadata.namespace && d.roleRef.name === role.metadata.name);
        expect(binding?.roleRef.kind).to.equal('Role');
        expect(binding?.subjects).to.deep.equal([{ kind: 'ServiceAccount', name: 'hyperfaas-provider', namespace: 'openfaas' }]);
      }
    });

    if (overlay === 'with-gateway') {
      it('runs the stock gateway 0.27.x against the provider with scale from zero and openfaas-fn', () => {
        const c = find(docs, 'Deployment', 'gateway')!.spec.template.spec.containers[0];
        expect(c.image).to.match(/^ghcr\.io\/openfaas\/gateway:0\.27\.\d+$/);
        const env = envOf(c);
        expect(env).to.include({ scale_from_zero: 'true', function_namespace: 'openfaas-fn', basic_auth: 'true' });
        const u = new URL(env.functions_provider_url);
        expect(env.functions_provider_url.endsWith('/'), 'functions_provider_url ends with /').to.equal(true);
        expect(serviceReaches(docs, u.hostname.split('.')[0]!, Number(u.port))).to.equal(true);
        const gwPod = find(docs, 'Deployment', 'gateway')!.spec.template.spec;
        expect(gwPod.volumes.some((v: Obj) => v.secret?.secretName === 'basic-auth'), 'same basic-auth secret').to.equal(true);
      });

      it('gives the gateway a Prometheus to ask, so its function list does not fail', () => {
        const env = envOf(find(docs, 'Deployment', 'gateway')!.spec.template.spec.containers[0]);
        expect(serviceReaches(docs, env.faas_prometheus_host, Number(env.faas_prometheus_port))).to.equal(true);
        const answer = JSON.parse(find(docs, 'ConfigMap', 'prometheus-stub')!.data.query);
        expect(answer.data.result).to.deep.equal([]);
      });
    } else {
      it('exposes the provider itself as gateway:8080 and on NodePort 31112, with no gateway Deployment', () => {
        expect(find(docs, 'Deployment', 'gateway')).to.equal(undefined);
        expect(serviceReaches(docs, 'gateway', 8080)).to.equal(true);
        const ext = find(docs, 'Service', 'gateway-external')!;
        expect(ext.spec.type).to.equal('NodePort');
        expect(ext.spec.ports[0].nodePort).to.equal(31112);
        expect(ext.spec.selector).to.deep.equal(find(docs, 'Deployment', 'hyperfaas-provider')!.spec.selector.matchLabels);
      });
    }
  });
}
