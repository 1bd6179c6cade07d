#!/usr/bin/env bash
# tests/clients/run.sh STAGE... - the clients people use, against each stage, checked for
# what their users expect; after each, the ledger back to its baseline (scenarios
# ledger-zero: only the probe's connection open, nothing pending).
#
#   http10        HTTP/1.0 on a raw socket (clients.py): "Connection: keep-alive" asked, the
#                 answer says it back and the connection serves the next request (RFC 9112,
#                 9.3 and C.2.2); plain HTTP/1.0 gets "Connection: close" and the end
#   ab-k          ApacheBench's keep-alive mode (HTTP/1.0 + Connection: Keep-Alive):
#                 ab -k -n 2000 -c 20 /: 2000 complete, 0 failed, 2000 kept alive. A stage
#                 where an idle connection holds everyone (expect.map: idle-blocks-others
#                 stall, 01) serves one connection at a time: there -c 1
#   curl-http10   curl --http1.0 -H 'Connection: keep-alive', three URLs: one connection
#                 (num_connects 1, 0, 0), each answer "Connection: keep-alive"
#   wget          wget, three URLs (1 MiB of /big, /, /stats): exit status 0, the files
#                 whole (/big's first and last lines), "Reusing existing connection" twice
#   http-client   Python's http.client: six requests of every kind on one HTTPConnection
#   ctrl-c-quiet  where Ctrl+C drains (tests/shutdown/expect.map: ctrl-c-under-load drains,
#                 06): after all that load, Ctrl+C (SIGINT, as tests/shutdown/run.sh sends
#                 it) to the server run with -q: exit status 0, a final ledger with nothing
#                 live or pending, and no other line at all (-q: errors only; the accept
#                 pool's cancelled accepts are no error)
# Lines: "PASS clients/01-blocking/ab-k (2000 requests, 2000 kept alive, 0 failed, -c 1, 1234 req/s)".
# The servers run with -q (errors only): ab's 2000 requests would otherwise log 4000 lines.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$here/../lib.sh"
require_scenarios
LOG_PREFIX=clients-
work=$(mktemp -d)
trap 'server_stop; wine_stop; rm -rf "$work"' EXIT
AB_N=${AB_N:-2000}

# judged NAME OUTCOME: PASS with OUTCOME's "ok: " detail, or FAIL with OUTCOME; and the
# ledger back to its baseline after it, or FAIL.
judged() {
    local name=$1 outcome=${2:0:400}
    if [[ $outcome != "ok: "* ]]; then
        fail "$name" "$outcome"
    elif ! ledger_check; then
        fail "$name" "${outcome#ok: }; but then the ledger: $(detail_of "$LEDGER_OUT")"
    else
        pass "$name (${outcome#ok: })"
    fi
}

ab_k() {
    local conc=$1 out complete failed kept rps
    out=$(timeout -k 5 120 ab -k -n "$AB_N" -c "$conc" -s 20 "http://127.0.0.1:$SERVER_PORT/" 2>&1) ||
        { echo "ab failed: $(grep -v '^Completed\|^Finished' <<<"$out" | tail -n 2 | tr '\n' ' ')"; return; }
    complete=$(sed -n 's/^Complete requests: *//p' <<<"$out")
    failed=$(sed -n 's/^Failed requests: *//p' <<<"$out")
    kept=$(sed -n 's/^Keep-Alive requests: *//p' <<<"$out")
    rps=$(sed -n 's/^Requests per second: *\([0-9]*\).*/\1/p' <<<"$out")
    if [ "$complete" != "$AB_N" ] || [ "$failed" != 0 ] || [ "$kept" != "$AB_N" ] || grep -q '^Non-2xx' <<<"$out"; then
        echo "complete $complete, failed $failed, kept alive $kept of $AB_N$(grep '^Non-2xx' <<<"$out" | sed 's/^/, /')"
    else
        echo "ok: $AB_N requests, $kept kept alive, 0 failed, -c $conc, $rps req/s"
    fi
}

curl_http10() {
    local out heads=$work/curl-heads url="http://127.0.0.1:$SERVER_PORT"
    out=$(curl --http1.0 -H 'Connection: keep-alive' -sS --max-time 20 -D "$heads" \
          -w '%{http_code} %{num_connects}\n' -o /dev/null "$url/" -o /dev/null "$url/stats" \
          -o /dev/null "$url/big?bytes=100000" 2>&1) ||
        { echo "curl failed: $(tail -n 1 <<<"$out")"; return; }
    if [ "$(tr '\n' ' ' <<<"$out")" != "200 1 200 0 200 0 " ]; then
        echo "status and new connections per URL: $(tr '\n' ' ' <<<"$out")(expected 200 1, 200 0, 200 0)"
    elif [ "$(grep -ci '^connection: keep-alive' "$heads")" != 3 ]; then
        echo "answers saying Connection: keep-alive: $(grep -ci '^connection: keep-alive' "$heads") of 3"
    else
        echo "ok: 3 URLs over HTTP/1.0 on one connection (new connections 1, 0, 0), each answer keep-alive"
    fi
}

wget_three() {
    local dir=$work/wget url="http://127.0.0.1:$SERVER_PORT" big reused
    rm -rf "$dir" && mkdir -p "$dir"
    if ! timeout -k 5 60 wget -T 20 -t 1 -o "$dir.log" -P "$dir" "$url/big?bytes=1048576" "$url/" "$url/stats"; then
        echo "wget failed: $(grep -v '^ *$' "$dir.log" | tail -n 1)"
        return
    fi
    big="$dir/big?bytes=1048576"
    reused=$(grep -c '^Reusing existing connection' "$dir.log")
    if [ "$(wc -c <"$big")" != 1048576 ] || [ "$(head -n 1 "$big")" != 000000000000000 ] ||
       [ "$(tail -n 1 "$big")" != 000000001048560 ]; then
        echo "/big?bytes=1048576 saved as $(wc -c <"$big") bytes, not the pattern"
    elif ! grep -q '<h1>iocp-stages' "$dir/index.html" || ! grep -q '"live_connections"' "$dir/stats"; then
        echo "/ or /stats saved wrong (see $dir)"
    elif [ "$reused" != 2 ]; then
        echo "\"Reusing existing connection\" $reused times, not 2: a new connection per URL"
    else
        echo "ok: 3 URLs saved whole (1 MiB of /big checked), one connection (reused twice)"
    fi
}

# ctrl_c_quiet STAGE: Ctrl+C to the server (-q), and what it printed from then on, in
# OUTCOME ("ok: ..." or what is wrong). Not in a subshell: it waits for the server.
ctrl_c_quiet() {
    local log lines final extra
    log=$(server_log "$1")
    lines=$(wc -l <"$log")
    kill -INT "$SERVER_PID"
    if ! server_wait_exit 20000; then
        server_stop
        OUTCOME="still running 20 s after Ctrl+C (stopped)"
        return
    fi
    final=$(tail -n +$((lines + 1)) "$log" | grep -m1 '^final ledger: ')
    extra=$(tail -n +$((lines + 1)) "$log" | grep -v '^final ledger: ' | head -n 3 | tr '\n' ' ')
    if [ "$SERVER_STATUS" != 0 ] || [ -z "$final" ]; then
        OUTCOME="exit status $SERVER_STATUS, ${final:-no final ledger}"
    elif [ "$(stats_num "$final" live_connections)" != 0 ] || [ "$(stats_num "$final" pending_ops)" != 0 ]; then
        OUTCOME="final ledger not zero: ${final#final ledger: }"
    elif [ -n "$extra" ]; then
        OUTCOME="printed more than the final ledger under -q: ${extra:0:300}"
    else
        OUTCOME="ok: exit 0 in $SERVER_EXIT_MS ms, the final ledger alone (live 0, pending 0, requests $(stats_num "$final" requests))"
    fi
}

run_stage() {
    local stage=$1 conc=20 drains
    stage_plan "$here/../scenario/expect.map" "$stage" || return 0
    : >"$(server_log "$stage")"
    if ! server_start "$stage" -q; then
        fail "clients/$stage" "no \"listening on\" line within 60 s (see $(server_log "$stage"))"
        return
    fi
    [ "$(awk '$1 == "idle-blocks-others" { print $2 }' <<<"$PLAN")" = stall ] && conc=1
    judged "clients/$stage/http10" "$(python3 "$here/clients.py" http10 "$SERVER_PORT")"
    judged "clients/$stage/ab-k" "$(ab_k "$conc")"
    judged "clients/$stage/curl-http10" "$(curl_http10)"
    judged "clients/$stage/wget" "$(wget_three)"
    judged "clients/$stage/http-client" "$(python3 "$here/clients.py" http-client "$SERVER_PORT")"
    drains=$(expectations "$here/../shutdown/expect.map" "$stage" 2>/dev/null |
             awk '$1 == "ctrl-c-under-load" { print $2 }')
    if [ "$drains" = drains ]; then
        # not judged(): the ledger probe needs the server, which has ended
        ctrl_c_quiet "$stage"
        if [[ $OUTCOME == "ok: "* ]]; then pass "clients/$stage/ctrl-c-quiet (${OUTCOME#ok: })"
        else fail "clients/$stage/ctrl-c-quiet" "$OUTCOME"; fi
    fi
    server_stop
    crash=$(crash_report "$stage")
    if [ -n "$crash" ]; then
        fail "clients/$stage/no-crash-report" "$crash (see $(server_log "$stage"))"
    fi
}

[ $# -gt 0 ] || { echo "usage: $0 STAGE... (e.g. 01-blocking 02-recv-only)" >&2; exit 2; }
wine_ready
for stage in "$@"; do
    run_stage "$stage"
done
[ "$failures" -eq 0 ]
