/**
 * oci-store pulls OCI images and keeps each one once per manifest digest, unpacked, under <data>/oci:
 *
 *   images/<hex>/rootfs        the image's layers applied in order (umoci raw unpack), the read-only root its
 *                              function's instances share
 *   images/<hex>/config.json   the image config (entrypoint, cmd, env, working dir, user)
 *   refs/<hash>.json           which digest a reference last resolved to, and when
 *   tmp/                       pulls and unpacks in progress
 *
 * A pull runs `skopeo copy docker://<ref> oci:<tmp>/layout:img` (credentials from HYPERFAAS_REGISTRY_AUTH, TLS
 * verification off only for HYPERFAAS_INSECURE_REGISTRIES), its progress lines going to the caller's log. The root
 * is unpacked into tmp/ and renamed into images/<hex> only when complete, so no reader ever sees a half-unpacked
 * root, and a failed pull leaves nothing behind. The layout's blobs are dropped once unpacked.
 *
 * image_pull_policy (faas-netes' setting): Always pulls at every deploy and update, IfNotPresent pulls only when the
 * reference has not been pulled before, Never uses only what is stored. A reference by digest is pulled once.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BackendError } from '../backend.js';
import { homeOf, imageProcess, parseImageRef, pullError, type ImageConfig, type ImageProcess, type ImageRef, type PullPolicy } from './registry.js';

/** OciSettings configure pulls. */
export interface OciSettings {
  pullPolicy: PullPolicy;
  /** authFile is a containers-auth JSON file (what `skopeo login` and docker's config.json hold). */
  authFile?: string;
  /** insecure lists registries (host[:port]) reached without TLS verification (plain HTTP allowed). */
  insecure: readonly string[];
  /** defaultRegistry completes references without a registry host (unset: such references are not pulled). */
  defaultRegistry?: string;
  skopeo?: string;
  umoci?: string;
  /** pullTimeoutMs bounds one pull. */
  pullTimeoutMs?: number;
}

/** OciImage is a stored, unpacked image. */
export interface OciImage {
  ref: ImageRef;
  /** digest is the manifest digest (sha256:...). */
  digest: string;
  rootfs: string;
  config: ImageConfig;
  process: ImageProcess;
  /** home is the HOME the image's user gets when the image env sets none. */
  home: string;
}

/** MOUNT_DIRS and MOUNT_FILES are the mount points runc needs in the root: made at unpack, as the root is shared and read-only. */
const MOUNT_DIRS = ['proc', 'dev', 'sys', 'tmp', 'var/openfaas/secrets'];
const MOUNT_FILES = ['etc/hosts', 'etc/resolv.conf'];

interface RefRecord {
  ref: string;
  digest: string;
  pulledAt: string;
}

/** run runs a tool, handing each output line to onLine; resolves with its exit code and the stderr tail. */
function run(cmd: string, args: string[], onLine: (l: string) => void, timeoutMs: number): Promise<{ code: number | null; stderr: string; missing?: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: process.env.HOME ?? '/root' } });
    let stderr = '';
    const split = (acc: { s: string }, c: Buffer, keep: boolean) => {
      acc.s += c.toString();
      const parts = acc.s.split(/\r?\n|\r/);
      acc.s = parts.pop()!;
      for (const p of parts) if (p.trim()) onLine(p.trim());
      if (keep) stderr = (stderr + c.toString()).slice(-8000);
    };
    const o = { s: '' };
    const e = { s: '' };
    child.stdout.on('data', (c: Buffer) => split(o, c, false));
    child.stderr.on('data', (c: Buffer) => split(e, c, true));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(t);
      resolve({ code: -1, stderr: err.message, missing: err.code === 'ENOENT' });
    });
    child.on('close', (code, signal) => {
      clearTimeout(t);
      for (const acc of [o, e]) if (acc.s.trim()) onLine(acc.s.trim());
      resolve({ code, stderr: signal === 'SIGKILL' ? `${stderr}\nmsg="timed out after ${timeoutMs} ms"` : stderr });
    });
  });
}

/** ensureMountPoint creates root/rel (a dir, or an empty file) unless something is there or a parent is a symlink. */
async function ensureMountPoint(root: string, rel: string, kind: 'dir' | 'file'): Promise<void> {
  const segs = rel.split('/');
  let p = root;
  for (let i = 0; i < segs.length; i++) {
    p = join(p, segs[i]!);
    const st = await lstat(p).catch(() => undefined);
    const last = i === segs.length - 1;
    if (st) {
      if (st.isSymbolicLink() || (!last && !st.isDirectory())) return; // runc resolves it inside the root
      continue;
    }
    if (last && kind === 'file') await writeFile(p, '', { mode: 0o644 });
    else await mkdir(p, { mode: 0o755 });
  }
}

/** OciImageStore pulls, unpacks, finds and collects images under one root (<data>/oci). */
export class OciImageStore {
  private readonly inflight = new Map<string, Promise<OciImage>>();
  private readonly lastUsed = new Map<string, number>();
  readonly imagesDir: string;
  private readonly refsDir: string;
  private readonly tmpDir: string;

  constructor(
    readonly root: string,
    readonly settings: OciSettings,
  ) {
    this.imagesDir = join(root, 'images');
    this.refsDir = join(root, 'refs');
    this.tmpDir = join(root, 'tmp');
  }

  /** init makes the directories and removes pulls a killed provider left in tmp/. */
  async init(): Promise<void> {
    for (const d of [this.root, this.imagesDir, this.refsDir]) await mkdir(d, { recursive: true, mode: 0o755 });
    await rm(this.tmpDir, { recursive: true, force: true });
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    await writeFile(join(this.root, 'policy.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  }

  /** parse returns ref parsed with the default registry, undefined when it names none and there is no default. */
  parse(image: string): ImageRef | undefined {
    return parseImageRef(image, this.settings.defaultRegistry);
  }

  private refFile(canonical: string): string {
    return join(this.refsDir, `${createHash('sha256').update(canonical).digest('hex').slice(0, 32)}.json`);
  }

  /** stored returns the image ref last resolved to, when it is still stored. */
  async stored(ref: ImageRef): Promise<OciImage | undefined> {
    const rec = await readFile(this.refFile(ref.canonical), 'utf8').then((t) => JSON.parse(t) as RefRecord, () => undefined);
    if (!rec || rec.ref !== ref.canonical) return undefined;
    return this.load(ref, rec.digest);
  }

  private async load(ref: ImageRef, digest: string): Promise<OciImage | undefined> {
    const dir = join(this.imagesDir, digest.slice('sha256:'.length));
    if (!existsSync(join(dir, 'ready'))) return undefined;
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as ImageConfig;
    const passwd = await readFile(join(dir, 'rootfs', 'etc', 'passwd'), 'utf8').catch(() => '');
    const proc = imageProcess(config, ref.canonical);
    this.lastUsed.set(digest.slice(7), Date.now());
    return { ref, digest, rootfs: join(dir, 'rootfs'), config, process: proc, home: homeOf(proc.user, passwd) };
  }

  /**
   * get returns ref's image, pulling it as the policy says (policy overrides the configured one, e.g. IfNotPresent
   * for functions restored at start). log receives the pull's progress lines.
   */
  async get(ref: ImageRef, log: (line: string) => void, policy: PullPolicy = this.settings.pullPolicy): Promise<OciImage> {
    const have = await this.stored(ref);
    if (have && (policy !== 'Always' || ref.digest !== undefined)) return have;
    if (policy === 'Never') {
      throw new BackendError('Invalid', `image ${ref.canonical} is not stored here and image_pull_policy is Never: deploy it once with IfNotPresent or Always`);
    }
    let p = this.inflight.get(ref.canonical);
    if (!p) {
      p = this.pull(ref, log).finally(() => this.inflight.delete(ref.canonical));
      this.inflight.set(ref.canonical, p);
    } else log(`waiting for the pull of ${ref.canonical} already in progress`);
    return p;
  }

  private async pull(ref: ImageRef, log: (line: string) => void): Promise<OciImage> {
    const s = this.settings;
    const insecure = s.insecure.includes(ref.registry);
    if (s.authFile && !existsSync(s.authFile)) {
      throw new BackendError('Unavailable', `pulling ${ref.canonical}: HYPERFAAS_REGISTRY_AUTH=${s.authFile} does not exist`);
    }
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    const tmp = await mkdtemp(join(this.tmpDir, 'pull-'));
    const started = Date.now();
    try {
      log(`pulling ${ref.canonical}${insecure ? ' (TLS verification off: HYPERFAAS_INSECURE_REGISTRIES)' : ''}`);
      const args = ['copy', '--policy', join(this.root, 'policy.json'), '--digestfile', join(tmp, 'digest'), `--src-tls-verify=${insecure ? 'false' : 'true'}`];
      // Only HYPERFAAS_REGISTRY_AUTH's credentials are used, never those of the provider's user (~/.docker, XDG).
      args.push(...(s.authFile ? ['--src-authfile', s.authFile] : ['--src-no-creds']));
      args.push(`docker://${ref.canonical}`, `oci:${join(tmp, 'layout')}:img`);
      const skopeo = s.skopeo ?? 'skopeo';
      const r = await run(skopeo, args, log, s.pullTimeoutMs ?? 15 * 60_000);
      if (r.missing) throw new BackendError('Unavailable', `pulling ${ref.canonical}: ${skopeo} is not installed (apt-get install skopeo)`);
      if (r.code !== 0) throw pullError(ref, r.stderr, { ...(s.authFile ? { authFile: s.authFile } : {}), insecure });
      const digest = (await readFile(join(tmp, 'digest'), 'utf8')).trim();
      if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new BackendError('Unavailable', `pulling ${ref.canonical}: skopeo wrote no manifest digest`);
      const hex = digest.slice(7);
      const target = join(this.imagesDir, hex);
      if (!existsSync(join(target, 'ready'))) {
        log(`unpacking ${digest}`);
        const dir = join(tmp, 'image');
        await mkdir(dir, { mode: 0o755 });
        const umoci = s.umoci ?? 'umoci';
        const u = await run(umoci, ['raw', 'unpack', '--image', `${join(tmp, 'layout')}:img`, join(dir, 'rootfs')], () => undefined, 10 * 60_000);
        if (u.missing) throw new BackendError('Unavailable', `unpacking ${ref.canonical}: ${umoci} is not installed (apt-get install umoci)`);
        if (u.code !== 0) throw new BackendError('Unavailable', `unpacking ${ref.canonical}: umoci exited ${u.code}: ${u.stderr.trim().split('\n').pop() ?? ''}`);
        const config = await this.readConfig(join(tmp, 'layout'), ref);
        imageProcess(config, ref.canonical); // refuse an image with nothing to run before it is stored
        await chmod(join(dir, 'rootfs'), 0o755);
        for (const d of MOUNT_DIRS) await ensureMountPoint(join(dir, 'rootfs'), d, 'dir');
        for (const f of MOUNT_FILES) await ensureMountPoint(join(dir, 'rootfs'), f, 'file');
        await writeFile(join(dir, 'config.json'), JSON.stringify(config));
        await writeFile(join(dir, 'ready'), `${ref.canonical}\n`);
        try {
          await rename(dir, target);
        } catch (e) {
          // Another pull of the same digest finished first: its copy is as good as ours.
          if (!existsSync(join(target, 'ready'))) throw e;
        }
      }
      const recTmp = join(tmp, 'ref.json');
      await writeFile(recTmp, JSON.stringify({ ref: ref.canonical, digest, pulledAt: new Date().toISOString() } satisfies RefRecord));
      await rename(recTmp, this.refFile(ref.canonical));
      const img = await this.load(ref, digest);
      if (!img) throw new BackendError('Unavailable', `pulling ${ref.canonical}: the unpacked image vanished (collected meanwhile?)`);
      log(`pulled ${ref.canonical} (${digest}) in ${((Date.now() - started) / 1000).toFixed(2)} s`);
      return img;
    } finally {
      await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** readConfig reads the image config of the layout's only image. */
  private async readConfig(layout: string, ref: ImageRef): Promise<ImageConfig> {
    const blob = (d: string) => readFile(join(layout, 'blobs', 'sha256', d.replace(/^sha256:/, '')), 'utf8');
    try {
      const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
      const manifest = JSON.parse(await blob(index.manifests[0]!.digest)) as { config: { digest: string } };
      const cfg = JSON.parse(await blob(manifest.config.digest)) as { config?: ImageConfig };
      return cfg.config ?? {};
    } catch (e) {
      throw new BackendError('Unavailable', `pulling ${ref.canonical}: cannot read the image config: ${(e as Error).message}`);
    }
  }

  /**
   * gc removes stored images whose digest hex is not in keep and that were not used in the last graceMs, and the
   * references pointing at them; returns the digests removed. An image is renamed away before it is deleted.
   */
  async gc(keep: ReadonlySet<string>, nowMs: number, graceMs: number): Promise<string[]> {
    const removed: string[] = [];
    for (const hex of await readdir(this.imagesDir).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{64}$/.test(hex) || keep.has(hex)) continue;
      const used = this.lastUsed.get(hex);
      if (used !== undefined && nowMs - used < graceMs) continue;
      if ([...this.inflight.keys()].length > 0 && used === undefined) continue; // a pull may be about to record it
      const away = join(this.tmpDir, `gc-${hex}-${randomBytes(4).toString('hex')}`);
      await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
      await rename(join(this.imagesDir, hex), away);
      await rm(away, { recursive: true, force: true });
      this.lastUsed.delete(hex);
      removed.push(`sha256:${hex}`);
    }
    if (removed.length) {
      for (const f of await readdir(this.refsDir).catch(() => [] as string[])) {
        const rec = await readFile(join(this.refsDir, f), 'utf8').then((t) => JSON.parse(t) as RefRecord, () => undefined);
        if (!rec || removed.includes(rec.digest)) await rm(join(this.refsDir, f), { force: true });
      }
    }
    return removed;
  }
}
