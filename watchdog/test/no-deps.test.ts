import { expect } from 'chai';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { repo } from './helpers.js';

const wdRoot = join(repo, 'watchdog');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

describe('watchdog package boundaries', () => {
  it('depends on prom-client and @nats-io/transport-node only', () => {
    const pkg = JSON.parse(readFileSync(join(wdRoot, 'package.json'), 'utf8')) as { name: string; type: string; bin: Record<string, string>; dependencies: Record<string, string> };
    expect(pkg.name).to.equal('@hyperfaas/watchdog');
    expect(pkg.type).to.equal('module');
    expect(pkg.bin['hyperfaas-watchdog']).to.equal('dist/src/main.js');
    expect(Object.keys(pkg.dependencies).sort()).to.deep.equal(['@nats-io/transport-node', 'prom-client']);
  });

  it('imports nothing from the provider, and only node: built-ins and its own dependencies', () => {
    const files = sources(join(wdRoot, 'src'));
    expect(files.length).to.be.greaterThan(5);
    const bad: string[] = [];
    for (const f of files) {
      for (const spec of imports(f)) {
        const where = `${relative(repo, f)} imports ${spec}`;
        if (spec.startsWith('.')) {
          const target = relative(wdRoot, join(f, '..', spec));
          if (target.startsWith('..')) bad.push(where); // points out of watchdog/, e.g. ../../src
        } else if (!spec.startsWith('node:') && spec !== 'prom-client' && !spec.startsWith('@nats-io/transport-node')) {
          bad.push(where);
        }
      }
    }
    expect(bad).to.deep.equal([]);
  });

  it('the Node runtime and the template use no packages', () => {
    for (const f of [join(wdRoot, 'runtime', 'node', 'server.js'), join(repo, 'stack-templates', 'template', 'node20', 'index.js')]) {
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/(?:from\s+|require\()\s*['"]([^'"]+)['"]/g)) expect(m[1], `${f}: ${m[1]}`).to.match(/^node:/);
    }
  });
});
