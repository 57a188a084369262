import { connect, credsAuthenticator, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { subjects, type ControlReply, type ControlRequest, type LoadReport } from '../protocol.js';
import { decodeBounceReply, encodeBounceRequest, type BounceMeta, type BounceReply, type HttpHeaders } from './bounce-codec.js';

/** IcsHooks is what the NATS link needs from the watchdog: its load snapshot and its control operations. */
export interface IcsHooks {
  snapshot(): Omit<LoadReport, 'seq' | 'at'>;
  control(req: ControlRequest): Promise<ControlReply>;
}

/** NatsLinkOptions configure the ICS's link to the global scheduler. */
export interface NatsLinkOptions {
  url: string;
  instanceId: string;
  namespace: string;
  fn: string;
  hooks: IcsHooks;
  /**
   * creds is this instance's NATS creds file content (its user JWT and seed), when the server requires
   * authorization. Its permissions name only this instance's subjects and its own inbox prefix, which the link
   * always uses (subjects.inboxPrefix), so its replies cannot be read by anyone else.
   */
  creds?: Uint8Array;
  /** reportEveryMs: periodic load report interval (a few per second). */
  reportEveryMs: number;
  log: (msg: string) => void;
  now?: () => number;
  /**
   * noRoomHoldMs: after the GS answered that no other instance of a function has room, further bounces of that
   * function fail at once, without a NATS round trip, for this long (default: one report interval). In a saturated
   * cluster every overflowing request would otherwise pay a round trip only to be queued where it is, while a slot
   * it could have taken sits idle (bench/results/hierarchical.md, arm b vs c).
   */
  noRoomHoldMs?: number;
}

/** BounceUnavailable means the request could not be handed to a GS; the caller keeps it and queues locally. */
export class BounceUnavailable extends Error {
  override readonly name = 'BounceUnavailable';
}

/**
 * NatsLink is the ICS's side of the ICS <-> GS protocol: periodic and on-change load reports, bounce-back of
 * requests over request/reply, and the control subject. NATS may be down at start or at any time: nothing here
 * blocks the data path; bounce() then fails fast with BounceUnavailable and the watchdog queues locally.
 */
export class NatsLink {
  private nc?: NatsConnection;
  private ctl?: Subscription;
  private timer?: NodeJS.Timeout;
  private seq = 0;
  private closed = false;
  private up = false;
  private readonly now: () => number;
  private readonly noRoomUntil = new Map<string, number>();

  constructor(private readonly opts: NatsLinkOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** start connects in the background (retrying forever) and starts reporting. It never throws. */
  start(): void {
    connect({
      servers: this.opts.url,
      name: `ics-${this.opts.instanceId}`,
      inboxPrefix: subjects.inboxPrefix(this.opts.instanceId),
      ...(this.opts.creds ? { authenticator: credsAuthenticator(this.opts.creds) } : {}),
      waitOnFirstConnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: 5_000,
    })
      .then((nc) => {
        if (this.closed) {
          void nc.close();
          return;
        }
        this.nc = nc;
        this.up = true;
        this.ctl = nc.subscribe(subjects.control(this.opts.instanceId), {
          callback: (err, msg) => {
            if (err) return;
            let req: ControlRequest;
            try {
              req = msg.json<ControlRequest>();
            } catch (e) {
              msg.respond(JSON.stringify({ ok: false, error: `bad control message: ${String(e)}` } satisfies ControlReply));
              return;
            }
            this.opts.hooks
              .control(req)
              .then((r) => msg.respond(JSON.stringify(r)))
              .catch((e: unknown) => msg.respond(JSON.stringify({ ok: false, error: String(e) } satisfies ControlReply)));
          },
        });
        void (async () => {
          for await (const s of nc.status()) {
            if (s.type === 'disconnect') this.up = false;
            if (s.type === 'reconnect') this.up = true;
            if (s.type === 'disconnect' || s.type === 'reconnect') this.opts.log(`nats ${s.type}`);
            if (s.type === 'error') this.opts.log(`nats error: ${String(s.error)}`);
          }
        })().catch(() => undefined);
        this.reportNow();
      })
      .catch((e: unknown) => this.opts.log(`nats connect failed: ${String(e)}`));
    this.timer = setInterval(() => this.reportNow(), this.opts.reportEveryMs);
    this.timer.unref();
  }

  /**
   * request sends one request over the link's connection, its reply coming to this instance's own inbox prefix
   * (code fetches use it); it rejects while not connected.
   */
  request(subject: string, payload: string, opts: { timeout: number }): Promise<{ data: Uint8Array }> {
    if (!this.connected) return Promise.reject(new Error('not connected to NATS'));
    return this.nc!.request(subject, payload, opts);
  }

  /** connected is true while a NATS connection is up. */
  get connected(): boolean {
    return this.up && !!this.nc && !this.nc.isClosed();
  }

  /** reportNow publishes a load report at once (also called when a watermark is crossed). */
  reportNow(): void {
    if (!this.connected) return;
    const r: LoadReport = { ...this.opts.hooks.snapshot(), seq: ++this.seq, at: this.now() };
    try {
      this.nc!.publish(subjects.report(this.opts.namespace, this.opts.fn, this.opts.instanceId), JSON.stringify(r));
    } catch {
      /* reports are best effort */
    }
  }

  /** bounce hands a request to the GS and returns its reply; BounceUnavailable when no GS can take it. */
  async bounce(meta: BounceMeta, headers: HttpHeaders, body: Uint8Array, timeoutMs: number): Promise<{ reply: BounceReply; body: Uint8Array }> {
    if (!this.connected) throw new BounceUnavailable('not connected to NATS');
    const held = this.noRoomUntil.get(meta.fn);
    if (held !== undefined) {
      if (this.now() < held) throw new BounceUnavailable(`the GS said no other instance of ${meta.fn} has room`);
      this.noRoomUntil.delete(meta.fn);
    }
    const max = this.nc!.info?.max_payload ?? 1024 * 1024;
    if (body.length > max - 16 * 1024) throw new BounceUnavailable(`body of ${body.length} bytes is over the NATS payload limit`);
    let msg;
    try {
      msg = await this.nc!.request(subjects.bounce(this.opts.instanceId), body, { timeout: timeoutMs, headers: encodeBounceRequest(meta, headers) });
    } catch (e) {
      throw new BounceUnavailable(`bounce failed: ${(e as Error).message}`, { cause: e });
    }
    const reply = decodeBounceReply(msg.headers);
    if (reply.noRoom) this.noRoomUntil.set(meta.fn, this.now() + (this.opts.noRoomHoldMs ?? this.opts.reportEveryMs));
    if (reply.error) throw new BounceUnavailable(`GS could not place it: ${reply.error}`);
    return { reply, body: msg.data };
  }

  /** close stops reporting and drains the connection. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.ctl?.unsubscribe();
    if (this.nc && !this.nc.isClosed()) await this.nc.drain().catch(() => undefined);
  }
}
