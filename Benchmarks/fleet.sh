#!/usr/bin/env bash
# Fleet scale benchmark (issue 5): N simulated gateways heartbeating against one control plane.
# Reports heartbeat p50/p99 (measured by the simulator), control-plane RSS, and the time of
# `kt gateway list --json` over the whole fleet.
#   Benchmarks/fleet.sh [GATEWAYS=5000] [SECONDS=60]
source "$(dirname "$0")/lib.sh"
N="${1:-5000}"
SECS="${2:-60}"
bench_setup fleet
PORT=41931
start_control_plane $PORT
echo "## $N simulated gateways, heartbeat every 5s, ${SECS}s measured after a 15s warm-up"
"$KT" dev simulate-fleet --gateways "$N" --heartbeat-interval 5s --warmup 15s --duration "$((SECS + 15))s" --json \
    >"$WORK/sim.json" 2>"$WORK/sim.err" & pids+=($!)
SIM_PID=$!
sleep $((15 + SECS / 2))
echo "### kt gateway list --json over the fleet (5 runs, seconds)"
for _ in 1 2 3 4 5; do
    /usr/bin/time -f "%e" "$KT" gateway list --json 2>&1 >"$WORK/list.json" | tail -1
done
echo "gateways listed: $(grep -c '"id"' "$WORK/list.json")"
echo "### control plane RSS (MB) under load"
awk '/VmRSS/ {printf "%.1f\n", $2/1024}' "/proc/$CP_PID/status"
echo "### control plane CPU (user+sys seconds so far)"
awk '{printf "%.1f\n", ($14+$15)/100}' "/proc/$CP_PID/stat"
wait "$SIM_PID" || true
echo "### simulator report"
cat "$WORK/sim.json"
echo "### control plane heartbeat handling time (server side, ms)"
curl -s -H "Authorization: Bearer $KEEPTRUSTS_API_TOKEN" "http://127.0.0.1:$PORT/metrics" | grep -E '^kt_cp_heartbeat_duration_seconds_(sum|count)|^kt_cp_heartbeats_total|^kt_cp_gateways'
