#!/usr/bin/env bash
# tools/deps.sh [WHAT...] - make sure the tools are here; on Debian/Ubuntu as root, install them.
#
#   build     (the default) mingw-w64 and Wine: all that `make` and `make run` need
#   test      what every suite and `make bench` use beside those: a host C compiler, wrk,
#             chromium, clang with libFuzzer, curl, python3, cmake, ab (apache2-utils), wget
#   TOOL...   only these (the Makefile asks for what a suite runs: tools/deps.sh chromium;
#             tools/wine10.sh for debootstrap)
#
# As root with apt-get, what is missing is installed; otherwise the exact install line is
# printed and the status is 1. MSYS2 (OS=Windows_NT): nothing to do here, see README.md.
set -u
[ "${OS:-}" = "Windows_NT" ] && exit 0
have() { command -v "$1" >/dev/null 2>&1; }
libfuzzer() { ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; }

need=()
# check TOOL: add the Debian packages that bring TOOL when it is missing.
check() {
    case $1 in
        mingw)     have x86_64-w64-mingw32-gcc && have i686-w64-mingw32-gcc || need+=(mingw-w64) ;;
        wine)      have wine || need+=(wine wine64) ;;
        cc)        have cc || need+=(gcc libc6-dev) ;;
        clang)     have clang || need+=(clang) ;;
        libfuzzer) libfuzzer || need+=(libclang-rt-14-dev) ;;
        ab)        have ab || need+=(apache2-utils) ;;
        wrk | chromium | curl | wget | python3 | cmake | debootstrap) have "$1" || need+=("$1") ;;
        *)         echo "tools/deps.sh: no tool '$1'" >&2; exit 2 ;;
    esac
}

[ $# -gt 0 ] || set -- build
for what in "$@"; do
    case $what in
        build) check mingw; check wine ;;
        test)  for t in mingw wine cc wrk chromium clang libfuzzer curl python3 cmake ab wget; do check "$t"; done ;;
        *)     check "$what" ;;
    esac
done
[ ${#need[@]} -eq 0 ] && exit 0

pkgs=$(printf '%s\n' "${need[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" -ne 0 ] || ! have apt-get; then
    echo "missing for this step: ${pkgs% }. Install them with:"
    echo "  sudo apt-get update && sudo apt-get install -y ${pkgs% }"
    exit 1
fi
echo "installing: ${pkgs% }"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null && apt-get install -y -q $pkgs >/dev/null || { echo "apt-get install ${pkgs% } failed"; exit 1; }
