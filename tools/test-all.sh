#!/usr/bin/env bash
# tools/test-all.sh - run every suite, count PASS/FAIL lines, end with "N passed, N failed".
# A suite that fails without printing a FAIL line is counted as one failure itself.
set -u
cd "$(dirname "$0")/.."
mkdir -p build
passed=0 failed=0
for suite in unit-test fuzz-test scenario-test browser-test load-test shutdown-test check-notes; do
    echo "== $suite"
    log=build/$suite.out
    make --no-print-directory -s "$suite" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log")
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $suite: exited $status without a FAIL line"; f=1
    fi
    passed=$((passed + p)) failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
