#!/usr/bin/env python3
"""Python ddtrace (PyPI `ddtrace`) span cost, for the peer table of `make bench`.

The workload is the one the Swift peers run: a child of an open root span, 2 string tags, started and finished
(`tracer.trace(...)`, `set_tag` x2, `finish()`). One repetition times 1000 such spans with
`time.perf_counter_ns()`; the script reports the median and p99 over the repetitions, in ns per span.

The tracer sends to an agent stand-in in a child process (a unix-socket HTTP server that discards each payload
and answers `200 {"rate_by_service":{}}`), so its writer thread does its real work. Telemetry and remote
configuration are off (they only add background network attempts here).

Usage: ddtrace_bench.py [--repetitions N] [--spans N] [--out results.json]
"""

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time

RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 22\r\n\r\n"
    b'{"rate_by_service":{}}'
)


def serve(path):
    """The agent stand-in: one connection at a time, keep-alive, Content-Length bodies."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(8)
    while True:
        conn, _ = server.accept()
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(1 << 16)
                    if not chunk:
                        raise EOFError
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                while len(buffer) < length:
                    chunk = conn.recv(1 << 20)
                    if not chunk:
                        raise EOFError
                    buffer += chunk
                buffer = buffer[length:]
                conn.sendall(RESPONSE)
        except (EOFError, ConnectionError):
            conn.close()


def percentile(sorted_values, p):
    rank = max(0, min(len(sorted_values) - 1, int(-(-p / 100 * len(sorted_values) // 1)) - 1))
    return sorted_values[rank]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repetitions", type=int, default=300)
    parser.add_argument("--spans", type=int, default=1000, help="spans per repetition")
    parser.add_argument("--warmup", type=int, default=20, help="repetitions before timing")
    parser.add_argument("--out", help="write the results as JSON here (default: stdout only)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    directory = tempfile.mkdtemp(prefix="ddtrace-bench-")
    path = os.path.join(directory, "agent.sock")
    server = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", path])
    try:
        for _ in range(200):
            if os.path.exists(path):
                break
            time.sleep(0.01)
        os.environ.update(
            {
                "DD_TRACE_AGENT_URL": "unix://" + path,
                "DD_SERVICE": "bench",
                "DD_ENV": "bench",
                "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
                "DD_REMOTE_CONFIGURATION_ENABLED": "false",
                "DD_TRACE_STATS_COMPUTATION_ENABLED": "false",
            }
        )
        import ddtrace

        try:
            from ddtrace.trace import tracer  # ddtrace >= 3
        except ImportError:  # pragma: no cover - older ddtrace
            from ddtrace import tracer

        samples = []
        for repetition in range(args.warmup + args.repetitions):
            root = tracer.trace("web.request")
            start = time.perf_counter_ns()
            for _ in range(args.spans):
                span = tracer.trace("db.query")
                span.set_tag("db.system", "postgresql")
                span.set_tag("db.name", "users")
                span.finish()
            elapsed = time.perf_counter_ns() - start
            root.finish()
            if repetition >= args.warmup:
                samples.append(elapsed / args.spans)
        tracer.flush()
        samples.sort()
        result = {
            "tracer": "dd-trace-py",
            "ddtrace_version": ddtrace.__version__,
            "python": platform.python_version(),
            "workload": "child span, 2 string tags, start+finish",
            "repetitions": args.repetitions,
            "spans_per_repetition": args.spans,
            "ns_per_span_median": round(statistics.median(samples), 1),
            "ns_per_span_p99": round(percentile(samples, 99), 1),
        }
        text = json.dumps(result, indent=2)
        print(text)
        if args.out:
            with open(args.out, "w") as out:
                out.write(text + "\n")
    finally:
        server.terminate()
        server.wait()
        try:
            os.unlink(path)
            os.rmdir(directory)
        except OSError:
            pass


if __name__ == "__main__":
    main()
