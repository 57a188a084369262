/**
 * faas-cli stands in for faas-cli 0.17.6 (not installed on our machines) in tests that run the README as written:
 * the subcommands the walkthrough uses write the same files and make the same HTTP calls as that version does.
 *
 *   new NAME --lang LANG         ./NAME/ from template/LANG/<handler_folder>, .gitignore, stack.yaml (exact text)
 *   build --shrinkwrap [-f F]    build/<fn>/ = template/<lang>/ with the handler copied into <handler_folder>/
 *   deploy [-f F]                PUT /system/functions, then POST on 404; the FunctionDeployment body faas-cli sends
 *   invoke NAME                  POST stdin to /function/NAME with Content-Type text/plain, body to stdout
 *   remove NAME                  DELETE /system/functions {"functionName": NAME}
 *
 * The gateway follows faas-cli's priority (flag, then a non-default stack value, then OPENFAAS_URL) and the
 * credentials `faas-cli login` would have saved (~/.openfaas/config.yml) are sent. Anything else exits 2, so a
 * README step this file does not know fails the test instead of passing unseen.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { authHeader, defaultGateway, envsubst, gatewayURL } from '../../src/cli/publish.js';

interface Fn {
  lang?: string;
  handler?: string;
  image?: string;
  fprocess?: string;
  environment?: Record<string, unknown>;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  secrets?: string[];
  namespace?: string;
  limits?: { memory?: string; cpu?: string };
  requests?: { memory?: string; cpu?: string };
  readonly_root_filesystem?: boolean;
}
interface Stack {
  provider?: { gateway?: string };
  functions?: Record<string, Fn>;
}

function flag(args: string[], ...names: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    for (const n of names) {
      if (args[i] === n) return args[i + 1];
      if (args[i]!.startsWith(`${n}=`)) return args[i]!.slice(n.length + 1);
    }
  }
  return undefined;
}

function templateInfo(lang: string): { fprocess?: string; handler_folder?: string; welcome_message?: string } {
  const p = `./template/${lang}/template.yml`;
  if (!existsSync(p)) throw new Error(`stat ${p}: no such file or directory`);
  return (parseYaml(readFileSync(p, 'utf8')) ?? {}) as { fprocess?: string; handler_folder?: string; welcome_message?: string };
}

function readStack(args: string[]): Stack {
  const file = flag(args, '-f', '--yaml') ?? (existsSync('stack.yaml') ? 'stack.yaml' : 'stack.yml');
  return (parseYaml(envsubst(readFileSync(file, 'utf8'), process.env)) ?? {}) as Stack;
}

function newFunction(args: string[]): number {
  const name = args[0]!;
  const lang = flag(args, '--lang')!;
  const gateway = gatewayURL(flag(args, '--gateway', '-g'), undefined, process.env.OPENFAAS_URL);
  const file = 'stack.yaml';
  if (existsSync(name)) throw new Error(`folder: ${name} already exists`);
  if (existsSync(file)) throw new Error(`file: ${file} already exists. Try "faas-cli new --append ${file}" instead`);
  mkdirSync(name, { mode: 0o700 });
  console.log(`Folder: ${name} created.`);
  const ignore = existsSync('.gitignore') ? readFileSync('.gitignore', 'utf8').split('\n') : [''];
  for (const f of ['template', 'build', '.secrets']) if (!ignore.includes(f)) ignore.push(f);
  writeFileSync('.gitignore', ignore.join('\n').replace(/^\n+|\n+$/g, '') + '\n');
  const t = templateInfo(lang);
  cpSync(join('template', lang, t.handler_folder || 'function'), name, { recursive: true });
  console.log(`\nFunction created in folder: ${name}`);
  const yaml = `version: 1.0\nprovider:\n  name: openfaas\n  gateway: ${gateway}\nfunctions:\n  ${name}:\n    lang: ${lang}\n    handler: ./${name}\n    image: ${name}:latest\n\n`;
  writeFileSync(file, yaml, { mode: 0o600, flag: 'a' });
  console.log(`Stack file written: ${file}`);
  if (t.welcome_message) console.log(`\nNotes:\n${t.welcome_message}`);
  return 0;
}

function shrinkwrap(args: string[]): number {
  if (!args.includes('--shrinkwrap')) throw new Error('only build --shrinkwrap is emulated (there is no docker here)');
  for (const [name, fn] of Object.entries(readStack(args).functions ?? {})) {
    const ctx = join('build', name);
    rmSync(ctx, { recursive: true, force: true });
    const dockerfile = fn.lang === 'dockerfile';
    const t = dockerfile ? {} : templateInfo(fn.lang!);
    const dst = dockerfile ? ctx : join(ctx, t.handler_folder || 'function');
    mkdirSync(dst, { recursive: true, mode: 0o700 });
    if (!dockerfile) cpSync(join('template', fn.lang!), ctx, { recursive: true });
    for (const e of readdirSync(fn.handler!)) {
      if (e === 'build' || e === 'template') continue;
      cpSync(join(fn.handler!, e), join(dst, e), { recursive: statSync(join(fn.handler!, e)).isDirectory() });
    }
    console.log(`${name} shrink-wrapped to ${ctx}`);
  }
  return 0;
}

async function deploy(args: string[]): Promise<number> {
  const stack = readStack(args);
  const gateway = gatewayURL(flag(args, '--gateway', '-g'), stack.provider?.gateway, process.env.OPENFAAS_URL);
  const auth = (await authHeader(gateway, process.env)) ?? 'Bearer ';
  let failed = 0;
  for (const [name, fn] of Object.entries(stack.functions ?? {})) {
    console.log(`Deploying: ${name}.`);
    const envProcess = fn.fprocess || (fn.lang && fn.lang !== 'dockerfile' ? templateInfo(fn.lang).fprocess : undefined);
    const envVars = Object.fromEntries(Object.entries(fn.environment ?? {}).map(([k, v]) => [k, String(v)]));
    // Field order and omissions as Go's encoding/json writes faas-provider's FunctionDeployment.
    const body: Record<string, unknown> = { service: name, image: fn.image };
    if (fn.namespace) body.namespace = fn.namespace;
    if (envProcess) body.envProcess = envProcess;
    if (Object.keys(envVars).length) body.envVars = envVars;
    if (fn.secrets?.length) body.secrets = fn.secrets;
    body.labels = fn.labels ?? {};
    body.annotations = fn.annotations ?? {};
    if (fn.limits?.memory || fn.limits?.cpu) body.limits = fn.limits;
    if (fn.requests?.memory || fn.requests?.cpu) body.requests = fn.requests;
    if (fn.readonly_root_filesystem) body.readOnlyRootFilesystem = true;
    const send = (method: string) =>
      fetch(`${gateway}/system/functions`, { method, body: JSON.stringify(body), headers: { Authorization: auth } });
    let res = await send('PUT');
    if (res.status === 404) res = await send('POST');
    else if (res.status === 200) console.log(`Function ${name} already exists, attempting rolling-update.`);
    const text = await res.text();
    console.log();
    if ([200, 201, 202].includes(res.status)) {
      console.log(`Deployed. ${res.status} ${res.statusText}.\nURL: ${gateway}/function/${fn.namespace ? `${name}.${fn.namespace}` : name}`);
    } else if (res.status === 401) {
      console.log('unauthorized access, run "faas-cli login" to setup authentication for this server');
    } else {
      console.log(`Unexpected status: ${res.status}, message: ${text}`);
    }
    if (res.status !== 200 && res.status !== 202) failed++;
  }
  if (failed) console.error(`Function 'deploy' failed`);
  return failed ? 1 : 0;
}

async function invoke(args: string[]): Promise<number> {
  const gateway = gatewayURL(flag(args, '--gateway', '-g'), existsSync('stack.yaml') || existsSync('stack.yml') ? readStack([]).provider?.gateway : undefined, process.env.OPENFAAS_URL);
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const res = await fetch(`${gateway}/function/${args[0]}`, { method: 'POST', body: Buffer.concat(chunks), headers: { 'Content-Type': 'text/plain' } });
  const text = await res.text();
  if (res.status >= 200 && res.status <= 202) {
    process.stdout.write(text);
    return 0;
  }
  console.error(`Error: server returned unexpected status code: ${res.status} - ${text}`);
  return 1;
}

async function remove(args: string[]): Promise<number> {
  const gateway = gatewayURL(flag(args, '--gateway', '-g'), existsSync('stack.yaml') ? readStack([]).provider?.gateway : undefined, process.env.OPENFAAS_URL);
  const auth = (await authHeader(gateway, process.env)) ?? 'Bearer ';
  console.log(`Deleting: ${args[0]}.`);
  const res = await fetch(`${gateway}/system/functions`, { method: 'DELETE', body: JSON.stringify({ functionName: args[0] }), headers: { Authorization: auth } });
  await res.text();
  if ([200, 201, 202].includes(res.status)) console.log('Removing old function.');
  else console.log(`Server returned unexpected status code ${res.status}`);
  return [200, 201, 202].includes(res.status) ? 0 : 1;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === 'new') return newFunction(rest);
    if (cmd === 'build') return shrinkwrap(rest);
    if (cmd === 'deploy') return await deploy(rest);
    if (cmd === 'invoke') return await invoke(rest);
    if (cmd === 'remove') return await remove(rest);
  } catch (e) {
    console.error(`Error: ${(e as Error).message}`);
    return 1;
  }
  console.error(`faas-cli ${argv.join(' ')}: not emulated (default gateway ${defaultGateway})`);
  return 2;
}

main(process.argv.slice(2)).then((code) => process.exit(code));
