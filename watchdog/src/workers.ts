/**
 * workers starts the processes behind the slots: the home function's long-lived upstream (http mode) and the guest
 * slot's pre-started generic runtime (Node, or Python for a server.py), which a control request specialises with
 * another function's code over IPC.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { log, pipeLogs } from './logs.js';

/** LogOptions are how child output is forwarded. */
export interface LogOptions {
  prefix: boolean;
  bufferSize: number;
}

/** forwardLogs sends a child's stdout and stderr to the watchdog's own. */
export function forwardLogs(child: ChildProcess, o: LogOptions): void {
  if (child.stdout) pipeLogs('stdout', child.stdout, process.stdout, o.prefix, o.bufferSize);
  if (child.stderr) pipeLogs('stderr', child.stderr, process.stderr, o.prefix, o.bufferSize);
}

/** startUpstream forks the http-mode function process (argv split like of-watchdog) with env http_port set. */
export function startUpstream(argv: readonly string[], env: NodeJS.ProcessEnv, o: LogOptions): ChildProcess {
  const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  forwardLogs(child, o);
  return child;
}

/** waitForTcp resolves once 127.0.0.1:port accepts a connection, polling every few ms, or when stop() says so. */
export async function waitForTcp(host: string, port: number, stop: () => boolean): Promise<boolean> {
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    if (stop()) return false;
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, host);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** RuntimeMessage is what a runtime (Node or Python) sends over IPC. */
export type RuntimeMessage =
  | { type: 'generic'; port: number }
  | { type: 'ready'; port: number; ms?: number }
  | { type: 'error'; error: string }
  | { type: 'released' };

/** pythonBinary is the interpreter a Python guest runtime runs on (guest_python, default python3 on PATH). */
export function pythonBinary(env: NodeJS.ProcessEnv): string {
  return env.guest_python || 'python3';
}

/**
 * GuestWorker is the generic runtime process: it listens at once (answering 503) and turns into a function server
 * when told to specialise. Release ends the process; the watchdog forks a fresh generic one, so no code survives.
 * A runtime ending in .py runs on Python; it speaks the same messages over the same channel (Node's IPC socket, one
 * JSON object per line, at the fd named in NODE_CHANNEL_FD).
 */
export class GuestWorker {
  readonly child: ChildProcess;
  /** port is where the runtime listens (known once it said "generic"). */
  port = 0;
  readonly started: Promise<number>;
  private waiters: ((m: RuntimeMessage) => void)[] = [];
  private spawnError: Error | undefined;

  constructor(runtime: string, env: NodeJS.ProcessEnv, o: LogOptions) {
    const opts = { env: { ...env, http_port: '0' }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] as ['ignore', 'pipe', 'pipe', 'ipc'] };
    this.child = runtime.endsWith('.py') ? spawn(pythonBinary(env), [runtime, '--generic'], { ...opts, serialization: 'json' }) : fork(runtime, ['--generic'], opts);
    this.child.on('error', (err) => {
      if (this.child.pid !== undefined) return;
      // It never ran (no such interpreter): no 'exit' follows, so whoever waits for a message hears it now.
      log(`Guest runtime ${runtime} did not start: ${err.message}`);
      this.spawnError = err;
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f({ type: 'error', error: err.message });
    });
    forwardLogs(this.child, o);
    this.child.on('message', (m: RuntimeMessage) => {
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f(m);
    });
    this.started = this.next().then((m) => {
      if (m.type !== 'generic') throw new Error(`guest runtime did not start: ${JSON.stringify(m)}`);
      this.port = m.port;
      return m.port;
    });
  }

  /** next resolves with the runtime's next IPC message, or rejects if it exits first. */
  next(): Promise<RuntimeMessage> {
    return new Promise((resolve, reject) => {
      if (this.spawnError) {
        reject(new Error(`guest runtime did not start: ${this.spawnError.message}`));
        return;
      }
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        reject(new Error('guest runtime exited'));
        return;
      }
      const onExit = () => reject(new Error('guest runtime exited'));
      this.child.once('exit', onExit);
      this.waiters.push((m) => {
        this.child.off('exit', onExit);
        resolve(m);
      });
    });
  }

  /** specialise loads <dir>/function/handler.js (or handler.py) into the runtime and resolves once it serves. */
  async specialise(dir: string, env: Record<string, string>): Promise<void> {
    await this.started;
    const reply = this.next();
    this.child.send({ type: 'specialise', dir, port: this.port, env });
    const m = await reply;
    if (m.type !== 'ready') throw new Error(m.type === 'error' ? m.error : `unexpected reply ${m.type}`);
  }

  /** stop ends the runtime (release or shutdown). */
  stop(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
  }
}
