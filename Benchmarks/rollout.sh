#!/usr/bin/env bash
# Rollout benchmark (issue 6) with the fleet simulator:
#   1. 20 all-at-once pushes to 100 gateways: time until every gateway ACKed (p50/p99);
#   2. a rolling rollout over 1,000 gateways, batches of 100, no pause, zero health windows.
# Times are wall clock of `kt config push --confirm` (CLI start to the rollout's end event).
#   Benchmarks/rollout.sh
source "$(dirname "$0")/lib.sh"
bench_setup rollout
start_control_plane 29932
"$KT" dev simulate-fleet --gateways 100 --prefix b- --heartbeat-interval 5s >/dev/null 2>&1 & pids+=($!)
"$KT" dev simulate-fleet --gateways 1000 --prefix r- --heartbeat-interval 5s >/dev/null 2>&1 & pids+=($!)
wait_registered 1100
config() { # version
    cat <<YAML
pack: { name: bench, version: "$1" }
providers: { targets: [ { id: mock, provider: mock, model: gpt-5.4-mini } ] }
policies: { chain: [prompt-injection] }
policy: { prompt-injection: { threshold: 0.8 } }
YAML
}
echo "## 20 all-at-once pushes to 100 gateways (seconds until all ACKed)"
: >"$WORK/times"
for i in $(seq 1 20); do
    config "2.0.$i" >"$WORK/c.yaml"
    s=$(date +%s.%N)
    "$KT" config push --file "$WORK/c.yaml" --gateway 'b-*' --source batch --confirm --strategy all-at-once \
        --health-window 0s --ack-timeout 10s >/dev/null
    e=$(date +%s.%N)
    awk "BEGIN{print $e - $s}" >>"$WORK/times"
done
sort -n "$WORK/times" | awk '{a[NR]=$1} END {printf "p50 %.3f s, p99 (max of 20) %.3f s, min %.3f s\n", a[int(NR/2)+1], a[NR], a[1]}'
echo "## rolling rollout over 1,000 gateways, batch 100, no pause, zero windows"
config "3.0.0" >"$WORK/c.yaml"
s=$(date +%s.%N)
"$KT" config push --file "$WORK/c.yaml" --gateway 'r-*' --source rolling --confirm --strategy rolling --batch-size 100 \
    --pause-between 0s --health-window 0s --ack-timeout 10s | tail -2
e=$(date +%s.%N)
awk "BEGIN{printf \"end to end: %.2f s\\n\", $e - $s}"
echo "## rolling rollout over 1,000 gateways, batch 100, 5 s health windows judged against the control cohort"
cpu() { awk '{print ($14 + $15) / 100}' "/proc/$CP_PID/stat"; }
# The control plane's CPU without a rollout (1,100 gateways heartbeating), to subtract.
i0=$(cpu); sleep 10; i1=$(cpu)
idle=$(awk "BEGIN{print ($i1 - $i0) / 10}")
config "4.0.0" >"$WORK/c.yaml"
c0=$(cpu); s=$(date +%s.%N)
"$KT" config push --file "$WORK/c.yaml" --gateway 'r-*' --source rolling --confirm --strategy rolling --batch-size 100 \
    --pause-between 0s --health-window 5s --min-requests 0 --ack-timeout 10s | tail -1
e=$(date +%s.%N); c1=$(cpu)
awk "BEGIN{d = $e - $s; extra = ($c1 - $c0) - $idle * d; printf \"end to end: %.2f s; control-plane CPU %.2f s, %.2f s above its idle rate (%.0f ms per judged batch)\\n\", d, $c1 - $c0, extra, extra * 100}"
