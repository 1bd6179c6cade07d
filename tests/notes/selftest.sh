#!/usr/bin/env bash
# tests/notes/selftest.sh [NOTES] - check-notes can fail: a stale quote is caught.
#
# Copies NOTES.md, changes one line of its first quoted hunk (a +/- line) and one line of
# its first transcript (a log line), and runs tools/check-notes on the copy and on the
# unchanged text, both with --cached (the fresh outputs of the check-notes run before it;
# without them the transcripts run now). It passes when the changed copy fails at exactly
# those two blocks, each report naming the changed line, and nowhere the unchanged text
# does not. One line: "PASS notes-selftest: ..." or "FAIL notes-selftest: ...".
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
notes=${1:-$top/NOTES.md}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL notes-selftest: $*"; exit 1; }

# "MARKER-LINE CHANGED-LINE" of the first block of a kind: a diff's first +/- line,
# a transcript's first log line.
pick() {
    awk -v kind="$1" '
        $0 ~ "^<!-- *" kind "[ :]" { marker = NR; next }
        marker && NR == marker + 1 && /^```/ { inside = 1; next }
        inside && /^```/ { inside = 0; marker = 0; next }
        inside && kind == "diff" && /^[-+]/ && !/^(---|\+\+\+) / { print marker, NR; exit }
        inside && kind == "transcript" && /^\[ *[0-9]+\.[0-9]+\] \[tid / { print marker, NR; exit }
        { if (!inside) marker = 0 }' "$notes"
}
read -r diff_block diff_line < <(pick diff) || fail "no quoted hunk with a +/- line in $notes"
read -r log_block log_line < <(pick transcript) || fail "no transcript with a log line in $notes"

# The stale copy: a word added to each of the two lines.
awk -v a="$diff_line" -v b="$log_line" '
    NR == a { $0 = $0 " /* stale */" }
    NR == b { $0 = $0 " (stale)" }
    { print }' "$notes" >"$tmp/NOTES.md"

python3 "$top/tools/check-notes" --cached --notes "$notes" >"$tmp/before" 2>/dev/null
python3 "$top/tools/check-notes" --cached --notes "$tmp/NOTES.md" >"$tmp/after" 2>/dev/null

fails() { sed -n 's|^FAIL notes/\([0-9]*\):.*|\1|p' "$1" | sort -un; }
for blk in "$diff_block" "$log_block"; do
    grep -q "^PASS notes/$blk:" "$tmp/before" ||
        fail "block at line $blk does not pass unchanged, so its failure proves nothing: $(grep "notes/$blk:" "$tmp/before")"
done
want=$( (fails "$tmp/before"; echo "$diff_block"; echo "$log_block") | sort -un)
got=$(fails "$tmp/after")
[ "$got" = "$want" ] ||
    fail "changed lines $diff_line (hunk at $diff_block) and $log_line (transcript at $log_block): failures at lines $(tr "\n" " " <<<"$got")instead of $(tr "\n" " " <<<"$want"): $(grep '^FAIL' "$tmp/after" | head -n 3)"
grep -q "^FAIL notes/$diff_block: .*line $diff_line " "$tmp/after" ||
    fail "the hunk's failure does not name line $diff_line: $(grep "notes/$diff_block:" "$tmp/after")"
grep -q "^FAIL notes/$log_block: .*line $log_line " "$tmp/after" ||
    fail "the transcript's failure does not name line $log_line: $(grep "notes/$log_block:" "$tmp/after")"
echo "PASS notes-selftest: a changed hunk line ($diff_line) and transcript line ($log_line) fail their blocks, nothing else"
