/**
 * images turns a function's `image` into something the local backend can run.
 *
 * Name -> directory rules (first hit wins, directories of the search path in order). The image reference is
 * normalised first: the digest (`@sha256:...`) and the tag (`:latest`) are dropped, and so is a registry host (a
 * first segment holding "." or ":" or equal to "localhost", e.g. docker.io/, ghcr.io/, 127.0.0.1:5000/). For
 * `ghcr.io/acme/fns/echo:1.2` that leaves the path `acme/fns/echo` and the name `echo`; each search dir D is tried as
 *   1. D/echo                (the last segment: what `faas-cli build --shrinkwrap` writes, build/<fn>/)
 *   2. D/acme/fns/echo       (the whole path as nested folders)
 *   3. D/acme-fns-echo       (the whole path, slashes turned into dashes)
 * A directory qualifies when it holds a template.yml or a Dockerfile, which is where fprocess and the watchdog
 * settings are read from. Before those folders, a build published to the provider under exactly this reference
 * (published.ts, <data>/published/) is used.
 *
 * Images resolve only inside the image path: an absolute path is accepted when it lies inside one of the search
 * dirs, a name with ".." never, and a folder (or anything in it) that is a symlink leading out of its search dir is
 * refused. Each of these is Invalid with a message saying so, as is an image that resolves to nothing.
 *
 * A directory is prepared once per content hash into <data>/images/<hash>/: copied, made world-readable, and given
 * its dependencies (`npm ci`, or `npm install`, with --omit=dev) only when a package.json declares some. A Python
 * function's requirements.txt (in the handler folder or beside it) is installed with pip into <hash>/python, where
 * the Python runtime finds it, and its sources are compiled to bytecode there (an instance cannot write its folder).
 *
 * An image that resolves to nothing runs `envProcess` as a command (classic watchdog mode: one process per request,
 * CGI Http_* env) only when the function is meant to run a command: its image is one of the generic images that
 * carry the classic watchdog and run whatever fprocess says (commandImages, e.g. functions/alpine), or it has the
 * label com.hyperfaas.fork=true. A template-built name such as hello:latest with the template's `node index.js`
 * must resolve to its build.
 *
 * Else a reference that names a registry (or any name, with HYPERFAAS_DEFAULT_REGISTRY) is an OCI image, pulled and
 * unpacked by oci-store.ts (kind "oci": dir is its shared read-only root, hash its manifest digest). Otherwise the
 * deploy is Invalid and says where it looked and how to publish.
 */
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { chmod, cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve as resolvePath, sep } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { BackendError } from '../backend.js';
import { PublishedImages } from './published.js';
import type { OciImageStore } from './oci-store.js';
import type { PullPolicy } from './registry.js';

/** ResolvedImage is what an instance runs: a working directory plus the watchdog env from the template. */
export interface ResolvedImage {
  /** kind: a prepared function directory, a fork-mode command with no code of its own, or a pulled OCI image. */
  kind: 'directory' | 'fork' | 'oci';
  image: string;
  /** sourceDir is the directory the image name resolved to (directory kind only). */
  sourceDir?: string;
  /** dir is the instance's working directory (the prepared copy, or an empty dir for fork kind). */
  dir: string;
  /** hash is the content hash of the prepared copy (directory kind only). */
  hash?: string;
  /** fprocess is the function command the watchdog runs (envProcess wins over the template's). */
  fprocess: string;
  /** mode is the watchdog mode: the template's (usually http) or classic for fork kind. */
  mode: string;
  /** env are the template's other watchdog settings (Dockerfile ENV of the last stage), fprocess/mode excluded. */
  env: Record<string, string>;
  /** handlerFolder is where the handler lives inside dir (template.yml handler_folder, default "function"). */
  handlerFolder: string;
  /**
   * oci describes a pulled image (oci kind only; dir is then its shared read-only root): its manifest digest, the
   * fully qualified reference, and the process its config says to run (env holds the image's env, HOME defaulted).
   */
  oci?: { digest: string; ref: string; args: string[]; cwd: string; user: string };
}

/** ResolveOptions say how an image that is no local build may be pulled. */
export interface ResolveOptions {
  /** log receives pull progress. */
  log?: (line: string) => void;
  /** policy overrides image_pull_policy (functions restored at start use IfNotPresent). */
  policy?: PullPolicy;
  /** ociUnavailable, when set, says why OCI images cannot run here (no runc): such a deploy is refused with it. */
  ociUnavailable?: string;
}

/** normaliseImage drops digest, tag and registry host: `ghcr.io/a/b:1` -> { path: 'a/b', name: 'b' }. */
export function normaliseImage(image: string): { path: string; name: string } {
  let ref = image.trim();
  const at = ref.indexOf('@');
  if (at >= 0) ref = ref.slice(0, at);
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon > slash) ref = ref.slice(0, colon);
  const segs = ref.split('/').filter((s) => s !== '');
  if (segs.length > 1 && (segs[0]!.includes('.') || segs[0]!.includes(':') || segs[0] === 'localhost')) segs.shift();
  return { path: segs.join('/'), name: segs[segs.length - 1] ?? '' };
}

/** imageCandidates lists the directories tried for an image, in order (see the module comment). */
export function imageCandidates(image: string, searchPath: readonly string[]): string[] {
  if (isAbsolute(image.trim())) return [image.trim()];
  const { path, name } = normaliseImage(image);
  if (name === '' || path.split('/').some((s) => s === '..' || s === '.')) return [];
  const out: string[] = [];
  for (const d of searchPath) {
    for (const c of [join(d, name), join(d, path), join(d, path.replaceAll('/', '-'))]) if (!out.includes(c)) out.push(c);
  }
  return out;
}

/** isFunctionDir reports whether a directory holds a template.yml or a Dockerfile. */
export function isFunctionDir(dir: string): boolean {
  return existsSync(join(dir, 'template.yml')) || existsSync(join(dir, 'Dockerfile'));
}

function unquote(v: string): string {
  if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) {
    return v.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  return v;
}

/** splitWords splits an ENV line's arguments on spaces outside quotes. */
function splitWords(s: string): string[] {
  const out: string[] = [];
  const re = /(?:[^\s"']+|"(?:[^"\\]|\\.)*"|'[^']*')+/g;
  for (const m of s.matchAll(re)) out.push(m[0]);
  return out;
}

/**
 * dockerfileEnv returns the ENV settings of a Dockerfile's last stage (the image that runs): both
 * `ENV k=v k2="v 2"` and the legacy `ENV k v` forms, with line continuations.
 */
export function dockerfileEnv(text: string): Record<string, string> {
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/);
  let env: Record<string, string> = {};
  for (const raw of lines) {
    const line = raw.trim();
    if (/^FROM\s/i.test(line)) env = {};
    const m = /^ENV\s+(.*)$/i.exec(line);
    if (!m) continue;
    const body = m[1]!.trim();
    const words = splitWords(body);
    if (words.length > 0 && !words[0]!.includes('=')) {
      const sp = body.search(/\s/);
      if (sp > 0) env[body.slice(0, sp)] = unquote(body.slice(sp).trim());
      continue;
    }
    for (const w of words) {
      const eq = w.indexOf('=');
      if (eq > 0) env[w.slice(0, eq)] = unquote(w.slice(eq + 1));
    }
  }
  return env;
}

/** TemplateInfo is what a function directory says about how to run it. */
export interface TemplateInfo {
  fprocess?: string;
  mode?: string;
  env: Record<string, string>;
  handlerFolder: string;
}

/**
 * The env a Dockerfile sets that only makes sense inside its container image (paths such as /home/app/runtime) or
 * that the backend owns per instance; the host provides these instead.
 */
const hostOwned = new Set([
  'PATH',
  'HOME',
  'USER',
  'HOSTNAME',
  'NODE_PATH',
  'port',
  'metrics_port',
  'http_port',
  'lock_file',
  'bind_address',
  'HYPERFAAS_NODE_RUNTIME',
  'HYPERFAAS_PYTHON_RUNTIME',
  'guest_runtime',
  'guest_python',
]);

/** readTemplateInfo reads template.yml (fprocess, handler_folder) and the Dockerfile's ENV (which wins). */
export async function readTemplateInfo(dir: string): Promise<TemplateInfo> {
  const info: TemplateInfo = { env: {}, handlerFolder: 'function' };
  if (existsSync(join(dir, 'template.yml'))) {
    const t = parseYaml(await readFile(join(dir, 'template.yml'), 'utf8')) as Record<string, unknown> | null;
    if (t && typeof t.fprocess === 'string' && t.fprocess.trim()) info.fprocess = t.fprocess.trim();
    if (t && typeof t.handler_folder === 'string' && t.handler_folder.trim()) info.handlerFolder = t.handler_folder.trim();
  }
  if (existsSync(join(dir, 'Dockerfile'))) {
    const env = dockerfileEnv(await readFile(join(dir, 'Dockerfile'), 'utf8'));
    const fp = env.function_process ?? env.fprocess;
    if (fp) info.fprocess = fp;
    if (env.mode) info.mode = env.mode;
    for (const [k, v] of Object.entries(env)) {
      if (k === 'fprocess' || k === 'function_process' || k === 'mode' || hostOwned.has(k)) continue;
      info.env[k] = v;
    }
  }
  return info;
}

const skipped = new Set(['node_modules', '.git']);

/** hashDir hashes a directory's relative paths, modes' executable bit and contents, skipping node_modules and .git. */
export async function hashDir(dir: string): Promise<string> {
  const h = createHash('sha256');
  const walk = async (d: string): Promise<void> => {
    const ents = (await readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of ents) {
      if (skipped.has(e.name)) continue;
      const p = join(d, e.name);
      const rel = relative(dir, p);
      if (e.isDirectory()) {
        h.update(`d ${rel}\0`);
        await walk(p);
      } else if (e.isFile()) {
        const st = await stat(p);
        h.update(`f ${rel} ${st.mode & 0o111 ? 'x' : '-'}\0`);
        h.update(await readFile(p));
        h.update('\0');
      }
    }
  };
  await walk(dir);
  return h.digest('hex').slice(0, 32);
}

/** hasDependencies reports whether a package.json declares runtime dependencies. */
export async function hasDependencies(pkgJson: string): Promise<boolean> {
  if (!existsSync(pkgJson)) return false;
  try {
    const pkg = JSON.parse(await readFile(pkgJson, 'utf8')) as { dependencies?: Record<string, string> };
    return !!pkg.dependencies && Object.keys(pkg.dependencies).length > 0;
  } catch {
    throw new BackendError('Invalid', `${pkgJson} is not valid JSON`);
  }
}

/** InstallStep installs a directory's dependencies; it rejects with the tool's output on failure. */
export type InstallStep = (dir: string) => Promise<void>;

/** npmInstall runs `npm ci --omit=dev` when a package-lock.json exists, else `npm install --omit=dev`. */
export const npmInstall: InstallStep = (dir) => {
  const args = existsSync(join(dir, 'package-lock.json')) ? ['ci'] : ['install'];
  args.push('--omit=dev', '--no-audit', '--no-fund', '--loglevel=error');
  return run('npm', args, dir, undefined, `npm ${args[0]} in ${dir}`);
};

/**
 * pipInstall installs a requirements.txt into target with `python3 -m pip install --target`, run in the file's folder
 * (so relative paths and --find-links in it resolve there). Wheels only: building an sdist would run the package's
 * own code as the provider's user. pip sees the provider's PIP_* and proxy variables (an index, find-links, no-index)
 * and nothing else of its environment.
 */
export const pipInstall = (requirements: string, target: string): Promise<void> => {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', LANG: 'C.UTF-8' };
  for (const [k, v] of Object.entries(process.env)) if (/^(PIP_|https?_proxy$|no_proxy$)/i.test(k)) env[k] = v;
  const args = ['-m', 'pip', 'install', '--no-input', '--disable-pip-version-check', '--root-user-action=ignore', '--only-binary=:all:'];
  args.push('--target', target, '-r', requirements);
  return run('python3', args, dirname(requirements), env, 'pip install');
};

/** compilePython writes the bytecode of every .py under dir beside it (a missing python3 is no error: nothing to do). */
const compilePython = (dir: string): Promise<void> => run('python3', ['-m', 'compileall', '-q', dir], dir, { PATH: process.env.PATH ?? '/usr/bin:/bin' }, 'compileall');

/** hasRequirements reports whether a requirements.txt names anything (a line that is neither blank nor a comment). */
export async function hasRequirements(file: string): Promise<boolean> {
  if (!existsSync(file)) return false;
  return (await readFile(file, 'utf8')).split(/\r?\n/).some((l) => l.trim() !== '' && !l.trim().startsWith('#'));
}

/**
 * sourceRequirement returns the first line of a requirements.txt that pip would build from source whatever
 * --only-binary says (an editable, a VCS URL, a local folder, an sdist archive), or a nested -r/-c file this check
 * cannot see into; undefined when there is none. Building runs the package's code as the provider's user.
 */
export function sourceRequirement(text: string): string | undefined {
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line) continue;
    if (/^(-e|--editable|-r|--requirement|-c|--constraint)(\s|=|$)/.test(line)) return raw.trim();
    if (line.startsWith('-')) continue; // --no-index, --find-links, --index-url ...
    const at = line.indexOf(' @ ') >= 0 ? line.indexOf(' @ ') + 3 : line.indexOf('@') + 1;
    const ref = line.slice(at).split(';')[0]!.trim();
    if (/^(git|hg|svn|bzr)\+/.test(ref) || /\.(tar\.gz|tgz|tar\.bz2|tar\.xz|zip)$/i.test(ref)) return raw.trim();
    if (/^(\.|\/|~|file:)/.test(ref) && !ref.endsWith('.whl')) return raw.trim();
  }
  return undefined;
}

/** run runs a tool to its end; it rejects with the last 4000 characters of its output when it fails. */
function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv | undefined, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-4000)));
    child.stderr.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${what} exited ${code}: ${out.trim()}`))));
  });
}

async function makeReadable(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await makeReadable(p);
    else if (e.isFile()) await chmod(p, (await stat(p)).mode & 0o111 ? 0o755 : 0o644);
  }
}

/** forkLabel, set to "true", makes a function whose image resolves to nothing run its envProcess as a command. */
export const forkLabel = 'com.hyperfaas.fork';

/**
 * commandImages are generic images (registry host and tag dropped) that carry the classic watchdog and run whatever
 * fprocess names, so a deploy of one with envProcess means "run this command" (the OpenFaaS certifier's images).
 */
export const commandImages: readonly string[] = Object.freeze(['functions/alpine']);

/** isCommandImage reports whether image is one of commandImages. */
export function isCommandImage(image: string): boolean {
  return commandImages.includes(normaliseImage(image).path);
}

function within(p: string, root: string): boolean {
  return p === root || p.startsWith(root + sep);
}

/** linkLeadingOut returns the first symlink under dir whose target lies outside root (with where it leads). */
async function linkLeadingOut(dir: string, root: string): Promise<{ link: string; to: string } | undefined> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isSymbolicLink()) {
      const to = await realpath(p).catch(() => undefined);
      if (to !== undefined && !within(to, root)) return { link: p, to };
    } else if (e.isDirectory() && e.name !== '.git') {
      const found = await linkLeadingOut(p, root);
      if (found) return found;
    }
  }
  return undefined;
}

/** ImageResolver resolves images against a search path and prepares each distinct directory content once. */
export class ImageResolver {
  private readonly preparing = new Map<string, Promise<string>>();
  /** lastUsed is when each hash was last resolved (epoch ms): gc spares recent ones, which a caller may hold. */
  private readonly lastUsed = new Map<string, number>();
  readonly imagesDir: string;
  /** published holds builds handed to the provider; it is searched before the image path. */
  readonly published: PublishedImages;

  constructor(
    dataDir: string,
    private readonly searchPath: readonly string[],
    private readonly install: InstallStep = npmInstall,
    /** oci pulls images from registries; without it only local builds resolve. */
    readonly oci?: OciImageStore,
    private readonly pip: (requirements: string, target: string) => Promise<void> = pipInstall,
  ) {
    this.imagesDir = join(dataDir, 'images');
    this.published = new PublishedImages(join(dataDir, 'published'));
  }

  /** find returns the first qualifying directory for image on the search path, and every path tried (no checks). */
  find(image: string): { dir?: string; tried: string[] } {
    const tried = imageCandidates(image, this.searchPath);
    return { dir: tried.find((d) => existsSync(d) && isFunctionDir(d)), tried };
  }

  private pathText(): string {
    return this.searchPath.join(':') || '(empty)';
  }

  /**
   * locate finds image's folder: a published build first, then the search path. It throws Invalid for a reference
   * that reaches outside the image path (absolute path elsewhere, "..", a symlink leading out).
   */
  async locate(image: string): Promise<{ dir?: string; tried: string[] }> {
    const ref = image.trim();
    const tried: string[] = [];
    const outside = `an image resolves only inside HYPERFAAS_IMAGE_PATH (${this.pathText()}) or to a published build`;
    if (ref.split('/').includes('..')) throw new BackendError('Invalid', `image ${JSON.stringify(ref)} contains "..": ${outside}`);
    const pub = isAbsolute(ref) ? undefined : this.published.dirFor(ref);
    if (pub !== undefined) {
      tried.push(pub);
      if (existsSync(pub) && isFunctionDir(pub)) return { dir: pub, tried };
    }
    let pairs: { dir: string; root: string }[];
    if (isAbsolute(ref)) {
      const abs = resolvePath(ref);
      const root = this.searchPath.find((d) => within(abs, d));
      if (!root) throw new BackendError('Invalid', `image ${ref} is a path outside the image path: ${outside}`);
      pairs = [{ dir: abs, root }];
    } else {
      pairs = this.searchPath.flatMap((root) => imageCandidates(ref, [root]).map((dir) => ({ dir, root })));
    }
    for (const { dir, root } of pairs) {
      tried.push(dir);
      if (!existsSync(dir) || !isFunctionDir(dir)) continue;
      const realRoot = await realpath(root);
      const real = await realpath(dir);
      if (!within(real, realRoot)) {
        throw new BackendError('Invalid', `image ${ref} resolves to ${dir}, a symlink leading out of the image path (to ${real}): ${outside}`);
      }
      const out = await linkLeadingOut(dir, realRoot);
      if (out) throw new BackendError('Invalid', `image ${ref}: ${out.link} is a symlink leading out of the image path (to ${out.to}): ${outside}`);
      return { dir, tried };
    }
    return { tried };
  }

  /**
   * resolve finds and prepares image, or runs envProcess as a command when the function is meant to (a command
   * image or the fork label); Invalid, saying where it looked and how to publish, when neither applies.
   */
  async resolve(image: string, envProcess?: string, labels?: Readonly<Record<string, string>>, opts: ResolveOptions = {}): Promise<ResolvedImage> {
    const { dir, tried } = await this.locate(image);
    if (dir) {
      const info = await readTemplateInfo(dir);
      const fprocess = envProcess?.trim() || info.fprocess;
      if (!fprocess) throw new BackendError('Invalid', `image ${image}: ${dir} names no fprocess (template.yml or Dockerfile ENV) and no envProcess was given`);
      const hash = await hashDir(dir);
      this.lastUsed.set(hash, Date.now());
      const prepared = await this.prepare(dir, hash);
      this.lastUsed.set(hash, Date.now());
      return {
        kind: 'directory',
        image,
        sourceDir: dir,
        dir: prepared,
        hash,
        fprocess,
        mode: info.mode ?? (info.env.upstream_url || info.env.http_upstream_url ? 'http' : 'streaming'),
        env: info.env,
        handlerFolder: info.handlerFolder,
      };
    }
    const command = envProcess?.trim();
    if (command && (labels?.[forkLabel] === 'true' || isCommandImage(image))) {
      const empty = join(this.imagesDir, 'empty');
      await mkdir(empty, { recursive: true, mode: 0o755 });
      await chmod(empty, 0o755);
      return { kind: 'fork', image, dir: empty, fprocess: command, mode: 'classic', env: {}, handlerFolder: 'function' };
    }
    const ref = this.oci?.parse(image);
    if (this.oci && ref) {
      if (opts.ociUnavailable) throw new BackendError('Unavailable', `image ${image} is an OCI image, which runs only under runc: ${opts.ociUnavailable}`);
      const img = await this.oci.get(ref, opts.log ?? (() => undefined), opts.policy);
      return {
        kind: 'oci',
        image,
        dir: img.rootfs,
        hash: img.digest.slice('sha256:'.length),
        fprocess: command ?? '',
        mode: '',
        env: { HOME: img.home, ...img.process.env },
        handlerFolder: '',
        oci: { digest: img.digest, ref: ref.canonical, args: img.process.args, cwd: img.process.cwd, user: img.process.user },
      };
    }
    const name = normaliseImage(image).name || 'fn';
    throw new BackendError(
      'Invalid',
      `image ${image} resolves to nothing: no published build and no function folder (template.yml or Dockerfile) at ${tried.join(', ') || '(no usable name)'}. ` +
        `Publish it from the folder holding your stack.yaml: faas-cli build --shrinkwrap, then hyperfaas publish (uploads build/${name}/ as ${image}); ` +
        `or put build/${name} on HYPERFAAS_IMAGE_PATH.` +
        (command
          ? ` envProcess ${JSON.stringify(command)} runs only inside that build; to run it as a plain command instead, set the label ${forkLabel}=true.`
          : ''),
    );
  }

  /**
   * gc removes prepared copies whose hash is not in keep and was not resolved in the last graceMs; returns the
   * hashes removed. Only directories named like a hash are touched.
   */
  async gc(keep: ReadonlySet<string>, nowMs: number, graceMs = 10 * 60_000): Promise<string[]> {
    const removed: string[] = this.oci ? await this.oci.gc(keep, nowMs, graceMs) : [];
    for (const name of await readdir(this.imagesDir).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{32}$/.test(name) || keep.has(name)) continue;
      const used = this.lastUsed.get(name);
      if (used !== undefined && nowMs - used < graceMs) continue;
      this.preparing.delete(name);
      this.lastUsed.delete(name);
      await rm(join(this.imagesDir, name), { recursive: true, force: true });
      removed.push(name);
    }
    return removed;
  }

  private prepare(src: string, hash: string): Promise<string> {
    let p = this.preparing.get(hash);
    if (!p) {
      p = this.doPrepare(src, hash);
      this.preparing.set(hash, p);
      p.catch(() => this.preparing.delete(hash));
    }
    return p;
  }

  private async doPrepare(src: string, hash: string): Promise<string> {
    const target = join(this.imagesDir, hash);
    if (existsSync(join(target, '.hyperfaas-ready'))) return target;
    await mkdir(this.imagesDir, { recursive: true, mode: 0o755 });
    await chmod(this.imagesDir, 0o755);
    const tmp = `${target}.tmp-${process.pid}-${Date.now()}`;
    await rm(tmp, { recursive: true, force: true });
    try {
      await cp(src, tmp, { recursive: true, filter: (s) => !s.split('/').includes('.git') });
      const info = await readTemplateInfo(tmp);
      for (const d of [tmp, join(tmp, info.handlerFolder)]) {
        if (await hasDependencies(join(d, 'package.json'))) {
          try {
            await this.install(d);
          } catch (e) {
            throw new BackendError('Invalid', `installing dependencies of ${src}: ${(e as Error).message}`, { cause: e });
          }
        }
        const req = join(d, 'requirements.txt');
        if (await hasRequirements(req)) {
          const source = sourceRequirement(await readFile(req, 'utf8'));
          if (source !== undefined) {
            throw new BackendError(
              'Invalid',
              `${relative(tmp, req)} of ${src}: "${source}" would be built from source on the provider; only wheels are installed (build it with pip wheel and list the .whl, or a --find-links folder holding it)`,
            );
          }
          try {
            await this.pip(req, join(tmp, 'python'));
          } catch (e) {
            const rel = relative(tmp, req);
            throw new BackendError('Invalid', `installing the Python dependencies of ${src} (${rel}): ${(e as Error).message}`, { cause: e });
          }
        }
      }
      if (existsSync(join(tmp, info.handlerFolder, 'handler.py'))) await compilePython(tmp).catch(() => undefined);
      await makeReadable(tmp);
      await writeFile(join(tmp, '.hyperfaas-ready'), `${src}\n`, { mode: 0o644 });
      await rm(target, { recursive: true, force: true });
      await rename(tmp, target);
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
    return target;
  }
}
