# shellcheck shell=bash
# tests/lib.sh - shared by the suites' run.sh scripts (source it).
#
# Read a stage's column of an expect.map and decide whether it can run, start its server
# (under Wine on Linux, natively under MSYS2) and learn its port, stop it, look for a Wine
# crash report in its log, run the ledger probe, and print the result lines that the
# top-level runner counts: "PASS name" and "FAIL name: reason" (nothing else starts with
# those). RESULT_PREFIX goes before every name
# (win-client/: the lines of the Windows build of the client, run under Wine).

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "${OS:-}" = Windows_NT ]; then
    WINE=                                   # MSYS2: the servers are native programs
    wine_ready() { :; }
    wine_reset() { :; }
    SCENARIOS=${SCENARIOS:-$top/build/tests/scenarios.exe}
else
    WINE=wine
    # shellcheck source=../tools/wine-env.sh
    . "$top/tools/wine-env.sh"
fi
build=${BUILD_DIR:-$top/build}              # the top Makefile's $(BUILD)
# The debug build (the op guard and the fault switch: common/opcheck.h, common/fault.h),
# whatever $(BUILD) is: a test that needs it starts its server with SERVER_BUILD=$debug_build.
debug_build=${DEBUG_BUILD_DIR:-$top/build/debug}
SCENARIOS=${SCENARIOS:-$build/tests/scenarios}
# A Windows build of the client (.exe) runs under Wine too, on Linux.
CLIENT_RUNNER=
if [ -n "$WINE" ] && [ "${SCENARIOS%.exe}" != "$SCENARIOS" ]; then CLIENT_RUNNER=$WINE; fi
failures=0

pass() { echo "PASS ${RESULT_PREFIX:-}$*"; }
fail() { echo "FAIL ${RESULT_PREFIX:-}$1: $2"; failures=$((failures + 1)); }

# A suite that stops before its end (a variable unset under set -u, a command failing under
# set -e, a helper that exits) must still say so with a FAIL line, not only a message on
# stderr: every suite's EXIT trap calls suite_aborted $? first, and its last line is
# suite_end, which says the end was reached.
suite_reached_end=
suite_end() { suite_reached_end=1; [ "$failures" -eq 0 ]; }
suite_aborted() {
    [ -n "$suite_reached_end" ] || [ "$1" = 0 ] ||
        echo "FAIL ${RESULT_PREFIX:-}$(basename "$(dirname "$0")")/aborted: the suite stopped before its end (exit status $1; the error is above): the checks after it did not run"
}

# scenarios ARG...: the scenario client, bounded to 60 s.
scenarios() { timeout -k 5 60 $CLIENT_RUNNER "$SCENARIOS" "$@"; }

# server_exe STAGE: the server server_start runs: $build's, or SERVER_BUILD's when set.
server_exe() { echo "${SERVER_BUILD:-$build}/$1/server.exe"; }

# The stage's log: the server's stdout and stderr (a Wine crash report goes to either),
# one section per start. LOG_PREFIX keeps the browser test's logs apart.
server_log() { echo "$build/tests/${LOG_PREFIX:-}$1.log"; }

# server_start STAGE [ARG...]: start build/STAGE/server.exe -p 0 ARG... under Wine and wait
# (60 s at most) for its "listening on" line. Sets SERVER_PID and SERVER_PORT; returns 1
# on failure. Under Wine the server runs on a terminal of its own, as in a reader's
# (tests/console.py, whose PID is SERVER_PID; it ends with the server and with its exit
# status): server_ctrl_c types Ctrl+C there. Its output goes to the log as it is or, with
# SERVER_TTY_OUTPUT=1, to the terminal, as `make run`'s does, and from it to the log as
# plain text (Wine's console then writes about a character per millisecond).
server_start() {
    local stage=$1 log seen deadline=$((SECONDS + 60))
    shift
    log=$(server_log "$stage")
    mkdir -p "$(dirname "$log")"
    seen=$(grep -c 'listening on http://' "$log" 2>/dev/null) || seen=0
    echo "=== $(date +%T) $stage $* started by ${0##*/}" >>"$log"
    if [ -n "$WINE" ]; then
        python3 "$top/tests/console.py" ${SERVER_TTY_OUTPUT:+--tty-output} "$log" -- \
            $WINE "$(server_exe "$stage")" -p 0 "$@" &
    else
        "$(server_exe "$stage")" -p 0 "$@" >>"$log" 2>&1 &
    fi
    SERVER_PID=$!
    SERVER_PORT=
    while [ -z "$SERVER_PORT" ]; do
        if ! server_alive || [ $SECONDS -ge $deadline ]; then
            server_stop
            return 1
        fi
        sleep 0.1
        # the port of the first "listening on" line after the ones earlier starts printed
        SERVER_PORT=$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*/' "$log" |
                      sed -n "$((seen + 1))s|.*:\([0-9]*\)/\$|\1|p")
    done
}

# Bash reaps a finished background job itself, so kill -0 fails once the server is gone.
server_alive() { [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; }

# server_ctrl_c: Ctrl+C typed on the server's terminal (0x03; the terminal sends SIGINT to
# the server and its Wine console, and Wine calls the program's console handler with
# CTRL_C_EVENT). Each call is one more. Wait for the end with server_wait_exit.
server_ctrl_c() { kill -INT "$SERVER_PID" 2>/dev/null; }

# server_stop: SIGTERM, then SIGKILL after 5 s. Sets SERVER_STATUS (its exit status).
server_stop() {
    SERVER_STATUS=
    [ -n "${SERVER_PID:-}" ] || return 0
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do
        server_alive || break
        sleep 0.1
    done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    SERVER_STATUS=0
    wait "$SERVER_PID" 2>/dev/null || SERVER_STATUS=$?
    SERVER_PID=
}

# wine_reset from tools/wine-env.sh, bounded: its `wineserver -w` would wait for as long
# as anything else keeps using the prefix.
wine_stop() {
    [ -n "$WINE" ] || return 0
    # shellcheck disable=SC2016   # $1 is expanded by the inner bash
    timeout -k 5 30 bash -c '. "$1"; wine_reset' bash "$top/tools/wine-env.sh" || true
}

# crash_report STAGE: the first line of a Wine crash report in the stage's log, if any.
crash_report() {
    grep -m1 -E 'Unhandled exception|page fault|^wine: |Backtrace' "$(server_log "$1")" || true
}

# ledger_check [EXPECTED_ACCEPTED]: the ledger probe (see scenarios.c, ledger-zero).
# Returns its status; sets LEDGER_OUT (its line) and LEDGER_ACCEPTED (the server's
# "accepted" counter as last seen, or empty).
ledger_check() {
    local rc=0 args=(-p "$SERVER_PORT" ledger-zero)
    [ -z "${1:-}" ] || args+=(--expect-accepted "$1")
    LEDGER_OUT=$(scenarios "${args[@]}") || rc=$?
    # Not a word, not even a FAIL line: the client never ran (seen once in ~7 runs of
    # the Windows client under Wine, exit within a second, the server's log showing no
    # probe). Once more, said; a probe that ran and failed is never run again.
    if [ -z "$LEDGER_OUT" ] && [ "$rc" -ne 0 ]; then
        echo "    ledger probe: the client printed nothing (exit status $rc): run again" >&2
        rc=0
        LEDGER_OUT=$(scenarios "${args[@]}") || rc=$?
    fi
    LEDGER_ACCEPTED=$(grep -o 'accepted=[0-9]*' <<<"$LEDGER_OUT" | head -n 1 | cut -d= -f2)
    return $rc
}

# expectations MAP STAGE: "row expectation" lines from STAGE's column of MAP (an
# expect.map: comments, then a line naming the columns, then one line a row). Status 1
# when MAP has no column for STAGE.
expectations() {
    awk -v stage="$2" '
        /^#/ || NF == 0 { next }
        !named { named = 1; for (i = 2; i <= NF; i++) if ($i == stage) col = i; next }
        col { print $1, $col }
        END { if (!col) exit 1 }' "$1"
}

# map_rows MAP: the row names of MAP, in order.
map_rows() { awk '/^#/ || NF == 0 { next } named++ { print $1 }' "$1"; }

# stage_plan MAP STAGE [fail|skip]: PLAN is STAGE's expectations in MAP, status 0, when
# the stage can run. Otherwise status 1 and one line saying why: a stage MAP has no
# column for is a FAIL (a suite that must cover every stage) or, with "skip", a SKIP; a
# stage whose server is not built is a SKIP.
stage_plan() {
    local map=$1 stage=$2
    if ! PLAN=$(expectations "$map" "$stage"); then
        if [ "${3:-fail}" = skip ]; then
            echo "SKIP $stage: no column for it in $map"
        else
            fail "$stage" "no column for it in $map"
        fi
        return 1
    fi
    if [ ! -f "$(server_exe "$stage")" ]; then
        echo "SKIP $stage: $(server_exe "$stage") is not built"
        return 1
    fi
}

# The part of a scenarios line after "NAME conns=N: " (or "conns=LO..HI: ", see scenarios.c).
detail_of() { sed -n 's/^[A-Z]* [^ ]* conns=[0-9.]*: //p' <<<"$1"; }

require_scenarios() {
    [ -x "$SCENARIOS" ] && return 0
    echo "$SCENARIOS is not built: make $SCENARIOS (or set SCENARIOS)" >&2
    exit 2
}

. "$top/tests/lib-extra.sh"   # HEAP_CHECK=1: WINEDEBUG=warn+heap, heap_report
