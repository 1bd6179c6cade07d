#!/usr/bin/env bash
# tests/browser/picture.sh OUT A B - make lab-picture: start stages A and B (03-recv-send,
# 04-thread-pool) under Wine, run each one's "four /sleep?ms=1000 at once" in headless
# Chromium (/lab?run=sleep&axis=5: one 5 s scale for both, real time), and put the two
# timelines side by side into OUT
# (docs/lab-03-vs-04.png, the README's picture).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$here/../lib.sh"
# shellcheck source=chromium.sh
. "$here/chromium.sh"
out=$1
shift
LOG_PREFIX=picture-
pids=()
trap 'for p in "${pids[@]}"; do SERVER_PID=$p server_stop; done; wine_stop; chromium_cleanup' EXIT
chromium_check
wine_ready
args=()
for stage in "$@"; do
    : >"$(server_log "$stage")"
    server_start "$stage" || { echo "$stage did not start (see $(server_log "$stage"))" >&2; exit 1; }
    pids+=("$SERVER_PID")
    args+=("http://127.0.0.1:$SERVER_PORT/lab?run=sleep&axis=5" "$stage")
done
chromium_flags
mkdir -p "$(dirname "$out")"
timeout -k 5 180 python3 "$here/lab.py" picture "$out" "${args[@]}" -- "$CHROMIUM" "${flags[@]}"
echo "wrote $out ($(wc -c <"$out") bytes)"
