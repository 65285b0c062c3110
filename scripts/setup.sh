#!/usr/bin/env bash
# Installs what building, testing and the demo need on a fresh Debian machine, and nothing that is already there:
#  - Debian packages: libmsgpack-dev (msgpack-c), liburing-dev, python3-venv;
#  - .venv/ with the official Datadog test agent (ddapm-test-agent), msgpack (an independent decoder for tests) and
#    ddtrace 4.x (dd-trace-py, the reference tracer of the propagation interoperability tests).
#
#   scripts/setup.sh [all|packages|venv]     (default: all)
#
# `packages` is what building needs. `venv` (which needs the packages) is what running the tests and the demo
# needs; it is mostly a wait on PyPI, so scripts/test.sh runs it while the build runs. Never run two of `venv` at
# once: both would write .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

install_packages() {
    local missing=()
    for package in libmsgpack-dev liburing-dev python3-venv; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "setup: installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

make_venv() {
    if [ ! -x .venv/bin/ddapm-test-agent ] || ! .venv/bin/python -c "import msgpack" 2>/dev/null; then
        echo "setup: creating .venv with ddapm-test-agent and msgpack"
        python3 -m venv .venv
        .venv/bin/pip install --quiet --disable-pip-version-check ddapm-test-agent msgpack
    fi
    # Checked through the package metadata: importing ddtrace itself takes about a second.
    if ! .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(not m.version('ddtrace').startswith('4.'))" \
        2>/dev/null; then
        echo "setup: installing ddtrace 4.x into .venv"
        .venv/bin/pip install --quiet --disable-pip-version-check "ddtrace>=4,<5"
    fi
}

case "${1:-all}" in
    all) install_packages; make_venv ;;
    packages) install_packages ;;
    venv) make_venv ;;
    *) echo "usage: $0 [all|packages|venv]" >&2; exit 64 ;;
esac
