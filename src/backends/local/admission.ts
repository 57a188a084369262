/**
 * admission holds the local backend's checks that depend on this host: a limit or request larger than the host
 * could ever give, and secrets that do not fit the per-instance secrets filesystem (HYPERFAAS_SECRETS_SIZE). They
 * run at deploy and at secret create/update, so the answer is a 400 naming the bound instead of an instance that
 * never starts. Pure apart from hostSize(); every check takes the host as an argument.
 */
import { availableParallelism, totalmem } from 'node:os';
import { parseCpu, parseMemory } from '../../units.js';
import type { FunctionDeployment } from '../../types/index.js';
import { BackendError } from '../backend.js';

/** HostSize is what one instance could at most be given: all of the host's memory and CPUs. */
export interface HostSize {
  memoryBytes: number;
  cpus: number;
}

/** hostSize reads this host's memory and CPU count. */
export function hostSize(): HostSize {
  return { memoryBytes: totalmem(), cpus: availableParallelism() };
}

/** PAGE is the unit a tmpfs allocates in: a 1-byte secret takes 4 KiB of the secrets filesystem. */
const PAGE = 4096;

/** footprint is what a file of n bytes takes on a tmpfs. */
export function footprint(n: number): number {
  return Math.ceil(n / PAGE) * PAGE;
}

function gib(n: number): string {
  return `${(n / 2 ** 30).toFixed(1)} GiB`;
}

/** resourceProblems lists the limits/requests of fd that exceed host, each naming the host's size. */
export function resourceProblems(fd: FunctionDeployment, host: HostSize): string[] {
  const out: string[] = [];
  for (const field of ['limits', 'requests'] as const) {
    const r = fd[field];
    if (!r) continue;
    if (r.memory) {
      let bytes: number | undefined;
      try {
        bytes = parseMemory(r.memory);
      } catch {
        /* malformed: the API validator and limitsOf report it */
      }
      if (bytes !== undefined && bytes > host.memoryBytes) {
        out.push(`${field}.memory ${JSON.stringify(r.memory)} is more than this host's memory of ${host.memoryBytes} bytes (${gib(host.memoryBytes)})`);
      }
    }
    if (r.cpu) {
      let cores: number | undefined;
      try {
        cores = parseCpu(r.cpu);
      } catch {
        /* malformed: reported elsewhere */
      }
      if (cores !== undefined && cores > host.cpus) {
        out.push(`${field}.cpu ${JSON.stringify(r.cpu)} is more than this host's ${host.cpus} CPU${host.cpus === 1 ? '' : 's'}`);
      }
    }
  }
  return out;
}

/**
 * secretsProblem says why one function's secrets (names resolved through known) do not fit a secrets filesystem
 * of secretsBytes, or returns undefined when they fit. Each file counts whole tmpfs pages.
 */
export function secretsProblem(
  service: string,
  names: readonly string[],
  known: ReadonlyMap<string, Buffer> | undefined,
  secretsBytes: number,
): string | undefined {
  let total = 0;
  for (const n of names) total += footprint(known?.get(n)?.length ?? 0);
  if (total <= secretsBytes) return undefined;
  return (
    `the secrets of function ${service} (${names.join(', ')}) take ${total} bytes together (each rounded up to 4 KiB pages); ` +
    `one function's secrets must fit the per-instance secrets filesystem of ${secretsBytes} bytes (HYPERFAAS_SECRETS_SIZE)`
  );
}

/** admitDeployment throws Invalid listing what of fd this host cannot give it (resources, secrets' size). */
export function admitDeployment(
  fd: FunctionDeployment,
  opts: { host: HostSize; secretsBytes: number; secrets: ReadonlyMap<string, Buffer> | undefined },
): void {
  const problems = resourceProblems(fd, opts.host);
  const s = secretsProblem(fd.service, fd.secrets ?? [], opts.secrets, opts.secretsBytes);
  if (s) problems.push(s);
  if (problems.length) throw new BackendError('Invalid', problems.join('; '));
}

/**
 * admitSecret throws Invalid when value (the new content of secret name) does not fit the secrets filesystem on
 * its own, or would push the secrets of a function using it (users) over it.
 */
export function admitSecret(
  name: string,
  value: Buffer,
  opts: { secretsBytes: number; known: ReadonlyMap<string, Buffer> | undefined; users?: readonly FunctionDeployment[] },
): void {
  if (footprint(value.length) > opts.secretsBytes) {
    throw new BackendError(
      'Invalid',
      `secret ${name} is ${value.length} bytes; a secret must fit the per-instance secrets filesystem of ${opts.secretsBytes} bytes (HYPERFAAS_SECRETS_SIZE)`,
    );
  }
  const withNew = new Map(opts.known ?? []);
  withNew.set(name, value);
  for (const fd of opts.users ?? []) {
    const p = secretsProblem(fd.service, fd.secrets ?? [], withNew, opts.secretsBytes);
    if (p) throw new BackendError('Invalid', `secret ${name} at ${value.length} bytes: ${p}`);
  }
}
