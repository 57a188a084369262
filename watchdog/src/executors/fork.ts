/**
 * fork runs a process per request, as of-watchdog's streaming and serializing modes do: the request's CGI variables
 * in its environment, the body on its stdin. streaming sends 200 and the output as it comes; serializing buffers the
 * body up to Content-Length and the output until the process exits, and answers 500 when it fails.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { cgiEnv } from '../cgi.js';
import type { WatchdogConfig } from '../config.js';
import { log, pipeLogs } from '../logs.js';
import { headers as H } from '../protocol.js';
import { secondsSince } from '../respond.js';
import { childEnv, type Executor } from './executor.js';
import { ProcessStarter, resolveCommand } from './spawn.js';

/** ForkExecutor starts fprocess once per request. */
export class ForkExecutor implements Executor {
  /** command is fprocess's program, looked up on PATH once; env is the base environment, computed once. */
  private readonly command: string;
  private readonly args: string[];
  private readonly env: NodeJS.ProcessEnv;
  private readonly starter: ProcessStarter;

  constructor(
    private readonly config: WatchdogConfig,
    private readonly streaming: boolean,
  ) {
    this.env = childEnv();
    this.command = resolveCommand(config.fprocessArgv[0]!, this.env.PATH);
    this.args = config.fprocessArgv.slice(1);
    this.starter = new ProcessStarter(config.spawner, log);
  }

  run(req: IncomingMessage, res: ServerResponse, timeoutMs: number, start: bigint, body?: Buffer): void {
    const c = this.config;
    const streaming = this.streaming;
    log('Forking fprocess.');
    const env = cgiEnv(req, { ...this.env });
    const child = this.starter.start(this.command, this.args, env, c.fprocessArgv[0]!);
    pipeLogs('stderr', child.stderr, process.stderr, c.prefixLogs, c.logBufferSize);
    child.stdin.on('error', () => undefined);
    let timedOut = false;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            log(`Function was killed by ExecTimeout: ${timeoutMs / 1000}s`);
            child.kill('SIGKILL');
          }, timeoutMs)
        : undefined;
    res.on('close', () => {
      if (!res.writableFinished && child.exitCode === null) child.kill('SIGKILL');
    });
    let bytes = 0;
    let spawnError: Error | undefined;
    child.on('error', (err) => {
      spawnError = err;
    });
    if (streaming) {
      // Output is written as it comes, but what comes within one turn of the event loop (typically a short
      // function's whole output and its exit) leaves in one write: the headers, the chunks and the last chunk.
      let corked = false;
      const uncork = () => {
        corked = false;
        res.uncork();
      };
      child.on('spawn', () => {
        res.writeHead(200, { 'Content-Type': c.contentType });
        child.stdout.on('data', (d: Buffer) => {
          bytes += d.length;
          if (!corked) {
            corked = true;
            res.cork();
            setImmediate(uncork);
          }
          res.write(d);
        });
      });
      // A body already read (a bounce that failed) goes in whole; otherwise the request streams in.
      if (body !== undefined) child.stdin.end(body);
      else req.pipe(child.stdin);
      child.on('close', (code) => {
        if (timer) clearTimeout(timer);
        if (spawnError && !res.headersSent) {
          res.writeHead(500, { 'Content-Type': 'text/plain', [H.internal]: 'of-watchdog' });
          res.end(`Unable to start function: ${spawnError.message}\n`);
          return;
        }
        if (code !== 0 && !timedOut) log(`Function exited with code ${code}`);
        log(`Wrote ${bytes} Bytes - Duration: ${secondsSince(start)} seconds`);
        res.end();
      });
      return;
    }
    // serializing: buffer stdin up to Content-Length and stdout until exit
    const limit = Number(req.headers['content-length'] ?? Infinity);
    if (body !== undefined) {
      child.stdin.end(body.length > limit ? body.subarray(0, limit) : body);
    } else {
      let got = 0;
      req.on('data', (d: Buffer) => {
        if (got >= limit) return;
        const part = got + d.length > limit ? d.subarray(0, limit - got) : d;
        got += part.length;
        child.stdin.write(part);
      });
      req.on('end', () => child.stdin.end());
    }
    const out: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (res.destroyed) return;
      const dur = secondsSince(start);
      if (spawnError || timedOut || code !== 0) {
        const msg = spawnError ? spawnError.message : timedOut ? `exec timeout after ${timeoutMs / 1000}s` : `exit status ${code ?? signal}`;
        log(`Function error: ${msg}`);
        res.writeHead(500, { 'Content-Type': 'text/plain', 'X-Duration-Seconds': dur });
        res.end(msg);
        return;
      }
      const out1 = out.length === 1 ? out[0]! : Buffer.concat(out);
      log(`Wrote ${out1.length} Bytes - Duration: ${dur} seconds`);
      res.writeHead(200, { 'Content-Type': c.contentType, 'X-Duration-Seconds': dur, 'Content-Length': out1.length });
      res.end(out1);
    });
  }

  close(): void {
    this.starter.close();
  }
}
