import { expect } from 'chai';
import { defaultMaxBody, readAsyncConfig, type AsyncConfig } from '../../../src/async/config.js';
import { ConfigError } from '../../../src/units.js';

describe('readAsyncConfig', () => {
  const defaults: AsyncConfig = {
    maxBodyBytes: defaultMaxBody,
    concurrency: 4,
    maxAttempts: 10,
    initialBackoffMs: 1000,
    maxBackoffMs: 60_000,
    ackWaitMs: 30_000,
    callbackAttempts: 3,
    publishTimeoutMs: 5000,
    invokeTimeoutMs: 0,
    depthIntervalMs: 5000,
    inProcessWorker: true,
  };
  const cases: { name: string; env: Record<string, string>; want: Partial<AsyncConfig> }[] = [
    { name: 'uses the defaults for an empty env', env: {}, want: {} },
    { name: 'treats blank values as unset', env: { async_concurrency: ' ' }, want: {} },
    { name: 'reads async_max_body in bytes', env: { async_max_body: '65536' }, want: { maxBodyBytes: 65536 } },
    { name: 'reads async_max_body with a binary suffix', env: { async_max_body: '512Ki' }, want: { maxBodyBytes: 524288 } },
    { name: 'reads async_concurrency', env: { async_concurrency: '16' }, want: { concurrency: 16 } },
    { name: 'reads async_max_attempts', env: { async_max_attempts: '100' }, want: { maxAttempts: 100 } },
    { name: 'reads backoffs as Go durations', env: { async_initial_backoff: '10s', async_max_backoff: '2m' }, want: { initialBackoffMs: 10_000, maxBackoffMs: 120_000 } },
    { name: 'reads a bare number of seconds', env: { async_ack_wait: '60' }, want: { ackWaitMs: 60_000 } },
    { name: 'reads a compound duration', env: { async_ack_wait: '5m5s' }, want: { ackWaitMs: 305_000 } },
    { name: 'reads async_callback_attempts', env: { async_callback_attempts: '5' }, want: { callbackAttempts: 5 } },
    { name: 'turns the in-process worker off', env: { HYPERFAAS_ASYNC_WORKER: 'false' }, want: { inProcessWorker: false } },
    { name: 'accepts 1 for true', env: { HYPERFAAS_ASYNC_WORKER: '1' }, want: { inProcessWorker: true } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(readAsyncConfig(c.env)).to.deep.equal({ ...defaults, ...c.want });
    });
  }

  const invalid: { name: string; env: Record<string, string>; message: RegExp }[] = [
    { name: 'rejects a concurrency of 0', env: { async_concurrency: '0' }, message: /async_concurrency = "0", must be an integer in \[1, 1024\]/ },
    { name: 'rejects a fractional attempt count', env: { async_max_attempts: '2.5' }, message: /async_max_attempts/ },
    { name: 'rejects a malformed duration', env: { async_ack_wait: 'soon' }, message: /async_ack_wait = "soon"/ },
    { name: 'rejects an ack wait under one second', env: { async_ack_wait: '500ms' }, message: /async_ack_wait/ },
    { name: 'rejects a max backoff below the initial one', env: { async_initial_backoff: '10s', async_max_backoff: '1s' }, message: /async_max_backoff/ },
    { name: 'rejects a malformed body size', env: { async_max_body: 'big' }, message: /async_max_body/ },
    { name: 'rejects a worker switch that is not a boolean', env: { HYPERFAAS_ASYNC_WORKER: 'maybe' }, message: /HYPERFAAS_ASYNC_WORKER/ },
  ];
  for (const c of invalid) {
    it(c.name, () => {
      expect(() => readAsyncConfig(c.env)).to.throw(ConfigError, c.message);
    });
  }

  it('returns a frozen object', () => {
    expect(Object.isFrozen(readAsyncConfig({}))).to.equal(true);
  });

  it('keeps the default body limit small enough that the base64 body and headers fit a 1 MiB NATS message', () => {
    expect(Math.ceil(defaultMaxBody / 3) * 4 + 32 * 1024).to.be.at.most(1024 * 1024);
  });
});
