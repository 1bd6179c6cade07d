#!/usr/bin/env python3
"""tests/fixed/table.py NOTES PROGRAM - the table above "Your program, fixed" points at the
right lines: in each of its rows, every "N: `TEXT`" or "N-M: `TEXT`" (and each further
`TEXT` after it, up to the next number) must be on line N, or within lines N..M, of the
program (the C block NOTES shows, extracted); and the block ends before line 400. Prints "PASS fixed/notes-table (...)" or
"FAIL fixed/notes-table: ..." for each wrong reference.
"""
import re
import sys

notes, program = (open(p, encoding="utf-8").read().splitlines() for p in sys.argv[1:3])
start = next(i for i, l in enumerate(notes) if l.startswith("| your mistake |"))
rows = []
for line in notes[start + 2:]:
    if not line.startswith("|"):
        break
    rows.append(line.split("|")[2])
refs = bad = 0
for cell in rows:
    for m in re.finditer(r"(\d+)(?:-(\d+))?: (.*?)(?=\s\d+(?:-\d+)?: |;|$)", cell):
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        for text in re.findall(r"`([^`]+)`", m.group(3)):
            text = text.replace("\\\\", "\\")
            refs += 1
            if not any(text in l for l in program[lo - 1:hi]):
                bad += 1
                print(f"FAIL fixed/notes-table: `{text}` is not on lines {lo}-{hi} of the program")
if not rows or refs == 0:
    print("FAIL fixed/notes-table: no table with line references above the program")
    sys.exit(1)
# issue 27: the program is shown whole before line 400 of NOTES.md
fence = next(i for i, l in enumerate(notes) if l.startswith("<!-- program: ")) + 2 + len(program) + 1
if fence >= 400:
    bad += 1
    print(f"FAIL fixed/notes-table: the program's block ends at line {fence} of NOTES.md, not before 400")
if not bad:
    print(f"PASS fixed/notes-table ({len(rows)} mistakes, {refs} references, each on its lines; "
          f"the block ends at line {fence})")
sys.exit(1 if bad else 0)
