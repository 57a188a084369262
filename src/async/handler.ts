import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { subjects } from '@hyperfaas/watchdog/protocol';
import type { Logger } from '../logger.js';
import { groupHeaderPairs, headerPairsFromRaw } from '../messaging/headers.js';
import type { AsyncConfig } from './config.js';
import { AsyncError, statusForAsyncError } from './errors.js';
import type { AsyncMetrics } from './metrics.js';
import { functionKey, parseFunctionKey } from '../names.js';
import { isSubjectToken, splitAsyncUrl } from './names.js';
import { encodeQueueRequest, InvalidUrlError, parseGoUrl, type GoUrl } from './queue-request.js';

/** PublisherDeps is what the /async-function handler needs. */
export interface PublisherDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  functionExists(namespace: string, name: string): Promise<boolean>;
  defaultNamespace: string;
  logger: Logger;
  metrics: AsyncMetrics;
  config: AsyncConfig;
  /** ensureStreams re-creates the streams when a publish finds none (e.g. the server lost its store). */
  ensureStreams(): Promise<void>;
}

/** natsOverheadBytes is kept free in a NATS message for the protocol line and the Nats-Msg-Id header. */
const natsOverheadBytes = 512;

/** skipped request headers: Go's server takes Host and Transfer-Encoding out of r.Header; we set the call id and start time ourselves. */
const skipInbound: ReadonlySet<string> = new Set(['host', 'transfer-encoding', 'x-call-id', 'x-start-time']);

function startTimeNanos(): string {
  return (BigInt(Date.now()) * 1_000_000n).toString();
}

/** readBody reads the request body up to limit bytes; over the limit it keeps draining (bounded) and throws TooLarge. */
async function readBody(req: Request, limit: number): Promise<Buffer> {
  const parsed: unknown = (req as { body?: unknown }).body;
  if (Buffer.isBuffer(parsed)) {
    if (parsed.length > limit) throw new AsyncError('TooLarge', `request body is larger than ${limit} bytes`);
    return parsed;
  }
  if (req.readableEnded) {
    const b = typeof parsed === 'string' ? Buffer.from(parsed) : parsed === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(parsed));
    if (b.length > limit) throw new AsyncError('TooLarge', `request body is larger than ${limit} bytes`);
    return b;
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new AsyncError('TooLarge', `request body is larger than ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
    else if (size > limit * 4 + 1024 * 1024) break;
  }
  if (size > limit) throw new AsyncError('TooLarge', `request body is larger than ${limit} bytes`);
  return Buffer.concat(chunks, size);
}

function isNoStream(e: unknown): boolean {
  return /no responders|stream not found|no stream|jetstream is not enabled/i.test(String((e as Error)?.message ?? e));
}

/**
 * createAsyncHandler builds the express handler for POST /async-function/<name>[.<namespace>][/path]: it checks the
 * function and the callback URL, wraps the request in OpenFaaS's QueueRequest JSON and answers 202 with X-Call-Id only
 * once JetStream confirmed it stored the message (message id = call id, so a retried publish is de-duplicated).
 */
export function createAsyncHandler(d: PublisherDeps): RequestHandler {
  const log = d.logger.child({ component: 'async' });
  // While the client knows it is disconnected, fail fast: a publish would only sit in the client's reconnect buffer,
  // time out (503), and maybe still be stored later, running a request whose client was told it was not queued.
  let disconnected = false;
  void (async () => {
    for await (const s of d.nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnecting') disconnected = true;
      else if (s.type === 'reconnect') disconnected = false;
    }
  })().catch(() => undefined);
  const publish = async (subject: string, payload: Buffer, callId: string) => {
    if (d.nc.isClosed()) throw new AsyncError('Unavailable', 'NATS connection is closed: the request was not queued');
    if (disconnected) throw new AsyncError('Unavailable', 'NATS is unreachable (reconnecting): the request was not queued');
    try {
      return await d.js.publish(subject, payload, { msgID: callId, timeout: d.config.publishTimeoutMs });
    } catch (e) {
      if (isNoStream(e) && !d.nc.isClosed()) {
        try {
          await d.ensureStreams();
          return await d.js.publish(subject, payload, { msgID: callId, timeout: d.config.publishTimeoutMs });
        } catch (e2) {
          throw new AsyncError('Unavailable', `NATS JetStream did not confirm storing the request; treat it as not queued: ${(e2 as Error).message}`, { cause: e2 });
        }
      }
      throw new AsyncError('Unavailable', `NATS JetStream did not confirm storing the request; treat it as not queued: ${(e as Error).message}`, { cause: e });
    }
  };

  const handle = async (req: Request, res: Response): Promise<void> => {
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      throw new AsyncError('MethodNotAllowed', `method ${req.method} is not allowed on /async-function/, use POST`);
    }
    // Mounted as a route (req.params.name) or as plain middleware (name read from the URL): both work.
    const { name: rawName, path, query } = splitAsyncUrl(req.originalUrl ?? req.url);
    let fn = typeof req.params?.name === 'string' ? req.params.name : '';
    if (fn === '') {
      try {
        fn = decodeURIComponent(rawName);
      } catch {
        throw new AsyncError('NotFound', `function ${rawName} not found`);
      }
    }
    const ref = parseFunctionKey(fn, d.defaultNamespace);
    if (!isSubjectToken(ref.name) || !isSubjectToken(ref.namespace)) throw new AsyncError('NotFound', `function ${fn} not found`);
    let exists: boolean;
    try {
      exists = await d.functionExists(ref.namespace, ref.name);
    } catch (e) {
      throw new AsyncError('Unavailable', `cannot look up function ${fn}: ${(e as Error).message}`, { cause: e });
    }
    if (!exists) throw new AsyncError('NotFound', `function ${fn} not found`);

    const cbRaw = req.headers['x-callback-url'];
    let callbackUrl: GoUrl | null = null;
    if (typeof cbRaw === 'string' && cbRaw !== '') {
      try {
        callbackUrl = parseGoUrl(cbRaw);
      } catch (e) {
        if (e instanceof InvalidUrlError) throw new AsyncError('BadCallback', e.message);
        throw e;
      }
    }
    const body = await readBody(req, d.config.maxBodyBytes);

    const sentId = req.headers['x-call-id'];
    const callId = typeof sentId === 'string' && sentId !== '' ? sentId : randomUUID();
    const start = startTimeNanos();
    const header = groupHeaderPairs(headerPairsFromRaw(req.rawHeaders, skipInbound));
    header['X-Call-Id'] = [callId];
    header['X-Start-Time'] = [start];
    const payload = Buffer.from(
      encodeQueueRequest({
        header,
        host: req.headers.host ?? '',
        body,
        method: req.method,
        path,
        queryString: query,
        function: fn,
        queueName: '',
        annotations: {},
        callbackUrl,
      }),
    );
    const maxPayload = d.nc.info?.max_payload ?? 1024 * 1024;
    if (payload.length + natsOverheadBytes > maxPayload) {
      throw new AsyncError('TooLarge', `request is ${payload.length} bytes once queued, over the NATS max_payload of ${maxPayload}`);
    }
    const ack = await publish(subjects.asyncSubject(ref.namespace, ref.name), payload, callId);
    d.metrics.queued.inc({ function: functionKey(ref.name, ref.namespace) });
    if (ack.duplicate) log.debug('duplicate async request ignored', { callId, function: fn });
    res.status(202).setHeader('X-Call-Id', callId).setHeader('X-Start-Time', start).end();
  };

  return (req, res, next) => {
    handle(req, res).catch((e: unknown) => {
      const status = statusForAsyncError(e);
      if (status === 500) {
        log.error('async request failed', { error: String(e) });
        return next(e);
      }
      if (status === 503) log.warn('async request not queued', { error: (e as Error).message });
      if (res.headersSent) return;
      res.status(status).type('text/plain').send((e as Error).message);
    });
  };
}
