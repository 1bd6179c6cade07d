#!/usr/bin/env bash
# tests/cmake/run.sh STAGE... - CMakeLists.txt (the Visual Studio path) builds every stage,
# and what it builds serves.
#
# Configure and build into $BUILD_DIR (build/cmake) with warnings as errors: on Linux with
# the mingw-w64 toolchain (CMAKE_SYSTEM_NAME=Windows), under MSYS2 with its gcc. Then
# start each stage's CMake-built server (under Wine on Linux) and let the CMake-built
# client (a Windows program too) run page-favicon against it, then the ledger check. Lines:
#   PASS cmake/build
#   PASS cmake/03-recv-send
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$here/../lib.sh"
LOG_PREFIX=cmake-
trap 'suite_aborted $?; server_stop; wine_stop' EXIT

[ $# -gt 0 ] || { echo "usage: $0 STAGE..." >&2; exit 2; }
args=(-S "$top" -B "$build" -DCMAKE_C_FLAGS=-Werror -DCMAKE_BUILD_TYPE=Release)
if [ -n "$WINE" ]; then
    args+=(-DCMAKE_SYSTEM_NAME=Windows -DCMAKE_C_COMPILER="${CC:-x86_64-w64-mingw32-gcc}")
else
    args+=(-G "MSYS Makefiles")
fi
mkdir -p "$build/tests"
if ! out=$(cmake "${args[@]}" 2>&1 && cmake --build "$build" -j 2 2>&1); then
    fail cmake/build "$(grep -m 3 -iE 'error|warning' <<<"$out" | tr '\n' ' ')(log: $build/cmake.log)"
    echo "$out" >"$build/cmake.log"
    exit 1
fi
pass cmake/build

wine_ready
for stage in "$@"; do
    if ! server_start "$stage"; then
        fail "cmake/$stage" "the CMake-built server did not print \"listening on\" (see $(server_log "$stage"))"
        continue
    fi
    if ! out=$(scenarios -p "$SERVER_PORT" page-favicon); then
        fail "cmake/$stage" "page-favicon: $out"
    elif ! ledger_check; then
        fail "cmake/$stage" "ledger: $(detail_of "$LEDGER_OUT")"
    else
        pass "cmake/$stage"
    fi
    server_stop
done
suite_end
