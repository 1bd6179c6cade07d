#!/usr/bin/env bash
# tests/debug/run.sh EXE - the debug build's guard catches each mistake it is there for.
# One line per case: "PASS opcheck/NAME" when the program stopped with the expected
# message (or, for "right", exited 0 without one).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../../tools/wine-env.sh
. "$top/tools/wine-env.sh"
wine_ready || exit 1
exe=$1
failures=0
check() {  # check CASE EXPECTED-MESSAGE (empty: must run clean)
    local out rc=0
    out=$(timeout -k 5 60 wine "$exe" "$1" 2>&1) || rc=$?
    if [ -z "$2" ] && [ $rc -eq 0 ] && ! grep -q 'opcheck:' <<<"$out"; then
        echo "PASS opcheck/$1: ran clean"
    elif [ -n "$2" ] && [ $rc -ne 0 ] && grep -q "opcheck: .*$2" <<<"$out"; then
        echo "PASS opcheck/$1: stopped with \"$(grep -m1 'opcheck:' <<<"$out" | tr -d '\r')\""
    else
        echo "FAIL opcheck/$1: exit $rc, output: $(tr -d '\r' <<<"$out" | head -c 300)"
        failures=$((failures + 1))
    fi
}
check right ''
check double-post 'already in flight'
check double-done 'double completion'
check after-free 'use after free'
check state-back 'only moves forward'
[ $failures -eq 0 ]
