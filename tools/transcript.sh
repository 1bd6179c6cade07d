#!/usr/bin/env bash
# tools/transcript.sh - run a stage's server, drive it with a client, print the server's log.
#
#   tools/transcript.sh [--sigint] [--wait S] [--mutation NAME [--debug] | --fault SPEC] STAGE [SERVER-ARGS...] -- 'CLIENT-COMMAND'
#
#   tools/transcript.sh 02-recv-only -v -- 'curl -s -o /dev/null $URL/ -o /dev/null $URL/favicon.ico'
#   tools/transcript.sh 03-recv-send -v -- 'scenarios -p $PORT reset-mid-response'
#
# Starts build/STAGE/server.exe -p 0 SERVER-ARGS under Wine (tests/lib.sh's server_start),
# runs CLIENT-COMMAND with `bash -c` from the top of the repository, with URL
# (http://127.0.0.1:PORT), PORT and, on PATH, build/tests (so `scenarios` is the scenario
# client). Quote the command in single quotes so that your shell leaves $URL alone.
# Then it waits until the server has settled, at most --wait seconds (default 8): GET
# /stats (Connection: close) until only that probe's connection is live and at most one
# operation is pending (the ledger check of tests/scenario, done with curl so that each
# probe's connection number is known and its lines can be left out of the log). Then it
# stops the server with SIGTERM. With --sigint it sends no probe (06's final ledger would
# count it): it waits until the log has not grown for 0.5 s, types Ctrl+C on the server's
# terminal (tests/lib.sh's server_ctrl_c: 06-shutdown drains and prints its final ledger)
# and waits up to --wait seconds for the server to exit by itself. It prints the server's
# log (stdout and stderr, without the probes' lines), then, if the client printed anything
# or failed, a line "--- client: exit status N" and the client's output.
#
# With --mutation NAME it runs, instead of the stage, the copy of it that has mutation NAME of
# tests/breakit/mutations (one mistake put back, built without the debug guard by
# `make break-it-build BREAKIT=NAME` into build/breakit/NAME-plain): a log of the mistake.
# Its ledger may never return to zero, so it settles as --sigint does (no probe; the log
# quiet for 0.5 s), then stops with SIGTERM. With --debug too, the copy is built as `make
# break-it` builds it: with the debug guard of common/opcheck.h when the mutation says `debug 1`
# (`make break-it-build-debug`, into build/notes/breakit/NAME), so the log shows what catches it.
# With --fault SPEC it runs the stage's debug build (make DEBUG=1) with IOCP_FAULT=SPEC: the
# posts SPEC names fail as Windows fails them (common/fault.h).
#
# NOTES.md quotes this output in ```text blocks marked with the command that made it (an HTML
# comment `<!-- $ tools/transcript.sh ... -->` right before the block, so that the reader sees
# what they would type instead); tools/check-notes runs the command again and compares (see its
# header). STAGE may be
# given as its number (02). BUILD_DIR and IOCP_WINEPREFIX are honoured as in tests/lib.sh.
# Every step is bounded: the client 20 s, settling and stopping --wait seconds each.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR/..
# shellcheck source=tests/lib.sh
. "$here/../tests/lib.sh"

usage() {
    sed -n '4,7p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
say() { echo "transcript: $*" >&2; }

sigint=0 wait_s=8 client_s=20 mutation= debug=0 fault=
while [ $# -gt 0 ]; do
    case $1 in
        --sigint) sigint=1; shift ;;
        --wait) [ $# -ge 2 ] || usage; wait_s=$2; shift 2 ;;
        --mutation) [ $# -ge 2 ] || usage; mutation=$2; shift 2 ;;
        --debug) debug=1; shift ;;
        --fault) [ $# -ge 2 ] || usage; fault=$2; shift 2 ;;
        -h | --help) usage ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || usage
stage=$1; shift
if [ ! -d "$top/$stage" ]; then
    # a number names the stage directory that starts with it
    for d in "$top/$stage"-*/; do [ -d "$d" ] && stage=$(basename "$d") && break; done
fi
[ -f "$top/$stage/server.c" ] || { say "no stage '$stage'"; exit 2; }
server_args=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do server_args+=("$1"); shift; done
if [ "${1:-}" != -- ] || [ $# -lt 2 ]; then usage; fi
shift
client=$*
client_path=$build/tests  # the scenario client, also for a mutated copy (built elsewhere)
if [ -n "$mutation" ] && [ $debug -eq 1 ]; then
    make --no-print-directory -s -C "$top" break-it-build-debug BREAKIT="$mutation" BUILD="$build" >/dev/null ||
        { say "mutation '$mutation' could not be built"; exit 2; }
    build=$build/notes/breakit/$mutation  # server_exe and server_log look here now
elif [ -n "$mutation" ]; then
    make --no-print-directory -s -C "$top" break-it-build BREAKIT="$mutation" BUILD="$build" >/dev/null ||
        { say "mutation '$mutation' could not be built"; exit 2; }
    build=$build/breakit/$mutation-plain  # server_exe and server_log look here now
elif [ -n "$fault" ]; then
    make --no-print-directory -s -C "$top" DEBUG=1 servers >/dev/null ||
        { say "the debug build failed"; exit 2; }
    build=$top/build/debug  # server_exe and server_log look here now
    export IOCP_FAULT=$fault
else
    [ $debug -eq 0 ] || usage
fi
[ -f "$(server_exe "$stage")" ] || { say "$(server_exe "$stage") is not built (make servers)"; exit 2; }

# One log per run (transcripts of one stage may run at once), removed at the end.
export LOG_PREFIX="transcripts/$$-"
log=$(server_log "$stage")
out=$(mktemp)
trap 'server_stop; rm -f "$log" "$out"' EXIT
mkdir -p "$(dirname "$log")"
: >"$log"

wine_ready || exit 1
server_start "$stage" "${server_args[@]}" || { say "$stage did not start; its log:"; cat "$log" >&2; exit 1; }
url=http://127.0.0.1:$SERVER_PORT

# The client.
client_status=0
(cd "$top" && URL=$url PORT=$SERVER_PORT PATH="$client_path:$PATH" \
    timeout -k 2 "$client_s" bash -c "$client") >"$out" 2>&1 </dev/null || client_status=$?
[ "$client_status" -ne 124 ] || say "the client command did not end within $client_s s"

# Settle. Default: the ledger back to zero, seen by probes whose connection numbers we
# keep (their lines are left out; a line of theirs without a number, such as 05's
# "accept completed", stays). With --sigint no probe, so that the final ledger counts the
# client's connections only: the log must stop growing for 0.5 s, then the server drains
# what is left itself.
probes=()
deadline=$((SECONDS + wait_s))
settled=0
if [ $sigint -eq 1 ] || [ -n "$mutation" ]; then  # a mutated copy's ledger may never settle
    size=-1 same=0
    while server_alive && [ $SECONDS -lt $deadline ]; do
        now=$(stat -c %s "$log")
        if [ "$now" = "$size" ]; then same=$((same + 1)); else same=0 size=$now; fi
        if [ $same -ge 5 ]; then settled=1; break; fi
        sleep 0.1
    done
    [ $settled -eq 1 ] || say "the log was still growing after $wait_s s"
else
    stats=
    while server_alive && [ $SECONDS -lt $deadline ]; do
        if stats=$(curl -s -m 3 -H 'Connection: close' "$url/stats") && [ -n "$(stats_num "$stats" accepted)" ]; then
            probes+=("$(stats_num "$stats" accepted)")
            live=$(stats_num "$stats" live_connections)
            pending=$(($(stats_op "$stats" recv pending) + $(stats_op "$stats" send pending)))
            if [ "$live" -le 1 ] && [ "$pending" -le 1 ]; then settled=1; break; fi
        fi
        sleep 0.1
    done
    [ $settled -eq 1 ] || say "the ledger did not return to zero within $wait_s s${stats:+ (last /stats: $stats)}"
fi

# Stop.
if [ $sigint -eq 1 ] && server_alive; then
    server_ctrl_c
    deadline=$((SECONDS + wait_s))
    while server_alive && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    server_alive && say "the server did not exit within $wait_s s of Ctrl+C"
fi
server_stop
[ $sigint -eq 0 ] || [ "${SERVER_STATUS:-0}" -eq 0 ] || say "the server exited with status $SERVER_STATUS"

# The log without lib.sh's "=== ... started by" line and the probes' connections.
awk -v ids="${probes[*]}" '
    BEGIN { n = split(ids, a, " "); for (i = 1; i <= n; i++) probe["#" a[i]] = 1 }
    /^=== / { next }
    { for (i = 1; i <= NF; i++) if ($i ~ /^#[0-9]+$/) { if ($i in probe) next; break } }
    { print }' "$log"
if [ -s "$out" ] || [ "$client_status" -ne 0 ]; then
    echo "--- client: exit status $client_status"
    cat "$out"
    [ -z "$(tail -c 1 "$out")" ] || echo   # curl -s $URL/stats ends without a newline
fi
