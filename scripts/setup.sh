#!/usr/bin/env bash
# Installs what building, testing and the demo need on a fresh Debian machine, and nothing that is already there:
#  - Debian packages: libmsgpack-dev (msgpack-c), liburing-dev, python3-venv;
#  - .venv/ with the official Datadog test agent (ddapm-test-agent), msgpack (an independent decoder for tests) and
#    ddtrace 4.x (dd-trace-py, the reference tracer of the propagation interoperability tests).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for package in libmsgpack-dev liburing-dev python3-venv; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

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
