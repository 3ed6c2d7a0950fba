#!/usr/bin/env bash
# Audit-log benchmark (issue 13): what audit-logger costs per request in batched and strict
# durability (strict waits for the fsync that covers the record; streams hold [DONE] for it),
# against the same gateway without it, all on one mock upstream.
#   Benchmarks/audit.sh            (KT_BIN=path/to/kt to measure another build)
# The state dir is on the machine's disk (mktemp -d under /tmp): fsync cost is this disk's.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
[ -n "${KT_BIN:-}" ] || swift build -c release --product kt >&2
KT="${KT_BIN:-$PWD/.build/release/kt}"
WORK="$(mktemp -d /tmp/kt-bench-audit.XXXXXX)"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
MOCK=41931
"$KT" dev mock-upstream --listen 127.0.0.1:$MOCK --reply "ok" >/dev/null 2>&1 & pids+=($!)
write_config() { # file chain policy-block
  cat > "$1" <<YAML
pack: { name: bench-audit, version: 1.0.0 }
providers: { targets: [ { id: mock, provider: openai-compatible, model: gpt-test, base_url: "http://127.0.0.1:$MOCK" } ] }
policies: { chain: [$2] }
policy: $3
YAML
}
write_config "$WORK/none.yaml" "" "{}"
write_config "$WORK/batched.yaml" "audit-logger" "{ audit-logger: { durability: batched } }"
write_config "$WORK/strict.yaml" "audit-logger" "{ audit-logger: { durability: strict } }"
port=41932
declare -A PORTS
for mode in none batched strict; do
  "$KT" gateway run --listen 127.0.0.1:$port --policy-config "$WORK/$mode.yaml" --state-dir "$WORK/state-$mode" --log-level warn 2>/dev/null & pids+=($!)
  PORTS[$mode]=$port
  port=$((port + 1))
done
for p in $MOCK "${PORTS[@]}"; do for _ in $(seq 100); do curl -sf "http://127.0.0.1:$p/v1/models" >/dev/null && break; sleep 0.1; done; done
echo "A short prompt for the benchmark of the audit log." > "$WORK/prompt.txt"
stat() { python3 -c "import json,sys; r=json.load(sys.stdin); print(r['$1']['$2'] if '$2' else r['$1'])"; }
bench() { "$KT" bench --target "http://127.0.0.1:$1" --model gpt-test --prompt-file "$WORK/prompt.txt" --json "${@:2}"; }
echo "| durability | p50 c=1 | p99 c=1 | stream p50 c=1 | stream p99 c=1 | throughput c=16 |"
echo "|---|---|---|---|---|---|"
for mode in none batched strict; do
  p=${PORTS[$mode]}
  bench "$p" --requests 200 --concurrency 1 >/dev/null
  c1=$(bench "$p" --requests 2000 --concurrency 1)
  s1=$(bench "$p" --requests 1000 --concurrency 1 --stream)
  c16=$(bench "$p" --duration 10s --concurrency 16)
  echo "| $mode | $(echo "$c1" | stat latency_ms p50) ms | $(echo "$c1" | stat latency_ms p99) ms | $(echo "$s1" | stat latency_ms p50) ms | $(echo "$s1" | stat latency_ms p99) ms | $(echo "$c16" | stat throughput_rps "") req/s |"
done
