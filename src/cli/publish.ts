/**
 * hyperfaas is the command-line companion to faas-cli for the embedded (local) backend. Its one command, publish,
 * hands the builds `faas-cli build --shrinkwrap` wrote to the provider, so `faas-cli deploy` then finds them by the
 * stack's image names:
 *
 *   hyperfaas publish [-f stack.yaml] [-g gateway] [--filter name]
 *
 * It reads the stack file and picks the gateway the way faas-cli does (-g, else the stack's provider.gateway, else
 * OPENFAAS_URL, else http://127.0.0.1:8080), uses the credentials `faas-cli login` saved for that gateway, and for
 * each function PUTs build/<name>/ (without node_modules and .git) to /system/images?image=<image>.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';
import { packDir } from '@hyperfaas/watchdog/bundle';

/** defaultGateway is faas-cli's. */
export const defaultGateway = 'http://127.0.0.1:8080';

/** gatewayURL applies faas-cli's priority: a non-default flag, a non-default stack value, OPENFAAS_URL, the default. */
export function gatewayURL(flag: string | undefined, yamlURL: string | undefined, envURL: string | undefined): string {
  let url = defaultGateway;
  if (flag && flag !== defaultGateway) url = flag;
  else if (yamlURL && yamlURL !== defaultGateway) url = yamlURL;
  else if (envURL) url = envURL;
  url = url.replace(/\/+$/, '').toLowerCase();
  return url.startsWith('http') ? url : `http://${url}`;
}

/** envsubst expands ${VAR} and ${VAR:-default} as faas-cli does in stack files. */
export function envsubst(text: string, env: NodeJS.ProcessEnv): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, k: string, def?: string) => env[k] || def || '');
}

/** authHeader returns the Authorization faas-cli would send to gateway, from its saved config; undefined when none. */
export async function authHeader(gateway: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const dir = env.OPENFAAS_CONFIG || join(env.HOME || homedir(), '.openfaas');
  const file = join(dir, 'config.yml');
  if (!existsSync(file)) return undefined;
  const cfg = parseYaml(await readFile(file, 'utf8')) as { auths?: { gateway?: string; auth?: string; token?: string }[] } | null;
  const found = cfg?.auths?.find((a) => (a.gateway ?? '').replace(/\/+$/, '') === gateway);
  if (!found?.token) return undefined;
  return found.auth === 'basic' ? `Basic ${found.token}` : `Bearer ${found.token}`;
}

interface StackFile {
  provider?: { gateway?: string };
  functions?: Record<string, { image?: string } | null>;
}

function parseArgs(argv: string[]): { cmd?: string; yaml?: string; gateway?: string; filter?: string } {
  const out: { cmd?: string; yaml?: string; gateway?: string; filter?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const eq = a.indexOf('=');
      if (eq > 0) return a.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '-f' || a.startsWith('--yaml')) out.yaml = value();
    else if (a === '-g' || a.startsWith('--gateway')) out.gateway = value();
    else if (a.startsWith('--filter')) out.filter = value();
    else if (!a.startsWith('-') && out.cmd === undefined) out.cmd = a;
    else throw new Error(`unknown argument ${a}`);
  }
  return out;
}

const usage = 'usage: hyperfaas publish [-f stack.yaml] [-g gateway] [--filter name]';

/** publish uploads each function's build folder; returns the exit code. */
export async function publish(args: { yaml?: string; gateway?: string; filter?: string }, env: NodeJS.ProcessEnv, out = console.log): Promise<number> {
  const yamlFile = args.yaml ?? (existsSync('stack.yaml') ? 'stack.yaml' : 'stack.yml');
  if (!existsSync(yamlFile)) {
    out(`${yamlFile} not found: run hyperfaas publish in the folder where faas-cli new wrote it, or give -f`);
    return 1;
  }
  const stack = (parseYaml(envsubst(await readFile(yamlFile, 'utf8'), env)) ?? {}) as StackFile;
  const gateway = gatewayURL(args.gateway, stack.provider?.gateway, env.OPENFAAS_URL);
  const auth = await authHeader(gateway, env);
  const names = Object.keys(stack.functions ?? {}).filter((n) => !args.filter || n === args.filter);
  if (names.length === 0) {
    out(`no functions to publish in ${yamlFile}${args.filter ? ` matching ${args.filter}` : ''}`);
    return 1;
  }
  let failed = 0;
  for (const name of names) {
    const image = stack.functions![name]?.image;
    const dir = join('build', name);
    if (!image) {
      out(`${name}: no image in ${yamlFile}`);
      failed++;
      continue;
    }
    if (!existsSync(join(dir, 'template.yml')) && !existsSync(join(dir, 'Dockerfile'))) {
      out(`${name}: ${dir} holds no build: run faas-cli build --shrinkwrap first`);
      failed++;
      continue;
    }
    const body = gzipSync(await packDir(dir, new Set(['node_modules', '.git'])));
    const url = `${gateway}/system/images?image=${encodeURIComponent(image)}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'PUT',
        body,
        headers: { 'Content-Type': 'application/gzip', ...(auth ? { Authorization: auth } : {}) },
      });
    } catch (e) {
      out(`${name}: cannot reach ${gateway}: ${(e as Error).cause ?? (e as Error).message}`);
      failed++;
      continue;
    }
    const text = await res.text();
    if (res.status === 200) out(`Published ${dir} as ${image} to ${gateway} (${body.length} bytes).`);
    else if (res.status === 401) {
      out(`${name}: unauthorized access, run "faas-cli login" to setup authentication for this server`);
      failed++;
    } else {
      out(`${name}: Unexpected status: ${res.status}, message: ${text.trim()}`);
      failed++;
    }
  }
  return failed === 0 ? 0 : 1;
}

/** main runs the command line argv (without node and the script); returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(argv);
  } catch (e) {
    console.error(`${(e as Error).message}\n${usage}`);
    return 2;
  }
  if (args.cmd !== 'publish') {
    console.error(usage);
    return 2;
  }
  return publish(args, process.env);
}
