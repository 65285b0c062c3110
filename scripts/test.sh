#!/usr/bin/env bash
# The test command: installs what is missing (scripts/setup.sh), then runs the whole test suite. The integration
# tests start their own ddapm-test-agent from .venv on free ports and a temporary unix socket.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh packages
# The build does not need .venv and the tests do: on a fresh machine it is made (mostly a wait on PyPI) while the
# build runs. Waited for even when the build fails, so that no half-made .venv is left behind.
scripts/setup.sh venv &
venv_setup=$!
build_status=0
swift build --build-tests || build_status=$?
wait "$venv_setup" || { echo "test.sh: scripts/setup.sh venv failed" >&2; exit 1; }
[ "$build_status" -eq 0 ] || exit "$build_status"
swift test --skip-build "$@"
