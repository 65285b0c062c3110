#!/usr/bin/env bash
# End-to-end test of the example: builds hummingbird-service (debug: this test checks behaviour, not speed, and a
# debug build of Hummingbird, NIO and AsyncHTTPClient took 354 s on a 2-vCPU machine where the release build took
# several minutes more; scripts/load-test.sh builds release), starts the official Datadog test agent,
# a backend and a frontend, sends requests, stops both services with SIGTERM (graceful shutdown flushes the
# tracer), and checks what the agent received: one distributed trace of four spans with the right parentage and
# tags, no trace for /health, obfuscated query strings, header tags, and log lines whose dd.trace_id/dd.span_id
# are those of the spans they were written in.
#
# Usage: Examples/HummingbirdService/scripts/integration-test.sh [--build-only]     (from anywhere)
#        --build-only: build and stop (CI starts the build early, in the background; see .ci/run).
# Needs: the root package's .venv with ddapm-test-agent (scripts/setup.sh installs it), curl, python3.
set -euo pipefail
example="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$example/../.." && pwd)"
started=$(date +%s)

# Building needs only the C libraries; running needs the test agent's venv too (CI's background build must not make
# it: stage 1 does, at the same time).
if [ "${1:-}" = "--build-only" ]; then "$root/scripts/setup.sh" packages; else "$root/scripts/setup.sh"; fi
echo "integration-test: building hummingbird-service (debug; the first build of Hummingbird, NIO and AsyncHTTPClient takes minutes)"
# Without the index store (an IDE's, unused by an executable) and without debug info, Swift's or C's (this test
# reads no debugger output; a crash still shows function names). A clean build took 186 s against 240 s with only
# the index store off (2 vCPUs, 2026-11-27); the index store alone is 13 % of a clean build of the root package (79
# against 92 s). The flags are part of the build settings, so a plain `swift build` in the example rebuilds
# everything once; repeated runs of this script stay incremental.
swift build --package-path "$example" --product hummingbird-service --disable-index-store -Xswiftc -gnone -Xcc -g0 2>&1 \
    | grep -E "error|warning: .*HummingbirdService|Compiling HummingbirdService|Build complete" || true
binary="$(swift build --package-path "$example" --show-bin-path)/hummingbird-service"
[ -x "$binary" ] || { echo "integration-test: build failed"; exit 1; }
built=$(date +%s)
if [ "${1:-}" = "--build-only" ]; then
    echo "integration-test: built in $((built - started)) s"
    exit 0
fi

work="$(mktemp -d /tmp/hb-integration.XXXXXX)"
free_port() { "$root/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
agent_port=$(free_port); frontend_port=$(free_port); backend_port=$(free_port)
pids=()
# shellcheck source=../../../scripts/lib/stop.sh
. "$root/scripts/lib/stop.sh"
cleanup() {
    stop_processes "${pids[@]}"
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

ENABLED_CHECKS=trace_count_header,meta_tracer_version_header,trace_content_length \
    "$root/.venv/bin/ddapm-test-agent" --host 127.0.0.1 --port "$agent_port" --otlp-http-port "$(free_port)" \
    --otlp-grpc-port "$(free_port)" --snapshot-dir "$work" >"$work/agent.log" 2>&1 &
pids+=($!)
wait_for() { for _ in $(seq 1 300); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "integration-test: $1 did not answer"; return 1; }
wait_for "http://127.0.0.1:$agent_port/info"
curl -fsS "http://127.0.0.1:$agent_port/test/session/start?test_session_token=hummingbird" >/dev/null

common=(DD_TRACE_AGENT_URL="http://127.0.0.1:$agent_port" DD_ENV=integration DD_VERSION=1.0.0
    DD_TRACE_HEADER_TAGS="x-request-id:request.id" DD_TRACE_WRITER_INTERVAL_SECONDS=0.2)
env "${common[@]}" DD_SERVICE=hb-backend "$binary" backend --port "$backend_port" >"$work/backend.log" 2>&1 &
backend_pid=$!; pids+=($backend_pid)
env "${common[@]}" DD_SERVICE=hb-frontend "$binary" frontend --port "$frontend_port" \
    --backend "http://127.0.0.1:$backend_port" >"$work/frontend.log" 2>&1 &
frontend_pid=$!; pids+=($frontend_pid)
wait_for "http://127.0.0.1:$backend_port/health"
wait_for "http://127.0.0.1:$frontend_port/health"

answer=$(curl -fsS -H "x-request-id: req-42" "http://127.0.0.1:$frontend_port/hello/world?password=hunter2")
[ "$answer" = "Hello, world!" ] || { echo "integration-test: unexpected answer '$answer'"; exit 1; }
for _ in 1 2 3; do curl -fsS "http://127.0.0.1:$frontend_port/health" >/dev/null; done

# Graceful shutdown: SIGTERM; DDTracerService flushes before the process exits.
kill -TERM "$frontend_pid" "$backend_pid"
wait "$frontend_pid"; wait "$backend_pid"
curl -fsS "http://127.0.0.1:$agent_port/test/session/traces?test_session_token=hummingbird" >"$work/traces.json"
# The agent answers 200 when every protocol check passed, else an error status with the failures.
checks=$(curl -s -o "$work/failures.txt" -w "%{http_code}" \
    "http://127.0.0.1:$agent_port/test/trace_check/failures?test_session_token=hummingbird")
[ "$checks" = "200" ] && : >"$work/failures.txt"

python3 - "$work" <<'PY'
import json, os, re, sys
work = sys.argv[1]
spans = [s for chunk in json.load(open(f"{work}/traces.json")) for s in chunk]
failures = open(f"{work}/failures.txt").read().strip()
problems = []
def check(condition, message):
    if not condition: problems.append(message)

check(failures in ("", "{}"), f"agent protocol checks failed: {failures}")
traces = {}
for s in spans: traces.setdefault(s["trace_id"], []).append(s)
check(len(traces) == 1, f"expected 1 trace, got {len(traces)}: {[sorted(x['name'] for x in t) for t in traces.values()]}")
check(not any("/health" in s.get("meta", {}).get("http.url", "") for s in spans), "a /health span was sent")
by = {(s["service"], s["name"]): s for s in spans}
fs = by.get(("hb-frontend", "http.server.request")); fc = by.get(("hb-frontend", "http.client.request"))
bs = by.get(("hb-backend", "http.server.request")); bc = by.get(("hb-backend", "greeting.compose"))
if None in (fs, fc, bs, bc):
    print("spans:", json.dumps(spans, indent=1)); sys.exit(f"missing spans: {[k for k, v in (('frontend server', fs), ('frontend client', fc), ('backend server', bs), ('compose', bc)) if v is None]}")
check(fs.get("parent_id", 0) == 0, "frontend server span is not the root")
check(fc["parent_id"] == fs["span_id"], "client span is not a child of the frontend server span")
check(bs["parent_id"] == fc["span_id"], "backend server span is not a child of the client span (propagation)")
check(bc["parent_id"] == bs["span_id"], "native compose span is not a child of the backend server span")
m = lambda s: s.get("meta", {})
check(fs["resource"] == "GET /hello/{name}" and fs["type"] == "web", f"frontend server resource/type: {fs['resource']!r} {fs['type']!r}")
check(m(fs).get("http.method") == "GET" and m(fs).get("http.status_code") == "200", f"frontend server http tags: {m(fs)}")
check(m(fs).get("http.route") == "/hello/{name}" and m(fs).get("span.kind") == "server", f"frontend route/kind: {m(fs)}")
check(m(fs).get("http.url") == "/hello/world?<redacted>", f"frontend http.url (query obfuscated): {m(fs).get('http.url')!r}")
check(m(fs).get("request.id") == "req-42", f"header tag request.id: {m(fs)}")
check(fc["type"] == "http" and m(fc).get("span.kind") == "client", f"client type/kind: {fc['type']!r} {m(fc)}")
check(m(fc).get("http.url", "").endswith(f"/greeting/world?lang=en&<redacted>"), f"client http.url: {m(fc).get('http.url')!r}")
check(m(fc).get("http.status_code") == "200" and fc["error"] == 0, f"client status/error: {m(fc)} {fc['error']}")
check(m(bs).get("http.url") == "/greeting/world?lang=en&<redacted>", f"backend http.url: {m(bs).get('http.url')!r}")
check(bc["resource"] == "compose greeting" and m(bc).get("greeting.language") == "en", f"compose span: {bc['resource']!r} {m(bc)}")
for s in (fs, bs): check(m(s).get("env") == "integration" and m(s).get("version") == "1.0.0", f"unified service tags: {m(s)}")

tid = next((m(s)["_dd.p.tid"] for s in spans if "_dd.p.tid" in m(s)), None)
check(tid is not None, "no _dd.p.tid on the trace")
trace_hex = f"{tid}{fs['trace_id']:016x}" if tid else ""
def log_ids(name, message):
    for line in open(f"{work}/{name}.log"):
        if message in line:
            found = re.search(r"\[dd\.service=(\S*) dd\.env=(\S*) dd\.version=(\S*) dd\.trace_id=(\S+) dd\.span_id=(\d+)\]", line)
            return found.groups() if found else line.strip()
    return None
front = log_ids("frontend", "calling the backend"); back = log_ids("backend", "composed the greeting")
check(front == ("hb-frontend", "integration", "1.0.0", trace_hex, str(fs["span_id"])), f"frontend log correlation: {front} vs {trace_hex} {fs['span_id']}")
check(back == ("hb-backend", "integration", "1.0.0", trace_hex, str(bc["span_id"])), f"backend log correlation: {back} vs {trace_hex} {bc['span_id']}")
if problems:
    print("spans:", json.dumps(spans, indent=1))
    for p in problems: print("FAIL:", p)
    sys.exit(1)
print(f"one trace {trace_hex}: {fs['name']} > {fc['name']} > {bs['name']} > {bc['name']}; logs correlated; /health filtered")
PY
finished=$(date +%s)
echo "integration-test: passed (build $((built - started)) s, run $((finished - built)) s, total $((finished - started)) s)"
