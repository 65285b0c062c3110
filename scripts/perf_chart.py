#!/usr/bin/env python3
"""Draws docs/perf-chart.png (cost per span by tracer) from a `make bench` run.

Input: the summary.json that Benchmarks/scripts/bench_table.py writes into the run's results directory
(Benchmarks/.results/latest/summary.json). Plotted: the peers comparison (same workload, same process: a child
span with 2 string tags, start+finish) plus the C floor and Python ddtrace; bars are the median ns/span on a log
scale, the thin mark is p99.

matplotlib comes from PyPI in a venv; when run with a python that lacks it, the script re-runs itself from
.venv-chart/ (creating it with `pip install matplotlib` first).

Usage: scripts/perf_chart.py [SUMMARY_JSON] [OUTPUT_PNG]
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ensure_matplotlib():
    try:
        import matplotlib  # noqa: F401
        return
    except ImportError:
        pass
    venv = os.path.join(ROOT, ".venv-chart")
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    check = subprocess.run([python, "-c", "import matplotlib"], capture_output=True)
    if check.returncode != 0:
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "matplotlib"], check=True)
    os.execv(python, [python] + sys.argv)


def main():
    ensure_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "Benchmarks/.results/latest/summary.json")
    output = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "docs/perf-chart.png")
    with open(summary_path) as handle:
        summary = json.load(handle)

    wanted = [
        ("floor.c", "floor", "C floor (physical minimum)"),
        ("native.startSpan2Tags", "ours", "dd-trace native: startSpan + 2 tags"),
        ("native.trace2Tags", "ours", "dd-trace native: trace { } + 2 tags"),
        ("noop.startSpan2Attributes", "noop", "NoOpTracer: startSpan + 2 attributes"),
        ("noop.withSpan2Attributes", "noop", "NoOpTracer: withSpan + 2 attributes"),
        ("otel.startSpan2Attributes", "otel", "swift-otel 1.6.0: startSpan + 2 attributes"),
        ("otel.withSpan2Attributes", "otel", "swift-otel 1.6.0: withSpan + 2 attributes"),
        ("ddtrace_bench.py", "ddtrace-py", "Python ddtrace: trace + 2 tags"),
    ]
    colors = {"floor": "#9e9e9e", "ours": "#632ca6", "noop": "#4e79a7", "otel": "#f28e2b", "ddtrace-py": "#59a14f"}
    spans = summary["spans"]
    # The floor row of the peers process (its label says so), not the SpanLifecycle one.
    rows = []
    for benchmark, tracer, label in wanted:
        candidates = [s for s in spans if s["benchmark"] == benchmark]
        if benchmark == "floor.c":
            candidates = [s for s in candidates if "peers" in s["label"]] or candidates
        if candidates:
            rows.append((label, tracer, candidates[0]))
    if not rows:
        sys.exit("no span rows in " + summary_path)

    ours = next((r[2]["ns_median"] for r in rows if r[2]["benchmark"] == "native.startSpan2Tags"), None)
    labels = [r[0] for r in rows][::-1]
    medians = [r[2]["ns_median"] for r in rows][::-1]
    p99s = [r[2]["ns_p99"] for r in rows][::-1]
    bar_colors = [colors[r[1]] for r in rows][::-1]

    fig, ax = plt.subplots(figsize=(10, 0.55 * len(rows) + 1.8), dpi=120)
    positions = range(len(rows))
    ax.barh(positions, medians, color=bar_colors, height=0.6, zorder=2)
    ax.scatter(p99s, positions, marker="|", s=200, color="black", zorder=3, label="p99 (batches of 1000 spans)")
    ax.set_xscale("log")
    ax.set_yticks(list(positions))
    ax.set_yticklabels(labels)
    ax.set_xlabel("ns per span (median; log scale)")
    for position, value, p99 in zip(positions, medians, p99s):
        note = f"{value:,.0f} ns" if value >= 100 else f"{value:.1f} ns"
        if ours and value != ours:
            note += f"  ({value / ours:.1f}× ours)"
        ax.text(max(value, p99) * 1.15, position, note, va="center", fontsize=8, zorder=4)
    ax.set_xlim(min(medians) * 0.5, max(max(medians), max(p99s)) * 30)
    ax.grid(axis="x", which="both", alpha=0.25, zorder=0)
    meta = summary.get("meta", {})
    subtitle = ", ".join(str(meta[k]) for k in ("cpu", "date") if k in meta)
    if "cores" in meta:
        subtitle += f", {meta['cores']} vCPUs"
    if "load average at start" in meta:
        subtitle += f", load average {meta['load average at start'].split()[0]} at start"
    ax.set_title("Cost of one span: child span with 2 string tags, start + finish\n" + subtitle, fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(output)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
