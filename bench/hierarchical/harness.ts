/**
 * harness runs the real provider process (compiled src/main.js, local backend) on loopback for the hierarchical
 * scheduling integration tests and benchmark: start and stop it, deploy and scale functions over the faas-provider
 * API, scrape /metrics, and follow the watchdogs' load reports over NATS (which also tell each instance's URL).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { providerMain } from '../../src/paths.js';
import { subjects, type LoadReport } from '@hyperfaas/watchdog/protocol';
import { freePort, waitForPort } from '../../test/support/ports.js';
import { eventually, httpCall as call, type Reply } from '../../test/support/http.js';

export type { Reply };

/** httpCall sends one request on a fresh connection and buffers the answer (60 s timeout, extra headers). */
export function httpCall(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return call(base, method, path, body, { headers, timeoutMs: 60_000 });
}

/** until polls check until it stops throwing or timeoutMs passes (then rethrows its last error). */
export function until<T>(check: () => T | Promise<T>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  return eventually(check, timeoutMs, everyMs);
}

/** ProviderOptions configure a provider run. */
export interface ProviderOptions {
  natsUrl?: string;
  /** env adds or overrides provider settings (e.g. HYPERFAAS_DEFAULT_POLICY). */
  env?: Record<string, string>;
}

/** FunctionSpec is the part of a deployment the harness sends. */
export interface DeploySpec {
  service: string;
  image: string;
  /** envProcess is the fork-mode command, for images without a function directory. */
  envProcess?: string;
  envVars?: Record<string, string>;
  labels?: Record<string, string>;
}

/** Provider is a running provider process. */
export class Provider {
  output = '';
  private constructor(
    readonly base: string,
    private readonly child: ChildProcess,
    private readonly data: string,
  ) {
    child.stdout!.on('data', (c: Buffer) => (this.output = (this.output + c.toString()).slice(-40_000)));
    child.stderr!.on('data', (c: Buffer) => (this.output = (this.output + c.toString()).slice(-40_000)));
  }

  /** start spawns the provider with a temp HYPERFAAS_DATA and waits for /healthz. */
  static async start(o: ProviderOptions = {}): Promise<Provider> {
    const data = await mkdtemp(join(tmpdir(), 'hf-hier-'));
    const port = await freePort();
    const child = spawn(process.execPath, [providerMain], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        port: String(port),
        HYPERFAAS_LISTEN: '127.0.0.1',
        HYPERFAAS_DATA: data,
        HYPERFAAS_ISOLATION: 'none',
        HYPERFAAS_HEALTH_INTERVAL: '200ms',
        HYPERFAAS_RESTART_BACKOFF_MIN: '200ms',
        HYPERFAAS_RESTART_BACKOFF_MAX: '2s',
        HYPERFAAS_STOP_TIMEOUT: '10s',
        LOG_LEVEL: 'warn',
        ...(o.natsUrl ? { NATS_URL: o.natsUrl } : {}),
        ...o.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const p = new Provider(`http://127.0.0.1:${port}`, child, data);
    try {
      await waitForPort(port, 30_000);
      await until(async () => {
        const r = await httpCall(p.base, 'GET', '/healthz');
        if (r.status !== 200) throw new Error(`healthz ${r.status}`);
      }, 30_000);
    } catch (e) {
      await p.stop();
      throw new Error(`provider did not start: ${String(e)}\n${p.output}`);
    }
    return p;
  }

  /** pid is the provider process id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** deploy creates a function. */
  async deploy(s: DeploySpec): Promise<void> {
    const r = await httpCall(this.base, 'POST', '/system/functions', { labels: {}, annotations: {}, ...s });
    if (r.status !== 200 && r.status !== 202) throw new Error(`deploy ${s.service}: ${r.status} ${r.body}`);
  }

  /** scale sets a function's replicas. */
  async scale(name: string, replicas: number): Promise<void> {
    const r = await httpCall(this.base, 'POST', `/system/scale-function/${name}`, { serviceName: name, replicas });
    if (r.status !== 200 && r.status !== 202) throw new Error(`scale ${name}: ${r.status} ${r.body}`);
  }

  /** available reads a function's availableReplicas. */
  async available(name: string): Promise<number> {
    const r = await httpCall(this.base, 'GET', `/system/function/${name}`);
    if (r.status !== 200) throw new Error(`status ${name}: ${r.status} ${r.body}`);
    return (JSON.parse(r.body) as { availableReplicas: number }).availableReplicas;
  }

  /** waitAvailable waits until exactly n instances of name are ready. */
  async waitAvailable(name: string, n: number, timeoutMs = 60_000): Promise<void> {
    await until(async () => {
      const got = await this.available(name);
      if (got !== n) throw new Error(`${name}: ${got} available, want ${n}`);
    }, timeoutMs);
  }

  /** metric sums the samples of a Prometheus metric whose labels include every given label (0 when absent). */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const r = await httpCall(this.base, 'GET', '/metrics');
    return sumMetric(r.body, name, labels);
  }

  /** stop sends SIGTERM (SIGKILL after 30 s), waits for exit, and removes the data dir. */
  async stop(): Promise<number | null> {
    const c = this.child;
    let code: number | null = c.exitCode;
    if (c.exitCode === null && c.signalCode === null) {
      const gone = new Promise<number | null>((r) => c.once('exit', (x) => r(x)));
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 30_000);
      code = await gone;
      clearTimeout(t);
    }
    await rm(this.data, { recursive: true, force: true });
    return code;
  }
}

/** sumMetric sums the samples of metric `name` in Prometheus text whose labels include `labels`. */
export function sumMetric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    const brace = line.indexOf('}');
    const lbl = line[name.length] === '{' ? line.slice(name.length + 1, brace) : '';
    if (!Object.entries(labels).every(([k, v]) => lbl.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice((brace >= 0 ? brace : name.length) + 1).trim().split(' ')[0]);
  }
  return sum;
}

/** ReportWatch keeps the latest load report of every instance, from a NATS connection of its own. */
export class ReportWatch {
  readonly latest = new Map<string, LoadReport>();
  private constructor(private readonly nc: NatsConnection) {
    nc.subscribe(subjects.reportsAll, {
      callback: (err, m) => {
        if (err) return;
        try {
          const r = m.json<LoadReport>();
          const prev = this.latest.get(r.instance);
          if (!prev || prev.seq < r.seq || prev.at < r.at) this.latest.set(r.instance, r);
        } catch {
          /* ignore */
        }
      },
    });
  }

  /** open connects (reconnecting forever, so it survives a nats-server restart), with credsFile when NATS requires it. */
  static async open(url: string, credsFile?: string): Promise<ReportWatch> {
    const auth = credsFile ? { authenticator: credsAuthenticator(new Uint8Array(readFileSync(credsFile))) } : {};
    return new ReportWatch(await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 250, ...auth }));
  }

  /** of lists the fresh reports (newer than maxAgeMs) of one function's instances. */
  of(fn: string, maxAgeMs = 3_000): LoadReport[] {
    const now = Date.now();
    return [...this.latest.values()].filter((r) => r.function === fn && now - r.at <= maxAgeMs);
  }

  /** close drops the connection. */
  async close(): Promise<void> {
    await this.nc.close().catch(() => undefined);
  }
}
