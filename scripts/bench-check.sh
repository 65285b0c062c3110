#!/usr/bin/env bash
# CI allocation check: runs ONLY the span-lifecycle benchmarks of the native API with only the malloc metric,
# and compares them with the committed thresholds in Benchmarks/Thresholds/ (p90 mallocs per 1000-span batch,
# recorded as 0, tolerance 0). It builds the Benchmarks package only: no peers, no swift-otel.
# Exit status: 0 when no allocation regression (package-benchmark's "improvement" status 4 also passes).
set -uo pipefail
cd "$(dirname "$0")/../Benchmarks"
swift package benchmark thresholds check --target '^SpanLifecycle$' --filter 'native\..*' \
    --metric mallocCountTotal --no-progress
status=$?
if [ "$status" -eq 4 ]; then
    echo "bench-check: improvements only (update the thresholds with make bench-thresholds)"
    status=0
fi
[ "$status" -eq 0 ] && echo "bench-check: no allocation regression" || echo "bench-check: FAILED (status $status)"
exit "$status"
