import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtures, repo, sleep, startWatchdog, waitFor, type Running } from './helpers.js';
import { helperPath } from '../src/executors/spawn.js';

/**
 * The spawn helper (native/hf-spawn.c) starts the forking modes' processes with posix_spawn and carries their stdio
 * over one pipe pair. It must answer exactly as Node's spawn does, kill what it is asked to, and never be a single
 * point of failure: when it dies the watchdog goes on with Node's spawn, and it dies with the watchdog.
 */

const forkCmd = (what: string) => `${process.execPath} ${join(fixtures, 'fork.mjs')} ${what}`;
const comm = (pid: number) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
const parentOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
/** gone: no such process, or only a zombie waiting for its parent. */
const gone = (pid: number) => !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
function helperOf(wd: Running): number | undefined {
  const kids = readFileSync(`/proc/${wd.proc.pid}/task/${wd.proc.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return kids.find((k) => comm(k) === 'hf-spawn');
}

async function post(url: string, body: string | Buffer, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', body, headers });
  return { status: res.status, contentType: res.headers.get('content-type'), body: Buffer.from(await res.arrayBuffer()) };
}

describe('watchdog spawn helper (forking modes)', function () {
  this.timeout(60_000);
  const started: Running[] = [];
  before(function () {
    try {
      execFileSync('bash', [join(repo, 'scripts', 'build-native.sh')], { cwd: repo, stdio: 'pipe' });
    } catch (e) {
      throw new Error(`scripts/build-native.sh failed: ${String(e)}`);
    }
    // The test run installs gcc (scripts/ensure-tools.sh), so a missing helper is a failure, not a reason to skip.
    if (!existsSync(helperPath)) throw new Error(`the spawn helper was not built at ${helperPath}: is gcc installed?`);
  });
  afterEach(async () => {
    for (const w of started.splice(0)) await w.stop();
  });
  const start = async (env: Record<string, string>) => {
    const wd = await startWatchdog({ guest_slot: 'false', ...env });
    started.push(wd);
    return wd;
  };

  it('is the parent of the function processes, itself a child of the watchdog (hyperfaas_spawner=node: the watchdog is)', async () => {
    const wd = await start({ mode: 'serializing', fprocess: forkCmd('pid') });
    const [pid, ppid] = (await post(`${wd.url}/`, '')).body.toString().split(' ').map(Number);
    expect(pid).to.be.greaterThan(0);
    expect(comm(ppid!)).to.equal('hf-spawn');
    expect(parentOf(ppid!)).to.equal(wd.proc.pid);
    const plain = await start({ mode: 'serializing', fprocess: forkCmd('pid'), hyperfaas_spawner: 'node' });
    expect(Number((await post(`${plain.url}/`, '')).body.toString().split(' ')[1])).to.equal(plain.proc.pid);
    expect(helperOf(plain)).to.equal(undefined);
  });

  it('answers as Node\'s spawn does: bodies of 1 MiB both ways, failures, a missing command, CGI variables, signal dispositions', async () => {
    const big = Buffer.alloc(1024 * 1024, 'abcdefghijklmnopqrstuvwxyz0123456789\n');
    const answers: Record<string, unknown>[] = [];
    for (const spawner of ['helper', 'node']) {
      const a: Record<string, unknown> = {};
      for (const mode of ['streaming', 'serializing', 'classic']) {
        const cat = await start({ mode, fprocess: 'cat', hyperfaas_spawner: spawner, content_type: 'application/octet-stream' });
        const r = await post(`${cat.url}/`, big);
        a[`${mode} cat`] = [r.status, r.contentType, r.body.length, r.body.equals(big)];
        const env = await start({ mode, fprocess: forkCmd('env'), hyperfaas_spawner: spawner });
        const e = await post(`${env.url}/a/b?x=1`, 'x', { 'X-Call-Id': 'id-1' });
        const vars = JSON.parse(e.body.toString()) as Record<string, string>;
        a[`${mode} env`] = [vars.Http_Path, vars.Http_Query, vars.Http_X_Call_Id, vars.Http_Method];
        const missing = await start({ mode, fprocess: 'no-such-command-here', hyperfaas_spawner: spawner });
        const m = await post(`${missing.url}/`, 'x');
        a[`${mode} missing`] = [m.status, m.body.toString()];
      }
      const fail = await start({ mode: 'serializing', fprocess: forkCmd('fail'), hyperfaas_spawner: spawner });
      const f = await post(`${fail.url}/`, 'x');
      a['serializing fail'] = [f.status, f.body.toString()];
      await waitFor(() => fail.output().includes('failing on purpose'), 5_000, 'stderr in the log');
      const signals = await start({ mode: 'serializing', fprocess: `sh ${join(fixtures, 'signals.sh')}`, hyperfaas_spawner: spawner });
      a['signals'] = (await post(`${signals.url}/`, '')).body.toString();
      const classicFail = await start({ mode: 'classic', fprocess: forkCmd('partial'), hyperfaas_spawner: spawner });
      const cf = await post(`${classicFail.url}/`, 'x');
      a['classic partial'] = [cf.status, cf.body.toString()];
      answers.push(a);
      for (const w of started.splice(0)) await w.stop();
    }
    expect(answers[0]).to.deep.equal(answers[1]);
    expect(answers[0]!['streaming cat']).to.deep.equal([200, 'application/octet-stream', big.length, true]);
    expect(answers[0]!['serializing fail']).to.deep.equal([500, 'exit status 4']);
    // No signal blocked or ignored: not SIGPIPE, which the helper ignores, nor libc's internal real-time signals.
    expect(answers[0]!['signals']).to.equal('SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n');
    expect(answers[0]!['streaming missing']).to.deep.equal([500, 'Unable to start function: spawn no-such-command-here ENOENT\n']);
    expect(answers[0]!['classic missing']).to.deep.equal([500, 'exec: "no-such-command-here": executable file not found in $PATH\n']);
  });

  it('kills the function process when the client goes away', async () => {
    const wd = await start({ mode: 'streaming', fprocess: forkCmd('pid-sleep') });
    const ac = new AbortController();
    const res = await fetch(`${wd.url}/`, { method: 'POST', body: '', signal: ac.signal });
    const reader = res.body!.getReader();
    const first = await reader.read();
    const pid = Number(Buffer.from(first.value!).toString().trim());
    expect(comm(parentOf(pid))).to.equal('hf-spawn');
    ac.abort();
    await waitFor(() => gone(pid), 10_000, `process ${pid} to end`);
  });

  it('kills the function process at exec_timeout', async () => {
    const wd = await start({ mode: 'streaming', fprocess: forkCmd('pid-sleep'), exec_timeout: '500ms' });
    const r = await post(`${wd.url}/`, '');
    expect(r.status).to.equal(200);
    const pid = Number(r.body.toString().trim());
    await waitFor(() => gone(pid), 10_000, `process ${pid} to end`);
    await waitFor(() => wd.output().includes('killed by ExecTimeout'), 5_000, 'the timeout in the log');
  });

  it('goes on with Node\'s spawn when the helper dies, and ends the request (and process) that was running through it', async () => {
    const wd = await start({ mode: 'serializing', fprocess: forkCmd('pid') });
    const helper = helperOf(wd);
    expect(helper, 'a helper').to.be.a('number');
    const inflight = start({ mode: 'streaming', fprocess: forkCmd('pid-sleep') });
    const streaming = await inflight;
    const streamingHelper = helperOf(streaming)!;
    const res = await fetch(`${streaming.url}/`, { method: 'POST', body: '' });
    const reader = res.body!.getReader();
    const pid = Number(Buffer.from((await reader.read()).value!).toString().trim());
    // Both helpers are children of watchdogs this test started.
    process.kill(helper!, 'SIGKILL');
    process.kill(streamingHelper, 'SIGKILL');
    // The running request ends (cut short) instead of hanging.
    for (;;) if ((await reader.read()).done) break;
    // and its process, which nobody could time out any more, was ended with the helper.
    await waitFor(() => gone(pid), 10_000, `process ${pid} to end`);
    await waitFor(() => wd.output().includes('Spawn helper exited'), 5_000, 'the helper death in the log');
    const after = await post(`${wd.url}/`, '');
    expect(after.status).to.equal(200);
    expect(Number(after.body.toString().split(' ')[1])).to.equal(wd.proc.pid);
  });

  it('ends when its watchdog is killed', async () => {
    const wd = await start({ mode: 'streaming', fprocess: 'cat' });
    const helper = helperOf(wd)!;
    expect(helper).to.be.a('number');
    process.kill(wd.proc.pid!, 'SIGKILL');
    await wd.exited;
    await waitFor(() => gone(helper), 10_000, 'the helper to end');
    await sleep(0);
  });
});
