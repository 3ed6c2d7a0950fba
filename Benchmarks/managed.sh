#!/bin/bash
# A managed gateway's request path: a control plane, one managed gateway on the mock quick-launch
# chain (heartbeats every second), `kt bench` at c=1 and c=16.
# Usage: Benchmarks/managed.sh [KT_BIN]   (a release build; default .build/release/kt)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kt=${1:-$root/.build/release/kt}
st=$(mktemp -d); pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$st"' EXIT
port_of() { # logfile: the port of its "listening" line
  for _ in $(seq 200); do
    p=$(grep -o '"address":"[^"]*"' "$1" 2>/dev/null | head -1 | sed 's/.*://; s/"//')
    [ -n "$p" ] && { echo "$p"; return; }
    sleep 0.05
  done
  echo "no listening line in $1" >&2; exit 1
}
"$kt" control-plane run --listen 127.0.0.1:0 --data "$st/cp" >"$st/cp.out" 2>"$st/cp.log" & pids+=($!)
cp=$(port_of "$st/cp.log")
export KEEPTRUSTS_API_URL="http://127.0.0.1:$cp" KEEPTRUSTS_API_TOKEN="$(cat "$st/cp/admin-token")" KEEPTRUSTS_HOME="$st/home"
token=$("$kt" control-plane token create --role gateway --gateway-id gw-bench --json | grep '"token"' | cut -d'"' -f4)
KEEPTRUSTS_API_TOKEN="$token" "$kt" gateway run --listen 127.0.0.1:0 --gateway-id gw-bench --heartbeat-interval 1s \
  --policy-config "$root/fixtures/valid/mock-quick-launch.yaml" --state-dir "$st/gw" --log-level warn 2>"$st/gw.log" & pids+=($!)
gp=$(port_of "$st/gw.log")
"$kt" bench --target "http://127.0.0.1:$gp" --requests 3000 --concurrency 1 --json |
  python3 -c "import json,sys; d=json.load(sys.stdin); print('c=1 p50 %.3f ms p99 %.3f ms' % (d['latency_ms']['p50'], d['latency_ms']['p99']))"
"$kt" bench --target "http://127.0.0.1:$gp" --requests 20000 --concurrency 16 --json |
  python3 -c "import json,sys; d=json.load(sys.stdin); print('c=16 %.0f req/s' % d['throughput_rps'])"
