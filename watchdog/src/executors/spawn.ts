/**
 * spawn starts the per-request processes of the forking modes. Node's spawn fork()s the whole watchdog and blocks
 * the event loop until the child has exec'd (about 3 ms a process on a 2-core host; see bench/results/watchdog.md),
 * so every other request waits for each spawn. The spawn helper (native/hf-spawn.c, a small static binary) starts
 * the processes with vfork instead and carries their stdin, stdout and stderr over one pipe pair, so nothing
 * blocks; without it (not built, or it died) processes are started with Node's spawn, as before.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/**
 * resolveCommand finds name on path as execvp would (the first executable regular file); a name with a slash, or
 * one found nowhere, is returned as it is, so the spawn fails (or succeeds) as it would have.
 */
export function resolveCommand(name: string, path: string | undefined): string {
  if (name.includes('/')) return name;
  for (const dir of (path ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    const p = join(dir || '.', name);
    try {
      if (!statSync(p).isFile()) continue;
      accessSync(p, fsConstants.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return name;
}

/** Process is what the executors use of a started process: Node's ChildProcess or a helper's child. */
export interface Process extends EventEmitter {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  kill(signal?: NodeJS.Signals): boolean;
}

/** Spawner starts processes: command (resolved) with args and env, all three stdio as pipes, argv[0] as argv0. */
export interface Spawner {
  readonly kind: 'helper' | 'node';
  start(command: string, args: readonly string[], env: NodeJS.ProcessEnv, argv0: string): Process;
  close(): void;
}

/** nodeSpawner is Node's own spawn. */
export const nodeSpawner: Spawner = {
  kind: 'node',
  start(command, args, env, argv0): ChildProcessWithoutNullStreams {
    return spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'], argv0 });
  },
  close() {},
};

/** helperPath is where the build puts the spawn helper: native/hf-spawn in the watchdog's package output. */
export const helperPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'native', 'hf-spawn');

const F = { spawn: 1, stdin: 2, stdinEof: 3, kill: 4, spawned: 10, spawnErr: 11, stdout: 12, stderr: 13, exit: 14 } as const;

const errnoNames = new Map<number, string>(Object.entries(osConstants.errno).map(([k, v]) => [v, k]));
const signalNames = new Map<number, NodeJS.Signals>(Object.entries(osConstants.signals).map(([k, v]) => [v, k as NodeJS.Signals]));

/** HelperChild is one process started by the helper, shaped like a ChildProcess. */
class HelperChild extends EventEmitter implements Process {
  readonly stdin: Writable;
  readonly stdout = new Readable({ read() {} });
  readonly stderr = new Readable({ read() {} });
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  done = false;

  constructor(
    private readonly helper: SpawnHelper,
    readonly id: number,
    readonly argv0: string,
  ) {
    super();
    this.stdin = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        if (!this.done) helper.send(F.stdin, id, chunk);
        cb();
      },
      final: (cb) => {
        if (!this.done) helper.send(F.stdinEof, id);
        cb();
      },
    });
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.done) return false;
    this.helper.send(F.kill, this.id, Buffer.from([osConstants.signals[signal] ?? osConstants.signals.SIGKILL]));
    return true;
  }

  /**
   * fail ends a child that could not be started (code is then its exit code, as Node reports -errno) or whose helper
   * went away (it was killed): 'error', then 'close'.
   */
  fail(err: NodeJS.ErrnoException, code: number): void {
    if (this.done) return;
    this.done = true;
    this.emit('error', err);
    this.stdout.push(null);
    this.stderr.push(null);
    if (this.pid === undefined) this.exitCode = code;
    else this.signalCode = 'SIGKILL';
    this.emit('close', this.exitCode, this.signalCode);
  }

  /** exited ends it after its output: 'exit', then 'close' once stdout and stderr have ended. */
  exited(code: number, signal: number): void {
    if (this.done) return;
    this.done = true;
    this.exitCode = signal ? null : code;
    this.signalCode = signal ? (signalNames.get(signal) ?? 'SIGKILL') : null;
    this.stdout.push(null);
    this.stderr.push(null);
    this.emit('exit', this.exitCode, this.signalCode);
    let open = 2;
    const ended = () => {
      if (--open === 0) this.emit('close', this.exitCode, this.signalCode);
    };
    for (const s of [this.stdout, this.stderr]) {
      if (s.readableEnded) ended();
      else {
        s.once('end', ended);
        // Nobody reads a stream nobody listens to: let it flow so 'end' comes.
        if (s.listenerCount('data') === 0 && !s.readableFlowing) s.resume();
      }
    }
  }
}

/**
 * SpawnHelper runs hf-spawn and starts processes through it. When it cannot start or dies, the processes it was
 * running fail (their requests get the executors' error answers) and later ones fall back to Node's spawn.
 */
export class SpawnHelper implements Spawner {
  readonly kind = 'helper';
  private readonly proc;
  private readonly children = new Map<number, HelperChild>();
  private nextId = 1;
  private pending: Buffer | undefined;
  private dead = false;

  constructor(
    binary: string,
    private readonly onDeath: (why: string) => void,
  ) {
    // Its PATH is the watchdog's, for a program that was not on PATH at start (the helper looks it up again).
    this.proc = spawn(binary, [String(process.pid)], { stdio: ['pipe', 'pipe', 'inherit'], env: process.env.PATH ? { PATH: process.env.PATH } : {} });
    this.proc.on('error', (e) => this.die(`cannot run ${binary}: ${e.message}`));
    this.proc.on('exit', (code, signal) => this.die(`exited (${signal ?? code})`));
    this.proc.stdin.on('error', () => undefined);
    this.proc.stdout.on('data', (chunk: Buffer) => this.read(chunk));
  }

  get alive(): boolean {
    return !this.dead;
  }

  start(command: string, args: readonly string[], env: NodeJS.ProcessEnv, argv0: string): Process {
    const id = this.nextId++;
    if (this.nextId > 0xfffffff0) this.nextId = 1;
    const child = new HelperChild(this, id, argv0);
    this.children.set(id, child);
    const strs: string[] = [command, argv0, ...args];
    for (const k in env) {
      const v = env[k];
      if (v !== undefined) strs.push(`${k}=${v}`);
    }
    const text = strs.join('\0') + '\0';
    const len = Buffer.byteLength(text);
    const frame = Buffer.allocUnsafe(17 + len);
    frame.writeUInt32LE(8 + len, 0);
    frame[4] = F.spawn;
    frame.writeUInt32LE(id, 5);
    frame.writeUInt32LE(1 + args.length, 9);
    frame.writeUInt32LE(strs.length - 2 - args.length, 13);
    frame.write(text, 17, 'utf8');
    this.write(frame);
    return child;
  }

  /** send writes one frame (header and payload in one write). */
  send(type: number, id: number, payload?: Buffer): void {
    const n = payload?.length ?? 0;
    const frame = Buffer.allocUnsafe(9 + n);
    frame.writeUInt32LE(n, 0);
    frame[4] = type;
    frame.writeUInt32LE(id, 5);
    if (payload) payload.copy(frame, 9);
    this.write(frame);
  }

  close(): void {
    this.dead = true;
    this.proc.stdin.end();
  }

  /**
   * write queues a frame; the frames of one turn of the event loop go to the helper in one write (one wake-up): a
   * small request's SPAWN, STDIN and STDIN_EOF come from one turn (its headers, body and end parsed together).
   */
  private write(frame: Buffer): void {
    if (this.dead) return;
    if (!this.corked) {
      this.corked = true;
      this.proc.stdin.cork();
      setImmediate(this.uncork);
    }
    this.proc.stdin.write(frame);
  }

  private corked = false;
  private readonly uncork = () => {
    this.corked = false;
    this.proc.stdin.uncork();
  };

  private die(why: string): void {
    if (this.dead && this.children.size === 0) return;
    const wasAlive = !this.dead;
    this.dead = true;
    for (const c of this.children.values()) {
      // Its running processes are orphans now, with nobody to enforce their timeouts: they end with it.
      if (c.pid !== undefined) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      const e = new Error(`spawn helper ${why}`) as NodeJS.ErrnoException;
      e.code = 'EHELPER';
      c.fail(e, -1);
    }
    this.children.clear();
    if (wasAlive) this.onDeath(why);
  }

  private read(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= 9) {
      const len = buf.readUInt32LE(off);
      if (buf.length - off < 9 + len) break;
      this.frame(buf[off + 4]!, buf.readUInt32LE(off + 5), buf.subarray(off + 9, off + 9 + len));
      off += 9 + len;
    }
    this.pending = off < buf.length ? buf.subarray(off) : undefined;
  }

  private frame(type: number, id: number, p: Buffer): void {
    const c = this.children.get(id);
    if (!c) return;
    switch (type) {
      case F.spawned:
        c.pid = p.readUInt32LE(0);
        c.emit('spawn');
        break;
      case F.stdout:
        c.stdout.push(p);
        break;
      case F.stderr:
        c.stderr.push(p);
        break;
      case F.spawnErr: {
        this.children.delete(id);
        const errno = p.readInt32LE(0);
        const code = errnoNames.get(errno) ?? 'UNKNOWN';
        const e = new Error(`spawn ${c.argv0} ${code}`) as NodeJS.ErrnoException;
        e.code = code;
        e.errno = -errno;
        e.syscall = `spawn ${c.argv0}`;
        c.fail(e, -errno);
        break;
      }
      case F.exit:
        this.children.delete(id);
        c.exited(p.readInt32LE(0), p.readInt32LE(4));
        break;
    }
  }
}

/**
 * ProcessStarter hands out the spawn helper while it lives and Node's spawn otherwise. use: "helper" requires the
 * helper to be built, "node" never uses it, "auto" uses it when present.
 */
export class ProcessStarter {
  private helper: SpawnHelper | undefined;

  constructor(use: 'auto' | 'helper' | 'node', log: (msg: string) => void, binary = helperPath) {
    if (use === 'node') return;
    let ok = false;
    try {
      accessSync(binary, fsConstants.X_OK);
      ok = true;
    } catch {
      if (use === 'helper') log(`Spawn helper ${binary} is not there: processes are started with Node's spawn`);
    }
    if (ok) this.helper = new SpawnHelper(binary, (why) => log(`Spawn helper ${why}: processes are started with Node's spawn from now on`));
  }

  /** kind tells which starter a new process gets now. */
  get kind(): 'helper' | 'node' {
    return this.helper?.alive ? 'helper' : 'node';
  }

  start(command: string, args: readonly string[], env: NodeJS.ProcessEnv, argv0: string): Process {
    return (this.helper?.alive ? this.helper : nodeSpawner).start(command, args, env, argv0);
  }

  close(): void {
    this.helper?.close();
  }
}
