#!/usr/bin/env bash
# Doctor benchmark (issue 7) with the fleet simulator: `kt doctor --json` over N simulated
# gateways (each answers its doctor task through its config long-poll), then
# `kt doctor --bundle`. Times are wall clock of the CLI; 5 runs each.
#   Benchmarks/doctor.sh [GATEWAYS]     (default 1000)
source "$(dirname "$0")/lib.sh"
N="${1:-1000}"
bench_setup doctor
start_control_plane 29933
"$KT" dev simulate-fleet --gateways "$N" --prefix d- --heartbeat-interval 5s >/dev/null 2>&1 & pids+=($!)
wait_registered "$N"
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
run "kt doctor --bundle over $N gateways" "$KT" doctor --bundle --out-file "$WORK/bundle.tar.gz"
echo "bundle: $(stat -c %s "$WORK/bundle.tar.gz") bytes, $(tar -tzf "$WORK/bundle.tar.gz" | wc -l) files"
echo "control-plane RSS after: $(( $(awk '/VmRSS/{print $2}' /proc/$CP_PID/status) / 1024 )) MB"
