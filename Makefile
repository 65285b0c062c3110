# Benchmark entry points. The library itself builds and tests with SwiftPM directly (see README).
.PHONY: bench bench-check bench-thresholds perf-chart

# Builds and runs the whole benchmark suite (ours, the C floor, contention, encoder, pipeline, swift-otel,
# NoOpTracer, Python ddtrace) and prints one summary table. Results: Benchmarks/.results/latest/.
bench:
	scripts/bench.sh

# CI check: only the allocation thresholds of the span-lifecycle benchmarks (no peers, no swift-otel).
bench-check:
	scripts/bench-check.sh

# Re-records Benchmarks/Thresholds/ from a fresh run (review the diff before committing it).
bench-thresholds:
	scripts/bench-thresholds.sh

# Regenerates docs/perf-chart.png from the last `make bench` run.
perf-chart:
	scripts/perf_chart.py Benchmarks/.results/latest/summary.json docs/perf-chart.png
