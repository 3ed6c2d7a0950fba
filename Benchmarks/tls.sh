#!/usr/bin/env bash
# TLS termination benchmark (issue 16): kt gateway with --tls-cert vs nginx terminating TLS, both
# in front of the same mock upstream, same certificate (EC P-256 from a private CA made here),
# same run. Also the plain-HTTP gateway, for what TLS itself costs.
#   Benchmarks/tls.sh [seconds-per-run]
# Installs nginx and wrk from Debian packages when missing. Prints a markdown report.
source "$(dirname "$0")/lib.sh"
need_nginx_and_wrk
DUR="${1:-10}"
[ -n "${KT_BIN:-}" ] || swift build -c release --product kt >&2
KT="${KT_BIN:-$PWD/.build/release/kt}"
WORK="$(mktemp -d /tmp/kt-bench-tls.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# A private CA and a server certificate for 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=bench CA" \
    -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=bench" -keyout "$WORK/server.key" -out "$WORK/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$WORK/server.ext"
openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -days 2 \
    -extfile "$WORK/server.ext" -out "$WORK/server.pem" 2>/dev/null
export KEEPTRUSTS_CA_FILE="$WORK/ca.pem"

MOCK_PORT=41911; GW_TLS_PORT=41912; NGINX_PORT=41913; GW_PLAIN_PORT=41914
"$KT" dev mock-upstream --listen 127.0.0.1:$MOCK_PORT > "$WORK/mock.log" 2>&1 & pids+=($!)
cat > "$WORK/config.yaml" <<YAML
pack: { name: bench-passthrough, version: 1.0.0 }
providers:
  targets:
    - { id: mock, provider: openai-compatible, model: gpt-test, base_url: "http://127.0.0.1:$MOCK_PORT" }
policies: { chain: [] }
YAML
"$KT" gateway run --listen 127.0.0.1:$GW_TLS_PORT --policy-config "$WORK/config.yaml" --log-level warn \
    --tls-cert "$WORK/server.pem" --tls-key "$WORK/server.key" > "$WORK/gw-tls.log" 2>&1 & GW_PID=$!; pids+=($GW_PID)
"$KT" gateway run --listen 127.0.0.1:$GW_PLAIN_PORT --policy-config "$WORK/config.yaml" --log-level warn > "$WORK/gw.log" 2>&1 & pids+=($!)
# nginx as commonly deployed for TLS termination: Mozilla-intermediate protocols, shared session
# cache and tickets, upstream keep-alive.
cat > "$WORK/nginx.conf" <<NGINX
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  upstream mock { server 127.0.0.1:$MOCK_PORT; keepalive 128; }
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    ssl_certificate $WORK/server.pem;
    ssl_certificate_key $WORK/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;
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
for url in http://127.0.0.1:$MOCK_PORT https://127.0.0.1:$GW_TLS_PORT https://127.0.0.1:$NGINX_PORT http://127.0.0.1:$GW_PLAIN_PORT; do
  for _ in $(seq 100); do curl -sf --cacert "$WORK/ca.pem" "$url/v1/models" >/dev/null && break; sleep 0.1; done
done

cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"gpt-test","messages":[{"role":"user","content":"Say hello in one short sentence."}]}'
wrk.headers["Content-Type"] = "application/json"
LUA
cpu_ticks() { local total=0; for p in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $total; }
nginx_pids() { pgrep -f "nginx: (master|worker) process" -d ' '; }
run_wrk() { # url -> "rps p99 requests"
  wrk -t2 -c64 -d"${DUR}s" --latency -s "$WORK/post.lua" "$1/v1/chat/completions" > "$WORK/wrk.out"
  echo "$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out") $(awk '$1=="99%" {print $2}' "$WORK/wrk.out") $(awk '/requests in/ {print $1}' "$WORK/wrk.out")"
}
handshakes() { # port flags -> new connections per second (full handshakes, or -reuse for resumed)
  openssl s_time -connect "127.0.0.1:$1" $2 -time "$DUR" -CAfile "$WORK/ca.pem" 2>/dev/null \
    | awk '/connections in [0-9]+ real seconds/ { printf "%.0f", $1 / $4; exit }'
}
for url in https://127.0.0.1:$GW_TLS_PORT https://127.0.0.1:$NGINX_PORT; do wrk -t1 -c8 -d1s -s "$WORK/post.lua" "$url/v1/chat/completions" >/dev/null; done

np="$(nginx_pids)"; n0=$(cpu_ticks $np)
read -r nginx_rps nginx_p99 nginx_n <<<"$(run_wrk https://127.0.0.1:$NGINX_PORT)"
n1=$(cpu_ticks $np)
g0=$(cpu_ticks $GW_PID)
read -r gw_rps gw_p99 gw_n <<<"$(run_wrk https://127.0.0.1:$GW_TLS_PORT)"
g1=$(cpu_ticks $GW_PID)
read -r plain_rps plain_p99 _ <<<"$(run_wrk http://127.0.0.1:$GW_PLAIN_PORT)"
tick=$(getconf CLK_TCK)
nginx_cpu_us=$(awk -v d=$((n1-n0)) -v n="$nginx_n" -v t="$tick" 'BEGIN { printf "%.1f", d / t * 1e6 / n }')
gw_cpu_us=$(awk -v d=$((g1-g0)) -v n="$gw_n" -v t="$tick" 'BEGIN { printf "%.1f", d / t * 1e6 / n }')

nginx_hs=$(handshakes $NGINX_PORT -new); gw_hs=$(handshakes $GW_TLS_PORT -new)
nginx_re=$(handshakes $NGINX_PORT -reuse); gw_re=$(handshakes $GW_TLS_PORT -reuse)

bench_p99() { "$KT" bench --target "$1" --concurrency 1 --requests 3000 --model gpt-test --json \
    | python3 -c "import json,sys; print(json.load(sys.stdin)['latency_ms']['p99'])"; }
direct_c1=$(bench_p99 http://127.0.0.1:$MOCK_PORT)
nginx_c1=$(bench_p99 https://127.0.0.1:$NGINX_PORT)
gw_c1=$(bench_p99 https://127.0.0.1:$GW_TLS_PORT)
plain_c1=$(bench_p99 http://127.0.0.1:$GW_PLAIN_PORT)
gw_rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$GW_PID/status)
cat <<REPORT
| measure (wrk -t2 -c64 -d${DUR}s over TLS, keep-alive; openssl s_time ${DUR}s; kt bench c=1) | nginx TLS → mock | kt gateway TLS | kt gateway plain HTTP |
|---|---|---|---|
| throughput, req/s (c=64) | $nginx_rps | $gw_rps | $plain_rps |
| p99 latency (c=64) | $nginx_p99 | $gw_p99 | $plain_p99 |
| full handshakes per second (s_time -new) | $nginx_hs | $gw_hs | |
| resumed handshakes per second (s_time -reuse) | $nginx_re | $gw_re | |
| CPU time per request over TLS, µs | $nginx_cpu_us | $gw_cpu_us | |
| p99 latency c=1, ms (mock direct: $direct_c1) | $nginx_c1 (+$(awk -v a="$nginx_c1" -v b="$direct_c1" 'BEGIN{printf "%.3f", a-b}')) | $gw_c1 (+$(awk -v a="$gw_c1" -v b="$direct_c1" 'BEGIN{printf "%.3f", a-b}')) | $plain_c1 (+$(awk -v a="$plain_c1" -v b="$direct_c1" 'BEGIN{printf "%.3f", a-b}')) |
| gateway peak RSS (VmHWM) | | $((gw_rss_kb / 1024)) MB | |
REPORT
