/**
 * The provider's layers, read from the import graph of src/: a module imports only from its own folder and from
 * the layers below its own, so no import runs upward and no two folders import each other. A folder or file at
 * the top of src/ that is not placed here fails the test, so every new one is given its place on purpose.
 * The watchdog is its own package (an npm workspace): the provider imports it by name, @hyperfaas/watchdog/<module>,
 * and only the modules its package.json exports, never a path inside watchdog/.
 */
import { expect } from 'chai';
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
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

/** watchdogShared are the subpaths the watchdog's package.json exports for the provider ("protocol", "units", ...). */
const watchdogPackage = JSON.parse(readFileSync(join(repoRoot, 'watchdog', 'package.json'), 'utf8')) as { name: string; exports: Record<string, string> };
const watchdogShared = new Set(
  Object.keys(watchdogPackage.exports)
    .filter((name) => name !== '.' && name !== './package.json')
    .map((name) => name.slice(2)),
);

const src = join(repoRoot, 'src');
const watchdogDir = join(repoRoot, 'watchdog');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** importsOf returns every module a file imports or re-exports, static or dynamic, as written. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm)) out.push(m[1]!);
  return out;
}

/** relativeImports returns the relative modules among a file's imports. */
function relativeImports(file: string): string[] {
  return importsOf(file).filter((spec) => /^\.{1,2}\//.test(spec));
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

  it('imports the watchdog by its package name, never by a path inside watchdog/ (src, test and bench alike)', () => {
    // A path into watchdog/ type-checks through the project reference, but at run time it points into dist/, where
    // the watchdog is not built: only the package name resolves to the compiled watchdog.
    const bad: string[] = [];
    for (const file of [...files, ...sources(join(repoRoot, 'test')), ...sources(join(repoRoot, 'bench'))]) {
      for (const spec of relativeImports(file)) {
        const target = resolve(dirname(file), spec);
        if (target === watchdogDir || target.startsWith(watchdogDir + '/')) bad.push(`${relative(repoRoot, file)} imports ${spec}`);
      }
    }
    expect(bad).to.deep.equal([]);
  });

  it("imports only the watchdog's exported modules, never its internals", () => {
    const bad: string[] = [];
    for (const file of files) {
      for (const spec of importsOf(file)) {
        if (spec !== watchdogPackage.name && !spec.startsWith(watchdogPackage.name + '/')) continue;
        if (!watchdogShared.has(spec.slice(watchdogPackage.name.length + 1))) bad.push(`${relative(repoRoot, file)} imports ${spec}`);
      }
    }
    expect(bad).to.deep.equal([]);
  });

  it("resolves the watchdog's package name to this repository's watchdog/", () => {
    // npm links the workspace into node_modules; a node_modules borrowed from another checkout would link to that
    // checkout's watchdog instead, and the provider would run against a different build of the shared protocol.
    expect(realpathSync(join(repoRoot, 'node_modules', ...watchdogPackage.name.split('/')))).to.equal(realpathSync(watchdogDir));
  });

  it('reads imports the way the compiler writes them', () => {
    // A guard for the regular expression above: if it stopped matching, the tests above would pass on nothing.
    const main = relativeImports(join(src, 'main.ts'));
    expect(main).to.include('./config.js');
    expect(main.some((s) => s.startsWith('./backends/kubernetes/'))).to.equal(true);
    expect(importsOf(join(src, 'gs', 'nats', 'bounce-responder.ts'))).to.include(`${watchdogPackage.name}/bounce-codec`);
  });
});
