"""Reference implementation for the Swift propagation tests: dd-trace-py's HTTPPropagator (ddtrace 4.x).

Reads one batch of cases as JSON on stdin and prints one JSON result per case, in order, so the Swift tests pay
ddtrace's import time (about a second) once per batch rather than once per case:

    {"cases": [{"op": "inject", "styles": ["datadog"], "context": {...}},
               {"op": "extract", "styles": ["datadog", "tracecontext"], "extract_first": false,
                "headers": {...}}]}
    -> {"ddtrace_version": "4.16.0", "results": [{"headers": {...}, "propagation_error": null}, {...}]}

A context is {"trace_id": 32 hex digits, "span_id": 16 hex digits, "sampling_priority": int or null,
"origin": str or null, "tags": {"_dd.p.*": str}, "baggage": {str: str}, "last_parent_id": 16 hex or null,
"tracestate": other vendors' members joined with "," or null}. Ids in results use the same hex forms.
"""

import json
import os
import sys

# Set before ddtrace is imported: no telemetry, remote configuration or agent traffic from this process.
os.environ.setdefault("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false")
os.environ.setdefault("DD_REMOTE_CONFIGURATION_ENABLED", "false")
os.environ.setdefault("DD_TRACE_STARTUP_LOGS", "false")

import ddtrace  # noqa: E402
from ddtrace._trace.context import Context  # noqa: E402
from ddtrace.internal.settings._config import config  # noqa: E402
from ddtrace.propagation.http import HTTPPropagator  # noqa: E402


def configure(case):
    # In ddtrace 4.x the propagator reads these attributes of the global config on every call, so they can be
    # changed per case (the DD_TRACE_PROPAGATION_STYLE* variables are only read at import).
    styles = list(case["styles"])
    config._propagation_style_inject = styles
    config._propagation_style_extract = styles
    config._propagation_extract_first = bool(case.get("extract_first", False))


def build_context(data):
    # Sorted insertion order: the Swift tracer sorts tags and baggage by key, dd-trace-py keeps dict order.
    meta = {key: data["tags"][key] for key in sorted(data.get("tags", {}))}
    if data.get("last_parent_id"):
        meta["_dd.parent_id"] = data["last_parent_id"]
    if data.get("tracestate"):
        meta["tracestate"] = data["tracestate"]
    baggage = {key: data["baggage"][key] for key in sorted(data.get("baggage", {}))}
    return Context(
        trace_id=int(data["trace_id"], 16) or None,
        span_id=int(data["span_id"], 16) or None,
        dd_origin=data.get("origin"),
        sampling_priority=data.get("sampling_priority"),
        meta=meta,
        baggage=baggage,
        is_remote=True,
    )


def hex_id(value, width):
    return None if not value else format(value, "0%dx" % width)


def inject(case):
    context = build_context(case["context"])
    headers = {}
    HTTPPropagator.inject(context, headers)
    return {"headers": headers, "propagation_error": context._meta.get("_dd.propagation_error")}


def describe(context):
    meta = context._meta
    return {
        "trace_id": hex_id(context.trace_id, 32),
        "span_id": hex_id(context.span_id, 16),
        "sampling_priority": context.sampling_priority,
        "origin": context.dd_origin,
        "tags": {key: value for key, value in meta.items() if key.startswith("_dd.p.")},
        "propagation_error": meta.get("_dd.propagation_error"),
        "last_parent_id": meta.get("_dd.parent_id"),
        "tracestate": meta.get("tracestate"),
        "baggage": context.get_all_baggage_items(),
        "links": [
            {
                "trace_id": hex_id(link.trace_id, 32),
                "span_id": hex_id(link.span_id, 16),
                "flags": link.flags,
                "tracestate": link.tracestate,
                "attributes": dict(link.attributes),
            }
            for link in context._span_links
        ],
    }


def extract(case):
    context = HTTPPropagator.extract(case["headers"])
    # dd-trace-py returns None in one extract-first path and an empty Context() when nothing is found.
    return describe(context if context is not None else Context())


def main():
    request = json.load(sys.stdin)
    results = []
    for case in request["cases"]:
        configure(case)
        try:
            results.append(inject(case) if case["op"] == "inject" else extract(case))
        except Exception as error:  # one bad case must not hide the results of the others
            results.append({"exception": "%s: %s" % (type(error).__name__, error)})
    json.dump({"ddtrace_version": ddtrace.__version__, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
