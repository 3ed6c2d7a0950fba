#!/usr/bin/env bash
# Streaming through response policies (issue 15, item 5): a 4 KB answer in 4-character chunks
# (about 1,000 SSE events, no delay) through a gateway with the quick-launch chain, and with
# scan_responses on. Reports time to first content byte and to the end of the stream (p50/p99,
# kt bench --stream at c=1) and the gateway's CPU per stream.
#   Benchmarks/stream.sh [REQUESTS=300]     (KT_BIN=path/to/kt measures another build)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
N="${1:-300}"
[ -n "${KT_BIN:-}" ] || swift build -c release --product kt >&2
KT="${KT_BIN:-$PWD/.build/release/kt}"
WORK="$(mktemp -d /tmp/kt-bench-stream.XXXXXX)"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
MOCK=41931
REPLY="$(python3 -c "print(' '.join(['The quick brown fox jumps over the lazy dog near the river bank.'] * 64)[:4096])")"
"$KT" dev mock-upstream --listen 127.0.0.1:$MOCK >/dev/null 2>&1 & pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$MOCK/v1/models" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$MOCK/_mock/behavior" -d "{\"reply\": \"$REPLY\", \"chunk_chars\": 4}" >/dev/null
write_config() { # file pii-settings
  cat > "$1" <<YAML
pack: { name: bench, version: 1.0.0 }
providers: { targets: [ { id: mock, provider: openai-compatible, model: gpt-test, base_url: "http://127.0.0.1:$MOCK" } ] }
policies: { chain: [prompt-injection, pii-detector, audit-logger] }
policy: { prompt-injection: {}, pii-detector: $2, audit-logger: {} }
YAML
}
write_config "$WORK/quick.yaml" "{}"
cat > "$WORK/pass.yaml" <<YAML
pack: { name: bench, version: 1.0.0 }
providers: { targets: [ { id: mock, provider: openai-compatible, model: gpt-test, base_url: "http://127.0.0.1:$MOCK" } ] }
policies: { chain: [] }
YAML
write_config "$WORK/scan.yaml" "{ scan_responses: true }"
report() { # name config port
  "$KT" gateway run --listen "127.0.0.1:$3" --policy-config "$2" --state-dir "$WORK/state-$3" --log-level warn 2>/dev/null & local pid=$!; pids+=($pid)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$3/v1/models" >/dev/null && break; sleep 0.1; done
  "$KT" bench --target "http://127.0.0.1:$3" --stream --concurrency 1 --requests 20 --model gpt-test >/dev/null
  local c0; c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  "$KT" bench --target "http://127.0.0.1:$3" --stream --concurrency 1 --requests "$N" --model gpt-test --json > "$WORK/$1.json"
  local c1; c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  python3 - "$WORK/$1.json" "$1" "$((c1 - c0))" "$N" "$(getconf CLK_TCK)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); name = sys.argv[2]; ticks, n, hz = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(f"| {name} | {r['ttfb_ms']['p50']:.2f} | {r['ttfb_ms']['p99']:.2f} | {r['latency_ms']['p50']:.2f} | {r['latency_ms']['p99']:.2f} | {ticks / hz * 1000 / n:.2f} |")
PY
}
echo "| chain (4 KB answer, ~1,000 chunks, c=1, $N streams) | TTFB p50 ms | TTFB p99 ms | stream p50 ms | stream p99 ms | gateway CPU ms/stream |"
echo "|---|---|---|---|---|---|"
report "passthrough (no policies)" "$WORK/pass.yaml" 41934
report "quick-launch (pci_mode)" "$WORK/quick.yaml" 41932
report "scan_responses: true" "$WORK/scan.yaml" 41933
