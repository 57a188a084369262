import { expect } from 'chai';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode, parseCreds, type User } from '@nats-io/jwt';
import { AUTH_FILES, initNatsAuth, instancePermissions, NatsAuthority, readNatsAuthEnv } from '../../../src/messaging/nats-auth.js';
import { reportMatchesSubject } from '../../../src/gs/nats/report-subscriber.js';
import type { LoadReport } from '@hyperfaas/watchdog/protocol';

describe('NATS authorization material', () => {
  let dir: string;
  before(async () => {
    dir = join(await mkdtemp(join(tmpdir(), 'nats-auth-unit-')), 'auth');
  });
  after(async () => rm(join(dir, '..'), { recursive: true, force: true }));

  it('creates the material owner-only: the directory 0700, every file 0600', async () => {
    const { created } = await initNatsAuth(dir);
    expect(created).to.equal(true);
    expect((await stat(dir)).mode & 0o777).to.equal(0o700);
    const files = (await readdir(dir)).sort();
    expect(files).to.deep.equal(Object.values(AUTH_FILES).sort());
    for (const f of files) expect((await stat(join(dir, f))).mode & 0o777, f).to.equal(0o600);
  });

  it('keeps existing material on a second init', async () => {
    const before = await readFile(join(dir, AUTH_FILES.signingKey), 'utf8');
    const { created, info } = await initNatsAuth(dir);
    expect(created).to.equal(false);
    expect(await readFile(join(dir, AUTH_FILES.signingKey), 'utf8')).to.equal(before);
    expect(info.account).to.match(/^A[A-Z2-7]{55}$/);
  });

  it('writes a server config that preloads the system and HyperFaaS accounts, JetStream enabled for the latter', async () => {
    const conf = await readFile(join(dir, AUTH_FILES.serverConf), 'utf8');
    const { info } = await initNatsAuth(dir);
    expect(conf).to.contain('resolver: MEMORY');
    expect(conf).to.contain(`system_account: ${info.systemAccount}`);
    const accountJwt = new RegExp(`^  ${info.account}: (\\S+)$`, 'm').exec(conf)?.[1];
    const claims = decode<{ limits: { disk_storage: number }; signing_keys: string[] }>(accountJwt!);
    expect(claims.nats.limits!.disk_storage).to.equal(-1);
    expect(claims.nats.signing_keys).to.deep.equal([info.signingKey]);
  });

  it('mints an instance user signed by the signing key, for the HyperFaaS account, with only its own subjects', async () => {
    const { info } = await initNatsAuth(dir);
    const authority = await NatsAuthority.load(join(dir, AUTH_FILES.signingKey));
    const creds = await authority.mintInstanceCreds({ instanceId: 'echo-1a2b', namespace: 'openfaas-fn', service: 'echo' });
    const { uc } = await parseCreds(new TextEncoder().encode(creds));
    expect(uc.iss).to.equal(info.signingKey);
    expect(uc.nats.issuer_account).to.equal(info.account);
    // Its namespace's code bucket, read by JetStream message gets only: no consumers, writes, deletes or other streams.
    expect(uc.nats.pub).to.deep.equal({
      allow: ['hyperfaas.report.openfaas-fn.echo.echo-1a2b', 'hyperfaas.bounce.echo-1a2b', '$JS.API.STREAM.MSG.GET.OBJ_hyperfaas-code-openfaas-fn'],
    });
    expect(uc.nats.sub).to.deep.equal({ allow: ['hyperfaas.control.echo-1a2b', '_INBOX_echo-1a2b.>'] });
    expect(uc.nats.resp).to.deep.equal({ max: 1, ttl: 0 });
  });

  it('gives the provider a user without permission limits', async () => {
    const { uc } = await parseCreds(await readFile(join(dir, AUTH_FILES.providerCreds)));
    const u = uc.nats as Partial<User>;
    expect(u.pub ?? {}).to.deep.equal({});
    expect(u.sub ?? {}).to.deep.equal({});
  });
});

describe('instancePermissions refuses names that are not one subject token', () => {
  const cases = [
    { name: 'a dot in the instance id', who: { instanceId: 'a.b', namespace: 'ns', service: 'fn' } },
    { name: 'a wildcard in the function', who: { instanceId: 'a', namespace: 'ns', service: '*' } },
    { name: 'a full wildcard in the namespace', who: { instanceId: 'a', namespace: '>', service: 'fn' } },
    { name: 'an empty instance id', who: { instanceId: '', namespace: 'ns', service: 'fn' } },
    { name: 'a space', who: { instanceId: 'a b', namespace: 'ns', service: 'fn' } },
  ];
  for (const c of cases) it(`throws for ${c.name}`, () => expect(() => instancePermissions(c.who)).to.throw(/cannot be a NATS subject token/));
});

describe('readNatsAuthEnv', () => {
  const cases: { name: string; env: Record<string, string>; want: ReturnType<typeof readNatsAuthEnv> }[] = [
    { name: 'is empty without settings (NATS stays unauthenticated)', env: {}, want: {} },
    { name: 'takes both files from the auth dir', env: { HYPERFAAS_NATS_AUTH_DIR: '/d' }, want: { credsFile: '/d/provider.creds', signingKeyFile: '/d/account-signing.nk' } },
    { name: 'lets NATS_CREDS win over the dir', env: { HYPERFAAS_NATS_AUTH_DIR: '/d', NATS_CREDS: '/c' }, want: { credsFile: '/c', signingKeyFile: '/d/account-signing.nk' } },
    { name: 'takes the signing key on its own', env: { NATS_CREDS: '/c', HYPERFAAS_NATS_SIGNING_KEY: '/k' }, want: { credsFile: '/c', signingKeyFile: '/k' } },
  ];
  for (const c of cases) it(c.name, () => expect(readNatsAuthEnv(c.env)).to.deep.equal(c.want));
});

describe('reportMatchesSubject', () => {
  const r = { instance: 'echo-1', function: 'echo', namespace: 'openfaas-fn' } as LoadReport;
  const cases = [
    { name: 'accepts the report on its own subject', r, subject: 'hyperfaas.report.openfaas-fn.echo.echo-1', want: true },
    { name: 'refuses a report naming another instance', r: { ...r, instance: 'victim-1' }, subject: 'hyperfaas.report.openfaas-fn.echo.echo-1', want: false },
    { name: 'refuses a report naming another function', r: { ...r, function: 'victim' }, subject: 'hyperfaas.report.openfaas-fn.echo.echo-1', want: false },
    { name: 'refuses a report naming another namespace', r: { ...r, namespace: 'other' }, subject: 'hyperfaas.report.openfaas-fn.echo.echo-1', want: false },
    { name: 'refuses a body without the fields', r: {} as LoadReport, subject: 'hyperfaas.report.openfaas-fn.echo.echo-1', want: false },
    { name: 'refuses null', r: null as unknown as LoadReport, subject: 'hyperfaas.report.openfaas-fn.echo.echo-1', want: false },
  ];
  for (const c of cases) it(c.name, () => expect(reportMatchesSubject(c.r, c.subject)).to.equal(c.want));
});
