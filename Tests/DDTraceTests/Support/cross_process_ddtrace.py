"""The other process of the cross-process tests: a Python service traced with ddtrace (PyPI) that reports to the
same test agent as the Swift side.

    cross_process_ddtrace.py child   < headers.json   continue the trace from these headers: one span
                                                        "python.child" (service py-svc); prints nothing
    cross_process_ddtrace.py parent                     start a trace "python.parent" and print the headers it
                                                        injects (datadog + tracecontext) as JSON, then finish it

DD_TRACE_AGENT_URL must point at the test agent.
"""
import json
import os
import sys

os.environ.setdefault("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false")
os.environ.setdefault("DD_REMOTE_CONFIGURATION_ENABLED", "false")
os.environ.setdefault("DD_TRACE_STARTUP_LOGS", "false")
os.environ.setdefault("DD_SERVICE", "py-svc")

from ddtrace.propagation.http import HTTPPropagator  # noqa: E402
from ddtrace.trace import tracer  # noqa: E402

mode = sys.argv[1]
if mode == "child":
    headers = json.load(sys.stdin)
    context = HTTPPropagator.extract(headers)
    tracer.context_provider.activate(context)
    with tracer.trace("python.child", service="py-svc", resource="GET /python") as span:
        span.set_tag("side", "python")
elif mode == "parent":
    with tracer.trace("python.parent", service="py-svc", resource="POST /python") as span:
        headers = {}
        HTTPPropagator.inject(span.context, headers)
        print(json.dumps(headers), flush=True)
        # Wait for the Swift side to finish its part before closing the root.
        sys.stdin.read()
tracer.flush()
tracer.shutdown()
