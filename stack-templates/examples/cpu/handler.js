'use strict';

const { pbkdf2Sync } = require('node:crypto');

// cpu is CPU-bound: a fixed amount of work (PBKDF2 with a fixed iteration count), never a wall-clock spin, so the
// cost per request is the same whatever the machine's load; ?iterations= scales it (1..1,000,000).
const defaultIterations = 20000;

module.exports = async (event, context) => {
  const asked = Number(event.query && event.query.iterations);
  const iterations = Number.isInteger(asked) && asked >= 1 && asked <= 1000000 ? asked : defaultIterations;
  const key = pbkdf2Sync(String(event.body || 'hyperfaas'), 'hyperfaas-salt', iterations, 32, 'sha256');
  return context.status(200).succeed({ iterations, key: key.toString('hex') });
};
