#!/usr/bin/env bash
# tests/log/run.sh STAGE... - the log never stops a server (issue 25).
#
# For each stage whose build/STAGE/server.exe exists, one test, log-pipe/STAGE: the
# server runs with -v, its stdout to build/tests/log-pipe-STAGE.log (where its
# "listening on" line is read) and its stderr into a pipe (a fifo) that this script holds
# open and does not read, as a console whose output is paused would be: the pipe's 64 KiB
# are full after a few hundred requests. Then
#   - LOG_REQUESTS (default 5000) GET / on one keep-alive connection, one at a time
#     (tests/log/keepalive.py): each is answered whole within 10 s;
#   - /stats then counts "log_dropped" > 0: the pipe did fill, and lines were dropped
#     rather than waited for;
#   - the pipe is read again (build/tests/log-pipe-STAGE.err): within 10 s a line
#     "N log lines dropped" comes, and, once it has, the N of such lines add up to
#     /stats "log_dropped": every line lost is told;
#   - the server still runs, and its output holds no Wine crash report.
# PASS log-pipe/STAGE: ... / FAIL log-pipe/STAGE: reason.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$here/../lib.sh"
# shellcheck source=../lib-extra.sh
. "$here/../lib-extra.sh"

requests=${LOG_REQUESTS:-5000}
limit_s=10
tmp=$(mktemp -d)
hold=
READER_PID=

cleanup() {
    server_stop
    [ -z "$READER_PID" ] || end_bg "$READER_PID"
    READER_PID=
    if [ -n "$hold" ]; then exec {hold}<&-; fi
    hold=
    rm -f "$tmp/stderr.fifo"
}
trap 'suite_aborted $?; cleanup; rm -rf "$tmp"; wine_stop' EXIT

# start_piped STAGE: the server, stdout to its log, stderr to a fifo held open here (fd
# $hold) and not read. Sets SERVER_PID and SERVER_PORT; status 1 if no "listening on"
# line within 60 s.
start_piped() {
    local stage=$1 log deadline=$((SECONDS + 60))
    log=$(server_log "$stage")
    mkdir -p "$(dirname "$log")"
    : >"$log"
    mkfifo "$tmp/stderr.fifo"
    # read-write: the open does not wait for a reader, and the pipe has one (this
    # script), so the server's writes block once it is full instead of failing
    exec {hold}<>"$tmp/stderr.fifo"
    $WINE "$(server_exe "$stage")" -p 0 -v </dev/null >>"$log" 2>"$tmp/stderr.fifo" &
    SERVER_PID=$!
    SERVER_PORT=
    while [ -z "$SERVER_PORT" ]; do
        server_alive && [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
        SERVER_PORT=$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*/' "$log" |
                      sed -n '1s|.*:\([0-9]*\)/$|\1|p')
    done
}

# dropped_told FILE: the sum of N over the "N log lines dropped" lines of FILE.
dropped_told() {
    grep -a -o '[0-9]* log lines dropped' "$1" | awk '{ n += $1 } END { print n + 0 }'
}

t_log_pipe() {
    local stage=$1 name=log-pipe/$1 out err reason='' detail='' dropped told stats t0 crash
    LOG_PREFIX="log-pipe-"
    out=$(server_log "$stage")
    err=${out%.log}.err
    mkdir -p "$(dirname "$err")"
    : >"$err"
    if ! start_piped "$stage"; then
        fail "$name" "no \"listening on\" line within 60 s (see $out)"
        cleanup
        return
    fi
    stats=$(timeout -k 5 $((requests / 10 + 120)) \
            python3 "$here/keepalive.py" "$SERVER_PORT" "$requests" "$limit_s" 2>&1)
    if ! grep -q '^ANSWERED ' <<<"$stats"; then
        reason="with stderr a pipe nobody reads: $(head -n 1 <<<"${stats:-keepalive.py timed out}")"
    else
        detail="-v: $(sed -n 's/^ANSWERED //p' <<<"$stats")"
        dropped=$(stats_num "$(sed -n 's/^STATS //p' <<<"$stats")" log_dropped)
        if [ -z "$dropped" ]; then
            reason="/stats has no \"log_dropped\": $(sed -n 's/^STATS //p' <<<"$stats" | cut -c1-200)"
        elif [ "$dropped" -le 0 ]; then
            reason="/stats \"log_dropped\" is $dropped after $requests requests with -v: the pipe never filled, so this proved nothing"
        else
            detail+=", log_dropped $dropped while nobody read"
            # the reader is back: what was queued comes, then the notice
            cat <&"$hold" >"$err" &
            READER_PID=$!
            if ! wait_for "$err" 'log lines dropped' 10000; then
                reason="the pipe read again, no \"N log lines dropped\" line within 10 s ($(grep -c . "$err") lines came)"
            else
                stats=$(python3 "$here/keepalive.py" "$SERVER_PORT" 0 "$limit_s" 2>&1)
                dropped=$(stats_num "$(sed -n 's/^STATS //p' <<<"$stats")" log_dropped)
                t0=$(now_ms)
                while told=$(dropped_told "$err"); [ "$told" != "${dropped:-?}" ] &&
                      [ $(($(now_ms) - t0)) -lt 5000 ]; do
                    sleep 0.1
                done
                if [ "$told" != "${dropped:-?}" ]; then
                    reason="the \"N log lines dropped\" lines tell $told lines, /stats log_dropped says ${dropped:-nothing} ($(head -n 1 <<<"$stats"))"
                else
                    detail+=", then read: \"log lines dropped\" lines tell all $told"
                fi
            fi
        fi
    fi
    if ! server_alive; then
        reason="${reason:+$reason; }the server died"
    fi
    cleanup
    crash=$(grep -a -m1 -h -E 'Unhandled exception|page fault|^wine: |Backtrace' "$out" "$err")
    [ -z "$crash" ] || reason="${reason:+$reason; }Wine crash report: $crash"
    if [ -n "$reason" ]; then
        fail "$name" "$reason (stdout: $out)"
    else
        pass "$name: $detail"
    fi
}

[ $# -gt 0 ] || { echo "usage: $0 STAGE... (e.g. 03-recv-send 06-shutdown)" >&2; exit 2; }
[ -z "${WINE:-}" ] || { wine_ready; wine_persist; }
for stage in "$@"; do
    if [ ! -f "$(server_exe "$stage")" ]; then
        echo "SKIP $stage: $(server_exe "$stage") is not built"
        continue
    fi
    t_log_pipe "$stage"
done
suite_end
