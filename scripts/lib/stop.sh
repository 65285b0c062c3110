# Sourced by the scripts that start background processes (the test agent, the example services).
#
# stop_processes PID...: sends SIGTERM, waits up to 2 s for each process to exit, then sends SIGKILL to what is
# left. ddapm-test-agent sometimes ignores SIGTERM (its aiohttp shutdown can hang), and a plain `kill; wait` then
# blocks forever or leaves an agent holding its ports after the run.
stop_processes() {
    local pid
    for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "$@"; do
        for _ in $(seq 1 20); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
