#!/usr/bin/env bash
# tests/browser/run.sh STAGE... - a real browser loads each stage's page and runs its lab.
#
# For each stage whose build/STAGE/server.exe exists: start it under Wine, let headless
# Chromium load http://127.0.0.1:PORT/ and dump the DOM (it preconnects a second
# connection, may ask for /favicon.ico, keeps the connection alive), check the DOM names
# the stage. Then the lab (common/lab/lab.html, /lab?run=lab, driven in real time by
# tests/browser/lab.py): it draws four /sleep?ms=1000 at once as a timeline, an idle
# connection kept open while a second one asks, and the ledger's charts around a 64 MiB
# download. lab.py reads back what the page drew (the SVG's bars, axis ticks, chart lines,
# the connections' table) and judges it as a reader would, against
# tests/scenario/expect.map's rows for the stage:
#   lab-sleep-timeline   sleep-parallel-4: stall -> the four handler bars form a staircase,
#                        serve -> side by side, all ending by 2.5 s (the scenario's bound)
#   lab-held-timeline    idle-blocks-others: stall -> B's bar ends after the red line (A's
#                        connection ends), serve -> before it
#   lab-charts           the three charts are drawn, and move (a second look, up to 10 s later)
#   lab-download-chart   big-unread-blocks-others (a blocking send holds the one thread):
#                        serve -> send.pending is 1 in the download's band, never more;
#                        stall -> never above 0, and the page counted no answer of /stats
#                        while the server was sending; buffer_bytes under 1 MiB either way
#   lab-connections      /stats lists "conns" -> the page draws them as a table (its second
#                        look: the list is the last sweep's, which skips connections a
#                        handler holds, so it may be empty for a moment); otherwise it
#                        says "this stage does not list its connections"
# A screenshot of the whole lab goes to build/tests/browser-STAGE-lab.png, what it drew to
# build/tests/browser-STAGE-lab.json, its findings to build/tests/browser-STAGE.lab. Then
# the ledger check (the server is back to only the probe's connection, nothing pending)
# and the log for a Wine crash report. Lines:
#   PASS browser/01-blocking
#   PASS browser/01-blocking/lab (finished in 24 s)
#   PASS browser/01-blocking/lab-sleep-timeline (handler bars at 157-1157, 1204-2204, ...: a staircase)
#   browser/01-blocking: page in 0.6 s; page and lab over 14 connections     (information)
#   PASS browser/01-blocking/ledger
#   PASS browser/01-blocking/no-crash-report
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$here/../lib.sh"
require_scenarios
# shellcheck source=chromium.sh
. "$here/chromium.sh"
LOAD_S=${LOAD_S:-60}    # Chromium's whole run, at most
LAB_S=${LAB_S:-60}      # the lab's whole run, at most (about 25 s; a request gives up after 12 s)
LOG_PREFIX=browser-     # server logs: build/tests/browser-STAGE.log
trap 'suite_aborted $?; server_stop; wine_stop; chromium_cleanup' EXIT

# browse URL DOM_FILE: Chromium dumps the loaded page's DOM.
browse() {
    chromium_flags
    timeout -k 5 "$LOAD_S" "$CHROMIUM" "${flags[@]}" --dump-dom "$1" >"$2" 2>"$2.stderr"
}

# expect STAGE ROW: the stage's column of tests/scenario/expect.map for ROW (serve, stall).
expect() {
    expectations "$here/../scenario/expect.map" "$1" | awk -v row="$2" '$1 == row { print $2 }'
}

# lab STAGE: run the page's lab in real time, then judge what it drew.
lab() {
    local stage=$1 name="browser/$1" out rc=0 start sleep lists
    local shot=$build/tests/browser-$stage-lab.png drawing=$build/tests/browser-$stage-lab.json
    rm -f "$shot" "$drawing"
    chromium_flags
    start=$SECONDS
    out=$(timeout -k 5 $((LAB_S + 30)) python3 "$here/lab.py" findings \
          "http://127.0.0.1:$SERVER_PORT/lab?run=lab" --seconds "$LAB_S" \
          --screenshot "$shot" --drawing "$drawing" -- "$CHROMIUM" "${flags[@]}") || rc=$?
    echo "$out" >"$build/tests/browser-$stage.lab"
    if [ $rc -ne 0 ] || [ ! -f "$drawing" ]; then
        fail "$name/lab" "the lab did not finish in $LAB_S s (exit $rc): $(tail -n 1 <<<"$out")"
        return
    fi
    pass "$name/lab (finished in $((SECONDS - start)) s)"
    sed 's/^/    /' <<<"$out" | grep -v '^    lab done$'
    sleep=parallel
    [ "$(expect "$stage" sleep-parallel-4)" = stall ] && sleep=serial
    # does this stage's /stats list its connections? (the page must say what it shows)
    lists=$(python3 "$here/lab.py" lists "http://127.0.0.1:$SERVER_PORT/stats") || lists="?"
    python3 "$here/lab.py" check "$drawing" --sleep "$sleep" \
        --held "$(expect "$stage" idle-blocks-others)" \
        --sends "$(expect "$stage" big-unread-blocks-others)" --lists "$lists" "$name" ||
        failures=$((failures + 1))
}

run_stage() {
    local stage=$1 name="browser/$1" dom="$build/tests/browser-$1.html"
    local rc=0 before start seconds conns crash
    stage_plan "$here/../scenario/expect.map" "$stage" || return 0
    : >"$(server_log "$stage")"
    if ! server_start "$stage"; then
        fail "$name" "no \"listening on\" line within 60 s (see $(server_log "$stage"))"
        return
    fi
    ledger_check || true
    before=$LEDGER_ACCEPTED

    start=$(date +%s%N)
    browse "http://127.0.0.1:$SERVER_PORT/" "$dom" || rc=$?
    seconds=$(( ($(date +%s%N) - start) / 1000000 ))
    seconds=$((seconds / 1000)).$(( (seconds % 1000) / 100 ))
    if [ $rc -ne 0 ]; then
        fail "$name" "chromium exited with status $rc after $seconds s (124: timed out; see $dom.stderr)"
    elif ! grep -q -- "$stage" "$dom"; then
        fail "$name" "the page Chromium loaded does not name $stage (see $dom)"
    else
        pass "$name"
    fi
    lab "$stage"

    if ledger_check; then
        pass "$name/ledger"
    else
        fail "$name/ledger" "$(detail_of "$LEDGER_OUT")"
    fi
    # Chromium's connections: the growth of "accepted" less the ledger probes.
    conns=$(sed -n 's/.* conns=\([0-9]*\).*/\1/p' <<<"$LEDGER_OUT")
    if [ -n "$before" ] && [ -n "$LEDGER_ACCEPTED" ] && [ -n "$conns" ]; then
        conns=$((LEDGER_ACCEPTED - before - conns))
    else
        conns="?"
    fi
    echo "$name: page in $seconds s; page and lab over $conns connections"

    server_stop
    crash=$(crash_report "$stage")
    if [ -z "$crash" ]; then
        pass "$name/no-crash-report"
    else
        fail "$name/no-crash-report" "$crash (see $(server_log "$stage"))"
    fi
}

[ $# -gt 0 ] || { echo "usage: $0 STAGE... (e.g. 01-blocking 02-recv-only)" >&2; exit 2; }
chromium_check
wine_ready
for stage in "$@"; do
    run_stage "$stage"
done
suite_end
