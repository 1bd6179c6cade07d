#!/usr/bin/env bash
# tests/lib-selftest.sh - a suite that stops before its end says so with a FAIL line.
# A throwaway suite (a folder "probe" in a temporary directory) sources tests/lib.sh, sets
# its EXIT trap as every suite does, and reads an unset variable under set -u, as
# tests/shutdown/run.sh once did ("detail: unbound variable", issue 18): its output must
# hold "FAIL probe/aborted: ...". The same suite run to its end must print no such line.
# One line: "PASS lib-selftest: ..." or "FAIL lib-selftest: ...".
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/probe"
cat >"$tmp/probe/run.sh" <<EOF
set -u
. "$top/tests/lib.sh"
trap 'suite_aborted \$?' EXIT
check() { local detail; [ "\$1" = end ] || echo "\$detail"; }
pass probe/before
check "\${1:-}"
pass probe/after
suite_end
EOF
aborted=$(bash "$tmp/probe/run.sh" 2>&1)
ended=$(bash "$tmp/probe/run.sh" end 2>&1)
if grep -q '^FAIL probe/aborted: ' <<<"$aborted" && ! grep -q '^PASS probe/after' <<<"$aborted" \
   && grep -q '^PASS probe/after' <<<"$ended" && ! grep -q '^FAIL' <<<"$ended"; then
    echo "PASS lib-selftest: a suite stopped by an unset variable prints FAIL probe/aborted; one that ends prints none"
else
    echo "FAIL lib-selftest: stopped: $(tr '\n' ' ' <<<"$aborted" | cut -c1-200); ended: $(tr '\n' ' ' <<<"$ended" | cut -c1-200)"
    exit 1
fi
