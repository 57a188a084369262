import { expect } from 'chai';
import { toDeployment, validateDeployment } from '../../../src/api/validate.js';

const ok = { service: 'figlet', image: 'functions/figlet:latest' };

describe('validateDeployment', () => {
  const cases: { name: string; body: unknown; want: string[] }[] = [
    { name: 'accepts a minimal deployment', body: ok, want: [] },
    {
      name: 'accepts every optional field when well-formed',
      body: {
        ...ok,
        namespace: 'openfaas-fn',
        envProcess: 'cat',
        envVars: { A: '1' },
        constraints: ['node=a'],
        secrets: ['api-key', 'db.password'],
        labels: { 'com.openfaas.scale.min': '2', 'com.openfaas.scale.max': '4' },
        annotations: { topic: 'x' },
        limits: { memory: '5Mi', cpu: '100m' },
        requests: { memory: '1G', cpu: '0.5', 'nvidia.com/gpu': '1' },
        readOnlyRootFilesystem: true,
        network: 'func_functions',
      },
      want: [],
    },
    { name: 'rejects a body that is not an object', body: [1], want: ['body:'] },
    { name: 'requires service', body: { image: 'x' }, want: ['service: is required'] },
    { name: 'rejects an upper-case name', body: { ...ok, service: 'Figlet' }, want: ['service: "Figlet" must be a DNS-1123 label'] },
    { name: 'rejects a name ending with a dash', body: { ...ok, service: 'fig-' }, want: ['service: "fig-" must be a DNS-1123 label'] },
    { name: 'rejects a name longer than 63 characters', body: { ...ok, service: 'a'.repeat(64) }, want: ['longer than 63'] },
    { name: 'requires image', body: { service: 'figlet', image: ' ' }, want: ['image: is required'] },
    { name: 'rejects a non-string env value', body: { ...ok, envVars: { A: 1 } }, want: ['envVars.A: must be a string'] },
    { name: 'rejects labels that are not an object', body: { ...ok, labels: 'a=b' }, want: ['labels: must be an object'] },
    { name: 'rejects a non-string annotation', body: { ...ok, annotations: { a: true } }, want: ['annotations.a: must be a string'] },
    { name: 'rejects secrets that are not strings', body: { ...ok, secrets: [3] }, want: ['secrets[0]: must be a string'] },
    { name: 'rejects a secret name with capitals', body: { ...ok, secrets: ['Key'] }, want: ['secrets[0]: "Key" must be a DNS-1123 subdomain'] },
    { name: 'rejects constraints that are not an array', body: { ...ok, constraints: 'x' }, want: ['constraints: must be an array'] },
    { name: 'rejects an unparsable memory limit', body: { ...ok, limits: { memory: '128MB' } }, want: ['limits.memory: "128MB" is not a quantity'] },
    { name: 'rejects an unparsable cpu request', body: { ...ok, requests: { cpu: 'lots' } }, want: ['requests.cpu: "lots" is not a quantity'] },
    { name: 'rejects a numeric cpu limit', body: { ...ok, limits: { cpu: 1 } }, want: ['limits.cpu: must be a string'] },
    { name: 'rejects a fractional gpu count', body: { ...ok, limits: { 'nvidia.com/gpu': '0.5' } }, want: ['limits.nvidia.com/gpu'] },
    { name: 'rejects readOnlyRootFilesystem as a string', body: { ...ok, readOnlyRootFilesystem: 'yes' }, want: ['readOnlyRootFilesystem: must be true or false'] },
    { name: 'rejects a scale factor over 100', body: { ...ok, labels: { 'com.openfaas.scale.factor': '150' } }, want: ['labels.com.openfaas.scale.factor = "150": must be a whole number in [1, 100]'] },
    { name: 'rejects a scale factor of 0, which the scaler cannot run', body: { ...ok, labels: { 'com.openfaas.scale.factor': '0' } }, want: ['labels.com.openfaas.scale.factor = "0": must be a whole number in [1, 100]'] },
    {
      name: 'rejects a minimum above the maximum',
      body: { ...ok, labels: { 'com.openfaas.scale.min': '5', 'com.openfaas.scale.max': '2' } },
      want: ['labels.com.openfaas.scale.min = "5" is above com.openfaas.scale.max = "2"'],
    },
    { name: 'reports several problems at once', body: { service: 'Bad', image: '' }, want: ['service:', 'image:'] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = validateDeployment(c.body);
      expect(got).to.have.length(c.want.length, JSON.stringify(got));
      c.want.forEach((w, i) => expect(got[i]).to.include(w));
    });
  }
});

describe('toDeployment', () => {
  it('drops unknown fields and fills labels and annotations', () => {
    const fd = toDeployment({ ...ok, network: 'x', envVars: { A: '1' } }, 'openfaas-fn');
    expect(fd).to.deep.equal({ service: 'figlet', image: 'functions/figlet:latest', namespace: 'openfaas-fn', envVars: { A: '1' }, labels: {}, annotations: {} });
  });

  it('keeps limits as the same strings', () => {
    const fd = toDeployment({ ...ok, limits: { memory: '5Mi', cpu: '100m' } }, 'openfaas-fn');
    expect(fd.limits).to.deep.equal({ memory: '5Mi', cpu: '100m' });
  });
});
