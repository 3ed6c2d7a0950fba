#!/usr/bin/env bash
# Gateway data-plane benchmark (issue 3): kt gateway vs nginx as a plain proxy_pass reverse
# proxy, both in front of the same mock upstream, on this machine, in the same run.
#   Benchmarks/gateway.sh [seconds-per-wrk-run]
# Installs nginx and wrk from Debian packages when missing. Prints a markdown report.
source "$(dirname "$0")/lib.sh"
need_nginx_and_wrk
DUR="${1:-10}"
[ -n "${KT_BIN:-}" ] || swift build -c release --product kt >&2
KT="${KT_BIN:-$PWD/.build/release/kt}"
WORK="$(mktemp -d /tmp/kt-bench.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true; }
trap cleanup EXIT

MOCK_PORT=41901; GW_PORT=41902; NGINX_PORT=41903
"$KT" dev mock-upstream --listen 127.0.0.1:$MOCK_PORT > "$WORK/mock.log" 2>&1 & pids+=($!)
cat > "$WORK/config.yaml" <<YAML
pack: { name: bench-passthrough, version: 1.0.0 }
providers:
  targets:
    - { id: mock, provider: openai-compatible, model: gpt-test, base_url: "http://127.0.0.1:$MOCK_PORT" }
policies: { chain: [] }
YAML
"$KT" gateway run --listen 127.0.0.1:$GW_PORT --policy-config "$WORK/config.yaml" --log-level warn > "$WORK/gw.log" 2>&1 & GW_PID=$!; pids+=($GW_PID)
cat > "$WORK/nginx.conf" <<NGINX
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  upstream mock { server 127.0.0.1:$MOCK_PORT; keepalive 128; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
NGINX
nginx -c "$WORK/nginx.conf" -p "$WORK"
for port in $MOCK_PORT $GW_PORT $NGINX_PORT; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v1/models" >/dev/null && break; sleep 0.1; done
done

cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"gpt-test","messages":[{"role":"user","content":"Say hello in one short sentence."}]}'
wrk.headers["Content-Type"] = "application/json"
LUA

cpu_ticks() { # utime+stime of the given pids, in clock ticks
  local total=0
  for p in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo $total
}
nginx_pids() { pgrep -f "nginx: (master|worker) process.*" -d ' ' 2>/dev/null || pgrep nginx -d ' '; }

run_wrk() { # url -> "rps p99_ms"
  wrk -t2 -c64 -d"${DUR}s" --latency -s "$WORK/post.lua" "$1/v1/chat/completions" > "$WORK/wrk.out"
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")
  p99=$(awk '$1=="99%" {print $2}' "$WORK/wrk.out")
  echo "$rps $p99 $(awk '/requests in/ {print $1}' "$WORK/wrk.out")"
}

# Warm up every path.
for port in $MOCK_PORT $GW_PORT $NGINX_PORT; do wrk -t1 -c8 -d1s -s "$WORK/post.lua" "http://127.0.0.1:$port/v1/chat/completions" >/dev/null; done

read -r mock_rps mock_p99 _ <<<"$(run_wrk http://127.0.0.1:$MOCK_PORT)"
np="$(nginx_pids)"; n0=$(cpu_ticks $np)
read -r nginx_rps nginx_p99 nginx_n <<<"$(run_wrk http://127.0.0.1:$NGINX_PORT)"
n1=$(cpu_ticks $np)
g0=$(cpu_ticks $GW_PID)
read -r gw_rps gw_p99 gw_n <<<"$(run_wrk http://127.0.0.1:$GW_PORT)"
g1=$(cpu_ticks $GW_PID)
gw_rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$GW_PID/status)
tick=$(getconf CLK_TCK)
nginx_cpu_us=$(awk -v d=$((n1-n0)) -v n="$nginx_n" -v t="$tick" 'BEGIN { printf "%.1f", d / t * 1e6 / n }')
gw_cpu_us=$(awk -v d=$((g1-g0)) -v n="$gw_n" -v t="$tick" 'BEGIN { printf "%.1f", d / t * 1e6 / n }')

bench_json() { "$KT" bench --target "$1" --concurrency 1 --requests "$2" --model gpt-test ${3:-} --json; }
p99() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1']['p99'])"; }
direct_c1=$(bench_json http://127.0.0.1:$MOCK_PORT 5000 | p99 latency_ms)
gw_c1=$(bench_json http://127.0.0.1:$GW_PORT 5000 | p99 latency_ms)
nginx_c1=$(bench_json http://127.0.0.1:$NGINX_PORT 5000 | p99 latency_ms)
direct_ttfb=$(bench_json http://127.0.0.1:$MOCK_PORT 3000 --stream | p99 ttfb_ms)
gw_ttfb=$(bench_json http://127.0.0.1:$GW_PORT 3000 --stream | p99 ttfb_ms)

ratio=$(awk -v a="$gw_rps" -v b="$nginx_rps" 'BEGIN { printf "%.2f", a / b }')
cpu_ratio=$(awk -v a="$gw_cpu_us" -v b="$nginx_cpu_us" 'BEGIN { printf "%.2f", a / b }')
added_c1=$(awk -v a="$gw_c1" -v b="$direct_c1" 'BEGIN { printf "%.3f", a - b }')
added_ttfb=$(awk -v a="$gw_ttfb" -v b="$direct_ttfb" 'BEGIN { printf "%.3f", a - b }')
cat <<REPORT
| measure (wrk -t2 -c64 -d${DUR}s, POST chat JSON; kt bench c=1) | mock direct | nginx proxy_pass | kt gateway | goal |
|---|---|---|---|---|
| throughput, req/s (c=64) | $mock_rps | $nginx_rps | $gw_rps | gateway ≥ 0.7 × nginx → **$ratio ×** |
| p99 latency (c=64) | $mock_p99 | $nginx_p99 | $gw_p99 | |
| p99 latency ms (c=1) | $direct_c1 | $nginx_c1 | $gw_c1 | added ≤ 0.3 ms → **+$added_c1 ms** |
| stream TTFB p99 ms (c=1) | $direct_ttfb | | $gw_ttfb | added ≤ 1 ms → **+$added_ttfb ms** |
| CPU time per request, µs | | $nginx_cpu_us | $gw_cpu_us | ≤ 2 × nginx → **$cpu_ratio ×** |
| peak RSS (VmHWM) under c=64 | | | $((gw_rss_kb / 1024)) MB | ≤ 60 MB |
REPORT
