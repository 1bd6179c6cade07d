#!/usr/bin/env bash
# tests/browser/run.sh STAGE... - a real browser loads each stage's page.
#
# For each stage whose build/STAGE/server.exe exists: start it under Wine, let headless
# Chromium load http://127.0.0.1:PORT/ and dump the DOM (it preconnects a second
# connection, may ask for /favicon.ico, keeps the connection alive), check the DOM names
# the stage, then the ledger check (the server is back to only the probe's connection,
# nothing pending) and the log for a Wine crash report. Lines:
#   PASS browser/01-blocking
#   browser/01-blocking: page in 0.6 s over 2 connections     (information)
#   PASS browser/01-blocking/ledger
#   PASS browser/01-blocking/no-crash-report
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$here/../lib.sh"
require_scenarios
CHROMIUM=${CHROMIUM:-chromium}
LOAD_S=${LOAD_S:-60}    # Chromium's whole run, at most
LOG_PREFIX=browser-     # server logs: build/tests/browser-STAGE.log
profile=$(mktemp -d)
trap 'server_stop; wine_stop; rm -rf "$profile"' EXIT

# browse URL DOM_FILE: Chromium dumps the loaded page's DOM; a fresh profile each time.
browse() {
    rm -rf "$profile" && mkdir -p "$profile"
    timeout -k 5 "$LOAD_S" "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic \
        --no-first-run --disable-background-networking --disable-component-update \
        --disable-sync --user-data-dir="$profile" --dump-dom "$1" >"$2" 2>"$2.stderr"
}

run_stage() {
    local stage=$1 name="browser/$1" dom="$build/tests/browser-$1.html"
    local rc=0 before start seconds conns crash
    if [ ! -f "$(server_exe "$stage")" ]; then
        echo "SKIP $name: $(server_exe "$stage") is not built"
        return
    fi
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
    echo "$name: page in $seconds s over $conns connections"

    server_stop
    crash=$(crash_report "$stage")
    if [ -z "$crash" ]; then
        pass "$name/no-crash-report"
    else
        fail "$name/no-crash-report" "$crash (see $(server_log "$stage"))"
    fi
}

[ $# -gt 0 ] || { echo "usage: $0 STAGE... (e.g. 01-blocking 02-recv-only)" >&2; exit 2; }
command -v "$CHROMIUM" >/dev/null || { echo "$CHROMIUM not found (apt-get install chromium)" >&2; exit 2; }
wine_ready
for stage in "$@"; do
    run_stage "$stage"
done
[ "$failures" -eq 0 ]
