/**
 * credentials reads what the platform handed this instance as files (never as environment, which anything running
 * as the same user can read in /proc/<pid>/environ), and keeps the watchdog's own settings out of the function's
 * environment.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { timingSafeEqual } from 'node:crypto';

/** CREDENTIAL_FILES are the file names in the credentials directory. */
export const CREDENTIAL_FILES = {
  /** natsCreds is the instance's NATS user (JWT and seed) in the creds file format. */
  natsCreds: 'nats.creds',
  /** controlToken is the token the HTTP control endpoint requires. */
  controlToken: 'control-token',
} as const;

/** InstanceCredentials are the credentials found; a missing file is simply absent. */
export interface InstanceCredentials {
  natsCreds?: Uint8Array;
  controlToken?: string;
}

/** readCredentials reads dir's credential files ("" = no directory: none). Other read errors than absence throw. */
export async function readCredentials(dir: string): Promise<InstanceCredentials> {
  if (!dir) return {};
  const read = async (name: string): Promise<Buffer | undefined> => {
    try {
      return await readFile(join(dir, name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  };
  const creds = await read(CREDENTIAL_FILES.natsCreds);
  const token = (await read(CREDENTIAL_FILES.controlToken))?.toString('utf8').trim();
  return { ...(creds ? { natsCreds: new Uint8Array(creds) } : {}), ...(token ? { controlToken: token } : {}) };
}

/**
 * KEEP are the HYPERFAAS_* variables a function may see: its own identity and where its runtime and secrets are,
 * nothing that grants anything. Every other HYPERFAAS_* and every NATS_* variable is the watchdog's alone.
 */
const KEEP = new Set(['HYPERFAAS_INSTANCE_ID', 'HYPERFAAS_FUNCTION', 'HYPERFAAS_NAMESPACE', 'HYPERFAAS_RUNTIME', 'HYPERFAAS_NODE_RUNTIME', 'HYPERFAAS_PYTHON_RUNTIME', 'HYPERFAAS_SECRETS_DIR']);

/** functionEnv is env without the watchdog's own settings (control token, credentials dir, NATS URL and creds). */
export function functionEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    const upper = k.toUpperCase();
    if (upper.startsWith('NATS_')) continue;
    if (upper.startsWith('HYPERFAAS_') && !KEEP.has(k)) continue;
    out[k] = v;
  }
  return out;
}

/** tokenMatches compares a presented token with the expected one in constant time; an empty expected token matches nothing. */
export function tokenMatches(presented: string | string[] | undefined, expected: string): boolean {
  if (expected === '' || typeof presented !== 'string') return false;
  const a = Buffer.from(presented, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  // Comparing equal lengths only; the length itself is not the secret (tokens are fixed-size random strings).
  return a.length === b.length && timingSafeEqual(a, b);
}
