#!/usr/bin/env bash
# The Python tools some tests drive as real clients: the official OpenAI and Anthropic SDKs and
# openapi-spec-validator. Sourced by scripts/test. Debian's own python3 refuses `pip install`
# (PEP 668, "externally managed"), so when the tools are missing and pip cannot add them, they go
# into a virtual environment under .build/python-tools whose bin/ is put first on PATH; the tests
# call `python3` through PATH and so find them. Each test skips, saying so, when its tool is absent.

kt_python_modules=(openai anthropic openapi_spec_validator)
kt_python_packages=(openai anthropic openapi-spec-validator)

kt_python_missing() {
    local missing=() i
    for i in "${!kt_python_modules[@]}"; do
        python3 -c "import ${kt_python_modules[$i]}" >/dev/null 2>&1 || missing+=("${kt_python_packages[$i]}")
    done
    echo "${missing[*]:-}"
}

kt_python_tools() {
    local venv=".build/python-tools" missing sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    if ! command -v python3 >/dev/null 2>&1; then
        { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3 >/dev/null; } \
            || { echo "test: python3 could not be installed; the SDK and OpenAPI tests will skip" >&2; return 0; }
    fi
    # A venv made by an earlier run comes first.
    [ -x "$venv/bin/python3" ] && export PATH="$PWD/$venv/bin:$PATH"
    missing=$(kt_python_missing)
    [ -z "$missing" ] && return 0
    # shellcheck disable=SC2086
    if python3 -m pip install --quiet --disable-pip-version-check $missing >/dev/null 2>&1; then
        return 0
    fi
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-venv >/dev/null; } || true
        rm -rf "$venv"
        python3 -m venv "$venv" >/dev/null 2>&1 || { echo "test: no Python venv could be made; the SDK and OpenAPI tests will skip" >&2; return 0; }
    fi
    export PATH="$PWD/$venv/bin:$PATH"
    # shellcheck disable=SC2086
    "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check $missing >/dev/null 2>&1 \
        || echo "test: could not install $missing (no network?); the tests that drive them will skip" >&2
    missing=$(kt_python_missing)
    [ -n "$missing" ] && echo "test: still missing Python packages: $missing" >&2
    return 0
}
