/**
 * The provider's layers, read from the import graph of src/: a module imports only from its own folder and from
 * the layers below its own, so no import runs upward and no two folders import each other. A folder or file at
 * the top of src/ that is not placed here fails the test, so every new one is given its place on purpose.
 * The watchdog is its own package: the provider may use only the modules its package.json exports, never its
 * internals.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { repoRoot } from '../../src/paths.js';

/** layers lists the top-level folders and files of src/, lowest first; a unit may import from lower layers only. */
const layers: readonly (readonly string[])[] = [
  ['types', 'names', 'units', 'paths', 'logger', 'metrics'],
  ['config', 'scaling'],
  ['messaging'],
  ['backends'],
  ['invoke'],
  ['gs'],
  ['control'],
  ['observe'],
  ['router'],
  ['async'],
  ['api'],
  ['cli'],
  ['main'],
];

/**
 * watchdogShared are the watchdog modules the provider may import: those its package.json exports (the wire
 * protocol and the rules both sides share), as paths under watchdog/src without ".js".
 */
const watchdogPackage = JSON.parse(readFileSync(join(repoRoot, 'watchdog', 'package.json'), 'utf8')) as { exports: Record<string, string> };
const watchdogShared = new Set(
  Object.entries(watchdogPackage.exports)
    .filter(([name]) => name !== '.' && name !== './package.json')
    .map(([, target]) => target.replace(/^\.\/dist\/src\//, '').replace(/\.js$/, '')),
);

const src = join(repoRoot, 'src');
const watchdogSrc = join(repoRoot, 'watchdog', 'src');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** relativeImports returns every relative module a file imports or re-exports, static or dynamic. */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)) out.push(m[1]!);
  return out;
}

/** unitOf names the top-level folder or file of src/ that path belongs to ("gs", "main"). */
function unitOf(path: string): string {
  return relative(src, path).split('/')[0]!.replace(/\.(ts|js)$/, '');
}

const level = new Map<string, number>();
layers.forEach((units, i) => units.forEach((u) => level.set(u, i)));

describe('layering of src/', () => {
  const files = sources(src);

  it('places every top-level folder and file of src/ in a layer', () => {
    const units = new Set(files.map(unitOf));
    expect([...units].filter((u) => !level.has(u)).sort()).to.deep.equal([]);
  });

  it('has no import from a layer to the same or a higher one, so none upward and none circular between folders', () => {
    const bad: string[] = [];
    for (const file of files) {
      const from = unitOf(file);
      for (const spec of relativeImports(file)) {
        const target = resolve(dirname(file), spec);
        if (!target.startsWith(src + '/')) continue;
        const to = unitOf(target);
        if (to === from) continue;
        if (!(level.get(to)! < level.get(from)!)) bad.push(`${relative(repoRoot, file)} imports ${spec} (${from} -> ${to})`);
      }
    }
    expect(bad).to.deep.equal([]);
  });

  it("imports only the watchdog's shared modules, never its internals", () => {
    const bad: string[] = [];
    for (const file of files) {
      for (const spec of relativeImports(file)) {
        const target = resolve(dirname(file), spec);
        if (!target.startsWith(watchdogSrc + '/')) continue;
        const mod = relative(watchdogSrc, target).replace(/\.js$/, '');
        if (!watchdogShared.has(mod)) bad.push(`${relative(repoRoot, file)} imports ${spec}`);
      }
    }
    expect(bad).to.deep.equal([]);
  });

  it('reads imports the way the compiler writes them', () => {
    // A guard for the regular expression above: if it stopped matching, the tests above would pass on nothing.
    const main = relativeImports(join(src, 'main.ts'));
    expect(main).to.include('./config.js');
    expect(main.some((s) => s.startsWith('./backends/kubernetes/'))).to.equal(true);
  });
});
