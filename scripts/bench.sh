#!/usr/bin/env bash
# `make bench`: builds and runs the whole benchmark suite in one go, then prints the summary table.
#
#   1. Benchmarks/ (package-benchmark): SpanLifecycle (native API, C floor, contention), Encoder, Pipeline;
#   2. Benchmarks/Peers/: the same span workload through swift-otel and swift-distributed-tracing's NoOpTracer,
#      next to ours and the floor, in one process;
#   3. Python ddtrace (PyPI, in Benchmarks/.venv-ddtrace) through Benchmarks/scripts/ddtrace_bench.py;
#   4. Benchmarks/scripts/bench_table.py reads the exports and prints one table (also table.md, summary.json).
#
# Results go to Benchmarks/.results/<timestamp>/ (Benchmarks/.results/latest points to the last run).
# Environment: BENCH_SKIP_PEERS=1 skips steps 2-3; BENCH_FILTER=<regex> runs only matching benchmarks.
# The first run builds swift-otel (a few minutes) and installs ddtrace from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

stamp=$(date +%Y%m%d-%H%M%S)
results="$root/Benchmarks/.results/$stamp"
mkdir -p "$results/main" "$results/peers"
ln -sfn "$stamp" "$root/Benchmarks/.results/latest"

filter=()
[ -n "${BENCH_FILTER:-}" ] && filter=(--filter "$BENCH_FILTER")

python3 - "$results/meta.json" <<'PY'
import json, os, platform, subprocess, sys, datetime
def run(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return ""
cpu = next((line.split(":", 1)[1].strip() for line in run("lscpu").splitlines() if line.startswith("Model name")), platform.processor())
meta = {
    "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
    "commit": run("git", "rev-parse", "--short", "HEAD") + (" (+ local changes)" if run("git", "status", "--porcelain") else ""),
    "cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
    "swift": run("swift", "--version").splitlines()[0] if run("swift", "--version") else "",
    "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
}
json.dump(meta, open(sys.argv[1], "w"), indent=2)
PY

status=0
echo "== Benchmarks (SpanLifecycle, Encoder, Pipeline)"
# The Pipeline benchmark appends the tracer's drop counters of each paced rate that lost spans here (the benchmark
# runner does not pass a benchmark's stderr on); the summary table shows where the spans were lost.
export PIPELINE_DROPS_LOG="$results/pipeline-drops.log"
(cd Benchmarks && swift package --allow-writing-to-directory "$results/main" benchmark \
    --format histogramSamples --path "$results/main" --no-progress "${filter[@]}") 2>&1 \
    | grep -v '^Writing to ' | tee "$results/main.log" || status=$?

if [ -z "${BENCH_SKIP_PEERS:-}" ]; then
    echo "== Peers (swift-otel, NoOpTracer, ours, floor)"
    (cd Benchmarks/Peers && swift package --allow-writing-to-directory "$results/peers" benchmark \
        --format histogramSamples --path "$results/peers" --no-progress "${filter[@]}") 2>&1 \
        | grep -v '^Writing to ' | tee "$results/peers.log" || status=$?

    echo "== Python ddtrace"
    venv=Benchmarks/.venv-ddtrace
    if ! "$venv/bin/python" -c "import ddtrace" 2>/dev/null; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check ddtrace
    fi
    "$venv/bin/python" Benchmarks/scripts/ddtrace_bench.py --out "$results/ddtrace.json" || status=$?
fi

echo "== Summary ($results)"
python3 Benchmarks/scripts/bench_table.py "$results"
exit $status
