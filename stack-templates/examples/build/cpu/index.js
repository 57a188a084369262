// Entry point of a node20 function (fprocess "node index.js"): starts the HyperFaaS Node runtime for this folder,
// which serves ./function/handler.js on $http_port (default 3000). In a container the runtime is copied from the
// watchdog image to /home/app/runtime; on the local backend the watchdog tells us where it is (HYPERFAAS_NODE_RUNTIME).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const candidates = [process.env.HYPERFAAS_NODE_RUNTIME, path.join(__dirname, 'runtime', 'server.js'), '/home/app/runtime/server.js'];
const runtime = candidates.find((p) => p && fs.existsSync(p));
if (!runtime) {
  console.error(`HyperFaaS node runtime not found (tried ${candidates.filter(Boolean).join(', ')})`);
  process.exit(1);
}

import(pathToFileURL(runtime).href)
  .then((rt) => rt.serve(__dirname))
  .then((port) => console.log(`node20 function listening on port ${port}`))
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
