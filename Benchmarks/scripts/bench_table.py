#!/usr/bin/env python3
"""Reads one `make bench` run and prints the summary table (and writes table.md and summary.json next to it).

Input: a results directory written by scripts/bench.sh:
  main/   package-benchmark `--format histogramSamples` exports of the Benchmarks package
          (SpanLifecycle, Encoder, Pipeline targets), one file per benchmark and metric:
          <baseline>.<Target>.<benchmark>.<metric>.histogram.samples.tsv (one raw sample per line, per iteration)
  peers/  the same for the Benchmarks/Peers package (Peers target)
  ddtrace.json   output of Benchmarks/scripts/ddtrace_bench.py (optional)
  meta.json      machine and run facts written by bench.sh (optional)

The samples are raw per-iteration values. Each benchmark's iteration covers a known number of spans (its
package-benchmark scaling factor; see SPANS_PER_ITERATION), which this script divides by, so every figure is per
span with full precision (mallocs/span included).

Usage: bench_table.py RESULTS_DIR
"""

import glob
import json
import math
import os
import re
import sys

# Spans covered by one iteration of each benchmark (= its scaling factor, times spans per unit of work).
SPANS_PER_ITERATION = [
    (r"^floor\.c$", 1_000_000),
    (r"^native\.nested5$", 5_000),
    (r"^pipeline\.", 1),
    (r".*", 1_000),
]

FILE_RE = re.compile(r"^[^.]+\.(?P<target>[A-Za-z0-9_]+)\.(?P<bench>.+)\.(?P<metric>[A-Za-z0-9_]+)\.histogram\.samples\.tsv$")


UNITS = {"ns": 1, "μs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "#": 1}


def unit_multiplier(header):
    units = re.findall(r"\(([^()]*)\)", header)
    return UNITS.get(units[-1].strip(), 1) if units else 1


def spans_per_iteration(bench):
    for pattern, count in SPANS_PER_ITERATION:
        if re.match(pattern, bench):
            return count
    return 1


def load(directory):
    """{(target, bench): {metric: sorted samples}}"""
    results = {}
    for path in glob.glob(os.path.join(directory, "*.histogram.samples.tsv")):
        match = FILE_RE.match(os.path.basename(path))
        if not match:
            continue
        values = []
        with open(path) as handle:
            # The header is "<metric description> (<unit>)"; samples are normalized to that unit (time units for
            # time metrics; K/M/G multiples, chosen by magnitude, for counts and custom metrics).
            multiplier = unit_multiplier(next(handle, ""))
            for line in handle:
                line = line.strip()
                if line:
                    values.append(float(line) * multiplier)
        values.sort()
        results.setdefault((match["target"], match["bench"]), {})[match["metric"]] = values
    return results


def pct(values, p):
    if not values:
        return math.nan
    rank = max(0, min(len(values) - 1, math.ceil(p / 100 * len(values)) - 1))
    return values[rank]


def median(values):
    return pct(values, 50)


class Run:
    def __init__(self, results, target_filter=None):
        self.results = results

    def get(self, bench, metric, target=None):
        for (target_name, name), metrics in self.results.items():
            if name == bench and (target is None or target == target_name) and metric in metrics:
                return metrics[metric]
        return None

    def per_span(self, bench, metric, p):
        values = self.get(bench, metric)
        if values is None:
            return math.nan
        return pct(values, p) / spans_per_iteration(bench)


# The tracer's drop counters (`DDTracer.counters.dropped…`), as the Pipeline benchmark logs them.
DROP_REASON_NAMES = {
    "pool": "pool exhausted", "shutdown": "after shutdown", "buffer": "send buffer full", "send": "send failed",
    "rejected": "rejected by the agent", "encoding": "encoding failed", "filters": "filters", "sampling": "sampling",
}


def fmt(value, digits=1):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, str):
        return value
    if abs(value) >= 1e6:
        return f"{value / 1e6:.{max(digits, 2)}f} M"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def ratio(a, b):
    if a is None or b is None or math.isnan(a) or math.isnan(b) or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def markdown_table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    directory = sys.argv[1]
    main_run = Run(load(os.path.join(directory, "main")))
    peers = Run(load(os.path.join(directory, "peers")))
    ddtrace = None
    if os.path.exists(os.path.join(directory, "ddtrace.json")):
        with open(os.path.join(directory, "ddtrace.json")) as handle:
            ddtrace = json.load(handle)
    meta = {}
    if os.path.exists(os.path.join(directory, "meta.json")):
        with open(os.path.join(directory, "meta.json")) as handle:
            meta = json.load(handle)

    summary = {"meta": meta, "spans": [], "contention": {}, "encoder": [], "pipeline": {}, "targets": []}
    out = []

    # ---- Span cost: one table, ratios to the floor of the same process run and to our native API ----
    floor_main = main_run.per_span("floor.c", "wallClock", 50)
    floor_peers = peers.per_span("floor.c", "wallClock", 50)
    ours = peers.per_span("native.startSpan2Tags", "wallClock", 50)
    if math.isnan(ours):
        ours = main_run.per_span("native.childSpan2Tags", "wallClock", 50)

    span_rows = []

    def add(run, floor, label, bench, workload, metric="wallClock", tracer="", peer=False):
        med = run.per_span(bench, metric, 50)
        if math.isnan(med):
            return
        p99 = run.per_span(bench, metric, 99)
        mallocs = run.per_span(bench, "mallocCountTotal", 50)
        entry = {
            "label": label, "tracer": tracer, "benchmark": bench, "workload": workload, "ns_median": med,
            "ns_p99": p99, "mallocs_per_span": mallocs, "ratio_floor": med / floor if floor else None,
            "ratio_ours": med / ours if peer and ours else None,
        }
        summary["spans"].append(entry)
        span_rows.append([
            label, workload, fmt(med), fmt(p99), fmt(mallocs, 2), ratio(med, floor),
            ratio(med, ours) if peer else "",
        ])

    add(main_run, floor_main, "C floor (ddtrace_floor_spans)", "floor.c", "2 clock reads, id, 2 tags, ring publish", tracer="floor")
    add(main_run, floor_main, "dd-trace native: root span", "native.rootSpan", "root span, start+finish", tracer="ours")
    add(main_run, floor_main, "dd-trace native: child span", "native.childSpan2Tags", "child + 2 tags + 1 metric", tracer="ours")
    add(main_run, floor_main, "dd-trace native: child, inherited service", "native.childSpan2Tags.inheritedService", "child + 2 tags + 1 metric, parent's own 25-byte service", tracer="ours")
    add(main_run, floor_main, "dd-trace native: trace { }", "native.traceClosure2Tags", "scoped child + 2 tags + 1 metric", tracer="ours")
    add(main_run, floor_main, "dd-trace native: 5-deep nesting", "native.nested5", "per span of a 5-span tree", tracer="ours")
    add(main_run, floor_main, "dd-trace native: finish on other thread", "native.crossThreadFinish", "child + 2 tags + 1 metric; start+finish loops only", metric="startPlusRemoteFinish", tracer="ours")
    add(peers, floor_peers, "C floor (peers run)", "floor.c", "same C loop, in the peers process", tracer="floor")
    add(peers, floor_peers, "dd-trace native (peers run)", "native.startSpan2Tags", "child + 2 tags, start+finish", tracer="ours", peer=True)
    add(peers, floor_peers, "dd-trace native trace { } (peers run)", "native.trace2Tags", "scoped child + 2 tags", tracer="ours", peer=True)
    add(peers, floor_peers, "swift-distributed-tracing NoOpTracer: startSpan", "noop.startSpan2Attributes", "child + 2 attributes + end", tracer="noop", peer=True)
    add(peers, floor_peers, "swift-distributed-tracing NoOpTracer: withSpan", "noop.withSpan2Attributes", "scoped child + 2 attributes", tracer="noop", peer=True)
    add(peers, floor_peers, "swift-otel 1.6.0: startSpan", "otel.startSpan2Attributes", "child + 2 attributes + end", tracer="otel", peer=True)
    add(peers, floor_peers, "swift-otel 1.6.0: withSpan", "otel.withSpan2Attributes", "scoped child + 2 attributes", tracer="otel", peer=True)
    if ddtrace:
        med, p99 = ddtrace["ns_per_span_median"], ddtrace["ns_per_span_p99"]
        label = f"Python ddtrace {ddtrace.get('ddtrace_version', '')} (CPython {ddtrace.get('python', '')})"
        summary["spans"].append({
            "label": label, "tracer": "ddtrace-py", "benchmark": "ddtrace_bench.py", "workload": ddtrace.get("workload", ""),
            "ns_median": med, "ns_p99": p99, "mallocs_per_span": None,
            "ratio_floor": med / floor_peers if floor_peers else None, "ratio_ours": med / ours if ours else None,
        })
        span_rows.append([label, "child + 2 tags, start+finish", fmt(med), fmt(p99), "n/a", ratio(med, floor_peers), ratio(med, ours)])

    out.append("## Span cost (ns per span; ratios use medians; floor = the C loop in the same process)\n")
    out.append(markdown_table(
        ["tracer / API", "workload", "ns/span median", "ns/span p99", "mallocs/span", "× floor", "× ours"],
        span_rows))
    out.append(
        "\n`× ours` = median / the median of `dd-trace native (peers run)` (same workload, same process). "
        "p99 is over batches of 1000 spans (the C floor: batches of 10^6).")

    # ---- Contention ----
    rows = []
    one = main_run.per_span("contention.1thread", "nsPerSpanPerThread", 50)
    for bench, label in [
        ("contention.1thread", "1 thread"), ("contention.2threads", "2 threads, own traces"),
        ("contention.2threads.sharedTrace", "2 threads, one shared trace"),
    ]:
        wall = main_run.per_span(bench, "nsPerSpanPerThread", 50)
        if math.isnan(wall):
            continue
        wall99 = main_run.per_span(bench, "nsPerSpanPerThread", 99)
        cpu = main_run.per_span(bench, "cpuNsPerSpanPerThread", 50)
        summary["contention"][bench] = {"ns_median": wall, "ns_p99": wall99, "cpu_ns_median": cpu}
        rows.append([label, fmt(wall), fmt(wall99), fmt(cpu), ratio(wall, one)])
    if rows:
        out.append("\n## Contention (child span + 2 tags + 1 metric, per thread)\n")
        out.append(markdown_table(["threads", "wall ns/span median", "p99", "thread-CPU ns/span median", "× 1 thread"], rows))

    # ---- Encoder ----
    rows = []
    for (target, bench), metrics in sorted(main_run.results.items()):
        if not bench.startswith("encoder."):
            continue
        ns = main_run.per_span(bench, "wallClock", 50)
        p99 = main_run.per_span(bench, "wallClock", 99)
        size = main_run.per_span(bench, "payloadBytes", 50)
        mallocs = main_run.per_span(bench, "mallocCountTotal", 50)
        summary["encoder"].append({"benchmark": bench, "ns_median": ns, "ns_p99": p99, "spans_per_second": 1e9 / ns, "bytes_per_span": size, "mallocs_per_span": mallocs})
        rows.append([bench, fmt(ns), fmt(p99), fmt(1e9 / ns), fmt(size), fmt(mallocs, 2)])
    if rows:
        out.append("\n## Encoder (v0.4 msgpack, spans with 5 meta tags + 2 metrics, payloads of 1000 spans)\n")
        out.append(markdown_table(["benchmark", "ns/span median", "p99", "spans/s (median)", "bytes/span", "mallocs/span"], rows))

    # ---- The agent stand-ins' payload check (harness cost, on the same 2 vCPUs as the pipeline) ----
    rows = []
    for (target, bench), metrics in sorted(main_run.results.items()):
        if not bench.startswith("payloadCheck."):
            continue
        ns = main_run.per_span(bench, "wallClock", 50)
        summary.setdefault("payload_check", []).append({"benchmark": bench, "ns_median": ns})
        rows.append([bench, fmt(ns), fmt(main_run.per_span(bench, "wallClock", 99))])
    if rows:
        out.append("\n## Agent stand-in's payload check (benchmark harness; it shares the machine with the pipeline)\n")
        out.append(markdown_table(["benchmark", "ns/span median", "p99"], rows))

    # ---- Pipeline ----
    burst = main_run.get("pipeline.burst", "spansPerSecond")
    if burst:
        summary["pipeline"]["burst"] = {
            "spans_per_second_median": median(burst),
            "flusher_cpu_ms_per_million": median(main_run.get("pipeline.burst", "flusherCPUNsPerSpan") or [math.nan]),
            "spans_lost_max": max(main_run.get("pipeline.burst", "spansLost") or [0]),
        }
    paced = []
    for (target, bench), metrics in main_run.results.items():
        if bench.startswith("pipeline.paced."):
            label = bench.split(".")[-1]
            rate = float(label[:-1]) * (1e6 if label.endswith("M") else 1e3)
            paced.append((rate, label, metrics))
    paced.sort()
    # Where the spans were lost: the Pipeline benchmark appends the tracer's counters of each paced rate that lost
    # spans to pipeline-drops.log (scripts/bench.sh names it): the drop reasons with a non-zero count.
    drop_reasons = {}
    drops_log = os.path.join(directory, "pipeline-drops.log")
    if os.path.exists(drops_log):
        for line in open(drops_log):
            match = re.match(r"pipeline\.paced\.(\w+):.*dropped\{([^}]*)\}", line)
            if match:
                counts = [pair.split("=") for pair in match.group(2).split()]
                drop_reasons[match.group(1)] = ", ".join(
                    f"{DROP_REASON_NAMES.get(name, name)} {fmt(float(count), 0)}" for name, count in counts if count != "0")
    rows = []
    loss_onset = None
    max_zero_loss = None
    for rate, label, metrics in paced:
        achieved = median(metrics.get("achievedSpansPerSecond", [math.nan]))
        lost = median(metrics.get("spansLost", [math.nan]))
        cores = median(metrics.get("flusherMilliCores", [math.nan])) / 1000
        cpu_per_span = median(metrics.get("flusherCPUNsPerSpan", [math.nan]))
        summary["pipeline"].setdefault("paced", []).append({"target_rate": rate, "achieved": achieved, "lost": lost, "flusher_cores": cores, "flusher_cpu_ms_per_million": cpu_per_span})
        if lost > 0 and loss_onset is None:
            loss_onset = rate
        if lost == 0 and loss_onset is None:
            max_zero_loss = achieved
        rows.append([label, fmt(achieved), fmt(lost, 0), drop_reasons.get(label, "–" if lost == 0 else "not recorded"), f"{cores:.3f}", fmt(cpu_per_span)])
    summary["pipeline"]["loss_onset_rate"] = loss_onset
    summary["pipeline"]["max_zero_loss_rate"] = max_zero_loss
    if burst or rows:
        out.append("\n## Pipeline (app thread → ring → flusher → encoder → unix-socket HTTP → in-process agent stand-in that decodes every payload)\n")
        if burst:
            b = summary["pipeline"]["burst"]
            out.append(
                f"Burst of 100 000 spans, end to end: **{fmt(b['spans_per_second_median'])} spans/s** (median), "
                f"flusher CPU {fmt(b['flusher_cpu_ms_per_million'])} ms per million spans, spans lost (max) {b['spans_lost_max']:.0f}.\n")
        if rows:
            out.append("Paced producer, default settings (pool 16384, ring 16384, flush 1 s), 2 s per rate:\n")
            out.append(markdown_table(["target rate", "achieved spans/s", "spans lost", "dropped where", "flusher cores", "flusher CPU ms / M spans"], rows))
            out.append(
                f"\nLoss starts at: **{fmt(loss_onset) + ' spans/s' if loss_onset else 'no loss up to the highest rate tried'}**; "
                f"highest zero-loss rate achieved: {fmt(max_zero_loss)} spans/s.")

    # ---- Targets ----
    def target(name, met, detail):
        summary["targets"].append({"target": name, "met": met, "detail": detail})
        return [name, "met" if met else ("MISSED" if met is not None else "not measured"), detail]

    rows = []
    child = main_run.per_span("native.childSpan2Tags", "wallClock", 50)
    child_mallocs = main_run.get("native.childSpan2Tags", "mallocCountTotal")
    if not math.isnan(child) and floor_main:
        rows.append(target("child span with 2 tags ≤ 1.5× floor", child / floor_main <= 1.5, f"{child:.1f} ns = {child / floor_main:.2f}× floor ({floor_main:.1f} ns)"))
    if child_mallocs:
        nonzero = sum(1 for value in child_mallocs if value > 0)
        rows.append(target("0 mallocs after warm-up", median(child_mallocs) == 0 and pct(child_mallocs, 90) == 0, f"median {median(child_mallocs):.0f}, p90 {pct(child_mallocs, 90):.0f} mallocs per 1000-span batch; {nonzero} of {len(child_mallocs)} batches had any"))
    two = summary["contention"].get("contention.2threads")
    if two and one:
        rows.append(target("2 threads within 1.3× of 1 thread", two["ns_median"] / one <= 1.3, f"{two['ns_median']:.1f} vs {one:.1f} ns/span per thread = {two['ns_median'] / one:.2f}× (thread CPU: {two['cpu_ns_median']:.1f} vs {summary['contention']['contention.1thread']['cpu_ns_median']:.1f})"))
    if summary["encoder"]:
        best = next((e for e in summary["encoder"] if e["benchmark"].endswith("traces10")), summary["encoder"][0])
        rows.append(target("encoder ≥ 10 M spans/s", best["spans_per_second"] >= 10e6, f"{best['benchmark']}: {best['spans_per_second'] / 1e6:.2f} M spans/s ({best['ns_median']:.1f} ns/span, {best['bytes_per_span']:.0f} B/span)"))
    if paced:
        at2m = next((p for p in summary["pipeline"]["paced"] if p["target_rate"] == 2e6), None)
        if at2m:
            rows.append(target("pipeline ≥ 2 M spans/s with zero loss", at2m["lost"] == 0 and at2m["achieved"] >= 1.95e6, f"paced 2M: achieved {at2m['achieved'] / 1e6:.2f} M/s, lost {at2m['lost']:.0f}; loss starts at {fmt(loss_onset) if loss_onset else '> max tried'}"))
        at500 = next((p for p in summary["pipeline"]["paced"] if p["target_rate"] == 5e5), None)
        if at500:
            rows.append(target("flusher ≤ 0.3 core at 500k spans/s", at500["flusher_cores"] <= 0.3, f"{at500['flusher_cores']:.3f} core"))
    otel = next((e for e in summary["spans"] if e["benchmark"] == "otel.startSpan2Attributes"), None)
    if otel and ours:
        rows.append(target("≥ 10× faster than swift-otel", otel["ns_median"] / ours >= 10, f"swift-otel startSpan {otel['ns_median']:.0f} ns vs ours {ours:.1f} ns = {otel['ns_median'] / ours:.1f}×"))
    if rows:
        out.append("\n## Targets\n")
        out.append(markdown_table(["target", "status", "measured"], rows))

    if meta:
        out.insert(0, "Run: " + ", ".join(f"{k} {v}" for k, v in meta.items()) + "\n")
    text = "\n".join(out) + "\n"
    print(text)
    with open(os.path.join(directory, "table.md"), "w") as handle:
        handle.write(text)
    with open(os.path.join(directory, "summary.json"), "w") as handle:
        json.dump(summary, handle, indent=2, default=lambda o: None)


if __name__ == "__main__":
    main()
