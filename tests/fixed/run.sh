#!/usr/bin/env bash
# tests/fixed/run.sh - "Your program, fixed" (NOTES.md, extracted to build/yours-fixed.c):
# it builds with -std=c11 -Wall -Wextra -Werror for x86_64 and i686 and fits the page
# (at most 230 lines of at most 80 columns) and the table NOTES shows above it names its
# lines right (tests/fixed/table.py), then, under Wine, real clients: a browser's
# GET, pipelining, a POST body in pieces, Connection: close and HTTP/1.0, a FIN mid-
# connection, resets, requests too large, 20 clients at once (tests/fixed/checks.py); after
# each, the log shows every connection it opened freed with 0 operations pending.
#
#   FIXED_SRC=FILE   the source to test (default: $BUILD_DIR/yours-fixed.c; make break-it
#                    gives a mutated copy)
#   FIXED_ONLY="reset fin-mid"   only those checks of checks.py
# Lines: "PASS fixed/build-x86_64", "PASS fixed/pipelined (3 + 20 answers in order; ...)".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$here/../lib.sh"
trap 'rc=$?; suite_aborted $rc; server_stop; wine_stop' EXIT
src=${FIXED_SRC:-$build/yours-fixed.c}
CC=${FIXED_CC:-x86_64-w64-mingw32-gcc}
CC32=${FIXED_CC32:-i686-w64-mingw32-gcc}
flags=(-std=c11 -Wall -Wextra -Werror -g -O2)

if [ ! -f "$src" ]; then
    fail fixed/source "$src does not exist (make $src)"
    suite_end
    exit 1
fi
lines=$(wc -l <"$src")
wide=$(awk 'length > 80 { n++ } END { print n + 0 }' "$src")
if [ "$lines" -le 230 ] && [ "$wide" -eq 0 ]; then
    pass "fixed/fits ($lines lines, none over 80 columns)"
else
    fail fixed/fits "$lines lines (at most 230), $wide over 80 columns"
fi

# The table above the program in NOTES.md points at the lines that fix each mistake.
if [ -z "${FIXED_SRC:-}" ]; then
    python3 "$here/table.py" "$top/NOTES.md" "$src" || failures=$((failures + 1))
fi

mkdir -p "$build/fixed/i686"
built=
for arch in x86_64 i686; do
    if [ $arch = x86_64 ]; then cc=$CC exe=$build/fixed/server.exe; else cc=$CC32 exe=$build/fixed/i686/server.exe; fi
    if out=$("$cc" "${flags[@]}" -o "$exe" "$src" -lws2_32 2>&1); then
        pass "fixed/build-$arch ($cc ${flags[*]})"
        [ $arch = x86_64 ] && built=1
    else
        fail "fixed/build-$arch" "$(grep -m1 'error' <<<"$out")"
    fi
done
if [ -z "$built" ]; then
    suite_end
    exit 1
fi

wine_ready
log=$(server_log fixed)
offset=$(stat -c %s "$log" 2>/dev/null || echo 0)
if ! server_start fixed; then
    fail fixed/start "no 'listening on' line within 60 s: $(tail -n 3 "$log" 2>/dev/null | tr '\n' ' ')"
    suite_end
    exit 1
fi
rc=0
# shellcheck disable=SC2086   # FIXED_ONLY is a list of check names
out=$(timeout -k 5 600 python3 "$here/checks.py" "$SERVER_PORT" "$log" "$offset" ${FIXED_ONLY:-} 2>&1) || rc=$?
echo "$out"
failed_checks=$(grep -c '^FAIL ' <<<"$out")
failures=$((failures + failed_checks))
if [ "$rc" -ne 0 ] && [ "$failed_checks" -eq 0 ]; then
    fail fixed/checks "checks.py exited $rc without a FAIL line: $(tail -n 1 <<<"$out")"
fi
crash=$(crash_report fixed)
if ! server_alive; then
    fail fixed/alive "the server is gone: $(tail -n 3 "$log" | tr '\n' ' ')${crash:+ ($crash)}"
elif [ -n "$crash" ]; then
    fail fixed/alive "a crash report in its log: $crash"
else
    pass "fixed/alive (still serving after every check; log: $log)"
fi
server_stop
suite_end
