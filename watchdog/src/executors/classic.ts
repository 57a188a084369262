/**
 * classic runs one process per request the way the classic OpenFaaS watchdog (the `fwatchdog` inside images such as
 * functions/alpine) does, so a function deployed as "run this command" answers what it would answer in its image:
 *
 *   - the whole request body is read first and written to the process's stdin;
 *   - stdout (and stderr too, with combine_output=true, the default) is buffered until the process exits;
 *   - exit 0: 200 with the output, X-Duration-Seconds, and Content-Type from content_type, else the request's;
 *   - non-zero exit or a start failure: 500 with the error ("exit status 2", "signal: killed", ...), a newline, then
 *     whatever the process wrote, so the caller sees why it failed;
 *   - exec_timeout passed: 408 with "Killed process.\n" and the process is killed.
 *
 * of-watchdog's streaming mode cannot do this (its 200 goes out before the process ends), which is why a failing
 * command there looks like an empty success.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { cgiEnv } from '../cgi.js';
import type { WatchdogConfig } from '../config.js';
import { log } from '../logs.js';
import { childEnv, type Executor } from './executor.js';
import { nodeSpawner, ProcessStarter, resolveCommand } from './spawn.js';

/** ClassicOptions are what runClassic needs besides the request. */
export interface ClassicOptions {
  config: Pick<WatchdogConfig, 'fprocess' | 'fprocessArgv' | 'contentTypeOverride' | 'combineOutput'>;
  /** env is the base environment of the process (the watchdog's, less its secrets). */
  env: NodeJS.ProcessEnv;
  /** timeoutMs is the exec timeout for this request; 0 = none. */
  timeoutMs: number;
  start: bigint;
  /** starter starts the process (Node's spawn when not given); command is fprocess's program looked up on PATH. */
  starter?: ProcessStarter;
  command?: string;
}

/** classicEnv adds the CGI variables only the classic watchdog sets: Http_ContentLength, Http_Content_Length, Http_Host. */
export function classicEnv(req: Pick<IncomingMessage, 'headers' | 'method' | 'url'>, into?: Record<string, string | undefined>): Record<string, string> {
  const env = cgiEnv(req, into);
  // Go reports -1 for a body of unknown length (chunked) and 0 when there is none.
  const cl = req.headers['content-length'];
  const len = cl !== undefined ? cl : req.headers['transfer-encoding'] !== undefined ? '-1' : '0';
  env.Http_ContentLength = len;
  env.Http_Content_Length = len;
  if (req.headers.host) env.Http_Host = req.headers.host;
  return env;
}

/** exitText is Go's text for how a process ended, as the classic watchdog puts it in a 500 body. */
export function exitText(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `signal: ${signalNames[signal] ?? signal}`;
  return `exit status ${code ?? -1}`;
}

/** spawnErrorText is Go's text for a command that could not start. */
export function spawnErrorText(cmd: string, err: NodeJS.ErrnoException): string {
  if (err.code === 'ENOENT' && !cmd.includes('/')) return `exec: "${cmd}": executable file not found in $PATH`;
  if (err.code === 'ENOENT') return `fork/exec ${cmd}: no such file or directory`;
  if (err.code === 'EACCES') return `fork/exec ${cmd}: permission denied`;
  return `fork/exec ${cmd}: ${err.message}`;
}

const signalNames: Partial<Record<NodeJS.Signals, string>> = {
  SIGKILL: 'killed',
  SIGTERM: 'terminated',
  SIGSEGV: 'segmentation fault',
  SIGABRT: 'aborted',
  SIGINT: 'interrupt',
  SIGPIPE: 'broken pipe',
  SIGHUP: 'hangup',
};

function seconds(start: bigint): string {
  return (Number(process.hrtime.bigint() - start) / 1e9).toFixed(6);
}

/** runClassic serves one request with one process (body: the request body, when already read); it never throws. */
export function runClassic(req: IncomingMessage, res: ServerResponse, o: ClassicOptions, body?: Buffer): void {
  if (body !== undefined) return fork(req, res, o, body);
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.once('error', () => res.destroy());
  req.once('end', () => fork(req, res, o, Buffer.concat(chunks)));
}

function fork(req: IncomingMessage, res: ServerResponse, o: ClassicOptions, input: Buffer): void {
  const c = o.config;
  const text = { 'Content-Type': 'text/plain; charset=utf-8' };
  log('Forking fprocess.');
  const env = classicEnv(req, { ...o.env });
  const argv0 = c.fprocessArgv[0]!;
  const args = c.fprocessArgv.slice(1);
  const child = o.starter ? o.starter.start(o.command ?? argv0, args, env, argv0) : nodeSpawner.start(argv0, args, env, argv0);
  const out: Buffer[] = [];
  const errOut: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  // Combined output keeps stdout and stderr interleaved in arrival order, as one pipe would.
  child.stderr.on('data', (d: Buffer) => (c.combineOutput ? out : errOut).push(d));
  child.stdin.on('error', () => undefined);
  let answered = false;
  const timer =
    o.timeoutMs > 0
      ? setTimeout(() => {
          log(`Killing process: ${c.fprocess}`);
          if (!answered && !res.destroyed) {
            answered = true;
            res.writeHead(408, text);
            res.end('Killed process.\n');
          }
          child.kill('SIGKILL');
        }, o.timeoutMs)
      : undefined;
  res.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let spawnError: NodeJS.ErrnoException | undefined;
  child.on('error', (e: NodeJS.ErrnoException) => (spawnError = e));
  child.stdin.end(input);
  child.on('close', (code, signal) => {
    if (timer) clearTimeout(timer);
    if (!c.combineOutput && errOut.length > 0) log(`stderr: ${Buffer.concat(errOut).toString()}`);
    if (answered || res.destroyed) return;
    answered = true;
    const body = Buffer.concat(out);
    if (spawnError || code !== 0) {
      const why = spawnError ? spawnErrorText(c.fprocessArgv[0]!, spawnError) : exitText(code, signal);
      log(`Function error: ${why}`);
      res.writeHead(500, text);
      res.end(Buffer.concat([Buffer.from(`${why}\n`), body]));
      return;
    }
    const dur = seconds(o.start);
    const headers: Record<string, string> = { 'X-Duration-Seconds': dur };
    const ct = c.contentTypeOverride || req.headers['content-type'];
    if (ct) headers['Content-Type'] = ct;
    res.writeHead(200, headers);
    res.end(body);
    log(`Wrote ${body.length} Bytes - Duration: ${dur}s`);
  });
}

/** ClassicExecutor runs each request as the classic watchdog would (see runClassic). */
export class ClassicExecutor implements Executor {
  /** env is the base environment of every process and command fprocess's program on PATH, both found once. */
  private readonly env = childEnv();
  private readonly command: string;
  private readonly starter: ProcessStarter;

  constructor(private readonly config: ClassicOptions['config'] & { spawner: WatchdogConfig['spawner'] }) {
    this.command = resolveCommand(config.fprocessArgv[0]!, this.env.PATH);
    this.starter = new ProcessStarter(config.spawner, log);
  }

  run(req: IncomingMessage, res: ServerResponse, timeoutMs: number, start: bigint, body?: Buffer): void {
    runClassic(req, res, { config: this.config, env: this.env, timeoutMs, start, starter: this.starter, command: this.command }, body);
  }

  close(): void {
    this.starter.close();
  }
}
