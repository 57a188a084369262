import { expect } from 'chai';
import { mkdtemp, mkdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packDir, sha256Hex, unpackTo } from '@hyperfaas/watchdog/bundle';

describe('code bundle: packDir and unpackTo', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hf-bundle-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const tree = async (root: string) => {
    await mkdir(join(root, 'lib', 'deep'), { recursive: true });
    await writeFile(join(root, 'index.js'), 'module.exports = () => "hi";\n');
    await writeFile(join(root, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    await writeFile(join(root, 'lib', 'deep', 'data.bin'), Buffer.from([0, 1, 2, 255, 10, 13]));
    await writeFile(join(root, 'lib', 'empty.txt'), '');
    await symlink('lib/deep/data.bin', join(root, 'link.bin'));
  };

  it('round-trips files, bytes, modes, empty files and relative symlinks', async () => {
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    await mkdir(src);
    await mkdir(dst);
    await tree(src);
    await unpackTo(await packDir(src), dst);
    expect(await readFile(join(dst, 'index.js'), 'utf8')).to.equal('module.exports = () => "hi";\n');
    expect([...(await readFile(join(dst, 'lib', 'deep', 'data.bin')))]).to.deep.equal([0, 1, 2, 255, 10, 13]);
    expect((await readFile(join(dst, 'lib', 'empty.txt'))).length).to.equal(0);
    expect((await stat(join(dst, 'run.sh'))).mode & 0o777).to.equal(0o755);
    expect(await readlink(join(dst, 'link.bin'))).to.equal('lib/deep/data.bin');
  });

  it('gives the same bytes, and so the same hash, for the same tree built twice', async () => {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    await mkdir(a);
    await mkdir(b);
    await tree(a);
    await tree(b);
    expect(sha256Hex(await packDir(a))).to.equal(sha256Hex(await packDir(b)));
  });

  it('gives a different hash when one byte changes', async () => {
    const a = join(dir, 'a');
    await mkdir(a);
    await tree(a);
    const before = sha256Hex(await packDir(a));
    await writeFile(join(a, 'lib', 'empty.txt'), 'x');
    expect(sha256Hex(await packDir(a))).not.to.equal(before);
  });

  const hostile = [
    { name: 'refuses a path that climbs out with ..', entry: { p: '../evil', t: 'f', m: 0o644, s: 1 }, body: 'x' },
    { name: 'refuses an absolute path', entry: { p: '/etc/evil', t: 'f', m: 0o644, s: 1 }, body: 'x' },
    { name: 'refuses a symlink that points outside', entry: { p: 'l', t: 'l', m: 0o777, s: 6 }, body: '../../' },
    { name: 'refuses an entry longer than the bundle', entry: { p: 'f', t: 'f', m: 0o644, s: 99 }, body: 'x' },
  ];
  for (const c of hostile) {
    it(c.name, async () => {
      const bundle = Buffer.concat([Buffer.from('HFBUNDLE1\n'), Buffer.from(`${JSON.stringify(c.entry)}\n`), Buffer.from(c.body)]);
      const dst = join(dir, 'dst');
      await mkdir(dst);
      let err: unknown;
      try {
        await unpackTo(bundle, dst);
      } catch (e) {
        err = e;
      }
      expect(err, 'unpack should fail').to.be.instanceOf(Error);
    });
  }

  it('refuses something that is not a bundle', async () => {
    let err: unknown;
    await unpackTo(Buffer.from('PK\x03\x04zip'), dir).catch((e: unknown) => (err = e));
    expect(String(err)).to.contain('not a HyperFaaS code bundle');
  });
});
