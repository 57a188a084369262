/**
 * fake-kube-main runs the fake API server as a process of its own over HTTPS, for tests that start the provider
 * the way the kubelet does (in-cluster service account). Usage: node fake-kube-main.js KEY CERT OUT; it writes
 * {port, token} to OUT once listening, and on SIGTERM writes every call it received to OUT.calls and exits.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { startFakeKubeApi } from './fake-kube-api.js';

const [keyFile, certFile, out] = process.argv.slice(2);
if (!keyFile || !certFile || !out) {
  process.stderr.write('usage: fake-kube-main KEY CERT OUT\n');
  process.exit(2);
}
const fake = await startFakeKubeApi({ tls: { key: await readFile(keyFile, 'utf8'), cert: await readFile(certFile, 'utf8') } });
await writeFile(out, JSON.stringify({ port: Number(new URL(fake.url).port), token: fake.token }));
process.on('SIGTERM', () => {
  void (async () => {
    await writeFile(`${out}.calls`, JSON.stringify(fake.calls));
    await fake.close();
    process.exit(0);
  })();
});
