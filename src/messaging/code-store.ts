/**
 * code-store publishes function code for guest slots, on both backends: the provider bundles a function's directory
 * (watchdog/src/bundle.ts) when the function is deployed or updated and stores it in its namespace's JetStream object
 * store bucket (`hyperfaas-code-<namespace>`), one object per content hash. A lender's watchdog fetches it from there
 * by that hash over its own NATS connection (watchdog/src/code-fetch.ts), so no host path crosses between instances.
 */
import { Objm, type ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { packDir, sha256Hex } from '@hyperfaas/watchdog/bundle';
import { codeBucket, codeKey, type CodeObject } from '@hyperfaas/watchdog/protocol';

/** PublishCode stores a function's directory as its namespace's code object; fnKey ("name.namespace") is kept as description. */
export type PublishCode = (namespace: string, fnKey: string, dir: string) => Promise<CodeObject>;

/** skipped are names never published: version control, not code. */
const skipped = new Set(['.git']);

/** CodeStore keeps bundles in one object store bucket per namespace, one object per content hash. */
export class CodeStore {
  private readonly stores = new Map<string, Promise<ObjectStore>>();

  constructor(private readonly nc: NatsConnection) {}

  private open(bucket: string): Promise<ObjectStore> {
    let s = this.stores.get(bucket);
    if (!s) {
      // create() opens the bucket when it already exists; a failed attempt is not cached.
      s = new Objm(this.nc).create(bucket, { description: 'HyperFaaS function code bundles of one namespace' });
      this.stores.set(bucket, s);
      s.catch(() => this.stores.get(bucket) === s && this.stores.delete(bucket));
    }
    return s;
  }

  /** publish bundles dir and stores it under its hash in namespace's bucket, unless that object is there already. */
  readonly publish: PublishCode = async (namespace, fnKey, dir) => {
    const bucket = codeBucket(namespace);
    const bundle = await packDir(dir, skipped);
    const hash = sha256Hex(bundle);
    const key = codeKey(hash);
    const os = await this.open(bucket);
    // Same content, same key: another function or a re-deploy with the same code has nothing to upload.
    if (!(await os.info(key))) await os.putBlob({ name: key, description: fnKey }, bundle);
    return { bucket, key, hash };
  };
}
