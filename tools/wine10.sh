#!/usr/bin/env bash
# tools/wine10.sh COMMAND [ARG...] - run COMMAND with `wine` being Wine 10 (Debian 13).
#
#   tools/wine10.sh tools/test-all.sh scenario-test shutdown-test     (make test-wine)
#   tools/wine10.sh wine --version
#
# Debian 12 ships Wine 8.0, Ubuntu 24.04 Wine 9.0, Debian 13 Wine 10.0: a reader may have
# any of them. This builds, once, a Debian 13 root in build/wine10/root (debootstrap, then
# `apt-get install wine wine64` in it; about 1.5 GB, 3-15 min, cached: the stamp file
# .iocp-stages-ready marks it whole, and nothing rebuilds a root that has it), then runs
# COMMAND on this machine with wine, wineboot and wineserver on PATH being the root's, run
# by chroot. Only the Wine programs run in the root: the suites, their clients, curl and
# wrk run here, and reach the servers over loopback (a chroot shares the network). The
# repository is mounted at its own path in the root, so build/... names the same files on
# both sides; the Wine 10 prefix is build/wine10/prefix (Wine 8's stays build/wine).
#
# The mounts (the repository, /proc, /dev, a fresh /tmp) are made in a mount namespace of
# this command's own (unshare -m): they exist for it alone and vanish when it ends, however
# it ends, so no `rm -rf build` elsewhere can reach /dev or the repository through them.
# Needs root (debootstrap, chroot, mount) and, the first time, Debian's mirror; otherwise it
# says so and exits 2. WINE10_ROOT names another root; WINE10_MIRROR another mirror.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
root=${WINE10_ROOT:-$top/build/wine10/root}
mirror=${WINE10_MIRROR:-http://deb.debian.org/debian}
stamp=$root/.iocp-stages-ready
say() { echo "wine10: $*" >&2; }

[ $# -gt 0 ] || { sed -n '4,5p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
case $root in /*/*) ;; *) say "WINE10_ROOT must be a directory two levels down at least: $root"; exit 2 ;; esac
if [ "$(id -u)" -ne 0 ]; then
    say "needs root (debootstrap, chroot and mount): run it as root, e.g. sudo make test-wine"
    exit 2
fi
for t in unshare chroot mount; do
    command -v $t >/dev/null || { say "$t is missing (util-linux, coreutils)"; exit 2; }
done

# In a private mount namespace (this script again, with WINE10_NS set): mounts, then exec.
if [ -z "${WINE10_NS:-}" ]; then
    if [ ! -f "$stamp" ]; then
        command -v debootstrap >/dev/null || bash "$top/tools/deps.sh" debootstrap || exit 2
        say "building a Debian 13 root with Wine 10 in $root (once; 3-15 min)"
        rm -rf "$root"
        mkdir -p "$root"
        log=$root.log
        if ! unshare -m --propagation private \
                debootstrap --variant=minbase trixie "$root" "$mirror" >"$log" 2>&1; then
            say "debootstrap failed (no network, or $mirror unreachable?); last lines of $log:"
            tail -n 5 "$log" >&2
            exit 2
        fi
        # apt-get in the root needs /proc and /dev; the namespace takes them away again
        if ! WINE10_NS=1 unshare -m --propagation private "$0" \
                chroot "$root" /bin/sh -c 'apt-get update -q &&
                    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wine wine64' \
                >>"$log" 2>&1; then
            say "apt-get install wine wine64 failed in $root; last lines of $log:"
            tail -n 5 "$log" >&2
            exit 2
        fi
        touch "$stamp"
        say "ready: $(WINE10_NS=1 unshare -m --propagation private "$0" chroot "$root" wine --version)"
    fi
    WINE10_NS=1 exec unshare -m --propagation private "$0" "$@"
fi

# Here we are alone in our mount namespace. The fresh /tmp comes before the
# repository's mount point is made: a repository cloned under /tmp (/tmp/x) gets
# its mount point inside that tmpfs, where an earlier one would be hidden by it.
case $top in
    /tmp|/proc|/proc/*|/dev|/dev/*)
        say "the repository cannot be $top itself or lie under /proc or /dev"
        exit 2 ;;
esac
mkdir -p "$root/proc" "$root/dev" "$root/tmp"
if ! { mount -t proc proc "$root/proc" && mount --rbind /dev "$root/dev" &&
        mount -t tmpfs tmpfs "$root/tmp" && mkdir -p "$root$top" &&
        mount --bind "$top" "$root$top"; }; then
    say "mounting in $root failed"
    exit 2
fi

# wine, wineboot, wineserver: the root's, on PATH first. chroot starts in /, so the
# wrapper starts the program in the caller's directory (the same path in the root).
bin=$root/tmp/iocp-bin        # the tmpfs: gone with the namespace
mkdir -p "$bin"
for p in wine wineboot wineserver; do
    # shellcheck disable=SC2016   # "$(pwd)" and "$@" are the wrapper's, expanded when it runs
    printf '#!/bin/sh\nexec chroot %q /bin/sh -c %q sh "$(pwd)" "$@"\n' \
        "$root" "cd \"\$1\" 2>/dev/null; shift; exec /usr/bin/$p \"\$@\"" >"$bin/$p"
    chmod +x "$bin/$p"
done
export PATH=$bin:$PATH
# Without a runtime directory, Wine 10 says "XDG_RUNTIME_DIR is invalid" into every log
# (looking for a Wayland display); this one is the root's /tmp/xdg.
mkdir -m 700 "$root/tmp/xdg"
export XDG_RUNTIME_DIR=/tmp/xdg
unset WAYLAND_DISPLAY
export IOCP_WINEPREFIX=${IOCP_WINEPREFIX:-$top/build/wine10/prefix}
export RESULT_PREFIX=${RESULT_PREFIX:-wine10/}   # PASS wine10/06-shutdown/ctrl-c-idle ...
say "$(wine --version 2>/dev/null) from $root"
exec "$@"
