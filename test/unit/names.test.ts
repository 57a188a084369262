import { expect } from 'chai';
import { functionKey, labelProblem, parseFunctionKey, secretNameProblem } from '../../src/names.js';

describe('parseFunctionKey', () => {
  const cases: { name: string; key: string; want: { name: string; namespace: string } }[] = [
    { name: 'uses the default namespace without a dot', key: 'figlet', want: { name: 'figlet', namespace: 'openfaas-fn' } },
    { name: 'reads name.namespace', key: 'figlet.team-a', want: { name: 'figlet', namespace: 'team-a' } },
    { name: 'splits at the last dot', key: 'a.b.c', want: { name: 'a.b', namespace: 'c' } },
    { name: 'uses the default namespace after a trailing dot', key: 'figlet.', want: { name: 'figlet', namespace: 'openfaas-fn' } },
    { name: 'keeps a leading dot in the name', key: '.x', want: { name: '.x', namespace: 'openfaas-fn' } },
  ];
  for (const c of cases) it(c.name, () => expect(parseFunctionKey(c.key, 'openfaas-fn')).to.deep.equal(c.want));

  it('reads back what functionKey writes', () => {
    expect(functionKey('figlet', 'team-a')).to.equal('figlet.team-a');
    expect(parseFunctionKey(functionKey('figlet', 'team-a'), 'x')).to.deep.equal({ name: 'figlet', namespace: 'team-a' });
  });
});

describe('name rules', () => {
  const labels: { name: string; value: unknown; ok: boolean }[] = [
    { name: 'accepts a DNS-1123 label', value: 'figlet-2', ok: true },
    { name: 'refuses an empty name', value: '', ok: false },
    { name: 'refuses capitals', value: 'Figlet', ok: false },
    { name: 'refuses a dot', value: 'a.b', ok: false },
    { name: 'refuses 64 characters', value: 'a'.repeat(64), ok: false },
  ];
  for (const c of labels) it(`labelProblem ${c.name}`, () => expect(labelProblem(c.value) === undefined).to.equal(c.ok));

  it('secretNameProblem accepts dotted names and refuses capitals', () => {
    expect(secretNameProblem('db.password')).to.equal(undefined);
    expect(secretNameProblem('Key')).to.contain('DNS-1123 subdomain');
  });
});
