#!/usr/bin/env bash
# The whole test suite under AddressSanitizer (with LeakSanitizer) and/or ThreadSanitizer:
#
#   scripts/test-sanitizers.sh [address|thread|all]     (default: all; extra arguments go to `swift test`)
#
# Installs what is missing (scripts/setup.sh), then per sanitizer builds into its own scratch path (.build-asan,
# .build-tsan: instrumented and plain builds cannot share one) and runs the tests with the suppressions in
# scripts/sanitizers/ (each entry says why it is not a bug here). Any sanitizer report fails the run: ASan stops
# at the first error, LeakSanitizer and ThreadSanitizer make the process exit non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

which="${1:-all}"
[ $# -gt 0 ] && shift
case "$which" in
    address) sanitizers=(address) ;;
    thread) sanitizers=(thread) ;;
    all) sanitizers=(address thread) ;;
    *) echo "usage: $0 [address|thread|all] [swift test arguments...]" >&2; exit 64 ;;
esac

scripts/setup.sh

# Exported, so the processes the tests start (the dd-trace CLI, built with the same sanitizer) use them too; the
# suppressions path is absolute for the same reason. Options given by the caller come last and win.
# - ASan: leak checking at exit (the Linux default, spelled out); the first error aborts the run.
# - LSan: the suppressions (process-lifetime engine memory, toolchain leaks).
# - TSan: needs no suppressions; every race of a run is reported, then the process exits with status 66.
export ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$root/scripts/sanitizers/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
# The sustained-load test (ReliabilityTests) sends 1,000,000 spans by default: 30-60 s more per sanitizer for
# no more coverage than 200,000 give (its memory figures are not checked in these builds).
export DDTRACE_LOAD_SPANS="${DDTRACE_LOAD_SPANS:-200000}"

status=0
for sanitizer in "${sanitizers[@]}"; do
    flags=()
    case "$sanitizer" in
        # lld (shipped with the toolchain) links the ASan build: the default linker, gold, prints hundreds of
        # "Cannot export local symbol '__asan_check_...'" warnings for the runtime's outlined checks.
        address) scratch=.build-asan; flags=(-Xswiftc -use-ld=lld) ;;
        thread) scratch=.build-tsan ;;
    esac
    echo "== $sanitizer sanitizer: building ($scratch)"
    start=$SECONDS
    swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch" "${flags[@]}"
    echo "== $sanitizer sanitizer: built in $((SECONDS - start)) s; testing"
    start=$SECONDS
    if swift test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch" "${flags[@]}" "$@"; then
        echo "== $sanitizer sanitizer: tests passed in $((SECONDS - start)) s"
    else
        status=1
        echo "== $sanitizer sanitizer: tests FAILED after $((SECONDS - start)) s" >&2
    fi
done
exit $status
