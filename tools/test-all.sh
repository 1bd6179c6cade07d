#!/usr/bin/env bash
# tools/test-all.sh [SUITE...] - run every suite (or the make targets named), count PASS/FAIL
# lines, end with "N passed, N failed". Each suite's output goes to build/SUITE.out
# (build/wine10/SUITE.out when RESULT_PREFIX is wine10/: tools/wine10.sh, make test-wine).
# A suite that fails without printing a FAIL line is counted as one failure itself.
# Before that line, a table: each suite's counts and the minutes and seconds it took.
# The last suite runs the scenarios again against the debug build (make DEBUG=1: every
# io_op checked on post, dequeue and free) with Wine's heap warnings on (HEAP_CHECK=1).
# Under MSYS2 (OS=Windows_NT) only the suites that run natively there; the others print
# a SKIP line that says why.
set -u
cd "$(dirname "$0")/.."
mkdir -p build
passed=0 failed=0 times=()
suites=(
    "unit-test"
    "fuzz-test"
    "scenario-test"
    "win-client-test"
    "browser-test"
    "clients-test"
    "load-test"
    "shutdown-test"
    "fault-test"
    "log-test"
    "fixed-test"
    "check-notes"
    "cmake-test"
    "opcheck-test"
    "break-it"
    "debug-scenario-test:DEBUG=1 HEAP_CHECK=1 scenario-test"
)
skipped=()
# MSYS2 on Windows: the servers and the client are native; what needs Linux or Wine is
# skipped, and said so.
if [ "${OS:-}" = Windows_NT ]; then
    suites=("scenario-test" "cmake-test" "debug-scenario-test:DEBUG=1 scenario-test")
    skipped=(
        "unit-test, fuzz-test: AddressSanitizer and libFuzzer need Linux's gcc/clang (MSYS2's gcc has no ASan)"
        "win-client-test: scenario-test already runs the client as a Windows program here"
        "browser-test: its headless Chromium driver is set up for Linux; open http://127.0.0.1:8080/lab (make run) and press the buttons"
        "load-test: wrk runs on Linux only"
        "clients-test: ab, wget and the servers under Wine: set up for Linux"
        "fixed-test: it builds the i686 copy with i686-w64-mingw32-gcc and is run on Linux only; make run STAGE=fixed runs the program natively"
        "shutdown-test, fault-test, log-test, opcheck-test, break-it, check-notes: they drive the servers through Wine (Ctrl+C typed on a terminal under Wine, Wine's heap checks, Wine transcripts; break-it's checks are those suites)"
    )
fi
if [ $# -gt 0 ]; then suites=("$@") skipped=(); fi
for s in "${skipped[@]}"; do echo "SKIP $s"; done
for entry in "${suites[@]}"; do
    name=${entry%%:*}
    args=${entry#*:}
    echo "== $name"
    started=$SECONDS
    log=build/${RESULT_PREFIX:-}$name.out
    mkdir -p "$(dirname "$log")"
    # shellcheck disable=SC2086   # args is a list of make arguments
    make --no-print-directory -s $args 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    p=$(grep -c -E '^(PASS|CAUGHT) ' "$log"); f=$(grep -c '^FAIL ' "$log")
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $name: exited $status without a FAIL line"; f=1
    fi
    passed=$((passed + p)) failed=$((failed + f))
    t=$((SECONDS - started))
    times+=("$(printf '  %-22s %4d pass %3d fail %3dm%02ds' "$name" "$p" "$f" $((t / 60)) $((t % 60)))")
done
echo "== time by suite"
printf '%s\n' "${times[@]}"
t=$SECONDS
printf '  %-22s %22dm%02ds\n' all $((t / 60)) $((t % 60))
[ ${#skipped[@]} -eq 0 ] || echo "skipped on Windows: unit-test fuzz-test win-client-test browser-test clients-test load-test fixed-test shutdown-test fault-test log-test opcheck-test break-it check-notes (see the SKIP lines at the top)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
