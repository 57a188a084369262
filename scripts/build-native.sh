#!/usr/bin/env bash
# Builds the watchdog's spawn helper (watchdog/native/hf-spawn.c) into <out> (default watchdog/dist/native, beside the
# compiled watchdog's src/), static so it runs in any instance's root file system. Without a C compiler it says so and
# the watchdog starts fork-mode processes with Node's spawn instead. Usage: scripts/build-native.sh [out]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-watchdog/dist/native}"
src=watchdog/native/hf-spawn.c
cc="${CC:-gcc}"
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "build-native: no C compiler ($cc): the watchdog will start fork-mode processes with Node's spawn" >&2
  exit 0
fi
mkdir -p "$out"
[ "$out/hf-spawn" -nt "$src" ] && exit 0
"$cc" -O2 -Wall -Wextra -static -o "$out/hf-spawn.tmp" "$src" 2>/dev/null || "$cc" -O2 -Wall -Wextra -o "$out/hf-spawn.tmp" "$src"
mv "$out/hf-spawn.tmp" "$out/hf-spawn"
