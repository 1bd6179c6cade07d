# shellcheck shell=bash disable=SC2034  # SERVER_*, HEAP_* are set for the caller
# tests/lib-extra.sh - helpers shared by tests/load, tests/shutdown and tests/fault run.sh.
# Source it after tests/lib.sh (it uses server_log, server_exe, server_alive, ...).
#
#  - the heap check: HEAP_CHECK=1 runs every server with Wine's heap warnings on and makes
#    heap_report find them in the server's log;
#  - wine_persist: one wineserver for the whole suite (servers restart without a race);
#  - server_wait_exit: wait (bounded) for the server to end by itself, and time it;
#  - clients in the background (bg, end_bg), waits for a line or a request count;
#  - Ctrl+C and the final ledger of 06 (ctrl_c_and_wait, after_exit, ledger_detail);
#  - small things: now_ms, established_to, stats_num, stats_op (a /stats line), wrk_field.

# --- the heap check --------------------------------------------------------------------
#
# Under Wine a double free is not a crash: ntdll's heap sees that the block is already in
# its list of delayed frees, ignores the call and goes on, silently unless the heap
# channel's warnings are on (WINEDEBUG=warn+heap); then it prints, on stderr,
#   0024:warn:heap:unsafe_block_from_ptr heap 0000000000C80000, block 0000000000C83688: delayed freed block
# Measured with Wine 8.0 and mingw-w64 programs: free(p) twice, HeapFree(GetProcessHeap())
# twice (the second returns FALSE), and realloc(p, bigger) then free(p) all print it;
# tests/load/heap-selftest.c is the first of these (still caught with 20000 other frees
# in between). What it does NOT see: a write to a freed block or past the end of a block;
# a double free of a block handed out again in between (that frees the new owner's valid
# block; the delayed list makes it rare: a freed 100-byte block was not handed out again
# in 5000 allocations of its size). Writes are caught only by WINEDEBUG=+heap, which
# traces every allocation (far too slow and verbose for a load run) and then asserts:
# "err:heap:validate_used_block ... free block overwritten" / "invalid block tail", and
# the winedbg it starts had not returned after 30 s. Turning on the heap's free and tail
# checking with the GlobalFlag registry value (Session Manager or Image File Execution
# Options) changed nothing under Wine 8.
# "-all" keeps every other channel quiet, so the log holds only what the server prints.
HEAP_WINEDEBUG=-all,err+heap,warn+heap
if [ "${HEAP_CHECK:-0}" = 1 ]; then
    export WINEDEBUG=$HEAP_WINEDEBUG
fi

# heap_report STAGE: with HEAP_CHECK=1, the first heap warning or error in the stage's log
# (and how many there are); empty when there is none or the check is off.
heap_report() {
    [ "${HEAP_CHECK:-0}" = 1 ] || return 0
    heap_lines "$(server_log "$1")"
}

# heap_lines FILE: the first line Wine's heap channel printed in FILE, and the count.
heap_lines() {
    local first count
    first=$(grep -m1 -E ':(warn|err):heap:|delayed freed block' "$1" 2>/dev/null) || return 0
    count=$(grep -c -E ':(warn|err):heap:|delayed freed block' "$1")
    echo "Wine heap: $first ($count such lines)"
}

# --- starting and stopping -------------------------------------------------------------

# wine_persist: keep this prefix's wineserver running until wine_stop (wineserver -k).
# Debian's /usr/lib/wine/wineserver starts it with -p0: it exits the moment the last Wine
# process of the prefix ends, and a server.exe started in that moment can fail with
# "wine client error:0: recvmsg: Connection reset by peer" (seen once in 60 quick
# restarts). A suite that starts many servers one after the other calls this once after
# wine_ready. If a wineserver already runs, this does nothing (it exits with status 2).
wine_persist() {
    wineserver -p </dev/null >/dev/null 2>&1 || true
}

# server_wait_exit MS: wait up to MS milliseconds for the server to end by itself.
# Returns 0 if it did: SERVER_STATUS is its exit status, SERVER_EXIT_MS the time from the
# call to its end (to within 20 ms), SERVER_PID is cleared. Returns 1 if it still runs.
server_wait_exit() {
    local start end
    start=$(now_ms)
    end=$((start + $1))
    SERVER_EXIT_MS=
    while server_alive; do
        [ "$(now_ms)" -lt "$end" ] || return 1
        sleep 0.02
    done
    SERVER_EXIT_MS=$(($(now_ms) - start))
    SERVER_STATUS=0
    wait "$SERVER_PID" 2>/dev/null || SERVER_STATUS=$?
    SERVER_PID=
}

# --- clients in the background, waits ---------------------------------------------------

bg_pids=()      # clients and wrk started in the background: a suite ends them on its way out

# suite_setup: for a suite that drives clients of its own (tests/shutdown, tests/fault):
# CLIENT, the shutdown client (built, or exit 2), the scenario client, a scratch folder $tmp,
# and on exit the background clients ended, the server stopped, $tmp removed, Wine stopped.
suite_setup() {
    CLIENT=${SHUTDOWN_CLIENT:-$build/tests/shutdown-client}
    [ -x "$CLIENT" ] || { echo "$CLIENT is not built: make $CLIENT (or set SHUTDOWN_CLIENT)" >&2; exit 2; }
    require_scenarios
    tmp=$(mktemp -d)
    trap 'suite_cleanup $?' EXIT
}
suite_cleanup() {
    local p
    suite_aborted "$1"
    for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
    server_stop
    rm -rf "$tmp"
    wine_stop
}

# bg CMD...: start CMD in the background (stdout to $BG_OUT), remember it; sets BG_PID.
bg() { "$@" >"$BG_OUT" 2>&1 & BG_PID=$!; bg_pids+=("$BG_PID"); }
end_bg() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

# wait_for FILE REGEX MS: until a line of FILE matches REGEX (0) or MS pass (1).
wait_for() {
    local end=$(($(now_ms) + $3))
    until grep -q -E "$2" "$1" 2>/dev/null; do
        [ "$(now_ms)" -lt "$end" ] || return 1
        sleep 0.02
    done
}

# stats_now: the server's /stats JSON (empty if no answer within 2 s).
stats_now() {
    curl -s --max-time 2 -H 'Connection: close' "http://127.0.0.1:$SERVER_PORT/stats" || true
}

# wait_requests N MS: until the server has answered N requests (0), or MS pass (1).
wait_requests() {
    local end=$(($(now_ms) + $2)) n
    while :; do
        n=$(stats_num "$(stats_now)" requests)
        [ -n "$n" ] && [ "$n" -ge "$1" ] && return 0
        [ "$(now_ms)" -lt "$end" ] || return 1
        sleep 0.05
    done
}

# --- Ctrl+C and the final ledger (06) ----------------------------------------------------
# These read the log of $STAGE (the suite's current stage) and the variables the server_*
# helpers set.

# final_ledger: the JSON of the last "final ledger: {JSON}" line in the test's log.
final_ledger() {
    grep -a -o 'final ledger: {.*}' "$(server_log "$STAGE")" | tail -n 1 | sed 's/^final ledger: //'
}

# ledger_zero JSON: empty if the ledger reads zero everywhere it must (06's
# budget reservations too: "reserved"), else what does not.
ledger_zero() {
    local json=$1 k v bad='' kind
    for k in live_connections pending_ops buffer_bytes reserved; do
        v=$(stats_num "$json" "$k")
        [ "$v" = 0 ] || bad+=" $k=${v:-missing}"
    done
    for kind in recv send accept; do
        v=$(stats_op "$json" "$kind" pending)
        [ "$v" = 0 ] || bad+=" $kind.pending=${v:-missing}"
    done
    echo "${bad# }"
}

# after_exit MAX_MS: what is wrong with how the server just ended, in EXIT_PROBLEM ("" if
# nothing), for a "drains" test: it must have ended within MAX_MS (SERVER_EXIT_MS), with
# status 0 and a zero final ledger. Sets LEDGER_JSON. (Not in $(...): it sets variables.)
after_exit() {
    local z
    EXIT_PROBLEM=
    LEDGER_JSON=$(final_ledger)
    [ "${SERVER_STATUS:-}" = 0 ] || EXIT_PROBLEM="exit status ${SERVER_STATUS:-unknown}"
    if [ -z "$LEDGER_JSON" ]; then
        EXIT_PROBLEM="${EXIT_PROBLEM:+$EXIT_PROBLEM; }no \"final ledger:\" line on stdout"
    else
        z=$(ledger_zero "$LEDGER_JSON")
        [ -z "$z" ] || EXIT_PROBLEM="${EXIT_PROBLEM:+$EXIT_PROBLEM; }final ledger not zero: $z: $LEDGER_JSON"
    fi
    [ "${SERVER_EXIT_MS:-$1}" -le "$1" ] ||
        EXIT_PROBLEM="${EXIT_PROBLEM:+$EXIT_PROBLEM; }ended $SERVER_EXIT_MS ms after Ctrl+C (limit $1 ms)"
}

# ctrl_c_and_wait MAX_MS: Ctrl+C typed on the server's terminal, wait for its end: up to MAX_MS + 12 s, so
# that a late end is reported as late, with its exit status and final ledger (06 gives up
# waiting for pending operations after 10 s), rather than as a hang. 1 if it still runs
# (then it is stopped).
ctrl_c_and_wait() {
    server_ctrl_c
    if ! server_wait_exit $(($1 + 12000)); then
        server_stop
        return 1
    fi
}

# ledger_detail: how the server ended, for the result line.
ledger_detail() {
    [ -n "${SERVER_EXIT_MS:-}" ] || return 0
    echo "exit ${SERVER_STATUS:-?} $SERVER_EXIT_MS ms after Ctrl+C, final ledger: accepted $(stats_num "${LEDGER_JSON:-}" accepted), requests $(stats_num "${LEDGER_JSON:-}" requests), live $(stats_num "${LEDGER_JSON:-}" live_connections), pending $(stats_num "${LEDGER_JSON:-}" pending_ops)"
}


# log_problems: what the log of $STAGE shows went wrong: a Wine crash report, the debug
# guard stopping the server ("opcheck: ..."), (HEAP_CHECK=1) a heap warning; "" if none.
log_problems() {
    local c out=''
    c=$(crash_report "$STAGE")
    [ -z "$c" ] || out="Wine crash report: $c"
    c=$(grep -a -m1 '^opcheck: ' "$(server_log "$STAGE")" 2>/dev/null || true)
    [ -z "$c" ] || out="${out:+$out; }the debug guard stopped it: $c"
    c=$(heap_report "$STAGE")
    echo "${out:+$out${c:+; }}$c"
}

# --- a suite of tests, each on a server of its own (tests/shutdown, tests/fault) ------------
# A stage's tests are the rows of its expect.map column (stage_plan sets PLAN); row NAME runs
# as the function t_NAME, given the expectation; it prints its one line with result.

declare -A cell    # cell[TEST/STAGE]: what the table shows

# result TEST REASON DETAIL [EXPECTED-NOTE]: the one line of a test of $STAGE; anything
# log_problems finds in its log makes it a FAIL.
result() {
    local test=$1 reason=$2 detail=$3 note=${4:-} problems
    problems=$(log_problems)
    [ -z "$problems" ] || reason="${reason:+$reason; }$problems"
    if [ -n "$reason" ]; then
        fail "$STAGE/$test" "$reason${detail:+ [$detail]} (log: $(server_log "$STAGE"))"
        cell[$test/$STAGE]=FAIL
    else
        pass "$STAGE/$test${note:+ ($note)}${detail:+: $detail}"
        case $note in
            *stall*) cell[$test/$STAGE]=stall ;;
            ?*) cell[$test/$STAGE]=dies ;;
            *) cell[$test/$STAGE]=pass ;;
        esac
    fi
}

# run_plan ONLY: each row of PLAN for $STAGE, as t_ROW EXPECTATION, unless it is "-" or
# ONLY (row names, space-separated; empty: all) leaves it out.
run_plan() {
    local test expect
    while read -r test expect; do
        [ -z "$1" ] || [[ " $1 " == *" $test "* ]] || expect=-
        case $expect in
            -) cell[$test/$STAGE]=- ;;
            *) "t_${test//-/_}" "$expect" ;;
        esac
    done <<<"$PLAN"
}

# run_suite MAP ONLY STAGE...: each stage's plan (run_plan; a stage MAP has no column for
# is skipped), then the table; status 1 if anything failed.
run_suite() {
    local map=$1 only=$2
    shift 2
    wine_ready
    wine_persist
    for STAGE in "$@"; do
        if stage_plan "$map" "$STAGE" skip; then run_plan "$only"; fi
    done
    plan_table "$map" "$@"
    suite_end
}

# plan_table MAP STAGE...: the table of results, a row per test, a column per stage.
plan_table() {
    local map=$1 test stage
    shift
    printf '\n%-22s' test
    for stage in "$@"; do printf ' %-14s' "$stage"; done
    printf '\n'
    for test in $(map_rows "$map"); do
        printf '%-22s' "$test"
        for stage in "$@"; do printf ' %-14s' "${cell[$test/$stage]:-skip}"; done
        printf '\n'
    done
}

# wine_left_behind: 0 if, under Wine, the server's program has ended (its main thread is
# gone: the process leader is a zombie) while a thread of it is left, blocked, so that its
# process never ends. Seen under Wine 8 after Ctrl+C on 05 under load, 2 runs in about 60
# (NOTES.md, Appendix B); the program is the child of tests/console.py (SERVER_PID).
wine_left_behind() {
    local program
    [ -n "$WINE" ] && [ -n "${SERVER_PID:-}" ] || return 1
    program=$(pgrep -P "$SERVER_PID" | head -n 1)
    [ -n "$program" ] && [ "$(awk '/^State:/ { print $2 }' "/proc/$program/status" 2>/dev/null)" = Z ]
}

# --- small things ----------------------------------------------------------------------

now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }

# established_to PORT: how many IPv4 client sockets of this machine are connected to
# 127.0.0.1:PORT (state ESTABLISHED), read from /proc/net/tcp: no request to the server,
# so it can be asked while the server cannot answer.
established_to() {
    awk -v port="$(printf '%04X' "$1")" \
        '$3 == "0100007F:" port && $4 == "01" { n++ } END { print n + 0 }' /proc/net/tcp
}

# stats_num JSON KEY: the first number after "KEY": in JSON (a /stats line); empty if none.
stats_num() { grep -o "\"$2\":-\?[0-9]*" <<<"$1" | head -n 1 | cut -d: -f2; }

# stats_op JSON KIND FIELD: "FIELD" of the "KIND" object in JSON (recv.failed, say).
stats_op() { grep -o "\"$2\":{[^}]*}" <<<"$1" | grep -o "\"$3\":-\?[0-9]*" | cut -d: -f2; }

# wrk_field LINE NAME: NAME=VALUE from the "WRK ..." line tests/load/report.lua prints.
wrk_field() { grep -o "\\b$2=[0-9]*" <<<"$1" | head -n 1 | cut -d= -f2; }
