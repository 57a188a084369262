#!/usr/bin/env node
/**
 * main is the watchdog process: read the environment, start, and drain on SIGTERM/SIGINT like of-watchdog.
 * A configuration error is reported with its key and allowed values and ends the process with status 2.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, readConfig, type WatchdogConfig } from './config.js';
import { log } from './logs.js';
import { Watchdog } from './watchdog.js';
import { NatsLink } from './ics/nats-link.js';
import { readCredentials } from './credentials.js';
import { CodeCache, fetchBundle } from './code-fetch.js';

/** runtimeFile is the file of the shipped runtime for a runtime name: python* runs on Python, anything else on Node. */
export function runtimeFile(name: string): string {
  return name.startsWith('python') ? 'python/server.py' : 'node/server.js';
}

/** findRuntime locates a runtime shipped with the watchdog (<pkg>/runtime/<file> above this file). */
export function findRuntime(from = dirname(fileURLToPath(import.meta.url)), file = 'node/server.js'): string {
  for (let dir = from; ; dir = dirname(dir)) {
    for (const rel of [`runtime/${file}`, `watchdog/runtime/${file}`]) {
      const p = join(dir, rel);
      if (existsSync(p)) return p;
    }
    if (dirname(dir) === dir) return '';
  }
}

async function main(): Promise<void> {
  let cfg: WatchdogConfig;
  try {
    cfg = readConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      log(`config error: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  // Credentials come as files in a directory only this instance can read; the file token wins over the env one.
  let creds;
  try {
    creds = await readCredentials(cfg.credentialsDir);
  } catch (err) {
    log(`cannot read credentials in ${cfg.credentialsDir}: ${(err as Error).message}`);
    process.exit(2);
  }
  if (creds.controlToken) cfg = Object.freeze({ ...cfg, controlToken: creds.controlToken });
  // The function's own children find the runtimes through these variables (the templates' entry points read them).
  const node = findRuntime();
  const python = findRuntime(undefined, runtimeFile('python'));
  if (node && !process.env.HYPERFAAS_NODE_RUNTIME) process.env.HYPERFAAS_NODE_RUNTIME = node;
  if (python && !process.env.HYPERFAAS_PYTHON_RUNTIME) process.env.HYPERFAAS_PYTHON_RUNTIME = python;
  // The guest slot runs the runtime of this instance's own (HYPERFAAS_RUNTIME), so it lends to functions of that one.
  const runtime = cfg.guest.runtime ? resolve(cfg.guest.runtime) : runtimeFile(cfg.runtime) === runtimeFile('python') ? python : node;
  // Under HyperFaaS the ICS talks to the global scheduler over NATS; without it the watchdog works alone. Guest code
  // objects come over the same connection, into a private directory of this watchdog (its container's own /tmp).
  let link: NatsLink | undefined;
  const code = cfg.natsUrl ? new CodeCache({ fetch: (ref) => fetchBundle(link!, ref) }) : undefined;
  const wd = new Watchdog(cfg, { runtime: cfg.guest.enabled ? runtime : '', ...(code ? { code } : {}) });
  link = cfg.natsUrl
    ? new NatsLink({
        url: cfg.natsUrl,
        instanceId: cfg.instanceId,
        namespace: cfg.namespace,
        fn: cfg.functionName || 'unknown',
        ...(creds.natsCreds ? { creds: creds.natsCreds } : {}),
        reportEveryMs: cfg.reportIntervalMs,
        log,
        hooks: { snapshot: () => wd.report(), control: (r) => wd.control(r) },
      })
    : undefined;
  if (link) {
    wd.attachLink(link);
    wd.onWatermark = () => link.reportNow();
    link.start();
  }
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log(`SIGTERM received.. shutting down server in ${cfg.healthcheckIntervalMs / 1000}s (${sig})`);
    const closeLink = () => link?.close().catch(() => undefined);
    wd.shutdown().then(
      async () => {
        await closeLink();
        log('Exiting.');
        process.exit(0);
      },
      (err: Error) => {
        log(`shutdown failed: ${err.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await wd.start();
}

main().catch((err: Error) => {
  log(`fatal: ${err.stack ?? err.message}`);
  process.exit(1);
});
