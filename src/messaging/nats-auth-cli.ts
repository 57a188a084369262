/**
 * nats-auth-cli creates NATS authorization material once (scripts/up.sh calls it):
 *   node dist/src/messaging/nats-auth-cli.js init DIR   writes DIR (0700) unless it is already there, prints the
 *                                                       nats-server config file to pass with -c
 *   node dist/src/messaging/nats-auth-cli.js rotate DIR  replaces the account signing key (every minted user stops
 *                                                       working); then restart nats-server and the provider
 *   node dist/src/messaging/nats-auth-cli.js mint DIR INSTANCE NAMESPACE FUNCTION
 *                                                       prints a creds file for one instance (for debugging)
 */
import { join } from 'node:path';
import { AUTH_FILES, initNatsAuth, NatsAuthority, rotateSigningKey } from './nats-auth.js';

const [cmd, dir, ...rest] = process.argv.slice(2);
const usage = 'usage: nats-auth-cli init DIR | rotate DIR | mint DIR INSTANCE NAMESPACE FUNCTION';
if (!dir) {
  process.stderr.write(`${usage}\n`);
  process.exit(2);
}
if (cmd === 'init') {
  const { created, info } = await initNatsAuth(dir);
  process.stderr.write(`${created ? 'created' : 'kept'} NATS authorization in ${dir} (account ${info.account})\n`);
  process.stdout.write(`${join(dir, AUTH_FILES.serverConf)}\n`);
} else if (cmd === 'rotate') {
  const info = await rotateSigningKey(dir);
  process.stderr.write(`new signing key ${info.signingKey} for account ${info.account}: restart nats-server and the provider\n`);
  process.stdout.write(`${join(dir, AUTH_FILES.serverConf)}\n`);
} else if (cmd === 'mint' && rest.length === 3) {
  const [instanceId, namespace, service] = rest as [string, string, string];
  const authority = await NatsAuthority.load(join(dir, AUTH_FILES.signingKey));
  process.stdout.write(await authority.mintInstanceCreds({ instanceId, namespace, service }));
} else {
  process.stderr.write(`${usage}\n`);
  process.exit(2);
}
