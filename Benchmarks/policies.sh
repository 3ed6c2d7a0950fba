#!/usr/bin/env bash
# Policy-chain benchmark (issue 4): detector scoring time, and what the chain
# prompt-injection + pii-detector + audit-logger adds over a passthrough gateway on a 4 KB prompt.
#   Benchmarks/policies.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
[ -n "${KT_BIN:-}" ] || swift build -c release --product kt >&2
KT="${KT_BIN:-$PWD/.build/release/kt}"
WORK="$(mktemp -d /tmp/kt-bench-pol.XXXXXX)"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
echo "## Detector scoring time (kt dev bench-detector)"
"$KT" dev bench-detector
MOCK=41921
"$KT" dev mock-upstream --listen 127.0.0.1:$MOCK --reply "ok" >/dev/null 2>&1 & pids+=($!)
write_config() { # file chain policy-block
  cat > "$1" <<YAML
pack: { name: bench, version: 1.0.0 }
providers: { targets: [ { id: mock, provider: openai-compatible, model: gpt-test, base_url: "http://127.0.0.1:$MOCK" } ] }
policies: { chain: [$2] }
policy: $3
YAML
}
write_config "$WORK/pass.yaml" "" "{}"
write_config "$WORK/chain.yaml" "prompt-injection, pii-detector, audit-logger" "{ prompt-injection: {}, pii-detector: {}, audit-logger: {} }"
"$KT" gateway run --listen 127.0.0.1:41922 --policy-config "$WORK/pass.yaml" --log-level warn 2>/dev/null & pids+=($!)
"$KT" gateway run --listen 127.0.0.1:41923 --policy-config "$WORK/chain.yaml" --state-dir "$WORK/state" --log-level warn 2>/dev/null & pids+=($!)
for port in $MOCK 41922 41923; do for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v1/models" >/dev/null && break; sleep 0.1; done; done
python3 - "$WORK/prompt.txt" <<'PY'
import sys
base = "Customer note: please check order 5512 for Jane (jane.doe@example.com, +1 415 555 2671); the invoice total looks wrong and the shipping address changed last week. "
text = (base * 40)[:4096]
open(sys.argv[1], "w").write(text)
PY
stat() { python3 -c "import json,sys; r=json.load(sys.stdin); print(r['$1']['$2'] if '$2' else r['$1'])"; }
for port in 41922 41923; do "$KT" bench --target http://127.0.0.1:$port --requests 300 --concurrency 1 --model gpt-test --prompt-file "$WORK/prompt.txt" >/dev/null; done
pass_c1=$("$KT" bench --target http://127.0.0.1:41922 --requests 3000 --concurrency 1 --model gpt-test --prompt-file "$WORK/prompt.txt" --json)
chain_c1=$("$KT" bench --target http://127.0.0.1:41923 --requests 3000 --concurrency 1 --model gpt-test --prompt-file "$WORK/prompt.txt" --json)
pass_c16=$("$KT" bench --target http://127.0.0.1:41922 --duration 10s --concurrency 16 --model gpt-test --prompt-file "$WORK/prompt.txt" --json)
chain_c16=$("$KT" bench --target http://127.0.0.1:41923 --duration 10s --concurrency 16 --model gpt-test --prompt-file "$WORK/prompt.txt" --json)
echo
echo "## Chain prompt-injection + pii-detector + audit-logger (batched) on a 4 KB prompt"
echo "| measure | passthrough | chain | added |"
echo "|---|---|---|---|"
p50a=$(echo "$pass_c1" | stat latency_ms p50); p50b=$(echo "$chain_c1" | stat latency_ms p50)
p99a=$(echo "$pass_c1" | stat latency_ms p99); p99b=$(echo "$chain_c1" | stat latency_ms p99)
ta=$(echo "$pass_c16" | stat throughput_rps ""); tb=$(echo "$chain_c16" | stat throughput_rps "")
echo "| p50 latency, c=1 | $p50a ms | $p50b ms | $(python3 -c "print(round($p50b-$p50a,3))") ms |"
echo "| p99 latency, c=1 | $p99a ms | $p99b ms | $(python3 -c "print(round($p99b-$p99a,3))") ms |"
echo "| throughput, c=16 | $ta req/s | $tb req/s | $(python3 -c "print(round($tb/$ta,2))") × |"
