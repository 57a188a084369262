/**
 * code-source is where a generic (guest) slot gets a function's code from on Kubernetes: a home container
 * publishes its own function directory to the NATS JetStream object store at start, keyed by content hash, and a
 * container specialising its guest slot fetches it from there (DESIGN.md, "Code source").
 *
 * The bundle format is our own, so no archive dependency is needed. It is deterministic (sorted paths, no
 * timestamps, no owners), so the same tree always hashes the same:
 *
 *   "HFBUNDLE1\n" then, per entry, one JSON header line {"p":path,"t":"f"|"d"|"l","m":mode,"s":size} + "\n",
 *   followed by `s` raw bytes for a file ("f") or the link target for a symlink ("l"); directories ("d") have s=0.
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, symlink, writeFile, chmod } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { Objm, type ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';

/** CodeRef names one published bundle (the shape of protocol.ts's `code: { kind: 'object', ... }`). */
export interface CodeRef {
  bucket: string;
  key: string;
  /** hash is the bundle's SHA-256, hex; fetch refuses a bundle that does not match it. */
  hash: string;
}

/** CodeSource publishes a function directory and fetches it back into another container. */
export interface CodeSource {
  /** publish bundles dir and stores it once per content hash; fnKey ("name.namespace") is kept as description. */
  publish(fnKey: string, dir: string): Promise<CodeRef>;
  /** fetch writes the bundle's tree into destDir, which must not exist yet (it is created atomically). */
  fetch(ref: CodeRef, destDir: string): Promise<void>;
}

/** codeBucket is the object store bucket for function code. */
export const codeBucket = 'hyperfaas-code';

const magic = Buffer.from('HFBUNDLE1\n');

interface Header {
  p: string;
  t: 'f' | 'd' | 'l';
  m: number;
  s: number;
}

/** packDir bundles a directory tree (files, directories, symlinks; nothing else) into one deterministic buffer. */
export async function packDir(root: string): Promise<Buffer> {
  const parts: Buffer[] = [magic];
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(root, rel))).sort();
    for (const name of names) {
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

/** unpackTo writes a bundle into root (which must exist). Symlinks may not point outside root. */
export async function unpackTo(bundle: Buffer, root: string): Promise<void> {
  if (!bundle.subarray(0, magic.length).equals(magic)) throw new Error('not a HyperFaaS code bundle');
  let at = magic.length;
  const dirModes: [string, number][] = [];
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
    if (h.t === 'd') {
      await mkdir(target, { recursive: true, mode: 0o700 });
      dirModes.push([target, mode]);
    } else if (h.t === 'f') {
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, body, { mode });
      await chmod(target, mode);
    } else if (h.t === 'l') {
      const dest = body.toString('utf8');
      const resolved = resolve(dirname(target), dest);
      if (isAbsolute(dest) || (resolved !== root && !resolved.startsWith(root + sep))) {
        throw new Error(`symlink ${h.p} points outside the bundle: ${dest}`);
      }
      await symlink(dest, target);
    } else {
      throw new Error(`unknown bundle entry type ${JSON.stringify((h as { t: unknown }).t)}`);
    }
  }
  // Directory modes last, so a read-only directory does not stop its own files being written.
  for (const [d, m] of dirModes.reverse()) await chmod(d, m);
}

/** sha256Hex hashes a buffer. */
export function sha256Hex(b: Buffer | Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** NatsCodeSource keeps bundles in the JetStream object store bucket hyperfaas-code, one object per content hash. */
export class NatsCodeSource implements CodeSource {
  private store: Promise<ObjectStore> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly bucket = codeBucket,
  ) {}

  private open(): Promise<ObjectStore> {
    // create() opens the bucket when it already exists; a failed attempt is not cached.
    this.store ??= new Objm(this.nc).create(this.bucket, { description: 'HyperFaaS function code bundles' }).catch((e: unknown) => {
      this.store = undefined;
      throw e;
    });
    return this.store;
  }

  async publish(fnKey: string, dir: string): Promise<CodeRef> {
    const bundle = await packDir(dir);
    const hash = sha256Hex(bundle);
    const key = `sha256-${hash}`;
    const os = await this.open();
    // Same content, same key: a second publisher (another replica of the function) has nothing to upload.
    if (!(await os.info(key))) await os.putBlob({ name: key, description: fnKey }, bundle);
    return { bucket: this.bucket, key, hash };
  }

  async fetch(ref: CodeRef, destDir: string): Promise<void> {
    if (ref.bucket !== this.bucket) throw new Error(`code ref names bucket ${ref.bucket}, this source reads ${this.bucket}`);
    const os = await this.open();
    const data = await os.getBlob(ref.key);
    if (!data) throw new Error(`code bundle ${ref.key} not found in bucket ${ref.bucket}`);
    const bundle = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const got = sha256Hex(bundle);
    if (got !== ref.hash) throw new Error(`code bundle ${ref.key} has hash ${got}, expected ${ref.hash}`);
    const dest = resolve(destDir);
    if (await lstat(dest).then(() => true, () => false)) throw new Error(`cannot fetch code into ${dest}: it already exists`);
    const tmp = await mkdtemp(join(dirname(dest), '.hyperfaas-code-'));
    try {
      await unpackTo(bundle, tmp);
      await chmod(tmp, 0o755);
      await rename(tmp, dest);
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
  }
}
