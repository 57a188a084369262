import { expect } from 'chai';
import { join } from 'node:path';
import { repoRoot } from '../../../src/paths.js';
import {
  LocalConfigError,
  readLocalConfig,
  type LocalBackendConfig,
} from '../../../src/backends/local/config.js';

describe('local backend config', () => {
  const cases: { name: string; env: Record<string, string>; check: (c: LocalBackendConfig) => void }[] = [
    {
      name: 'defaults to <cwd>/.data, ports 31000-32999, openfaas-fn only and auto isolation',
      env: {},
      check: (c) => {
        expect(c.dataDir).to.equal(join(process.cwd(), '.data'));
        expect(c.portRange).to.deep.equal({ from: 31000, to: 32999 });
        expect(c.namespaces).to.deep.equal(['openfaas-fn']);
        expect(c.isolation).to.equal('auto');
        expect(c.runAsUser).to.equal('app');
        expect(c.natsUrl).to.equal(undefined);
      },
    },
    {
      name: 'searches <cwd>/build and the repository examples for images by default',
      env: {},
      check: (c) => expect(c.imagePath).to.include.members([join(process.cwd(), 'build'), join(repoRoot, 'stack-templates', 'examples', 'build')]),
    },
    {
      name: 'splits HYPERFAAS_IMAGE_PATH on colons and resolves relative entries against the cwd',
      env: { HYPERFAAS_IMAGE_PATH: '/a/b:rel/dir::/c' },
      check: (c) => expect(c.imagePath).to.deep.equal(['/a/b', join(process.cwd(), 'rel/dir'), '/c']),
    },
    {
      name: 'keeps openfaas-fn first and adds HYPERFAAS_NAMESPACES without duplicates',
      env: { HYPERFAAS_NAMESPACES: 'team-a, openfaas-fn,team-b,team-a' },
      check: (c) => expect(c.namespaces).to.deep.equal(['openfaas-fn', 'team-a', 'team-b']),
    },
    {
      name: 'puts HYPERFAAS_DEFAULT_NAMESPACE first and keeps openfaas-fn valid',
      env: { HYPERFAAS_DEFAULT_NAMESPACE: 'fns', HYPERFAAS_NAMESPACES: 'x' },
      check: (c) => expect(c.namespaces).to.deep.equal(['fns', 'openfaas-fn', 'x']),
    },
    {
      name: 'accepts NATS_URL as host:port like the provider does',
      env: { NATS_URL: 'nats:4222' },
      check: (c) => expect(c.natsUrl).to.equal('nats:4222'),
    },
    {
      name: 'reads durations as seconds or with units',
      env: { HYPERFAAS_HEALTH_INTERVAL: '250ms', HYPERFAAS_RESTART_BACKOFF_MIN: '2', HYPERFAAS_RESTART_BACKOFF_MAX: '1m30s' },
      check: (c) => {
        expect(c.healthIntervalMs).to.equal(250);
        expect(c.restartBackoffMinMs).to.equal(2000);
        expect(c.restartBackoffMaxMs).to.equal(90_000);
      },
    },
    {
      name: 'takes the port range, NATS_URL, the data dir and isolation=none',
      env: { HYPERFAAS_PORT_RANGE: '40000-40010', NATS_URL: 'nats://127.0.0.1:4222', HYPERFAAS_DATA: '/var/lib/hf', HYPERFAAS_ISOLATION: 'none' },
      check: (c) => {
        expect(c.portRange).to.deep.equal({ from: 40000, to: 40010 });
        expect(c.natsUrl).to.equal('nats://127.0.0.1:4222');
        expect(c.dataDir).to.equal('/var/lib/hf');
        expect(c.isolation).to.equal('none');
      },
    },
    {
      name: 'reads the memory floor as a quantity',
      env: { HYPERFAAS_MIN_MEMORY: '32Mi' },
      check: (c) => expect(c.minMemoryBytes).to.equal(32 * 1024 * 1024),
    },
    { name: 'starts instances under 1 core by default', env: {}, check: (c) => expect(c.startCpu).to.equal(1) },
    { name: 'reads the start CPU limit as a quantity', env: { HYPERFAAS_START_CPU: '1500m' }, check: (c) => expect(c.startCpu).to.equal(1.5) },
    { name: 'turns the start CPU limit off with 0', env: { HYPERFAAS_START_CPU: '0' }, check: (c) => expect(c.startCpu).to.equal(0) },
  ];
  for (const c of cases) it(c.name, () => c.check(readLocalConfig(c.env)));

  it('returns a frozen object', () => {
    const c = readLocalConfig({});
    expect(Object.isFrozen(c)).to.equal(true);
    expect(Object.isFrozen(c.namespaces)).to.equal(true);
  });

  const bad: { name: string; env: Record<string, string>; key: string }[] = [
    { name: 'rejects a port range that is not FROM-TO', env: { HYPERFAAS_PORT_RANGE: '31000' }, key: 'HYPERFAAS_PORT_RANGE' },
    { name: 'rejects a port range below 1024', env: { HYPERFAAS_PORT_RANGE: '80-90' }, key: 'HYPERFAAS_PORT_RANGE' },
    { name: 'rejects a port range too small for one instance', env: { HYPERFAAS_PORT_RANGE: '31000-31001' }, key: 'HYPERFAAS_PORT_RANGE' },
    { name: 'rejects an unknown isolation mode', env: { HYPERFAAS_ISOLATION: 'strict' }, key: 'HYPERFAAS_ISOLATION' },
    { name: 'rejects a namespace that is not a DNS label', env: { HYPERFAAS_NAMESPACES: 'Bad_NS' }, key: 'HYPERFAAS_NAMESPACES' },
    { name: 'rejects a health interval that is not a duration', env: { HYPERFAAS_HEALTH_INTERVAL: 'soon' }, key: 'HYPERFAAS_HEALTH_INTERVAL' },
    { name: 'rejects a back-off maximum below its minimum', env: { HYPERFAAS_RESTART_BACKOFF_MIN: '10s', HYPERFAAS_RESTART_BACKOFF_MAX: '1s' }, key: 'HYPERFAAS_RESTART_BACKOFF_MAX' },
    { name: 'rejects a NATS_URL that is not nats://', env: { NATS_URL: 'http://x' }, key: 'NATS_URL' },
    { name: 'rejects a user name with a slash', env: { HYPERFAAS_USER: 'a/b' }, key: 'HYPERFAAS_USER' },
    { name: 'rejects a cgroup parent climbing out of the root', env: { HYPERFAAS_CGROUP_PARENT: '../x' }, key: 'HYPERFAAS_CGROUP_PARENT' },
    { name: 'rejects a pids limit that is not an integer', env: { HYPERFAAS_PIDS_LIMIT: 'lots' }, key: 'HYPERFAAS_PIDS_LIMIT' },
    { name: 'rejects a start CPU limit that is not a quantity', env: { HYPERFAAS_START_CPU: 'fast' }, key: 'HYPERFAAS_START_CPU' },
  ];
  for (const c of bad) {
    it(c.name, () => {
      try {
        readLocalConfig(c.env);
        expect.fail('no error');
      } catch (e) {
        expect(e).to.be.instanceOf(LocalConfigError);
        expect((e as LocalConfigError).key).to.equal(c.key);
        expect((e as Error).message).to.contain(c.key);
      }
    });
  }
});
