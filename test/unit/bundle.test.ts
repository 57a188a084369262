import { expect } from 'chai';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unpackTo } from '@hyperfaas/watchdog/bundle';

/** bundleOf writes entries in the bundle format by hand, to build ones packDir never would. */
function bundleOf(entries: { p: string; t: 'f' | 'd' | 'l'; body?: string }[]): Buffer {
  const parts = [Buffer.from('HFBUNDLE1\n')];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    parts.push(Buffer.from(`${JSON.stringify({ p: e.p, t: e.t, m: e.t === 'd' ? 0o755 : 0o644, s: body.length })}\n`), body);
  }
  return Buffer.concat(parts);
}

describe('bundle unpackTo refuses every way out of its root', () => {
  let base: string;
  let root: string;
  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'hf-bundle-'));
    root = join(base, 'root');
    await mkdir(root);
  });
  afterEach(() => rm(base, { recursive: true, force: true }));

  const cases: { name: string; entries: Parameters<typeof bundleOf>[0]; want: RegExp }[] = [
    {
      name: 'a file written through a chain of symlinks that leads to the parent',
      entries: [
        { p: 'd1', t: 'd' },
        { p: 'd1/l', t: 'l', body: '..' },
        { p: 'a', t: 'l', body: 'd1/l/..' },
        { p: 'a/evil', t: 'f', body: 'x' },
      ],
      want: /bundle entry a\/evil would be written through a symlink/,
    },
    {
      name: 'a symlink whose chain ends outside, even with no file behind it',
      entries: [
        { p: 'd1', t: 'd' },
        { p: 'd1/l', t: 'l', body: '..' },
        { p: 'a', t: 'l', body: 'd1/l/..' },
      ],
      want: /symlink a leads outside the bundle/,
    },
    { name: 'an absolute symlink', entries: [{ p: 'a', t: 'l', body: '/etc' }], want: /symlink a points outside the bundle: \/etc/ },
    {
      name: 'a file that replaces a symlink',
      entries: [
        { p: 'x', t: 'f', body: '1' },
        { p: 'l', t: 'l', body: 'x' },
        { p: 'l', t: 'f', body: '2' },
      ],
      want: /bundle entry l appears twice/,
    },
    { name: 'a path with ..', entries: [{ p: '../x', t: 'f', body: '1' }], want: /unsafe path in bundle: "..\/x"/ },
  ];
  for (const c of cases) {
    it(`rejects ${c.name}`, async () => {
      let err: unknown;
      await unpackTo(bundleOf(c.entries), root).catch((e: unknown) => (err = e));
      expect(String(err)).to.match(c.want);
      expect(await readdir(base)).to.deep.equal(['root']);
    });
  }
});
