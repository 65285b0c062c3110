#!/usr/bin/env bash
# Load test of the example with wrk: the frontend (which calls the backend for every request) with tracing on and
# off, alternating runs. Traces go to a minimal agent stand-in that reads each payload and answers 200, so that the
# measurement is the services' cost, not a Python agent decoding msgpack on the same cores.
#
# Usage: Examples/HummingbirdService/scripts/load-test.sh [seconds per run] [connections] [rounds]
#        (defaults: 20 s, 16 connections, 2 rounds of off/on). Needs wrk (apt-get install wrk), python3, curl.
set -euo pipefail
example="$(cd "$(dirname "$0")/.." && pwd)"
duration="${1:-20}"; connections="${2:-16}"; rounds="${3:-2}"
swift build -c release --package-path "$example" --product hummingbird-service >/dev/null
binary="$(swift build -c release --package-path "$example" --show-bin-path)/hummingbird-service"
work="$(mktemp -d /tmp/hb-load.XXXXXX)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

sink_port=$(free_port)
python3 - "$sink_port" >"$work/sink.log" 2>&1 <<'PY' &
import asyncio, sys
async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"): length = int(line.split(b":")[1])
            await reader.readexactly(length)
            body = b'{"rate_by_service":{}}' if head.startswith(b"PUT") else b'{"endpoints":["/v0.4/traces"]}'
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
    async with server: await server.serve_forever()
asyncio.run(main())
PY
pids+=($!)

run() { # $1: on|off
    local backend_port frontend_port tracing=on
    [ "$1" = off ] && tracing=off
    backend_port=$(free_port); frontend_port=$(free_port)
    export DD_TRACE_AGENT_URL="http://127.0.0.1:$sink_port" DD_ENV=load DD_VERSION=1 TRACING="$tracing"
    DD_SERVICE=hb-backend "$binary" backend --port "$backend_port" >"$work/backend-$1.log" 2>&1 &
    local backend=$!
    DD_SERVICE=hb-frontend "$binary" frontend --port "$frontend_port" --backend "http://127.0.0.1:$backend_port" \
        >"$work/frontend-$1.log" 2>&1 &
    local frontend=$!
    for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$frontend_port/health" >/dev/null 2>&1 && break; sleep 0.1; done
    wrk -t2 -c"$connections" -d3s "http://127.0.0.1:$frontend_port/hello/world" >/dev/null   # warm-up
    echo "=== tracing $1 ==="
    wrk -t2 -c"$connections" -d"${duration}s" --latency "http://127.0.0.1:$frontend_port/hello/world" \
        | grep -E "Latency|50%|75%|90%|99%|Requests/sec|requests in|Non-2xx|Socket errors"
    kill -TERM "$frontend" "$backend"; wait "$frontend" "$backend" 2>/dev/null || true
    [ "$1" = on ] && grep -h "stopped" "$work/frontend-$1.log" "$work/backend-$1.log" || true
}
for _ in $(seq 1 "$rounds"); do run off; run on; done
