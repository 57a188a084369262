import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isBackendError } from '../../../src/backends/backend.js';
import { repoRoot } from '../../../src/paths.js';
import { dockerfileEnv, hashDir, ImageResolver, imageCandidates, normaliseImage, readTemplateInfo, sourceRequirement } from '../../../src/backends/local/images.js';

async function fnDir(dir: string, files: Record<string, string>): Promise<void> {
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(join(dir, rel, '..'), { recursive: true });
    await writeFile(join(dir, rel), text);
  }
}

const dockerfile = [
  'FROM node:20 AS build',
  'ENV builder_only=yes',
  'FROM node:20-alpine AS ship',
  'ENV fprocess="node index.js"',
  'ENV mode="http"',
  'ENV upstream_url="http://127.0.0.1:3000" \\',
  '    exec_timeout=10s',
  'ENV NPM_CONFIG_LOGLEVEL warn',
  'ENV HYPERFAAS_NODE_RUNTIME="/home/app/runtime/server.js"',
  '',
].join('\n');

describe('local backend images', () => {
  const names: { name: string; image: string; want: { path: string; name: string } }[] = [
    { name: 'drops the tag', image: 'hyperfaas/echo:latest', want: { path: 'hyperfaas/echo', name: 'echo' } },
    { name: 'drops a registry host and a digest', image: 'ghcr.io/acme/fns/echo:1.2@sha256:abc', want: { path: 'acme/fns/echo', name: 'echo' } },
    { name: 'drops a registry with a port but keeps a bare name', image: '127.0.0.1:5000/figlet', want: { path: 'figlet', name: 'figlet' } },
    { name: 'keeps a single name without a tag', image: 'echo', want: { path: 'echo', name: 'echo' } },
  ];
  for (const c of names) it(`normalises: ${c.name}`, () => expect(normaliseImage(c.image)).to.deep.equal(c.want));

  it('tries the last segment, the nested path and the dashed path in each search dir, in order', () => {
    expect(imageCandidates('docker.io/acme/echo:1', ['/a', '/b'])).to.deep.equal(['/a/echo', '/a/acme/echo', '/a/acme-echo', '/b/echo', '/b/acme/echo', '/b/acme-echo']);
  });

  it('takes an absolute path as the directory itself', () => {
    expect(imageCandidates('/srv/fns/echo', ['/a'])).to.deep.equal(['/srv/fns/echo']);
  });

  it('never tries a path that climbs out of the search dir', () => {
    expect(imageCandidates('../../etc', ['/a'])).to.deep.equal([]);
  });

  it('reads the last stage ENV of a Dockerfile in both forms', () => {
    expect(dockerfileEnv(dockerfile)).to.deep.equal({
      fprocess: 'node index.js',
      mode: 'http',
      upstream_url: 'http://127.0.0.1:3000',
      exec_timeout: '10s',
      NPM_CONFIG_LOGLEVEL: 'warn',
      HYPERFAAS_NODE_RUNTIME: '/home/app/runtime/server.js',
    });
  });

  describe('with a temp search path', () => {
    let root: string;
    let data: string;
    let installs: string[];
    let resolver: ImageResolver;
    beforeEach(async () => {
      root = await mkdtemp(join(tmpdir(), 'hf-img-'));
      data = join(root, 'data');
      installs = [];
      resolver = new ImageResolver(data, [join(root, 'empty'), join(root, 'build')], async (d) => {
        installs.push(d);
        await mkdir(join(d, 'node_modules'), { recursive: true });
      });
    });
    afterEach(async () => {
      await rm(root, { recursive: true, force: true });
    });

    it('reads fprocess, mode and settings from the template, leaving container-only paths out', async () => {
      await fnDir(join(root, 'build/echo'), { Dockerfile: dockerfile, 'template.yml': 'language: node20\nfprocess: node other.js\nhandler_folder: handler\n' });
      const info = await readTemplateInfo(join(root, 'build/echo'));
      expect(info.fprocess).to.equal('node index.js');
      expect(info.mode).to.equal('http');
      expect(info.handlerFolder).to.equal('handler');
      expect(info.env).to.deep.equal({ upstream_url: 'http://127.0.0.1:3000', exec_timeout: '10s', NPM_CONFIG_LOGLEVEL: 'warn' });
    });

    it('resolves a shrinkwrapped directory, prepares it once per content and installs nothing without dependencies', async () => {
      await fnDir(join(root, 'build/echo'), { Dockerfile: dockerfile, 'index.js': '1', 'package.json': '{"name":"x"}', 'function/handler.js': 'h' });
      const a = await resolver.resolve('hyperfaas/echo:latest');
      expect(a.kind).to.equal('directory');
      expect(a.sourceDir).to.equal(join(root, 'build/echo'));
      expect(a.dir).to.equal(join(data, 'images', a.hash!));
      expect(a.fprocess).to.equal('node index.js');
      expect(a.mode).to.equal('http');
      expect(await readFile(join(a.dir, 'function/handler.js'), 'utf8')).to.equal('h');
      expect((await stat(join(a.dir, 'function/handler.js'))).mode & 0o777).to.equal(0o644);
      const b = await resolver.resolve('other-registry.io/x/echo:2');
      expect(b.dir).to.equal(a.dir);
      expect(installs).to.deep.equal([]);
    });

    it('prepares a new copy when the content changes', async () => {
      await fnDir(join(root, 'build/echo'), { Dockerfile: dockerfile, 'function/handler.js': 'v1' });
      const a = await resolver.resolve('echo');
      await writeFile(join(root, 'build/echo/function/handler.js'), 'v2');
      const b = await resolver.resolve('echo');
      expect(b.hash).to.not.equal(a.hash);
      expect(await readFile(join(b.dir, 'function/handler.js'), 'utf8')).to.equal('v2');
      expect(await readFile(join(a.dir, 'function/handler.js'), 'utf8')).to.equal('v1');
    });

    it('installs dependencies where a package.json declares them, once for concurrent resolves', async () => {
      await fnDir(join(root, 'build/deps'), {
        Dockerfile: dockerfile,
        'package.json': '{"name":"root"}',
        'function/package.json': '{"dependencies":{"left-pad":"1.3.0"}}',
      });
      const [a, b] = await Promise.all([resolver.resolve('deps'), resolver.resolve('deps')]);
      expect(a.dir).to.equal(b.dir);
      expect(installs).to.have.length(1);
      expect(installs[0]).to.match(/function$/);
      expect(existsSync(join(a.dir, 'function/node_modules'))).to.equal(true);
    });

    it('hashes content but not node_modules', async () => {
      await fnDir(join(root, 'h'), { 'a.js': 'x' });
      const before = await hashDir(join(root, 'h'));
      await fnDir(join(root, 'h'), { 'node_modules/dep/index.js': 'y' });
      expect(await hashDir(join(root, 'h'))).to.equal(before);
      await fnDir(join(root, 'h'), { 'b.js': 'z' });
      expect(await hashDir(join(root, 'h'))).to.not.equal(before);
    });

    it('lets envProcess override the template fprocess', async () => {
      await fnDir(join(root, 'build/echo'), { Dockerfile: dockerfile });
      expect((await resolver.resolve('echo', 'node other.js')).fprocess).to.equal('node other.js');
    });

    it('runs a command image (functions/alpine) without a directory in classic fork mode when envProcess is given', async () => {
      const r = await resolver.resolve('docker.io/functions/alpine:latest', 'cat');
      expect(r).to.deep.include({ kind: 'fork', fprocess: 'cat', mode: 'classic' });
      expect(existsSync(r.dir)).to.equal(true);
    });

    it('runs any image name as a command with the label com.hyperfaas.fork=true', async () => {
      const r = await resolver.resolve('tools/anything:1', 'cat', { 'com.hyperfaas.fork': 'true' });
      expect(r).to.deep.include({ kind: 'fork', fprocess: 'cat', mode: 'classic' });
    });

    it('refuses a template-built name with the template fprocess that resolves to nothing, saying how to publish', async () => {
      let err: unknown;
      await resolver.resolve('hello:latest', 'node index.js').catch((e) => (err = e));
      expect(isBackendError(err, 'Invalid')).to.equal(true);
      const msg = (err as Error).message;
      expect(msg).to.contain(join(data, 'published', 'hello:latest'));
      expect(msg).to.contain(join(root, 'build', 'hello'));
      expect(msg).to.contain('faas-cli build --shrinkwrap, then hyperfaas publish (uploads build/hello/ as hello:latest)');
      expect(msg).to.contain('set the label com.hyperfaas.fork=true');
    });

    it('resolves a published build by its exact reference before the search path', async () => {
      await fnDir(join(root, 'build/echo'), { 'template.yml': 'fprocess: node index.js\n' });
      const pub = join(data, 'published', 'me', 'echo:2');
      await mkdir(pub, { recursive: true });
      await writeFile(join(pub, 'template.yml'), 'fprocess: node published.js\n');
      expect((await resolver.resolve('ghcr.io/me/echo:2')).sourceDir).to.equal(pub);
      expect((await resolver.resolve('me/echo:3')).sourceDir).to.equal(join(root, 'build', 'echo'));
    });

    it('answers Invalid naming every path it tried when there is neither a directory nor envProcess', async () => {
      let err: unknown;
      await resolver.resolve('acme/nothing:1').catch((e) => (err = e));
      expect(isBackendError(err, 'Invalid')).to.equal(true);
      const msg = (err as Error).message;
      for (const p of imageCandidates('acme/nothing:1', [join(root, 'empty'), join(root, 'build')])) expect(msg).to.contain(p);
    });

    it('collects prepared copies that are neither kept nor recently resolved', async () => {
      await fnDir(join(root, 'build/a'), { Dockerfile: dockerfile, 'function/handler.js': 'a' });
      await fnDir(join(root, 'build/b'), { Dockerfile: dockerfile, 'function/handler.js': 'b' });
      const a = await resolver.resolve('a');
      const b = await resolver.resolve('b');
      const now = Date.now();
      expect(await resolver.gc(new Set(), now)).to.deep.equal([]); // both were resolved just now
      expect(await resolver.gc(new Set([a.hash!]), now + 11 * 60_000)).to.deep.equal([b.hash]);
      expect(existsSync(a.dir)).to.equal(true);
      expect(existsSync(b.dir)).to.equal(false);
      // Resolving b again prepares it again instead of handing out the removed directory.
      const b2 = await resolver.resolve('b');
      expect(b2.dir).to.equal(b.dir);
      expect(await readFile(join(b2.dir, 'function/handler.js'), 'utf8')).to.equal('b');
    });

    it('ignores a folder without a template.yml or Dockerfile', async () => {
      await fnDir(join(root, 'empty/echo'), { 'index.js': '' });
      await fnDir(join(root, 'build/echo'), { Dockerfile: dockerfile });
      expect(resolver.find('echo').dir).to.equal(join(root, 'build/echo'));
    });
  });

  describe('Python functions (python3-http)', () => {
    const template = join(repoRoot, 'stack-templates', 'template', 'python3-http');
    let root: string;
    let pipCalls: { requirements: string; target: string }[];
    let pipFails: string | undefined;
    let resolver: ImageResolver;
    beforeEach(async () => {
      root = await mkdtemp(join(tmpdir(), 'hf-img-py-'));
      pipCalls = [];
      pipFails = undefined;
      const npm = async () => {
        throw new Error('npm must not run for a Python function');
      };
      resolver = new ImageResolver(join(root, 'data'), [join(root, 'build')], npm, undefined, async (requirements, target) => {
        pipCalls.push({ requirements, target });
        if (pipFails) throw new Error(pipFails);
        await fnDir(target, { 'dep/__init__.py': 'X = 1\n' });
      });
      await cp(template, join(root, 'build', 'py'), { recursive: true });
    });
    afterEach(async () => {
      await rm(root, { recursive: true, force: true });
    });

    it('reads the template: python3 index.py in http mode, runtime python, no container-only paths', async () => {
      const info = await readTemplateInfo(join(root, 'build', 'py'));
      expect(info.fprocess).to.equal('python3 index.py');
      expect(info.mode).to.equal('http');
      expect(info.env).to.include({ HYPERFAAS_RUNTIME: 'python', PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' });
      expect(info.env).to.not.have.any.keys('HYPERFAAS_PYTHON_RUNTIME', 'guest_runtime');
    });

    it('installs nothing for a requirements.txt of blank lines and comments', async () => {
      await writeFile(join(root, 'build', 'py', 'function', 'requirements.txt'), '\n# nothing yet\n   \n');
      const r = await resolver.resolve('py');
      expect(pipCalls).to.deep.equal([]);
      expect(existsSync(join(r.dir, 'python'))).to.equal(false);
    });

    it('installs requirements.txt into <function>/python and compiles the sources', async () => {
      await writeFile(join(root, 'build', 'py', 'function', 'requirements.txt'), 'dep==1.0\n');
      const r = await resolver.resolve('py');
      expect(pipCalls).to.have.length(1);
      expect(pipCalls[0]!.requirements).to.match(/function\/requirements\.txt$/);
      expect(pipCalls[0]!.target).to.match(/\/python$/);
      expect(await readFile(join(r.dir, 'python', 'dep', '__init__.py'), 'utf8')).to.equal('X = 1\n');
      expect((await readdir(join(r.dir, 'function', '__pycache__'))).some((f) => f.startsWith('handler.'))).to.equal(true);
    });

    const sources: [string, string | undefined][] = [
      ['tinydep==1.0\n--no-index\n--find-links ./wheels\n-f wheels\n# ./src in a comment\n', undefined],
      ['requests>=2; python_version >= "3.8"\n', undefined],
      ['./wheels/tinydep-1.0-py3-none-any.whl\n', undefined],
      ['tinydep @ https://example.com/tinydep-1.0-py3-none-any.whl\n', undefined],
      ['-e ./src\n', '-e ./src'],
      ['--editable=git+https://example.com/x.git\n', '--editable=git+https://example.com/x.git'],
      ['ok==1\n./src\n', './src'],
      ['/abs/pkg-1.0.tar.gz\n', '/abs/pkg-1.0.tar.gz'],
      ['pkg @ file:///srv/pkg\n', 'pkg @ file:///srv/pkg'],
      ['pkg@https://example.com/pkg-1.0.zip\n', 'pkg@https://example.com/pkg-1.0.zip'],
      ['git+https://example.com/x.git#egg=x\n', 'git+https://example.com/x.git#egg=x'],
      ['-r more.txt\n', '-r more.txt'],
    ];
    for (const [text, want] of sources) {
      it(`sourceRequirement(${JSON.stringify(text)}) is ${JSON.stringify(want)}`, () => {
        expect(sourceRequirement(text)).to.equal(want);
      });
    }

    it('refuses a requirement pip would build from source, before running pip', async () => {
      await writeFile(join(root, 'build', 'py', 'function', 'requirements.txt'), 'ok==1\n-e ./src\n');
      const err = await resolver.resolve('py').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isBackendError(err, 'Invalid'), String(err)).to.equal(true);
      expect((err as Error).message).to.equal(
        `function/requirements.txt of ${join(root, 'build', 'py')}: "-e ./src" would be built from source on the provider; only wheels are installed (build it with pip wheel and list the .whl, or a --find-links folder holding it)`,
      );
      expect(pipCalls).to.deep.equal([]);
    });

    it('refuses the image with Invalid and pip\'s message when pip fails, and keeps nothing', async () => {
      await writeFile(join(root, 'build', 'py', 'function', 'requirements.txt'), 'nope==9\n');
      pipFails = 'pip install exited 1: ERROR: No matching distribution found for nope==9';
      const err = await resolver.resolve('py').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isBackendError(err) && err.kind).to.equal('Invalid');
      expect((err as Error).message).to.equal(
        `installing the Python dependencies of ${join(root, 'build', 'py')} (function/requirements.txt): pip install exited 1: ERROR: No matching distribution found for nope==9`,
      );
      expect((await readdir(join(root, 'data', 'images'))).filter((n) => !n.startsWith('empty'))).to.deep.equal([]);
    });
  });
});
