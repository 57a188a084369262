/**
 * prometheus starts a real Prometheus server (Debian's `prometheus` package) on a free loopback port with its
 * database in a temp dir, scraping the targets a test names every second, and queries it over its HTTP API exactly
 * as a client (e.g. the OpenFaaS gateway's list handler) would.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpCall } from './http.js';
import { freePort, waitForPort } from './ports.js';

/** PromSample is one element of an instant query's vector result. */
export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

/** Prometheus is a running server. */
export interface Prometheus {
  url: string;
  /** query runs an instant PromQL query and returns the vector. */
  query(promql: string): Promise<PromSample[]>;
  /** log is the server's recent output, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/** prometheusBinary finds prometheus on PATH; throws with the install hint when missing. */
export function prometheusBinary(): string {
  for (const p of [process.env.PROMETHEUS_BIN, '/usr/bin/prometheus', '/usr/local/bin/prometheus']) {
    if (!p) continue;
    try {
      execFileSync(p, ['--version'], { stdio: 'ignore' });
      return p;
    } catch {
      /* next */
    }
  }
  throw new Error('prometheus not found: install it with `apt-get install -y prometheus` (.ci/run does)');
}

/** startPrometheus scrapes each target ("127.0.0.1:port", path /metrics) every second. */
export async function startPrometheus(targets: string[], opts: { basicAuth?: { user: string; password: string } } = {}): Promise<Prometheus> {
  const bin = prometheusBinary();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'hyperfaas-prom-'));
  const auth = opts.basicAuth
    ? `    basic_auth:\n      username: ${JSON.stringify(opts.basicAuth.user)}\n      password: ${JSON.stringify(opts.basicAuth.password)}\n`
    : '';
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: hyperfaas\n${auth}    static_configs:\n      - targets: ${JSON.stringify(targets)}\n`,
  );
  let out = '';
  const child: ChildProcess = spawn(
    bin,
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (c: Buffer) => {
    out = (out + c.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForPort(port, 30_000);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`prometheus did not start: ${String(e)}\n${out}`);
  }
  return {
    url,
    async query(promql) {
      const r = await httpCall(url, 'GET', `/api/v1/query?query=${encodeURIComponent(promql)}`);
      if (r.status !== 200) throw new Error(`prometheus query ${promql}: ${r.status} ${r.body}`);
      const body = JSON.parse(r.body) as { status: string; data: { resultType: string; result: PromSample[] } };
      if (body.status !== 'success' || body.data.resultType !== 'vector') throw new Error(`prometheus query ${promql}: ${r.body}`);
      return body.data.result;
    },
    log: () => out,
    async stop() {
      if (child.exitCode === null) {
        await new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
