/**
 * basic-auth protects /system routes with the credentials faas-provider uses: the files basic-auth-user and
 * basic-auth-password in secret_mount_path, whitespace trimmed. Comparisons are constant-time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RequestHandler } from 'express';

/** Credentials are the one user and password the provider (and the gateway) accept. */
export interface Credentials {
  user: string;
  password: string;
}

/** readCredentials reads basic-auth-user and basic-auth-password from dir; throws naming the missing file. */
export function readCredentials(dir: string): Credentials {
  const read = (f: string): string => {
    const p = join(dir, f);
    try {
      return readFileSync(p, 'utf8').trim();
    } catch (e) {
      throw new Error(`basic_auth=true but ${p} cannot be read: ${(e as Error).message}`, { cause: e });
    }
  };
  return { user: read('basic-auth-user'), password: read('basic-auth-password') };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** sameSecret compares two strings in time independent of where they differ (hashing first equalises lengths). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** basicAuth returns middleware answering 401 `invalid credentials` unless the request carries these credentials. */
export function basicAuth(creds: Credentials): RequestHandler {
  return (req, res, next) => {
    const h = req.headers.authorization ?? '';
    let ok = false;
    if (h.slice(0, 6).toLowerCase() === 'basic ') {
      const decoded = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon >= 0) {
        // Evaluate both comparisons so a wrong user costs as long as a wrong password.
        const userOk = sameSecret(decoded.slice(0, colon), creds.user);
        const passOk = sameSecret(decoded.slice(colon + 1), creds.password);
        ok = userOk && passOk;
      }
    }
    if (ok) return next();
    res.setHeader('WWW-Authenticate', 'Basic realm="Restricted"');
    res.status(401).type('text/plain').send('invalid credentials\n');
  };
}
