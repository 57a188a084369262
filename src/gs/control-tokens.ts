import { randomBytes } from 'node:crypto';

/**
 * ControlTokens keeps each instance's own control token (instance id -> token): the provider issues one as an
 * instance starts (handed to it as a file), and sends it with every HTTP control request to that instance, so a
 * token stolen from one instance opens no other.
 */
export class ControlTokens {
  private readonly tokens = new Map<string, string>();

  /** issue makes a fresh random token for instanceId (replacing any earlier one) and returns it. */
  issue(instanceId: string): string {
    const t = randomBytes(32).toString('base64url');
    this.tokens.set(instanceId, t);
    return t;
  }

  /** get returns instanceId's token, if one was issued. */
  get(instanceId: string): string | undefined {
    return this.tokens.get(instanceId);
  }

  /** forget drops a gone instance's token. */
  forget(instanceId: string): void {
    this.tokens.delete(instanceId);
  }

  /** size is how many tokens are held. */
  get size(): number {
    return this.tokens.size;
  }
}
