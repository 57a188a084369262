import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Consumer, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { request } from 'undici';
import { headers as hfHeaders, subjects } from '@hyperfaas/watchdog/protocol';
import { isBackendError } from '../backends/backend.js';
import type { Logger } from '../logger.js';
import { hopByHop } from '@hyperfaas/watchdog/http-headers';
import { toNodeHeaders } from '../messaging/headers.js';
import type { InvokeResponse, Invoker } from '../invoke/invoker.js';
import { backoffDelayMs, decideOutcome } from './backoff.js';
import type { AsyncConfig } from './config.js';
import type { AsyncMetrics } from './metrics.js';
import { functionKey, parseFunctionKey } from '../names.js';
import { subjectToken } from './names.js';
import { callbackTarget, decodeQueueRequest, headerValue, type QueueRequest } from './queue-request.js';

/** WorkerDeps is what the queue worker needs. */
export interface WorkerDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  invoker: Invoker;
  defaultNamespace: string;
  logger: Logger;
  metrics: AsyncMetrics;
  config: AsyncConfig;
  /** ensureStreams re-creates the stream and consumer when they vanished (e.g. the server lost its store). */
  ensureStreams?: () => Promise<void>;
  /** random gives the back-off jitter in [0, 1); Math.random unless a test pins it. */
  random?: () => number;
}

/** replayDropped are the queued headers never replayed to the function (the contract's list, plus hop-by-hop). */
const replayDropped: ReadonlySet<string> = new Set([...hopByHop, 'content-length', 'host']);

/** callbackDropped are function response headers not copied onto the callback (its own body sets the length). */
const callbackDropped: ReadonlySet<string> = new Set([...hopByHop, 'content-length', 'host']);

/** completedMemory is how many finished stream sequences a worker remembers to ack redeliveries without re-running them. */
const completedMemory = 50_000;

/** pullExpiresMs is how long one pull waits for a message; it also bounds how long close() waits for idle loops. */
const pullExpiresMs = 2000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());

/**
 * QueueWorker consumes the async stream with the shared durable pull consumer "faas-workers": `concurrency` loops
 * each pull one message, invoke the function through the Invoker, retry (nak with back-off) on 429/502/503/504 and
 * connection errors, dead-letter after the last attempt, POST the result to the callback URL, and only then ack.
 * Delivery is at least once: a crash before the ack redelivers the message after ack-wait.
 */
export class QueueWorker {
  private readonly log: Logger;
  private readonly random: () => number;
  private stopping = false;
  private loops: Promise<void>[] = [];
  private readonly running = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private readonly completed = new Set<string>();

  constructor(private readonly d: WorkerDeps) {
    this.log = d.logger.child({ component: 'async-worker' });
    this.random = d.random ?? Math.random;
    // Every running invocation and callback listens on the one shutdown signal.
    setMaxListeners(0, this.abort.signal);
  }

  /** start launches the pull loops; it resolves once they run (it does not wait for messages). */
  async start(): Promise<void> {
    if (this.loops.length > 0) return;
    for (let i = 0; i < this.d.config.concurrency; i++) this.loops.push(this.loop(i));
    this.log.info('queue worker started', { concurrency: this.d.config.concurrency, consumer: subjects.asyncDurable });
  }

  /** close stops pulling, waits up to graceMs for running invocations, then aborts them (their messages come back). */
  async close(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    const all = Promise.all([...this.loops, ...this.running]);
    const timer = setTimeout(() => this.abort.abort(), graceMs);
    await all.catch(() => undefined);
    clearTimeout(timer);
    this.loops = [];
  }

  private async consumer(): Promise<Consumer> {
    for (let wait = 250; ; wait = Math.min(wait * 2, 5000)) {
      if (this.stopping || this.d.nc.isClosed()) throw new Error('stopping');
      try {
        return await this.d.js.consumers.get(subjects.asyncStream, subjects.asyncDurable);
      } catch (e) {
        this.log.warn('cannot bind the async consumer yet', { error: (e as Error).message });
        if (/not found/i.test((e as Error).message) && this.d.ensureStreams) await this.d.ensureStreams().catch(() => undefined);
        await sleep(wait);
      }
    }
  }

  private async loop(i: number): Promise<void> {
    let consumer: Consumer;
    try {
      consumer = await this.consumer();
    } catch {
      return;
    }
    while (!this.stopping && !this.d.nc.isClosed()) {
      let m: JsMsg | null;
      try {
        m = await consumer.next({ expires: pullExpiresMs });
      } catch (e) {
        this.log.debug('pull failed', { loop: i, error: (e as Error).message });
        await sleep(250);
        if (/not found/i.test((e as Error).message)) {
          try {
            consumer = await this.consumer();
          } catch {
            return;
          }
        }
        continue;
      }
      if (!m) continue;
      const p = this.handle(m).catch((e: unknown) => {
        // Not acked: JetStream redelivers it after ack-wait.
        this.log.warn('queued invocation not finished, it will be redelivered', { seq: m!.seq, error: (e as Error)?.message ?? String(e) });
      });
      this.running.add(p);
      await p;
      this.running.delete(p);
    }
  }

  /** doneKey identifies a stored message: its sequence plus its stored timestamp (sequences restart if the stream is re-created). */
  private doneKey(m: JsMsg): string {
    return `${m.seq}@${m.info.timestampNanos}`;
  }

  private remember(m: JsMsg): void {
    this.completed.add(this.doneKey(m));
    if (this.completed.size > completedMemory) {
      const oldest = this.completed.values().next().value;
      if (oldest !== undefined) this.completed.delete(oldest);
    }
  }

  private async ack(m: JsMsg): Promise<void> {
    try {
      await m.ackAck({ timeout: 2000 });
    } catch (e) {
      this.log.warn('ack not confirmed; the message may run again', { seq: m.seq, error: (e as Error).message });
    }
  }

  /** handle runs one delivery of one message to its end: ack, nak(delay) or dead-letter + ack. */
  private async handle(m: JsMsg): Promise<void> {
    if (m.redelivered && this.completed.has(this.doneKey(m))) {
      await this.ack(m);
      return;
    }
    const attempt = m.info.deliveryCount;
    let qr: QueueRequest;
    try {
      qr = decodeQueueRequest(m.data);
    } catch (e) {
      this.log.error('undecodable message in the async stream, dead-lettering it', { seq: m.seq, error: (e as Error).message });
      await this.deadLetter(m, null, { namespace: '_', name: '_' }, `undecodable: ${(e as Error).message}`, attempt, undefined);
      await this.ack(m);
      return;
    }
    const ref = parseFunctionKey(qr.function, this.d.defaultNamespace);
    const label = functionKey(ref.name, ref.namespace);
    const callId = headerValue(qr.header, 'X-Call-Id') ?? '';
    const keepAlive = setInterval(() => m.working(), Math.max(250, Math.floor(this.d.config.ackWaitMs / 3)));
    this.d.metrics.inflight.inc({ function: label });
    try {
      let res: InvokeResponse | undefined;
      let error: unknown;
      const started = performance.now();
      if (attempt > this.d.config.maxAttempts) {
        error = new Error(`delivered ${attempt} times (earlier deliveries ended without an answer)`);
      } else {
        try {
          res = await this.d.invoker.invoke({
            namespace: ref.namespace,
            name: ref.name,
            method: qr.method || 'POST',
            path: qr.path === '' ? '/' : qr.path,
            query: qr.queryString,
            headers: { ...toNodeHeaders(qr.header, replayDropped), [hfHeaders.route]: 'queued' },
            body: qr.body,
            signal: this.abort.signal,
            ...(this.d.config.invokeTimeoutMs > 0 ? { timeoutMs: this.d.config.invokeTimeoutMs } : {}),
          });
        } catch (e) {
          if (isBackendError(e, 'NotFound')) res = { status: 404, headers: {}, body: Buffer.from(`function ${qr.function} not found`) };
          else error = e;
        }
      }
      const seconds = (performance.now() - started) / 1000;
      if (this.abort.signal.aborted && !res) {
        m.nak();
        return;
      }
      const outcome =
        attempt > this.d.config.maxAttempts
          ? { kind: 'dead' as const, reason: (error as Error).message }
          : decideOutcome(attempt, res?.status, this.d.config, this.random());
      if (outcome.kind === 'retry') {
        this.d.metrics.retried.inc({ function: label });
        this.log.debug('retrying queued invocation', { callId, function: label, attempt, status: res?.status, delayMs: outcome.delayMs });
        m.nak(outcome.delayMs);
        return;
      }
      const status = res?.status ?? 503;
      if (outcome.kind === 'dead') {
        await this.deadLetter(m, callId, ref, outcome.reason, attempt, res?.status);
        this.d.metrics.deadLettered.inc({ function: label });
        this.log.warn('queued invocation dead-lettered', { callId, function: label, attempts: attempt, reason: outcome.reason, error: error ? String(error) : undefined });
      }
      const target = callbackTarget(qr);
      if (target) {
        await this.callback(target, res ?? { status, headers: {}, body: Buffer.alloc(0) }, { callId, seconds, fn: qr.function, status });
      }
      await this.ack(m);
      this.remember(m);
      this.d.metrics.completed.inc({ function: label, code: String(status) });
    } finally {
      clearInterval(keepAlive);
      this.d.metrics.inflight.dec({ function: label });
    }
  }

  private async deadLetter(m: JsMsg, callId: string | null, ref: { namespace: string; name: string }, reason: string, attempts: number, status: number | undefined): Promise<void> {
    const h = natsHeaders();
    h.set('Hyperfaas-Dead-Reason', reason.replace(/[\r\n]+/g, ' '));
    h.set('Hyperfaas-Attempts', String(attempts));
    h.set('Hyperfaas-Source-Seq', String(m.seq));
    if (status !== undefined) h.set('Hyperfaas-Last-Status', String(status));
    await this.d.js.publish(subjects.asyncDeadLetter(subjectToken(ref.namespace), subjectToken(ref.name)), m.data, {
      msgID: callId ? `dead-${callId}` : `dead-seq-${m.seq}`,
      headers: h,
      timeout: 10_000,
    });
  }

  /** callback POSTs the function's answer to the callback URL, retried with back-off on connection errors, 429 and 5xx. */
  private async callback(url: string, res: InvokeResponse, meta: { callId: string; seconds: number; fn: string; status: number }): Promise<void> {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(res.headers)) if (!callbackDropped.has(k.toLowerCase())) headers[k.toLowerCase()] = v;
    headers['x-duration-seconds'] = meta.seconds.toFixed(6);
    headers['x-function-status'] = String(meta.status);
    headers['x-function-name'] = meta.fn;
    if (meta.callId) headers['x-call-id'] = meta.callId;
    const attempts = this.d.config.callbackAttempts;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const r = await request(url, { method: 'POST', headers, body: res.body, headersTimeout: 30_000, bodyTimeout: 30_000, signal: this.abort.signal });
        await r.body.dump();
        if (r.statusCode < 500 && r.statusCode !== 429) return;
        this.log.warn('callback answered with an error', { url, status: r.statusCode, callId: meta.callId, attempt });
      } catch (e) {
        this.log.warn('callback failed', { url, callId: meta.callId, attempt, error: (e as Error).message });
      }
      if (attempt < attempts && !this.abort.signal.aborted) await sleep(backoffDelayMs(attempt, 500, 10_000, this.random()));
    }
    this.log.error('callback given up', { url, callId: meta.callId, attempts });
  }
}
