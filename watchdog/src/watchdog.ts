/**
 * watchdog is the in-container scheduler: an of-watchdog compatible HTTP front with two worker slots. This file is
 * its lifecycle (start, fatal exit, drain on SIGTERM) and request path (admission, bounce or queue, run); the modes
 * are executors/ (chosen once at start), the guest slot guest-slot.ts, load and watermarks load-reporter.ts, the
 * control surface control.ts and the /_/ paths endpoints.ts. Bodies stream straight through; nothing on the request
 * path parses bodies, logs at info level or touches the file system synchronously.
 */
import type { ChildProcess } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter } from 'prom-client';
import type { WatchdogConfig } from './config.js';
import { CodeCache, checkCodeObject } from './code-fetch.js';
import { runControl, type SpecialiseCode } from './control.js';
import { Endpoints } from './endpoints.js';
import { childEnv, type Executor } from './executors/executor.js';
import { HttpExecutor, homeExecutor } from './executors/index.js';
import { GuestSlot } from './guest-slot.js';
import { admit, WaitQueue } from './ics/admission.js';
import type { BounceMeta, BounceReply, HttpHeaders } from './ics/bounce-codec.js';
import { LoadReporter } from './load-reporter.js';
import { log } from './logs.js';
import { createMetrics, type WatchdogMetrics } from './metrics.js';
import { codeBucket, headers as H, type ControlReply, type ControlRequest, type LoadReport } from './protocol.js';
import { internalError, noBody, readBody } from './respond.js';
import { SlotTable, type Slot, type Ticket } from './slots.js';
import { parseDuration } from './units.js';
import { startUpstream, waitForTcp } from './workers.js';

/** WatchdogOptions are what the process entry adds to the config. */
export interface WatchdogOptions {
  /** runtime is the Node runtime's server.js for the guest slot ("" disables the guest slot). */
  runtime: string;
  /** exit is called when the watchdog must end the process (upstream died: code 1; after a drain: code 0). */
  exit?: (code: number) => void;
  /** code fetches guest code objects from the namespace's code bucket (absent without NATS: only dir code loads). */
  code?: CodeCache;
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
  /** home is the executor of the configured mode, chosen once. */
  private readonly home: Executor;
  /** guest is the second worker slot (undefined when disabled). */
  private readonly guest: GuestSlot | undefined;
  private readonly reporter: LoadReporter;
  private readonly endpoints: Endpoints;
  private accepting = false;
  private stopping = false;
  private link: Bouncer | undefined;
  private readonly queues: Record<'home' | 'guest', WaitQueue> = { home: new WaitQueue(), guest: new WaitQueue() };
  private overflowCounter: Counter<'outcome'> | undefined;

  constructor(config: WatchdogConfig, opts: WatchdogOptions) {
    this.config = config;
    this.opts = opts;
    this.metrics = createMetrics(() => this.report());
    const home = config.functionName ? `${config.functionName}.${config.namespace}` : '';
    const guestEnabled = config.guest.enabled && opts.runtime !== '';
    this.slots = new SlotTable(
      { function: home, capacity: config.maxInflight, state: 'serving' },
      guestEnabled ? { capacity: config.guest.capacity, state: 'down' } : undefined,
    );
    this.reporter = new LoadReporter({
      config,
      slots: this.slots,
      port: () => this.port,
      draining: () => this.draining,
      queued: () => this.queues.home.length + this.queues.guest.length,
      changed: (r) => this.onWatermark?.(r),
    });
    this.guest = guestEnabled
      ? new GuestSlot({ config, slots: this.slots, runtime: opts.runtime, stopping: () => this.stopping, changed: () => this.reporter.check() })
      : undefined;
    this.endpoints = new Endpoints({
      config,
      slots: this.slots,
      metrics: this.metrics,
      accepting: () => this.accepting,
      draining: () => this.draining,
      readyTarget: () => (this.home instanceof HttpExecutor ? this.home.target : undefined),
      report: () => this.report(),
      loadSource: () => this.reporter.sourceKind,
      control: (req) => this.control(req),
    });
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
    this.guest?.start();

    this.server = createServer({ keepAliveTimeout: 65_000, requestTimeout: c.readTimeoutMs, headersTimeout: Math.min(c.readTimeoutMs || 60_000, 60_000) }, (req, res) =>
      this.handle(req, res),
    );
    this.server.keepAliveTimeout = 65_000;
    this.metricsServer = createServer((req, res) => void this.endpoints.serveMetrics(req, res));
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
    await this.reporter.start();
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
    this.reporter.stop();
    this.guest?.stop();
    await this.stopProcess(this.upstream);
    this.home.close();
    this.endpoints.close();
    await this.opts.code?.close();
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

  /** specialise loads a function directory into the generic guest slot; it resolves once the slot serves. */
  specialise(fn: string, dir: string, env: Record<string, string> = {}, capacity?: number): Promise<ControlReply> {
    if (!this.guest) return Promise.resolve({ ok: false, error: 'this instance has no guest slot' });
    return this.guest.specialise(fn, dir, env, capacity);
  }

  /**
   * specialiseCode specialises the guest slot from a code reference: an object is fetched from this namespace's code
   * bucket, checked against its hash and unpacked into the watchdog's private cache first.
   */
  async specialiseCode(fn: string, code: SpecialiseCode, env: Record<string, string> = {}, capacity?: number): Promise<ControlReply> {
    if (code.kind === 'dir') return this.specialise(fn, code.path, env, capacity);
    if (!this.guest) return { ok: false, error: 'this instance has no guest slot' };
    const cache = this.opts.code;
    if (!cache) return { ok: false, error: `cannot fetch ${code.key}: this watchdog has no NATS connection for code` };
    let wrong: string | undefined;
    try {
      wrong = checkCodeObject(code, codeBucket(this.config.namespace));
    } catch (e) {
      wrong = (e as Error).message;
    }
    if (wrong) return { ok: false, error: wrong };
    const t0 = performance.now();
    let dir: string;
    try {
      dir = await cache.dirFor(code);
    } catch (e) {
      return { ok: false, error: `fetching ${fn}'s code failed: ${(e as Error).message}`, ms: performance.now() - t0 };
    }
    const r = await this.specialise(fn, dir, env, capacity);
    if (r.ok) cache.pin(code.hash);
    return { ...r, ms: performance.now() - t0 };
  }

  /** release stops admitting to the guest slot, waits for its requests, and replaces it with a fresh generic runtime. */
  release(): Promise<ControlReply> {
    if (!this.guest) return Promise.resolve({ ok: false, error: 'this instance has no guest slot' });
    return this.guest.release().then((r) => {
      if (r.ok) this.opts.code?.pin(undefined);
      return r;
    });
  }

  /** resize changes the home slot's concurrency limit and the CPU/memory limits the watermarks are measured against. */
  resize(r: { cpu?: number; memoryBytes?: number; capacity?: number }): ControlReply {
    if (r.capacity !== undefined) {
      const home = this.slots.home;
      home.capacity = Math.max(0, Math.floor(r.capacity));
      // A higher limit is room at once for requests waiting here: wake as many as now fit (each takes a ticket).
      let room = home.capacity === 0 ? this.queues.home.length : home.capacity - home.inflight;
      while (room-- > 0 && this.queues.home.wake());
    }
    this.reporter.setLimits(r);
    this.reporter.check();
    return { ok: true, ms: 0 };
  }

  /** drain marks the instance draining: the lock file goes, /_/ready answers 503, requests in flight finish. */
  async drain(): Promise<ControlReply> {
    this.draining = true;
    await rm(this.config.lockFile, { force: true }).catch(() => undefined);
    this.reporter.check(true);
    return { ok: true, ms: 0 };
  }

  /** control runs one ControlRequest (the HTTP endpoint and a NATS subscriber share it). */
  control(req: ControlRequest): Promise<ControlReply> {
    return runControl(this, req);
  }

  // --------------------------------------------------------------------------------------------------------- load

  /** attachLink connects the ICS to the global scheduler for bounce-back. */
  attachLink(link: Bouncer): void {
    this.link = link;
  }

  /** report is the instance's current LoadReport. */
  report(): LoadReport {
    return this.reporter.report();
  }

  // ----------------------------------------------------------------------------------------------------- requests

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    if (url.charCodeAt(1) === 95 && url.charCodeAt(2) === 47 && url.charCodeAt(0) === 47) {
      // "/_/..."
      const q = url.indexOf('?');
      const path = q >= 0 ? url.slice(0, q) : url;
      if (this.endpoints.handle(path, req, res)) return;
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
      watermark: this.reporter.watermark,
      bounces: Number(req.headers[H.bounces]) || 0,
      maxBounces: this.config.maxBounces,
      canBounce: () => this.mayBounce(req),
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

  /**
   * mayBounce: a GS is reachable, the request has bounces left, and its body fits in one NATS message. The slot's
   * mode does not matter: the GS re-runs the request on another instance whatever that instance runs it with.
   */
  private mayBounce(req: IncomingMessage): boolean {
    if (!this.link?.connected) return false;
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
    if (slot.capacity > 0) this.reporter.slotMoved(slot);
    res.once('close', () => {
      ticket.release();
      this.queues[slot.kind].wake();
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      this.metrics.observe(res.statusCode, req.method ?? 'GET', seconds);
      if (slot.capacity > 0) this.reporter.slotMoved(slot);
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
      const g = this.guest?.executor;
      if (!g) return internalError(res, 503, 'guest slot is not ready', 'hyperfaas');
      res.setHeader(H.slot, 'guest');
      return g.run(req, res, timeoutMs, start, body);
    }
    this.home.run(req, res, timeoutMs, start, body);
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
