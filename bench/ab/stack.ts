/**
 * stack starts what the A/B (and the phase integration test) runs against: a real nats-server and the real provider
 * process (compiled src/main.js, local backend, temp data dir) on loopback, and gives small helpers around them:
 * HTTP calls to the provider, deploy/remove/wait, a NATS subscriber that keeps the latest ICS load report of every
 * instance, and the provider's "scaling phase" log lines as events. Everything it starts, it stops by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { subjects, type LoadReport } from '@hyperfaas/watchdog/protocol';
import { providerMain } from '../../src/paths.js';
import { startNatsServer, type NatsServer } from '../../test/support/nats-server.js';
import { freePort, waitForPort } from '../../test/support/ports.js';
import { httpCall as call, type Reply } from '../../test/support/http.js';

export type { Reply };

/** PhaseEvent is one "scaling phase" log line of the provider, stamped when the harness read it. */
export interface PhaseEvent {
  /** at is the epoch ms the line was read. */
  at: number;
  function: string;
  policy: string;
  from: string;
  to: string;
  replicas?: number;
  reasons?: string[];
}

/** StackOptions configure the provider process. */
export interface StackOptions {
  /** tickMs is HYPERFAAS_SCALER_TICK (default 250). */
  tickMs?: number;
  /** hpaCompress is HYPERFAAS_HPA_COMPRESS (integer >= 1; default 1). */
  hpaCompress?: number;
  /** hpaPodStartMs is HYPERFAAS_HPA_POD_START when set. */
  hpaPodStartMs?: number;
  /** isolation is HYPERFAAS_ISOLATION (default auto: cgroups, so phase 1 can raise quotas). */
  isolation?: 'auto' | 'none';
  /** logLevel of the provider (default info: the scaling phase lines are info). */
  logLevel?: string;
  /** dataParent is where the temp HYPERFAAS_DATA dir is made (default /var/tmp; see startStack). */
  dataParent?: string;
  /** env adds or overrides provider environment variables. */
  env?: Record<string, string>;
}

/** Stack is a running nats-server + provider. */
export interface Stack {
  base: string;
  port: number;
  nats: NatsServer;
  dataDir: string;
  /** pid of the provider process. */
  pid: number;
  /** output is the provider's recent stdout+stderr (last 200 kB). */
  output(): string;
  /** events are every "scaling phase" line so far. */
  events: PhaseEvent[];
  /** http calls the provider (a fresh connection per call). */
  http(method: string, path: string, body?: unknown): Promise<Reply>;
  /** reports keeps the latest load report per instance from NATS. */
  reports: ReportTap;
  /** stop ends the provider (SIGTERM, then SIGKILL after 60 s), nats-server and the temp dir. */
  stop(): Promise<void>;
}

/** ReportTap is the latest ICS load report of every instance, as published on NATS. */
export interface ReportTap {
  /** latest returns reports younger than maxAgeMs (default 1500 ms), optionally of one function ("name"). */
  latest(fn?: string, maxAgeMs?: number): Array<LoadReport & { receivedAt: number }>;
  /** ever tells whether any report received so far (the last 50 000 at most) matches pred. */
  ever(pred: (r: LoadReport) => boolean): boolean;
  close(): Promise<void>;
}

function httpCall(base: string, method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<Reply> {
  return call(base, method, path, body, { timeoutMs, headers: body === undefined ? {} : { 'content-type': 'application/json' } });
}

/** tapReports subscribes to every load report on the NATS server at url. */
export async function tapReports(url: string): Promise<ReportTap> {
  const nc: NatsConnection = await connect({ servers: url, name: 'hyperfaas-ab-tap' });
  const last = new Map<string, LoadReport & { receivedAt: number }>();
  const history: LoadReport[] = [];
  const sub: Subscription = nc.subscribe(subjects.reportsAll);
  void (async () => {
    for await (const m of sub) {
      try {
        const r = m.json<LoadReport>();
        last.set(r.instance, { ...r, receivedAt: Date.now() });
        history.push(r);
        if (history.length > 50_000) history.splice(0, 10_000);
      } catch {
        /* not a report */
      }
    }
  })();
  return {
    latest(fn, maxAgeMs = 1500) {
      const now = Date.now();
      return [...last.values()].filter((r) => now - r.receivedAt <= maxAgeMs && (fn === undefined || r.function === fn));
    },
    ever(pred) {
      return history.some(pred);
    },
    async close() {
      sub.unsubscribe();
      await nc.drain().catch(() => undefined);
    },
  };
}

/** startStack starts nats-server and the provider and waits until /healthz answers. */
export async function startStack(o: StackOptions = {}): Promise<Stack> {
  const nats = await startNatsServer();
  // World-readable, for process-group instances run as an unprivileged user that read their own function from it
  // (guest slots fetch borrowed code from the JetStream object store, wherever the data dir is).
  const dataDir = await mkdtemp(join(o.dataParent ?? '/var/tmp', 'hf-ab-'));
  await chmod(dataDir, 0o755);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let out = '';
  const events: PhaseEvent[] = [];
  let partial = '';
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    port: String(port),
    HYPERFAAS_LISTEN: '127.0.0.1',
    HYPERFAAS_DATA: dataDir,
    NATS_URL: nats.url,
    HYPERFAAS_SCALER_TICK: `${o.tickMs ?? 250}ms`,
    HYPERFAAS_HPA_COMPRESS: String(o.hpaCompress ?? 1),
    // The default (1 s) for ready instances: starting ones are probed every 20 ms anyway, and at 200 ms the probes of
    // ten idle instances cost the provider and watchdogs ~0.1 core.
    HYPERFAAS_HEALTH_INTERVAL: '1s',
    HYPERFAAS_RESTART_BACKOFF_MIN: '200ms',
    HYPERFAAS_RESTART_BACKOFF_MAX: '2s',
    HYPERFAAS_STOP_TIMEOUT: '10s',
    HYPERFAAS_ISOLATION: o.isolation ?? 'auto',
    LOG_LEVEL: o.logLevel ?? 'info',
    LOG_FORMAT: 'json',
    ...(o.hpaPodStartMs !== undefined ? { HYPERFAAS_HPA_POD_START: `${o.hpaPodStartMs}ms` } : {}),
    ...(o.env ?? {}),
  };
  const child: ChildProcess = spawn(process.execPath, [providerMain], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const onData = (c: Buffer): void => {
    const s = c.toString();
    out = (out + s).slice(-200_000);
    partial += s;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.includes('scaling phase')) continue;
      try {
        const j = JSON.parse(line) as Record<string, unknown>;
        if (j.message !== 'scaling phase') continue;
        events.push({
          at: Date.now(),
          function: String(j.function),
          policy: String(j.policy),
          from: String(j.from),
          to: String(j.to),
          ...(typeof j.replicas === 'number' ? { replicas: j.replicas } : {}),
          ...(Array.isArray(j.reasons) ? { reasons: j.reasons as string[] } : {}),
        });
      } catch {
        /* not JSON */
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-200_000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const reports = await tapReports(nats.url);
  const stop = async (): Promise<void> => {
    await reports.close();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 60_000);
      await exited;
      clearTimeout(t);
    }
    await nats.dispose();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, 30_000);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await httpCall(base, 'GET', '/healthz').catch(() => undefined);
      if (r?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`provider not healthy after 30 s:\n${out}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    base,
    port,
    nats,
    dataDir,
    pid: child.pid!,
    output: () => out,
    events,
    http: (m, p, b) => httpCall(base, m, p, b),
    reports,
    stop,
  };
}

/** FunctionStatusLite is the part of GET /system/function/<name> the harness reads. */
export interface FunctionStatusLite {
  replicas: number;
  availableReplicas: number;
}

/** functionStatus reads one function's status, or undefined when it does not exist. */
export async function functionStatus(s: Stack, name: string): Promise<FunctionStatusLite | undefined> {
  const r = await s.http('GET', `/system/function/${name}?namespace=openfaas-fn`);
  if (r.status === 404) return undefined;
  if (r.status !== 200) throw new Error(`status of ${name}: ${r.status} ${r.body}`);
  return JSON.parse(r.body) as FunctionStatusLite;
}

/** poll retries fn every stepMs until it returns a truthy value, or throws after timeoutMs with the last error. */
export async function poll<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000, stepMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** deploy creates a function (POST /system/functions) and waits until `ready` replicas are available. */
export async function deploy(s: Stack, fn: Record<string, unknown> & { service: string }, ready = 1): Promise<void> {
  const r = await s.http('POST', '/system/functions', { labels: {}, annotations: {}, ...fn });
  if (r.status !== 200 && r.status !== 202) throw new Error(`deploy ${fn.service}: ${r.status} ${r.body}`);
  await poll(`${fn.service} to have ${ready} available replica(s)`, async () => ((await functionStatus(s, fn.service))?.availableReplicas ?? 0) >= ready, 120_000);
}

/** remove deletes a function and waits until no instance of it reports any more. */
export async function remove(s: Stack, name: string): Promise<void> {
  const r = await s.http('DELETE', '/system/functions', { functionName: name });
  if (r.status !== 200 && r.status !== 202 && r.status !== 404) throw new Error(`remove ${name}: ${r.status} ${r.body}`);
  await poll(`${name} to be gone`, async () => (await functionStatus(s, name)) === undefined, 60_000);
  await poll(`${name}'s instances to stop reporting`, async () => s.reports.latest(name, 1000).length === 0, 60_000, 250);
}

/** metric returns the sum of a Prometheus counter's samples on the provider whose labels contain every `match` pair. */
export async function metric(s: Stack, name: string, match: Record<string, string> = {}): Promise<number> {
  const r = await s.http('GET', '/metrics');
  let sum = 0;
  for (const line of r.body.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([^{\s]+)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(match).every(([k, v]) => labels[k] === v)) sum += Number(m[4]);
  }
  return sum;
}
