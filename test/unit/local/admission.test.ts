import { expect } from 'chai';
import { BackendError } from '../../../src/backends/backend.js';
import { admitDeployment, admitSecret, footprint, resourceProblems } from '../../../src/backends/local/admission.js';

const host = { memoryBytes: 8 * 2 ** 30, cpus: 2 };
const fd = (extra: Record<string, unknown> = {}) => ({ service: 'f', image: 'i', ...extra });
const Mi = 2 ** 20;

function invalid(run: () => void): string {
  try {
    run();
  } catch (e) {
    expect(e).to.be.instanceOf(BackendError);
    expect((e as BackendError).kind).to.equal('Invalid');
    return (e as Error).message;
  }
  throw new Error('expected an Invalid BackendError');
}

describe('local admission', () => {
  describe('resourceProblems', () => {
    const cases: { name: string; spec: Record<string, unknown>; want: string[] }[] = [
      { name: 'accepts limits within the host', spec: { limits: { memory: '8Gi', cpu: '2' }, requests: { memory: '128Mi', cpu: '100m' } }, want: [] },
      {
        name: 'refuses 999Ti of memory, naming the host memory',
        spec: { limits: { memory: '999Ti' } },
        want: [`limits.memory "999Ti" is more than this host's memory of ${8 * 2 ** 30} bytes (8.0 GiB)`],
      },
      { name: 'refuses 99999 cpu, naming the host CPUs', spec: { limits: { cpu: '99999' } }, want: [`limits.cpu "99999" is more than this host's 2 CPUs`] },
      {
        name: 'checks requests too',
        spec: { requests: { memory: '9Gi', cpu: '2001m' } },
        want: [`requests.memory "9Gi" is more than this host's memory`, `requests.cpu "2001m" is more than this host's 2 CPUs`],
      },
      { name: 'leaves malformed quantities to the validator', spec: { limits: { memory: 'lots', cpu: 'many' } }, want: [] },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const got = resourceProblems(fd(c.spec), host);
        expect(got).to.have.length(c.want.length, JSON.stringify(got));
        c.want.forEach((w, i) => expect(got[i]).to.include(w));
      });
    }
  });

  describe('secrets against the secrets filesystem', () => {
    const known = new Map<string, Buffer>([
      ['small', Buffer.alloc(10)],
      ['half', Buffer.alloc(Mi / 2)],
      ['most', Buffer.alloc(Mi - 8192)],
    ]);

    it('counts whole 4 KiB pages per file', () => {
      expect([footprint(0), footprint(1), footprint(4096), footprint(4097)]).to.deep.equal([0, 4096, 4096, 8192]);
    });

    it('admits a function whose secrets fit, and refuses one whose secrets together do not, naming the bound', () => {
      admitDeployment(fd({ secrets: ['small', 'half'] }), { host, secretsBytes: Mi, secrets: known });
      const msg = invalid(() => admitDeployment(fd({ secrets: ['half', 'most'] }), { host, secretsBytes: Mi, secrets: known }));
      expect(msg).to.equal(
        `the secrets of function f (half, most) take ${Mi / 2 + Mi - 8192} bytes together (each rounded up to 4 KiB pages); ` +
          `one function's secrets must fit the per-instance secrets filesystem of ${Mi} bytes (HYPERFAAS_SECRETS_SIZE)`,
      );
    });

    it('reports resources and secrets together', () => {
      const msg = invalid(() => admitDeployment(fd({ secrets: ['half', 'most'], limits: { cpu: '3' } }), { host, secretsBytes: Mi, secrets: known }));
      expect(msg).to.match(/^limits\.cpu "3" is more than this host's 2 CPUs; the secrets of function f/);
    });

    it('refuses a secret larger than the filesystem on its own', () => {
      const msg = invalid(() => admitSecret('big', Buffer.alloc(Mi + 1), { secretsBytes: Mi, known }));
      expect(msg).to.equal(`secret big is ${Mi + 1} bytes; a secret must fit the per-instance secrets filesystem of ${Mi} bytes (HYPERFAAS_SECRETS_SIZE)`);
      admitSecret('exact', Buffer.alloc(Mi), { secretsBytes: Mi, known });
    });

    it('refuses an update that would push a function using the secret over the bound', () => {
      const users = [fd({ service: 'g', secrets: ['small', 'most'] })];
      admitSecret('small', Buffer.alloc(8192), { secretsBytes: Mi, known, users });
      const msg = invalid(() => admitSecret('small', Buffer.alloc(8193), { secretsBytes: Mi, known, users }));
      expect(msg).to.include('secret small at 8193 bytes: the secrets of function g (small, most) take');
    });
  });
});
