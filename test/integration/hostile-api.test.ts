/**
 * A hostile function against the provider API. A real provider process with basic auth on and the local backend;
 * the attacker is a function deployed with envProcess "sh", so each invocation runs its body as a shell script inside
 * the attacker's instance (a plain process or a container: either way on this host's loopback). From there it calls
 * the provider's /system API on 127.0.0.1 without credentials, as faas-cli does without a login: each call must get
 * exactly 401 "invalid credentials", and nothing it tried may have happened. The same provider then shows that bad
 * input from an authenticated client is a 400 naming the bound, with the state untouched.
 */
import { expect } from 'chai';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { eventually, httpCall, type Reply } from '../support/http.js';
import { startProviderProcess, type ProviderProcess } from '../support/provider-process.js';

const user = 'admin';
const password = 'hostile-test-password';
const authHeader = { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };

/** AttackResult is what the attacker's script prints for each call it made. */
interface AttackResult {
  call: string;
  status?: number;
  body?: string;
  wwwAuthenticate?: string;
  error?: string;
}

/**
 * attackScript is the shell script the attacker's instance runs: node (the only HTTP client a function can count
 * on) calls each route on 127.0.0.1:port, once with no Authorization and once with faas-cli's empty Bearer token,
 * and prints one JSON line per call.
 */
function attackScript(port: number): string {
  const js = `
const http = require('http');
const calls = [
  ['deploy', 'POST', '/system/functions', JSON.stringify({ service: 'planted', image: 'x', envProcess: 'cat' })],
  ['list functions', 'GET', '/system/functions', undefined],
  ['list secrets', 'GET', '/system/secrets', undefined],
  ['create secret', 'POST', '/system/secrets', JSON.stringify({ name: 'planted', value: 'x' })],
  ['scale', 'POST', '/system/scale-function/attacker', JSON.stringify({ serviceName: 'attacker', replicas: 5 })],
  ['delete victim', 'DELETE', '/system/functions', JSON.stringify({ functionName: 'victim' })],
];
const one = (name, method, path, body, headers) => new Promise((resolve) => {
  const h = { ...headers };
  if (body !== undefined) h['content-length'] = Buffer.byteLength(body);
  const req = http.request({ host: '127.0.0.1', port: ${port}, method, path, headers: h, agent: false }, (res) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (c) => (text += c));
    res.on('end', () => resolve({ call: name, status: res.statusCode, body: text, wwwAuthenticate: res.headers['www-authenticate'] }));
  });
  req.on('error', (e) => resolve({ call: name, error: e.code || e.message }));
  req.end(body);
});
(async () => {
  for (const [name, method, path, body] of calls) {
    console.log(JSON.stringify(await one(name, method, path, body, {})));
    console.log(JSON.stringify(await one(name + ' (empty bearer)', method, path, body, { authorization: 'Bearer ' })));
  }
})();
`;
  return `#!/bin/sh\nexec node -e '${js.replace(/'/g, `'\\''`)}'\n`;
}

describe('hostile API: a function attacks the provider it runs under', function () {
  this.timeout(240_000);
  let data: string;
  let base: string;
  let port: number;
  let provider: ProviderProcess | undefined;
  const output = (): string => provider?.output() ?? '';

  const http = (method: string, path: string, body?: unknown, auth = true): Promise<Reply> =>
    httpCall(base, method, path, body, auth ? { headers: authHeader } : {});

  before(async () => {
    data = await mkdtemp(join(tmpdir(), 'hf-hostile-'));
    const secrets = join(data, 'auth');
    await mkdir(secrets, { mode: 0o700 });
    await writeFile(join(secrets, 'basic-auth-user'), user, { mode: 0o600 });
    await writeFile(join(secrets, 'basic-auth-password'), `${password}\n`, { mode: 0o600 });
    provider = await startProviderProcess({
      env: {
        basic_auth: 'true',
        secret_mount_path: secrets,
        HYPERFAAS_DATA: join(data, 'data'),
        HYPERFAAS_HEALTH_INTERVAL: '200ms',
        HYPERFAAS_STOP_TIMEOUT: '5s',
      },
    });
    base = provider.base;
    port = provider.port;
  });

  after(async () => {
    await provider?.stop();
    await rm(data, { recursive: true, force: true });
  });

  it('listens on 127.0.0.1 only by default', async () => {
    // The kernel's table of TCP sockets: local address as hex IP:port, state 0A = LISTEN; 0100007F is 127.0.0.1.
    const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
    const listening = [...(await readFile('/proc/net/tcp', 'utf8')).split('\n'), ...(await readFile('/proc/net/tcp6', 'utf8').catch(() => '')).split('\n')]
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[1]?.endsWith(`:${hexPort}`) && f[3] === '0A')
      .map((f) => f[1]);
    expect(listening).to.deep.equal([`0100007F:${hexPort}`]);
  });

  it('deploys the attacker, a victim and a secret with the right credentials', async () => {
    expect((await http('POST', '/system/secrets', { name: 'db-password', value: 's3cret' })).status).to.equal(202);
    const victim = await http('POST', '/system/functions', { service: 'victim', image: 'functions/alpine:latest', envProcess: 'cat', secrets: ['db-password'] });
    expect(victim.status, victim.body).to.equal(202);
    const attacker = await http('POST', '/system/functions', { service: 'attacker', image: 'functions/alpine:latest', envProcess: 'sh' });
    expect(attacker.status, attacker.body).to.equal(202);
    await eventually(async () => {
      const st = JSON.parse((await http('GET', '/system/function/attacker')).body) as { availableReplicas: number };
      expect(st.availableReplicas).to.equal(1);
    }, 60_000, 100);
  });

  it('from inside its instance, every /system call without credentials is exactly 401 "invalid credentials"', async () => {
    const r = await httpCall(base, 'POST', '/function/attacker', attackScript(port), { timeoutMs: 60_000 });
    expect(r.status, `${r.body}\n${output()}`).to.equal(200);
    const results = r.body
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as AttackResult);
    expect(results.map((x) => x.call)).to.have.length(12, r.body);
    for (const x of results) {
      expect(x, x.call).to.deep.equal({ call: x.call, status: 401, body: 'invalid credentials\n', wwwAuthenticate: 'Basic realm="Restricted"' });
    }
  });

  it('and nothing the attacker tried happened', async () => {
    const fns = JSON.parse((await http('GET', '/system/functions')).body) as { name: string; replicas: number }[];
    expect(fns.map((f) => f.name).sort()).to.deep.equal(['attacker', 'victim']);
    expect(fns.find((f) => f.name === 'attacker')!.replicas).to.equal(1);
    const secrets = JSON.parse((await http('GET', '/system/secrets')).body) as { name: string }[];
    expect(secrets.map((s) => s.name)).to.deep.equal(['db-password']);
  });

  describe('bad input from an authenticated client is a 400 naming the bound, and changes nothing', () => {
    const gib = (totalmem() / 2 ** 30).toFixed(1);
    const cpus = availableParallelism();
    const cases: { name: string; method: string; path: string; body: unknown; want: string }[] = [
      {
        name: '999Ti of memory',
        method: 'POST',
        path: '/system/functions',
        body: { service: 'huge', image: 'x', envProcess: 'cat', limits: { memory: '999Ti' } },
        want: `limits.memory "999Ti" is more than this host's memory of ${totalmem()} bytes (${gib} GiB)`,
      },
      {
        name: '99999 cpus',
        method: 'POST',
        path: '/system/functions',
        body: { service: 'huge', image: 'x', envProcess: 'cat', requests: { cpu: '99999' } },
        want: `requests.cpu "99999" is more than this host's ${cpus} CPU`,
      },
      {
        name: 'a secret larger than the secrets filesystem (1Mi by default)',
        method: 'POST',
        path: '/system/secrets',
        body: { name: 'huge', rawValue: Buffer.alloc(2 ** 20 + 1).toString('base64') },
        want: `secret huge is ${2 ** 20 + 1} bytes; a secret must fit the per-instance secrets filesystem of ${2 ** 20} bytes (HYPERFAAS_SECRETS_SIZE)`,
      },
      {
        name: 'labels nested 200,000 deep',
        method: 'POST',
        path: '/system/functions',
        body: `{"service":"huge","image":"x","labels":${'{"a":'.repeat(200_000)}"x"${'}'.repeat(200_000)}}`,
        want: 'JSON nests more than 32 levels deep; at most 32 are allowed',
      },
      {
        name: 'an exec_timeout the watchdog would refuse',
        method: 'POST',
        path: '/system/functions',
        body: { service: 'huge', image: 'x', envProcess: 'cat', envVars: { exec_timeout: 'forever' } },
        want: 'envVars.exec_timeout = "forever": the watchdog allows a duration',
      },
      {
        name: 'replicas above the hard cap',
        method: 'POST',
        path: '/system/scale-function/victim',
        body: { serviceName: 'victim', replicas: 100_000 },
        want: "replicas: 100000 is above 1000, the provider's hard cap",
      },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        const r = await http(c.method, c.path, c.body);
        expect(r.status, r.body).to.equal(400);
        expect(r.body).to.include(c.want);
        const fns = JSON.parse((await http('GET', '/system/functions')).body) as { name: string; replicas: number }[];
        expect(fns.map((f) => `${f.name}:${f.replicas}`).sort()).to.deep.equal(['attacker:1', 'victim:1']);
        const secrets = JSON.parse((await http('GET', '/system/secrets')).body) as { name: string }[];
        expect(secrets.map((s) => s.name)).to.deep.equal(['db-password']);
      });
    }
    it('the provider is still up', async () => {
      expect((await http('GET', '/healthz', undefined, false)).status).to.equal(200);
      expect(provider!.child.exitCode).to.equal(null);
    });
  });
});
