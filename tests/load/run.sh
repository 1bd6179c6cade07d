#!/usr/bin/env bash
# tests/load/run.sh STAGE... - a short wrk run against each stage, then the ledger.
#
# For each stage whose build/STAGE/server.exe exists and each mode of expect.map
# (keep-alive; close = every request with "Connection: close"): start the server (-q),
# run wrk (LOAD_SECONDS, default 3 s; 50 connections, 2 threads, --timeout 2s), and while
# it runs send one probe request (GET /stats) once wrk's connections are up: wrk (4.1)
# counts a "timeout" only for an answer that comes later than --timeout, and a request
# that never gets one is not counted at all, so wrk alone cannot see a stall. Then:
#   PASS 02-recv-only/keep-alive: 7785 req/s (24131 requests in 3 s), p99 26.9 ms, probe answered in 9 ms
#   PASS 01-blocking/keep-alive (expected stall): ..., probe unanswered in 2 s while wrk held 50 connections
#   FAIL 03-recv-send/close: wrk socket errors: read 12; ...
# A mode passes when wrk saw no socket error (connect, read, write, timeout) and no
# 4xx/5xx answer, the probe was answered (serve) or not (stall) as the map says, the server
# still runs, the ledger check passes (scenarios ledger-zero: no connection but its probe
# left, no I/O pending), and the server's log holds no Wine crash report and, with
# HEAP_CHECK=1, no Wine heap warning. req/s is shown, never judged: the machine is shared
# (speed is `make bench`'s business). Server logs: build/tests/load-MODE-STAGE.log.
#
# HEAP_CHECK=1: the servers run with WINEDEBUG=warn+heap (see tests/lib-extra.sh), and
# first heap-selftest.exe (a double free) must be caught, or the check would be blind.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$here/../lib.sh"
# shellcheck source=../lib-extra.sh
. "$here/../lib-extra.sh"
map=$here/expect.map
require_scenarios
trap 'suite_aborted $?; server_stop; [ -z "${WRK_PID:-}" ] || kill "$WRK_PID" 2>/dev/null; wine_stop' EXIT

seconds=${LOAD_SECONDS:-3}
conns=50
probe_s=2
WRK_PID=
declare -A cell

heap_selftest() {
    local exe=$build/tests/heap-selftest.exe log=$build/tests/load-heap-selftest.log found
    if [ ! -f "$exe" ]; then
        fail heap-check/selftest "$exe is not built (make $exe)"
        return
    fi
    timeout -k 5 60 wine "$exe" >"$log" 2>&1
    found=$(heap_lines "$log")
    if [ -n "$found" ]; then
        pass "heap-check/selftest (a double free is caught: ${found#Wine heap: })"
    else
        fail heap-check/selftest "a double free printed no heap warning: the heap check is blind (see $log)"
    fi
}

# run_mode STAGE MODE EXPECT: one server, one wrk run, one result line.
run_mode() {
    local stage=$1 mode=$2 expect=$3 out wrk_out line probe probe_ms='' probe_rc=0 reason='' detail=''
    local hdr=() t0 req=0 dur rps=0 p99 errs crash heap name=$1/$2
    [ "$mode" = close ] && hdr=(-H 'Connection: close')
    LOG_PREFIX=load-$mode-
    : >"$(server_log "$stage")"
    if ! server_start "$stage" -q; then
        fail "$name" "no \"listening on\" line within 60 s (see $(server_log "$stage"))"
        cell[$mode/$stage]=FAIL
        return
    fi

    wrk_out=$(mktemp)
    timeout -k 5 $((seconds + 30)) wrk -t2 -c$conns -d"${seconds}s" --timeout 2s \
        -s "$here/report.lua" "${hdr[@]}" "http://127.0.0.1:$SERVER_PORT/" >"$wrk_out" 2>&1 &
    WRK_PID=$!
    # The probe goes in once wrk's connections are up (keep-alive: all of them; close:
    # they come and go, so any), at most 2 s after the start.
    t0=$(now_ms)
    while [ $(($(now_ms) - t0)) -lt 2000 ]; do
        if [ "$mode" = keep-alive ]; then
            [ "$(established_to "$SERVER_PORT")" -ge $conns ] && break
        else
            [ "$(established_to "$SERVER_PORT")" -ge 1 ] && break
        fi
        sleep 0.02
    done
    probe=$(curl -s -o "$wrk_out.stats" -H 'Connection: close' --max-time $probe_s \
            -w '%{http_code} %{time_total}' "http://127.0.0.1:$SERVER_PORT/stats") || probe_rc=$?

    wait "$WRK_PID"
    WRK_PID=
    out=$(cat "$wrk_out")
    rm -f "$wrk_out"
    line=$(grep '^WRK ' <<<"$out")

    if [ -z "$line" ]; then
        reason="wrk printed no result: $(tr '\n' ' ' <<<"$out" | cut -c1-300)"
    else
        req=$(wrk_field "$line" requests)
        dur=$(wrk_field "$line" duration_us)
        p99=$(wrk_field "$line" p99_us)
        rps=$((req * 1000000 / (dur > 0 ? dur : 1)))
        detail="$rps req/s ($req requests in ${seconds} s), p99 $((p99 / 1000)).$((p99 % 1000 / 100)) ms"
        errs=''
        for f in connect read write timeout; do
            [ "$(wrk_field "$line" $f)" = 0 ] || errs+=" $f $(wrk_field "$line" $f)"
        done
        [ -z "$errs" ] || reason="wrk socket errors:$errs"
        [ "$(wrk_field "$line" status)" = 0 ] ||
            reason="${reason:+$reason; }$(wrk_field "$line" status) answers with status >= 400"
        [ "$req" -gt 0 ] || reason="${reason:+$reason; }wrk got no answer at all"
    fi

    # the probe: answered (curl exit 0, 200) or not (curl exit 28: --max-time)
    if [ $probe_rc -eq 0 ] && [ "${probe%% *}" = 200 ]; then
        probe_ms=$(awk '{ printf "%d", $2 * 1000 + 0.5 }' <<<"$probe")
        detail+=", probe answered in $probe_ms ms"
        [ "$expect" = stall ] &&
            reason="${reason:+$reason; }the probe was answered during the run ($probe_ms ms), but this stage must stall (its limitation)"
    elif [ $probe_rc -eq 28 ]; then
        detail+=", probe unanswered in $probe_s s while wrk held $conns connections"
        [ "$expect" = serve ] &&
            reason="${reason:+$reason; }a probe request got no answer in $probe_s s during the run"
    else
        reason="${reason:+$reason; }probe: curl exit $probe_rc, answer '${probe}'"
    fi
    # /stats read under load: no kind of operation may show a negative pending count
    if grep -q '"pending":-' "$wrk_out.stats" 2>/dev/null; then
        reason="${reason:+$reason; }/stats under load showed a negative pending count: $(cat "$wrk_out.stats")"
    fi
    rm -f "$wrk_out.stats"

    if ! server_alive; then
        server_stop
        reason="${reason:+$reason; }the server died (exit status $SERVER_STATUS)"
    elif ! ledger_check; then
        reason="${reason:+$reason; }ledger: $(detail_of "$LEDGER_OUT")"
    fi
    server_stop
    crash=$(crash_report "$stage")
    [ -z "$crash" ] || reason="${reason:+$reason; }Wine crash report: $crash"
    heap=$(heap_report "$stage")
    [ -z "$heap" ] || reason="${reason:+$reason; }$heap"
    [ -z "$reason" ] || reason="$reason (log: $(server_log "$stage"))"

    if [ -n "$reason" ]; then
        fail "$name" "$reason${detail:+; $detail}"
        cell[$mode/$stage]=FAIL
    elif [ "$expect" = stall ]; then
        pass "$name (expected stall): $detail"
        cell[$mode/$stage]="stall"
    else
        pass "$name: $detail"
        cell[$mode/$stage]="$rps/s"
    fi
}

run_stage() {
    local stage=$1 mode expect
    stage_plan "$map" "$stage" || return 0
    while read -r mode expect; do
        if [ "$expect" = - ]; then cell[$mode/$stage]=-; else run_mode "$stage" "$mode" "$expect"; fi
    done <<<"$PLAN"
}

print_table() {
    local mode stage
    printf '\n%-12s' mode
    for stage in "$@"; do printf ' %-15s' "$stage"; done
    printf '\n'
    for mode in keep-alive close; do
        printf '%-12s' "$mode"
        for stage in "$@"; do printf ' %-15s' "${cell[$mode/$stage]:-skip}"; done
        printf '\n'
    done
    echo "(req/s on this machine while other work may share it: an illustration, not a benchmark)"
}

[ $# -gt 0 ] || { echo "usage: $0 STAGE... (e.g. 01-blocking 02-recv-only)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "FAIL load: wrk is not installed"; exit 1; }
wine_ready
wine_persist
[ "${HEAP_CHECK:-0}" = 1 ] && heap_selftest
for stage in "$@"; do
    run_stage "$stage"
done
print_table "$@"
suite_end
