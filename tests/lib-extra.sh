# shellcheck shell=bash disable=SC2034  # SERVER_*, HEAP_* are set for the caller
# tests/lib-extra.sh - helpers shared by tests/load/run.sh and tests/shutdown/run.sh.
# Source it after tests/lib.sh (it uses server_log, server_exe, server_alive, ...).
#
#  - the heap check: HEAP_CHECK=1 runs every server with Wine's heap warnings on and makes
#    heap_report find them in the server's log;
#  - wine_persist: one wineserver for the whole suite (servers restart without a race);
#  - server_wait_exit: wait (bounded) for the server to end by itself, and time it;
#  - small things: now_ms, established_to, stats_num, wrk_field.

# --- the heap check --------------------------------------------------------------------
#
# Under Wine a double free is not a crash: ntdll's heap sees that the block is already in
# its list of delayed frees, ignores the call and goes on, silently unless the heap
# channel's warnings are on (WINEDEBUG=warn+heap); then it prints, on stderr,
#   0024:warn:heap:unsafe_block_from_ptr heap 0000000000C80000, block 0000000000C83688: delayed freed block
# Measured with Wine 8.0 and mingw-w64 programs: free(p) twice, HeapFree(GetProcessHeap())
# twice (the second returns FALSE), and realloc(p, bigger) then free(p) all print it;
# tests/load/heap-selftest.c is the first of these (still caught with 20000 other frees
# in between). What it does NOT see: a write to a freed block or past the end of a block;
# a double free of a block handed out again in between (that frees the new owner's valid
# block; the delayed list makes it rare: a freed 100-byte block was not handed out again
# in 5000 allocations of its size). Writes are caught only by WINEDEBUG=+heap, which
# traces every allocation (far too slow and verbose for a load run) and then asserts:
# "err:heap:validate_used_block ... free block overwritten" / "invalid block tail", and
# the winedbg it starts had not returned after 30 s. Turning on the heap's free and tail
# checking with the GlobalFlag registry value (Session Manager or Image File Execution
# Options) changed nothing under Wine 8.
# "-all" keeps every other channel quiet, so the log holds only what the server prints.
HEAP_WINEDEBUG=-all,err+heap,warn+heap
if [ "${HEAP_CHECK:-0}" = 1 ]; then
    export WINEDEBUG=$HEAP_WINEDEBUG
fi

# heap_report STAGE: with HEAP_CHECK=1, the first heap warning or error in the stage's log
# (and how many there are); empty when there is none or the check is off.
heap_report() {
    [ "${HEAP_CHECK:-0}" = 1 ] || return 0
    heap_lines "$(server_log "$1")"
}

# heap_lines FILE: the first line Wine's heap channel printed in FILE, and the count.
heap_lines() {
    local first count
    first=$(grep -m1 -E ':(warn|err):heap:|delayed freed block' "$1" 2>/dev/null) || return 0
    count=$(grep -c -E ':(warn|err):heap:|delayed freed block' "$1")
    echo "Wine heap: $first ($count such lines)"
}

# --- starting and stopping -------------------------------------------------------------

# wine_persist: keep this prefix's wineserver running until wine_stop (wineserver -k).
# Debian's /usr/lib/wine/wineserver starts it with -p0: it exits the moment the last Wine
# process of the prefix ends, and a server.exe started in that moment can fail with
# "wine client error:0: recvmsg: Connection reset by peer" (seen once in 60 quick
# restarts). A suite that starts many servers one after the other calls this once after
# wine_ready. If a wineserver already runs, this does nothing (it exits with status 2).
wine_persist() {
    wineserver -p </dev/null >/dev/null 2>&1 || true
}

# server_wait_exit MS: wait up to MS milliseconds for the server to end by itself.
# Returns 0 if it did: SERVER_STATUS is its exit status, SERVER_EXIT_MS the time from the
# call to its end (to within 20 ms), SERVER_PID is cleared. Returns 1 if it still runs.
server_wait_exit() {
    local start end
    start=$(now_ms)
    end=$((start + $1))
    SERVER_EXIT_MS=
    while server_alive; do
        [ "$(now_ms)" -lt "$end" ] || return 1
        sleep 0.02
    done
    SERVER_EXIT_MS=$(($(now_ms) - start))
    SERVER_STATUS=0
    wait "$SERVER_PID" 2>/dev/null || SERVER_STATUS=$?
    SERVER_PID=
}

# --- small things ----------------------------------------------------------------------

now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }

# established_to PORT: how many IPv4 client sockets of this machine are connected to
# 127.0.0.1:PORT (state ESTABLISHED), read from /proc/net/tcp: no request to the server,
# so it can be asked while the server cannot answer.
established_to() {
    awk -v port="$(printf '%04X' "$1")" \
        '$3 == "0100007F:" port && $4 == "01" { n++ } END { print n + 0 }' /proc/net/tcp
}

# stats_num JSON KEY: the first number after "KEY": in JSON (a /stats line); empty if none.
stats_num() { grep -o "\"$2\":-\?[0-9]*" <<<"$1" | head -n 1 | cut -d: -f2; }

# wrk_field LINE NAME: NAME=VALUE from the "WRK ..." line tests/load/report.lua prints.
wrk_field() { grep -o "\\b$2=[0-9]*" <<<"$1" | head -n 1 | cut -d= -f2; }
