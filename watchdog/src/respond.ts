/**
 * respond holds the answers the watchdog writes itself (timeouts, errors, 405) and small request helpers shared by
 * the executors and the admission path. Platform answers carry X-OpenFaaS-Internal, naming who produced them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { headers as H } from './protocol.js';

/** secondsSince formats the time since start (process.hrtime.bigint()) as X-Duration-Seconds does. */
export function secondsSince(start: bigint): string {
  return (Number(process.hrtime.bigint() - start) / 1e9).toFixed(6);
}

/** gatewayTimeout answers 504 when the function ran past its exec timeout (or cuts a started response). */
export function gatewayTimeout(res: ServerResponse, start: bigint, timeoutMs: number): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(504, { [H.internal]: 'of-watchdog', 'X-Duration-Seconds': secondsSince(start), 'Content-Type': 'text/plain' });
  res.end(`Function exceeded the timeout of ${timeoutMs / 1000}s\n`);
}

/** readBody reads a whole request body; it rejects when the client goes away first. */
export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
    req.once('close', () => {
      if (!req.complete) reject(new Error('client closed the request'));
    });
  });
}

/** noBody tells whether a request has no body at all. */
export function noBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] === undefined && (cl === undefined || cl === '0');
}

/** methodNotAllowed answers 405. */
export function methodNotAllowed(res: ServerResponse): void {
  res.writeHead(405, { 'Content-Type': 'text/plain' });
  res.end('Method not allowed\n');
}

/** internalError answers code with msg, marked as produced by who; a started response is cut instead. */
export function internalError(res: ServerResponse, code: number, msg: string, who: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(code, { 'Content-Type': 'text/plain', [H.internal]: who });
  res.end(msg + '\n');
}
