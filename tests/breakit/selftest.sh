#!/usr/bin/env bash
# tests/breakit/selftest.sh - a mutation whose anchor is gone fails loudly, and is not "caught".
# The stages change under the mutations (tests/breakit/mutations); an anchor that no longer
# matches must be a FAIL line naming it, never a silent skip or a pass. Runs run.py on a copy
# of the first mutation with its first anchor changed to text no stage has; nothing is built.
# One line: "PASS breakit-selftest: ..." or "FAIL breakit-selftest: ...".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
awk '/^\[/ { n++ } n == 1 && /^replace / && !done { $0 = "replace no stage has this line;"; done = 1 }
     n <= 1 { print }' "$here/mutations" >"$tmp/mutations"
name=$(sed -n 's/^\[\(.*\)\]$/\1/p' "$tmp/mutations" | head -n 1)
out=$(BREAKIT_MUTATIONS=$tmp/mutations python3 "$here/run.py" "$name" 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -q "^FAIL breakit/$name (.*): .*the anchor \`no stage has this line;\` is in .* 0 times" <<<"$out"; then
    echo "PASS breakit-selftest: a mutation whose anchor is gone is a FAIL naming the anchor (exit $rc)"
else
    echo "FAIL breakit-selftest: a missing anchor gave exit $rc and: $(head -c 300 <<<"$out")"
    exit 1
fi
