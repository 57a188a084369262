/**
 * code-source is where a generic (guest) slot gets a function's code from on Kubernetes: a home container
 * publishes its own function directory to the NATS JetStream object store at start, keyed by content hash, and a
 * container specialising its guest slot fetches it from there, so no host path crosses between pods.
 *
 * The bundle format is src/bundle.ts's (packDir/unpackTo), re-exported here.
 */
import { lstat, mkdtemp, rename, rm, chmod } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Objm, type ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { packDir, sha256Hex, unpackTo } from '../../bundle.js';

export { packDir, sha256Hex, unpackTo };

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
