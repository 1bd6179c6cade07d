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
# On Linux, with no suite named, the suites run in TEST_LANES lanes side by side (default
# 3; TEST_LANES=1: one after the other): most of their time is spent waiting on servers'
# timers and clients, not computing. A lane runs its suites one after the other, in a Wine
# prefix of its own (build/wine, build/wine-lane2, ...: a suite ends by stopping every
# Wine program of its prefix); ports are the servers' own (-p 0), logs are per suite. Each
# suite's output is printed whole when it ends; the table keeps the list's order. What
# the suites build is built before (make test-prebuild).
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
# Which lane a suite runs in (TEST_LANES > 1): break-it (6-8 min on 2 cores) with a few short
# ones, the two scenario passes one a lane, the others shared out so the lanes end together.
declare -A lane_of=(
    [break-it]=1 [fuzz-test]=1 [cmake-test]=1
    [scenario-test]=2 [shutdown-test]=2 [fault-test]=2 [check-notes]=2 [log-test]=2
    [clients-test]=2
    [debug-scenario-test]=3 [win-client-test]=3 [browser-test]=3 [load-test]=3
    [unit-test]=3 [opcheck-test]=3
)
lanes=${TEST_LANES:-3}
# suites named: one after the other, unless TEST_LANES says otherwise
if { [ $# -gt 0 ] && [ -z "${TEST_LANES:-}" ]; } || [ "${OS:-}" = Windows_NT ]; then lanes=1; fi

# run_suite ENTRY [quiet]: one suite through make, its output to build/NAME.out (and to
# the terminal unless quiet); build/NAME.took gets its exit status and seconds.
run_suite() {
    local entry=$1 name args started log status
    name=${entry%%:*}
    args=${entry#*:}
    started=$SECONDS
    log=build/${RESULT_PREFIX:-}$name.out
    mkdir -p "$(dirname "$log")"
    rm -f "${log%.out}.took"
    if [ -z "${2:-}" ]; then
        echo "== $name"
        # shellcheck disable=SC2086   # args is a list of make arguments
        make --no-print-directory -s $args 2>&1 | tee "$log"
        status=${PIPESTATUS[0]}
    else
        # shellcheck disable=SC2086
        make --no-print-directory -s $args >"$log" 2>&1
        status=$?
    fi
    echo "$status $((SECONDS - started))" >"${log%.out}.took"
}

if [ "$lanes" -gt 1 ]; then
    base=${IOCP_WINEPREFIX:-$PWD/build/wine}
    pids=()
    for ((l = 1; l <= lanes; l++)); do
        prefix=$base; [ $l -eq 1 ] || prefix=$base-lane$l
        # shellcheck disable=SC1091   # tools/wine-env.sh reads IOCP_WINEPREFIX
        ( IOCP_WINEPREFIX=$prefix && . tools/wine-env.sh && wine_ready ) &
        pids+=($!)
    done
    wait "${pids[@]}"
    pids=()
    for ((l = 1; l <= lanes; l++)); do
        prefix=$base; [ $l -eq 1 ] || prefix=$base-lane$l
        (
            export IOCP_WINEPREFIX=$prefix
            for entry in "${suites[@]}"; do
                name=${entry%%:*}
                [ $(( (${lane_of[$name]:-1} - 1) % lanes + 1 )) -eq $l ] || continue
                run_suite "$entry" quiet
                # one suite's whole output at a time on the terminal
                flock build/.test-all.lock bash -c \
                    'echo "== $1 (lane $2, $(cut -d" " -f2 "$3.took") s)"; cat "$3.out"' \
                    bash "$name" "$l" "build/${RESULT_PREFIX:-}$name"
            done
        ) &
        pids+=($!)
    done
    wait "${pids[@]}"
fi
for entry in "${suites[@]}"; do
    name=${entry%%:*}
    log=build/${RESULT_PREFIX:-}$name.out
    [ "$lanes" -gt 1 ] || run_suite "$entry"
    read -r status t <"${log%.out}.took" || { status=1 t=0; }
    p=$(grep -c -E '^(PASS|CAUGHT) ' "$log"); f=$(grep -c '^FAIL ' "$log")
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $name: exited $status without a FAIL line"; f=1
    fi
    passed=$((passed + p)) failed=$((failed + f))
    times+=("$(printf '  %-22s %4d pass %3d fail %3dm%02ds' "$name" "$p" "$f" $((t / 60)) $((t % 60)))")
done
echo "== time by suite"
printf '%s\n' "${times[@]}"
t=$SECONDS
printf '  %-22s %22dm%02ds\n' all $((t / 60)) $((t % 60))
[ ${#skipped[@]} -eq 0 ] || echo "skipped on Windows: unit-test fuzz-test win-client-test browser-test clients-test load-test fixed-test shutdown-test fault-test log-test opcheck-test break-it check-notes (see the SKIP lines at the top)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
