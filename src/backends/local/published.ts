/**
 * published keeps the function builds users hand to the provider (`hyperfaas publish`, PUT /system/images) under
 * <data>/published/, one folder per image reference: `ghcr.io/me/hello:1.0` is stored as `me/hello:1.0` (the
 * registry host is dropped, the tag kept, `latest` when none is given). The image resolver looks here first, by
 * exact reference, so a published build wins over folders on HYPERFAAS_IMAGE_PATH.
 *
 * An upload is a bundle (src/bundle.ts), optionally gzipped, of a folder such as `build/<fn>/` from
 * `faas-cli build --shrinkwrap`. It is unpacked beside its target and renamed into place, so a reader never sees a
 * half-written build, and a failed upload leaves the previous one untouched.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { unpackTo } from '@hyperfaas/watchdog/bundle';
import { BackendError, type PublishedBuild, type PublishedBuilds } from '../backend.js';


const component = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const tagRe = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** maxUnpackedBytes bounds what one gzipped upload may expand to. */
export const maxUnpackedBytes = 512 * 1024 * 1024;

/**
 * parseReference splits an image reference into its stored key, or says what is wrong with it. A digest
 * (`@sha256:...`) cannot be published: builds are stored by tag.
 */
export function parseReference(image: string): { key: string } | { problem: string } {
  const ref = image.trim();
  if (ref === '') return { problem: 'is empty' };
  if (ref.includes('@')) return { problem: 'names a digest; publish under a tag such as hello:1.0' };
  let segs = ref.split('/');
  if (segs.length > 1 && (segs[0]!.includes('.') || segs[0]!.includes(':') || segs[0] === 'localhost')) segs = segs.slice(1);
  let tag = 'latest';
  const last = segs[segs.length - 1]!;
  const colon = last.indexOf(':');
  if (colon >= 0) {
    tag = last.slice(colon + 1);
    segs[segs.length - 1] = last.slice(0, colon);
  }
  const bad = segs.find((s) => !component.test(s));
  if (bad !== undefined) {
    return { problem: `has the path component ${JSON.stringify(bad)}: use lowercase letters, digits and single . _ - between them` };
  }
  if (!tagRe.test(tag)) return { problem: `has the tag ${JSON.stringify(tag)}: use up to 128 letters, digits, _ . - (not starting with . or -)` };
  return { key: `${segs.join('/')}:${tag}` };
}

/** PublishedBuilds is the store under one root directory. */
export class PublishedImages implements PublishedBuilds {
  constructor(readonly root: string) {}

  /** dirFor returns where image's build is (or would be) stored; undefined for a reference that cannot be stored. */
  dirFor(image: string): string | undefined {
    const r = parseReference(image);
    return 'key' in r ? join(this.root, r.key) : undefined;
  }

  /** put stores a bundle (raw or gzipped) as image's build, replacing any earlier one. Invalid for a bad upload. */
  async put(image: string, upload: Buffer): Promise<PublishedBuild> {
    const r = parseReference(image);
    if ('problem' in r) throw new BackendError('Invalid', `image ${JSON.stringify(image)} ${r.problem}`);
    let bundle = upload;
    if (upload[0] === 0x1f && upload[1] === 0x8b) {
      try {
        bundle = gunzipSync(upload, { maxOutputLength: maxUnpackedBytes });
      } catch (e) {
        throw new BackendError('Invalid', `the upload is not valid gzip or unpacks to more than ${maxUnpackedBytes} bytes: ${(e as Error).message}`);
      }
    }
    const target = join(this.root, r.key);
    await mkdir(dirname(target), { recursive: true, mode: 0o755 });
    const tmp = join(dirname(target), `.upload-${randomBytes(6).toString('hex')}`);
    await mkdir(tmp, { mode: 0o755 });
    try {
      try {
        await unpackTo(bundle, tmp);
      } catch (e) {
        throw new BackendError('Invalid', `the upload is not a usable bundle: ${(e as Error).message}`);
      }
      if (!existsSync(join(tmp, 'template.yml')) && !existsSync(join(tmp, 'Dockerfile'))) {
        throw new BackendError(
          'Invalid',
          'the upload has no template.yml or Dockerfile at its top: pack the contents of build/<function>/ (what faas-cli build --shrinkwrap writes), not the folder above it',
        );
      }
      const old = `${target}.old-${randomBytes(6).toString('hex')}`;
      const had = existsSync(target);
      if (had) await rename(target, old);
      await rename(tmp, target);
      if (had) await rm(old, { recursive: true, force: true });
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
    const meta: PublishedBuild = { image: image.trim(), key: r.key, publishedAt: new Date().toISOString(), bytes: bundle.length };
    await writeFile(`${target}.json`, JSON.stringify(meta) + '\n', { mode: 0o644 });
    return meta;
  }

  /** list returns every stored build, sorted by key. */
  async list(): Promise<PublishedBuild[]> {
    const out: PublishedBuild[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
        if (e.name.startsWith('.')) continue;
        const p = join(d, e.name);
        if (e.isFile() && e.name.endsWith('.json') && e.name.includes(':')) {
          try {
            out.push(JSON.parse(await readFile(p, 'utf8')) as PublishedBuild);
          } catch {
            /* a torn marker: the build is still found by reference */
          }
        } else if (e.isDirectory() && !e.name.includes(':')) {
          await walk(p);
        }
      }
    };
    await walk(this.root);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** remove deletes image's build; NotFound when there is none. */
  async remove(image: string): Promise<void> {
    const r = parseReference(image);
    if ('problem' in r) throw new BackendError('Invalid', `image ${JSON.stringify(image)} ${r.problem}`);
    const target = join(this.root, r.key);
    if (!existsSync(target)) throw new BackendError('NotFound', `no published build for ${image} (looked for ${target})`);
    await rm(`${target}.json`, { force: true });
    await rm(target, { recursive: true, force: true });
  }
}
