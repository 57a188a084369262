#!/usr/bin/env node
// shrinkwrap.mjs stands in for `faas-cli build --shrinkwrap` for users without faas-cli: for each function of a
// stack.yml it writes build/<fn>/ with faas-cli's layout, i.e. the files of template/<lang>/ with the handler's
// files laid over <handler_folder|function>/, plus the stack's `configuration.copy` paths. No docker, no network.
//
//   node scripts/shrinkwrap.mjs [-f stack.yml] [--filter <fn>] [--output <dir>]
//
// Templates are looked up in <stack dir>/template/<lang>, then in <repo>/stack-templates/template/<lang>.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function usage(msg) {
  if (msg) console.error(`shrinkwrap: ${msg}`);
  console.error('usage: node scripts/shrinkwrap.mjs [-f stack.yml] [--filter <fn>] [--output <dir>]');
  process.exit(2);
}

const args = process.argv.slice(2);
let stackFile = 'stack.yml';
let filter;
let output;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '-f' || a === '--yaml') stackFile = args[++i] ?? usage('-f needs a file');
  else if (a === '--filter') filter = args[++i] ?? usage('--filter needs a name');
  else if (a === '--output' || a === '-o') output = args[++i] ?? usage('--output needs a dir');
  else if (a === '-h' || a === '--help') usage();
  else usage(`unknown argument ${a}`);
}

const stackPath = resolve(stackFile);
if (!existsSync(stackPath)) usage(`${stackPath} does not exist`);
const stackDir = dirname(stackPath);
const stack = parse(readFileSync(stackPath, 'utf8')) ?? {};
const functions = stack.functions ?? {};
const copyPaths = stack.configuration?.copy ?? [];
const buildRoot = output ? resolve(output) : join(stackDir, 'build');

// Files of the handler folder that faas-cli leaves out of the build context.
const ignored = new Set(['.git', 'build', 'template', 'node_modules']);

function findTemplate(lang) {
  for (const dir of [join(stackDir, 'template', lang), join(repo, 'stack-templates', 'template', lang)]) {
    if (existsSync(dir) && statSync(dir).isDirectory()) return dir;
  }
  return undefined;
}

function handlerFolderOf(templateDir) {
  const t = join(templateDir, 'template.yml');
  if (!existsSync(t)) return 'function';
  const y = parse(readFileSync(t, 'utf8')) ?? {};
  return typeof y.handler_folder === 'string' && y.handler_folder.trim() ? y.handler_folder.trim() : 'function';
}

const names = Object.keys(functions).filter((n) => !filter || n === filter);
if (names.length === 0) usage(filter ? `no function ${filter} in ${stackPath}` : `no functions in ${stackPath}`);

for (const name of names) {
  const fn = functions[name] ?? {};
  if (!fn.lang) usage(`function ${name} has no lang`);
  if (!fn.handler) usage(`function ${name} has no handler`);
  const handler = resolve(stackDir, fn.handler);
  if (!existsSync(handler)) usage(`handler ${handler} of ${name} does not exist`);
  const out = join(buildRoot, name);
  rmSync(out, { recursive: true, force: true });
  if (fn.lang === 'dockerfile') {
    // The handler folder is the whole build context.
    mkdirSync(out, { recursive: true });
    for (const e of readdirSync(handler)) if (!ignored.has(e)) cpSync(join(handler, e), join(out, e), { recursive: true });
  } else {
    const template = findTemplate(fn.lang);
    if (!template) usage(`template ${fn.lang} not found in ${join(stackDir, 'template')} or ${join(repo, 'stack-templates', 'template')}`);
    const folder = handlerFolderOf(template);
    mkdirSync(join(out, folder), { recursive: true });
    cpSync(template, out, { recursive: true });
    for (const e of readdirSync(handler)) if (!ignored.has(e)) cpSync(join(handler, e), join(out, folder, e), { recursive: true });
  }
  for (const c of copyPaths) cpSync(resolve(stackDir, c), join(out, c), { recursive: true });
  console.log(`Building: ${name} with ${fn.lang} template. Please wait..`);
  console.log(`${name} shrink-wrapped to ${out}`);
}
