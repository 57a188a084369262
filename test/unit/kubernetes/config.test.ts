import { expect } from 'chai';
import { KubeConfigError, readKubernetesConfig } from '../../../src/backends/kubernetes/config.js';

describe('kubernetes config: readKubernetesConfig', () => {
  it('defaults to in-cluster credentials, openfaas-fn, openfaas=1 and automatic resize detection', () => {
    const c = readKubernetesConfig({});
    expect(c).to.deep.include({
      connection: { kind: 'in-cluster' },
      defaultNamespace: 'openfaas-fn',
      namespaceSelector: 'openfaas=1',
      imagePullPolicy: 'Always',
      watchdogPort: 8080,
      resize: 'auto',
      natsUrl: '',
      probePeriodSeconds: 2,
      probeTimeoutSeconds: 1,
    });
    expect(Object.isFrozen(c)).to.equal(true);
  });

  const cases = [
    { name: 'uses the first KUBECONFIG file', env: { KUBECONFIG: '/a/config:/b/config' }, want: { connection: { kind: 'file', path: '/a/config' } } },
    { name: 'reads function_namespace like faas-netes', env: { function_namespace: 'fns' }, want: { defaultNamespace: 'fns' } },
    { name: 'reads image_pull_policy case-insensitively', env: { image_pull_policy: 'ifnotpresent' }, want: { imagePullPolicy: 'IfNotPresent' } },
    { name: "hands function pods the provider's NATS_URL", env: { NATS_URL: 'nats://n:4222' }, want: { natsUrl: 'nats://n:4222' } },
    { name: 'prefers HYPERFAAS_NATS_URL for function pods', env: { NATS_URL: 'nats://a:4222', HYPERFAAS_NATS_URL: 'nats://b:4222' }, want: { natsUrl: 'nats://b:4222' } },
    { name: 'turns resize off on request', env: { HYPERFAAS_INPLACE_RESIZE: 'off' }, want: { resize: 'off' } },
    { name: 'reads set_nonroot_user', env: { set_nonroot_user: 'true' }, want: { setNonRootUser: true } },
  ];
  for (const c of cases) it(c.name, () => expect(readKubernetesConfig(c.env)).to.deep.include(c.want));

  const bad = [
    { name: 'refuses an unknown pull policy, naming the key', env: { image_pull_policy: 'Sometimes' }, key: 'image_pull_policy' },
    { name: 'refuses a namespace that is not a DNS label', env: { function_namespace: 'Not_Valid' }, key: 'function_namespace' },
    { name: 'refuses a watchdog port out of range', env: { HYPERFAAS_WATCHDOG_PORT: '70000' }, key: 'HYPERFAAS_WATCHDOG_PORT' },
    { name: 'refuses an unknown resize mode', env: { HYPERFAAS_INPLACE_RESIZE: 'maybe' }, key: 'HYPERFAAS_INPLACE_RESIZE' },
  ];
  for (const c of bad) {
    it(c.name, () => {
      expect(() => readKubernetesConfig(c.env))
        .to.throw(KubeConfigError)
        .with.property('key', c.key);
    });
  }
});
