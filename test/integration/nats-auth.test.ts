/**
 * NATS authorization against a real nats-server in operator mode: the provider's user reaches JetStream, and a
 * rotation of the account signing key shuts out every user minted before it while the account's JetStream data
 * stays.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, credsAuthenticator } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { AUTH_FILES, NatsAuthority, rotateSigningKey } from '../../src/messaging/nats-auth.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';

describe('NATS authorization: provider user, key rotation (real nats-server)', function () {
  this.timeout(60_000);
  let nats: NatsServer;
  const login = async (creds: Uint8Array) => connect({ servers: nats.url, reconnect: false, authenticator: credsAuthenticator(creds) });
  const providerCreds = async () => new Uint8Array(await readFile(join(nats.authDir!, AUTH_FILES.providerCreds)));
  const mint = async (instanceId: string) =>
    new TextEncoder().encode(
      await (await NatsAuthority.load(join(nats.authDir!, AUTH_FILES.signingKey))).mintInstanceCreds({ instanceId, namespace: 'openfaas-fn', service: 'echo' }),
    );

  before(async () => {
    nats = await startNatsServer({ auth: true });
  });
  after(async () => nats?.dispose());

  it('rotating the signing key refuses users minted before it and keeps the JetStream streams', async () => {
    const nc = await login(await providerCreds());
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'rotation-check', subjects: ['rotation-check.>'] });
    await nc.close();
    const oldInstance = await mint('echo-old');
    const oldProvider = await providerCreds();
    (await login(oldInstance)).close();

    await rotateSigningKey(nats.authDir!);
    await nats.stop();
    await nats.restart();

    for (const creds of [oldInstance, oldProvider]) {
      let err: unknown;
      try {
        await login(creds);
      } catch (e) {
        err = e;
      }
      expect(String((err as Error)?.message)).to.equal('Authorization Violation');
    }
    const fresh = await login(await mint('echo-new'));
    await fresh.close();
    const again = await login(await providerCreds());
    const info = await (await jetstreamManager(again)).streams.info('rotation-check');
    expect(info.config.name).to.equal('rotation-check');
    await again.close();
  });
});
