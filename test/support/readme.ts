/**
 * readme runs the README's shell walkthroughs as written: a block between `<!-- NAME:start -->` and
 * `<!-- NAME:end -->` is run by bash with `set -eu`, the faas-cli 0.17.6 stand-in (faas-cli.ts) first on PATH and
 * everything else real.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { outRoot, repoRoot } from '../../src/paths.js';

/** readmeBlock returns the sh block between the markers NAME:start and NAME:end of README.md (undefined if absent). */
export async function readmeBlock(name: string): Promise<string | undefined> {
  const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
  const m = new RegExp(`<!-- ${name}:start -->\\n\`\`\`sh\\n([\\s\\S]*?)\`\`\`\\n<!-- ${name}:end -->`).exec(readme);
  return m?.[1];
}

/**
 * runWalkthrough runs script with bash in <tmp>/home (also HOME), the faas-cli stand-in in <tmp>/bin first on PATH,
 * HYPERFAAS pointing at this repository and OPENFAAS_URL at gateway; resolves to its exit code and output.
 */
export async function runWalkthrough(script: string, tmp: string, gateway: string): Promise<{ code: number | null; out: string }> {
  const home = join(tmp, 'home');
  const bin = join(tmp, 'bin');
  await mkdir(home, { recursive: true });
  await mkdir(bin, { recursive: true });
  await writeFile(join(bin, 'faas-cli'), `#!/bin/sh\nexec "${process.execPath}" "${join(outRoot, 'test', 'support', 'faas-cli.js')}" "$@"\n`);
  await chmod(join(bin, 'faas-cli'), 0o755);
  const file = join(tmp, `walkthrough-${Date.now()}.sh`);
  await writeFile(file, `set -eu\n${script}`);
  const env = { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: home, HYPERFAAS: repoRoot, OPENFAAS_URL: gateway };
  return new Promise((resolve) => {
    const child = spawn('bash', [file], { cwd: home, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}
