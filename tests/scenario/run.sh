#!/usr/bin/env bash
# tests/scenario/run.sh STAGE... - the scenario suite against each stage's server.
#
# For each stage (a directory name, e.g. 01-blocking) whose build/STAGE/server.exe exists:
# start it under Wine, run every scenario its column of expect.map asks for, each one
# followed by the ledger check (only the probe's connection left, no I/O pending, and
# "accepted" grown by exactly the connections the scenario opened plus the probes), then
# check the server still runs and its log holds no Wine crash report. One line per check:
#   PASS 01-blocking/pipeline-20
#   PASS 01-blocking/idle-blocks-others (expected stall)
#   FAIL 02-recv-only/big-8m: <reason>
# and at the end a table, scenario x stage. Exit status 1 if anything failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$here/../lib.sh"
map=$here/expect.map
require_scenarios
trap 'server_stop; wine_stop' EXIT

declare -A cell    # cell[scenario/stage]: pass, stall, FAIL, skip or -
rows=()            # scenarios in map order, then the per-stage checks
accepted=          # the server's "accepted" counter after the last ledger check

# expectations STAGE: "scenario expectation" lines, from the stage's column of the map.
expectations() {
    awk -v stage="$1" '
        /^#/ || NF == 0 { next }
        $1 == "scenario" { for (i = 2; i <= NF; i++) if ($i == stage) col = i; next }
        col { print $1, $col }
        END { if (!col) exit 1 }' "$map"
}

# (Re)start the stage's server and take the ledger's starting point.
start_server() {
    server_start "$1" || return 1
    ledger_check || true
    accepted=$LEDGER_ACCEPTED
}

# run_scenario STAGE NAME EXPECT: one scenario, then the ledger check; one result line.
run_scenario() {
    local stage=$1 name=$2 expect=$3 out rc=0 conns detail reason='' want=''
    out=$(timeout -k 5 60 "$SCENARIOS" -p "$SERVER_PORT" "$name") || rc=$?
    detail=$(detail_of "$out")
    case $expect/$rc in
        serve/0 | stall/3) ;;
        serve/3) reason="stalled, but this stage must serve it: $detail" ;;
        stall/0) reason="served, but this stage must stall (its limitation): $detail" ;;
        */1) reason=$detail ;;
        *) reason="scenarios exited with status $rc: ${out:-no output}" ;;
    esac

    conns=$(sed -n 's/^[A-Z]* [^ ]* conns=\([0-9]*\).*/\1/p' <<<"$out")
    if ! server_alive; then
        server_stop
        reason="${reason:+$reason; }the server died (exit status $SERVER_STATUS)"
        start_server "$stage" || true
    else
        [ -z "$accepted" ] || [ -z "$conns" ] || want=$((accepted + conns))
        if ledger_check "$want"; then
            accepted=$LEDGER_ACCEPTED
        else
            # leaked or hung: a fresh server, so the next scenario starts clean
            reason="${reason:+$reason; }ledger: $(detail_of "$LEDGER_OUT") (server restarted)"
            server_stop
            start_server "$stage" || true
        fi
    fi

    if [ -n "$reason" ]; then
        fail "$stage/$name" "$reason"
        cell[$name/$stage]=FAIL
    elif [ "$expect" = stall ]; then
        pass "$stage/$name (expected stall)"
        cell[$name/$stage]=stall
    else
        pass "$stage/$name"
        cell[$name/$stage]=pass
    fi
}

# check STAGE CHECK REASON: a per-stage check; REASON empty means it passed.
check() {
    if [ -z "$3" ]; then pass "$1/$2"; cell[$2/$1]=pass; else fail "$1/$2" "$3"; cell[$2/$1]=FAIL; fi
}

run_stage() {
    local stage=$1 name expect plan crash
    if ! plan=$(expectations "$stage"); then
        fail "$stage" "no column for it in $map"
        return
    fi
    if [ ! -f "$(server_exe "$stage")" ]; then
        echo "SKIP $stage: $(server_exe "$stage") is not built"
        while read -r name expect; do cell[$name/$stage]=skip; done <<<"$plan"
        return
    fi
    : >"$(server_log "$stage")"
    if ! start_server "$stage"; then
        fail "$stage/start" "no \"listening on\" line within 60 s (see $(server_log "$stage"))"
        return
    fi
    while read -r name expect; do
        if [ "$expect" = - ]; then
            cell[$name/$stage]=-
        elif ! server_alive; then
            fail "$stage/$name" "no server (it would not restart)"
            cell[$name/$stage]=FAIL
        else
            run_scenario "$stage" "$name" "$expect"
        fi
    done <<<"$plan"
    check "$stage" still-running "$(server_alive || echo "the server is not running at the end")"
    server_stop
    crash=$(crash_report "$stage")
    check "$stage" no-crash-report "${crash:+$crash (see $(server_log "$stage"))}"
}

print_table() {
    local row stage
    printf '\n%-26s' scenario
    for stage in "$@"; do printf ' %-15s' "$stage"; done
    printf '\n'
    for row in "${rows[@]}"; do
        printf '%-26s' "$row"
        for stage in "$@"; do printf ' %-15s' "${cell[$row/$stage]:-skip}"; done
        printf '\n'
    done
}

[ $# -gt 0 ] || { echo "usage: $0 STAGE... (e.g. 01-blocking 02-recv-only)" >&2; exit 2; }
wine_ready
mapfile -t rows < <(awk '/^#/ || NF == 0 || $1 == "scenario" { next } { print $1 }' "$map")
rows+=(still-running no-crash-report)
for stage in "$@"; do
    run_stage "$stage"
done
print_table "$@"
[ "$failures" -eq 0 ]
