#!/usr/bin/env bash
# relief.sh: the 10x step with no lender, outside the A/B harness. It starts its own nats-server and provider (the
# built dist/, default settings, a temp data dir), deploys one 50 ms function (max_inflight 4, min 1, max 5, policy
# hyperfaas unless POLICY is set) in http mode (hyperfaas/sleep) or fork mode (functions/alpine, fprocess
# "sleep 0.05"), drives it with the open-loop generator (bench/loadgen/cli.js --workload relief: 20 req/s 10 s,
# 200 req/s 60 s, 20 req/s 20 s, 10 s client timeout) and writes the generator's bins, summary and plot, and the
# scaler's decisions (from the provider's log), to OUT. Everything it starts it stops by PID. Loopback only.
#
#   bash bench/loadgen/relief.sh http bench/results/relief-http      # or: fork
set -euo pipefail
mode=${1:?usage: relief.sh http|fork OUT}
out=${2:?usage: relief.sh http|fork OUT}
policy=${POLICY:-hyperfaas}
root=$(cd "$(dirname "$0")/../.." && pwd)
dist=${DIST:-$root/dist}
mkdir -p "$out"
data=$(mktemp -d /var/tmp/hf-relief-XXXXXX)
chmod 755 "$data"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.2; done; done
  rm -rf "$data"
}
trap cleanup EXIT
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
nport=$(free_port)
nats-server -a 127.0.0.1 -p "$nport" -js -sd "$data/js" >"$out/nats.log" 2>&1 &
pids+=($!)
pport=$(free_port)
port=$pport HYPERFAAS_LISTEN=127.0.0.1 HYPERFAAS_DATA="$data" NATS_URL="nats://127.0.0.1:$nport" LOG_FORMAT=json \
  node "$dist/src/main.js" >"$out/provider.log" 2>&1 &
pids+=($!)
base=http://127.0.0.1:$pport
for _ in $(seq 1 150); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.2; done
labels='"com.hyperfaas.policy":"'$policy'","com.openfaas.scale.min":"1","com.openfaas.scale.max":"5"'
if [ "$mode" = http ]; then
  fn='{"service":"relief","image":"hyperfaas/sleep:latest","envVars":{"max_inflight":"4"},"labels":{'$labels',"com.hyperfaas.runtime":"node"},"limits":{"cpu":"360m"},"requests":{"cpu":"180m"}}'
else
  fn='{"service":"relief","image":"functions/alpine:latest","envProcess":"sleep 0.05","envVars":{"max_inflight":"4"},"labels":{'$labels'},"limits":{"cpu":"600m"},"requests":{"cpu":"300m"}}'
fi
curl -sf -X POST "$base/system/functions" -H 'content-type: application/json' -d "$fn" >/dev/null
for _ in $(seq 1 300); do
  curl -sf "$base/system/function/relief" | grep -q '"availableReplicas":[1-9]' && break
  sleep 0.2
done
for _ in $(seq 1 20); do curl -sf -X POST "$base/function/relief" -d warm >/dev/null || true; done
sleep 2
echo "relief.sh: $mode, policy $policy, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)" | tee "$out/run.txt"
node "$dist/bench/loadgen/cli.js" --target "$base/function/relief" --workload relief --seed 1 --slo 120 \
  --timeout-ms 10000 --connections 512 --label "$mode $policy" --out "$out" | tee -a "$out/run.txt"
echo "relief.sh: done, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/run.txt"
grep '"scaling phase"' "$out/provider.log" >"$out/decisions.ndjson" || true
# Keep what a report needs (bins, summary, plot, decisions); the per-request records and logs stay out of the tree.
rm -f "$out/provider.log" "$out/nats.log" "$out/records.ndjson"
