import { expect } from 'chai';
import { isBackendError } from '../../../src/backends/backend.js';
import { homeOf, imageProcess, parseImageRef, pullError, skopeoMessage } from '../../../src/backends/local/registry.js';
import { slotAddresses } from '../../../src/backends/local/netns.js';
import { ociSpec } from '../../../src/backends/local/oci.js';

describe('local/registry: image references, pull errors, image config', () => {
  it('parses references that name a registry, and completes others only with a default registry', () => {
    expect(parseImageRef('127.0.0.1:5000/acme/web:1.2')).to.deep.equal({ registry: '127.0.0.1:5000', repository: 'acme/web', tag: '1.2', canonical: '127.0.0.1:5000/acme/web:1.2' });
    expect(parseImageRef('ghcr.io/openfaas/figlet')!.canonical).to.equal('ghcr.io/openfaas/figlet:latest');
    const d = `sha256:${'a'.repeat(64)}`;
    expect(parseImageRef(`localhost/x@${d}`)).to.deep.equal({ registry: 'localhost', repository: 'x', digest: d, canonical: `localhost/x@${d}` });
    expect(parseImageRef('figlet:latest')).to.equal(undefined);
    expect(parseImageRef('figlet', 'docker.io')!.canonical).to.equal('docker.io/library/figlet:latest');
    expect(parseImageRef('openfaas/figlet:1', 'docker.io')!.canonical).to.equal('docker.io/openfaas/figlet:1');
  });

  it('refuses malformed references as Invalid, naming the bad part', () => {
    for (const [ref, part] of [
      ['reg.io/Acme/web', 'path component "Acme"'],
      ['reg.io/acme/web:-x', 'tag "-x"'],
      ['reg.io/acme/web@sha256:zz', 'digest "sha256:zz"'],
      ['reg.io/a b', 'white space'],
    ] as const) {
      let err: unknown;
      try {
        parseImageRef(ref);
      } catch (e) {
        err = e;
      }
      expect(isBackendError(err, 'Invalid'), ref).to.equal(true);
      expect((err as Error).message).to.contain(part);
    }
  });

  it('says which pull failure it was: not found (400), auth (400), plain HTTP, TLS and unreachable (503)', () => {
    const ref = parseImageRef('r.io:5000/a/b:1')!;
    const fatal = (m: string) => `Getting image source signatures\ntime="x" level=fatal msg="${m}"\n`;
    const nf = pullError(ref, fatal('initializing source docker://r.io:5000/a/b:1: reading manifest 1 in r.io:5000/a/b: manifest unknown: manifest unknown'), { insecure: false });
    expect(nf.kind).to.equal('Invalid');
    expect(nf.message).to.contain('not found: registry r.io:5000 has no image a/b:1');
    const auth = pullError(ref, fatal('reading manifest 1 in r.io:5000/a/b: unauthorized: authentication required'), { insecure: true, authFile: '/etc/auth.json' });
    expect(auth.kind).to.equal('Invalid');
    expect(auth.message).to.contain('refused access (authentication failed or required; credentials come from HYPERFAAS_REGISTRY_AUTH=/etc/auth.json)');
    expect(pullError(ref, fatal('unauthorized'), { insecure: false }).message).to.contain('HYPERFAAS_REGISTRY_AUTH is unset');
    const http = pullError(ref, fatal('pinging container registry r.io:5000: Get \\"https://r.io:5000/v2/\\": http: server gave HTTP response to HTTPS client'), { insecure: false });
    expect(http.kind).to.equal('Unavailable');
    expect(http.message).to.contain('HYPERFAAS_INSECURE_REGISTRIES');
    const tls = pullError(ref, fatal('x509: certificate signed by unknown authority'), { insecure: false });
    expect(tls.message).to.contain('TLS to registry r.io:5000 failed');
    const down = pullError(ref, fatal('dial tcp 10.0.0.1:5000: connect: connection refused'), { insecure: false });
    expect(down.kind).to.equal('Unavailable');
    expect(down.message).to.contain('registry r.io:5000 is unreachable: dial tcp');
    expect(skopeoMessage('plain failure\n')).to.equal('plain failure');
  });

  it('applies an image config as a container engine does', () => {
    const p = imageProcess({ Entrypoint: ['/bin/fwatchdog'], Cmd: ['-x'], Env: ['A=1', 'B=x=y'], WorkingDir: '/home/app', User: 'app' }, 'i');
    expect(p).to.deep.equal({ args: ['/bin/fwatchdog', '-x'], env: { A: '1', B: 'x=y', PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' }, cwd: '/home/app', user: 'app' });
    expect(imageProcess({ Cmd: ['fwatchdog'], Env: ['PATH=/bin'] }, 'i')).to.deep.equal({ args: ['fwatchdog'], env: { PATH: '/bin' }, cwd: '/', user: 'root' });
    expect(() => imageProcess({ Env: [] }, 'img:1')).to.throw('image img:1 has neither Entrypoint nor Cmd');
    const passwd = 'root:x:0:0:root:/root:/bin/sh\napp:x:100:101:app:/home/app:/bin/sh\n';
    expect(homeOf('app', passwd)).to.equal('/home/app');
    expect(homeOf('100:101', passwd)).to.equal('/home/app');
    expect(homeOf('1234', passwd)).to.equal('/');
    expect(homeOf('root', '')).to.equal('/root');
  });

  it('gives each instance network a /30 of 10.213.0.0/16, and the spec joins the named namespace', () => {
    expect(slotAddresses(0)).to.deep.equal({ host: '10.213.0.1', inside: '10.213.0.2' });
    expect(slotAddresses(64)).to.deep.equal({ host: '10.213.1.1', inside: '10.213.1.2' });
    expect(slotAddresses(16383)).to.deep.equal({ host: '10.213.255.253', inside: '10.213.255.254' });
    const base = { rootfs: '/r', hostname: 'h', uid: 1, gid: 1, args: ['x'], env: {}, cwd: '/', binds: [], tmpBytes: 1, shmBytes: 1, cgroupsPath: '/c', cgroupDirs: [], limits: {}, arch: 'x64' };
    const ns = (s: Record<string, unknown>) => ((s.linux as { namespaces: { type: string; path?: string }[] }).namespaces);
    expect(ns(ociSpec(base)).map((n) => n.type)).to.not.include('network');
    expect(ns(ociSpec({ ...base, netns: '/run/netns/hf-a' }))).to.deep.include({ type: 'network', path: '/run/netns/hf-a' });
  });
});
