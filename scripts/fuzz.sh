#!/usr/bin/env bash
# Bounded fuzzing run (docs/FUZZING.md): builds the libFuzzer harnesses of Fuzz/ with AddressSanitizer, runs each for
# SECONDS (default 30) on a temporary copy of its committed corpus (Fuzz/Corpus/<target>, so the repository is never
# modified), and exits non-zero if any of them finds a crash, a broken invariant, a leak or a hang, printing the path
# of the input that triggered it.
#
#   scripts/fuzz.sh [SECONDS]
#
# Environment:
#   FUZZ_TARGETS        space-separated targets to run (default: all four)
#   FUZZ_JOBS           how many targets run at once (default: the number of CPUs; each uses one core)
#   FUZZ_CONFIGURATION  debug (default: fastest to build) or release (about 3x the executions per second, but a
#                       longer build: better for long runs by hand)
#   FUZZ_WORK           where the corpus copies, logs and crash inputs go (default: a new directory under /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=${1:-30}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "usage: scripts/fuzz.sh [seconds-per-target]" >&2; exit 2; }
targets=(${FUZZ_TARGETS:-FuzzPropagation FuzzConfiguration FuzzAgentResponse FuzzHTTPParser})
configuration=${FUZZ_CONFIGURATION:-debug}

# The C libraries the library links (libmsgpack-dev, liburing-dev); nothing else is installed for fuzzing.
scripts/setup.sh

# SwiftPM passes each --sanitize to swiftc as its own -sanitize= flag and swiftc keeps only the last one, so the
# Swift code would get AddressSanitizer without coverage: -Xswiftc gives it both. The C targets honour both
# --sanitize flags. lld, because gold warns about every ASan helper symbol it cannot export.
echo "fuzz: building Fuzz/ ($configuration, -sanitize=fuzzer,address)"
build_start=$SECONDS
# No index store (nothing here reads it; executables need none, unlike test discovery on Linux): 15 % less build time.
(cd Fuzz && swift build -c "$configuration" --sanitize=fuzzer --sanitize=address --disable-index-store \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld)
bin=$(cd Fuzz && swift build -c "$configuration" --show-bin-path)
echo "fuzz: build took $((SECONDS - build_start)) s"

work=${FUZZ_WORK:-$(mktemp -d /tmp/dd-trace-fuzz.XXXXXX)}
mkdir -p "$work"
# The Swift runtime's own crash backtracer reads the stack in a way AddressSanitizer reports as an error: off, so
# that the report is the real one. Leak suppressions: see Fuzz/lsan.supp.
export SWIFT_BACKTRACE=enable=no
# Swift seeds Dictionary and Set hashing per process: fixed, so that an input behaves the same on every run (a
# header repeated in different cases is looked up in iteration order) and a crash reproduces.
export SWIFT_DETERMINISTIC_HASHING=1
export LSAN_OPTIONS="suppressions=$root/Fuzz/lsan.supp:print_suppressions=0"

# Runs one target on its corpus copy; its exit status goes to $work/<target>.status (1 until it has run, so a
# target that cannot even start counts as failed, with the reason in its log).
run_target() {
    local target=$1
    local corpus="$work/corpus/$target"
    echo 1 >"$work/$target.status"
    : >"$work/$target.log"
    rm -rf "$corpus"
    mkdir -p "$corpus" "$work/artifacts"
    cp -R "Fuzz/Corpus/$target/." "$corpus/" 2>>"$work/$target.log"
    local dictionary=()
    [ -f "Fuzz/Dictionaries/$target.dict" ] && dictionary=(-dict="$root/Fuzz/Dictionaries/$target.dict")
    # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: the ASan quarantine alone takes ~500 MB.
    local status=0
    "$bin/$target" "$corpus" "${dictionary[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 \
        -artifact_prefix="$work/artifacts/$target-" -print_final_stats=1 >"$work/$target.log" 2>&1 || status=$?
    echo "$status" >"$work/$target.status"
}

# A libFuzzer process uses one core: the targets run FUZZ_JOBS at a time (default: one per CPU), each for the
# whole SECONDS, so a run gives every target the same fuzzing time as one after the other, in less wall time.
jobs=${FUZZ_JOBS:-$(nproc)}
run_start=$SECONDS
running=0
for target in "${targets[@]}"; do
    echo "fuzz: $target for ${seconds} s (log: $work/$target.log)"
    run_target "$target" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true  # a target that could not even start has no status file: counted as failed below
        running=$((running - 1))
    fi
done
wait || true

failed=()
summary_rows=()
for target in "${targets[@]}"; do
    log="$work/$target.log"
    corpus="$work/corpus/$target"
    status=$(cat "$work/$target.status")
    grep -E "^#[0-9]+[[:space:]]+DONE" "$log" | tail -1 | sed "s/^/fuzz: $target: /" || true
    # One line per target for the summary (docs/RELIABILITY.md): executions, final corpus size, crash or not.
    executions=$(grep -aoE "^#[0-9]+" "$log" | tail -1 | tr -d '#' || true)
    corpus_files=$(find "$corpus" -type f 2>/dev/null | wc -l || true)
    summary_rows+=("{\"name\": \"$target\", \"seconds\": $seconds, \"executions\": ${executions:-0}, \"corpus\": $corpus_files, \"crashes\": $([ "$status" -eq 0 ] && echo 0 || echo 1)}")
    if [ "$status" -ne 0 ]; then
        failed+=("$target")
        echo "fuzz: $target FAILED (exit $status):" >&2
        # What went wrong (the broken invariant or the sanitizer's verdict), then the end of the log.
        grep -a -m 4 -E "invariant violated|Fatal error|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)" "$log" |
            cut -c 1-2000 >&2 || true
        grep -a -v '^#[0-9]' "$log" | tail -25 >&2
        grep -o "Test unit written to .*" "$log" |
            sed "s/^Test unit written to /fuzz: $target: crash input: /" >&2 || true
    fi
done
echo "fuzz: runs took $((SECONDS - run_start)) s; work directory: $work"
mkdir -p Fuzz/.results
(IFS=,; echo "{\"targets\": [${summary_rows[*]}]}") > Fuzz/.results/summary.json

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]}. Reproduce with: Fuzz/.build/$configuration/<target> <crash input>" >&2
    exit 1
fi
echo "fuzz: no crash in ${targets[*]}"
