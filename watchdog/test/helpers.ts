/**
 * helpers start real watchdog processes for the tests: free ports, a private lock file, output captured, and a
 * stop() that ends exactly the process it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function findRepo(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const p = join(dir, 'package.json');
    if (existsSync(p) && (JSON.parse(readFileSync(p, 'utf8')) as { name?: string }).name === 'hyperfaas') return dir;
    if (dirname(dir) === dir) throw new Error('repository root not found');
  }
}

/** repo is the repository root; fixtures and the runtime are read from source there. */
export const repo = findRepo(here);
/** fixtures is watchdog/test/fixtures in the source tree. */
export const fixtures = join(repo, 'watchdog', 'test', 'fixtures');
/** mainJs is the compiled watchdog entry beside this compiled test. */
export const mainJs = join(here, '..', 'src', 'main.js');
/** runtimeJs is the Node runtime. */
export const runtimeJs = join(repo, 'watchdog', 'runtime', 'node', 'server.js');
/** runtimePy is the Python runtime. */
export const runtimePy = join(repo, 'watchdog', 'runtime', 'python', 'server.py');

/** freePort asks the kernel for a free port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** sleep waits ms. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** waitFor polls cond every 20 ms until it holds or timeoutMs passes. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await cond()) return;
    } catch {
      /* retry */
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Running is a watchdog process under test. */
export interface Running {
  proc: ChildProcess;
  port: number;
  metricsPort: number;
  url: string;
  lockFile: string;
  /** output is stdout+stderr so far. */
  output(): string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/**
 * startWatchdog runs the compiled main with env (port, metrics_port, lock_file filled in) and waits until
 * /_/health answers 200 (or, with waitHealthy false, until it listens).
 */
export async function startWatchdog(env: Record<string, string>, waitHealthy = true): Promise<Running> {
  // A port freePort found free can be taken by another process's outgoing connection before the watchdog binds it
  // (both come from the ephemeral range): then the watchdog stops with EADDRINUSE, and a new pair of ports is tried.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startWatchdogOnce(env, waitHealthy);
    } catch (err) {
      if (attempt >= 3 || !String((err as Error).message).includes('EADDRINUSE')) throw err;
    }
  }
}

async function startWatchdogOnce(env: Record<string, string>, waitHealthy: boolean): Promise<Running> {
  const port = await freePort();
  const metricsPort = await freePort();
  const lockFile = join(mkdtempSync(join(tmpdir(), 'wd-test-')), '.lock');
  const full: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    port: String(port),
    metrics_port: String(metricsPort),
    lock_file: lockFile,
    bind_address: '127.0.0.1',
    healthcheck_interval: '0',
    ...env,
  };
  const proc = spawn(process.execPath, [mainJs], { env: full, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const url = `http://127.0.0.1:${port}`;
  const r: Running = {
    proc,
    port,
    metricsPort,
    url,
    lockFile,
    output: () => out,
    exited,
    async stop() {
      // The watchdog runs in its own process group: end it together with the workers it forked.
      try {
        process.kill(-proc.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
      if (proc.exitCode === null && proc.signalCode === null) await exited;
    },
  };
  try {
    await waitFor(
      async () => {
        if (proc.exitCode !== null || out.includes('EADDRINUSE')) throw new Error(`watchdog exited ${proc.exitCode}: ${out}`);
        const res = await fetch(`${url}/_/health`);
        await res.arrayBuffer();
        return waitHealthy ? res.status === 200 : true;
      },
      20_000,
      'watchdog health',
    );
  } catch (err) {
    await r.stop();
    throw new Error(`${(err as Error).message}\n${out}`);
  }
  return r;
}

/** httpUpstreamEnv is the env for http mode with the test upstream on a free port. */
export async function httpUpstreamEnv(extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const up = await freePort();
  return {
    mode: 'http',
    fprocess: `${process.execPath} ${join(fixtures, 'upstream.mjs')}`,
    upstream_url: `http://127.0.0.1:${up}`,
    guest_slot: 'false',
    ...extra,
  };
}

/** SlotReport is the part of /_/hyperfaas/status the slot tests read. */
export interface SlotReport {
  runtime?: string;
  draining: boolean;
  slots: { kind: string; state: string; function?: string; inflight: number; capacity: number }[];
  queued?: number;
}

/**
 * slotClient talks to a running watchdog's slots: control requests with its token (a string body is sent as it is),
 * the status report, and calls routed to a function by x-hyperfaas-function.
 */
export function slotClient(wd: () => Running, token: string) {
  return {
    async control(body: unknown) {
      const res = await fetch(`${wd().url}/_/hyperfaas/control`, {
        method: 'POST',
        body: typeof body === 'string' ? body : JSON.stringify(body),
        headers: { 'x-hyperfaas-token': token },
      });
      return { status: res.status, reply: (await res.json().catch(() => ({}))) as { ok: boolean; error?: string; ms?: number } };
    },
    status: async () => (await (await fetch(`${wd().url}/_/hyperfaas/status`)).json()) as SlotReport,
    guestCall: (fn: string, path = '/', init: RequestInit = {}) =>
      fetch(`${wd().url}${path}`, { ...init, headers: { ...(init.headers as Record<string, string>), 'x-hyperfaas-function': fn } }),
  };
}
