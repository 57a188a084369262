/**
 * spawn starts the per-request processes of the forking modes. Node's spawn blocks the event loop from fork() until
 * the child has exec'd, so everything the child does before exec is paid by every other request: the program is
 * looked up on PATH once at start (execvp would otherwise try each PATH entry in the child, on every request).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * resolveCommand finds name on path as execvp would (the first executable regular file); a name with a slash, or
 * one found nowhere, is returned as it is, so the spawn fails (or succeeds) as it would have.
 */
export function resolveCommand(name: string, path: string | undefined): string {
  if (name.includes('/')) return name;
  for (const dir of (path ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    const p = join(dir || '.', name);
    try {
      if (!statSync(p).isFile()) continue;
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return name;
}

/** startProcess spawns command (resolved) with args and env, all three stdio as pipes, argv[0] as argv0. */
export function startProcess(command: string, args: readonly string[], env: NodeJS.ProcessEnv, argv0?: string): ChildProcessWithoutNullStreams {
  return spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'], ...(argv0 ? { argv0 } : {}) });
}
