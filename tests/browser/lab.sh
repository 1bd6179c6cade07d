#!/usr/bin/env bash
# tests/browser/lab.sh PORT [STAGE] - make lab: the lab of the stage running on PORT, run
# headless in Chromium (tests/browser/lab.py, real time), and what it found.
#
# For a machine without a window (SSH): start a stage (make run STAGE=01) in one terminal,
# then `make lab` in another. It opens http://127.0.0.1:PORT/lab?run=lab, which runs every
# experiment on load (the four sleeps, the idle connection, the download), and prints the
# lines the page writes; the page as drawn goes to build/lab-STAGE.png. With STAGE, the
# server on PORT must be that stage.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
port=${1:-8080} want=${2:-}
url=http://127.0.0.1:$port
# shellcheck source=chromium.sh
. "$here/chromium.sh"
trap chromium_cleanup EXIT
chromium_check

# Which stage answers on PORT: /stats names it. 01 serves one connection at a time, so a
# browser tab left open on its lab holds it: say so rather than wait.
stage=$(python3 - "$url/stats" <<'PY'
import json, sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
        print(json.loads(r.read())["stage"])
except Exception as e:
    print(f"({e})")
PY
)
if [ -z "$stage" ] || [ "${stage#(}" != "$stage" ]; then
    echo "nothing answers $url/stats within 5 s $stage."
    echo "Start a stage first, in another terminal: make run STAGE=${want:-01}; for another port:"
    echo "make run STAGE=${want:-01} ARGS=\"-p $port\", then make lab PORT=$port."
    echo "(01 serves one connection at a time: a browser tab open on it holds it; close the tab.)"
    exit 1
fi
if [ -n "$want" ] && [ "$stage" != "$want" ]; then
    echo "the server on port $port is $stage, not $want: stop it (Ctrl+C in its terminal) and"
    echo "make run STAGE=${want%%-*}, or run make lab PORT=N against the port $want listens on."
    exit 1
fi
shot=$top/build/lab-$stage.png
mkdir -p "$top/build"
echo "$stage on $url/: its lab (/lab?run=lab), run headless in Chromium (about 30 s) ..."
chromium_flags
start=$SECONDS
out=$(timeout -k 5 120 python3 "$here/lab.py" findings "$url/lab?run=lab" --seconds 90 \
      --screenshot "$shot" -- "$CHROMIUM" "${flags[@]}")
rc=$?
grep -v '^lab done$' <<<"$out"
if [ $rc -ne 0 ]; then
    echo "the lab did not finish (exit status $rc): is the server still running?"
    exit 1
fi
echo "(in $((SECONDS - start)) s; the page as drawn: ${shot#"$top"/})"
