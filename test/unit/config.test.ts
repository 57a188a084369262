import { expect } from 'chai';
import { readConfig } from '../../src/config.js';
import { ConfigError } from '../../src/units.js';

describe('readConfig', () => {
  it('uses the faas-provider defaults when nothing is set', () => {
    const c = readConfig({});
    expect(c.port).to.equal(8081);
    expect(c.listen).to.equal('127.0.0.1');
    expect(c.readTimeoutMs).to.equal(60_000);
    expect(c.writeTimeoutMs).to.equal(60_000);
    expect(c.basicAuth).to.equal(false);
    expect(c.secretMountPath).to.equal('/run/secrets/');
    expect(c.defaultNamespace).to.equal('openfaas-fn');
    expect(c.namespaces).to.deep.equal(['openfaas-fn']);
    expect(c.backend).to.equal('local');
    expect(c.natsUrl).to.equal(undefined);
    expect(c.logFormat).to.equal('json');
  });

  it('returns a frozen object', () => {
    const c = readConfig({});
    expect(Object.isFrozen(c)).to.equal(true);
    expect(Object.isFrozen(c.namespaces)).to.equal(true);
  });

  const good: { name: string; env: Record<string, string>; check: (c: ReturnType<typeof readConfig>) => unknown; want: unknown }[] = [
    { name: 'reads port', env: { port: '9090' }, check: (c) => c.port, want: 9090 },
    { name: 'reads an integer timeout as seconds', env: { write_timeout: '30' }, check: (c) => c.writeTimeoutMs, want: 30_000 },
    { name: 'reads a Go duration timeout', env: { read_timeout: '1m30s' }, check: (c) => c.readTimeoutMs, want: 90_000 },
    { name: 'reads a millisecond duration', env: { write_timeout: '500ms' }, check: (c) => c.writeTimeoutMs, want: 500 },
    { name: 'enables basic auth only with "true"', env: { basic_auth: 'true' }, check: (c) => c.basicAuth, want: true },
    { name: 'keeps basic auth off with "false"', env: { basic_auth: 'false' }, check: (c) => c.basicAuth, want: false },
    { name: 'adds a trailing slash to secret_mount_path', env: { secret_mount_path: '/var/secrets' }, check: (c) => c.secretMountPath, want: '/var/secrets/' },
    {
      name: 'lists extra namespaces after the default, without duplicates',
      env: { HYPERFAAS_NAMESPACES: 'team-a, openfaas-fn,team-b,team-a' },
      check: (c) => c.namespaces,
      want: ['openfaas-fn', 'team-a', 'team-b'],
    },
    {
      name: 'puts a chosen default namespace first and keeps openfaas-fn valid',
      env: { HYPERFAAS_DEFAULT_NAMESPACE: 'fns' },
      check: (c) => [c.defaultNamespace, ...c.namespaces],
      want: ['fns', 'fns', 'openfaas-fn'],
    },
    { name: 'reads the kubernetes backend', env: { HYPERFAAS_BACKEND: 'kubernetes' }, check: (c) => c.backend, want: 'kubernetes' },
    { name: 'reads NATS_URL', env: { NATS_URL: 'nats://127.0.0.1:4222' }, check: (c) => c.natsUrl, want: 'nats://127.0.0.1:4222' },
    { name: 'reads HYPERFAAS_MAX_BODY as a quantity', env: { HYPERFAAS_MAX_BODY: '2Mi' }, check: (c) => c.maxBodyBytes, want: 2 * 2 ** 20 },
    { name: 'reads HYPERFAAS_LISTEN', env: { HYPERFAAS_LISTEN: '0.0.0.0' }, check: (c) => c.listen, want: '0.0.0.0' },
    { name: 'listens on every interface by default with the kubernetes backend', env: { HYPERFAAS_BACKEND: 'kubernetes' }, check: (c) => c.listen, want: '0.0.0.0' },
    { name: 'keeps an explicit HYPERFAAS_LISTEN with the kubernetes backend', env: { HYPERFAAS_BACKEND: 'kubernetes', HYPERFAAS_LISTEN: '10.0.0.1' }, check: (c) => c.listen, want: '10.0.0.1' },
    { name: 'reads LOG_FORMAT pretty', env: { LOG_FORMAT: 'pretty' }, check: (c) => c.logFormat, want: 'pretty' },
    { name: 'treats blank values as unset', env: { port: '  ' }, check: (c) => c.port, want: 8081 },
  ];
  for (const t of good) {
    it(t.name, () => {
      expect(t.check(readConfig(t.env))).to.deep.equal(t.want);
    });
  }

  const bad: { name: string; env: Record<string, string>; mentions: string[] }[] = [
    { name: 'rejects a port out of range', env: { port: '70000' }, mentions: ['port = 70000', '[1, 65535]'] },
    { name: 'rejects a non-numeric port', env: { port: 'http' }, mentions: ['port = http'] },
    { name: 'rejects a malformed timeout', env: { write_timeout: '10 seconds' }, mentions: ['write_timeout = 10 seconds', '1m30s'] },
    { name: 'rejects basic_auth that is neither true nor false', env: { basic_auth: 'yes' }, mentions: ['basic_auth = yes'] },
    { name: 'rejects an unknown backend', env: { HYPERFAAS_BACKEND: 'docker' }, mentions: ['HYPERFAAS_BACKEND = docker', 'local, kubernetes'] },
    { name: 'rejects a namespace that is not a DNS label', env: { HYPERFAAS_NAMESPACES: 'Team_A' }, mentions: ['HYPERFAAS_NAMESPACES = Team_A'] },
    { name: 'rejects an unknown log level', env: { LOG_LEVEL: 'loud' }, mentions: ['LOG_LEVEL = loud'] },
    { name: 'rejects a body limit that is too small', env: { HYPERFAAS_MAX_BODY: '10' }, mentions: ['HYPERFAAS_MAX_BODY = 10', '[1Ki, 1Gi]'] },
    { name: 'rejects a NATS_URL that is not a URL', env: { NATS_URL: 'not a url' }, mentions: ['NATS_URL = not a url'] },
  ];
  for (const t of bad) {
    it(t.name, () => {
      let err: unknown;
      try {
        readConfig(t.env);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(ConfigError);
      for (const m of t.mentions) expect((err as Error).message).to.include(m);
    });
  }

  it('reports every bad key at once', () => {
    try {
      readConfig({ port: '0', LOG_FORMAT: 'xml' });
      expect.fail('should throw');
    } catch (e) {
      expect((e as ConfigError).problems).to.have.length(2);
    }
  });
});
