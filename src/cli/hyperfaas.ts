#!/usr/bin/env node
// The hyperfaas command (package.json bin); see publish.ts.
import { main } from './publish.js';

main(process.argv.slice(2)).then((code) => process.exit(code));
