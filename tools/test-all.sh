#!/usr/bin/env bash
# tools/test-all.sh - run every suite, count PASS/FAIL lines, end with "N passed, N failed".
# A suite that fails without printing a FAIL line is counted as one failure itself.
# The last suite runs the scenarios again against the debug build (make DEBUG=1: every
# io_op checked on post, dequeue and free) with Wine's heap warnings on (HEAP_CHECK=1).
set -u
cd "$(dirname "$0")/.."
mkdir -p build
passed=0 failed=0
suites=(
    "unit-test"
    "fuzz-test"
    "scenario-test"
    "browser-test"
    "load-test"
    "shutdown-test"
    "check-notes"
    "opcheck-test"
    "break-it"
    "debug-scenario-test:DEBUG=1 HEAP_CHECK=1 scenario-test"
)
for entry in "${suites[@]}"; do
    name=${entry%%:*}
    args=${entry#*:}
    echo "== $name"
    log=build/$name.out
    # shellcheck disable=SC2086   # args is a list of make arguments
    make --no-print-directory -s $args 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log")
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $name: exited $status without a FAIL line"; f=1
    fi
    passed=$((passed + p)) failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
