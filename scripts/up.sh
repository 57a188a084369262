#!/usr/bin/env bash
# Brings HyperFaaS up on this machine: tools, dependencies, build, a local NATS with JetStream (unless NATS_URL is
# set), then the provider in the foreground. Ctrl-C (or SIGTERM) stops the provider and the NATS it started.
set -euo pipefail
cd "$(dirname "$0")/.."

HYPERFAAS_NEED_KUBECTL="${HYPERFAAS_NEED_KUBECTL:-0}" HYPERFAAS_NEED_TEST_TOOLS=0 bash scripts/ensure-tools.sh
if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npx tsc -b
bash scripts/build-native.sh

data="${HYPERFAAS_DATA:-$PWD/.data}"
nats_pid=""
provider_pid=""
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$provider_pid" ] && kill -0 "$provider_pid" 2>/dev/null; then
    kill -TERM "$provider_pid" 2>/dev/null || true
    wait "$provider_pid" 2>/dev/null || true
  fi
  if [ -n "$nats_pid" ] && kill -0 "$nats_pid" 2>/dev/null; then
    kill -TERM "$nats_pid" 2>/dev/null || true
    wait "$nats_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'cleanup; exit 0' INT TERM

if [ -z "${NATS_URL:-}" ]; then
  nats_bin="$(command -v nats-server || echo /usr/sbin/nats-server)"
  nats_port="${NATS_PORT:-4222}"
  mkdir -p "$data/nats"
  # NATS runs with authorization (docs/nats-auth.md): the material is made once in the data dir and kept; the
  # provider holds its own user and mints one per instance. HYPERFAAS_NATS_AUTH=off runs it open, as before.
  nats_conf=()
  if [ "${HYPERFAAS_NATS_AUTH:-on}" != "off" ]; then
    export HYPERFAAS_NATS_AUTH_DIR="${HYPERFAAS_NATS_AUTH_DIR:-$data/nats-auth}"
    nats_conf=(-c "$(node dist/src/messaging/nats-auth-cli.js init "$HYPERFAAS_NATS_AUTH_DIR")")
  fi
  "$nats_bin" "${nats_conf[@]}" -js -a 127.0.0.1 -p "$nats_port" -sd "$data/nats" >"$data/nats.log" 2>&1 &
  nats_pid=$!
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null; then break; fi
    if ! kill -0 "$nats_pid" 2>/dev/null; then
      echo "nats-server failed to start; see $data/nats.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  export NATS_URL="nats://127.0.0.1:$nats_port"
  echo "nats-server (JetStream, store $data/nats${HYPERFAAS_NATS_AUTH_DIR:+, authorization from $HYPERFAAS_NATS_AUTH_DIR}) on $NATS_URL, pid $nats_pid" >&2
fi
export HYPERFAAS_DATA="$data"

# Basic auth on the /system API is on by default, as in faasd: the credentials are generated once into
# $data/auth (directory 0700, files 0600) and kept across restarts. HYPERFAAS_AUTH=off starts without auth.
case "${HYPERFAAS_AUTH:-on}" in
  on)
    auth_dir="$data/auth"
    mkdir -p "$auth_dir"
    chmod 0700 "$auth_dir"
    if [ ! -s "$auth_dir/basic-auth-user" ] || [ ! -s "$auth_dir/basic-auth-password" ]; then
      (
        umask 077
        printf 'admin' >"$auth_dir/basic-auth-user"
        # 32 random bytes as 43 URL-safe characters, no newline (the provider trims whitespace anyway).
        head -c 32 /dev/urandom | base64 | tr -d '=\n' | tr '+/' '-_' >"$auth_dir/basic-auth-password"
      )
      echo "generated basic-auth credentials in $auth_dir" >&2
    fi
    chmod 0600 "$auth_dir/basic-auth-user" "$auth_dir/basic-auth-password"
    export basic_auth=true secret_mount_path="$auth_dir"
    port_shown="${port:-8081}"
    echo "basic auth is on: user $(cat "$auth_dir/basic-auth-user"), password in $auth_dir/basic-auth-password" >&2
    echo "log in with: cat $auth_dir/basic-auth-password | faas-cli login --username $(cat "$auth_dir/basic-auth-user") --password-stdin --gateway http://127.0.0.1:$port_shown" >&2
    ;;
  off)
    export basic_auth=false
    echo "basic auth is OFF (HYPERFAAS_AUTH=off): anyone who reaches the provider can deploy and read its API" >&2
    ;;
  *)
    echo "HYPERFAAS_AUTH=${HYPERFAAS_AUTH} is not valid: use on (the default) or off" >&2
    exit 2
    ;;
esac

node dist/src/main.js &
provider_pid=$!
set +e
wait "$provider_pid"
status=$?
set -e
provider_pid=""
exit "$status"
