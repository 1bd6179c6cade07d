#!/usr/bin/env bash
# tools/deps.sh - make sure the tools are here; on Debian/Ubuntu as root, install them.
set -u
[ "${OS:-}" = "Windows_NT" ] && exit 0   # MSYS2: see README.md
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have x86_64-w64-mingw32-gcc || need+=(mingw-w64)
have i686-w64-mingw32-gcc   || need+=(mingw-w64)
have wine                   || need+=(wine wine64)
have wrk                    || need+=(wrk)
have curl                   || need+=(curl)
have python3                || need+=(python3)
have chromium               || need+=(chromium)
have clang                  || need+=(clang)
[ -e /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a ] || ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || need+=(libclang-rt-14-dev)
[ ${#need[@]} -eq 0 ] && exit 0
pkgs=$(printf '%s\n' "${need[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" -ne 0 ] || ! have apt-get; then
    echo "missing tools. Install them with:"
    echo "  sudo apt-get update && sudo apt-get install -y $pkgs"
    exit 1
fi
echo "installing: $pkgs"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null && apt-get install -y -q $pkgs >/dev/null || { echo "apt-get install $pkgs failed"; exit 1; }
