import { expect } from 'chai';
import { isBackendError, type InstanceEvent } from '../../src/backends/backend.js';
import { readKubernetesConfig, type KubernetesBackendConfig } from '../../src/backends/kubernetes/config.js';
import { KubernetesBackend, createKubernetesBackend } from '../../src/backends/kubernetes/index.js';
import { createKubeApi, kubePermissions } from '../../src/backends/kubernetes/kube-api.js';
import { silentLogger } from '../../src/logger.js';
import type { LogMessage } from '../../src/types/index.js';
import { startFakeKubeApi, type FakeCall, type FakeKube, type FakeKubeOptions } from '../support/fake-kube-api.js';
import { errorKindOf } from '../support/fake-kube-api.js';
import { eventually as pollUntil } from '../support/http.js';

const NS = 'openfaas-fn';

const eventually = <T>(check: () => T | Promise<T>, timeoutMs = 20_000): Promise<T> => pollUntil(check, timeoutMs, 25);

/** allowed tells whether a recorded call is covered by kubePermissions (and so by yaml/base/rbac.yaml). */
function allowed(c: FakeCall): boolean {
  if (c.verb === 'discovery') return true; // /api/v1 is open to every authenticated client
  return kubePermissions.some((p) => p.resource === c.resource && p.verbs.includes(c.verb));
}

describe('kubernetes backend against the fake API server', function () {
  this.timeout(60_000);
  let fake: FakeKube;
  let backend: KubernetesBackend;
  const everyCall: FakeCall[] = [];

  const start = async (opts: FakeKubeOptions = {}, env: Record<string, string> = {}) => {
    fake = await startFakeKubeApi(opts);
    const cfg: KubernetesBackendConfig = { ...readKubernetesConfig(env), connection: { kind: 'inline', text: fake.kubeconfig } };
    backend = (await createKubernetesBackend(cfg, silentLogger())) as KubernetesBackend;
  };
  afterEach(async () => {
    await backend?.close();
    everyCall.push(...(fake?.calls ?? []));
    await fake?.close();
  });

  it('follows a function from deploy through readiness, scale-out and in-place resize to delete, by watch events', async () => {
    await start();
    const events: InstanceEvent[] = [];
    const stop = backend.watchInstances((ev) => events.push(ev));
    await backend.deploy({ service: 'burst', image: 'burst:1', namespace: NS, limits: { cpu: '500m', memory: '128Mi' }, requests: { cpu: '500m' } });

    // The pod exists but is not ready: the watch shows it as an instance that must not get traffic yet.
    await eventually(() => expect(events.filter((e) => e.type === 'added')).to.have.length(1));
    const first = events[0]!.instance;
    expect(first).to.include({ function: 'burst', namespace: NS, ready: false });
    expect(first.url).to.match(/^http:\/\/127\.0\.\d+\.\d+:8080$/);
    expect(first.id).to.equal(fake.pods(NS, 'burst')[0]!.metadata.name);

    await fake.markReady(NS, 'burst');
    await eventually(() => expect(events.some((e) => e.type === 'modified' && e.instance.id === first.id && e.instance.ready)).to.equal(true));
    await eventually(async () => expect((await backend.get(NS, 'burst')).availableReplicas).to.equal(1));

    // Scale out: three pods, each its own instance and URL.
    await backend.scale(NS, 'burst', 3);
    expect((await backend.get(NS, 'burst')).replicas).to.equal(3);
    await eventually(() => expect(backend.instances(NS, 'burst')).to.have.length(3));
    await fake.markReady(NS, 'burst');
    await eventually(() => expect(backend.instances(NS, 'burst').filter((i) => i.ready)).to.have.length(3));
    expect(new Set(backend.instances(NS, 'burst').map((i) => i.url)).size).to.equal(3);

    // Phase 1: resize one pod in place through the resize subresource; the pod's container now has the new limits.
    await backend.resize(first.id, { cpu: 1.5, memoryBytes: 256 * 1024 * 1024 });
    const resized = fake.object('pods', NS, first.id)!;
    expect(resized.spec.containers[0].resources.limits).to.deep.equal({ cpu: '1500m', memory: '256Mi' });
    // Requests were defaulted from the limits (a Guaranteed pod), so they rise with them and the QoS class holds.
    expect(resized.spec.containers[0].resources.requests).to.deep.equal({ cpu: '1500m', memory: '256Mi' });
    expect(resized.status.containerStatuses[0].resources.limits).to.deep.equal({ cpu: '1500m', memory: '256Mi' });
    const patchCall = fake.calls.find((c) => c.resource === 'pods/resize');
    expect(patchCall?.contentType).to.contain('application/strategic-merge-patch+json');
    expect(await errorKindOf(backend.resize('no-such-pod', { cpu: 1 }))).to.equal('NotFound');

    // Scale in, then delete: instances go away as the pods do.
    await backend.scale(NS, 'burst', 1);
    await eventually(() => expect(backend.instances(NS, 'burst')).to.have.length(1));
    await backend.remove(NS, 'burst');
    await eventually(() => expect(backend.instances(NS, 'burst')).to.have.length(0));
    expect(events.filter((e) => e.type === 'deleted').map((e) => e.instance.id)).to.include(first.id);
    expect(await errorKindOf(backend.get(NS, 'burst'))).to.equal('NotFound');
    expect(fake.object('services', NS, 'burst')).to.equal(undefined);
    stop();
  });

  it('skips the in-place resize with Unavailable where discovery shows no pods/resize, without patching', async () => {
    await start({ resize: false });
    await backend.deploy({ service: 'old-cluster', image: 'x:1', namespace: NS });
    await eventually(() => expect(backend.instances(NS, 'old-cluster')).to.have.length(1));
    const id = backend.instances(NS, 'old-cluster')[0]!.id;
    expect(await errorKindOf(backend.resize(id, { cpu: 2 }))).to.equal('Unavailable');
    expect(fake.calls.some((c) => c.verb === 'discovery')).to.equal(true);
    expect(fake.calls.some((c) => c.resource === 'pods/resize')).to.equal(false);
  });

  it('skips the in-place resize with Unavailable when the subresource answers 404, and stops asking', async () => {
    await start({ resize: false }, { HYPERFAAS_INPLACE_RESIZE: 'on' });
    await backend.deploy({ service: 'no-resize', image: 'x:1', namespace: NS, limits: { cpu: '500m', memory: '64Mi' } });
    await eventually(() => expect(backend.instances(NS, 'no-resize')).to.have.length(1));
    const id = backend.instances(NS, 'no-resize')[0]!.id;
    expect(await errorKindOf(backend.resize(id, { cpu: 2 }))).to.equal('Unavailable');
    expect(await errorKindOf(backend.resize(id, { cpu: 3 }))).to.equal('Unavailable');
    expect(fake.calls.filter((c) => c.resource === 'pods/resize')).to.have.length(1);
  });

  it('rolls an update without dropping below the desired ready count', async () => {
    await start();
    await backend.deploy({ service: 'roll', image: 'roll:1', namespace: NS, labels: { 'com.openfaas.scale.min': '2' } });
    await eventually(() => expect(fake.pods(NS, 'roll')).to.have.length(2));
    await fake.markReady(NS, 'roll');
    const before = fake.pods(NS, 'roll').map((p) => p.metadata.name as string);
    await backend.update({ service: 'roll', image: 'roll:2', namespace: NS, labels: { 'com.openfaas.scale.min': '2' } });
    expect((await backend.get(NS, 'roll')).image).to.equal('roll:2');
    // New pods start beside the old ones; the old ones stay until the new ones are ready.
    await eventually(() => expect(fake.pods(NS, 'roll')).to.have.length(4));
    expect(backend.instances(NS, 'roll').filter((i) => i.ready).map((i) => i.id)).to.have.members(before);
    await fake.markReady(NS, 'roll');
    await eventually(() => {
      const ids = backend.instances(NS, 'roll').map((i) => i.id);
      expect(ids).to.have.length(2);
      expect(ids.some((i) => before.includes(i))).to.equal(false);
    });
    expect((await backend.get(NS, 'roll')).replicas).to.equal(2);
  });

  it('streams logs from every pod with the pod as instance, honouring tail, and follows new lines', async () => {
    await start();
    await backend.deploy({ service: 'chatty', image: 'c:1', namespace: NS, labels: { 'com.openfaas.scale.min': '2' } });
    await eventually(() => expect(fake.pods(NS, 'chatty')).to.have.length(2));
    const [a, b] = fake.pods(NS, 'chatty').map((p) => p.metadata.name as string);
    for (const t of ['a1', 'a2', 'a3']) fake.appendLog(NS, a!, t);
    fake.appendLog(NS, b!, 'b1');

    const all: LogMessage[] = [];
    for await (const m of backend.logs({ name: 'chatty', namespace: NS, tail: -1, follow: false }, new AbortController().signal)) all.push(m);
    expect(all.map((m) => `${m.instance}:${m.text}`)).to.have.members([`${a}:a1`, `${a}:a2`, `${a}:a3`, `${b}:b1`]);
    for (const m of all) expect(Number.isNaN(Date.parse(m.timestamp))).to.equal(false);

    const tailed: string[] = [];
    for await (const m of backend.logs({ name: 'chatty', namespace: NS, instance: a!, tail: 2, follow: false }, new AbortController().signal)) {
      tailed.push(m.text);
    }
    expect(tailed).to.deep.equal(['a2', 'a3']);

    const ac = new AbortController();
    const followed: string[] = [];
    const reading = (async () => {
      for await (const m of backend.logs({ name: 'chatty', namespace: NS, instance: b!, tail: -1, follow: true }, ac.signal)) {
        followed.push(m.text);
        if (m.text === 'live') ac.abort();
      }
    })();
    // The existing line comes first; a line appended after the stream opened follows; aborting ends the stream.
    await eventually(() => expect(followed).to.deep.equal(['b1']));
    fake.appendLog(NS, b!, 'live');
    await reading;
    expect(followed).to.deep.equal(['b1', 'live']);

    // Following the whole function: a pod added by a scale-out joins the stream once it is ready.
    const ac2 = new AbortController();
    const seen: LogMessage[] = [];
    const reading2 = (async () => {
      for await (const m of backend.logs({ name: 'chatty', namespace: NS, tail: 1, follow: true }, ac2.signal)) {
        seen.push(m);
        if (m.text === 'from-new-pod') ac2.abort();
      }
    })();
    await eventually(() => expect(seen.map((m) => m.text)).to.have.members(['a3', 'live']));
    await backend.scale(NS, 'chatty', 3);
    await eventually(() => expect(fake.pods(NS, 'chatty')).to.have.length(3));
    const c = fake.pods(NS, 'chatty').map((p) => p.metadata.name as string).find((n) => n !== a && n !== b)!;
    fake.appendLog(NS, c, 'from-new-pod');
    await fake.markReady(NS, 'chatty');
    await reading2;
    expect(seen[seen.length - 1]).to.include({ instance: c, text: 'from-new-pod' });
  });

  it('keeps following pods after the API server ends the watch stream', async () => {
    await start();
    await backend.deploy({ service: 'resume', image: 'r:1', namespace: NS });
    await eventually(() => expect(backend.instances(NS, 'resume')).to.have.length(1));
    fake.dropWatches();
    await fake.markReady(NS, 'resume');
    await eventually(() => expect(backend.instances(NS, 'resume')[0]?.ready).to.equal(true));
    await eventually(async () => expect((await backend.get(NS, 'resume')).availableReplicas).to.equal(1));
  });

  it('starts while the pod list is forbidden and catches up once it is allowed', async () => {
    fake = await startFakeKubeApi();
    fake.forbid('pods');
    const cfg: KubernetesBackendConfig = { ...readKubernetesConfig({}), connection: { kind: 'inline', text: fake.kubeconfig } };
    backend = (await createKubernetesBackend(cfg, silentLogger(), { syncTimeoutMs: 300 })) as KubernetesBackend;
    await backend.deploy({ service: 'late', image: 'x:1', namespace: NS });
    await fake.markReady(NS, 'late');
    expect(backend.instances(NS, 'late')).to.have.length(0);
    fake.allow('pods');
    await eventually(() => expect(backend.instances(NS, 'late').filter((i) => i.ready)).to.have.length(1));
  });

  it('offers the configured function namespaces, the default first, without asking the cluster', async () => {
    await start({}, { HYPERFAAS_NAMESPACES: 'team-b,team-a' });
    fake.addNamespace('labelled', { openfaas: '1' });
    expect(await backend.namespaces()).to.deep.equal([NS, 'team-b', 'team-a']);
  });

  it("refuses a deployment into a namespace that does not exist as Invalid, with the API server's message", async () => {
    await start();
    let err: unknown;
    await backend.deploy({ service: 'lost', image: 'x:1', namespace: 'nowhere' }).catch((e: unknown) => (err = e));
    expect(isBackendError(err, 'Invalid')).to.equal(true);
    expect((err as Error).message).to.equal('namespaces "nowhere" not found');
  });

  it("keeps the API server's message on a Conflict", async () => {
    await start();
    await backend.deploy({ service: 'twice', image: 'x:1', namespace: NS });
    let err: unknown;
    await backend.deploy({ service: 'twice', image: 'x:1', namespace: NS }).catch((e: unknown) => (err = e));
    expect(isBackendError(err, 'Conflict')).to.equal(true);
    expect((err as Error).message).to.equal('deployments.apps "twice" already exists');
  });

  it('stores secrets as labelled Kubernetes Secrets keyed by their own name', async () => {
    await start();
    await backend.createSecret(NS, 'db-pass', Buffer.from('s3cret'));
    const s = fake.object('secrets', NS, 'db-pass')!;
    expect(s.metadata.labels).to.deep.equal({ 'app.kubernetes.io/managed-by': 'openfaas' });
    expect(Buffer.from(s.data['db-pass'], 'base64').toString()).to.equal('s3cret');
    await backend.updateSecret(NS, 'db-pass', Buffer.from('n3w'));
    expect(Buffer.from(fake.object('secrets', NS, 'db-pass')!.data['db-pass'], 'base64').toString()).to.equal('n3w');
  });

  it('maps an unreachable API server to Unavailable', async () => {
    const gone = await startFakeKubeApi();
    const text = gone.kubeconfig;
    await gone.close();
    const api = createKubeApi({ kind: 'inline', text });
    expect(await errorKindOf(api.readDeployment(NS, 'x'))).to.equal('Unavailable');
    expect(await errorKindOf(api.listSecrets(NS, ''))).to.equal('Unavailable');
  });

  it('made only calls that the RBAC of yaml/base grants', () => {
    // Runs after the cases above (mocha keeps order within a describe) and checks every call they made.
    expect(everyCall.length).to.be.greaterThan(20);
    const outside = everyCall.filter((c) => !allowed(c));
    expect(outside, JSON.stringify(outside.slice(0, 5))).to.deep.equal([]);
  });
});
