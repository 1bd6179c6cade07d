#!/usr/bin/env bash
# bench/run.sh - `make bench`: every stage against the reference server, in one run.
#
#   BUILD_DIR=build bash bench/run.sh STAGE...    (the Makefile passes the stages that exist)
#
# 1. Throughput. For round 1..3, for each server in turn (reference, 01..06): start it
#    under Wine with -q, run wrk with keep-alive and then with `Connection: close`
#    (50 connections, 3 s each), stop it. Reported: the median of the rounds, each stage
#    also as a ratio of the reference measured in the same run.
# 2. Idle connections (04, 05, 06). A fresh server each time; bench/idle opens 1000, then
#    10000 connections that send nothing: accept rate, buffer_bytes (/stats) and process
#    memory (/proc) per idle connection, the latency of new requests while they are held.
# 2b. Downloads in flight (03, 04, 05, 06): a fresh server; the scenario big-unread-200
#    (200 clients ask for 64 MiB each and read nothing, then 4 read theirs whole) gives
#    the largest buffer_bytes per connection; the growth of the server's VmHWM (peak
#    resident memory, /proc) over the run, per connection, is the whole process's share.
# 3. The table (with the targets and whether each is met) goes to the terminal and to
#    $BUILD_DIR/bench.md, the plot of req/s per server to $BUILD_DIR/bench.svg.
# 1b. 06's variants (BENCH_VARIANTS, from the Makefile: 06 with bench/variants/V.patch
#    applied to a copy, built under $BUILD_DIR/bench/06+V) run in the same rounds, right
#    after 06, and are reported beside 06 and 04, round by round.
# 1c. Calls: /stats before and after each wrk run; the growth of its "calls" counters over
#    the requests answered (and, for the setup calls, over the connections accepted).
# 1d. Wineserver requests per request (BENCH_TRACE=1, the default): each server alone in
#    a prefix of its own ($BUILD_DIR/wine-trace) whose wineserver traces every request
#    (WINEDEBUG=+server); curl asks 300 keep-alive requests on one connection, then 100
#    with Connection: close; the trace's request lines during each, over the requests.
#    Not timed, so the machine's load does not move it: what each call costs under Wine.
# Knobs: BENCH_SECONDS (3), BENCH_ROUNDS (3), BENCH_IDLE ("1000 10000"; "" skips),
# BENCH_FLIGHT (1; 0 skips the downloads), BENCH_ONLY ("04 06 06+skip": only these
# servers, the reference always), IOCP_WINEPREFIX.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
build=${BUILD_DIR:-$top/build}
out=$build/bench
logs=$out/logs
duration=${BENCH_SECONDS:-3}
rounds=${BENCH_ROUNDS:-3}
idle_counts=${BENCH_IDLE-1000 10000}
conns=50
wrk_timeout=2  # s: a response slower than this counts as a timeout (and bounds 01's run)
all_stages=(01-blocking 02-recv-only 03-recv-send 04-thread-pool 05-acceptex 06-shutdown)
idle_stages=(04 05 06)

if [ "${OS:-}" = "Windows_NT" ]; then
    echo "make bench runs on Linux only: it drives the servers with wrk and reads /proc." >&2
    exit 2
fi
for tool in wrk wine; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (make deps)" >&2; exit 2; }
done
for f in "$out/reference.exe" "$out/idle"; do
    [ -e "$f" ] || { echo "bench: $f is not built (make bench builds it)" >&2; exit 2; }
done

# shellcheck source=../tools/wine-env.sh disable=SC1091
. "$top/tools/wine-env.sh"
wine_ready || exit 1
started=$SECONDS
clk_tck=$(getconf CLK_TCK)
mkdir -p "$logs"
rm -f "$out"/tput.txt "$out"/calls.txt "$out"/trace.txt "$out"/idle-*.txt "$logs"/*.log

# ------------------------------------------------------------------ the servers

names=(reference)
declare -A exe=([reference]=$out/reference.exe)
missing=()
for s in "${all_stages[@]}"; do
    real=
    for arg in "$@"; do [ "${arg%%-*}" = "${s%%-*}" ] && real=$arg; done
    if [ -n "$real" ] && [ -x "$build/$real/server.exe" ]; then
        names+=("$real")
        exe[$real]=$build/$real/server.exe
    else
        missing+=("$s")
    fi
done
variants=()
for v in ${BENCH_VARIANTS:-}; do
    if [ -x "$out/06+$v/server.exe" ]; then
        names+=("06+$v") variants+=("06+$v")
        exe[06+$v]=$out/06+$v/server.exe
    else
        missing+=("06+$v (its patch no longer applies)")
    fi
done
if [ -n "${BENCH_ONLY:-}" ]; then
    kept=(reference)
    for n in "${names[@]}"; do
        for want in $BENCH_ONLY; do
            [ "$n" = "$want" ] || [ "${n%%-*}" = "$want" ] && kept+=("$n") && break
        done
    done
    names=("${kept[@]}") variants=()
    for n in "${names[@]}"; do [ "${n#06+}" = "$n" ] || variants+=("$n"); done
fi
stage_named() {  # NN -> the stage's name if it was built, else nothing
    local n
    for n in "${names[@]}"; do [ "${n%%-*}" = "$1" ] && echo "$n"; done
}

# start NAME: start its server under Wine and wait (60 s at most) for its port.
# Sets PID (the Windows process: wine execs into it, so /proc/PID is the server) and PORT.
start() {
    local name=$1 deadline=$((SECONDS + 60))
    echo "=== $(date +%T) start" >>"$logs/$name.log"
    wine "${exe[$name]}" -p 0 -q >"$logs/$name.out" 2>"$logs/$name.err" &
    PID=$! PORT=
    while [ -z "$PORT" ]; do
        if ! kill -0 "$PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
            stop
            cat "$logs/$name.out" "$logs/$name.err" >>"$logs/$name.log"
            return 1
        fi
        sleep 0.1
        PORT=$(tr -d '\r' <"$logs/$name.out" | sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p')
    done
}

# stop: SIGTERM, SIGKILL after 5 s. ALIVE=1 when it was still running when asked to stop.
stop() {
    ALIVE=0
    [ -n "${PID:-}" ] || return 0
    kill -0 "$PID" 2>/dev/null && ALIVE=1
    kill "$PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
    PID=
}

# Interrupted (Ctrl+C) or failed: leave no server running.
trap 'stop' EXIT
trap 'exit 130' INT TERM

# crashed NAME: the output of its last start holds a Wine crash report.
crashed() { grep -qE 'Unhandled exception|page fault|^wine: |Backtrace' "$logs/$1.out" "$logs/$1.err" 2>/dev/null; }

# The connections waiting in PORT's listen backlog now (accepted by the kernel, not yet
# by the server): rx_queue of the LISTEN row in /proc/net/tcp.
accept_queue() {
    local q
    q=$(awk -v p="$(printf ':%04X' "$1")" \
        'substr($2, length($2) - 4) == p && $4 == "0A" { split($5, a, ":"); print a[2]; exit }' /proc/net/tcp)
    echo $((16#${q:-0}))
}

# CPU time (clock ticks) used so far by process PID, or 0 when it is gone.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# The wineserver of our prefix (every Winsock call is a round trip to it), or nothing.
wineserver_pid() {
    local p
    for p in $(pgrep -x wineserver64; pgrep -x wineserver); do
        tr '\0' '\n' 2>/dev/null <"/proc/$p/environ" | grep -qxF "WINEPREFIX=$WINEPREFIX" && { echo "$p"; return; }
    done
}

# calls_growth BEFORE AFTER: from two /stats answers, the calls made between them:
# "per_request=N per_connection=N KIND=N..." (each KIND per request; per_connection: the
# setup calls, over the connections accepted), or nothing when /stats has no "calls".
calls_growth() {
    python3 - "$1" "$2" <<'PY' 2>/dev/null
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
if "calls" not in b:
    sys.exit(0)
req = max(b["requests"] - a["requests"], 1)
conns = max(b["accepted"] - a["accepted"], 1)
grow = {k: b["calls"][k] - a.get("calls", {}).get(k, 0) for k in b["calls"]}
setup = sum(grow.get(k, 0) for k in ("accept", "WSASocket", "AcceptEx",
           "SO_UPDATE_ACCEPT_CONTEXT", "FIONBIO", "CreateIoCompletionPort"))
print("per_request=%.2f per_connection=%.2f %s" % (
    sum(grow.values()) / req, setup / conns,
    " ".join("%s=%.2f" % (k, v / req) for k, v in grow.items())))
PY
}

# wrk_run NAME MODE ROUND: one wrk run against the server started last; appends to
# tput.txt: NAME MODE ROUND req/s p50_us p99_us connect read write status timeout queued
# cpu_us_per_request (the server process and wineserver together; - when unknown).
wrk_run() {
    local name=$1 mode=$2 round=$3 line queued args wrk_pid ws cpu0 cpu1 cpu
    local req us p50 p99 e_connect e_read e_write e_status e_timeout
    args=(-t1 -c"$conns" -d"${duration}s" --timeout "${wrk_timeout}s" -s "$here/report.lua")
    [ "$mode" = close ] && args+=(-H "Connection: close")
    curl -s -m 5 "http://127.0.0.1:$PORT/stats" >"$logs/stats0.json" 2>/dev/null
    ws=$(wineserver_pid)
    cpu0=$(cpu_ticks "$PID")
    [ -z "$ws" ] || cpu0=$((cpu0 + $(cpu_ticks "$ws")))
    timeout -k 5 $((duration + 30)) wrk "${args[@]}" "http://127.0.0.1:$PORT/" >"$logs/wrk.out" 2>&1 &
    wrk_pid=$!
    sleep "$(awk -v d="$duration" 'BEGIN { print d / 2 }')"
    queued=$(accept_queue "$PORT")
    wait "$wrk_pid"
    cpu1=$(cpu_ticks "$PID")
    [ -z "$ws" ] || cpu1=$((cpu1 + $(cpu_ticks "$ws")))
    line=$(grep '^WRK ' "$logs/wrk.out")
    curl -s -m 5 "http://127.0.0.1:$PORT/stats" >"$logs/stats1.json" 2>/dev/null
    calls_growth "$logs/stats0.json" "$logs/stats1.json" | sed "s/^/$name $mode $round /" >>"$out/calls.txt"
    if [ -z "$line" ]; then
        echo "$name $mode $round FAIL wrk: $(head -c 200 "$logs/wrk.out" | tr '\n' ' ')" >>"$out/tput.txt"
        printf '  %-16s %-10s failed: %s\n' "$name" "$mode" "$(head -n 1 "$logs/wrk.out")"
        return
    fi
    # "WRK requests=.. duration_us=.. p50_us=.. ..." -> the values, in that order
    read -r req us p50 p99 e_connect e_read e_write e_status e_timeout <<<"$(sed 's/^WRK //; s/[a-z0-9_]*=//g' <<<"$line")"
    cpu=-
    [ -z "$ws" ] || [ "$req" -le 0 ] || cpu=$(((cpu1 - cpu0) * 1000000 / clk_tck / req))
    awk -v n="$name" -v m="$mode" -v r="$round" -v req="$req" -v us="$us" \
        -v rest="$p50 $p99 $e_connect $e_read $e_write $e_status $e_timeout $queued $cpu" \
        'BEGIN { printf "%s %s %s %.0f %s\n", n, m, r, req / (us / 1e6), rest }' >>"$out/tput.txt"
    printf '  %-16s %-10s %8.0f req/s\n' "$name" "$mode" "$(tail -n 1 "$out/tput.txt" | cut -d' ' -f4)"
}

echo "bench: ${#names[@]} servers, $rounds rounds of wrk ($conns connections, ${duration} s," \
     "keep-alive and Connection: close); missing: ${missing[*]:-none}"
# Warm-up, not counted: the first Wine process of a run pays for starting wineserver.
if start reference; then
    wrk -t1 -c"$conns" -d1s "http://127.0.0.1:$PORT/" >/dev/null 2>&1
    stop
fi
for round in $(seq "$rounds"); do
    echo "round $round of $rounds"
    for name in "${names[@]}"; do
        if ! start "$name"; then
            echo "$name keep-alive $round FAIL did not start" >>"$out/tput.txt"
            echo "  $name did not start (see $logs/$name.log)"
            continue
        fi
        wrk_run "$name" keep-alive "$round"
        wrk_run "$name" close "$round"
        stop
        [ "$ALIVE" = 1 ] || echo "$name close $round FAIL server exited during the run" >>"$out/tput.txt"
        crashed "$name" && echo "$name close $round FAIL Wine crash report in its log" >>"$out/tput.txt"
        cat "$logs/$name.out" "$logs/$name.err" >>"$logs/$name.log"
    done
done

# ------------------------------------------------------------------ wineserver requests

# trace_count FILE: the wineserver requests traced in FILE so far (a request's line is
# "0024: name( args )"; its reply's, "0024: name() = ...").
trace_count() { grep -cE '^[0-9a-f]{4}: [a-z_]+\( ' "$1" 2>/dev/null || echo 0; }

if [ "${BENCH_TRACE:-1}" = 1 ]; then
    echo "wineserver requests per request (WINEDEBUG=+server, prefix $build/wine-trace)"
    (
        export WINEPREFIX=$build/wine-trace
        wine_ready || exit 1
        for name in "${names[@]}"; do
            f=$logs/trace-$name.err
            wineserver -k 2>/dev/null; wineserver -w 2>/dev/null
            WINEDEBUG=+server wine "${exe[$name]}" -p 0 -q >"$logs/trace.out" 2>"$f" &
            PID=$! PORT=
            for _ in $(seq 300); do
                PORT=$(tr -d '\r' <"$logs/trace.out" | sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p')
                [ -n "$PORT" ] && break
                sleep 0.2
            done
            if [ -z "$PORT" ]; then stop; echo "$name FAIL did-not-start" >>"$out/trace.txt"; continue; fi
            url=http://127.0.0.1:$PORT/
            urls() { for _ in $(seq "$1"); do printf '%s ' "$url"; done; }
            # shellcheck disable=SC2046
            curl -s -m 60 $(urls 50) >/dev/null  # warm: the pool, the workers, the first connection
            sleep 0.5; c0=$(trace_count "$f")
            # shellcheck disable=SC2046
            curl -s -m 60 $(urls 300) >/dev/null
            sleep 0.5; c1=$(trace_count "$f")
            # shellcheck disable=SC2046
            curl -s -m 60 -H 'Connection: close' $(urls 100) >/dev/null
            sleep 0.5; c2=$(trace_count "$f")
            stop
            awk -v n="$name" -v a="$c0" -v b="$c1" -v c="$c2" \
                'BEGIN { printf "%s %.1f %.1f\n", n, (b - a) / 300, (c - b) / 100 }' >>"$out/trace.txt"
            printf '  %-16s %s\n' "$name" "$(tail -n 1 "$out/trace.txt" | cut -d' ' -f2-) (keep-alive, close)"
        done
        wineserver -k 2>/dev/null
    )
fi

# ------------------------------------------------------------------ idle connections

echo "idle connections: ${idle_counts} (stages ${idle_stages[*]}; 06's variants: ${idle_counts%% *})"
for nn in "${idle_stages[@]}" "${variants[@]}"; do
    name=$(stage_named "$nn")
    [ "${nn#06+}" = "$nn" ] || name=$nn counts=${idle_counts%% *}
    [ -n "$name" ] || continue
    [ "${nn#06+}" != "$nn" ] || counts=$idle_counts
    for n in $counts; do
        f=$out/idle-$name-$n.txt
        if ! start "$name"; then
            echo "error=did-not-start" >"$f"
            continue
        fi
        timeout -k 5 240 "$out/idle" -p "$PORT" -n "$n" --pid "$PID" --timeout-s 120 >"$f" 2>&1 \
            || echo "exit=$?" >>"$f"
        stop
        [ "$ALIVE" = 1 ] || echo "error=server-exited" >>"$f"
        crashed "$name" && echo "error=wine-crash-report-in-log" >>"$f"
        cat "$logs/$name.out" "$logs/$name.err" >>"$logs/$name.log"
        printf '  %-16s %6d idle: %s\n' "$name" "$n" \
            "$(grep -E '^(accept_rate|idle_buffer_per_conn|probe_p99_us|error|open_error)=' "$f" | tr '\n' ' ')"
    done
done

# ------------------------------------------------------------------ downloads in flight

flight_stages=(03 04 05 06)
echo "downloads in flight: 200 x GET /big?bytes=67108864, unread (stages ${flight_stages[*]})"
[ "${BENCH_FLIGHT:-1}" = 1 ] || flight_stages=()
for nn in "${flight_stages[@]}"; do
    name=$(stage_named "$nn")
    [ -n "$name" ] || continue
    f=$out/flight-$name.txt
    if ! start "$name"; then
        echo "error=did-not-start" >"$f"
        continue
    fi
    hwm0=$(awk '/^VmHWM:/ { print $2 * 1024 }' "/proc/$PID/status")
    line=$(timeout -k 5 120 "$build/tests/scenarios" -p "$PORT" big-unread-200)
    hwm1=$(awk '/^VmHWM:/ { print $2 * 1024 }' "/proc/$PID/status")
    stop
    {
        echo "result=$line"
        sed -n 's/.*(\([0-9]*\) KiB a connection.*/buffer_per_conn=\1/p' <<<"$line"
        [ -n "$hwm0" ] && [ -n "$hwm1" ] && echo "hwm_per_conn=$(((hwm1 - hwm0) / 200))"
    } >"$f"
    printf '  %-16s %s\n' "$name" "$(grep -E '^(buffer_per_conn|hwm_per_conn)=' "$f" | tr '\n' ' ')"
done

# ------------------------------------------------------------------ the report

# med NAME MODE FIELD: the median over the rounds (4 req/s, 5 p50 us, 6 p99 us, 13 CPU us).
med() {
    awk -v n="$1" -v m="$2" -v f="$3" '$1 == n && $2 == m && $4 != "FAIL" && $f != "-" { print $f }' "$out/tput.txt" |
        sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
# maxof NAME MODE FIELD: the largest over the rounds (12: connections waiting mid-run).
maxof() { awk -v n="$1" -v m="$2" -v f="$3" '$1 == n && $2 == m && $4 != "FAIL" && $f > s { s = $f } END { print s + 0 }' "$out/tput.txt"; }
ms() { [ -n "$1" ] && awk -v us="$1" 'BEGIN { printf (us < 10000 ? "%.2f" : "%.0f"), us / 1000 }' || echo "-"; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && [ "$2" != 0 ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
kib() { [ -n "$1" ] && awk -v b="$1" 'BEGIN { printf (b < 10240 && b > -10240 ? "%d B" : "%.0f KiB"), (b < 10240 && b > -10240 ? b : b / 1024) }' || echo "-"; }
val() { sed -n "s/^$2=//p" "$1" 2>/dev/null | tail -n 1; }  # val FILE KEY
join() { local all='' x; for x in "$@"; do all+="${all:+; }$x"; done; tr '|' '/' <<<"$all"; }
# by_round NAME BASE MODE: NAME's req/s over BASE's, round by round, then their median:
# "1.02 / 0.97 / 1.10 (1.02)".
by_round() {
    awk -v n="$1" -v b="$2" -v m="$3" '$2 == m && $4 != "FAIL" && ($1 == n || $1 == b) { v[$1, $3] = $4; r[$3] }
        END { for (i = 1; i <= 99; i++) if ((i in r) && v[n, i] && v[b, i]) {
                  x[++k] = v[n, i] / v[b, i]; printf "%s%.2f", sep, x[k]; sep = " / " }
              if (!k) exit
              for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
              printf " (%.2f)", x[int((k + 1) / 2)] }' "$out/tput.txt"
}
# calls_med NAME MODE KEY: the median over the rounds of KEY (per_request, per_connection,
# or a kind of call) in calls.txt.
calls_med() {
    awk -v n="$1" -v m="$2" -v k="$3" '$1 == n && $2 == m { for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$out/calls.txt" |
        sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
yesno() { if [ "$1" = 1 ]; then echo "**yes**"; else echo "**no**"; fi; }

md=$build/bench.md
ref_ka=$(med reference keep-alive 4) ref_cl=$(med reference close 4)
{
    echo "# iocp-stages bench"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1));" \
         "Linux $(uname -r); $(wine --version 2>/dev/null); $(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2);" \
         "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo "## Requests per second (GET /, wrk: $conns connections, 1 thread, $duration s a run, median of $rounds rounds)"
    echo
    echo "Servers alternate within each round; \"x ref\" is the ratio to the reference server (bench/reference.c) of the same run."
    echo
    echo "| server | keep-alive req/s | x ref | p50 ms | p99 ms | CPU us/req | Connection: close req/s | x ref | p50 ms | p99 ms | CPU us/req | notes |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    for s in reference "${all_stages[@]}" "${variants[@]}"; do
        name=$s
        [ "$s" = reference ] || [ "${s#06+}" != "$s" ] || name=$(stage_named "${s%%-*}")
        if [ -z "$name" ]; then
            echo "| $s | - | | | | | - | | | | | not built yet: skipped |"
            continue
        fi
        notes=()
        fails=$(awk -v n="$name" '$1 == n && $4 == "FAIL"' "$out/tput.txt" | cut -d' ' -f5- | sort | uniq -c |
                awk '{ c = $1; $1 = ""; printf "%s%s (x%d)", sep, substr($0, 2), c; sep = "; " }')
        [ -z "$fails" ] || notes+=("$fails")
        q=$(maxof "$name" keep-alive 12)
        [ "$q" = 0 ] || notes+=("keep-alive: $q of $conns connections were still waiting to be accepted mid-run")
        for mode in keep-alive close; do
            e=$(awk -v n="$name" -v m="$mode" '$1 == n && $2 == m && $4 != "FAIL" {
                    c += $7; r += $8; w += $9; s += $10; t += $11 }
                END { if (c) printf " connect %d", c; if (r) printf " read %d", r; if (w) printf " write %d", w;
                      if (s) printf " non-2xx %d", s; if (t) printf " timeout %d", t }' "$out/tput.txt")
            [ -z "$e" ] || notes+=("$mode errors (all rounds):$e")
        done
        ka=$(med "$name" keep-alive 4) cl=$(med "$name" close 4)
        echo "| $name | ${ka:--} | $(ratio "$ka" "$ref_ka") | $(ms "$(med "$name" keep-alive 5)") |" \
             "$(ms "$(med "$name" keep-alive 6)") | $(med "$name" keep-alive 13) | ${cl:--} | $(ratio "$cl" "$ref_cl") |" \
             "$(ms "$(med "$name" close 5)") | $(ms "$(med "$name" close 6)") | $(med "$name" close 13) |" \
             "$(join "${notes[@]}") |"
    done
    echo
    s06=$(stage_named 06) s04=$(stage_named 04)
    if [ "${#variants[@]}" -gt 0 ] && [ -n "$s06" ]; then
        echo "## 06's I/O path: variants beside 06 and 04, round by round"
        echo
        echo "Each variant is 06 with bench/variants/V.patch applied to a copy (06+A+B: both patches);"
        echo "a ratio is taken within one round (the servers alternate), so the machine's load moves"
        echo "both sides of it alike; in brackets, the median ratio. Calls: Winsock and port calls per"
        echo "request (median round), from /stats. The idle table below has the variants' read buffers."
        echo
        echo "| server | keep-alive req/s | x 06 by round | x 04 by round | calls / req | Connection: close req/s | x 06 by round | x 04 by round | calls / req | setup calls / conn |"
        echo "|---|---:|---|---|---:|---:|---|---|---:|---:|"
        for name in "$s06" "${variants[@]}"; do
            row="| $name"
            for mode in keep-alive close; do
                row+=" | $(med "$name" "$mode" 4)"
                for base in "$s06" "$s04"; do
                    row+=" | $(by_round "$name" "$base" "$mode")"
                done
                row+=" | $(calls_med "$name" "$mode" per_request)"
            done
            echo "$row | $(calls_med "$name" close per_connection) |"
        done
        echo
    fi
    if [ -s "$out/calls.txt" ]; then
        kinds=$(awk '{ for (i = 6; i <= NF; i++) { split($i, kv, "="); if (!(kv[1] in seen)) { seen[kv[1]]; printf "%s ", kv[1] } } }' "$out/calls.txt")
        echo "## Calls per request, by kind (keep-alive, then Connection: close; median round)"
        echo
        echo "What each server asks of Winsock and the port per request answered: posts (WSARecv, WSASend,"
        echo "AcceptEx), dequeues (GetQueuedCompletionStatus), plain recv/send, and the per-connection setup"
        echo "calls (accept, WSASocket, SO_UPDATE_ACCEPT_CONTEXT, FIONBIO, CreateIoCompletionPort). Under Wine each"
        echo "is a round trip to wineserver."
        echo
        hdr="| server | mode | all"; sep="|---|---|---:"
        for k in $kinds; do hdr+=" | $k"; sep+="|---:"; done
        echo "$hdr |"; echo "$sep|"
        for name in "${names[@]}"; do
            for mode in keep-alive close; do
                grep -q "^$name $mode " "$out/calls.txt" || continue
                row="| $name | $mode | $(calls_med "$name" "$mode" per_request)"
                for k in $kinds; do row+=" | $(calls_med "$name" "$mode" "$k")"; done
                echo "$row |"
            done
        done
        echo
    fi
    if [ -s "$out/trace.txt" ]; then
        echo "## Wineserver requests per request (WINEDEBUG=+server; not timed)"
        echo
        echo "Each server alone, its wineserver tracing every request: 300 keep-alive requests on one"
        echo "connection, then 100 with Connection: close (one connection each), after 50 to warm up."
        echo "Under Wine every Winsock and port call is one or more of these round trips; this figure"
        echo "does not depend on the machine's load. \"calls\" is the same run's Winsock calls (above)."
        echo
        echo "| server | keep-alive | x 04 | calls | Connection: close | x 04 | calls |"
        echo "|---|---:|---:|---:|---:|---:|---:|"
        t04=$(awk -v n="$s04" '$1 == n { print $2, $3 }' "$out/trace.txt")
        while read -r name ka cl; do
            [ "$ka" = FAIL ] && { echo "| $name | did not start | | | | | |"; continue; }
            echo "| $name | $ka | $(ratio "$ka" "${t04%% *}") | $(calls_med "$name" keep-alive per_request) |" \
                 "$cl | $(ratio "$cl" "${t04##* }") | $(calls_med "$name" close per_request) |"
        done <"$out/trace.txt"
        echo
    fi
    echo "## Idle connections: ${idle_counts// / and } connections that send nothing"
    echo
    echo "| server | idle conns | accept rate conn/s | buffer_bytes / idle conn | same, after one request | RssAnon / conn | VmRSS / conn | new request p50 / p99 / max ms | notes |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|---|"
    for nn in "${idle_stages[@]}" "${variants[@]}"; do
        name=$(stage_named "$nn") counts=$idle_counts
        [ "${nn#06+}" = "$nn" ] || name=$nn counts=${idle_counts%% *}
        if [ -z "$name" ]; then
            for s in "${all_stages[@]}"; do [ "${s%%-*}" = "$nn" ] && echo "| $s | | | | | | | | not built yet: skipped |"; done
            continue
        fi
        for n in $counts; do
            f=$out/idle-$name-$n.txt
            notes=()
            for k in error open_error exit; do
                v=$(val "$f" $k)
                [ -z "$v" ] || notes+=("$k: $v")
            done
            v=$(val "$f" connect_failed)
            [ "${v:-0}" = 0 ] || notes+=("$v connects failed")
            v=$(val "$f" probe_failed)
            [ "${v:-0}" = 0 ] || notes+=("$v of $(val "$f" probe_n) new requests failed")
            v=$(val "$f" used_failed)
            [ "${v:-0}" = 0 ] || notes+=("$v idle connections got no answer to their request")
            v=$(val "$f" closed_live)
            [ "${v:-0}" = 0 ] || notes+=("$v connections still live 10 s after the client closed them")
            opened=$(val "$f" opened)
            [ -z "$opened" ] || [ "$opened" = "$n" ] || notes+=("only $opened opened")
            p="$(ms "$(val "$f" probe_p50_us)") / $(ms "$(val "$f" probe_p99_us)") / $(ms "$(val "$f" probe_max_us)")"
            echo "| $name | $n | $(val "$f" accept_rate) | $(kib "$(val "$f" idle_buffer_per_conn)") |" \
                 "$(kib "$(val "$f" used_buffer_per_conn)") | $(kib "$(val "$f" idle_anon_per_conn)") |" \
                 "$(kib "$(val "$f" idle_rss_per_conn)") | $p | $(join "${notes[@]}") |"
        done
    done
    echo
    echo "## Downloads in flight: 200 clients ask for 64 MiB each and read nothing"
    echo
    echo "| server | buffer_bytes / connection (most seen) | peak resident memory growth / connection | scenario |"
    echo "|---|---:|---:|---|"
    for nn in "${flight_stages[@]}"; do
        name=$(stage_named "$nn")
        [ -n "$name" ] || continue
        f=$out/flight-$name.txt
        b=$(val "$f" buffer_per_conn)
        echo "| $name | ${b:+$b KiB} | $(kib "$(val "$f" hwm_per_conn)") | $(val "$f" result | cut -c1-4) |"
    done
    echo
    echo "## Targets"
    echo
    echo "| target | measured | met |"
    echo "|---|---|---|"
    s06=$(stage_named 06) s04=$(stage_named 04)
    if [ -n "$s06" ] && [ -n "$ref_ka" ]; then
        r=$(ratio "$(med "$s06" keep-alive 4)" "$ref_ka")
        echo "| 06 keep-alive >= 0.9 x reference | ${r:--} x | $(yesno "$(awk -v r="${r:-0}" 'BEGIN { print (r >= 0.9) }')") |"
    else
        echo "| 06 keep-alive >= 0.9 x reference | not measured: 06-shutdown not built yet | - |"
    fi
    for name in "$s06" "${variants[@]}"; do
        [ -n "$name" ] && [ -n "$s04" ] || continue
        r=$(ratio "$(med "$name" keep-alive 4)" "$(med "$s04" keep-alive 4)")
        echo "| ${name} keep-alive >= 0.9 x 04 (issue 29) | ${r:--} x | $(yesno "$(awk -v r="${r:-0}" 'BEGIN { print (r >= 0.9) }')") |"
    done
    for nn in 05 06; do
        s=$(stage_named $nn)
        if [ -n "$s" ] && [ -n "$s04" ]; then
            r=$(ratio "$(med "$s" close 4)" "$(med "$s04" close 4)")
            echo "| $nn Connection: close >= 1.5 x 04 | ${r:--} x | $(yesno "$(awk -v r="${r:-0}" 'BEGIN { print (r >= 1.5) }')") |"
        else
            absent=()
            [ -n "$s" ] || absent+=("$nn")
            [ -n "$s04" ] || absent+=(04)
            absent_list=${absent[*]}
            echo "| $nn Connection: close >= 1.5 x 04 | not measured: ${absent_list// / and } not built yet | - |"
        fi
    done
    for nn in 05 06; do
        s=$(stage_named $nn) first=${idle_counts%% *}
        f=$out/idle-$s-$first.txt
        if [ -n "$s" ] && [ -n "$(val "$f" idle_buffer_per_conn)" ]; then
            a=$(val "$f" idle_buffer_per_conn) b=$(val "$f" used_buffer_per_conn)
            echo "| $nn idle connection holds 0 bytes of read buffer ($first idle; fresh / after one request) |" \
                 "$(kib "$a") / $(kib "${b:-}") | $(yesno "$([ "$a" = 0 ] && [ "${b:-x}" = 0 ] && echo 1)") |"
        else
            echo "| $nn idle connection holds 0 bytes of read buffer | not measured${s:+ (idle run failed)}${s:-: not built yet} | - |"
        fi
    done
    for nn in "${idle_stages[@]}"; do
        s=$(stage_named "$nn") f=$out/idle-$(stage_named "$nn")-1000.txt
        p=$(val "$f" probe_p99_us)
        if [ -n "$s" ] && [ -n "$p" ]; then
            met=$(awk -v p="$p" -v f="$(val "$f" probe_failed)" 'BEGIN { print (p < 50000 && f == 0) }')
            echo "| $nn new request while 1000 idle connections are held: p99 < 50 ms | $(ms "$p") ms | $(yesno "$met") |"
        else
            echo "| $nn new request while 1000 idle connections are held: p99 < 50 ms | not measured${s:+ (idle run failed)}${s:-: not built yet} | - |"
        fi
    done
    echo
    echo "Notes."
    echo
    echo "- Every server runs under Wine (prefix \`$WINEPREFIX\`) on this machine, with -q (errors only), one at a time;"
    echo "  wrk (native) runs on the same machine and shares its CPUs. Wine makes every Winsock call a round trip"
    echo "  to wineserver, so these are figures for Wine, not for Windows; they compare stages with each other."
    echo "- The reference server (bench/reference.c) is a minimal IOCP hello: 2 x processors worker threads (the"
    echo "  default of 04-06) on one port, a blocking accept loop, one WSARecv or WSASend in flight per connection,"
    echo "  a fixed 6-byte body, no framing, no ledger, no log. The stages answer GET / with their HTML page"
    echo "  (about 700 bytes) through the full HTTP framing and ledger."
    echo "- CPU us/req: CPU time (user + system, /proc/PID/stat) that the server process and the prefix's wineserver"
    echo "  used during the run, per request answered. Less sensitive than req/s to other load on the machine;"
    echo "  wrk's own CPU is not counted."
    echo "- wrk's latencies cover only the requests that got a response; a request still unanswered when the run ends"
    echo "  is not counted (nor as a timeout). \"still waiting to be accepted\" is the listen backlog"
    echo "  (/proc/net/tcp) sampled halfway through the keep-alive run: those connections got no response at all."
    echo "  01-blocking serves one connection at a time, so under keep-alive its figures are those of the one"
    echo "  connection it accepted; with Connection: close each connection is served in turn."
    echo "- Idle connections (bench/idle.c): opened at once (at most 1000 ahead of the server's accepts), then silent."
    echo "  Accept rate: connections / time until /stats \"accepted\" counted them all. buffer_bytes / idle conn: growth"
    echo "  of /stats buffer_bytes / connections; \"after one request\": each sent one keep-alive GET /, read the answer,"
    echo "  went silent. A new request: 200 connections opened one after another while"
    echo "  the idle ones are held, each GET / with Connection: close, timed from connect to the server's close."
    echo "- Process memory: under Wine the Windows process is one Linux process (the PID wine starts, which"
    echo "  execs into the loader; /proc/PID/status). RssAnon is its resident anonymous memory (heap, stacks: the"
    echo "  nearest Linux figure to Windows' private bytes); VmRSS adds the mapped pages of the EXE and DLLs."
    echo "  Per connection = growth from before the connections were opened to while they are held, / connections."
    echo "  A socket's kernel side (in the Linux kernel and in wineserver) is counted in neither."
    echo "- Bench run took $((SECONDS - started)) s (building not included); logs in \`$logs\`."
} >"$md"

# ------------------------------------------------------------------ the plot

svg=$build/bench.svg
for s in reference "${all_stages[@]}"; do
    name=$s
    [ "$s" = reference ] || name=$(stage_named "${s%%-*}")
    if [ -z "$name" ]; then echo "$s - -"; else echo "$name $(med "$name" keep-alive 4) $(med "$name" close 4)"; fi
done | awk -v title="req/s per server under Wine, median of $rounds rounds ($(date -u +%Y-%m-%d), $(nproc) CPUs)" '
    { name[NR] = $1; ka[NR] = $2; cl[NR] = $3; if ($2 + 0 > max) max = $2 + 0; if ($3 + 0 > max) max = $3 + 0 }
    END {
        n = NR; gw = 96; left = 64; top = 48; h = 240; w = left + n * gw + 16
        if (max <= 0) max = 1
        step = 10 ^ int(log(max) / log(10)); while (max / step < 4) step /= 2
        printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"11\">\n", w, top + h + 56
        printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
        printf "<text x=\"%d\" y=\"20\" font-size=\"14\">%s</text>\n", left, title
        printf "<rect x=\"%d\" y=\"28\" width=\"10\" height=\"10\" fill=\"#4e79a7\"/><text x=\"%d\" y=\"37\">keep-alive</text>\n", left, left + 14
        printf "<rect x=\"%d\" y=\"28\" width=\"10\" height=\"10\" fill=\"#f28e2b\"/><text x=\"%d\" y=\"37\">Connection: close</text>\n", left + 90, left + 104
        for (v = 0; v <= max * 1.1; v += step) {
            y = top + h - v / (max * 1.1) * h
            printf "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", left, w - 16, y, y
            printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%d</text>\n", left - 4, y + 4, v
        }
        for (i = 1; i <= n; i++) {
            x = left + (i - 1) * gw + 12
            for (k = 0; k < 2; k++) {
                v = (k == 0 ? ka[i] : cl[i]); color = (k == 0 ? "#4e79a7" : "#f28e2b")
                if (v == "-" || v == "") continue
                bh = v / (max * 1.1) * h
                printf "<rect x=\"%d\" y=\"%.1f\" width=\"34\" height=\"%.1f\" fill=\"%s\"/>", x + k * 36, top + h - bh, bh, color
                printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"9\">%d</text>\n", x + k * 36 + 17, top + h - bh - 3, v
            }
            if (ka[i] == "-" && cl[i] == "-")
                printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#888\">not built</text>\n", x + 35, top + h - 6
            printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", x + 35, top + h + 16, name[i]
        }
        printf "<text x=\"%d\" y=\"%d\" fill=\"#555\">%s</text>\n", left, top + h + 40, "01-blocking serves one connection at a time: under keep-alive, 1 of the 50 (bench.md has the latencies and notes)."
        printf "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"black\"/>\n</svg>\n", left, w - 16, top + h, top + h
    }' >"$svg"

echo
cat "$md"
echo
echo "wrote $md and $svg"
