#!/usr/bin/env bash
# Doctor benchmark (issue 7) with the fleet simulator: `kt doctor --json` over N simulated
# gateways (each answers its doctor task through its config long-poll), then
# `kt doctor --bundle`. Times are wall clock of the CLI; 5 runs each.
#   Benchmarks/doctor.sh [GATEWAYS]     (default 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
swift build -c release --product kt >&2
KT="$PWD/.build/release/kt"
N="${1:-1000}"
WORK="$(mktemp -d /tmp/kt-bench-doctor.XXXXXX)"
ulimit -n "$(ulimit -Hn)"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
PORT=29933
"$KT" control-plane run --listen 127.0.0.1:$PORT --data "$WORK/cp" --log-level warn >/dev/null 2>"$WORK/cp.err" & pids+=($!)
for _ in $(seq 100); do [ -s "$WORK/cp/admin-token" ] && curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
export KEEPTRUSTS_API_URL="http://127.0.0.1:$PORT" KEEPTRUSTS_API_TOKEN="$(cat "$WORK/cp/admin-token")"
"$KT" dev simulate-fleet --gateways "$N" --prefix d- --heartbeat-interval 5s >/dev/null 2>&1 & pids+=($!)
for _ in $(seq 600); do
    n=$("$KT" gateway list --json | grep -c '"id"' || true)
    [ "$n" -ge "$N" ] && break
    sleep 0.2
done
echo "registered: $n gateways"
sleep 6 # every simulated gateway has parked its long-poll and sent a heartbeat
run() { # label, command...
    local label="$1"; shift
    : >"$WORK/times"
    for _ in 1 2 3 4 5; do
        s=$(date +%s.%N)
        "$@" >"$WORK/out" 2>&1 || true
        e=$(date +%s.%N)
        awk "BEGIN{print $e - $s}" >>"$WORK/times"
    done
    sort -n "$WORK/times" | awk -v l="$label" '{a[NR]=$1} END {printf "%s: median %.2f s, max %.2f s (5 runs)\n", l, a[3], a[5]}'
}
run "kt doctor --json over $N gateways" "$KT" doctor --json
grep -o '"checks_[a-z]*": [0-9]*' "$WORK/out" | tr '\n' ' '; echo
run "kt doctor --bundle over $N gateways" "$KT" doctor --bundle --output "$WORK/bundle.tar.gz"
echo "bundle: $(stat -c %s "$WORK/bundle.tar.gz") bytes, $(tar -tzf "$WORK/bundle.tar.gz" | wc -l) files"
echo "control-plane RSS after: $(( $(awk '/VmRSS/{print $2}' /proc/${pids[0]}/status) / 1024 )) MB"
