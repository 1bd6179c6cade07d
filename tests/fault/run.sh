#!/usr/bin/env bash
# tests/fault/run.sh STAGE... - posts that fail, and what the stages do about it.
#
# Every "post failed" branch of the stages (a WSARecv, WSASend or AcceptEx that fails at
# once: no completion will come) runs here, on the debug build (build/debug, or
# DEBUG_BUILD_DIR: the op guard of common/opcheck.h on every io_op), with the fault switch
# of common/fault.h: IOCP_FAULT=KIND:WHICH:ERROR. For each stage of expect.map, each test of
# its column, on a server of its own (log: build/tests/fault-TEST-STAGE.log):
#   recv-fails     IOCP_FAULT=recv:3-4:10055: the 3rd and 4th WSARecv posts fail (WSAENOBUFS)
#   send-fails     IOCP_FAULT=send:2-3:10055: the 2nd and 3rd WSASend posts fail
#   accept-fails   -a 4, IOCP_FAULT=accept:5-7:10054: three AcceptEx posts fail at once with
#                  WSAECONNRESET (a client reset before its accept): each slot's socket is
#                  closed and the slot left to main, which posts it again
#   accept-refill  -a 4, IOCP_FAULT=accept:5-6:10055: two fail with WSAENOBUFS: the pool is
#                  short until main refills it (05 every second, 06 at each sweep)
#   accept-tries-out  -a 4, IOCP_FAULT=accept:5-12:10054: eight in a row fail at once, more
#                  than the pool holds (the 05 and 06 of cc0005d tried a slot 8 times, then
#                  gave it up for good): each slot is posted again later, however often
#   socket-fails   -a 4, IOCP_FAULT=socket:6-7:10055: WSASocketW fails (WSAENOBUFS) for the
#                  first two AcceptEx posted again (the 1st socket is the listener, 2-5 the
#                  pool's): two slots have no socket for now; posted again later
#   every-nth      -a 4, IOCP_FAULT=recv:%7:10055,send:%5:10055,accept:%9:10054 during a 3 s
#                  connect storm (shutdown-client storm): each kind fails at least once
# each while 10 clients in turn ask GET / (some are cut: their connection's post failed; none
# may be left waiting: a failed post ends its connection at once, with a reset).
# Then (expect.map says which): exactly the posts picked failed ("fault:" lines in the log)
# and /stats KIND.failed counts them (a failed WSASocketW is not a post: not counted); 10 new requests are all answered; the ledger check;
# the AcceptEx pool is whole again (/stats accept.pending = 4 within 5 s: 06's sweep and
# 05's main post a slot again every 500 ms at most); Ctrl+C: exit 0
# and a zero final ledger within 7 s. every-nth, where faults go on, asks no more requests
# and no ledger check: the pool, then Ctrl+C. Always: no "opcheck:" line, no Wine crash
# report (nor, with HEAP_CHECK=1, a heap warning). Lines:
#   PASS 06-shutdown/accept-fails: 3 accept posts failed (accept.failed=3), 10/10 then; ...
# FAULT_ONLY="TEST..." runs those tests only (tests/breakit does, on a mutated stage).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$here/../lib.sh"
map=$here/expect.map
suite_setup                 # CLIENT, $tmp, and the cleanup on exit
SERVER_BUILD=$debug_build   # every server here is the debug build
POOL=4                      # -a: AcceptEx requests kept pending (05, 06)

# start TEST RULES EXPECT: a fresh log and debug server with IOCP_FAULT=RULES (-a 4 where
# the stage keeps an AcceptEx pool).
start() {
    local args=()
    [ "$3" = serve ] || args=(-a "$POOL")
    LOG_PREFIX=fault-$1-
    SERVER_EXIT_MS=
    : >"$(server_log "$STAGE")"
    IOCP_FAULT=$2 server_start "$STAGE" "${args[@]}"
}

# requests N: N clients in turn, GET / each on a new connection. Sets OK (how many got 200)
# and HUNG (how many got nothing within 5 s: their connection was neither answered nor ended;
# a failed post must end it, with a reset, so that its client knows at once).
requests() {
    local i code
    OK=0 HUNG=0
    for ((i = 0; i < $1; i++)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$SERVER_PORT/")
        case $? in
            0) [ "$code" != 200 ] || OK=$((OK + 1)) ;;
            28) HUNG=$((HUNG + 1)) ;;
        esac
    done
}

# pool_whole: "" once /stats accept.pending is back to POOL (within 5 s), else what it is.
pool_whole() {
    local end=$(($(now_ms) + 5000)) pending
    while :; do
        pending=$(stats_op "$(stats_now)" accept pending)
        [ "$pending" = "$POOL" ] && return 0
        [ "$(now_ms)" -lt "$end" ] || break
        sleep 0.1
    done
    echo "accept.pending=${pending:-?} 5 s later, want the pool of $POOL: a failed AcceptEx was not posted again"
}

# finish EXPECT: the end of every test, after its checks: the pool (pool, drains), then
# Ctrl+C and the final ledger (drains) or a plain stop. Adds to REASON and DETAIL.
finish() {
    local why
    if ! server_alive; then
        server_stop
        REASON="${REASON:+$REASON; }the server died (exit status $SERVER_STATUS)"
        return
    fi
    if [ "$1" != serve ]; then
        why=$(pool_whole)
        [ -z "$why" ] || REASON="${REASON:+$REASON; }$why"
    fi
    if [ "$1" != drains ]; then
        server_stop
    elif ! ctrl_c_and_wait 7000; then
        REASON="${REASON:+$REASON; }still running 19 s after Ctrl+C"
    else
        after_exit 7000
        [ -z "$EXIT_PROBLEM" ] || REASON="${REASON:+$REASON; }after Ctrl+C: $EXIT_PROBLEM"
        DETAIL+="; $(ledger_detail)"
    fi
}

# fault_test TEST RULES KIND COUNT EXPECT: COUNT posts of KIND fail under RULES while 10
# clients come in turn; then 10 more are all answered, the ledger check, finish.
fault_test() {
    local test=$1 rules=$2 kind=$3 want=$4 expect=$5 cut hung failed_lines failed ok
    REASON='' DETAIL=''
    start "$test" "$rules" "$expect" || { result "$test" "the debug build did not start (see $(server_log "$STAGE"))" ""; return; }
    requests 10
    cut=$((10 - OK)) hung=$HUNG
    [ "$hung" = 0 ] ||
        REASON="$hung of 10 clients got nothing within 5 s: a connection whose post failed was left waiting for a completion that never comes"
    failed_lines=$(grep -c "^fault: $kind post " "$(server_log "$STAGE")")
    failed=$(stats_op "$(stats_now)" "$kind" failed)
    [ "$failed_lines" = "$want" ] ||
        REASON="${REASON:+$REASON; }$failed_lines $kind posts failed, want $want (IOCP_FAULT=$rules): too few posts of that kind, or the switch is off"
    # /stats counts failed I/O posts; a failed WSASocketW is none (no count to check)
    [ "$kind" = socket ] || [ "${failed:-0}" -ge "$want" ] ||
        REASON="${REASON:+$REASON; }/stats $kind.failed=${failed:-missing} after $want failed posts: the stage did not count them"
    requests 10
    ok=$OK
    [ "$ok" = 10 ] || REASON="${REASON:+$REASON; }only $ok of 10 requests answered after the failures"
    if server_alive && ! ledger_check; then
        REASON="${REASON:+$REASON; }ledger: $(detail_of "$LEDGER_OUT")"
    fi
    [ "$kind" != socket ] || failed='none: no I/O was posted'
    DETAIL="$failed_lines $kind posts failed ($kind.failed=${failed:-?}), $cut of 10 clients cut meanwhile, then $ok of 10 answered"
    finish "$expect"
    result "$test" "$REASON" "$DETAIL"
}

t_recv_fails() { fault_test recv-fails recv:3-4:10055 recv 2 "$1"; }
t_send_fails() { fault_test send-fails send:2-3:10055 send 2 "$1"; }
t_accept_fails() { fault_test accept-fails accept:5-7:10054 accept 3 "$1"; }
t_accept_refill() { fault_test accept-refill accept:5-6:10055 accept 2 "$1"; }
t_accept_tries_out() { fault_test accept-tries-out accept:5-12:10054 accept 8 "$1"; }
t_socket_fails() { fault_test socket-fails socket:6-7:10055 socket 2 "$1"; }

t_every_nth() {
    local test=every-nth rules=recv:%7:10055,send:%5:10055,accept:%9:10054 storm=$tmp/storm.out kind n
    REASON='' DETAIL=''
    start $test "$rules" "$1" || { result $test "the debug build did not start (see $(server_log "$STAGE"))" ""; return; }
    BG_OUT=$storm bg "$CLIENT" -p "$SERVER_PORT" -t 20000 storm --conns 64 --for 3000
    wait_for "$storm" '^STORM ' 15000 || REASON="the storm did not end in 15 s"
    end_bg "$BG_PID"
    for kind in recv send accept; do
        n=$(grep -c "^fault: $kind post " "$(server_log "$STAGE")")
        [ "$n" -ge 1 ] || REASON="${REASON:+$REASON; }no $kind post failed (IOCP_FAULT=$rules)"
        DETAIL+="${DETAIL:+, }$n $kind"
    done
    DETAIL="posts failed: $DETAIL; storm: $(grep -o 'connects=.*' "$storm" || echo none)"
    finish "$1"
    result $test "$REASON" "$DETAIL"
}

[ $# -gt 0 ] || { echo "usage: $0 STAGE... (e.g. 05-acceptex 06-shutdown)" >&2; exit 2; }
run_suite "$map" "${FAULT_ONLY:-}" "$@"
