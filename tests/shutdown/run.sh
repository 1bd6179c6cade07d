#!/usr/bin/env bash
# tests/shutdown/run.sh STAGE... - Ctrl+C, the drain deadline and the idle timeout.
#
# For each stage of expect.map whose build/STAGE/server.exe exists, each test of its
# column, on a server of its own (log: build/tests/shutdown-TEST-STAGE.log):
#   ctrl-c-idle           Ctrl+C with no client: exit 0 and a zero final ledger within 2 s
#   ctrl-c-terminal       as `make run`: the output on the terminal (Wine's console), Ctrl+C
#                         with no client: exit 0 and a zero final ledger within 20 s (the
#                         console is slow), and the log is plain text (no escape sequence)
#   ctrl-c-under-load     Ctrl+C while wrk runs (50 keep-alive connections): exit 0 and a zero
#                         final ledger within --drain-ms (default 5000) + 2 s
#   ctrl-c-slow-download  --drain-ms 1000: a client reading /big?bytes=67108864 slowly, and a
#                         fast GET /big?bytes=8388608 whose headers have arrived when Ctrl+C
#                         goes: the fast one completes whole, the slow one is cut at the
#                         deadline (the server ends no sooner than ~1 s and within 1 s + 2 s),
#                         exit 0, zero final ledger
#   ctrl-c-twice          --drain-ms 10000 and a slow download: a second Ctrl+C once the
#                         listener is closed skips the deadline (exit 0 within 2 s of it)
#   idle-close            --idle-ms 1000: a client that says nothing and a slowloris client
#                         (one header byte every 300 ms) are closed by the server after
#                         ~1000 ms (within 1000 ms + 1 s), while a keep-alive client with a
#                         request every 300 ms for 2.4 s and single requests are served;
#                         then the ledger check, then Ctrl+C as in ctrl-c-idle
#   send-deadline         a client that asks for 60 MB and reads nothing after its header
#                         block, beside one that reads 8 MiB at 1 MiB/s. serve (06,
#                         --send-ms 2000): the non-reader is closed ("send made no progress"
#                         in the log) 1.5..6 s after its request (the deadline counts from the
#                         last progress, which follows the request) and freed within 3 s of
#                         that while it still holds its socket (its cancelled send completes:
#                         /stats live_connections is back to the slow reader and the probe);
#                         when it then reads, it gets a reset (an abort), not an EOF; the
#                         slow reader gets every byte; stall (05, no deadline): the
#                         non-reader still holds its connection 4 s later. Then the ledger
#                         is back to its baseline
#   send-progress         --send-ms 2000: 1 MiB read at 150 KB/s (about 7 s) comes whole
#   sweep-behind-handler  --idle-ms 1000: four pipelined /sleep?ms=2000 keep one connection's
#                         handler busy for 8 s; a silent connection beside it is closed after
#                         1000..2000 ms all the same (the sweep passes by a busy connection);
#                         the four answers come; the ledger is back to its baseline
#   ctrl-c-pipelined      --drain-ms 1000: ten pipelined /sleep?ms=2000 on one connection,
#                         Ctrl+C once the first is running, Ctrl+C again once the listener is
#                         closed: exit 0 and a zero final ledger within 1000 + 5000 ms of the
#                         first (the shutdown does not wait for requests not yet begun)
#   budget                --budget-mb 1: sixteen clients ask for 64 MiB each and read nothing
#                         (about 128 KiB each is held: over 1 MiB in all); then GET / gets
#                         503 with Retry-After, and /stats (still answered) counts it in
#                         "refused"; once they have gone, GET / is served again and the
#                         ledger is back to its baseline
#   ctrl-c-repeat         ten times (SHUTDOWN_REPEAT=N: N times): a fresh server, wrk
#                         (keep-alive and Connection: close in turn), Ctrl+C: each time exit 0
#                         and a zero final ledger within --drain-ms + 2 s
#   ctrl-c-idle-conns     --drain-ms 20000 and four idle connections: Ctrl+C ends the server
#                         within 4 s, exit 0, zero final ledger; each idle client sees EOF
#   ctrl-c-storm          the debug build (build/debug, DEBUG_BUILD_DIR), STORM_REPEAT times
#                         (default 5): Ctrl+C in a connect storm (shutdown-client storm), exit
#                         0 and a zero final ledger within --drain-ms + 2 s, no "opcheck:"
#   budget-uploads        --budget-mb 8: the scenario upload-48 (48 uploads of 1 MB at once:
#                         whole echo or 503 with Retry-After each, buffer_high under 8 MiB +
#                         48 x 64 KiB), then the ledger check
#   slow-window           --idle-ms 500 --linger-ms 1000: a client with SO_RCVBUF 4096 asks
#                         for /big?bytes=262144 and ten GET / behind it (keep-alive) and
#                         reads nothing until /stats no longer counts its connection (30 s
#                         at most): then every answer comes whole, then an EOF (no reset)
#   slow-upload           --idle-ms 2000: POST /echo of 20000 bytes in 10 pieces 400 ms
#                         apart is answered whole (a body's received byte is progress)
#   trickle-linger        (01) --linger-ms 1000: A reads its Connection: close answer, then
#                         sends a byte every 300 ms for 20 s, never its FIN; B, connected
#                         meanwhile, is answered within 15 s, and A is let go before then
#   ctrl-c-held           the debug build, IOCP_FAULT=recv:2:hold=5000 (common/fault.h):
#                         the read posted after half a request header waits 5 s under the
#                         connection's lock; Ctrl+C once it waits, --drain-ms 15000: the
#                         client sees an EOF (finished), not a reset at the deadline; exit
#                         0 and a zero final ledger within 10 s
# SHUTDOWN_ONLY="TEST..." runs those tests only (tests/breakit does, on a mutated stage).
# And for every test: no Wine crash report and no "opcheck:" line in the log (nor, with
# HEAP_CHECK=1, a heap warning). A check that fails prints its FAIL line and the suite goes
# on: every variable a result line reads is set first (set -u would end the suite). A stage's limitation (05-acceptex: "dies") passes as
#   PASS 05-acceptex/ctrl-c-under-load (expected: dies without a final ledger)
# (under Wine, if its program ended but Wine kept its process, a "WINE" line first: check_dies).
#
# How Ctrl+C is sent: as a user presses it. Every server runs on a terminal of its own
# (tests/lib.sh's server_start: tests/console.py), and server_ctrl_c types Ctrl+C there: the
# byte 0x03, which the terminal turns into SIGINT for its foreground process group, the
# server.exe process (/usr/bin/wine execs Wine's loader in the process that runs the
# program; Wine 8 adds its conhost.exe, which does nothing with it). Wine's ntdll catches
# the SIGINT and runs the console control routine on a new thread: the program's
# SetConsoleCtrlHandler handler gets CTRL_C_EVENT, once per key. ctrl-c-slow-download's fast
# client sends SIGINT to SERVER_PID, the terminal's helper, which types the key. The
# server's output goes to its log file, as `server.exe >>log` would in a Windows console:
# Wine's console writes about a character per millisecond to a terminal, so a shutdown that
# logs a hundred lines would be timed by the console, not by the server. ctrl-c-terminal
# runs 06 once as `make run` does, its output on the terminal (and in plain text in the
# log), with a bound that allows for that. Without a handler, Wine's default one ends the
# process (status 0 under Wine 8, 58 under Wine 10). Ctrl+Break and closing the console
# are not tested here. `make test-wine` runs this suite under Wine 10 (tools/wine10.sh).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$here/../lib.sh"
# shellcheck source=../lib-extra.sh
. "$here/../lib-extra.sh"
map=$here/expect.map
suite_setup   # CLIENT, $tmp, and the cleanup on exit

# --- helpers -----------------------------------------------------------------------------

# listening: does the server's port still accept a connection?
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$SERVER_PORT") 2>/dev/null; }

# start STAGE TEST ARGS...: a fresh log and server for one test. The default log level:
# connection events and the shutdown's steps are in the log, and the time a log line takes
# widens the races a shutdown can lose (one was found that way), which is the point here.
start() {
    local stage=$1 test=$2
    shift 2
    LOG_PREFIX=shutdown-$test-
    SERVER_EXIT_MS=
    : >"$(server_log "$stage")"
    server_start "$stage" "$@"
}

# dies: the 05 limitation after a Ctrl+C: it ends, and prints no final ledger. Under Wine
# the program can end and its process stay (wine_left_behind): said on a WINE line.
check_dies() {
    local test=$1 detail=$2 ended
    server_ctrl_c
    if server_wait_exit 17000; then
        ended="ended $SERVER_EXIT_MS ms after Ctrl+C, exit status $SERVER_STATUS"
    elif wine_left_behind; then
        echo "    WINE $STAGE/$test: the program ended at Ctrl+C, but Wine left a thread of it blocked, so its process did not end (NOTES.md, Appendix B); stopped"
        server_stop
        ended="its program ended after Ctrl+C (Wine kept its process: stopped)"
    else
        server_stop
        result "$test" "still running 17 s after Ctrl+C (stopped with SIGTERM)" "$detail"
        return
    fi
    if [ -n "$(final_ledger)" ]; then
        result "$test" "printed a final ledger: the limitation of this stage is gone, update expect.map" "$(final_ledger)"
    else
        result "$test" "" "$ended, no final ledger${detail:+; $detail}" "expected: dies without a final ledger"
    fi
}

# closed_after_idle FILE: what is wrong with the result of an idle or slowloris client in FILE
# under --idle-ms 1000 (nothing when the server closed it after 1000..2000 ms).
closed_after_idle() {
    local line ms
    line=$(grep -E '^(IDLE|SLOWLORIS|TIMEOUT|CONNECT)' "$1" || echo "no result from $1")
    ms=$(sed -n 's/.* ms=\([0-9]*\).*/\1/p' <<<"$line")
    if ! grep -q -E ' end=(eof|reset) ' <<<"$line"; then
        echo "not closed by the server: $line"
    elif [ "$ms" -gt 2000 ] || [ "$ms" -lt 900 ]; then
        echo "closed after $ms ms, want 1000..2000: $line"
    fi
}

# --- the tests ---------------------------------------------------------------------------

t_ctrl_c_idle() {
    local expect=$1 test=ctrl-c-idle reason
    start "$STAGE" $test || { result $test "no \"listening on\" line within 60 s" ""; return; }
    # ready: it answers (and that connection is closed again before the signal)
    [ -n "$(stats_now)" ] || { result $test "GET /stats got no answer" ""; server_stop; return; }
    if [ "$expect" = dies ]; then
        check_dies $test ""
        return
    fi
    if ! ctrl_c_and_wait 2000; then
        result $test "still running 14 s after Ctrl+C (stopped with SIGTERM)" ""
        return
    fi
    after_exit 2000
    result $test "$EXIT_PROBLEM" "$(ledger_detail)"
}

# As `make run`: the output on the terminal, where Wine's console writes it a character at
# a time inside cursor escapes; the log gets it as plain text (tests/console.py). The time
# is the console's (seconds for 06's 32 cancelled accepts), so the bound is wide.
t_ctrl_c_terminal() {
    local test=ctrl-c-terminal reason log line
    SERVER_TTY_OUTPUT=1 start "$STAGE" $test ||
        { result $test "no \"listening on\" line within 60 s" ""; return; }
    log=$(server_log "$STAGE")
    curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$SERVER_PORT/" || true
    wait_for "$log" ' #1 closed' 10000
    if ! ctrl_c_and_wait 20000; then
        result $test "still running 32 s after Ctrl+C (stopped with SIGTERM)" ""
        return
    fi
    after_exit 20000
    reason=$EXIT_PROBLEM
    line=$(grep -a -m1 '#1 GET / -> ' "$log")
    grep -q -E '^\[ *[0-9]+\.[0-9]{3}\] \[tid 0x[0-9a-f]+\] #1 GET / -> 200$' <<<"$line" ||
        reason="${reason:+$reason; }the log line of GET / is not plain text: $(cat -v <<<"${line:-none}")"
    ! grep -q -a $'[\x1b\r]' "$log" ||
        reason="${reason:+$reason; }escape sequences or CRs in the log: $(grep -a -m1 $'[\x1b\r]' "$log" | cat -v | cut -c1-120)"
    result $test "$reason" "$(ledger_detail), through Wine's console; $(grep -c . "$log") plain lines"
}

# start_wrk MODE: wrk against the server in the background for up to 60 s; sets WRK_PID.
start_wrk() {
    local hdr=()
    [ "$1" = close ] && hdr=(-H 'Connection: close')
    BG_OUT=$tmp/wrk.out bg timeout -k 2 70 wrk -t2 -c50 -d60s --timeout 2s "${hdr[@]}" \
        "http://127.0.0.1:$SERVER_PORT/"
    WRK_PID=$BG_PID
}

t_ctrl_c_under_load() {
    local expect=$1 test=ctrl-c-under-load reason served
    start "$STAGE" $test || { result $test "no \"listening on\" line within 60 s" ""; return; }
    start_wrk keep-alive
    if ! wait_requests 500 10000; then
        result $test "wrk got fewer than 500 answers in 10 s: no load to interrupt" ""
        end_bg "$WRK_PID"; server_stop
        return
    fi
    served=$(stats_num "$(stats_now)" requests)
    if [ "$expect" = dies ]; then
        check_dies $test "under wrk, $served requests answered before the signal"
        end_bg "$WRK_PID"
        return
    fi
    if ! ctrl_c_and_wait 7000; then
        result $test "still running 19 s after Ctrl+C (stopped with SIGTERM)" ""
        end_bg "$WRK_PID"
        return
    fi
    end_bg "$WRK_PID"
    after_exit 7000
    result $test "$EXIT_PROBLEM" "$(ledger_detail), $served requests answered before the signal"
}

t_ctrl_c_slow_download() {
    local test=ctrl-c-slow-download slow fast reason='' sig_line slow_pid fast_pid got
    start "$STAGE" $test --drain-ms 1000 || { result $test "no \"listening on\" line within 60 s" ""; return; }
    slow=$tmp/slow.out fast=$tmp/fast.out
    BG_OUT=$slow bg "$CLIENT" -p "$SERVER_PORT" -t 30000 get '/big?bytes=67108864' --rate 262144
    slow_pid=$BG_PID
    if ! wait_for "$slow" '^HEADERS status=200' 10000; then
        result $test "the slow download got no 200 header block in 10 s: $(tr '\n' ' ' <"$slow")" ""
        end_bg "$slow_pid"; server_stop
        return
    fi
    # the fast client types Ctrl+C itself (SIGINT to the terminal's helper), the moment its
    # own header block is in
    BG_OUT=$fast bg "$CLIENT" -p "$SERVER_PORT" -t 30000 get '/big?bytes=8388608' --sigint "$SERVER_PID"
    fast_pid=$BG_PID
    if ! wait_for "$fast" '^SIGNALLED|^GET ' 10000 || ! grep -q '^SIGNALLED' "$fast"; then
        result $test "the fast download did not get to its headers: $(tr '\n' ' ' <"$fast")" ""
        end_bg "$slow_pid"; end_bg "$fast_pid"; server_stop
        return
    fi
    if ! server_wait_exit 14000; then
        server_stop
        reason="still running 14 s after Ctrl+C (stopped with SIGTERM)"
    else
        after_exit 3000
        reason=$EXIT_PROBLEM
        [ "$SERVER_EXIT_MS" -ge 800 ] ||
            reason="${reason:+$reason; }ended $SERVER_EXIT_MS ms after Ctrl+C: the slow response in flight was not given its 1000 ms"
    fi
    # the slow client may now read what is left as fast as it can
    kill -USR1 "$slow_pid" 2>/dev/null
    wait_for "$slow" '^GET ' 20000
    wait_for "$fast" '^GET ' 20000
    end_bg "$slow_pid"; end_bg "$fast_pid"
    grep -q '^GET status=200 body=8388608/8388608 end=complete' "$fast" ||
        reason="${reason:+$reason; }the fast download did not complete: $(grep '^GET' "$fast" || echo no result)"
    sig_line=$(grep '^GET' "$slow" || echo 'no result')
    got=$(sed -n 's/.* body=\([0-9]*\)\/.*/\1/p' <<<"$sig_line")
    if ! grep -q -E '^GET status=200 body=[0-9]+/67108864 end=(eof|reset)' <<<"$sig_line" || [ "${got:-0}" -ge 67108864 ]; then
        reason="${reason:+$reason; }the slow download was not cut: $sig_line"
    fi
    result $test "$reason" "$(ledger_detail); fast: $(grep -o 'body=[^ ]* end=[a-z]*' "$fast"); slow: cut at ${got:-?} of 67108864 bytes"
}

t_ctrl_c_twice() {
    local test=ctrl-c-twice slow slow_pid reason='' end
    start "$STAGE" $test --drain-ms 10000 || { result $test "no \"listening on\" line within 60 s" ""; return; }
    slow=$tmp/slow2.out
    BG_OUT=$slow bg "$CLIENT" -p "$SERVER_PORT" -t 30000 get '/big?bytes=67108864' --rate 262144
    slow_pid=$BG_PID
    if ! wait_for "$slow" '^HEADERS status=200' 10000; then
        result $test "the slow download got no 200 header block in 10 s" ""
        end_bg "$slow_pid"; server_stop
        return
    fi
    server_ctrl_c
    # the drain has begun once the listener is closed
    end=$(($(now_ms) + 5000))
    while listening && [ "$(now_ms)" -lt "$end" ]; do sleep 0.02; done
    if listening; then
        reason="still accepting connections 5 s after the first Ctrl+C"
    elif ! server_alive; then
        server_wait_exit 1000
        reason="ended at the first Ctrl+C (exit status $SERVER_STATUS), with a response in flight and 10 s of drain time"
        SERVER_EXIT_MS=
    else
        server_ctrl_c
        if ! server_wait_exit 14000; then
            server_stop
            reason="still running 14 s after the second Ctrl+C (stopped with SIGTERM)"
        else
            after_exit 2000
            reason=$EXIT_PROBLEM
        fi
    fi
    end_bg "$slow_pid"
    result $test "$reason" "$(ledger_detail | sed 's/after Ctrl+C/after the second Ctrl+C/')"
}

t_idle_close() {
    local test=idle-close idle lor ka reason="" line curl_bad=0 a b c f
    start "$STAGE" $test --idle-ms 1000 || { result $test "no \"listening on\" line within 60 s" ""; return; }
    idle=$tmp/idle.out lor=$tmp/lor.out ka=$tmp/ka.out
    BG_OUT=$idle bg "$CLIENT" -p "$SERVER_PORT" -t 6000 idle;  a=$BG_PID
    BG_OUT=$lor bg "$CLIENT" -p "$SERVER_PORT" -t 6000 slowloris --interval 300;  b=$BG_PID
    BG_OUT=$ka bg "$CLIENT" -p "$SERVER_PORT" -t 10000 keepalive --count 9 --interval 300;  c=$BG_PID
    for _ in 1 2 3 4 5; do
        curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$SERVER_PORT/" || curl_bad=$((curl_bad + 1))
        sleep 0.3
    done
    for f in "$idle" "$lor" "$ka"; do wait_for "$f" '^(IDLE|SLOWLORIS|KEEPALIVE|TIMEOUT|CONNECT-FAILED)' 12000; done
    end_bg "$a"; end_bg "$b"; end_bg "$c"
    for f in "$idle" "$lor"; do
        line=$(closed_after_idle "$f")
        [ -z "$line" ] || reason="${reason:+$reason; }$line"
    done
    grep -q '^KEEPALIVE served=9/9' "$ka" ||
        reason="${reason:+$reason; }keep-alive client with a request every 300 ms: $(grep -E '^(KEEPALIVE|TIMEOUT)' "$ka" || echo 'no result')"
    [ "$curl_bad" = 0 ] || reason="${reason:+$reason; }$curl_bad of 5 single GET / failed"
    if ! server_alive; then
        reason="${reason:+$reason; }the server died"
        server_stop
    elif ! ledger_check; then
        reason="${reason:+$reason; }ledger: $(detail_of "$LEDGER_OUT")"
        server_stop
    elif ! ctrl_c_and_wait 2000; then
        reason="${reason:+$reason; }still running 14 s after Ctrl+C"
    else
        after_exit 2000
        [ -z "$EXIT_PROBLEM" ] || reason="${reason:+$reason; }after Ctrl+C: $EXIT_PROBLEM"
    fi
    result $test "$reason" "idle: $(grep -o 'end=[a-z]* ms=[0-9]*' "$idle"); slowloris: $(grep -o 'end=[a-z]* ms=[0-9]* sent=[0-9]*' "$lor"); keep-alive: $(grep -o 'served=[0-9/]*' "$ka")"
}

# ctrl_c_runs TEST RUNS LOAD: RUNS times a fresh server, the load `LOAD REP` starts (a
# function: a client in the background, LOAD_PID; it returns 1 with LOAD_PROBLEM set when
# the load does not get going), Ctrl+C: each time exit 0 and a zero final ledger within
# --drain-ms + 2 s. One result line for TEST.
ctrl_c_runs() {
    local test=$1 runs=$2 load=$3 rep bad='' why times=() before after range
    LOG_PREFIX=shutdown-$test-
    SERVER_EXIT_MS=
    : >"$(server_log "$STAGE")"
    for rep in $(seq "$runs"); do
        before=$(grep -c 'final ledger: ' "$(server_log "$STAGE")")
        if ! server_start "$STAGE"; then
            bad+=" run $rep: $(server_exe "$STAGE") did not start;"
            continue
        fi
        if ! "$load" "$rep"; then
            bad+=" run $rep: $LOAD_PROBLEM;"
            end_bg "$LOAD_PID"; server_stop
            continue
        fi
        if ! ctrl_c_and_wait 7000; then
            bad+=" run $rep: still running 19 s after Ctrl+C;"
            end_bg "$LOAD_PID"
            continue
        fi
        end_bg "$LOAD_PID"
        after_exit 7000
        why=$EXIT_PROBLEM
        # after_exit reads the last final ledger line: make sure it is this run's
        after=$(grep -c 'final ledger: ' "$(server_log "$STAGE")")
        [ "$after" = $((before + 1)) ] || [ -n "$why" ] || why="$((after - before)) final ledger lines"
        if [ -n "$why" ]; then bad+=" run $rep: $why;"; else times+=("$SERVER_EXIT_MS"); fi
    done
    range=none
    [ ${#times[@]} -eq 0 ] || range=$(printf '%s\n' "${times[@]}" | sort -n | sed -n '1p;$p' | paste -sd' ')
    result "$test" "${bad:+${bad# }}" "${#times[@]} of $runs ended with exit 0 and a zero final ledger (ms after Ctrl+C, fastest and slowest: ${range/ /, })"
}

# wrk_load REP: wrk, keep-alive on odd runs and Connection: close on even ones, until 200
# requests are answered.
wrk_load() {
    local mode=keep-alive
    [ $(($1 % 2)) = 0 ] && mode=close
    start_wrk $mode
    LOAD_PID=$WRK_PID
    LOAD_PROBLEM="($mode) fewer than 200 answers in 10 s"
    wait_requests 200 10000
}

t_ctrl_c_repeat() { ctrl_c_runs ctrl-c-repeat "${SHUTDOWN_REPEAT:-10}" wrk_load; }

# storm_load REP: shutdown-client storm (64 connections at a time, one in three reset at
# connect) until it has issued 64 connects and 50 requests are answered.
storm_load() {
    BG_OUT=$tmp/storm.out bg "$CLIENT" -p "$SERVER_PORT" -t 30000 storm --conns 64 --for 20000
    LOAD_PID=$BG_PID
    LOAD_PROBLEM="no storm of connections in 10 s: $(tr '\n' ' ' <"$tmp/storm.out")"
    wait_for "$tmp/storm.out" '^STORMING' 10000 && wait_requests 50 10000
}

# Ctrl+C in a connect storm, on the debug build (every io_op checked: common/opcheck.h;
# result fails on an "opcheck:" line in the log), STORM_REPEAT times (default 5).
t_ctrl_c_storm() {
    SERVER_BUILD=$debug_build ctrl_c_runs ctrl-c-storm "${STORM_REPEAT:-5}" storm_load
}

# pipeline N PATH: open a connection (fd in PIPE_FD), write N pipelined GET PATH on it.
pipeline() {
    local i reqs=''
    exec {PIPE_FD}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
    for ((i = 0; i < $1; i++)); do reqs+="GET $2 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"; done
    printf "$reqs" >&"$PIPE_FD"
}

# ledger_after TEST: the ledger check once a test's clients are gone (PASS/FAIL detail in
# LEDGER_PROBLEM), then the server is stopped.
ledger_after() {
    LEDGER_PROBLEM=
    if ! server_alive; then
        LEDGER_PROBLEM="the server died"
    elif ! ledger_check; then
        LEDGER_PROBLEM="ledger: $(detail_of "$LEDGER_OUT")"
    fi
    server_stop
}

t_send_deadline() {
    local expect=$1 test=send-deadline args=() slow=$tmp/sd-slow.out nr=$tmp/sd-nr.out
    local slow_pid nr_pid t0 ms live reason='' detail='' end
    [ "$expect" = serve ] && args=(--send-ms 2000)
    start "$STAGE" $test "${args[@]}" || { result $test "no \"listening on\" line within 60 s" ""; return; }
    BG_OUT=$slow bg "$CLIENT" -p "$SERVER_PORT" -t 30000 get '/big?bytes=8388608' --rate 1048576
    slow_pid=$BG_PID
    # the non-reader: its header block, then nothing read until SIGUSR1
    BG_OUT=$nr bg "$CLIENT" -p "$SERVER_PORT" -t 30000 get '/big?bytes=60000000' --hold
    nr_pid=$BG_PID
    if ! wait_for "$nr" '^HEADERS status=200' 10000; then
        reason="the non-reader got no 200 header block in 10 s: $(tr '\n' ' ' <"$nr")"
    elif [ "$expect" = serve ]; then
        t0=$(now_ms)
        if wait_for "$(server_log "$STAGE")" 'send made no progress' 6000; then
            ms=$(($(now_ms) - t0))
            [ "$ms" -ge 1500 ] || reason="the non-reader was closed $ms ms after its request, before the 2000 ms deadline"
            detail="non-reader closed $ms ms after its request"
            # freed while its client still holds the socket: the cancel completed its send
            end=$(($(now_ms) + 3000))
            until live=$(stats_num "$(stats_now)" live_connections); [ "${live:-9}" -le 2 ]; do
                [ "$(now_ms)" -lt "$end" ] || break
                sleep 0.05
            done
            [ "${live:-9}" -le 2 ] ||
                reason="${reason:+$reason; }3 s after it was closed the non-reader was not freed (live_connections=${live:-?}): its send never completed"
            # an abort: once it reads, the client learns its answer is not whole (a reset),
            # not a clean end of a cut body
            kill -USR1 "$nr_pid" 2>/dev/null
            wait_for "$nr" '^GET ' 10000
            grep -q -E '^GET status=200 body=[0-9]+/60000000 end=reset' "$nr" ||
                reason="${reason:+$reason; }the non-reader, reading after the deadline closed it, saw no reset: $(grep '^GET' "$nr" || echo no result)"
            detail+="; it read on: $(grep -o 'body=[^ ]* end=[a-z]*' "$nr")"
        else
            reason="the non-reader still held its connection 6 s after its request (--send-ms 2000)"
        fi
    else
        sleep 4   # the window in which a deadline would have closed it
        live=$(stats_num "$(stats_now)" live_connections)
        if [ "${live:-0}" -lt 2 ]; then
            reason="the non-reader's connection is gone (live_connections=${live:-?}): this stage has a send deadline now, update expect.map"
        else
            detail="after 4 s the non-reader still holds its connection (live_connections=$live)"
        fi
    fi
    end_bg "$nr_pid"
    wait_for "$slow" '^GET ' 20000
    end_bg "$slow_pid"
    grep -q '^GET status=200 body=8388608/8388608 end=complete' "$slow" ||
        reason="${reason:+$reason; }the slow reader did not get its 8 MiB: $(grep '^GET' "$slow" || echo no result)"
    ledger_after
    reason=${reason:-$LEDGER_PROBLEM}
    result $test "$reason" "$detail; slow reader: $(grep -o 'body=[^ ]* end=[a-z]* ms=[0-9]*' "$slow")" \
        "$([ "$expect" = stall ] && echo 'expected stall: no send deadline')"
}

# A reader slower than one send's worth per --send-ms is still a reader: 1 MiB read at
# 150 KB/s with --send-ms 2000 (about 7 s) comes whole. The deadline measures progress, so
# it must see the reader's progress; 06 sends at most 64 KiB a WSASend.
t_send_progress() {
    local test=send-progress out=$tmp/sp.out reason=''
    start "$STAGE" $test --send-ms 2000 || { result $test "no \"listening on\" line within 60 s" ""; return; }
    BG_OUT=$out bg "$CLIENT" -p "$SERVER_PORT" -t 30000 get '/big?bytes=1048576' --rate 150000
    wait_for "$out" '^(GET|TIMEOUT|CONNECT)' 32000
    end_bg "$BG_PID"
    grep -q '^GET status=200 body=1048576/1048576 end=complete' "$out" ||
        reason="1 MiB read at 150 KB/s under --send-ms 2000: $(grep -E '^(GET|TIMEOUT|CONNECT)' "$out" || echo no result)"
    ledger_after
    result $test "${reason:-$LEDGER_PROBLEM}" "$(grep -o 'body=[^ ]* end=[a-z]* ms=[0-9]*' "$out")"
}

# Ctrl+C with only idle connections: they are finished at once (our FIN, theirs, close),
# so the server ends long before --drain-ms (20 s here): within 4 s, exit 0, zero ledger,
# and each idle client sees an orderly end (EOF), not a reset.
t_ctrl_c_idle_conns() {
    local test=ctrl-c-idle-conns reason='' i f live end outs=() pids=()
    start "$STAGE" $test --drain-ms 20000 || { result $test "no \"listening on\" line within 60 s" ""; return; }
    for i in 1 2 3 4; do
        BG_OUT=$tmp/ic$i.out bg "$CLIENT" -p "$SERVER_PORT" -t 40000 idle
        outs+=("$tmp/ic$i.out") pids+=("$BG_PID")
    done
    for f in "${outs[@]}"; do wait_for "$f" '^(CONNECTED|CONNECT-FAILED)' 10000; done
    # all four accepted (and our probe): the server holds them
    end=$(($(now_ms) + 5000))
    until live=$(stats_num "$(stats_now)" live_connections); [ "${live:-0}" -ge 5 ]; do
        [ "$(now_ms)" -lt "$end" ] || break
        sleep 0.05
    done
    if [ "${live:-0}" -lt 5 ]; then
        reason="the four idle clients were not all accepted in 5 s (live_connections=${live:-?})"
        server_stop
    elif ! ctrl_c_and_wait 4000; then
        reason="still running 16 s after Ctrl+C with only idle connections (--drain-ms 20000): it waited for the drain's deadline"
    else
        after_exit 4000
        reason=$EXIT_PROBLEM
    fi
    for f in "${outs[@]}"; do wait_for "$f" '^(IDLE|TIMEOUT)' 5000; done
    for i in "${pids[@]}"; do end_bg "$i"; done
    for f in "${outs[@]}"; do
        grep -q '^IDLE end=eof ' "$f" ||
            reason="${reason:+$reason; }an idle client was not finished in order: $(grep -E '^(IDLE|TIMEOUT|CONNECT)' "$f" || echo no result)"
    done
    result $test "$reason" "$(ledger_detail); idle clients: $(cat "${outs[@]}" | grep -o 'end=[a-z]*' | sort | uniq -c | tr -s ' ' | tr '\n' ' ')"
}

# --budget-mb 8, and 48 clients each upload a 1 MB /echo body at once (the scenario
# upload-48): each gets its whole echo or a 503 with Retry-After, never a reset or a hang,
# and /stats buffer_high stays under the budget plus 64 KiB a connection (the scenario
# checks both); then the ledger is back to its baseline.
t_budget_uploads() {
    local test=budget-uploads out rc=0 reason=''
    start "$STAGE" $test --budget-mb 8 || { result $test "no \"listening on\" line within 60 s" ""; return; }
    out=$(scenarios -p "$SERVER_PORT" upload-48) || rc=$?
    [ "$rc" = 0 ] || reason="${out:-upload-48: no output (exit $rc)}"
    ledger_after
    result $test "${reason:-$LEDGER_PROBLEM}" "$([ "$rc" != 0 ] || detail_of "$out")"
}

t_sweep_behind_handler() {
    local test=sweep-behind-handler idle=$tmp/sb-idle.out a line reason='' answers
    start "$STAGE" $test --idle-ms 1000 || { result $test "no \"listening on\" line within 60 s" ""; return; }
    pipeline 4 '/sleep?ms=2000'
    wait_requests 2 5000 || reason="the first /sleep did not start within 5 s"   # and our probe
    BG_OUT=$idle bg "$CLIENT" -p "$SERVER_PORT" -t 10000 idle;  a=$BG_PID
    wait_for "$idle" '^(IDLE|TIMEOUT|CONNECT-FAILED)' 12000
    end_bg "$a"
    line=$(closed_after_idle "$idle")
    [ -z "$line" ] || reason="${reason:+$reason; }the silent connection: $line (the sweep waited behind the busy one?)"
    answers=$(timeout 12 grep -a -c -m 4 '^HTTP/1.1 200' <&"$PIPE_FD")
    exec {PIPE_FD}>&-
    [ "$answers" = 4 ] || reason="${reason:+$reason; }the pipelined /sleep got $answers of 4 answers"
    ledger_after
    result $test "${reason:-$LEDGER_PROBLEM}" "silent: $(grep -o 'end=[a-z]* ms=[0-9]*' "$idle"); busy: $answers of 4 answered"
}

t_budget() {
    local test=budget fds=() fd i reason='' code stats refused hdr=$tmp/budget.hdr end
    start "$STAGE" $test --budget-mb 1 || { result $test "no \"listening on\" line within 60 s" ""; return; }
    for i in $(seq 16); do
        pipeline 1 '/big?bytes=67108864'   # and never read
        fds+=("$PIPE_FD")
    done
    # GET / until the answers in flight pass the budget (nine of them do)
    end=$(($(now_ms) + 10000))
    while code=$(curl -s -o /dev/null -D "$hdr" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$SERVER_PORT/");
          [ "$code" != 503 ] && [ "$(now_ms)" -lt "$end" ]; do
        sleep 0.1
    done
    stats=$(stats_now)
    refused=$(stats_num "$stats" refused)
    [ "$code" = 503 ] || reason="${reason:+$reason; }GET / over the budget got $code, want 503 (buffer_bytes $(stats_num "$stats" buffer_bytes))"
    grep -qi '^Retry-After: ' "$hdr" || reason="${reason:+$reason; }the 503 has no Retry-After"
    [ "${refused:-0}" -ge 1 ] || reason="${reason:+$reason; }/stats refused=${refused:-missing}, want >= 1"
    [ "$(stats_num "$stats" buffer_budget)" = 1048576 ] || reason="${reason:+$reason; }/stats buffer_budget is not 1048576"
    for fd in "${fds[@]}"; do exec {fd}>&-; done
    if ! server_alive || ! ledger_check; then
        reason="${reason:+$reason; }after the sixteen went: $(detail_of "${LEDGER_OUT:-the server died}")"
    else
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$SERVER_PORT/")
        [ "$code" = 200 ] || reason="${reason:+$reason; }GET / under the budget again got $code, want 200"
    fi
    ledger_after
    result $test "${reason:-$LEDGER_PROBLEM}" "over 1 MiB: GET / got 503 (refused=$refused, buffer_bytes $(stats_num "$stats" buffer_bytes), buffer_high $(stats_num "$stats" buffer_high)); after: 200"
}

t_ctrl_c_pipelined() {
    local test=ctrl-c-pipelined reason='' end first
    start "$STAGE" $test --drain-ms 1000 || { result $test "no \"listening on\" line within 60 s" ""; return; }
    pipeline 10 '/sleep?ms=2000'
    if ! wait_requests 2 5000; then   # our probe's /stats, and the first /sleep
        result $test "the first /sleep did not start within 5 s" ""
        exec {PIPE_FD}>&-; server_stop
        return
    fi
    first=$(now_ms)
    server_ctrl_c
    end=$((first + 5000))
    while listening && [ "$(now_ms)" -lt "$end" ]; do sleep 0.02; done
    server_ctrl_c
    if ! server_wait_exit 18000; then
        server_stop
        reason="still running 18 s after the second Ctrl+C (stopped with SIGTERM)"
    else
        SERVER_EXIT_MS=$(($(now_ms) - first))   # from the first Ctrl+C
        after_exit 6000
        reason=$EXIT_PROBLEM
    fi
    exec {PIPE_FD}>&-
    result $test "$reason" "$(ledger_detail)"
}

# --- issue 25: the timers see only the server's side ---------------------------------

# A reader through a small window (SO_RCVBUF 4096) asks for /big and ten small answers
# behind it (keep-alive) and reads nothing until the server is done with it: every send
# has completed (the bytes are in the kernels), --idle-ms finishes the connection, the
# linger's --linger-ms passes without a byte from the client. What the kernels hold must
# still reach the client whole, then an EOF: the linger's end is a graceful close, not an
# abort (a reset would destroy what the client has not read). BYTES must fit in what the
# kernels hold unread, or the last send never completes: measured under Wine 8 here, 1 MiB
# fits (the connection lingers within a second), 2 MiB does not (the send stalls until
# --send-ms); 256 KiB leaves a margin of four.
WINDOW_BYTES=262144
t_slow_window() {
    local test=slow-window out=$tmp/window.out reason='' live end pid t0 waited=''
    start "$STAGE" $test --idle-ms 500 --linger-ms 1000 ||
        { result $test "no \"listening on\" line within 60 s" ""; return; }
    BG_OUT=$out bg "$CLIENT" -p "$SERVER_PORT" -t 60000 window --bytes $WINDOW_BYTES --count 10
    pid=$BG_PID
    if ! wait_for "$out" '^(SENT|WINDOW|CONNECT)' 10000 || ! grep -q '^SENT' "$out"; then
        reason="the requests were not sent: $(tr '\n' ' ' <"$out")"
    elif ! wait_for "$(server_log "$STAGE")" '#[0-9]+ GET /big -> 200' 10000; then
        reason="the server did not answer GET /big within 10 s"
    else
        # done with it (its /big is under way, so it was counted): /stats counts only
        # the probe's own connection
        t0=$(now_ms) end=$(($(now_ms) + 30000))
        until live=$(stats_num "$(stats_now)" live_connections); [ "${live:-9}" -le 1 ]; do
            [ "$(now_ms)" -lt "$end" ] || break
            sleep 0.1
        done
        if [ "${live:-9}" -le 1 ]; then
            waited="the server let it go $(($(now_ms) - t0)) ms after the requests"
        else
            reason="30 s after its requests the server still held the connection (live_connections=${live:-?})"
        fi
    fi
    kill -USR1 "$pid" 2>/dev/null
    wait_for "$out" '^(WINDOW|TIMEOUT|CONNECT)' 30000
    end_bg "$pid"
    grep -q -E '^WINDOW answers=11/11 .* end=eof ' "$out" ||
        reason="${reason:+$reason; }reading only then, the client did not get every answer, then an EOF: $(grep -E '^(WINDOW|TIMEOUT|CONNECT)' "$out" || echo no result)"
    ledger_after
    result $test "${reason:-$LEDGER_PROBLEM}" "${waited:+$waited; }$(grep -o 'answers=.*' "$out")"
}

# --idle-ms 2000 and a POST /echo of 20000 bytes sent in 10 pieces 400 ms apart (3.6 s
# in all, a piece well within every --idle-ms, whatever the load): the body's bytes
# coming in are progress, so it is answered whole, not finished mid-request.
t_slow_upload() {
    local test=slow-upload out=$tmp/upload.out reason=''
    start "$STAGE" $test --idle-ms 2000 || { result $test "no \"listening on\" line within 60 s" ""; return; }
    BG_OUT=$out bg "$CLIENT" -p "$SERVER_PORT" -t 30000 upload --bytes 20000 --count 10 --interval 400
    wait_for "$out" '^(UPLOAD|TIMEOUT|CONNECT)' 35000
    end_bg "$BG_PID"
    grep -q '^UPLOAD status=200 echo=20000/20000 .* end=complete' "$out" ||
        reason="an upload slower than --idle-ms in all, a piece every 400 ms: $(grep -E '^(UPLOAD|TIMEOUT|CONNECT)' "$out" || echo no result)"
    ledger_after
    result $test "${reason:-$LEDGER_PROBLEM}" "$(grep -o 'echo=.*' "$out")"
}

# 01 with --linger-ms 1000: client A reads its Connection: close answer and our FIN, then
# sends a byte every 300 ms for 20 s and never its FIN; each byte comes well within the
# per-recv bound, so only a total bound on the linger lets 01's one thread go. Client B,
# connected meanwhile, must be answered within 15 s (the total is 6 x 1000 ms; without it,
# B waits until A stops, 20 s), and A must have been let go before its 20 s were over.
t_trickle_linger() {
    local test=trickle-linger a=$tmp/trickle.out reason='' pid t0 code='' ms=''
    start "$STAGE" $test --linger-ms 1000 || { result $test "no \"listening on\" line within 60 s" ""; return; }
    BG_OUT=$a bg "$CLIENT" -p "$SERVER_PORT" -t 25000 trickle --interval 300 --for 20000
    pid=$BG_PID
    if ! wait_for "$a" '^(ANSWERED|TRICKLE|TIMEOUT|CONNECT)' 10000 || ! grep -q '^ANSWERED' "$a"; then
        reason="A got no answer and FIN: $(tr '\n' ' ' <"$a")"
    else
        t0=$(now_ms)
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 15 "http://127.0.0.1:$SERVER_PORT/")
        ms=$(($(now_ms) - t0))
        [ "$code" = 200 ] ||
            reason="B was not answered within 15 s while A trickled a byte every 300 ms (got ${code:-nothing} after $ms ms): the linger has no total bound"
    fi
    wait_for "$a" '^(TRICKLE|TIMEOUT)' 25000
    end_bg "$pid"
    grep -q '^TRICKLE .* end=closed ' "$a" ||
        reason="${reason:+$reason; }A was not let go: $(grep -E '^(TRICKLE|TIMEOUT)' "$a" || echo no result)"
    server_stop
    result $test "$reason" "B: ${code:-nothing} $ms ms after A's answer; A: $(grep -o 'sent=.*' "$a")"
}

# Ctrl+C while a worker holds a connection's lock: the debug build's fault switch holds
# the read posted after half a request header (IOCP_FAULT=recv:2:hold=5000: the 1st read
# is the connection's first, the 2nd follows the half header, under the connection's
# lock) and Ctrl+C goes once the hold has begun, so the shutdown's first finishing pass
# cannot take that lock. The connection must still be finished (our FIN: the client sees
# an EOF) once the hold is over, well before --drain-ms 15000, not reset at that deadline;
# then exit 0 with a zero final ledger within 10 s of Ctrl+C.
t_ctrl_c_held() {
    local test=ctrl-c-held out=$tmp/held.out reason='' pid log order
    SERVER_BUILD=$debug_build IOCP_FAULT=recv:2:hold=5000 start "$STAGE" $test --drain-ms 15000 ||
        { result $test "no \"listening on\" line within 60 s" ""; return; }
    log=$(server_log "$STAGE")
    BG_OUT=$out bg "$CLIENT" -p "$SERVER_PORT" -t 40000 partial
    pid=$BG_PID
    if ! wait_for "$log" '^fault: recv post 2 holds ' 10000; then
        result $test "the read after the half request was not held (no \"fault: recv post 2 holds\" in 10 s)" "$(tr '\n' ' ' <"$out")"
        end_bg "$pid"; server_stop
        return
    fi
    # the hold is over within 5 s of Ctrl+C: then the server has nothing to wait for
    if ! ctrl_c_and_wait 10000; then
        reason="still running 22 s after Ctrl+C (stopped with SIGTERM)"
    else
        after_exit 10000
        reason=$EXIT_PROBLEM
    fi
    wait_for "$out" '^(PARTIAL|TIMEOUT)' 5000
    end_bg "$pid"
    grep -q '^PARTIAL end=eof ' "$out" ||
        reason="${reason:+$reason; }the held connection was not finished (our FIN) once its lock was free: $(grep -E '^(PARTIAL|TIMEOUT|CONNECT)' "$out" || echo no result)"
    # the test tests only if the shutdown's pass met the lock held
    order=$(grep -a -o -E 'shutting down \(|^fault: recv post 2 held ' "$log" | head -n 1)
    [ "$order" = 'shutting down (' ] ||
        reason="${reason:+$reason; }the shutdown began only after the hold was over: nothing was tested"
    result $test "$reason" "$(ledger_detail); client: $(grep -o 'end=.*' "$out")"
}

[ $# -gt 0 ] || { echo "usage: $0 STAGE... (e.g. 05-acceptex 06-shutdown)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "FAIL shutdown: wrk is not installed"; exit 1; }
run_suite "$map" "${SHUTDOWN_ONLY:-}" "$@"
