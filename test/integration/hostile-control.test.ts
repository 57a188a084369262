/**
 * Hostile functions against the control planes: a real nats-server in operator mode with HyperFaaS's generated
 * authorization, the real provider process with the local backend, a victim function and an attacker deployed in
 * fork mode with `envProcess: "sh"`, so each request body runs as a shell script inside the attacker's instance.
 * From there it attacks with everything it can reach: NATS without credentials and with its own instance's
 * credentials (subscribe to `>`, read other instances' load reports, the JetStream API, a drain on the victim's
 * control subject) and the victim watchdog's HTTP control endpoint on loopback (without a token, with its own).
 * Every attack must fail with the server's or the watchdog's exact refusal, and the victim keeps serving.
 *
 * The script finds its own credentials where the platform puts them: /var/openfaas/hyperfaas inside a container or
 * a private mount namespace, else the creds dir beside its per-instance TMPDIR (plain processes). It runs once with
 * plain processes (HYPERFAAS_ISOLATION=none) and once isolated as far as this host allows (auto).
 */
import { expect } from 'chai';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Provider, ReportWatch, httpCall, until } from '../../bench/hierarchical/harness.js';
import { AUTH_FILES } from '../../src/messaging/nats-auth.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';

/**
 * natsModules are where the attacker's script looks for the NATS client's entry file: the host path (plain
 * processes, a private mount namespace) and the same file under /opt/hyperfaas, where a runc container sees the
 * install's node_modules.
 */
const natsHostPath = createRequire(import.meta.url).resolve('@nats-io/transport-node');
const natsModules = [natsHostPath, `/opt/hyperfaas/node_modules/${natsHostPath.slice(natsHostPath.lastIndexOf('node_modules/') + 'node_modules/'.length)}`];

/** AttackResult is what the attacker's script prints (JSON): one outcome per attack, each an error message or what it got. */
interface AttackResult {
  credsDir: string;
  anonymous: string;
  ownConnect: string;
  ownReport: string;
  subscribeAll: string;
  readReports: { error: string; received: number };
  jsInfo: string;
  streamInfo: string;
  drainVictim: string;
  code: { ownRead: string; otherNamespace: string; put: string; deleteMsg: string; purge: string; deleteStream: string; consumer: string; otherStream: string };
  statusErrors: string[];
  httpNoToken: { status: number; body: string };
  httpOwnToken: { status: number; body: string };
  httpOwnTokenOnOwn: { status: number };
}

/** attackScript is the shell script the attacker runs: it locates its credentials, then runs the attacks in node. */
function attackScript(natsUrl: string, victimId: string, victimUrl: string, ownUrl: string): string {
  const js = `
const fs = require('fs');
const { connect, credsAuthenticator } = require(${JSON.stringify(natsModules)}.find((p) => fs.existsSync(p)));
const http = require('http');
const credsDir = process.argv[2];
const own = process.env.HYPERFAAS_INSTANCE_ID;
const out = { credsDir, statusErrors: [] };
const msg = (e) => String(e && e.message ? e.message : e);
const post = (url, headers) => new Promise((resolve) => {
  const req = http.request(url + '/_/hyperfaas/control', { method: 'POST', headers }, (res) => {
    let body = '';
    res.on('data', (c) => (body += c));
    res.on('end', () => resolve({ status: res.statusCode, body }));
  });
  req.on('error', (e) => resolve({ status: 0, body: msg(e) }));
  req.end('{"op":"drain"}');
});
const postOwn = (url, headers) => new Promise((resolve) => {
  const req = http.request(url + '/_/hyperfaas/control', { method: 'POST', headers }, (res) => { res.resume(); resolve({ status: res.statusCode }); });
  req.on('error', () => resolve({ status: 0 }));
  req.end('{"op":"resize"}');
});
(async () => {
  try {
    const anon = await connect({ servers: ${JSON.stringify(natsUrl)}, reconnect: false });
    out.anonymous = 'connected';
    await anon.close();
  } catch (e) { out.anonymous = msg(e); }
  const nc = await connect({
    servers: ${JSON.stringify(natsUrl)},
    reconnect: false,
    inboxPrefix: '_INBOX_' + own,
    authenticator: credsAuthenticator(fs.readFileSync(credsDir + '/nats.creds')),
  });
  out.ownConnect = 'connected';
  void (async () => { for await (const s of nc.status()) if (s.type === 'error') out.statusErrors.push(msg(s.error)); })();
  // Its own subject works: the credentials are real, so every refusal below is a permission, not a broken login.
  nc.publish('hyperfaas.report.openfaas-fn.attacker.' + own, '{}');
  await nc.flush();
  out.ownReport = 'published';
  const all = nc.subscribe('>');
  out.subscribeAll = await (async () => { try { for await (const m of all) return 'received ' + m.subject; return 'ended'; } catch (e) { return msg(e); } })();
  let received = 0;
  const reports = nc.subscribe('hyperfaas.report.>', { callback: (err) => { if (!err) received++; } });
  void reports;
  await new Promise((r) => setTimeout(r, 1500));
  out.readReports = { error: out.statusErrors.find((e) => e.includes('hyperfaas.report.>')) || '', received };
  const req = async (subject, body) => { try { const m = await nc.request(subject, body, { timeout: 3000 }); return 'answered ' + m.string(); } catch (e) { return msg(e); } };
  out.jsInfo = await req('$JS.API.INFO', '');
  out.streamInfo = await req('$JS.API.STREAM.INFO.faas-request', '');
  out.drainVictim = await req('hyperfaas.control.' + ${JSON.stringify(victimId)}, '{"op":"drain"}');
  // Guest code: its own namespace's code bucket may be read with message gets, and nothing else.
  const codeStream = 'OBJ_hyperfaas-code-openfaas-fn';
  out.code = {
    ownRead: await req('$JS.API.STREAM.MSG.GET.' + codeStream, '{"seq":1}'),
    otherNamespace: await req('$JS.API.STREAM.MSG.GET.OBJ_hyperfaas-code-tenant-b', '{"seq":1}'),
    put: await req('$O.hyperfaas-code-openfaas-fn.C.evil', 'tampered'),
    deleteMsg: await req('$JS.API.STREAM.MSG.DELETE.' + codeStream, '{"seq":1}'),
    purge: await req('$JS.API.STREAM.PURGE.' + codeStream, ''),
    deleteStream: await req('$JS.API.STREAM.DELETE.' + codeStream, ''),
    consumer: await req('$JS.API.CONSUMER.CREATE.' + codeStream, '{"stream_name":"' + codeStream + '","config":{"deliver_subject":"hyperfaas.control.x"}}'),
    otherStream: await req('$JS.API.STREAM.MSG.GET.faas-request', '{"seq":1}'),
  };
  await nc.close().catch(() => undefined);
  const token = fs.readFileSync(credsDir + '/control-token', 'utf8').trim();
  out.httpNoToken = await post(${JSON.stringify(victimUrl)}, {});
  out.httpOwnToken = await post(${JSON.stringify(victimUrl)}, { 'x-hyperfaas-token': token });
  out.httpOwnTokenOnOwn = await postOwn(${JSON.stringify(ownUrl)}, { 'x-hyperfaas-token': token });
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { process.stdout.write(JSON.stringify({ ...out, fatal: msg(e) })); });
`;
  return [
    'creds=none',
    'for d in /var/openfaas/hyperfaas "${TMPDIR:-/nonexistent}/../credentials"; do',
    '  if [ -r "$d/nats.creds" ]; then creds="$d"; break; fi',
    'done',
    `exec ${process.execPath} - "$creds" <<'JS'`,
    js,
    'JS',
    '',
  ].join('\n');
}

for (const isolation of ['none', 'auto'] as const) {
  describe(`hostile functions against NATS and watchdog control (HYPERFAAS_ISOLATION=${isolation})`, function () {
    this.timeout(180_000);
    let nats: NatsServer;
    let provider: Provider;
    let reports: ReportWatch;
    let result: AttackResult;
    let victimId: string;

    before(async () => {
      nats = await startNatsServer({ auth: true });
      reports = await ReportWatch.open(nats.url, join(nats.authDir!, AUTH_FILES.providerCreds));
      provider = await Provider.start({
        natsUrl: nats.url,
        env: {
          HYPERFAAS_DEFAULT_POLICY: 'none',
          HYPERFAAS_NATS_AUTH_DIR: nats.authDir!,
          HYPERFAAS_ISOLATION: isolation,
          HYPERFAAS_CGROUP_PARENT: `hyperfaas-hostile-${process.pid}`,
          HYPERFAAS_START_CPU: '0',
        },
      });
      const labels = { 'com.hyperfaas.policy': 'none' };
      await provider.deploy({ service: 'victim', image: 'functions/alpine:latest', envProcess: 'cat', labels });
      await provider.deploy({ service: 'attacker', image: 'functions/alpine:latest', envProcess: 'sh', envVars: { exec_timeout: '60s', write_timeout: '60s' }, labels });
      await provider.waitAvailable('victim', 1);
      await provider.waitAvailable('attacker', 1);
      // Both watchdogs joined the authenticated NATS with their minted users and report on their own subjects.
      await until(() => {
        expect(reports.of('victim')).to.have.length(1);
        expect(reports.of('attacker')).to.have.length(1);
      }, 30_000);
      const victim = reports.of('victim')[0]!;
      const attacker = reports.of('attacker')[0]!;
      victimId = victim.instance;
      const r = await httpCall(provider.base, 'POST', '/function/attacker', attackScript(nats.url, victim.instance, victim.url, attacker.url));
      expect(r.status, r.body).to.equal(200);
      try {
        result = JSON.parse(r.body) as AttackResult;
      } catch {
        throw new Error(`the attacker's script printed no result: ${r.body}\n${provider.output}`);
      }
      expect(result, JSON.stringify(result)).to.not.have.property('fatal');
    });
    after(async () => {
      const code = await provider?.stop();
      await reports?.close();
      await nats?.dispose();
      expect(code, provider?.output).to.equal(0);
    });

    it('finds only its own credentials, which do log in and publish its own report', () => {
      expect(result.credsDir).to.not.equal('none');
      expect(result.ownConnect).to.equal('connected');
      expect(result.ownReport).to.equal('published');
      expect(result.httpOwnTokenOnOwn.status, 'its token opens its own watchdog').to.equal(200);
    });

    it('cannot connect to NATS without credentials', () => {
      expect(result.anonymous).to.equal('Authorization Violation');
    });

    it('cannot subscribe to ">" with its own credentials', () => {
      expect(result.subscribeAll).to.equal('Permissions Violation for Subscription to ">"');
    });

    it("cannot read other instances' load reports", () => {
      expect(result.readReports).to.deep.equal({ error: 'Permissions Violation for Subscription to "hyperfaas.report.>"', received: 0 });
    });

    it('cannot use the JetStream API: account info and the async stream', () => {
      expect(result.jsInfo).to.equal('Permissions Violation for Publish to "$JS.API.INFO"');
      expect(result.streamInfo).to.equal('Permissions Violation for Publish to "$JS.API.STREAM.INFO.faas-request"');
    });

    it("cannot publish a drain to the victim's control subject, and the victim keeps serving", async () => {
      expect(result.drainVictim).to.equal(`Permissions Violation for Publish to "hyperfaas.control.${victimId}"`);
      const r = await httpCall(provider.base, 'POST', '/function/victim', 'still here');
      expect([r.status, r.body]).to.deep.equal([200, 'still here']);
      await until(() => expect(reports.latest.get(victimId)?.draining).to.equal(false), 5_000);
    });

    it("reads its own namespace's code bucket only, and can write, delete or purge nothing in it", () => {
      const refused = (subject: string) => `Permissions Violation for Publish to "${subject}"`;
      // The message get is allowed: JetStream itself answers (a message, or that there is none yet).
      expect(result.code.ownRead).to.match(/^answered \{"type":"io\.nats\.jetstream\.api\.v1\.stream_msg_get_response"/);
      expect(result.code).to.deep.include({
        otherNamespace: refused('$JS.API.STREAM.MSG.GET.OBJ_hyperfaas-code-tenant-b'),
        put: refused('$O.hyperfaas-code-openfaas-fn.C.evil'),
        deleteMsg: refused('$JS.API.STREAM.MSG.DELETE.OBJ_hyperfaas-code-openfaas-fn'),
        purge: refused('$JS.API.STREAM.PURGE.OBJ_hyperfaas-code-openfaas-fn'),
        deleteStream: refused('$JS.API.STREAM.DELETE.OBJ_hyperfaas-code-openfaas-fn'),
        consumer: refused('$JS.API.CONSUMER.CREATE.OBJ_hyperfaas-code-openfaas-fn'),
        otherStream: refused('$JS.API.STREAM.MSG.GET.faas-request'),
      });
    });

    it("cannot call the victim's HTTP control from loopback without a token or with its own", () => {
      expect(result.httpNoToken).to.deep.equal({ status: 401, body: 'control requests need an x-hyperfaas-token header\n' });
      expect(result.httpOwnToken).to.deep.equal({ status: 403, body: "x-hyperfaas-token is not this instance's control token\n" });
    });
  });
}
