import { spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.js';

/** NatsServer is a real nats-server with JetStream that a test started on a free loopback port. */
export interface NatsServer {
  port: number;
  url: string;
  storeDir: string;
  /** authDir holds the generated authorization material when started with auth (provider.creds, signing key). */
  authDir?: string;
  /** stop kills the server (SIGKILL when hard) and waits for it to exit. */
  stop(hard?: boolean): Promise<void>;
  /** restart starts it again on the same port and store directory. */
  restart(): Promise<void>;
  /** dispose stops it and removes its store directory. */
  dispose(): Promise<void>;
}

/** natsServerBinary finds nats-server on PATH or in Debian's location; throws with the install hint when missing. */
export function natsServerBinary(): string {
  for (const p of [process.env.NATS_SERVER_BIN, '/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']) {
    if (!p) continue;
    try {
      execFileSync(p, ['--version'], { stdio: 'ignore' });
      return p;
    } catch {
      /* next */
    }
  }
  throw new Error('nats-server not found: install it with `apt-get install -y nats-server` (.ci/run does)');
}

/**
 * startNatsServer starts nats-server -js on a free port with its store in a new temp dir. With auth, it first
 * creates HyperFaaS's authorization material (src/messaging/nats-auth.ts) in <temp dir>/auth and runs the server in
 * operator mode with it, as scripts/up.sh does: then every client needs credentials.
 */
export async function startNatsServer(opts: { maxPayload?: number; auth?: boolean } = {}): Promise<NatsServer> {
  const bin = natsServerBinary();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'hyperfaas-nats-'));
  const storeDir = join(dir, 'js');
  const conf = join(dir, 'nats.conf');
  const lines = [`listen: 127.0.0.1:${port}`, `max_payload: ${opts.maxPayload ?? 1048576}`, `jetstream { store_dir: "${storeDir}" }`];
  let authDir: string | undefined;
  if (opts.auth) {
    const { initNatsAuth, AUTH_FILES } = await import('../../src/messaging/nats-auth.js');
    authDir = join(dir, 'auth');
    await initNatsAuth(authDir);
    // Included (relative to this file), so a restart reads the fragment again, e.g. after a key rotation.
    lines.push(`include ./auth/${AUTH_FILES.serverConf}`);
  }
  writeFileSync(conf, lines.join('\n'));
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(bin, ['-c', conf], { stdio: 'ignore' });
    await waitForPort(port, 10_000);
  };
  const stop = async (hard = false) => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill(hard ? 'SIGKILL' : 'SIGTERM');
    });
  };
  await start();
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    storeDir,
    ...(authDir ? { authDir } : {}),
    stop,
    restart: start,
    async dispose() {
      await stop(true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
