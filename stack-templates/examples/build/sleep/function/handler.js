'use strict';

const { createHash } = require('node:crypto');

// sleep is I/O-bound: about 50 ms of waiting (as if on a database) plus a little fixed CPU work.
const waitMs = 50;

module.exports = async (event, context) => {
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  let digest = Buffer.from(String(event.body || ''));
  for (let i = 0; i < 200; i++) digest = createHash('sha256').update(digest).digest();
  return context.status(200).succeed({ slept: waitMs, digest: digest.toString('hex').slice(0, 16) });
};
