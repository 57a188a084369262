/**
 * code-fetch gets another function's code for the guest slot: a bundle (bundle.ts) that the provider published to
 * the namespace's JetStream object store bucket, keyed by its SHA-256. The watchdog reads it over its own NATS
 * connection with nothing but JetStream message gets on the bucket's stream (protocol.ts subjects.codeGet): the
 * object's meta record by last_by_subj, then its chunks one by one by next_by_subj. That is the only JetStream
 * subject its NATS user may publish to, so it needs no consumer (whose deliveries could be aimed at any subject)
 * and no write access. The bundle is checked against the hash the GS named before anything is unpacked.
 *
 * CodeCache unpacks each bundle once into a private directory of this watchdog (mode 0700, inside the container's
 * own /tmp) and keeps the most recently used few, so lending the same function again costs no fetch.
 */
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Hex, unpackTo } from './bundle.js';
import { codeKey, subjects, type CodeObject } from './protocol.js';

/** Requester is the part of a NATS connection a fetch needs (the ICS's NatsConnection is one). */
export interface Requester {
  request(subject: string, payload: string, opts: { timeout: number }): Promise<{ data: Uint8Array }>;
}

/** hexHash is a SHA-256 in lower-case hex: safe as a file name, and the only hash a code key may carry. */
const hexHash = /^[0-9a-f]{64}$/;

/** checkCodeObject says what is wrong with a code reference for this namespace's bucket, or undefined when it is sound. */
export function checkCodeObject(ref: CodeObject, bucket: string): string | undefined {
  if (ref.bucket !== bucket) return `code bucket ${JSON.stringify(ref.bucket)} is not this namespace's (${bucket})`;
  if (typeof ref.hash !== 'string' || !hexHash.test(ref.hash)) return `code hash ${JSON.stringify(ref.hash)} is not a SHA-256 in hex`;
  if (ref.key !== codeKey(ref.hash)) return `code key ${JSON.stringify(ref.key)} does not name hash ${ref.hash}`;
  return undefined;
}

interface StoredMsg {
  seq: number;
  data: Buffer;
}

/** msgGet asks the stream for one message; undefined when there is none (JetStream's 404). */
async function msgGet(nc: Requester, bucket: string, query: object, timeoutMs: number): Promise<StoredMsg | undefined> {
  const subject = subjects.codeGet(bucket);
  const reply = await nc.request(subject, JSON.stringify(query), { timeout: timeoutMs });
  const r = JSON.parse(new TextDecoder().decode(reply.data)) as {
    error?: { code: number; err_code?: number; description?: string };
    message?: { seq: number; data?: string };
  };
  if (r.error) {
    if (r.error.code === 404) return undefined;
    throw new Error(`JetStream refused ${subject}: ${r.error.description ?? 'error'} (${r.error.code}${r.error.err_code ? `/${r.error.err_code}` : ''})`);
  }
  if (!r.message) throw new Error(`JetStream answered ${subject} without a message`);
  return { seq: r.message.seq, data: Buffer.from(r.message.data ?? '', 'base64') };
}

/** metaSubject is the object store's meta record subject of an object (its name in padded base64url). */
function metaSubject(bucket: string, name: string): string {
  const b64 = Buffer.from(name, 'utf8').toString('base64url');
  return `$O.${bucket}.M.${b64.padEnd(Math.ceil(b64.length / 4) * 4, '=')}`;
}

/** fetchBundle reads one bundle from the object store and checks its SHA-256 against ref.hash. */
export async function fetchBundle(nc: Requester, ref: CodeObject, timeoutMs = 10_000): Promise<Buffer> {
  const meta = await msgGet(nc, ref.bucket, { last_by_subj: metaSubject(ref.bucket, ref.key) }, timeoutMs);
  if (!meta) throw new Error(`code bundle ${ref.key} not found in bucket ${ref.bucket}`);
  const info = JSON.parse(meta.data.toString('utf8')) as { nuid?: string; size?: number; chunks?: number; deleted?: boolean };
  if (info.deleted || typeof info.nuid !== 'string') throw new Error(`code bundle ${ref.key} was deleted from bucket ${ref.bucket}`);
  const parts: Buffer[] = [];
  let size = 0;
  let seq = 1;
  for (let i = 0; i < (info.chunks ?? 0); i++) {
    const m = await msgGet(nc, ref.bucket, { seq, next_by_subj: `$O.${ref.bucket}.C.${info.nuid}` }, timeoutMs);
    if (!m) throw new Error(`code bundle ${ref.key} in bucket ${ref.bucket} is missing chunk ${i + 1} of ${info.chunks}`);
    parts.push(m.data);
    size += m.data.length;
    seq = m.seq + 1;
  }
  const bundle = Buffer.concat(parts, size);
  const got = sha256Hex(bundle);
  if (got !== ref.hash) throw new Error(`code bundle ${ref.key} has hash ${got}, expected ${ref.hash}: refused`);
  return bundle;
}

/** CodeCacheOptions configure a CodeCache. */
export interface CodeCacheOptions {
  /** fetch gets a checked bundle (fetchBundle over the ICS's connection). */
  fetch: (ref: CodeObject) => Promise<Buffer>;
  /** parent is where the private directory is made (default: the OS temp dir, the container's own /tmp). */
  parent?: string;
  /** keep is how many unpacked bundles stay (least recently used go first; default 4). */
  keep?: number;
}

/**
 * CodeCache keeps unpacked bundles by hash in one private directory (0700): `dirFor` fetches, checks and unpacks a
 * bundle at most once while it stays cached, and evicts the least recently used beyond `keep`, never the one
 * `pin`ned (what the guest slot runs now).
 */
export class CodeCache {
  private root: Promise<string> | undefined;
  private readonly dirs = new Map<string, Promise<string>>();
  private pinned: string | undefined;

  constructor(private readonly o: CodeCacheOptions) {}

  private base(): Promise<string> {
    this.root ??= (async () => {
      const parent = this.o.parent ?? tmpdir();
      await mkdir(parent, { recursive: true });
      // mkdtemp makes it 0700, owned by this process's user: the guest runtime (same user) reads it, no one else.
      return mkdtemp(join(parent, 'hyperfaas-code-'));
    })();
    return this.root;
  }

  /** dirFor returns the directory holding ref's bundle, unpacked; it rejects when the fetch or the check fails. */
  dirFor(ref: CodeObject): Promise<string> {
    let d = this.dirs.get(ref.hash);
    if (d) {
      this.dirs.delete(ref.hash);
      this.dirs.set(ref.hash, d);
      return d;
    }
    d = this.unpack(ref);
    this.dirs.set(ref.hash, d);
    d.catch(() => this.dirs.get(ref.hash) === d && this.dirs.delete(ref.hash));
    void this.evict();
    return d;
  }

  /** pin keeps hash's directory from eviction (the guest slot runs it); undefined unpins. */
  pin(hash: string | undefined): void {
    this.pinned = hash;
  }

  /** cached lists the hashes held now, least recently used first. */
  cached(): string[] {
    return [...this.dirs.keys()];
  }

  private async unpack(ref: CodeObject): Promise<string> {
    const bundle = await this.o.fetch(ref);
    const root = await this.base();
    const tmp = await mkdtemp(join(root, '.unpack-'));
    const dest = join(root, ref.hash);
    try {
      await unpackTo(bundle, tmp);
      await rm(dest, { recursive: true, force: true });
      await rename(tmp, dest);
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
    return dest;
  }

  private async evict(): Promise<void> {
    const keep = this.o.keep ?? 4;
    for (const [hash, d] of this.dirs) {
      if (this.dirs.size <= keep) return;
      if (hash === this.pinned) continue;
      this.dirs.delete(hash);
      await d.then((dir) => rm(dir, { recursive: true, force: true })).catch(() => undefined);
    }
  }

  /** close removes the private directory and everything in it. */
  async close(): Promise<void> {
    const root = this.root;
    this.dirs.clear();
    if (root) await rm(await root, { recursive: true, force: true }).catch(() => undefined);
  }
}
