/**
 * The commands the manifests ship, run here as the kubelet would run them: `kubectl kustomize` renders yaml/, and in
 * a private network and mount namespace (unshare, an overlay of / with the manifests' volumes, config files and
 * secrets placed at their mount paths, /etc/hosts naming the Services) this test starts
 *  - nats-server with the StatefulSet's exact args and the ConfigMap's config file, probed on its readiness path;
 *  - the provider's entrypoint with the Deployment's exact env, as its numeric user, with the in-cluster service
 *    account pointing at the fake API server (HTTPS), probed, asked to deploy a function, then stopped;
 *  - the watchdog's entrypoint with the env and user of the function Deployment the provider created, probed.
 * Images cannot be pulled here, so the binaries are this checkout's (dist/) and Debian's nats-server.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { kubePermissions } from '../../src/backends/kubernetes/kube-api.js';
import { readFunctionNamespaces } from '../../src/config.js';
import { repoRoot } from '../../src/paths.js';
import type { FakeCall } from '../support/fake-kube-api.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const run = promisify(execFile);
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

async function render(overlay: string): Promise<Obj[]> {
  const { stdout } = await run('kubectl', ['kustomize', join(repoRoot, 'yaml', overlay)], { maxBuffer: 16 << 20 });
  return parseAllDocuments(stdout).map((d) => d.toJSON() as Obj);
}

describe('the shipped manifests, run here', function () {
  this.timeout(180_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hf-manifests-'));
  });
  after(async () => {
    if (process.env.HF_KEEP) return;
    await rm(dir, { recursive: true, force: true });
  });

  it("starts NATS, the provider and a function's watchdog with the manifests' commands, config, env and users", async () => {
    const docs = await render('standalone');
    const find = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata?.name === name)!;
    const files = join(dir, 'files');
    /** place writes a file where a container expects it, under the overlay's root. */
    const place = async (path: string, content: string) => {
      await mkdir(dirname(join(files, path)), { recursive: true });
      await writeFile(join(files, path), content);
    };
    /** mountVolumes puts each configMap and secret volume's files at its mount path, and creates the other mounts. */
    const mountVolumes = async (pod: Obj, c: Obj, secrets: Record<string, Record<string, string>>) => {
      for (const m of c.volumeMounts ?? []) {
        const v = (pod.volumes ?? []).find((x: Obj) => x.name === m.name);
        const data = v?.configMap ? find('ConfigMap', v.configMap.name).data : v?.secret ? secrets[v.secret.secretName] : undefined;
        if (data) for (const [k, text] of Object.entries(data)) await place(join(m.mountPath, k), String(text));
        else {
          // emptyDir and volume claims start empty and writable, whoever the container runs as
          await mkdir(join(files, m.mountPath), { recursive: true });
          await chmod(join(files, m.mountPath), 0o1777);
        }
      }
    };
    const envLines = (c: Obj) => (c.env ?? []).map((e: Obj) => `${e.name}=${e.value ?? ''}`);

    // NATS: the StatefulSet's container.
    const nats = find('StatefulSet', 'nats').spec.template.spec;
    const natsC = nats.containers[0];
    await mountVolumes(nats, natsC, {});
    const natsProbe = natsC.readinessProbe.httpGet;
    const natsProbePort = natsC.ports.find((p: Obj) => p.name === natsProbe.port).containerPort;

    // The provider: its Deployment's container, the basic-auth secret it mounts, the service account the kubelet mounts.
    const prov = find('Deployment', 'hyperfaas-provider').spec.template.spec;
    const provC = prov.containers[0];
    await mountVolumes(prov, provC, { 'basic-auth': { 'basic-auth-user': 'admin', 'basic-auth-password': 'manifest-test' } });
    const provPort = provC.ports.find((p: Obj) => p.name === provC.readinessProbe.httpGet.port).containerPort;
    const provEnv: Record<string, string> = Object.fromEntries((provC.env ?? []).map((e: Obj) => [e.name, e.value ?? '']));
    const natsHost = new URL(provEnv.NATS_URL!).hostname;

    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=kubernetes', '-addext', 'subjectAltName=IP:127.0.0.1']);
    const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
    await place(`${sa}/ca.crt`, await readFile(join(dir, 'cert.pem'), 'utf8'));
    await place(`${sa}/namespace`, 'openfaas');
    await place('/etc/hosts', `127.0.0.1 localhost ${natsHost} ${natsHost.split('.')[0]}\n`);

    // podenv prints the env (KEY=VALUE lines, the downward API resolved) and the user of the function pod the
    // provider created, from its Deployment as the fake API server holds it.
    await writeFile(
      join(dir, 'podenv.mjs'),
      `const d = JSON.parse(await (await import('node:fs/promises')).readFile(process.argv[2], 'utf8'));
const pod = d.spec.template.spec; const c = pod.containers[0];
const out = c.env.map((e) => e.name + '=' + (e.value ?? (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name' ? d.metadata.name + '-abcde-12345' : '')));
out.push('HF_UID=' + (c.securityContext?.runAsUser ?? pod.securityContext?.runAsUser ?? ''));
out.push('HF_PROBE=' + c.readinessProbe.httpGet.path + ' ' + c.readinessProbe.httpGet.port);
process.stdout.write(out.join('\\n') + '\\n');
`,
    );

    const inner = `#!/bin/bash
set -u
cd ${q(repoRoot)}
R=${q(dir)}
ip link set lo up
result() { echo "$1=$2" >> "$R/results"; echo "$(date +%s.%N) $1" >> "$R/times"; }
probe() { for i in $(seq 1 150); do code=$(curl -s -o /dev/null -w '%{http_code}' "$1"); [ "$code" = 200 ] && { echo 200; return; }; sleep 0.2; done; echo "\${code:-none}"; }
node dist/test/support/fake-kube-main.js "$R/key.pem" "$R/cert.pem" "$R/fake.json" > "$R/fake.log" 2>&1 &
FAKE=$!
for i in $(seq 1 100); do [ -s "$R/fake.json" ] && break; sleep 0.1; done
PORT=$(node -e 'process.stdout.write(String(JSON.parse(require("fs").readFileSync(process.argv[1])).port))' "$R/fake.json")
node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1])).token)' "$R/fake.json" > ${sa}/token

nats-server ${natsC.args.map(q).join(' ')} > "$R/nats.log" 2>&1 &
NATS=$!
result nats_ready "$(probe ${q(`http://127.0.0.1:${natsProbePort}${natsProbe.path}`)})"
curl -s http://127.0.0.1:${natsProbePort}/varz > "$R/varz.json"

env -i PATH=/usr/local/bin:/usr/bin:/bin NODE_ENV=production KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$PORT \\
  ${envLines(provC).map(q).join(' ')} \\
  setpriv --reuid ${prov.securityContext.runAsUser} --regid ${prov.securityContext.runAsGroup} --clear-groups node dist/src/main.js > "$R/provider.log" 2>&1 &
PROV=$!
result provider_ready "$(probe http://127.0.0.1:${provPort}${provC.readinessProbe.httpGet.path})"
result provider_deploy "$(curl -s -o "$R/deploy.out" -w '%{http_code}' -u admin:manifest-test -H 'content-type: application/json' \\
  -d '{"service":"figlet","image":"ghcr.io/example/figlet:1","envProcess":"cat"}' http://127.0.0.1:${provPort}/system/functions)"
curl -s --cacert "$R/cert.pem" -H "Authorization: Bearer $(cat ${sa}/token)" \\
  "https://127.0.0.1:$PORT/apis/apps/v1/namespaces/openfaas-fn/deployments/figlet" > "$R/fn.json"
kill -TERM $PROV; wait $PROV; result provider_exit $?

node "$R/podenv.mjs" "$R/fn.json" > "$R/fn.env" 2>> "$R/provider.log"
HF_UID=$(sed -n 's/^HF_UID=//p' "$R/fn.env"); read -r PPATH PPORT <<< "$(sed -n 's/^HF_PROBE=//p' "$R/fn.env")"
mapfile -t FNENV < <(grep -v '^HF_' "$R/fn.env")
result watchdog_uid "$HF_UID"
env -i PATH=/usr/local/bin:/usr/bin:/bin "\${FNENV[@]}" setpriv --reuid "$HF_UID" --regid "$HF_UID" --clear-groups node watchdog/dist/src/main.js > "$R/watchdog.log" 2>&1 &
WD=$!
result watchdog_ready "$(probe "http://127.0.0.1:$PPORT$PPATH")"
kill -TERM $WD; wait $WD; result watchdog_exit $?

kill -TERM $NATS; wait $NATS
kill -TERM $FAKE; wait $FAKE
`;
    await writeFile(join(dir, 'inner.sh'), inner);
    const modules = realpathSync(join(repoRoot, 'node_modules'));
    const binds = [repoRoot, ...(modules.startsWith(repoRoot + '/') ? [] : [modules])].map(q).join(' ');
    const outer = `#!/bin/bash
set -eu
R=${q(dir)}; M="$R/root"
mkdir -p "$R/upper" "$R/work" "$M"
mount -t overlay overlay -o lowerdir=/,upperdir="$R/upper",workdir="$R/work" "$M"
mount --rbind /dev "$M/dev"
mount -t proc proc "$M/proc"
# each container gets a /tmp of its own (the test's own directory stays reachable at the same path)
mount -t tmpfs tmpfs "$M/tmp"
mkdir -p "$M$R"
mount --bind "$R" "$M$R"
# the checkout (and its node_modules, wherever they really are) at their own paths, also when they live under /tmp
for d in ${binds}; do mkdir -p "$M$d"; mount --rbind "$d" "$M$d"; done
(cd "$R/files" && tar cf - .) | (cd "$M" && tar xf - --keep-directory-symlink --no-same-owner)
chroot "$M" /bin/bash "$R/inner.sh"
`;
    await writeFile(join(dir, 'outer.sh'), outer);
    await run('unshare', ['--mount', '--net', '--pid', '--fork', '--kill-child', 'bash', join(dir, 'outer.sh')], { timeout: 150_000 });

    const results = Object.fromEntries(
      (await readFile(join(dir, 'results'), 'utf8')).trim().split('\n').map((l) => l.split('=') as [string, string]),
    );
    const logs = async (n: string) => (await readFile(join(dir, `${n}.log`), 'utf8').catch(() => '')).slice(-2000);
    expect(results.nats_ready, await logs('nats')).to.equal('200');
    expect(results.provider_ready, await logs('provider')).to.equal('200');
    expect(results.provider_deploy, await logs('provider')).to.equal('202');
    expect(results.provider_exit, await logs('provider')).to.equal('0');
    expect(Number(results.watchdog_uid)).to.be.greaterThan(0);
    expect(results.watchdog_ready, await logs('watchdog')).to.equal('200');
    expect(results.watchdog_exit, await logs('watchdog')).to.equal('0');
    // NATS runs with the config file's settings (a 8MB max_payload is what the code store relies on).
    const varz = JSON.parse(await readFile(join(dir, 'varz.json'), 'utf8')) as Obj;
    expect(varz.max_payload).to.equal(8 * 1024 * 1024);
    expect(varz.jetstream?.config?.store_dir).to.match(/^\/data/);

    // Every call the provider made is granted by a Role of the rendered RBAC in that call's namespace.
    const calls = JSON.parse(await readFile(join(dir, 'fake.json.calls'), 'utf8')) as FakeCall[];
    const provCalls = calls.filter((c) => c.verb !== 'discovery');
    expect(provCalls.some((c) => c.resource === 'deployments' && c.verb === 'create')).to.equal(true);
    const fnNamespaces = readFunctionNamespaces(provEnv).namespaces;
    const roles = docs.filter((d) => d.kind === 'Role');
    for (const c of provCalls) {
      expect(c.namespace, `${c.verb} ${c.resource} is namespaced`).to.be.oneOf(fnNamespaces);
      const role = roles.find((r) => r.metadata.namespace === c.namespace)!;
      const ok = role.rules.some((r: Obj) => r.resources.includes(c.resource) && r.verbs.includes(c.verb));
      expect(ok, `${c.verb} ${c.resource} in ${c.namespace}`).to.equal(true);
    }
    expect(kubePermissions.length).to.be.greaterThan(0);
  });
});
