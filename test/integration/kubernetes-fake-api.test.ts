/**
 * The fake API server's cluster behaviours, each checked through @kubernetes/client-node 1.4 over HTTP, so the
 * Kubernetes backend's tests stand on a fake that answers the way a real API server and kubelet would.
 */
import { expect } from 'chai';
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  Watch,
  makeInformer,
  setHeaderOptions,
  type KubernetesObject,
  type V1Pod,
} from '@kubernetes/client-node';
import { startFakeKubeApi, type FakeKube, type FakeKubeOptions } from '../support/fake-kube-api.js';
import { eventually as pollUntil } from '../support/http.js';

const NS = 'openfaas-fn';
const eventually = <T>(check: () => T | Promise<T>): Promise<T> => pollUntil(check, 10_000, 10);
const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** apiError returns the HTTP code and Status body a client-node call failed with. */
async function apiError(p: Promise<unknown>): Promise<{ code: number; body: Obj }> {
  try {
    await p;
  } catch (e) {
    const err = e as { code?: number; body?: unknown };
    return { code: err.code ?? 0, body: typeof err.body === 'string' ? (JSON.parse(err.body) as Obj) : (err.body as Obj) };
  }
  throw new Error('the call succeeded');
}

const deployment = (name: string, resources?: Obj, replicas = 1): Obj => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, labels: { faas_function: name } },
  spec: {
    replicas,
    selector: { matchLabels: { faas_function: name } },
    template: {
      metadata: { labels: { faas_function: name } },
      spec: { containers: [{ name, image: 'x:1', ports: [{ name: 'http', containerPort: 8080 }], ...(resources ? { resources } : {}) }] },
    },
  },
});

describe('fake API server, as client-node sees it', function () {
  this.timeout(30_000);
  let fake: FakeKube;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  const start = async (opts: FakeKubeOptions = {}) => {
    fake = await startFakeKubeApi(opts);
    kc = new KubeConfig();
    kc.loadFromString(fake.kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
  };
  afterEach(async () => {
    await fake?.close();
  });
  const podsOf = async (fn: string, n: number) => eventually(() => {
    const ps = fake.pods(NS, fn);
    expect(ps).to.have.length(n);
    return ps;
  });

  it('gives every pod its own loopback IP and keeps the container port', async () => {
    await start();
    await apps.createNamespacedDeployment({ namespace: NS, body: deployment('ips', undefined, 3) });
    const pods = (await core.listNamespacedPod({ namespace: NS, labelSelector: 'faas_function=ips' })).items;
    const ips = pods.map((p) => p.status?.podIP ?? '');
    expect(new Set(ips).size).to.equal(3);
    for (const ip of ips) expect(ip).to.match(/^127\.0\.\d+\.\d+$/).and.not.equal('127.0.0.1');
    for (const p of pods) expect(p.spec?.containers[0]?.ports?.[0]?.containerPort).to.equal(8080);
  });

  it('answers a watch from a compacted resourceVersion with an ERROR 410 event, and the informer lists again', async () => {
    await start();
    await apps.createNamespacedDeployment({ namespace: NS, body: deployment('old') });
    const list = await core.listNamespacedPod({ namespace: NS });
    const staleRv = list.metadata!.resourceVersion!;
    fake.setPodReady(NS, fake.pods(NS, 'old')[0]!.metadata.name, true);
    fake.compact();
    const events: Obj[] = [];
    let ended = false;
    await new Watch(kc).watch(`/api/v1/namespaces/${NS}/pods`, { resourceVersion: staleRv }, (type, obj) => events.push({ type, obj }), () => (ended = true));
    await eventually(() => expect(ended).to.equal(true));
    expect(events).to.have.length(1);
    expect(events[0]!.type).to.equal('ERROR');
    expect(events[0]!.obj).to.include({ kind: 'Status', code: 410, reason: 'Expired' });

    // client-node's informer drops its resourceVersion on 410 and lists again.
    let lists = 0;
    const informer = makeInformer<KubernetesObject>(kc, `/api/v1/namespaces/${NS}/pods`, async () => {
      lists++;
      return lists === 1 ? { ...list, items: [] } : core.listNamespacedPod({ namespace: NS });
    });
    const seen = new Set<string>();
    informer.on('add', (o) => seen.add(o.metadata!.name!));
    await informer.start();
    await eventually(() => expect(lists).to.equal(2));
    await eventually(() => expect(seen.size).to.equal(1));
    await informer.stop();
  });

  it('sends bookmarks only to watches that ask for them, and closes a watch after timeoutSeconds', async () => {
    await start();
    const marks: Obj[] = [];
    const plain: string[] = [];
    const c1 = await new Watch(kc).watch(`/api/v1/namespaces/${NS}/pods`, { allowWatchBookmarks: true, resourceVersion: '100' }, (t, o) => marks.push({ t, o }), () => {});
    const c2 = await new Watch(kc).watch(`/api/v1/namespaces/${NS}/pods`, { resourceVersion: '100' }, (t) => plain.push(t), () => {});
    await eventually(() => expect(fake.openWatches('pods')).to.equal(2));
    await apps.createNamespacedDeployment({ namespace: NS, body: deployment('bm') });
    fake.bookmark();
    await eventually(() => expect(marks.map((m) => m.t)).to.include('BOOKMARK'));
    const mark = marks.find((m) => m.t === 'BOOKMARK')!.o;
    expect(Number(mark.metadata.resourceVersion)).to.be.greaterThan(100);
    await eventually(() => expect(plain).to.include('ADDED'));
    expect(plain).not.to.include('BOOKMARK');
    c1.abort();
    c2.abort();

    let closed = false;
    await new Watch(kc).watch(`/api/v1/namespaces/${NS}/pods`, { timeoutSeconds: 1 }, () => {}, () => (closed = true));
    await eventually(() => expect(closed).to.equal(true));
    expect(fake.calls.filter((c) => c.verb === 'watch').map((c) => c.query.timeoutSeconds)).to.include('1');
  });

  it('can leave watch connections open and silent, while new watches work', async () => {
    await start();
    const before: string[] = [];
    let ended = false;
    await new Watch(kc).watch(`/api/v1/namespaces/${NS}/pods`, { resourceVersion: '100' }, (t) => before.push(t), () => (ended = true));
    await eventually(() => expect(fake.openWatches('pods')).to.equal(1));
    fake.silenceWatches();
    expect(fake.openWatches('pods')).to.equal(0);
    await apps.createNamespacedDeployment({ namespace: NS, body: deployment('quiet') });
    const after: string[] = [];
    const c = await new Watch(kc).watch(`/api/v1/namespaces/${NS}/pods`, { resourceVersion: '100' }, (t) => after.push(t), () => {});
    await eventually(() => expect(after).to.include('ADDED'));
    expect(before).to.deep.equal([]);
    expect(ended).to.equal(false);
    c.abort();
  });

  it('keeps a deleted pod Terminating for its grace period, not ready, then removes it', async () => {
    await start({ terminationMs: 'manual' });
    await apps.createNamespacedDeployment({ namespace: NS, body: deployment('grace') });
    const [pod] = await podsOf('grace', 1);
    fake.setPodReady(NS, pod!.metadata.name, true);
    await core.deleteNamespacedPod({ namespace: NS, name: pod!.metadata.name });
    const t = await core.readNamespacedPod({ namespace: NS, name: pod!.metadata.name });
    expect(t.metadata?.deletionTimestamp).to.not.equal(undefined);
    expect(t.metadata?.deletionGracePeriodSeconds).to.equal(30);
    expect(t.status?.conditions?.find((c) => c.type === 'Ready')?.status).to.equal('False');
    // The ReplicaSet already replaces it.
    expect(fake.pods(NS, 'grace').filter((p) => !p.metadata.deletionTimestamp)).to.have.length(1);
    fake.finishTerminating();
    expect((await apiError(core.readNamespacedPod({ namespace: NS, name: pod!.metadata.name }))).code).to.equal(404);
  });

  it("leaves a deleted Deployment's pods running until the garbage collector runs", async () => {
    await start({ gcMs: 'manual', terminationMs: 'manual' });
    await apps.createNamespacedDeployment({ namespace: NS, body: deployment('gc', undefined, 2) });
    await podsOf('gc', 2);
    await apps.deleteNamespacedDeployment({ namespace: NS, name: 'gc', propagationPolicy: 'Background' });
    expect(fake.pods(NS, 'gc').filter((p) => !p.metadata.deletionTimestamp)).to.have.length(2);
    fake.collectGarbage();
    expect(fake.pods(NS, 'gc').every((p) => p.metadata.deletionTimestamp)).to.equal(true);
    fake.finishTerminating();
    expect(fake.pods(NS, 'gc')).to.have.length(0);
  });

  it('refuses a PUT with the resourceVersion read before another writer changed the object (409)', async () => {
    await start();
    await apps.createNamespacedDeployment({ namespace: NS, body: deployment('race') });
    fake.onNextRead('deployments', NS, 'race', () =>
      fake.modify('deployments', NS, 'race', (d) => (d.metadata.annotations = { 'deployment.kubernetes.io/revision': '2' })),
    );
    const read = await apps.readNamespacedDeployment({ namespace: NS, name: 'race' });
    const err = await apiError(apps.replaceNamespacedDeployment({ namespace: NS, name: 'race', body: read }));
    expect(err.code).to.equal(409);
    expect(err.body.reason).to.equal('Conflict');
    const again = await apps.readNamespacedDeployment({ namespace: NS, name: 'race' });
    await apps.replaceNamespacedDeployment({ namespace: NS, name: 'race', body: again });
  });

  it('defaults requests from limits, computes the QoS class, and refuses resizes that would change it', async () => {
    await start();
    await apps.createNamespacedDeployment({ namespace: NS, body: deployment('be') });
    await apps.createNamespacedDeployment({ namespace: NS, body: deployment('gu', { limits: { cpu: '500m', memory: '128Mi' } }) });
    await apps.createNamespacedDeployment({ namespace: NS, body: deployment('bu', { requests: { cpu: '500m' }, limits: { cpu: '1' } }) });
    const [be] = await podsOf('be', 1);
    const [gu] = await podsOf('gu', 1);
    const [bu] = await podsOf('bu', 1);
    expect(be!.status.qosClass).to.equal('BestEffort');
    expect(gu!.status.qosClass).to.equal('Guaranteed');
    expect(gu!.spec.containers[0].resources.requests).to.deep.equal({ cpu: '500m', memory: '128Mi' });
    expect(bu!.status.qosClass).to.equal('Burstable');
    const resize = (pod: Obj, resources: Obj) =>
      core.patchNamespacedPodResize({ namespace: NS, name: pod.metadata.name, body: { spec: { containers: [{ name: pod.spec.containers[0].name, resources }] } } }, strategic);

    let err = await apiError(resize(be!, { limits: { cpu: '1' } }));
    expect(err.code).to.equal(422);
    expect(err.body.message).to.contain('QOS Class may not change');
    err = await apiError(resize(gu!, { limits: { cpu: '1' } }));
    expect(err.code, 'Guaranteed with unequal cpu').to.equal(422);
    err = await apiError(resize(bu!, { limits: { cpu: '250m' } }));
    expect(err.code).to.equal(422);
    expect(err.body.message).to.contain('must be less than or equal to cpu limit');
    err = await apiError(resize(bu!, { limits: { cpu: null } }));
    expect(err.code).to.equal(422);
    expect(err.body.message).to.contain('cannot be removed');

    const ok = (await resize(gu!, { limits: { cpu: '1' }, requests: { cpu: '1' } })) as V1Pod;
    expect(ok.spec?.containers[0]?.resources?.limits).to.deep.include({ cpu: '1' });
    expect(ok.status?.qosClass).to.equal('Guaranteed');
  });

  it('lets the kubelet apply a resize that fits the node, and report Deferred or Infeasible in PodResizePending', async () => {
    await start({ node: { cpu: '4', memory: '8Gi' }, kubelet: 'manual' });
    await apps.createNamespacedDeployment({ namespace: NS, body: deployment('fit', { limits: { cpu: '1', memory: '128Mi' } }, 2) });
    const [a, b] = await podsOf('fit', 2);
    const resize = (pod: Obj, cpu: string) =>
      core.patchNamespacedPodResize(
        { namespace: NS, name: pod.metadata.name, body: { spec: { containers: [{ name: 'fit', resources: { limits: { cpu }, requests: { cpu } } }] } } },
        strategic,
      );
    const conditionOf = (pod: Obj) => fake.object('pods', NS, pod.metadata.name)!.status.conditions.find((c: Obj) => c.type === 'PodResizePending');
    const allocated = (pod: Obj) => fake.object('pods', NS, pod.metadata.name)!.status.containerStatuses[0].resources.requests.cpu;

    // Accepted by the API server, not yet acted on: the status still shows the old allocation.
    await resize(a!, '2');
    expect(allocated(a!)).to.equal('1');
    fake.kubeletSync();
    expect(allocated(a!)).to.equal('2');
    expect(conditionOf(a!)).to.equal(undefined);

    await resize(b!, '3'); // 2 + 3 > 4 cores, but 3 alone fits: Deferred
    fake.kubeletSync();
    expect(conditionOf(b!)).to.include({ status: 'True', reason: 'Deferred' });
    expect(allocated(b!)).to.equal('1');

    await resize(a!, '8'); // more than the node has: Infeasible
    fake.kubeletSync();
    expect(conditionOf(a!)).to.include({ status: 'True', reason: 'Infeasible' });

    // Room appears: the deferred resize is applied.
    fake.setNode({ cpu: '16', memory: '8Gi' });
    expect(allocated(b!)).to.equal('3');
    expect(conditionOf(b!)).to.equal(undefined);
  });

  it('restarts a container: a restart count, not ready, and the new container starts with an empty log', async () => {
    await start();
    await apps.createNamespacedDeployment({ namespace: NS, body: deployment('rs') });
    const [pod] = await podsOf('rs', 1);
    const name = pod!.metadata.name as string;
    fake.appendLog(NS, name, 'first');
    fake.restartContainer(NS, name);
    const p = fake.object('pods', NS, name)!;
    expect(p.status.containerStatuses[0].restartCount).to.equal(1);
    expect(p.status.conditions.find((c: Obj) => c.type === 'Ready').status).to.equal('False');
    expect(await core.readNamespacedPodLog({ namespace: NS, name })).to.equal('');
  });
});
