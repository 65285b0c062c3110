#!/usr/bin/env bash
# The demo: installs what is missing, starts the official Datadog test agent on a unix socket, runs
# dd-trace-demo against it (a simulated HTTP service with nested spans across threads and tasks), and prints
# what the agent received. Usage: scripts/demo.sh [requests]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

requests="${1:-20}"
work="$(mktemp -d /tmp/dd-trace-demo.XXXXXX)"
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
otlp1=$((port + 1)); otlp2=$((port + 2))
ENABLED_CHECKS=trace_count_header,meta_tracer_version_header,trace_content_length \
    .venv/bin/ddapm-test-agent --host 127.0.0.1 --port "$port" --otlp-http-port "$otlp1" --otlp-grpc-port "$otlp2" \
    --trace-uds-socket "$work/apm.socket" --snapshot-dir "$work" >"$work/agent.log" 2>&1 &
agent_pid=$!
# shellcheck source=lib/stop.sh
. scripts/lib/stop.sh
trap 'stop_processes $agent_pid; rm -rf "$work"' EXIT
for _ in $(seq 1 200); do
    [ -S "$work/apm.socket" ] && curl -fsS "http://127.0.0.1:$port/info" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/test/session/start?test_session_token=demo" >/dev/null

echo "demo: building dd-trace-demo (release)"
swift build -c release --product dd-trace-demo >/dev/null
echo "demo: tracing $requests requests to the test agent at unix://$work/apm.socket"
DD_TRACE_AGENT_URL="unix://$work/apm.socket" DD_SERVICE=demo-web DD_ENV=demo DD_VERSION=1.0.0 \
    DD_TAGS="team:apm,region:local" .build/release/dd-trace-demo "$requests"

echo
echo "demo: what the agent received"
curl -fsS "http://127.0.0.1:$port/test/session/traces?test_session_token=demo" >"$work/traces.json"
.venv/bin/python - "$work/traces.json" <<'PY'
import json, sys
chunks = json.load(open(sys.argv[1]))
spans = [s for c in chunks for s in c]
print(f"{len(chunks)} trace chunks, {len(spans)} spans, "
      f"{sum(1 for s in spans if s.get('error'))} with errors, "
      f"services: {sorted({s['service'] for s in spans})}")
def show(chunk):
    children = {}
    for s in chunk:
        children.setdefault(s.get("parent_id", 0), []).append(s)
    ids = {s["span_id"] for s in chunk}
    roots = [s for s in chunk if s.get("parent_id", 0) not in ids]
    def walk(s, depth):
        tags = {k: v for k, v in s.get("meta", {}).items() if k.startswith("http.") or k in ("redis.key", "error.message")}
        print(f"  {'  ' * depth}{s['name']} [{s['service']}] {s['resource']!r} {s['duration'] / 1000:.0f}us"
              f"{' ERROR' if s.get('error') else ''} {tags if tags else ''}")
        for c in sorted(children.get(s["span_id"], []), key=lambda c: c["start"]):
            walk(c, depth + 1)
    for r in roots:
        walk(r, 0)
for i, chunk in enumerate(chunks[:2]):
    print(f"trace {i + 1}: trace_id={chunk[0]['trace_id']} _dd.p.tid={chunk[0].get('meta', {}).get('_dd.p.tid')} "
          f"priority={chunk[0].get('metrics', {}).get('_sampling_priority_v1')}")
    show(chunk)
if len(chunks) > 2:
    print(f"... and {len(chunks) - 2} more traces")
PY
# The test agent answers 200 when no check failed for the session, and 400 with the failures otherwise.
status=$(curl -s -o "$work/failures.txt" -w "%{http_code}" "http://127.0.0.1:$port/test/trace_check/failures?test_session_token=demo")
if [ "$status" != "200" ]; then echo "demo: agent checks failed: $(cat "$work/failures.txt")"; exit 1; fi
echo "demo: the agent's protocol checks (trace count header, tracer version header, content length) passed"
