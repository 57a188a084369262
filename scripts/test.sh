#!/usr/bin/env bash
# The whole test suite from a fresh clone: tools, dependencies, build, every test. Extra args go to mocha.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-tools.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
rm -rf dist watchdog/dist
npx tsc -b
bash scripts/build-native.sh
npx mocha "$@"
