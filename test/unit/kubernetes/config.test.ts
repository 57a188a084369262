import { expect } from 'chai';
import { KubeConfigError, readKubernetesConfig } from '../../../src/backends/kubernetes/config.js';

describe('kubernetes config: readKubernetesConfig', () => {
  it('defaults to in-cluster credentials, openfaas-fn alone, a non-root user and automatic resize detection', () => {
    const c = readKubernetesConfig({});
    expect(c).to.deep.include({
      connection: { kind: 'in-cluster' },
      defaultNamespace: 'openfaas-fn',
      namespaces: ['openfaas-fn'],
      setNonRootUser: true,
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
    {
      name: 'takes the function namespaces from the provider rule, the default first',
      env: { HYPERFAAS_DEFAULT_NAMESPACE: 'fns', HYPERFAAS_NAMESPACES: 'team-a,team-b' },
      want: { defaultNamespace: 'fns', namespaces: ['fns', 'openfaas-fn', 'team-a', 'team-b'] },
    },
    { name: "accepts faas-netes' function_namespace when it names the default", env: { function_namespace: 'openfaas-fn' }, want: { defaultNamespace: 'openfaas-fn' } },
    { name: 'reads image_pull_policy case-insensitively', env: { image_pull_policy: 'ifnotpresent' }, want: { imagePullPolicy: 'IfNotPresent' } },
    { name: "hands function pods the provider's NATS_URL", env: { NATS_URL: 'nats://n:4222' }, want: { natsUrl: 'nats://n:4222' } },
    { name: 'prefers HYPERFAAS_NATS_URL for function pods', env: { NATS_URL: 'nats://a:4222', HYPERFAAS_NATS_URL: 'nats://b:4222' }, want: { natsUrl: 'nats://b:4222' } },
    { name: 'turns resize off on request', env: { HYPERFAAS_INPLACE_RESIZE: 'off' }, want: { resize: 'off' } },
    { name: 'lets set_nonroot_user=false leave the user to the image', env: { set_nonroot_user: 'false' }, want: { setNonRootUser: false } },
  ];
  for (const c of cases) it(c.name, () => expect(readKubernetesConfig(c.env)).to.deep.include(c.want));

  const bad = [
    { name: 'refuses an unknown pull policy, naming the key', env: { image_pull_policy: 'Sometimes' }, key: 'image_pull_policy' },
    { name: 'refuses a namespace that is not a DNS label', env: { HYPERFAAS_NAMESPACES: 'Not_Valid' }, key: 'HYPERFAAS_NAMESPACES' },
    { name: 'refuses a function_namespace other than the default', env: { function_namespace: 'fns' }, key: 'function_namespace' },
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
