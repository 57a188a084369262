/**
 * nats-auth is NATS authorization for HyperFaaS, on nats-server 2.9's decentralized JWT auth (operator mode with a
 * memory resolver): nothing about one instance is ever written into the server's config, so starting an instance
 * needs no server reload.
 *
 * `initNatsAuth(dir)` creates, once, an operator, a system account and the HyperFaaS account (JetStream enabled in
 * its limits, plus a signing key), the provider's user (every subject) and the server config fragment that trusts
 * them. The provider keeps the account's signing seed and mints, per instance, a user whose permissions name only
 * that instance's own subjects (`instancePermissions`): a function that steals its watchdog's credentials can do no
 * more than its watchdog, which is to report its own load, bounce its own requests and answer its own control.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Algorithms,
  createAccount,
  createOperator,
  createUser,
  encodeAccount,
  encodeOperator,
  encodeUser,
  fmtCreds,
  fromSeed,
  type KeyPair,
  type OperatorLimits,
  type User,
} from '@nats-io/jwt';
import { codeBucket, subjects } from '@hyperfaas/watchdog/protocol';

/** AUTH_FILES are the files initNatsAuth writes into its directory (0700, each file 0600). */
export const AUTH_FILES = {
  /** serverConf is the nats-server config fragment: operator, system account, memory resolver with both accounts. */
  serverConf: 'nats-auth.conf',
  /** providerCreds are the provider's (and the queue worker's) user credentials: every subject. */
  providerCreds: 'provider.creds',
  /** signingKey is the seed of the HyperFaaS account's signing key: whoever holds it mints instance users. */
  signingKey: 'account-signing.nk',
  /** accountKey, operatorKey, systemKey are the identity seeds, needed only to re-issue the JWTs (rotation). */
  accountKey: 'account.nk',
  operatorKey: 'operator.nk',
  systemKey: 'system-account.nk',
  /** info holds the public keys (no secret), for people and tools. */
  info: 'auth.json',
} as const;

/** NatsAuthInfo is what auth.json says: public keys only. */
export interface NatsAuthInfo {
  operator: string;
  systemAccount: string;
  account: string;
  signingKey: string;
  createdAt: string;
}

/** NatsAuthEnv are the settings that turn authorization on, as read by readNatsAuthEnv. */
export interface NatsAuthEnv {
  /** credsFile is the creds file of this process's own connection (NATS_CREDS, else <auth dir>/provider.creds). */
  credsFile?: string;
  /** signingKeyFile holds the account signing seed that mints instance users (HYPERFAAS_NATS_SIGNING_KEY, else <auth dir>/account-signing.nk). */
  signingKeyFile?: string;
}

/** readNatsAuthEnv reads HYPERFAAS_NATS_AUTH_DIR, NATS_CREDS and HYPERFAAS_NATS_SIGNING_KEY; pure. */
export function readNatsAuthEnv(env: Readonly<Record<string, string | undefined>>): NatsAuthEnv {
  const dir = env.HYPERFAAS_NATS_AUTH_DIR || undefined;
  const credsFile = env.NATS_CREDS || (dir ? join(dir, AUTH_FILES.providerCreds) : undefined);
  const signingKeyFile = env.HYPERFAAS_NATS_SIGNING_KEY || (dir ? join(dir, AUTH_FILES.signingKey) : undefined);
  return { ...(credsFile ? { credsFile } : {}), ...(signingKeyFile ? { signingKeyFile } : {}) };
}

/** unlimited: every account limit off (-1), for the accounts of a server HyperFaaS owns. */
const unlimited: OperatorLimits = {
  subs: -1,
  data: -1,
  payload: -1,
  imports: -1,
  exports: -1,
  wildcards: true,
  conn: -1,
  leaf: -1,
};

/** jetStreamUnlimited enables JetStream for an account (a storage limit other than 0) with no bound of its own. */
const jetStreamUnlimited: OperatorLimits = {
  mem_storage: -1,
  disk_storage: -1,
  streams: -1,
  consumer: -1,
  max_ack_pending: -1,
  mem_max_stream_bytes: -1,
  disk_max_stream_bytes: -1,
  max_bytes_required: false,
};

const enc = { algorithm: Algorithms.v2 };
const text = (u: Uint8Array) => new TextDecoder().decode(u);

async function writeSecret(path: string, content: string | Uint8Array): Promise<void> {
  // Written aside and renamed, so a crash never leaves half a key behind.
  await writeFile(`${path}.tmp`, content, { mode: 0o600 });
  await chmod(`${path}.tmp`, 0o600);
  await rename(`${path}.tmp`, path);
}

/** serverConfig is the nats-server config fragment that trusts the operator and preloads both account JWTs. */
export function serverConfig(operatorJwt: string, system: { key: string; jwt: string }, account: { key: string; jwt: string }): string {
  return [
    '# HyperFaaS NATS authorization (generated): operator mode, accounts preloaded, no account server.',
    `operator: ${operatorJwt}`,
    `system_account: ${system.key}`,
    'resolver: MEMORY',
    'resolver_preload: {',
    `  ${system.key}: ${system.jwt}`,
    `  ${account.key}: ${account.jwt}`,
    '}',
    '',
  ].join('\n');
}

/**
 * initNatsAuth creates the authorization material in dir unless it is already there (auth.json present), and
 * returns its public keys. dir ends up 0700 and every file in it 0600.
 */
export async function initNatsAuth(dir: string): Promise<{ created: boolean; info: NatsAuthInfo }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const existing = await readFile(join(dir, AUTH_FILES.info), 'utf8').catch(() => undefined);
  if (existing !== undefined) return { created: false, info: JSON.parse(existing) as NatsAuthInfo };

  const operator = createOperator();
  const system = createAccount();
  const account = createAccount();
  await writeSecret(join(dir, AUTH_FILES.operatorKey), text(operator.getSeed()));
  await writeSecret(join(dir, AUTH_FILES.systemKey), text(system.getSeed()));
  await writeSecret(join(dir, AUTH_FILES.accountKey), text(account.getSeed()));
  const signing = await issueSigningKey(dir, operator, system, account);
  const info: NatsAuthInfo = {
    operator: operator.getPublicKey(),
    systemAccount: system.getPublicKey(),
    account: account.getPublicKey(),
    signingKey: signing.getPublicKey(),
    createdAt: new Date().toISOString(),
  };
  // auth.json last: its presence means the rest is complete.
  await writeSecret(join(dir, AUTH_FILES.info), `${JSON.stringify(info, null, 2)}\n`);
  return { created: true, info };
}

/**
 * issueSigningKey makes a new account signing key and writes what depends on it: the key, the account JWT that names
 * it (signed by the operator), the provider's user creds signed with it, and the server config.
 */
async function issueSigningKey(dir: string, operator: KeyPair, system: KeyPair, account: KeyPair): Promise<KeyPair> {
  const signing = createAccount();
  const provider = createUser();
  const operatorJwt = await encodeOperator('hyperfaas', operator, { system_account: system.getPublicKey() }, enc);
  const systemJwt = await encodeAccount('SYS', system.getPublicKey(), { limits: unlimited }, { ...enc, signer: operator });
  const accountJwt = await encodeAccount(
    'HYPERFAAS',
    account.getPublicKey(),
    { limits: { ...unlimited, ...jetStreamUnlimited }, signing_keys: [signing.getPublicKey()] },
    { ...enc, signer: operator },
  );
  const providerJwt = await encodeUser('hyperfaas-provider', provider, account.getPublicKey(), {}, { ...enc, signer: signing });
  await writeSecret(join(dir, AUTH_FILES.signingKey), text(signing.getSeed()));
  await writeSecret(join(dir, AUTH_FILES.providerCreds), fmtCreds(providerJwt, provider));
  await writeSecret(
    join(dir, AUTH_FILES.serverConf),
    serverConfig(operatorJwt, { key: system.getPublicKey(), jwt: systemJwt }, { key: account.getPublicKey(), jwt: accountJwt }),
  );
  return signing;
}

/**
 * rotateSigningKey replaces the account's signing key, which invalidates every user it signed (the provider's is
 * re-issued here; instances get new ones when they restart): the account JWT is re-signed by the operator with the
 * new key only, and the server config rewritten. The account itself (and so its JetStream data) stays. The server
 * must then be restarted (or reloaded) and the provider restarted.
 */
export async function rotateSigningKey(dir: string): Promise<NatsAuthInfo> {
  const seed = async (f: string) => fromSeed(new TextEncoder().encode((await readFile(join(dir, f), 'utf8')).trim()));
  const info = JSON.parse(await readFile(join(dir, AUTH_FILES.info), 'utf8')) as NatsAuthInfo;
  const operator = await seed(AUTH_FILES.operatorKey);
  const system = await seed(AUTH_FILES.systemKey);
  const account = await seed(AUTH_FILES.accountKey);
  const signing = await issueSigningKey(dir, operator, system, account);
  const next = { ...info, signingKey: signing.getPublicKey() };
  await writeSecret(join(dir, AUTH_FILES.info), `${JSON.stringify(next, null, 2)}\n`);
  return next;
}

/** InstanceIdentity names one instance and its home function. */
export interface InstanceIdentity {
  instanceId: string;
  namespace: string;
  service: string;
}

/** subjectToken accepts what may stand as one NATS subject token in a permission: no dots, wildcards or spaces. */
const subjectToken = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * instancePermissions are everything one instance's user may do: publish its load reports and its bounces, answer
 * the requests it receives (one reply each, resp), subscribe to its own control subject and its own inbox prefix,
 * and read guest code of its own namespace: JetStream message gets on that namespace's code bucket stream
 * (`$JS.API.STREAM.MSG.GET.OBJ_hyperfaas-code-<namespace>`, answered to its inbox). Anything else is refused by the
 * server: other instances' reports and control, `_INBOX.>`, every other JetStream API subject (stream info,
 * consumers, deletes, purges, other streams and buckets), object store writes (`$O.>`), the async stream subjects, `>`.
 */
export function instancePermissions(who: InstanceIdentity): Partial<User> {
  for (const [k, v] of Object.entries(who)) {
    if (!subjectToken.test(v)) throw new Error(`${k} ${JSON.stringify(v)} cannot be a NATS subject token (letters, digits, - and _ only)`);
  }
  return {
    pub: {
      allow: [subjects.report(who.namespace, who.service, who.instanceId), subjects.bounce(who.instanceId), subjects.codeGet(codeBucket(who.namespace))],
    },
    sub: { allow: [subjects.control(who.instanceId), `${subjects.inboxPrefix(who.instanceId)}.>`] },
    resp: { max: 1, ttl: 0 },
    // Two subscriptions are enough (control and the request inbox); a few more leave room for a reconnect.
    subs: 16,
    allowed_connection_types: ['STANDARD'],
  };
}

/** NatsAuthority mints instance users: it holds the HyperFaaS account's public key and its signing key. */
export class NatsAuthority {
  private constructor(
    readonly account: string,
    private readonly signer: KeyPair,
  ) {}

  /** fromSeedText builds an authority from the signing seed ("SA..."); the account key comes from info or the seed's own account. */
  static fromSeedText(seed: string, account: string): NatsAuthority {
    const kp = fromSeed(new TextEncoder().encode(seed.trim()));
    return new NatsAuthority(account, kp);
  }

  /**
   * load reads the signing seed from signingKeyFile and the account's public key from auth.json beside it (or from
   * accountKey when given, for a seed mounted on its own).
   */
  static async load(signingKeyFile: string, accountKey?: string): Promise<NatsAuthority> {
    const seed = await readFile(signingKeyFile, 'utf8');
    let account = accountKey;
    if (!account) {
      const info = JSON.parse(await readFile(join(signingKeyFile, '..', AUTH_FILES.info), 'utf8')) as NatsAuthInfo;
      account = info.account;
    }
    return NatsAuthority.fromSeedText(seed, account);
  }

  /** mintInstanceCreds returns a creds file (JWT and seed) for one instance, limited by instancePermissions. */
  async mintInstanceCreds(who: InstanceIdentity): Promise<string> {
    const perms = instancePermissions(who);
    const user = createUser();
    const jwt = await encodeUser(`ics-${who.instanceId}`, user, this.account, perms, { ...enc, signer: this.signer });
    return text(fmtCreds(jwt, user));
  }
}
