/**
 * A client that declares a body and goes away before sending all of it (Content-Length: 10, 2 bytes, close) must
 * cost that one request, never the process: once for the Node and the Python runtime serving a handler, once for the
 * watchdog's control endpoint. Real processes, a raw socket for the broken request, then a normal request that answers 200.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fixtures, freePort, httpUpstreamEnv, runtimeJs, runtimePy, startWatchdog, waitFor, type Running } from './helpers.js';

/** sendCutOff opens a raw connection, sends a request head declaring 10 body bytes, 2 of them, and closes. */
function sendCutOff(port: number, path: string, extraHead = ''): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extraHead}Content-Type: text/plain\r\nContent-Length: 10\r\n\r\nab`);
      s.end();
    });
    s.on('error', reject);
    s.on('close', () => resolve());
    s.resume();
  });
}

describe('a request body cut off mid-way', function () {
  this.timeout(60_000);

  const runtimes = [
    { label: 'Node', argv: [process.execPath, runtimeJs], fn: 'fn-hello', listening: 'node runtime listening', status: 200, answer: 'hello world' },
    { label: 'Python', argv: ['python3', runtimePy], fn: 'py-hello', listening: 'python runtime listening', status: 201, answer: '"greeting": "hello world"' },
  ];
  for (const rt of runtimes) {
    describe(`the ${rt.label} runtime`, () => {
      let proc: ChildProcess | undefined;
      let out = '';
      after(() => {
        if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      });

      it(`drops that request, stays up and answers the next one with ${rt.status}`, async () => {
        const port = await freePort();
        proc = spawn(rt.argv[0]!, [...rt.argv.slice(1), join(fixtures, rt.fn)], {
          env: { PATH: process.env.PATH ?? '', http_port: String(port) },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const p = proc;
        p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
        await waitFor(() => out.includes(rt.listening), 20_000, 'the runtime to listen');

        await sendCutOff(port, '/');
        await waitFor(() => out.includes('request dropped') || p.exitCode !== null, 20_000, 'the runtime to drop the request');
        expect(p.exitCode, out).to.equal(null);
        expect(out).to.include('request dropped');

        const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'world', headers: { 'content-type': 'text/plain' } });
        expect(res.status, out).to.equal(rt.status);
        expect(await res.text()).to.include(rt.answer);
        expect(p.exitCode, out).to.equal(null);
      });
    });
  }

  describe('the watchdog control endpoint', () => {
    let wd: Running | undefined;
    after(async () => wd?.stop());

    it('drops that request, stays up and answers the next one with 200', async () => {
      // Control always needs the instance's token: with it, the endpoint reads the (cut-off) body.
      wd = await startWatchdog(await httpUpstreamEnv({ HYPERFAAS_CONTROL_TOKEN: 'cut-off-test-token' }));
      const w = wd;
      await sendCutOff(w.port, '/_/hyperfaas/control', 'x-hyperfaas-token: cut-off-test-token\r\n');
      await waitFor(() => w.output().includes('control request dropped') || w.proc.exitCode !== null, 20_000, 'the watchdog to drop the request');
      expect(w.proc.exitCode, w.output()).to.equal(null);

      const res = await fetch(`${w.url}/`, { method: 'POST', body: 'x' });
      await res.arrayBuffer();
      expect(res.status, w.output()).to.equal(200);
      expect(w.proc.exitCode, w.output()).to.equal(null);
    });
  });
});
