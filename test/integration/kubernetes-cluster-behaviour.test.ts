/**
 * The Kubernetes backend against what a real cluster does and a naive fake would hide: objects that change between
 * our read and our write, pods that are deleted while we act on them, Terminating pods, resizes that the kubelet
 * defers, watch connections that go silent, container restarts under a followed log. Each case drives the backend
 * through client-node over HTTP against the fake API server.
 */
import { expect } from 'chai';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { isBackendError } from '../../src/backends/backend.js';
import { readKubernetesConfig, type KubernetesBackendConfig } from '../../src/backends/kubernetes/config.js';
import { KubernetesBackend, createKubernetesBackend } from '../../src/backends/kubernetes/index.js';
import { createKubeApi } from '../../src/backends/kubernetes/kube-api.js';
import { readConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { startFakeKubeApi, type FakeKube, type FakeKubeOptions } from '../support/fake-kube-api.js';
import { errorKindOf } from '../support/fake-kube-api.js';
import { eventually as pollUntil } from '../support/http.js';

const NS = 'openfaas-fn';
const eventually = <T>(check: () => T | Promise<T>, timeoutMs = 10_000): Promise<T> => pollUntil(check, timeoutMs, 20);

describe('kubernetes backend against cluster behaviour', function () {
  this.timeout(30_000);
  let fake: FakeKube;
  let backend: KubernetesBackend;

  const start = async (opts: FakeKubeOptions = {}, env: Record<string, string> = {}, apiOpts: Record<string, number> = {}) => {
    fake = await startFakeKubeApi(opts);
    const connection = { kind: 'inline' as const, text: fake.kubeconfig };
    const cfg: KubernetesBackendConfig = { ...readKubernetesConfig(env), connection };
    backend = (await createKubernetesBackend(cfg, silentLogger(), { api: createKubeApi(connection, apiOpts) })) as KubernetesBackend;
  };
  afterEach(async () => {
    await backend?.close();
    await fake?.close();
  });
  const readyInstances = async (fn: string, n: number) => {
    await fake.markReady(NS, fn);
    return eventually(() => {
      const ready = backend.instances(NS, fn).filter((i) => i.ready);
      expect(ready).to.have.length(n);
      return ready;
    });
  };

  // item 3
  it('does not try to add limits to a BestEffort pod, and keeps resizing other pods', async () => {
    await start();
    await backend.deploy({ service: 'nolimits', image: 'x:1', namespace: NS });
    await backend.deploy({ service: 'limited', image: 'x:1', namespace: NS, limits: { cpu: '500m', memory: '128Mi' } });
    const [be] = await readyInstances('nolimits', 1);
    const [gu] = await readyInstances('limited', 1);
    expect(await errorKindOf(backend.resize(be!.id, { cpu: 2 }))).to.equal('Unavailable');
    expect(fake.calls.filter((c) => c.resource === 'pods/resize')).to.have.length(0);
    expect(await errorKindOf(backend.resize(gu!.id, { cpu: 1 }))).to.equal('ok');
    expect(fake.object('pods', NS, gu!.id)!.spec.containers[0].resources.limits.cpu).to.equal('1000m');
  });

  // item 3
  it('never resizes a Burstable limit below its request, and never makes the pod Guaranteed', async () => {
    await start();
    await backend.deploy({
      service: 'burst',
      image: 'x:1',
      namespace: NS,
      requests: { cpu: '500m', memory: '64Mi' },
      limits: { cpu: '1', memory: '64Mi' },
    });
    const [i] = await readyInstances('burst', 1);
    expect(await errorKindOf(backend.resize(i!.id, { cpu: 0.25 }))).to.equal('ok');
    const pod = fake.object('pods', NS, i!.id)!;
    expect(pod.status.qosClass).to.equal('Burstable');
    const c = pod.spec.containers[0].resources;
    expect(c.requests.cpu).to.equal('500m');
    expect(Number.parseInt(c.limits.cpu)).to.be.greaterThan(500);
  });

  // item 4
  it('updates a function whose Deployment another writer changed after our read, and keeps fields others set', async () => {
    await start();
    await backend.deploy({ service: 'busy', image: 'busy:1', namespace: NS });
    await readyInstances('busy', 1);
    const at = '2026-01-02T03:04:05Z';
    fake.modify('deployments', NS, 'busy', (d) => (d.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt'] = at));
    // The Deployment controller writes status right after our read.
    fake.onNextRead('deployments', NS, 'busy', () =>
      fake.modify('deployments', NS, 'busy', (d) => (d.status = { ...d.status, observedGeneration: d.metadata.generation + 0, conditions: [{ type: 'Progressing', status: 'True' }] })),
    );
    expect(await errorKindOf(backend.update({ service: 'busy', image: 'busy:2', namespace: NS, annotations: { note: 'v2' } }))).to.equal('ok');
    const d = fake.object('deployments', NS, 'busy')!;
    expect(d.spec.template.spec.containers[0].image).to.equal('busy:2');
    expect(d.spec.template.metadata.annotations).to.include({ 'kubectl.kubernetes.io/restartedAt': at, note: 'v2' });
  });

  // item 5
  it('answers NotFound for a pod deleted before the watch said so, and keeps resize on for the others', async () => {
    await start({}, { HYPERFAAS_INPLACE_RESIZE: 'on' });
    await backend.deploy({ service: 'gone', image: 'x:1', namespace: NS, labels: { 'com.openfaas.scale.min': '2' }, limits: { cpu: '500m', memory: '64Mi' } });
    const [a, b] = await readyInstances('gone', 2);
    fake.silenceWatches();
    fake.deletePod(NS, a!.id, 0);
    expect(await errorKindOf(backend.resize(a!.id, { cpu: 1 }))).to.equal('NotFound');
    // The watch connections come back (the kubelet's answer to the next resize arrives through them).
    fake.dropWatches();
    expect(await errorKindOf(backend.resize(b!.id, { cpu: 1 }))).to.equal('ok');
  });

  // item 6
  it('does not let a late resize answer mark a Terminating pod ready again', async () => {
    await start({ terminationMs: 'manual' }, { HYPERFAAS_INPLACE_RESIZE: 'on' });
    await backend.deploy({ service: 'late', image: 'x:1', namespace: NS, limits: { cpu: '500m', memory: '64Mi' } });
    const [i] = await readyInstances('late', 1);
    const held = fake.hold('pods/resize');
    const resizing = errorKindOf(backend.resize(i!.id, { cpu: 1 }));
    await eventually(() => expect(fake.object('pods', NS, i!.id)!.spec.containers[0].resources.limits.cpu).to.equal('1000m'));
    fake.deletePod(NS, i!.id);
    await eventually(() => expect(backend.instances(NS, 'late').find((x) => x.id === i!.id)?.ready).to.equal(false));
    held.release();
    await resizing;
    expect(backend.instances(NS, 'late').find((x) => x.id === i!.id)?.ready ?? false).to.equal(false);
  });

  // item 7
  it('reports a resize only once the kubelet applied it, and a deferred one as Unavailable, undone', async () => {
    await start({ node: { cpu: '2', memory: '4Gi' } }, { HYPERFAAS_INPLACE_RESIZE: 'on' });
    await backend.deploy({ service: 'tight', image: 'x:1', namespace: NS, labels: { 'com.openfaas.scale.min': '2' }, limits: { cpu: '500m', memory: '64Mi' } });
    const [a, b] = await readyInstances('tight', 2);
    expect(await errorKindOf(backend.resize(a!.id, { cpu: 1 }))).to.equal('ok');
    expect(fake.object('pods', NS, a!.id)!.status.containerStatuses[0].resources.limits.cpu).to.equal('1000m');
    // 1 + 1.5 cores > 2: the kubelet defers it; the pod keeps its 500m and is not left with a pending resize.
    expect(await errorKindOf(backend.resize(b!.id, { cpu: 1.5 }))).to.equal('Unavailable');
    const pod = fake.object('pods', NS, b!.id)!;
    expect(pod.status.containerStatuses[0].resources.limits.cpu).to.equal('500m');
    expect(pod.spec.containers[0].resources.limits.cpu).to.equal('500m');
  });

  // item 8
  it('notices a watch connection that went silent and watches again', async () => {
    await start({}, {}, { watchIdleMs: 300 });
    await backend.deploy({ service: 'frozen', image: 'x:1', namespace: NS });
    await eventually(() => expect(backend.instances(NS, 'frozen')).to.have.length(1));
    fake.silenceWatches();
    await fake.markReady(NS, 'frozen');
    await eventually(() => expect(backend.instances(NS, 'frozen')[0]?.ready).to.equal(true));
    const watches = fake.calls.filter((c) => c.verb === 'watch');
    for (const w of watches) expect(w.query).to.include({ allowWatchBookmarks: 'true' });
    for (const w of watches) expect(Number(w.query.timeoutSeconds)).to.be.greaterThan(0);
  });

  // item 9
  it('turns a registry secret into imagePullSecrets instead of a mounted file', async () => {
    await start();
    const kc = new KubeConfig();
    kc.loadFromString(fake.kubeconfig);
    await kc.makeApiClient(CoreV1Api).createNamespacedSecret({
      namespace: NS,
      body: {
        metadata: { name: 'regcred' },
        type: 'kubernetes.io/dockerconfigjson',
        data: { '.dockerconfigjson': Buffer.from('{"auths":{}}').toString('base64') },
      },
    });
    await backend.createSecret(NS, 'db', Buffer.from('pw'));
    await backend.deploy({ service: 'private', image: 'registry.example/p:1', namespace: NS, secrets: ['regcred', 'db'] });
    const spec = fake.object('deployments', NS, 'private')!.spec.template.spec;
    expect(spec.imagePullSecrets).to.deep.equal([{ name: 'regcred' }]);
    const projected = spec.volumes.flatMap((v: { projected?: { sources: { secret: { name: string } }[] } }) => v.projected?.sources ?? []);
    expect(projected.map((s: { secret: { name: string } }) => s.secret.name)).to.deep.equal(['db']);
    expect((await backend.get(NS, 'private')).secrets).to.have.members(['regcred', 'db']);
  });

  // item 10
  it('follows the log of a restarted container', async () => {
    await start();
    await backend.deploy({ service: 'crashy', image: 'x:1', namespace: NS });
    const [i] = await readyInstances('crashy', 1);
    fake.appendLog(NS, i!.id, 'before');
    const ac = new AbortController();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const m of backend.logs({ name: 'crashy', namespace: NS, tail: -1, follow: true }, ac.signal)) {
        seen.push(m.text);
        if (m.text === 'after') ac.abort();
      }
    })();
    await eventually(() => expect(seen).to.deep.equal(['before']));
    fake.restartContainer(NS, i!.id);
    await fake.markReady(NS, 'crashy');
    await eventually(() => expect(backend.instances(NS, 'crashy')[0]?.ready).to.equal(true));
    // The new container writes once its stream may have been reopened; keep writing until it arrives.
    await eventually(() => {
      fake.appendLog(NS, i!.id, 'after');
      expect(seen).to.include('after');
    });
    await reading;
    expect(seen[0]).to.equal('before');
  });

  // item 10
  it('ends a log request whose transfer broke off instead of hanging', async function () {
    this.timeout(15_000);
    await start();
    await backend.deploy({ service: 'cut', image: 'x:1', namespace: NS });
    const [i] = await readyInstances('cut', 1);
    for (const t of ['one', 'two', 'three']) fake.appendLog(NS, i!.id, t);
    fake.breakNextLog(NS, i!.id);
    const seen: string[] = [];
    let failure: unknown;
    try {
      for await (const m of backend.logs({ name: 'cut', namespace: NS, tail: -1, follow: false }, new AbortController().signal)) seen.push(m.text);
    } catch (e) {
      failure = e;
    }
    expect(seen).to.deep.equal(['one']);
    expect(isBackendError(failure, 'Unavailable'), String(failure)).to.equal(true);
  });

  // item 12
  it('offers exactly the namespaces the API accepts, whatever the cluster labels', async () => {
    const env = { HYPERFAAS_NAMESPACES: 'team-a' };
    await start({ namespaces: { 'openfaas-fn': { openfaas: '1' }, 'team-a': {}, 'team-b': { openfaas: '1' } } }, env);
    expect(await backend.namespaces()).to.deep.equal([...readConfig(env).namespaces]);
    expect(fake.calls.some((c) => c.resource === 'namespaces')).to.equal(false);
    // Functions in a configured namespace are seen by the (namespaced) watches.
    await backend.deploy({ service: 'there', image: 'x:1', namespace: 'team-a' });
    await eventually(() => expect(backend.instances('team-a', 'there')).to.have.length(1));
    for (const w of fake.calls.filter((c) => c.verb === 'watch' || c.verb === 'list')) expect(w.namespace).to.be.oneOf(['openfaas-fn', 'team-a']);
  });

  // item 13
  it('stops routing to a removed function at once, before the garbage collector deletes its pods', async () => {
    await start({ gcMs: 'manual' });
    await backend.deploy({ service: 'bye', image: 'x:1', namespace: NS, labels: { 'com.openfaas.scale.min': '2' } });
    await readyInstances('bye', 2);
    await backend.remove(NS, 'bye');
    expect(backend.instances(NS, 'bye').filter((i) => i.ready)).to.deep.equal([]);
    // Later pod events (still Running, still Ready) must not bring them back.
    fake.bookmark();
    for (const p of fake.pods(NS, 'bye')) fake.modify('pods', NS, p.metadata.name, (o) => (o.metadata.annotations = { touched: 'yes' }));
    await backend.deploy({ service: 'marker', image: 'x:1', namespace: NS });
    await eventually(() => expect(backend.instances(NS, 'marker')).to.have.length(1));
    expect(backend.instances(NS, 'bye').filter((i) => i.ready)).to.deep.equal([]);
    fake.collectGarbage();
  });
});
