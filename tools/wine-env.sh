# tools/wine-env.sh - source this to run the servers under Wine (Linux only).
#
# The prefix lives in build/wine, never in ~/.wine; it is created once. Wine's own
# chatter is silenced (WINEDEBUG=-all) unless the caller set WINEDEBUG already.
# Use: . tools/wine-env.sh; wine_ready; wine build/01-blocking/server.exe -p 0
# IOCP_WINEPREFIX names another prefix (two test runs at once each need their own:
# wine_reset stops every program of its prefix).
top=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
export WINEPREFIX="${IOCP_WINEPREFIX:-$top/build/wine}"
export WINEARCH=win64
export WINEDEBUG="${WINEDEBUG:--all}"
export WINEDLLOVERRIDES="${WINEDLLOVERRIDES:-mscoree,mshtml=}"  # no Mono/Gecko install prompts
unset DISPLAY                                                  # no window, no X needed

# Create the prefix once; a half-made prefix (interrupted wineboot) is made again.
wine_ready() {
    if [ ! -f "$WINEPREFIX/.iocp-stages-ready" ]; then
        echo "wine: creating prefix $WINEPREFIX (once, 5-20 s)" >&2
        rm -rf "$WINEPREFIX"
        mkdir -p "$WINEPREFIX"
        wineboot -i >/dev/null 2>&1 || { echo "wine: wineboot -i failed" >&2; return 1; }
        wineserver -w
        touch "$WINEPREFIX/.iocp-stages-ready"
    fi
}

# Stop whatever a previous run left in this prefix, so nothing waits on a stale wineserver.
wine_reset() {
    wineserver -k >/dev/null 2>&1 || true
    wineserver -w >/dev/null 2>&1 || true
}
