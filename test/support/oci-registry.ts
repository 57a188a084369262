/**
 * A real OCI registry for tests, without the internet: Debian's docker-registry on a free 127.0.0.1 port with its
 * storage and config in a temp dir (optionally behind htpasswd auth), and small images built here with umoci from a
 * static busybox and pushed with skopeo.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, waitForPort } from './ports.js';

const exec = promisify(execFile);

/** Registry is a running docker-registry. */
export interface Registry {
  /** host is 127.0.0.1:<port>. */
  host: string;
  dir: string;
  /** authFile is a containers-auth JSON with the right credentials (auth registries only). */
  authFile?: string;
  stop(): Promise<void>;
}

/** startRegistry starts docker-registry on a free loopback port; with auth, behind htpasswd user/password. */
export async function startRegistry(auth?: { user: string; password: string }): Promise<Registry> {
  const dir = await mkdtemp(join(tmpdir(), 'hf-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  let authCfg = '';
  let authFile: string | undefined;
  if (auth) {
    const { stdout } = await exec('htpasswd', ['-Bbn', auth.user, auth.password]);
    await writeFile(join(dir, 'htpasswd'), stdout);
    authCfg = `auth:\n  htpasswd:\n    realm: hyperfaas-test\n    path: ${join(dir, 'htpasswd')}\n`;
    authFile = join(dir, 'auth.json');
    await writeFile(authFile, JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${auth.user}:${auth.password}`).toString('base64') } } }));
  }
  await writeFile(
    join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'store')}\n  delete:\n    enabled: true\nhttp:\n  addr: ${host}\n${authCfg}`,
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
  try {
    await waitForPort(port, 20_000);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`docker-registry did not start: ${(e as Error).message}: ${err}`);
  }
  return {
    host,
    dir,
    ...(authFile ? { authFile } : {}),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** ImageSpec is a small image: busybox at /bin, extra files, and its config. */
export interface ImageSpec {
  files?: Record<string, { text: string; mode?: number }>;
  entrypoint?: string[];
  cmd?: string[];
  env?: Record<string, string>;
  workingDir?: string;
  user?: string;
}

/**
 * pushImage builds an image from a static busybox (/bin/busybox with sh, httpd, cat... links) plus files, sets
 * its config with umoci, and pushes it to ref (docker://, TLS off) with skopeo, using authFile when given.
 */
export async function pushImage(ref: string, spec: ImageSpec, authFile?: string): Promise<void> {
  const tmp = await mkdtemp(join(tmpdir(), 'hf-image-'));
  try {
    const lay = `${join(tmp, 'layout')}:img`;
    await exec('umoci', ['init', '--layout', join(tmp, 'layout')]);
    await exec('umoci', ['new', '--image', lay]);
    await exec('umoci', ['unpack', '--image', lay, join(tmp, 'bundle')]);
    const root = join(tmp, 'bundle', 'rootfs');
    await mkdir(join(root, 'bin'), { recursive: true });
    await cp('/bin/busybox', join(root, 'bin', 'busybox'));
    for (const tool of ['sh', 'cat', 'echo', 'env', 'id', 'pwd', 'httpd', 'sleep', 'ls', 'head', 'sed']) await symlink('busybox', join(root, 'bin', tool));
    await mkdir(join(root, 'etc'), { recursive: true });
    await writeFile(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:100:101:app:/home/app:/bin/sh\n');
    for (const [p, f] of Object.entries(spec.files ?? {})) {
      const at = join(root, p);
      await mkdir(join(at, '..'), { recursive: true });
      await writeFile(at, f.text);
      await chmod(at, f.mode ?? 0o644);
    }
    await exec('umoci', ['repack', '--image', lay, join(tmp, 'bundle')]);
    const args = ['config', '--image', lay];
    for (const e of spec.entrypoint ?? []) args.push('--config.entrypoint', e);
    for (const c of spec.cmd ?? []) args.push('--config.cmd', c);
    for (const [k, v] of Object.entries(spec.env ?? {})) args.push('--config.env', `${k}=${v}`);
    if (spec.workingDir) args.push('--config.workingdir', spec.workingDir);
    if (spec.user) args.push('--config.user', spec.user);
    await exec('umoci', args);
    await exec('skopeo', ['copy', '--dest-tls-verify=false', ...(authFile ? ['--dest-authfile', authFile] : []), `oci:${lay}`, `docker://${ref}`]);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * webImage is a tiny HTTP watchdog on 8080 (busybox httpd): /_/health answers "OK", and every other request runs
 * /www/cgi-bin/index.cgi, which echoes the body and shows its env, working dir and uid.
 */
export function webImage(greeting: string): ImageSpec {
  return {
    files: {
      'www/_/health': { text: 'OK' },
      'www/cgi-bin/index.cgi': {
        text:
          '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\n' +
          'echo "greeting=$GREETING fprocess=$fprocess cwd=$(pwd) uid=$(id -u) home=$HOME"\n' +
          'if [ -n "$CONTENT_LENGTH" ]; then echo "body=$(head -c "$CONTENT_LENGTH")"; fi\n' +
          'ls /var/openfaas/secrets 2>/dev/null | sed "s/^/secret=/"\n' +
          'echo "served request" >&2\n',
        mode: 0o755,
      },
    },
    entrypoint: ['/bin/busybox', 'httpd'],
    cmd: ['-f', '-v', '-p', '8080', '-h', '/www'],
    env: { GREETING: greeting },
    workingDir: '/www',
    user: 'app',
  };
}
