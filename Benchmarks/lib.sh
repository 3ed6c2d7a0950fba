# Shared set-up of the fleet benchmarks (sourced): a release kt, a scratch directory removed on
# exit with every process started, and a control plane whose admin token is exported.
#   bench_setup NAME; start_control_plane PORT; wait_registered N; need_nginx_and_wrk
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap.sh

need_nginx_and_wrk() { # the comparison benchmarks run nginx and wrk from Debian packages
    if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
        local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
        $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx-light wrk >/dev/null
    fi
}

bench_setup() { # name   (KT_BIN=path/to/kt measures another build)
    [ -n "${KT_BIN:-}" ] || swift build -c release --product kt >&2
    KT="${KT_BIN:-$PWD/.build/release/kt}"
    WORK="$(mktemp -d "/tmp/kt-bench-$1.XXXXXX")"
    ulimit -n "$(ulimit -Hn)"
    pids=()
    trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
}

start_control_plane() { # port; sets CP_PID and exports KEEPTRUSTS_API_URL/TOKEN
    "$KT" control-plane run --listen "127.0.0.1:$1" --data "$WORK/cp" --log-level warn >"$WORK/cp.out" 2>"$WORK/cp.err" & pids+=($!)
    CP_PID=$!
    for _ in $(seq 100); do [ -s "$WORK/cp/admin-token" ] && curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && break; sleep 0.1; done
    export KEEPTRUSTS_API_URL="http://127.0.0.1:$1" KEEPTRUSTS_API_TOKEN="$(cat "$WORK/cp/admin-token")"
}

wait_registered() { # count
    local n=0
    for _ in $(seq 600); do
        n=$("$KT" gateway list --json | grep -c '"id"' || true)
        [ "$n" -ge "$1" ] && break
        sleep 0.2
    done
    echo "registered: $n gateways"
}
