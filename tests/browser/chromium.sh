# shellcheck shell=bash
# tests/browser/chromium.sh - headless Chromium for the browser suite, make lab and make
# lab-picture (source it). CHROMIUM names the program; chromium_flags sets `flags` with a
# fresh profile in $profile (made here, removed by chromium_cleanup).
CHROMIUM=${CHROMIUM:-chromium}
profile=$(mktemp -d)

# chromium_flags: headless, quiet, a fresh profile each time.
chromium_flags() {
    rm -rf "$profile" && mkdir -p "$profile"
    flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
           --disable-background-networking --disable-component-update --disable-sync
           --user-data-dir="$profile")
}

chromium_cleanup() { rm -rf "$profile"; }

# chromium_check: Chromium and python3 (lab.py drives it) are here, or exit 2 saying so.
chromium_check() {
    command -v "$CHROMIUM" >/dev/null || { echo "$CHROMIUM not found (apt-get install chromium)" >&2; exit 2; }
    command -v python3 >/dev/null || { echo "python3 not found (apt-get install python3)" >&2; exit 2; }
}
