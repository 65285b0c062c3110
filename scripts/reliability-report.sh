#!/usr/bin/env bash
# Regenerates docs/RELIABILITY.md from the tests: runs the fault, load, lifetime and hostile-input tests with
# DDTRACE_RELIABILITY_REPORT set, the sustained load test at full size (2 threads x 10 million spans, a release
# dd-trace) and, if present, the last fuzzing summary; then renders the rows.
#   scripts/reliability-report.sh            # full size (a release build of dd-trace takes a few minutes)
#   DDTRACE_LOAD_SPANS=1000000 scripts/reliability-report.sh   # quicker
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
swift build -c release --product dd-trace --scratch-path .build-release
release_bin=$(swift build -c release --scratch-path .build-release --show-bin-path)
swift build --build-tests
DDTRACE_RELIABILITY_REPORT="$rows" DDTRACE_LOAD_SPANS="${DDTRACE_LOAD_SPANS:-20000000}" \
    DDTRACE_BENCH_BINARY="$release_bin/dd-trace" \
    swift test --skip-build --filter \
    'ReliabilityTests|AgentFaultTests|AgentIntegrationTests|PropagationMalformedTests|ConfigurationInvalidValueTests|ComponentVariableInvalidValueTests|TruncationTests|SystemIdentityTests|FuzzRegression'
fuzz_summary=()
[ -f Fuzz/.results/summary.json ] && fuzz_summary=(Fuzz/.results/summary.json)
python3 scripts/render_reliability.py "$rows" docs/RELIABILITY.md "${fuzz_summary[@]}"
echo "wrote docs/RELIABILITY.md ($(grep -c '^| ' docs/RELIABILITY.md) table lines)"
