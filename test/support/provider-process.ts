/**
 * provider-process starts the real provider (compiled src/main.js) as a child process on a free loopback port and
 * stops it by PID: SIGTERM, then SIGKILL after a grace period. Its output is kept (the last 20 kB) for failure
 * messages. Integration tests that need the whole provider, not createApp, use this.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { providerMain } from '../../src/paths.js';
import { eventually, httpCall } from './http.js';
import { freePort, waitForPort } from './ports.js';

/** ProviderProcess is a running provider. */
export interface ProviderProcess {
  port: number;
  base: string;
  child: ChildProcess;
  output(): string;
  /** stop ends the provider and resolves to its exit code (null when it died by a signal). */
  stop(graceMs?: number): Promise<number | null>;
  /** kill ends it with SIGKILL at once (no chance to stop its instances). */
  kill(): Promise<void>;
}

/**
 * startProviderProcess starts the provider with env on top of the defaults (PATH, port, LOG_LEVEL=warn)
 * and waits until /healthz answers 200.
 */
export async function startProviderProcess(o: { env?: Record<string, string>; cwd?: string; port?: number } = {}): Promise<ProviderProcess> {
  const port = o.port ?? (await freePort());
  const base = `http://127.0.0.1:${port}`;
  let out = '';
  const child = spawn(process.execPath, [providerMain], {
    ...(o.cwd ? { cwd: o.cwd } : {}),
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', port: String(port), LOG_LEVEL: 'warn', ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (c: Buffer) => (out = (out + c.toString()).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const stop = async (graceMs = 30_000): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const code = await exited;
    clearTimeout(t);
    return code;
  };
  try {
    await waitForPort(port, 30_000);
    await eventually(async () => {
      if ((await httpCall(base, 'GET', '/healthz')).status !== 200) throw new Error('provider not healthy yet');
    }, 30_000, 100);
  } catch (e) {
    await stop(1000);
    throw new Error(`the provider did not come up: ${String(e)}\n${out}`);
  }
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  };
  return { port, base, child, output: () => out, stop, kill };
}
