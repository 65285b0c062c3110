#!/usr/bin/env bash
# Re-records the static thresholds in Benchmarks/Thresholds/ (p90 of every metric of the span-lifecycle and
# encoder benchmarks) from a fresh run on this machine. Review the diff before committing: wall-clock values
# depend on the machine; the malloc values must stay 0. Tolerances are in the benchmark code (SpanLifecycle.swift,
# Encoder.swift).
set -euo pipefail
cd "$(dirname "$0")/../Benchmarks"
swift package --allow-writing-to-package-directory benchmark thresholds update \
    --target '^(SpanLifecycle|Encoder)$' --filter '(native|encoder)\..*' --no-progress
