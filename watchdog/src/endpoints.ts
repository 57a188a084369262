/**
 * endpoints answers the watchdog's own paths: /_/health (200 once started and the lock file is there),
 * /_/ready (readiness as capacity: 503 draining, 429 when the home slot is full, else the upstream's ready_path),
 * /_/hyperfaas/status (the load report), /_/hyperfaas/control (control over HTTP, with the control token) and
 * /metrics on the metrics port.
 */
import { access } from 'node:fs/promises';
import { Agent, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { WatchdogConfig } from './config.js';
import { controlAllowed } from './control.js';
import type { HttpTarget } from './executors/http.js';
import { log } from './logs.js';
import type { WatchdogMetrics } from './metrics.js';
import { headers as H, type ControlReply, type ControlRequest, type LoadReport } from './protocol.js';
import { internalError, methodNotAllowed } from './respond.js';
import type { SlotTable } from './slots.js';

/** EndpointHost is what the endpoints read from the watchdog and the control requests they pass on. */
export interface EndpointHost {
  readonly config: WatchdogConfig;
  readonly slots: SlotTable;
  readonly metrics: WatchdogMetrics;
  /** accepting: started, the upstream listens and the lock file was written. */
  accepting(): boolean;
  draining(): boolean;
  /** readyTarget is the upstream that /_/ready asks at ready_path (http mode only). */
  readyTarget(): HttpTarget | undefined;
  report(): LoadReport;
  /** loadSource names where CPU and memory figures come from. */
  loadSource(): string;
  control(req: ControlRequest): Promise<ControlReply>;
}

/** Endpoints serves the /_/ paths and the metrics port. */
export class Endpoints {
  /** probeAgent carries the readiness probes to the upstream; requests use the executors' pools. */
  private readonly probeAgent = new Agent({ keepAlive: true, maxSockets: 4 });

  constructor(private readonly h: EndpointHost) {}

  /** handle answers path when it is one of the watchdog's own; false leaves the request to the function. */
  handle(path: string, req: IncomingMessage, res: ServerResponse): boolean {
    if (path === '/_/health') return void this.health(req, res), true;
    if (path === '/_/ready') return void this.ready(req, res), true;
    if (path === '/_/hyperfaas/status') return this.status(req, res), true;
    // A control body cut off mid-way rejects the read: drop that request, never the watchdog.
    if (path === '/_/hyperfaas/control') {
      void this.controlHttp(req, res).catch((err: Error) => {
        log(`control request dropped: ${err.message}`);
        res.destroy();
      });
      return true;
    }
    return false;
  }

  /** close drops the probe connections. */
  close(): void {
    this.probeAgent.destroy();
  }

  private async lockPresent(): Promise<boolean> {
    if (this.h.config.suppressLock) return false;
    try {
      await access(this.h.config.lockFile);
      return true;
    } catch {
      return false;
    }
  }

  private async health(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET') return methodNotAllowed(res);
    if (this.h.accepting() && (await this.lockPresent())) {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('OK');
    } else {
      res.writeHead(503, { 'Content-Type': 'text/plain' });
      res.end('Service Unavailable');
    }
  }

  private async ready(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET') return methodNotAllowed(res);
    if (!this.h.accepting() || this.h.draining() || !(await this.lockPresent())) {
      res.writeHead(503, { 'Content-Type': 'text/plain' });
      res.end('Service Unavailable');
      return;
    }
    const home = this.h.slots.home;
    if (this.h.slots.full(home)) {
      res.writeHead(429, { 'Content-Type': 'text/plain', [H.internal]: 'faas-middleware' });
      res.end(`Concurrent request limit exceeded. Max concurrent requests: ${home.capacity}`);
      return;
    }
    const t = this.h.config.readyPath ? this.h.readyTarget() : undefined;
    if (t) {
      const up = request({ host: t.host, port: t.port, method: 'GET', path: t.prefix + this.h.config.readyPath, agent: this.probeAgent }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, { 'Content-Type': ur.headers['content-type'] ?? 'text/plain' });
        ur.pipe(res);
      });
      up.on('error', () => {
        if (!res.headersSent) {
          res.writeHead(503, { 'Content-Type': 'text/plain' });
          res.end('Service Unavailable');
        }
      });
      up.end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('OK');
  }

  private status(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET') return methodNotAllowed(res);
    // The load report, plus where its CPU and memory figures come from (cgroup-v2, cgroup-v1 or proc).
    const body = JSON.stringify({ ...this.h.report(), loadSource: this.h.loadSource() });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }

  private async controlHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return methodNotAllowed(res);
    const verdict = controlAllowed(req.headers[H.controlToken], this.h.config.controlToken);
    if (!verdict.ok) return internalError(res, verdict.status, verdict.message, 'hyperfaas');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let cmd: ControlRequest;
    try {
      cmd = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ControlRequest;
    } catch {
      return internalError(res, 400, 'body is not JSON', 'hyperfaas');
    }
    const reply = await this.h.control(cmd);
    const body = JSON.stringify(reply);
    res.writeHead(reply.ok ? 200 : 409, { 'Content-Type': 'application/json', [H.instance]: this.h.config.instanceId });
    res.end(body);
  }

  /** serveMetrics answers the metrics port: /metrics, else 404. */
  async serveMetrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if ((req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('404 page not found\n');
      return;
    }
    const text = await this.h.metrics.text();
    res.writeHead(200, { 'Content-Type': this.h.metrics.contentType });
    res.end(text);
  }
}
