import { expect } from 'chai';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, readConfig, type WatchdogConfig } from '../src/config.js';
import { parseDuration } from '../src/units.js';

const base = { fprocess: 'node index.js', mode: 'http', upstream_url: 'http://127.0.0.1:3000' };

describe('watchdog config', () => {
  it('has of-watchdog defaults when only the required keys are set', () => {
    const c = readConfig({ fprocess: 'cat' });
    expect(c.mode).to.equal('streaming');
    expect(c.port).to.equal(8080);
    expect(c.metricsPort).to.equal(8081);
    expect(c.readTimeoutMs).to.equal(30_000);
    expect(c.writeTimeoutMs).to.equal(30_000);
    expect(c.execTimeoutMs).to.equal(30_000);
    expect(c.healthcheckIntervalMs).to.equal(30_000);
    expect(c.maxInflight).to.equal(0);
    expect(c.prefixLogs).to.equal(true);
    expect(c.logBufferSize).to.equal(65536);
    expect(c.logCallId).to.equal(false);
    expect(c.readyPath).to.equal('');
    expect(c.bufferHttp).to.equal(false);
    expect(c.contentType).to.equal('application/octet-stream');
    expect(c.suppressLock).to.equal(false);
    expect(c.staticPath).to.equal('/home/app/public');
    expect(c.lockFile).to.equal(join(tmpdir(), '.lock'));
    expect(c.namespace).to.equal('openfaas-fn');
    expect(c.guest).to.deep.equal({ enabled: true, capacity: 0, runtime: '' });
    expect(c.watermarkLow).to.equal(0.6);
    expect(c.watermarkHigh).to.equal(0.9);
    expect(c.bindAddress).to.equal('');
  });

  it('returns a frozen object', () => {
    const c = readConfig(base);
    expect(Object.isFrozen(c)).to.equal(true);
    expect(Object.isFrozen(c.guest)).to.equal(true);
    expect(Object.isFrozen(c.fprocessArgv)).to.equal(true);
  });

  it('does not read process.env (pure in its input)', () => {
    process.env.max_inflight = '77';
    try {
      expect(readConfig(base).maxInflight).to.equal(0);
    } finally {
      delete process.env.max_inflight;
    }
  });

  const cases: [string, Record<string, string>, (c: WatchdogConfig) => unknown, unknown][] = [
    ['fprocess is split on single spaces', { fprocess: 'node  index.js --x' }, (c) => c.fprocessArgv, ['node', 'index.js', '--x']],
    ['function_process wins over fprocess', { fprocess: 'a', function_process: 'b c' }, (c) => c.fprocess, 'b c'],
    ['http_upstream_url wins over upstream_url', { ...base, http_upstream_url: 'http://127.0.0.1:4000' }, (c) => c.upstreamURL, 'http://127.0.0.1:4000'],
    ['http_port defaults to the upstream port', { ...base, upstream_url: 'http://127.0.0.1:5123' }, (c) => c.httpPort, 5123],
    ['http_port can be set', { ...base, http_port: '6000' }, (c) => c.httpPort, 6000],
    ['port is read', { ...base, port: '9090' }, (c) => c.port, 9090],
    ['metrics_port is read', { ...base, metrics_port: '9091' }, (c) => c.metricsPort, 9091],
    ['a bare number is seconds', { ...base, read_timeout: '30' }, (c) => c.readTimeoutMs, 30_000],
    ['Go durations are accepted', { ...base, write_timeout: '1m30s' }, (c) => c.writeTimeoutMs, 90_000],
    ['milliseconds are accepted', { ...base, exec_timeout: '500ms' }, (c) => c.execTimeoutMs, 500],
    ['exec_timeout 0 turns the limit off', { ...base, exec_timeout: '0' }, (c) => c.execTimeoutMs, 0],
    ['healthcheck_interval defaults to write_timeout', { ...base, write_timeout: '12s' }, (c) => c.healthcheckIntervalMs, 12_000],
    ['healthcheck_interval can be set', { ...base, healthcheck_interval: '2s' }, (c) => c.healthcheckIntervalMs, 2000],
    ['max_inflight is read', { ...base, max_inflight: '4' }, (c) => c.maxInflight, 4],
    ['prefix_logs false', { ...base, prefix_logs: 'false' }, (c) => c.prefixLogs, false],
    ['log_buffer_size -1 is unbuffered', { ...base, log_buffer_size: '-1' }, (c) => c.logBufferSize, -1],
    ['log_callid 1 is true', { ...base, log_callid: '1' }, (c) => c.logCallId, true],
    ['ready_path is read', { ...base, ready_path: '/ready' }, (c) => c.readyPath, '/ready'],
    ['buffer_http true', { ...base, buffer_http: 'true' }, (c) => c.bufferHttp, true],
    ['http_buffer_req_body is an alias of buffer_http', { ...base, http_buffer_req_body: '1' }, (c) => c.bufferHttp, true],
    ['content_type is read', { fprocess: 'cat', content_type: 'text/plain' }, (c) => c.contentType, 'text/plain'],
    ['suppress_lock 1', { ...base, suppress_lock: '1' }, (c) => c.suppressLock, true],
    ['static mode needs no fprocess', { mode: 'static', static_path: '/srv' }, (c) => [c.mode, c.staticPath], ['static', '/srv']],
    ['serializing mode', { fprocess: 'cat', mode: 'serializing' }, (c) => c.mode, 'serializing'],
    ['lock_file is read', { ...base, lock_file: '/tmp/x/.lock' }, (c) => c.lockFile, '/tmp/x/.lock'],
    ['HYPERFAAS_FUNCTION may carry the namespace', { ...base, HYPERFAAS_FUNCTION: 'fn.team' }, (c) => [c.functionName, c.namespace], ['fn', 'team']],
    ['HYPERFAAS_NAMESPACE wins', { ...base, HYPERFAAS_FUNCTION: 'fn', HYPERFAAS_NAMESPACE: 'ns' }, (c) => [c.functionName, c.namespace], ['fn', 'ns']],
    ['HYPERFAAS_INSTANCE_ID is read', { ...base, HYPERFAAS_INSTANCE_ID: 'i-1' }, (c) => c.instanceId, 'i-1'],
    ['HYPERFAAS_CONTROL_TOKEN is read', { ...base, HYPERFAAS_CONTROL_TOKEN: 's3cret' }, (c) => c.controlToken, 's3cret'],
    ['guest slot settings', { ...base, guest_slot: 'false', guest_capacity: '3', guest_runtime: '/r.js' }, (c) => c.guest, { enabled: false, capacity: 3, runtime: '/r.js' }],
    ['watermarks are read', { ...base, watermark_low: '0.5', watermark_high: '0.8' }, (c) => [c.watermarkLow, c.watermarkHigh], [0.5, 0.8]],
    ['memory_limit takes quantities', { ...base, memory_limit: '128Mi' }, (c) => c.memoryLimit, 128 * 1024 * 1024],
    ['cpu_limit takes cores', { ...base, cpu_limit: '0.5' }, (c) => c.cpuLimit, 0.5],
    ['HYPERFAAS_URL is the advertised URL', { ...base, HYPERFAAS_URL: 'http://10.1.2.3:8080' }, (c) => c.advertiseURL, 'http://10.1.2.3:8080'],
    ['HYPERFAAS_RUNTIME labels the runtime', { ...base, HYPERFAAS_RUNTIME: 'node20' }, (c) => c.runtime, 'node20'],
    ['bind_address is read', { ...base, bind_address: '127.0.0.1' }, (c) => c.bindAddress, '127.0.0.1'],
    ['hyperfaas_spawner defaults to auto (the spawn helper when built)', { ...base }, (c) => c.spawner, 'auto'],
    ['hyperfaas_spawner=node keeps Node\'s spawn', { ...base, hyperfaas_spawner: 'node' }, (c) => c.spawner, 'node'],
  ];
  for (const [name, env, get, want] of cases) {
    it(name, () => expect(get(readConfig(env))).to.deep.equal(want));
  }

  const errors: [string, Record<string, string>, string][] = [
    ['fprocess is required outside static mode', { mode: 'streaming' }, 'fprocess'],
    ['an unknown mode is refused', { fprocess: 'cat', mode: 'afterburn' }, 'mode'],
    ['upstream_url is required in http mode', { fprocess: 'x', mode: 'http' }, 'upstream_url'],
    ['upstream_url must be http', { fprocess: 'x', mode: 'http', upstream_url: 'ftp://x' }, 'upstream_url'],
    ['write_timeout 0 is refused', { ...base, write_timeout: '0' }, 'write_timeout'],
    ['a malformed duration is refused', { ...base, exec_timeout: '10 parsecs' }, 'exec_timeout'],
    ['a negative port is refused', { ...base, port: '-1' }, 'port'],
    ['a port above 65535 is refused', { ...base, metrics_port: '70000' }, 'metrics_port'],
    ['max_inflight must be an integer', { ...base, max_inflight: '1.5' }, 'max_inflight'],
    ['a bad boolean is refused', { ...base, suppress_lock: 'maybe' }, 'suppress_lock'],
    ['log_buffer_size 0 is refused', { ...base, log_buffer_size: '0' }, 'log_buffer_size'],
    ['watermark_high must exceed watermark_low', { ...base, watermark_low: '0.9', watermark_high: '0.5' }, 'watermark_high'],
    ['memory_limit must be a size', { ...base, memory_limit: 'lots' }, 'memory_limit'],
    ['hyperfaas_spawner is auto, helper or node', { ...base, hyperfaas_spawner: 'fork' }, 'hyperfaas_spawner'],
  ];
  for (const [name, env, key] of errors) {
    it(name, () => {
      let err: unknown;
      try {
        readConfig(env);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(ConfigError);
      const ce = err as ConfigError;
      expect(ce.key).to.equal(key);
      expect(ce.message).to.contain(key);
      expect(ce.message).to.contain('allowed');
      expect(ce.value).to.equal(env[key] ?? '');
    });
  }

  it('parses durations like Go', () => {
    expect(parseDuration('1h2m3s')).to.equal(3_723_000);
    expect(parseDuration('1.5s')).to.equal(1500);
    expect(parseDuration('250us')).to.equal(0.25);
    expect(parseDuration('2')).to.equal(2000);
    expect(parseDuration('s')).to.equal(undefined);
    expect(parseDuration('')).to.equal(undefined);
  });
});
