import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** outRoot is the root of the compiled provider tree this file runs from (dist/ or .build/<name>/). */
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

/**
 * watchdogPackage is the directory of the @hyperfaas/watchdog package as Node resolves it from here: watchdog/ of
 * the repository (an npm workspace, linked into node_modules), or wherever an installation put it.
 */
export const watchdogPackage = dirname(createRequire(import.meta.url).resolve('@hyperfaas/watchdog/package.json'));

/** watchdogMain is the compiled watchdog entry (the package's bin) that the local backend starts for each instance. */
export const watchdogMain = join(watchdogPackage, 'dist', 'src', 'main.js');

/** providerMain is the compiled provider entry. */
export const providerMain = join(outRoot, 'src', 'main.js');
