import { expect } from 'chai';
import { join } from 'node:path';
import { fixtures, startWatchdog, waitFor, type Running } from './helpers.js';

async function post(url: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', body, headers });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

const forkCmd = (what: string) => `${process.execPath} ${join(fixtures, 'fork.mjs')} ${what}`;

describe('watchdog classic mode (answers like the classic watchdog in functions/alpine)', function () {
  this.timeout(30_000);
  const started: Running[] = [];
  afterEach(async () => {
    for (const w of started.splice(0)) await w.stop();
  });
  const start = async (env: Record<string, string>) => {
    const wd = await startWatchdog({ mode: 'classic', guest_slot: 'false', ...env });
    started.push(wd);
    return wd;
  };

  it('answers 200 with the output, X-Duration-Seconds and the request Content-Type, and logs Wrote N Bytes', async () => {
    const wd = await start({ fprocess: 'cat' });
    const r = await post(`${wd.url}/`, 'hello classic', { 'Content-Type': 'text/x-test' });
    expect(r.status).to.equal(200);
    expect(r.body).to.equal('hello classic');
    expect(r.headers.get('content-type')).to.equal('text/x-test');
    expect(r.headers.get('x-duration-seconds')).to.match(/^\d+\.\d{6}$/);
    await waitFor(() => /Wrote 13 Bytes - Duration: \d+\.\d+s/.test(wd.output()), 5000, 'Wrote line');
    expect(wd.output()).to.contain('Forking fprocess.');
  });

  it('answers 500 with "exit status N", a newline, then stdout and stderr as written when the process fails', async () => {
    const wd = await start({ fprocess: forkCmd('partial') });
    const r = await post(`${wd.url}/`, '');
    expect(r.status).to.equal(500);
    expect(r.body).to.equal('exit status 3\npartial output\nthen it broke\n');
    expect(r.headers.get('content-type')).to.equal('text/plain; charset=utf-8');
  });

  it('keeps stderr out of the response and in the log with combine_output=false', async () => {
    const wd = await start({ fprocess: forkCmd('partial'), combine_output: 'false' });
    const r = await post(`${wd.url}/`, '');
    expect(r.status).to.equal(500);
    expect(r.body).to.equal('exit status 3\npartial output\n');
    await waitFor(() => wd.output().includes('stderr: then it broke'), 5000, 'stderr in the log');
  });

  it('puts stderr in a successful answer too by default, as the classic watchdog does', async () => {
    const wd = await start({ fprocess: forkCmd('both') });
    const r = await post(`${wd.url}/`, '');
    expect(r.status).to.equal(200);
    expect(r.body).to.equal('to stdout\nto stderr\n');
  });

  it('answers 408 "Killed process." when exec_timeout passes, and kills the process', async () => {
    const wd = await start({ fprocess: forkCmd('sleep'), exec_timeout: '300ms' });
    const r = await post(`${wd.url}/`, 'x');
    expect(r.status).to.equal(408);
    expect(r.body).to.equal('Killed process.\n');
    await waitFor(() => wd.output().includes(`Killing process: ${forkCmd('sleep')}`), 5000, 'Killing line');
  });

  it('answers 500 naming a command that does not exist, in Go exec words', async () => {
    const wd = await start({ fprocess: 'hyperfaas-no-such-command --flag' });
    const r = await post(`${wd.url}/`, '');
    expect(r.status).to.equal(500);
    expect(r.body).to.equal('exec: "hyperfaas-no-such-command": executable file not found in $PATH\n');
  });

  it('gives the process the CGI environment with the classic watchdog extras (Http_Content_Length, Http_Host)', async () => {
    const wd = await start({ fprocess: forkCmd('env'), content_type: 'application/json' });
    const r = await post(`${wd.url}/a/b?q=1`, 'four', { 'X-Call-Id': 'c1' });
    expect(r.status).to.equal(200);
    expect(r.headers.get('content-type')).to.equal('application/json');
    const env = JSON.parse(r.body) as Record<string, string>;
    expect(env).to.include({ Http_Method: 'POST', Http_Path: '/a/b', Http_Query: 'q=1', Http_Content_Length: '4', Http_ContentLength: '4', Http_X_Call_Id: 'c1' });
    expect(env.Http_Host).to.equal(`127.0.0.1:${wd.port}`);
  });
});
