import { expect } from 'chai';
import { canonicalHeader, cgiEnv } from '../src/cgi.js';
import { cpuMemBetween, descendants, parseCpuMax, parseCpuStatUsec, parseMemLimit, parseProcCgroup, parseProcStat, parseV1Quota } from '../src/load.js';
import { SlotTable } from '../src/slots.js';
import { controlAllowed } from '../src/control.js';
import { loadFraction, watermarkOf } from '../src/watermark.js';

describe('slot table', () => {
  it('admits up to the capacity and refuses beyond it', () => {
    const t = new SlotTable({ function: 'a.ns', capacity: 2 });
    const a = t.acquire(t.home);
    const b = t.acquire(t.home);
    expect(a).to.not.equal(null);
    expect(b).to.not.equal(null);
    expect(t.acquire(t.home)).to.equal(null);
    expect(t.full(t.home)).to.equal(true);
    a!.release();
    expect(t.home.inflight).to.equal(1);
    expect(t.acquire(t.home)).to.not.equal(null);
  });

  it('capacity 0 is unlimited', () => {
    const t = new SlotTable({ function: 'a.ns', capacity: 0 });
    for (let i = 0; i < 1000; i++) expect(t.acquire(t.home)).to.not.equal(null);
    expect(t.home.inflight).to.equal(1000);
  });

  it('release is idempotent', () => {
    const t = new SlotTable({ function: 'a.ns', capacity: 1 });
    const a = t.acquire(t.home)!;
    a.release();
    a.release();
    expect(t.home.inflight).to.equal(0);
  });

  it('refuses a slot that is not serving', () => {
    const t = new SlotTable({ function: 'a.ns', capacity: 0 }, { capacity: 0 });
    expect(t.guest.state).to.equal('generic');
    expect(t.acquire(t.guest)).to.equal(null);
    t.guest.state = 'serving';
    expect(t.acquire(t.guest)).to.not.equal(null);
  });

  it('routes by the function header', () => {
    const t = new SlotTable({ function: 'home.ns', capacity: 0 }, { capacity: 0 });
    t.guest.function = 'other.ns';
    expect(t.route(undefined)).to.equal(t.home);
    expect(t.route('home')).to.equal(t.home);
    expect(t.route('home.ns')).to.equal(t.home);
    expect(t.route('other.ns')).to.equal(t.guest);
    expect(t.route('other')).to.equal(t.guest);
    expect(t.route('third.ns')).to.equal(undefined);
  });

  it('reports both slots', () => {
    const t = new SlotTable({ function: 'home.ns', capacity: 3 }, { capacity: 2 });
    t.acquire(t.home);
    expect(t.report()).to.deep.equal([
      { kind: 'home', state: 'serving', function: 'home.ns', inflight: 1, capacity: 3 },
      { kind: 'guest', state: 'generic', inflight: 0, capacity: 2 },
    ]);
  });
});

describe('watermarks', () => {
  const none = { cpu: { used: 0, limit: 0 }, memory: { used: 0, limit: 0 } };
  const cases: [string, Parameters<typeof watermarkOf>[0], string][] = [
    ['nothing limited is low', { slots: [{ inflight: 50, capacity: 0, state: 'serving' }], ...none }, 'low'],
    ['half a slot is low', { slots: [{ inflight: 5, capacity: 10, state: 'serving' }], ...none }, 'low'],
    ['70 % of a slot is normal', { slots: [{ inflight: 7, capacity: 10, state: 'serving' }], ...none }, 'normal'],
    ['a full slot is high', { slots: [{ inflight: 10, capacity: 10, state: 'serving' }], ...none }, 'high'],
    ['CPU at 95 % of the limit is high', { slots: [], cpu: { used: 0.95, limit: 1 }, memory: { used: 0, limit: 0 } }, 'high'],
    ['memory at 75 % is normal', { slots: [], cpu: { used: 0, limit: 0 }, memory: { used: 75, limit: 100 } }, 'normal'],
    ['a generic slot does not count', { slots: [{ inflight: 0, capacity: 1, state: 'generic' }], ...none }, 'low'],
    ['the largest fraction wins', { slots: [{ inflight: 1, capacity: 10, state: 'serving' }], cpu: { used: 0.1, limit: 1 }, memory: { used: 95, limit: 100 } }, 'high'],
  ];
  for (const [name, sample, want] of cases) it(name, () => expect(watermarkOf(sample, { low: 0.6, high: 0.9 })).to.equal(want));

  it('uses the watermarks it is given', () => {
    const s = { slots: [{ inflight: 5, capacity: 10, state: 'serving' as const }], ...none };
    expect(loadFraction(s)).to.equal(0.5);
    expect(watermarkOf(s, { low: 0.2, high: 0.4 })).to.equal('high');
    expect(watermarkOf(s, { low: 0.2, high: 0.9 })).to.equal('normal');
  });
});

describe('load parsers', () => {
  it('reads /proc/self/cgroup for v1 and v2', () => {
    const v = parseProcCgroup('12:memory:/a/b\n4:cpu,cpuacct:/a/b\n0::/x.slice/y\n');
    expect(v.v1.memory).to.equal('/a/b');
    expect(v.v1.cpu).to.equal('/a/b');
    expect(v.v1.cpuacct).to.equal('/a/b');
    expect(v.v2).to.equal('/x.slice/y');
  });

  it('reads CPU limits', () => {
    expect(parseCpuMax('max 100000')).to.equal(0);
    expect(parseCpuMax('50000 100000\n')).to.equal(0.5);
    expect(parseV1Quota('-1', '100000')).to.equal(0);
    expect(parseV1Quota('200000\n', '100000\n')).to.equal(2);
    expect(parseCpuStatUsec('usage_usec 2500000\nuser_usec 1\n')).to.equal(2.5);
  });

  it('reads memory limits, treating huge values as none', () => {
    expect(parseMemLimit('max\n')).to.equal(0);
    expect(parseMemLimit('9223372036854771712')).to.equal(0);
    expect(parseMemLimit('134217728\n')).to.equal(134217728);
  });

  it('reads /proc/<pid>/stat with spaces in the name and finds descendants', () => {
    const s = parseProcStat('42 (node a) b) S 7 42 42 0 -1 4194560 1 0 0 0 150 50 0 0 20 0 1 0 1 1 1');
    expect(s).to.deep.equal({ pid: 42, ppid: 7, utime: 150, stime: 50 });
    const tree = descendants(1, [
      { pid: 1, ppid: 0, utime: 1, stime: 0 },
      { pid: 2, ppid: 1, utime: 1, stime: 0 },
      { pid: 3, ppid: 2, utime: 1, stime: 0 },
      { pid: 4, ppid: 9, utime: 1, stime: 0 },
    ]);
    expect(tree.map((p) => p.pid).sort()).to.deep.equal([1, 2, 3]);
  });

  it('turns two readings into cores in use', () => {
    const a = { cpuSeconds: 10, cpuLimit: 2, memUsed: 1, memLimit: 4 };
    const b = { cpuSeconds: 10.5, cpuLimit: 2, memUsed: 3, memLimit: 4 };
    expect(cpuMemBetween(a, b, 1000)).to.deep.equal({ cpu: { used: 0.5, limit: 2 }, memory: { used: 3, limit: 4 } });
    expect(cpuMemBetween(b, a, 1000).cpu.used).to.equal(0);
  });
});

describe('CGI environment', () => {
  it('canonicalises header names like Go', () => {
    expect(canonicalHeader('x-call-id')).to.equal('X-Call-Id');
    expect(canonicalHeader('content-type')).to.equal('Content-Type');
  });

  it('exposes headers, method, query and path', () => {
    const env = cgiEnv({ method: 'POST', url: '/a/b?x=1&y=2', headers: { 'content-type': 'text/plain', 'x-call-id': 'abc', 'transfer-encoding': 'chunked' } });
    expect(env).to.deep.equal({
      Http_Content_Type: 'text/plain',
      Http_X_Call_Id: 'abc',
      Http_Transfer_Encoding: 'chunked',
      Http_Method: 'POST',
      Http_Query: 'x=1&y=2',
      Http_Path: '/a/b',
    });
  });
});

describe('control access', () => {
  const cases: { name: string; header: string | string[] | undefined; token: string; want: ReturnType<typeof controlAllowed> }[] = [
    { name: 'runs a request with the instance\'s token', header: 't0ken', token: 't0ken', want: { ok: true } },
    { name: 'answers 401 without a token, from loopback too', header: undefined, token: 't0ken', want: { ok: false, status: 401, message: 'control requests need an x-hyperfaas-token header' } },
    { name: 'answers 401 for an empty token', header: '', token: 't0ken', want: { ok: false, status: 401, message: 'control requests need an x-hyperfaas-token header' } },
    { name: 'answers 403 for another token', header: 'other', token: 't0ken', want: { ok: false, status: 403, message: "x-hyperfaas-token is not this instance's control token" } },
    { name: 'answers 403 for a prefix of the token', header: 't0k', token: 't0ken', want: { ok: false, status: 403, message: "x-hyperfaas-token is not this instance's control token" } },
    { name: 'answers 403 for a repeated header', header: ['t0ken', 't0ken'], token: 't0ken', want: { ok: false, status: 403, message: "x-hyperfaas-token is not this instance's control token" } },
    { name: 'refuses everything when the instance has no token', header: '', token: '', want: { ok: false, status: 403, message: 'control over HTTP is disabled: this instance has no control token' } },
  ];
  for (const c of cases) it(c.name, () => expect(controlAllowed(c.header, c.token)).to.deep.equal(c.want));
});
