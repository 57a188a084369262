/**
 * executor is how a slot runs a request, one implementation per mode like of-watchdog's runners: http (a long-lived
 * upstream over a pooled connection), fork (a process per request: streaming or serializing), classic (a process per
 * request, answered as the classic watchdog does) and static (files). The watchdog picks its home slot's executor
 * once at start; the guest slot always runs over http.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { functionEnv } from '../credentials.js';

/** Executor runs admitted requests; the response's close event is where the caller's accounting ends. */
export interface Executor {
  /**
   * run serves one request within timeoutMs (0 = none); start is process.hrtime.bigint() at arrival; body is set
   * when the request body was already read (a bounce that failed).
   */
  run(req: IncomingMessage, res: ServerResponse, timeoutMs: number, start: bigint, body?: Buffer): void;
  /** close frees what the executor holds (pooled connections). */
  close(): void;
}

/** childEnv is the environment of function processes: the watchdog's own settings and credentials removed. */
export function childEnv(): NodeJS.ProcessEnv {
  return functionEnv(process.env);
}
