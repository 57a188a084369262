/** executors: the home slot's executor, chosen once from the mode (see executor.ts). */
import type { WatchdogConfig } from '../config.js';
import { ClassicExecutor } from './classic.js';
import type { Executor } from './executor.js';
import { ForkExecutor } from './fork.js';
import { HttpExecutor } from './http.js';
import { StaticExecutor } from './static.js';

export type { Executor } from './executor.js';
export { HttpExecutor, type HttpTarget } from './http.js';

/** httpTarget reads upstream_url into where the http executor connects ("localhost" as 127.0.0.1). */
export function httpTarget(upstreamURL: string): { host: string; port: number; prefix: string } {
  const u = new URL(upstreamURL);
  return {
    host: u.hostname === 'localhost' ? '127.0.0.1' : u.hostname,
    port: u.port ? Number(u.port) : 80,
    prefix: u.pathname === '/' ? '' : u.pathname.replace(/\/$/, ''),
  };
}

/** homeExecutor builds the executor of the configured mode. */
export function homeExecutor(config: WatchdogConfig): Executor {
  switch (config.mode) {
    case 'http':
      return new HttpExecutor(httpTarget(config.upstreamURL), config);
    case 'streaming':
      return new ForkExecutor(config, true);
    case 'serializing':
      return new ForkExecutor(config, false);
    case 'classic':
      return new ClassicExecutor(config);
    case 'static':
      return new StaticExecutor(config.staticPath);
  }
}
