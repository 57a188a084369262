import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../../src/paths.js';

const run = promisify(execFile);

async function tree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.set(relative(dir, p), await readFile(p, 'utf8'));
    }
  };
  await walk(dir);
  return out;
}

describe('scripts/shrinkwrap.mjs', function () {
  this.timeout(30_000);
  let out: string;
  before(async () => {
    out = await mkdtemp(join(tmpdir(), 'hf-shrink-'));
  });
  after(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it('reproduces the committed stack-templates/examples/build exactly', async () => {
    const examples = join(repoRoot, 'stack-templates', 'examples');
    await run(process.execPath, [join(repoRoot, 'scripts', 'shrinkwrap.mjs'), '-f', join(examples, 'stack.yml'), '--output', out]);
    const want = await tree(join(examples, 'build'));
    const got = await tree(out);
    expect([...got.keys()].sort()).to.deep.equal([...want.keys()].sort());
    for (const [k, v] of want) expect(got.get(k), k).to.equal(v);
    expect([...got.keys()]).to.include.members(['echo/index.js', 'echo/function/handler.js', 'cpu/template.yml', 'sleep/Dockerfile']);
  });

  it('lays the handler over the template function folder', async () => {
    const handler = await readFile(join(out, 'echo', 'function', 'handler.js'), 'utf8');
    expect(handler).to.equal(await readFile(join(repoRoot, 'stack-templates', 'examples', 'echo', 'handler.js'), 'utf8'));
  });

  it('fails with a message for an unknown function', async () => {
    let err: { stderr?: string } | undefined;
    await run(process.execPath, [join(repoRoot, 'scripts', 'shrinkwrap.mjs'), '-f', join(repoRoot, 'stack-templates', 'examples', 'stack.yml'), '--filter', 'nope', '--output', out]).catch((e) => (err = e));
    expect(err?.stderr).to.contain('no function nope');
  });
});
