import { expect } from 'chai';
import { parseInvokePath } from '../../../src/router/target.js';

describe('parseInvokePath', () => {
  const cases: { name: string; url: string; want: ReturnType<typeof parseInvokePath> }[] = [
    { name: 'uses the default namespace without a dot', url: '/function/figlet', want: { name: 'figlet', namespace: 'openfaas-fn', path: '/', query: '' } },
    { name: 'splits name.namespace', url: '/function/figlet.team-a', want: { name: 'figlet', namespace: 'team-a', path: '/', query: '' } },
    { name: 'splits on the LAST dot', url: '/function/my.fn.team-a/x', want: { name: 'my.fn', namespace: 'team-a', path: '/x', query: '' } },
    { name: 'keeps the trailing slash the gateway queue worker sends', url: '/function/figlet/', want: { name: 'figlet', namespace: 'openfaas-fn', path: '/', query: '' } },
    { name: 'keeps the rest of the path and the raw query', url: '/function/figlet.openfaas-fn/a/b?x=1&y=%20', want: { name: 'figlet', namespace: 'openfaas-fn', path: '/a/b', query: 'x=1&y=%20' } },
    { name: 'keeps a query without a path', url: '/function/figlet?testing=1', want: { name: 'figlet', namespace: 'openfaas-fn', path: '/', query: 'testing=1' } },
    { name: 'treats a trailing dot as the default namespace', url: '/function/figlet.', want: { name: 'figlet', namespace: 'openfaas-fn', path: '/', query: '' } },
    { name: 'refuses an empty name (the certifier\'s /function/.openfaas-fn)', url: '/function/.openfaas-fn', want: null },
    { name: 'refuses /function/ alone', url: '/function/', want: null },
    { name: 'refuses other prefixes', url: '/functions/figlet', want: null },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(parseInvokePath(c.url, 'openfaas-fn')).to.deep.equal(c.want);
    });
  }
});
