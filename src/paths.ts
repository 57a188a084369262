import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** outRoot is the root of the compiled tree this file runs from (dist/ or .build/<name>/). */
export const outRoot = resolve(here, '..');

function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'hyperfaas') return dir;
      } catch {
        /* keep looking */
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the hyperfaas repository root above ${start}`);
    dir = up;
  }
}

/** repoRoot is the repository (or installed package) root: stack-templates/, bench/ and friends live there. */
export const repoRoot = findRepoRoot(here);

/** watchdogMain is the compiled watchdog entry that the local backend starts for each instance. */
export const watchdogMain = join(outRoot, 'watchdog', 'src', 'main.js');

/** providerMain is the compiled provider entry. */
export const providerMain = join(outRoot, 'src', 'main.js');
