/**
 * http-headers holds the one set of hop-by-hop headers, shared by every hop that forwards a request or response:
 * the watchdog to its function, the provider's router to an instance, a bounce over NATS and the async replay.
 */

/**
 * hopByHop are the headers that describe one connection, not the message (RFC 9110 section 7.6.1, plus the legacy
 * ones Go's reverse proxy strips), lower-case. Every hop drops them; a hop that sets a header itself (host,
 * content-length) adds it to its own copy of the set.
 */
export const hopByHop: ReadonlySet<string> = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** hopByHopMaxLength is the longest name in hopByHop ("proxy-authorization"): a longer name is never one of them. */
export const hopByHopMaxLength = 19;
