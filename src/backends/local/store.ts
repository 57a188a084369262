/**
 * store persists what must survive a provider restart under the data dir: functions (their deployment, createdAt
 * and desired replicas) as JSON, and secrets as raw files with owner-only permissions (dirs 0700, files 0600).
 * Writes are atomic (temp file, then rename), so a crash never leaves half a file behind.
 */
import { chmod, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FunctionDeployment } from '../../types/index.js';

/** StoredFunction is one function as persisted. */
export interface StoredFunction {
  spec: FunctionDeployment & { namespace: string };
  /** createdAt is RFC 3339. */
  createdAt: string;
  /** replicas is the desired count. */
  replicas: number;
  /** uid is the function's own user id under runc, kept so it never changes hands while the function exists. */
  uid?: number;
}

/** safeName is the shape of names the store accepts as file names (DNS-1123 subdomain). */
export const safeName = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function check(kind: string, name: string): void {
  if (!safeName.test(name) || name.includes('..')) throw new Error(`unsafe ${kind} name ${JSON.stringify(name)}`);
}

let tmpSeq = 0;

async function atomicWrite(path: string, data: string | Buffer, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${++tmpSeq}`;
  await writeFile(tmp, data, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

/** Store reads and writes functions and secrets under dataDir. */
export class Store {
  readonly functionsDir: string;
  readonly secretsDir: string;

  constructor(readonly dataDir: string) {
    this.functionsDir = join(dataDir, 'functions');
    this.secretsDir = join(dataDir, 'secrets');
  }

  /** init creates the directories (secrets owner-only). */
  async init(): Promise<void> {
    await mkdir(this.functionsDir, { recursive: true });
    await mkdir(this.secretsDir, { recursive: true, mode: 0o700 });
    await chmod(this.secretsDir, 0o700);
  }

  /** loadFunctions reads every stored function; unreadable files are reported through onError and skipped. */
  async loadFunctions(onError: (file: string, e: unknown) => void = () => undefined): Promise<StoredFunction[]> {
    const out: StoredFunction[] = [];
    for (const ns of await readdir(this.functionsDir).catch(() => [] as string[])) {
      for (const f of await readdir(join(this.functionsDir, ns)).catch(() => [] as string[])) {
        if (!f.endsWith('.json')) continue;
        const file = join(this.functionsDir, ns, f);
        try {
          const sf = JSON.parse(await readFile(file, 'utf8')) as StoredFunction;
          if (!sf.spec?.service || sf.spec.namespace !== ns || typeof sf.replicas !== 'number') throw new Error('not a stored function');
          out.push(sf);
        } catch (e) {
          onError(file, e);
        }
      }
    }
    return out;
  }

  /** saveFunction writes one function. */
  async saveFunction(sf: StoredFunction): Promise<void> {
    check('namespace', sf.spec.namespace);
    check('function', sf.spec.service);
    const dir = join(this.functionsDir, sf.spec.namespace);
    await mkdir(dir, { recursive: true });
    await atomicWrite(join(dir, `${sf.spec.service}.json`), JSON.stringify(sf, null, 2), 0o600);
  }

  /** deleteFunction removes one function's file (missing is fine). */
  async deleteFunction(namespace: string, name: string): Promise<void> {
    check('namespace', namespace);
    check('function', name);
    await rm(join(this.functionsDir, namespace, `${name}.json`), { force: true });
  }

  /** loadSecrets reads every secret as namespace -> name -> value. */
  async loadSecrets(): Promise<Map<string, Map<string, Buffer>>> {
    const out = new Map<string, Map<string, Buffer>>();
    for (const ns of await readdir(this.secretsDir).catch(() => [] as string[])) {
      const m = new Map<string, Buffer>();
      for (const f of await readdir(join(this.secretsDir, ns)).catch(() => [] as string[])) {
        if (!safeName.test(f)) continue; // temp files and strays
        m.set(f, await readFile(join(this.secretsDir, ns, f)));
      }
      out.set(ns, m);
    }
    return out;
  }

  /** secretPath is where a secret's value lives. */
  secretPath(namespace: string, name: string): string {
    check('namespace', namespace);
    check('secret', name);
    return join(this.secretsDir, namespace, name);
  }

  /** writeSecret stores a value with mode 0600 in a 0700 namespace dir. */
  async writeSecret(namespace: string, name: string, value: Buffer): Promise<void> {
    const path = this.secretPath(namespace, name);
    const dir = join(this.secretsDir, namespace);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    await atomicWrite(path, value, 0o600);
  }

  /** deleteSecret removes a secret's file (missing is fine). */
  async deleteSecret(namespace: string, name: string): Promise<void> {
    await rm(this.secretPath(namespace, name), { force: true });
  }
}
