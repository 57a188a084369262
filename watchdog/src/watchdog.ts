/**
 * watchdog is the in-container scheduler: an of-watchdog compatible HTTP front (the modes are executors/, chosen
 * once at start; /_/health, /_/ready, lock file, limits, timeouts, metrics) with two worker slots, a control surface
 * (specialise, release, resize, drain) and a view of its own load. Bodies stream straight through; nothing on the
 * request path parses bodies, logs at info level or touches the file system synchronously.
 */
import type { ChildProcess } from 'node:child_process';
import { access, rm, writeFile } from 'node:fs/promises';
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { resolve as resolvePath } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { WatchdogConfig } from './config.js';
import { parseDuration } from './units.js';
import { cpuMemBetween, detectSource, type CpuMem, type Usage, type UsageSource } from './load.js';
import { log } from './logs.js';
import { createMetrics, type WatchdogMetrics } from './metrics.js';
import { headers as H, type ControlReply, type ControlRequest, type LoadReport, type Watermark } from './protocol.js';
import { SlotTable, type Slot, type Ticket } from './slots.js';
import { Counter } from 'prom-client';
import { admit, WaitQueue } from './ics/admission.js';
import { tokenMatches } from './credentials.js';
import type { BounceMeta, BounceReply, HttpHeaders } from './ics/bounce-codec.js';
import { watermarkOf } from './watermark.js';
import { GuestWorker, startUpstream, waitForTcp } from './workers.js';
import { childEnv, type Executor } from './executors/executor.js';
import { HttpExecutor, homeExecutor } from './executors/index.js';
import { internalError, methodNotAllowed, noBody, readBody } from './respond.js';

/** WatchdogOptions are what the process entry adds to the config. */
export interface WatchdogOptions {
  /** runtime is the Node runtime's server.js for the guest slot ("" disables the guest slot). */
  runtime: string;
  /** exit is called when the watchdog must end the process (upstream died: code 1; after a drain: code 0). */
  exit?: (code: number) => void;
}

/** ControlVerdict is whether an HTTP control request may run, and if not the status and message to answer. */
export type ControlVerdict = { ok: true } | { ok: false; status: 401 | 403; message: string };

/**
 * controlAllowed: every control request over HTTP carries x-hyperfaas-token equal to this instance's token, from
 * loopback too (every instance on a host shares loopback, so an address proves nothing). Without a token of its
 * own the instance takes control over NATS only.
 */
export function controlAllowed(tokenHeader: string | string[] | undefined, token: string): ControlVerdict {
  if (token === '') return { ok: false, status: 403, message: 'control over HTTP is disabled: this instance has no control token' };
  if (tokenHeader === undefined || tokenHeader === '') return { ok: false, status: 401, message: 'control requests need an x-hyperfaas-token header' };
  if (!tokenMatches(tokenHeader, token)) return { ok: false, status: 403, message: 'x-hyperfaas-token is not this instance\'s control token' };
  return { ok: true };
}

/** Bouncer hands a request to the global scheduler (the NATS link implements it); it throws when it cannot. */
export interface Bouncer {
  readonly connected: boolean;
  bounce(meta: BounceMeta, headers: HttpHeaders, body: Uint8Array, timeoutMs: number): Promise<{ reply: BounceReply; body: Uint8Array }>;
}

/** bounceBodyLimit: bodies above this stay here (queued) rather than travel through NATS (1 MiB payload limit). */
const bounceBodyLimit = 768 * 1024;

/** Watchdog runs one instance: start() listens, shutdown() drains, control() changes slots. */
export class Watchdog {
  readonly config: WatchdogConfig;
  readonly slots: SlotTable;
  readonly metrics: WatchdogMetrics;
  /** port and metricsPort are the bound ports (useful when configured as 0). */
  port = 0;
  metricsPort = 0;
  draining = false;
  /** onReport is called with a fresh report whenever the watermark state changes (the NATS layer hooks in here). */
  onWatermark: ((r: LoadReport) => void) | undefined;

  private readonly opts: WatchdogOptions;
  private server: Server | undefined;
  private metricsServer: Server | undefined;
  private upstream: ChildProcess | undefined;
  private upstreamWait: Promise<boolean> | undefined;
  /** home is the executor of the configured mode, chosen once; guestExec is the guest runtime's, while it runs. */
  private readonly home: Executor;
  private guestExec: HttpExecutor | undefined;
  /** probeAgent carries the readiness probes to the upstream (ready_path); requests use the executors' pools. */
  private readonly probeAgent = new Agent({ keepAlive: true, maxSockets: 4 });
  private guest: GuestWorker | undefined;
  private guestBusy: Promise<unknown> = Promise.resolve();
  private readonly guestEnabled: boolean;
  private accepting = false;
  private stopping = false;
  private seq = 0;
  private load: CpuMem = { cpu: { used: 0, limit: 0 }, memory: { used: 0, limit: 0 } };
  private limitOverride: { cpu?: number; memory?: number } = {};
  private lastWatermark: Watermark = 'low';
  private readonly slotMarks: Record<string, Watermark> = { home: 'low', guest: 'low' };
  private sampler: NodeJS.Timeout | undefined;
  private source: UsageSource | undefined;
  private lastUsage: { u: Usage; at: number } | undefined;
  private link: Bouncer | undefined;
  private readonly queues: Record<'home' | 'guest', WaitQueue> = { home: new WaitQueue(), guest: new WaitQueue() };
  private overflowCounter: Counter<'outcome'> | undefined;

  constructor(config: WatchdogConfig, opts: WatchdogOptions) {
    this.config = config;
    this.opts = opts;
    const home = config.functionName ? `${config.functionName}.${config.namespace}` : '';
    this.guestEnabled = config.guest.enabled && opts.runtime !== '';
    this.slots = new SlotTable(
      { function: home, capacity: config.maxInflight, state: 'serving' },
      this.guestEnabled ? { capacity: config.guest.capacity, state: 'down' } : undefined,
    );
    this.metrics = createMetrics(() => this.report());
    this.overflowCounter = new Counter({
      name: 'hyperfaas_ics_overflow_total',
      help: 'Requests a slot could not take at once, by what became of them (bounced, bounce_failed, queued, queue_timeout, rejected)',
      labelNames: ['outcome'],
      registers: [this.metrics.registry],
    });
    this.home = homeExecutor(config);
  }

  // ---------------------------------------------------------------------------------------------------- lifecycle

  /** start forks the upstream (http mode) and the guest runtime, listens, and writes the lock file when ready. */
  async start(): Promise<void> {
    const c = this.config;
    if (c.mode === 'http') {
      log(`Forking - ${c.fprocessArgv[0]} [${c.fprocessArgv.slice(1).join(' ')}]`);
      const child = startUpstream(c.fprocessArgv, { ...childEnv(), http_port: String(c.httpPort) }, { prefix: c.prefixLogs, bufferSize: c.logBufferSize });
      this.upstream = child;
      // However the watchdog ends (fatal error, exit()), it does not leave the function running behind it.
      process.once('exit', () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      child.on('error', (err) => {
        log(`Error starting function process: ${err.message}`);
        this.fatal(1);
      });
      child.on('exit', (code, signal) => {
        if (this.stopping) return;
        log(`Forked function has terminated: ${signal ? `signal ${signal}` : `exit code ${code}`}`);
        this.fatal(1);
      });
      const http = this.home as HttpExecutor;
      const t = http.target;
      this.upstreamWait = waitForTcp(t.host, t.port, () => this.stopping || child.exitCode !== null);
      http.waitFor(this.upstreamWait);
    }
    if (this.guestEnabled) this.forkGuest();

    this.server = createServer({ keepAliveTimeout: 65_000, requestTimeout: c.readTimeoutMs, headersTimeout: Math.min(c.readTimeoutMs || 60_000, 60_000) }, (req, res) =>
      this.handle(req, res),
    );
    this.server.keepAliveTimeout = 65_000;
    this.metricsServer = createServer((req, res) => void this.serveMetrics(req, res));
    await Promise.all([listen(this.server, c.port, c.bindAddress), listen(this.metricsServer, c.metricsPort, c.bindAddress)]);
    this.port = (this.server.address() as AddressInfo).port;
    this.metricsPort = (this.metricsServer.address() as AddressInfo).port;
    log(`Listening on port: ${this.port}`);
    log(`Metrics listening on port: ${this.metricsPort}`);

    if (this.upstreamWait && !(await this.upstreamWait)) return;
    if (!c.suppressLock) {
      log(`Writing lock-file to: ${c.lockFile}`);
      try {
        await writeFile(c.lockFile, '', { mode: 0o660 });
      } catch (err) {
        log(`Cannot write lock file ${c.lockFile}: ${(err as Error).message}`);
        this.fatal(1);
        return;
      }
    }
    this.accepting = true;
    await this.startSampling();
  }

  private fatal(code: number): void {
    if (this.stopping) return;
    this.stopping = true;
    this.guest?.stop();
    if (this.upstream && this.upstream.exitCode === null) this.upstream.kill('SIGKILL');
    void rm(this.config.lockFile, { force: true }).finally(() => (this.opts.exit ?? process.exit)(code));
  }

  /**
   * shutdown is of-watchdog's SIGTERM path: remove the lock (health turns 503), wait healthcheck_interval, stop
   * accepting, wait up to write_timeout for requests in flight, then end the workers.
   */
  async shutdown(): Promise<void> {
    this.draining = true;
    await rm(this.config.lockFile, { force: true }).catch(() => undefined);
    await sleep(this.config.healthcheckIntervalMs);
    this.stopping = true;
    const closed = new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server?.closeIdleConnections();
    const deadline = Date.now() + this.config.writeTimeoutMs;
    while (this.slots.inflight() > 0 && Date.now() < deadline) await sleep(10);
    this.server?.closeAllConnections();
    await closed;
    this.metricsServer?.closeAllConnections();
    await new Promise<void>((r) => (this.metricsServer ? this.metricsServer.close(() => r()) : r()));
    if (this.sampler) clearInterval(this.sampler);
    this.guest?.stop();
    await this.stopProcess(this.upstream);
    this.home.close();
    this.guestExec?.close();
    this.probeAgent.destroy();
  }

  private async stopProcess(child: ChildProcess | undefined): Promise<void> {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 2000);
    await gone;
    clearTimeout(t);
  }

  // --------------------------------------------------------------------------------------------------- guest slot

  private forkGuest(): void {
    if (this.stopping || !this.guestEnabled) return;
    const g = new GuestWorker(this.opts.runtime, childEnv(), { prefix: this.config.prefixLogs, bufferSize: this.config.logBufferSize });
    this.guest = g;
    const slot = this.slots.guest;
    slot.state = 'down';
    slot.function = undefined;
    g.child.on('exit', (code, signal) => {
      if (this.guest !== g || this.stopping) return;
      log(`Guest runtime exited (${signal ?? code}); forking a new generic runtime`);
      this.guestExec?.close();
      this.guestExec = undefined;
      setTimeout(() => this.forkGuest(), 100).unref();
    });
    g.started.then(
      (port) => {
        if (this.guest !== g) return;
        this.guestExec?.close();
        this.guestExec = new HttpExecutor({ host: '127.0.0.1', port, prefix: '' }, this.config);
        slot.state = 'generic';
        // Open one pooled connection now (the generic runtime answers 503) so the first guest request reuses it.
        this.guestExec.warm();
      },
      (err: Error) => log(`Guest runtime failed to start: ${err.message}`),
    );
  }

  /** specialise loads a function directory into the generic guest slot; it resolves once the slot serves. */
  specialise(fn: string, dir: string, env: Record<string, string> = {}, capacity?: number): Promise<ControlReply> {
    return this.serialiseGuest(async () => {
      const t0 = performance.now();
      const g = this.guest;
      const slot = this.slots.guest;
      if (!g) return { ok: false, error: 'this instance has no guest slot' };
      await g.started.catch(() => undefined);
      if (slot.state !== 'generic') return { ok: false, error: `guest slot is ${slot.state}${slot.function ? ` (${slot.function})` : ''}` };
      slot.state = 'specialising';
      slot.function = fn;
      if (capacity !== undefined) slot.capacity = capacity;
      try {
        await g.specialise(resolvePath(dir), env);
      } catch (err) {
        slot.function = undefined;
        slot.state = 'generic';
        if (g.child.exitCode !== null || g.child.signalCode !== null) slot.state = 'down';
        return { ok: false, error: (err as Error).message, ms: performance.now() - t0 };
      }
      slot.state = 'serving';
      this.checkWatermark();
      return { ok: true, ms: performance.now() - t0 };
    });
  }

  /** release stops admitting to the guest slot, waits for its requests, and replaces it with a fresh generic runtime. */
  release(): Promise<ControlReply> {
    return this.serialiseGuest(async () => {
      const t0 = performance.now();
      const slot = this.slots.guest;
      const g = this.guest;
      if (!g) return { ok: false, error: 'this instance has no guest slot' };
      if (slot.state === 'generic') return { ok: true, ms: 0 };
      slot.state = 'releasing';
      const deadline = Date.now() + this.config.writeTimeoutMs;
      while (slot.inflight > 0 && Date.now() < deadline) await sleep(5);
      this.guest = undefined;
      const exited = new Promise((r) => (g.child.exitCode !== null || g.child.signalCode !== null ? r(null) : g.child.once('exit', r)));
      g.stop();
      await exited;
      this.guestExec?.close();
      this.guestExec = undefined;
      this.forkGuest();
      await this.guest!.started.catch(() => undefined);
      await sleep(0);
      return { ok: true, ms: performance.now() - t0 };
    });
  }

  private serialiseGuest(op: () => Promise<ControlReply>): Promise<ControlReply> {
    const run = this.guestBusy.then(op, op);
    this.guestBusy = run.catch(() => undefined);
    return run;
  }

  /** resize changes the home slot's concurrency limit and the CPU/memory limits the watermarks are measured against. */
  resize(r: { cpu?: number; memoryBytes?: number; capacity?: number }): ControlReply {
    if (r.capacity !== undefined) this.slots.home.capacity = Math.max(0, Math.floor(r.capacity));
    if (r.cpu !== undefined) this.limitOverride.cpu = r.cpu;
    if (r.memoryBytes !== undefined) this.limitOverride.memory = r.memoryBytes;
    this.checkWatermark();
    return { ok: true, ms: 0 };
  }

  /** drain marks the instance draining: the lock file goes, /_/ready answers 503, requests in flight finish. */
  async drain(): Promise<ControlReply> {
    this.draining = true;
    await rm(this.config.lockFile, { force: true }).catch(() => undefined);
    this.checkWatermark(true);
    return { ok: true, ms: 0 };
  }

  /** control runs one ControlRequest (the HTTP endpoint and a NATS subscriber share it). */
  async control(req: ControlRequest): Promise<ControlReply> {
    switch (req?.op) {
      case 'specialise':
        if (typeof req.function !== 'string' || !req.function) return { ok: false, error: 'specialise needs a function' };
        if (req.code?.kind !== 'dir') return { ok: false, error: `code kind ${String(req.code?.kind)} is not supported by this watchdog; use {kind:"dir"}` };
        return this.specialise(req.function, req.code.path, req.env ?? {}, req.capacity);
      case 'release':
        return this.release();
      case 'resize':
        return this.resize(req);
      case 'drain':
        return this.drain();
      default:
        return { ok: false, error: `unknown op ${JSON.stringify((req as { op?: unknown })?.op)}` };
    }
  }

  // --------------------------------------------------------------------------------------------------------- load

  private async startSampling(): Promise<void> {
    this.source = await detectSource({ cpuLimit: this.config.cpuLimit, memoryLimit: this.config.memoryLimit });
    await this.sample();
    this.sampler = setInterval(() => void this.sample(), this.config.loadIntervalMs);
    this.sampler.unref();
  }

  private async sample(): Promise<void> {
    if (!this.source) return;
    try {
      const u = await this.source.read();
      const at = performance.now();
      if (this.lastUsage) this.load = cpuMemBetween(this.lastUsage.u, u, at - this.lastUsage.at);
      else this.load = { cpu: { used: 0, limit: u.cpuLimit }, memory: { used: u.memUsed, limit: u.memLimit } };
      this.lastUsage = { u, at };
      this.checkWatermark();
    } catch {
      /* keep the previous sample */
    }
  }

  /** slotMoved re-checks the watermark only when a slot's own fill level crosses a watermark (two comparisons). */
  private slotMoved(slot: Slot): void {
    const f = slot.inflight / slot.capacity;
    const mark: Watermark = f >= this.config.watermarkHigh ? 'high' : f <= this.config.watermarkLow ? 'low' : 'normal';
    if (mark !== this.slotMarks[slot.kind]) {
      this.slotMarks[slot.kind] = mark;
      this.checkWatermark();
    }
  }

  private checkWatermark(force = false): void {
    const r = this.report();
    if (force || r.watermark !== this.lastWatermark) {
      this.lastWatermark = r.watermark;
      this.onWatermark?.(r);
    }
  }

  /** attachLink connects the ICS to the global scheduler for bounce-back. */
  attachLink(link: Bouncer): void {
    this.link = link;
  }

  /** report is the instance's current LoadReport. */
  report(): LoadReport {
    const c = this.config;
    const cpu = { used: this.load.cpu.used, limit: this.limitOverride.cpu ?? this.load.cpu.limit };
    const memory = { used: this.load.memory.used, limit: this.limitOverride.memory ?? this.load.memory.limit };
    const slots = this.slots.report();
    return {
      instance: c.instanceId,
      function: c.functionName,
      namespace: c.namespace,
      url: c.advertiseURL || `http://127.0.0.1:${this.port}`,
      runtime: c.runtime,
      seq: ++this.seq,
      at: Date.now(),
      slots,
      cpu,
      memory,
      watermark: watermarkOf({ slots, cpu, memory }, { low: c.watermarkLow, high: c.watermarkHigh }),
      draining: this.draining,
      queued: this.queues.home.length + this.queues.guest.length,
    };
  }

  // ----------------------------------------------------------------------------------------------------- requests

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    if (url.charCodeAt(1) === 95 && url.charCodeAt(2) === 47 && url.charCodeAt(0) === 47) {
      // "/_/..."
      const q = url.indexOf('?');
      const path = q >= 0 ? url.slice(0, q) : url;
      if (path === '/_/health') return void this.health(req, res);
      if (path === '/_/ready') return void this.ready(req, res);
      if (path === '/_/hyperfaas/status') return this.status(req, res);
      // A control body cut off mid-way rejects the read: drop that request, never the watchdog.
      if (path === '/_/hyperfaas/control') {
        return void this.controlHttp(req, res).catch((err: Error) => {
          log(`control request dropped: ${err.message}`);
          res.destroy();
        });
      }
    }
    this.invoke(req, res);
  }

  private invoke(req: IncomingMessage, res: ServerResponse): void {
    const start = process.hrtime.bigint();
    const fn = req.headers[H.function] as string | undefined;
    const slot = this.slots.route(fn);
    if (!slot) {
      internalError(res, 404, `function ${fn} is not served by this instance`, 'hyperfaas');
      return;
    }
    const queueing = this.config.overflow === 'queue';
    const decision = admit({
      queueing,
      serving: slot.state === 'serving',
      full: this.slots.full(slot),
      watermark: this.lastWatermark,
      bounces: Number(req.headers[H.bounces]) || 0,
      maxBounces: this.config.maxBounces,
      canBounce: () => this.mayBounce(req, slot),
      queueLength: this.queues[slot.kind].length,
      maxQueue: this.config.queueDepth,
    });
    switch (decision) {
      case 'run':
        return this.run(req, res, slot, this.slots.acquire(slot)!, start);
      case 'bounce':
      case 'queue':
        return void this.overflow(req, res, slot, start, decision);
      case 'reject':
        if (queueing && slot.state === 'serving') this.overflowCounter?.inc({ outcome: 'rejected' });
        res.writeHead(429, { 'Content-Type': 'text/plain', [H.internal]: 'faas-middleware' });
        res.end(`Concurrent request limit exceeded. Max concurrent requests: ${slot.capacity}`);
        break;
      case 'unavailable':
        internalError(res, 503, `${slot.kind} slot is ${slot.state}`, 'hyperfaas');
        break;
    }
    this.metrics.observe(res.statusCode, req.method ?? 'GET', 0);
  }

  /** mayBounce: a GS is reachable, the request has bounces left, and its body fits in one NATS message. */
  private mayBounce(req: IncomingMessage, slot: Slot): boolean {
    if (!this.link?.connected || (this.config.mode !== 'http' && slot.kind !== 'guest')) return false;
    if ((Number(req.headers[H.bounces]) || 0) >= this.config.maxBounces) return false;
    if (req.headers['transfer-encoding'] !== undefined) return false;
    return Number(req.headers['content-length'] ?? 0) <= bounceBodyLimit;
  }

  /**
   * overflow carries out a bounce or queue decision (ics/admission.ts): bounce the request to the GS, which runs it
   * elsewhere and answers through us (the caller never sees the bounce), or park it until a slot frees. A bounce
   * that fails parks the request too.
   */
  private async overflow(req: IncomingMessage, res: ServerResponse, slot: Slot, start: bigint, decision: 'bounce' | 'queue'): Promise<void> {
    const q = this.queues[slot.kind];
    const bounces = Number(req.headers[H.bounces]) || 0;
    let body: Buffer | undefined;
    if (decision === 'bounce') {
      try {
        body = noBody(req) ? Buffer.alloc(0) : await readBody(req);
      } catch {
        return; // the client went away
      }
      const url = req.url ?? '/';
      const qi = url.indexOf('?');
      try {
        const out = await this.link!.bounce(
          {
            fn: slot.function || `${this.config.functionName}.${this.config.namespace}`,
            method: req.method ?? 'GET',
            path: qi < 0 ? url : url.slice(0, qi),
            query: qi < 0 ? '' : url.slice(qi + 1),
            from: this.config.instanceId,
            bounces: bounces + 1,
          },
          req.headers,
          body,
          this.config.writeTimeoutMs,
        );
        this.overflowCounter?.inc({ outcome: 'bounced' });
        if (res.destroyed) return;
        res.writeHead(out.reply.status, { ...out.reply.headers, [H.route]: 'bounced', 'Content-Length': String(out.body.length) });
        res.end(out.body);
        this.metrics.observe(out.reply.status, req.method ?? 'GET', Number(process.hrtime.bigint() - start) / 1e9);
        return;
      } catch {
        // No GS could take it (NATS down, nothing free elsewhere): keep it here.
        this.overflowCounter?.inc({ outcome: 'bounce_failed' });
      }
    }
    this.overflowCounter?.inc({ outcome: 'queued' });
    const gone = new AbortController();
    const onClose = () => gone.abort();
    res.once('close', onClose);
    const deadline = Date.now() + this.config.writeTimeoutMs;
    for (;;) {
      // Someone may have freed a slot between the admission and now.
      const ticket = this.slots.acquire(slot);
      if (ticket) {
        res.off('close', onClose);
        res.setHeader(H.route, 'queued');
        return this.run(req, res, slot, ticket, start, body);
      }
      if (!(await q.wait(deadline - Date.now(), gone.signal))) {
        if (!gone.signal.aborted) {
          this.overflowCounter?.inc({ outcome: 'queue_timeout' });
          internalError(res, 503, `no ${slot.kind} slot became free within ${this.config.writeTimeoutMs} ms`, 'hyperfaas');
        }
        return;
      }
    }
  }

  /** run serves an admitted request in its slot; body is set when it was already read (a failed bounce). */
  private run(req: IncomingMessage, res: ServerResponse, slot: Slot, ticket: Ticket, start: bigint, body?: Buffer): void {
    if (slot.capacity > 0) this.slotMoved(slot);
    res.once('close', () => {
      ticket.release();
      this.queues[slot.kind].wake();
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      this.metrics.observe(res.statusCode, req.method ?? 'GET', seconds);
      if (slot.capacity > 0) this.slotMoved(slot);
      if (this.config.logCallId) {
        const len = res.getHeader('content-length') ?? (res as ServerResponse & { upstreamLength?: string }).upstreamLength ?? '-';
        log(`${req.method} ${req.url} - ${res.statusCode} - ContentLength: ${len}B (${seconds.toFixed(4)}s) [${req.headers['x-call-id'] ?? ''}]`);
      }
    });
    let timeoutMs = this.config.execTimeoutMs;
    const xt = req.headers['x-timeout'];
    if (typeof xt === 'string') {
      const ms = parseDuration(xt);
      if (ms !== undefined && ms > 0 && (timeoutMs === 0 || ms < timeoutMs)) timeoutMs = ms;
    }
    if (slot.kind === 'guest') {
      const g = this.guestExec;
      if (!g) return internalError(res, 503, 'guest slot is not ready', 'hyperfaas');
      res.setHeader(H.slot, 'guest');
      return g.run(req, res, timeoutMs, start, body);
    }
    this.home.run(req, res, timeoutMs, start, body);
  }

  // ------------------------------------------------------------------------------------------- internal endpoints

  private async lockPresent(): Promise<boolean> {
    if (this.config.suppressLock) return false;
    try {
      await access(this.config.lockFile);
      return true;
    } catch {
      return false;
    }
  }

  private async health(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET') return methodNotAllowed(res);
    if (this.accepting && (await this.lockPresent())) {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('OK');
    } else {
      res.writeHead(503, { 'Content-Type': 'text/plain' });
      res.end('Service Unavailable');
    }
  }

  private async ready(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET') return methodNotAllowed(res);
    if (!this.accepting || this.draining || !(await this.lockPresent())) {
      res.writeHead(503, { 'Content-Type': 'text/plain' });
      res.end('Service Unavailable');
      return;
    }
    const home = this.slots.home;
    if (this.slots.full(home)) {
      res.writeHead(429, { 'Content-Type': 'text/plain', [H.internal]: 'faas-middleware' });
      res.end(`Concurrent request limit exceeded. Max concurrent requests: ${home.capacity}`);
      return;
    }
    if (this.config.readyPath && this.home instanceof HttpExecutor) {
      const t = this.home.target;
      const up = request({ host: t.host, port: t.port, method: 'GET', path: t.prefix + this.config.readyPath, agent: this.probeAgent }, (ur) => {
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
    const body = JSON.stringify({ ...this.report(), loadSource: this.source?.kind ?? 'none' });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }

  private async controlHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') return methodNotAllowed(res);
    const verdict = controlAllowed(req.headers[H.controlToken], this.config.controlToken);
    if (!verdict.ok) return internalError(res, verdict.status, verdict.message, 'hyperfaas');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let cmd: ControlRequest;
    try {
      cmd = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ControlRequest;
    } catch {
      return internalError(res, 400, 'body is not JSON', 'hyperfaas');
    }
    const reply = await this.control(cmd);
    const body = JSON.stringify(reply);
    res.writeHead(reply.ok ? 200 : 409, { 'Content-Type': 'application/json', [H.instance]: this.config.instanceId });
    res.end(body);
  }

  private async serveMetrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if ((req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('404 page not found\n');
      return;
    }
    const text = await this.metrics.text();
    res.writeHead(200, { 'Content-Type': this.metrics.contentType });
    res.end(text);
  }
}

function listen(s: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    const done = () => {
      s.off('error', reject);
      resolve();
    };
    if (host) s.listen(port, host, done);
    else s.listen(port, done);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** SlotOf is re-exported for callers that route by hand. */
export type { Slot };
