/**
 * registry holds the pure parts of running OCI images: parsing an image reference into registry, repository, tag
 * and digest; turning skopeo's failure text into a deploy error that says what went wrong (no such manifest, refused
 * credentials, unreachable registry); and applying an image's config (entrypoint, cmd, env, working dir, user) the
 * way a container engine does.
 */
import { BackendError } from '../backend.js';

/** PullPolicy is faas-netes' image_pull_policy. */
export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';
export const PULL_POLICIES: readonly PullPolicy[] = Object.freeze(['Always', 'IfNotPresent', 'Never']);

/** ImageRef is a parsed, fully qualified image reference. */
export interface ImageRef {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
  /** canonical is registry/repository[:tag][@digest]: what skopeo pulls and what the store records. */
  canonical: string;
}

const component = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const tagRe = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const digestRe = /^sha256:[0-9a-f]{64}$/;
const hostRe = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::\d{1,5})?$|^\[[0-9a-fA-F:]+\](?::\d{1,5})?$/;

/** namesRegistry reports whether a reference's first path segment is a registry host (holds "." or ":", or is localhost). */
export function namesRegistry(ref: string): boolean {
  const segs = ref.trim().split('/');
  return segs.length > 1 && (segs[0]!.includes('.') || segs[0]!.includes(':') || segs[0] === 'localhost');
}

/**
 * parseImageRef parses ref. A reference without a registry host is completed with defaultRegistry (and, for
 * docker.io, a one-segment name gets "library/"), as a container engine's unqualified-search registry does;
 * without one it is not pullable: undefined. A malformed reference throws Invalid naming the bad part.
 */
export function parseImageRef(ref: string, defaultRegistry?: string): ImageRef | undefined {
  let rest = ref.trim();
  const bad = (why: string) => new BackendError('Invalid', `image reference ${JSON.stringify(ref)} ${why}`);
  if (rest === '' || /\s/.test(rest)) throw bad('is empty or holds white space');
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digestRe.test(digest)) throw bad(`has the digest ${JSON.stringify(digest)}: expected sha256:<64 hex digits>`);
  }
  let registry: string;
  let segs = rest.split('/');
  if (namesRegistry(rest)) {
    registry = segs[0]!;
    segs = segs.slice(1);
    if (!hostRe.test(registry)) throw bad(`has the registry host ${JSON.stringify(registry)}`);
  } else {
    if (!defaultRegistry) return undefined;
    registry = defaultRegistry;
  }
  let tag: string | undefined;
  const last = segs[segs.length - 1] ?? '';
  const colon = last.indexOf(':');
  if (colon >= 0) {
    tag = last.slice(colon + 1);
    segs[segs.length - 1] = last.slice(0, colon);
    if (!tagRe.test(tag)) throw bad(`has the tag ${JSON.stringify(tag)}: use up to 128 letters, digits, _ . - (not starting with . or -)`);
  }
  const badSeg = segs.find((s) => !component.test(s));
  if (badSeg !== undefined || segs.length === 0) {
    throw bad(`has the path component ${JSON.stringify(badSeg ?? '')}: use lowercase letters, digits and single . _ - between them`);
  }
  if (registry === 'docker.io' && segs.length === 1) segs = ['library', ...segs];
  if (tag === undefined && digest === undefined) tag = 'latest';
  const repository = segs.join('/');
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}), canonical: `${registry}/${repository}${tag !== undefined ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}` };
}

/** skopeoMessage extracts the message of skopeo's last `level=fatal msg="..."` line, else its last non-empty line. */
export function skopeoMessage(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  for (const l of lines.reverse()) {
    const m = /msg="((?:[^"\\]|\\.)*)"/.exec(l);
    if (m) return m[1]!.replace(/\\(.)/g, '$1');
  }
  return lines[0] ?? 'no output';
}

/** PullContext says where credentials and TLS settings came from, for the message. */
export interface PullContext {
  authFile?: string;
  insecure: boolean;
}

/**
 * pullError turns a failed `skopeo copy` into a deploy error: a missing manifest or repository and refused
 * credentials are Invalid (400: the deployment names something it cannot have); an unreachable registry, a TLS
 * mismatch and anything else are Unavailable (503: the registry may come back).
 */
export function pullError(ref: ImageRef, stderr: string, ctx: PullContext): BackendError {
  const msg = skopeoMessage(stderr);
  const what = `pulling ${ref.canonical}`;
  const creds = ctx.authFile ? `credentials come from HYPERFAAS_REGISTRY_AUTH=${ctx.authFile}` : 'no credentials are configured (HYPERFAAS_REGISTRY_AUTH is unset)';
  if (/manifest unknown|name unknown|repository name not known|not found|status 404|404 \(Not Found\)/i.test(msg)) {
    return new BackendError('Invalid', `${what}: not found: registry ${ref.registry} has no image ${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''} (${msg})`);
  }
  if (/unauthorized|authentication required|denied|status 401|status 403|invalid username\/password|incorrect username or password/i.test(msg)) {
    return new BackendError('Invalid', `${what}: registry ${ref.registry} refused access (authentication failed or required; ${creds}): ${msg}`);
  }
  if (/server gave HTTP response to HTTPS client/i.test(msg)) {
    return new BackendError('Unavailable', `${what}: registry ${ref.registry} speaks plain HTTP; list it in HYPERFAAS_INSECURE_REGISTRIES to use it without TLS (${msg})`);
  }
  if (/x509|certificate|tls:/i.test(msg)) {
    return new BackendError('Unavailable', `${what}: TLS to registry ${ref.registry} failed${ctx.insecure ? '' : ' (list it in HYPERFAAS_INSECURE_REGISTRIES to skip verification)'}: ${msg}`);
  }
  if (/connection refused|no such host|i\/o timeout|network is unreachable|no route to host|dial tcp|connection reset|EOF|timeout/i.test(msg)) {
    return new BackendError('Unavailable', `${what}: registry ${ref.registry} is unreachable: ${msg}`);
  }
  return new BackendError('Unavailable', `${what} failed: ${msg}`);
}

/** ImageConfig is the part of an OCI image config ("config" of the config blob) a container engine applies. */
export interface ImageConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, unknown> | null;
}

/** ImageProcess is what runs: argv, env (image env with PATH defaulted), working dir and the image's user. */
export interface ImageProcess {
  args: string[];
  env: Record<string, string>;
  cwd: string;
  user: string;
}

/** DEFAULT_PATH is the PATH a container engine gives a process whose image sets none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * imageProcess applies an image config as docker/containerd do: argv is Entrypoint followed by Cmd, the env is the
 * image's (PATH defaulted), the working dir is WorkingDir or "/", the user is User or root. Throws Invalid for an
 * image with nothing to run.
 */
export function imageProcess(cfg: ImageConfig | undefined, image: string): ImageProcess {
  const args = [...(cfg?.Entrypoint ?? []), ...(cfg?.Cmd ?? [])];
  if (args.length === 0) throw new BackendError('Invalid', `image ${image} has neither Entrypoint nor Cmd in its config: nothing to run`);
  const env: Record<string, string> = {};
  for (const kv of cfg?.Env ?? []) {
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  if (!env.PATH) env.PATH = DEFAULT_PATH;
  const cwd = cfg?.WorkingDir && cfg.WorkingDir.startsWith('/') ? cfg.WorkingDir : '/';
  return { args, env, cwd, user: cfg?.User?.trim() || 'root' };
}

/**
 * homeOf returns the home directory of an image's user from the image's /etc/passwd text (by name or uid before an
 * optional ":group"), "/" when it is not listed: the HOME a container engine sets when the image sets none.
 */
export function homeOf(user: string, passwd: string): string {
  const who = user.split(':')[0]!;
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f.length >= 7 && (f[0] === who || f[2] === who)) return f[5] || '/';
  }
  return who === 'root' || who === '0' ? '/root' : '/';
}
