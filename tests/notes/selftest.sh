#!/usr/bin/env bash
# tests/notes/selftest.sh [NOTES] - check-notes can fail: a stale quote is caught.
#
# Copies NOTES.md, changes one line of its first quoted hunk (a +/- line) and one line of
# its first transcript (a log line), and runs tools/check-notes on the copy and on the
# unchanged text, both with --cached (the fresh outputs of the check-notes run before it;
# without them the transcripts run now). It passes when the changed copy fails at exactly
# those two blocks, each report naming the changed line, and nowhere the unchanged text
# does not. One line: "PASS notes-selftest: ..." or "FAIL notes-selftest: ...".
# Then the placeholders: a quoted line's `{a|b}`, `{N}` and `...` match what they say and
# nothing else ("PASS notes-placeholders: ..."), and a transcript line whose alternatives
# are changed to ones no run prints fails its block.
# Last, a changed line of the first code excerpt (<!-- code: -->) and of the first break-it
# edit (<!-- mutation: -->) fails each block ("PASS notes-selftest-code: ..."), and so does a
# changed `**You see:**` line below a mutation ("PASS notes-selftest-symptom: ...").
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
notes=${1:-$top/NOTES.md}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL notes-selftest: $*"; exit 1; }

# "BLOCK-LINE CHANGED-LINE" of the first block of a kind: a diff's first +/- line (BLOCK-LINE
# its marker), a transcript's first log line (BLOCK-LINE its `$ tools/transcript.sh` line, or
# the hidden `<!-- $ tools/transcript.sh ... -->` line before it).
pick() {
    awk -v kind="$1" '
        kind == "diff" && /^<!-- *diff[ :]/ { marker = NR; next }
        kind == "diff" && marker && NR == marker + 1 && /^```diff/ { inside = 1; next }
        kind == "transcript" && !inside && /^<!-- *\$ [^ ]*transcript\.sh / { hidden = NR; next }
        kind == "transcript" && hidden && NR == hidden + 1 && /^```text *$/ { marker = hidden; inside = 1; hidden = 0; next }
        kind == "transcript" && !inside && /^```text *$/ { opened = NR; next }
        kind == "transcript" && opened && NR == opened + 1 && /^\$ [^ ]*transcript\.sh / { marker = NR; inside = 1; opened = 0; next }
        inside && /^```/ { inside = 0; marker = 0; next }
        inside && kind == "diff" && /^[-+]/ && !/^(---|\+\+\+) / { print marker, NR; exit }
        inside && kind == "transcript" && /^\[ *[0-9]+\.[0-9]+\] \[tid / { print marker, NR; exit }
        { if (!inside) { marker = 0; opened = 0; hidden = 0 } }' "$notes"
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

# The placeholders, on their own: each quoted line against what it must and must not match.
if out=$(python3 - "$top/tools/check-notes" <<'PY'
import importlib.machinery, sys
cn = importlib.machinery.SourceFileLoader("check_notes", sys.argv[1]).load_module()
cases = [  # quoted, matches, does not match
    ("#1 closed, {0|1} operation(s) still pending", ["#4 closed, 0 operation(s) still pending",
     "#1 closed, 1 operation(s) still pending"], ["#1 closed, 2 operation(s) still pending"]),
    ("[tid 0x24] {N} worker threads", ["[tid 0x1c] 4 worker threads", "[tid 0x1c] 12 worker threads"],
     ["[tid 0x1c] four worker threads", "[tid 0x1c]  worker threads"]),
    ("#1 send {failed: ERROR_OPERATION_ABORTED (995)|completed ... bytes}",
     ["#1 send failed: ERROR_OPERATION_ABORTED (995)", "#1 send completed 3919872 bytes"],
     ["#1 send failed: ERROR_NETNAME_DELETED (64)"]),
    ('final ledger: {"stage":"06",...,"pending_ops":0}', ['final ledger: {"stage":"06","a":1,"pending_ops":0}'],
     ['final ledger: {"stage":"06","a":1,"pending_ops":1}']),
]
bad = []
for quoted, good, wrong in cases:
    rx, _ = cn.pattern(quoted)
    bad += [f"`{quoted}` does not match `{g}`" for g in good if not rx.fullmatch(g)]
    bad += [f"`{quoted}` matches `{w}`" for w in wrong if rx.fullmatch(w)]
print("; ".join(bad))
sys.exit(1 if bad else 0)
PY
); then
    echo "PASS notes-placeholders: {a|b}, {N}, ... and literal JSON braces match what they say, nothing else"
else
    echo "FAIL notes-placeholders: $out"
fi

# A transcript line with alternatives, changed to alternatives no run prints, fails its block.
read -r alt_block alt_line < <(awk '
    hidden && NR == hidden + 1 && /^```text *$/ { marker = hidden; hidden = 0; next }
    /^<!-- *\$ [^ ]*transcript\.sh / { hidden = NR; next }
    /^```text *$/ { opened = NR; next }
    opened && NR == opened + 1 && /^\$ [^ ]*transcript\.sh / { marker = NR; next }
    /^```/ { marker = 0 }
    marker && /\{[^{}]*\|[^{}]*\}/ { print marker, NR; exit }
    { opened = 0; hidden = 0 }' "$notes") || fail "no transcript line with {a|b} alternatives in $notes"
awk -v a="$alt_line" 'NR == a { sub(/\{[^{}]*\|[^{}]*\}/, "{never|printed}") } { print }' "$notes" >"$tmp/ALT.md"
python3 "$top/tools/check-notes" --cached --only "$alt_block" --notes "$tmp/ALT.md" >"$tmp/alt" 2>/dev/null
grep -q "^FAIL notes/$alt_block: .*line $alt_line " "$tmp/alt" ||
    fail "line $alt_line with its alternatives changed did not fail block $alt_block: $(cat "$tmp/alt")"
echo "PASS notes-selftest-alternatives: line $alt_line with {never|printed} for its alternatives fails its block ($alt_block)"


# The code excerpts and the break-it edits: a changed line of the first of each fails its block.
read -r code_block code_line mut_block mut_line < <(awk '
    /^<!-- *code:/ && !c { cm = NR; next }
    cm && NR == cm + 1 && /^```/ { cin = 1; next }
    cin && /^```/ { cin = 0; cm = 0; next }
    cin && !c && NF { c = cm " " NR }
    /^<!-- *mutation:/ && !m { mm = NR; next }
    mm && NR == mm + 1 && /^```diff/ { min = 1; next }
    min && /^```/ { min = 0; mm = 0; next }
    min && !m && /^[-+]/ { m = mm " " NR }
    END { if (c && m) print c, m }' "$notes") || fail "no code excerpt or mutation block with a line to change in $notes"
awk -v a="$code_line" -v b="$mut_line" 'NR == a || NR == b { $0 = $0 " /* stale */" } { print }' "$notes" >"$tmp/CODE.md"
python3 "$top/tools/check-notes" --cached --only "$code_block,$mut_block" --notes "$tmp/CODE.md" >"$tmp/code" 2>/dev/null
grep -q "^FAIL notes/$code_block: .*line $code_line " "$tmp/code" && grep -q "^FAIL notes/$mut_block: .*line $mut_line " "$tmp/code" ||
    fail "changed lines $code_line (code at $code_block) and $mut_line (mutation at $mut_block) did not both fail: $(cat "$tmp/code")"
echo "PASS notes-selftest-code: a changed code excerpt line ($code_line) and break-it edit line ($mut_line) fail their blocks"

# A mutation's symptom: the first `**You see:**` line changed fails its mutation's block.
read -r see_block see_line < <(awk '
    /^<!-- *mutation:/ { mm = NR; next }
    /^\*\*You see:\*\*/ && mm { print mm, NR; exit }' "$notes") || fail "no **You see:** line after a mutation block in $notes"
awk -v a="$see_line" 'NR == a { sub(/\*\*You see:\*\* /, "**You see:** nothing at all, ") } { print }' "$notes" >"$tmp/SEE.md"
python3 "$top/tools/check-notes" --cached --only "$see_block" --notes "$tmp/SEE.md" >"$tmp/see" 2>/dev/null
grep -q "^FAIL notes/$see_block: mutation .*You see" "$tmp/see" ||
    fail "a changed **You see:** line ($see_line) did not fail its mutation's block $see_block: $(cat "$tmp/see")"
echo "PASS notes-selftest-symptom: a changed **You see:** line ($see_line) fails its mutation's block ($see_block)"
