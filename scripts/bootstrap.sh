#!/usr/bin/env bash
# Installs the system packages kt builds against, when any is missing. Sourced by scripts/test
# and scripts/demo so a fresh Debian machine needs nothing else.
set -euo pipefail

kt_packages=(pkg-config libyaml-dev libssl-dev libcurl4-openssl-dev libsqlite3-dev zlib1g-dev curl openssl procps)

kt_missing() {
    local missing=()
    command -v pkg-config >/dev/null 2>&1 || { echo "${kt_packages[*]}"; return; }
    pkg-config --exists yaml-0.1 || missing+=(libyaml-dev)
    pkg-config --exists libcrypto || missing+=(libssl-dev)
    pkg-config --exists libcurl || missing+=(libcurl4-openssl-dev)
    pkg-config --exists sqlite3 || missing+=(libsqlite3-dev)
    pkg-config --exists zlib || missing+=(zlib1g-dev)
    # Commands, not libraries: the demo sends its traffic with curl; the tests also drive the
    # openssl CLI (certificates) and pgrep (procps, absent from minimal images).
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    command -v pgrep >/dev/null 2>&1 || missing+=(procps)
    echo "${missing[*]:-}"
}

missing=$(kt_missing)
if [ -n "$missing" ]; then
    echo "kt: installing system packages: $missing" >&2
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
    if [ -x /opt/swift/usr/bin/swift ]; then
        export PATH="/opt/swift/usr/bin:$PATH"
    else
        echo "kt: a Swift 6 toolchain is required (swift not found on PATH)" >&2
        exit 1
    fi
fi
