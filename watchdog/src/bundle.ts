/**
 * bundle packs a directory tree into one buffer and writes it back elsewhere: function code travels this way from
 * the provider to a lender's guest slot (through the JetStream object store: code-fetch.ts) and from a user's build
 * folder to the provider (hyperfaas publish). It lives in the watchdog package, which exports it to the provider.
 *
 * The format is our own, so no archive dependency is needed. It is deterministic (sorted paths, no
 * timestamps, no owners), so the same tree always hashes the same:
 *
 *   "HFBUNDLE1\n" then, per entry, one JSON header line {"p":path,"t":"f"|"d"|"l","m":mode,"s":size} + "\n",
 *   followed by `s` raw bytes for a file ("f") or the link target for a symlink ("l"); directories ("d") have s=0.
 */
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, readlink, realpath, symlink, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';

const magic = Buffer.from('HFBUNDLE1\n');

interface Header {
  p: string;
  t: 'f' | 'd' | 'l';
  m: number;
  s: number;
}

/**
 * packDir bundles a directory tree (files, directories, symlinks; nothing else) into one deterministic buffer.
 * skip leaves out entries by name at any depth (e.g. node_modules, .git).
 */
export async function packDir(root: string, skip: ReadonlySet<string> = new Set()): Promise<Buffer> {
  const parts: Buffer[] = [magic];
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(root, rel))).sort();
    for (const name of names) {
      if (skip.has(name)) continue;
      const p = rel ? `${rel}/${name}` : name;
      const full = join(root, p);
      const st = await lstat(full);
      const m = st.mode & 0o777;
      let body = Buffer.alloc(0);
      let t: Header['t'];
      if (st.isSymbolicLink()) {
        t = 'l';
        body = Buffer.from(await readlink(full));
      } else if (st.isDirectory()) {
        t = 'd';
      } else if (st.isFile()) {
        t = 'f';
        body = await readFile(full);
      } else {
        continue; // sockets, fifos and devices are not code
      }
      parts.push(Buffer.from(`${JSON.stringify({ p, t, m, s: body.length } satisfies Header)}\n`), body);
      if (t === 'd') await walk(p);
    }
  };
  await walk('');
  return Buffer.concat(parts);
}

/** safeTarget resolves a bundle path under root, refusing absolute paths and any way out of root. */
function safeTarget(root: string, p: string): string {
  if (p === '' || isAbsolute(p) || p.split('/').includes('..') || p.includes('\0')) throw new Error(`unsafe path in bundle: ${JSON.stringify(p)}`);
  const full = resolve(root, normalize(p));
  if (full !== root && !full.startsWith(root + sep)) throw new Error(`unsafe path in bundle: ${JSON.stringify(p)}`);
  return full;
}

function within(p: string, root: string): boolean {
  return p === root || p.startsWith(root + sep);
}

/** realAncestor is the real path of p's deepest existing ancestor (p itself when it exists). */
async function realAncestor(p: string): Promise<string> {
  for (let d = p; ; d = dirname(d)) {
    try {
      return await realpath(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(d) === d) throw e;
    }
  }
}

/**
 * unpackTo writes a bundle into root (which must exist). Nothing is written through a symlink, no entry replaces
 * another, and every symlink must end inside root (checked on disk once all entries exist, so a chain of links
 * cannot lead out either); anything else rejects the bundle.
 */
export async function unpackTo(bundle: Buffer, root: string): Promise<void> {
  if (!bundle.subarray(0, magic.length).equals(magic)) throw new Error('not a HyperFaaS code bundle');
  const realRoot = await realpath(root);
  let at = magic.length;
  const dirModes: [string, number][] = [];
  const links: [string, string][] = [];
  const exists = (p: string) => lstat(p).then(() => true, () => false);
  while (at < bundle.length) {
    const nl = bundle.indexOf(0x0a, at);
    if (nl < 0) throw new Error('truncated bundle header');
    const h = JSON.parse(bundle.subarray(at, nl).toString('utf8')) as Header;
    at = nl + 1;
    if (!Number.isSafeInteger(h.s) || h.s < 0 || at + h.s > bundle.length) throw new Error(`truncated bundle entry ${h.p}`);
    const body = bundle.subarray(at, at + h.s);
    at += h.s;
    const target = safeTarget(root, h.p);
    const mode = h.m & 0o777;
    if (!within(await realAncestor(dirname(target)), realRoot)) throw new Error(`bundle entry ${h.p} would be written through a symlink`);
    if (h.t === 'd') {
      const st = await lstat(target).catch(() => undefined);
      if (st && !st.isDirectory()) throw new Error(`bundle entry ${h.p} appears twice`);
      await mkdir(target, { recursive: true, mode: 0o700 });
      dirModes.push([target, mode]);
    } else if (h.t === 'f') {
      if (await exists(target)) throw new Error(`bundle entry ${h.p} appears twice`);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, body, { mode, flag: 'wx' });
      await chmod(target, mode);
    } else if (h.t === 'l') {
      const dest = body.toString('utf8');
      const resolved = resolve(dirname(target), dest);
      if (isAbsolute(dest) || (resolved !== root && !resolved.startsWith(root + sep))) {
        throw new Error(`symlink ${h.p} points outside the bundle: ${dest}`);
      }
      if (await exists(target)) throw new Error(`bundle entry ${h.p} appears twice`);
      await mkdir(dirname(target), { recursive: true });
      await symlink(dest, target);
      links.push([h.p, target]);
    } else {
      throw new Error(`unknown bundle entry type ${JSON.stringify((h as { t: unknown }).t)}`);
    }
  }
  for (const [p, target] of links) {
    const real = await realpath(target).catch(() => undefined);
    if (real === undefined) throw new Error(`symlink ${p} points to nothing in the bundle`);
    if (!within(real, realRoot)) throw new Error(`symlink ${p} leads outside the bundle (to ${real})`);
  }
  // Directory modes last, so a read-only directory does not stop its own files being written.
  for (const [d, m] of dirModes.reverse()) await chmod(d, m);
}

/** sha256Hex hashes a buffer. */
export function sha256Hex(b: Buffer | Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

