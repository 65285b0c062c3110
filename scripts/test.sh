#!/usr/bin/env bash
# The test command: installs what is missing (scripts/setup.sh), then runs the whole test suite. The integration
# tests start their own ddapm-test-agent from .venv on free ports and a temporary unix socket.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --build-tests
swift test --skip-build "$@"
