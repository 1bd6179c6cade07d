# tools/notes-program.awk - print the program NOTES.md shows whole: the ```c block right
# after the line `<!-- program: NAME -->` (make extracts "Your program, fixed" with it).
#   awk -v name=yours-fixed.c -f tools/notes-program.awk NOTES.md > build/yours-fixed.c
# Exit status 1 when there is no such block, or it is never closed.
{ sub(/\r$/, "") }
state == 0 && $0 == "<!-- program: " name " -->" { state = 1; next }
state == 1 { if ($0 != "```c") exit 1; state = 2; next }
state == 2 && $0 == "```" { state = 3; exit 0 }
state == 2 { print }
END { exit state == 3 ? 0 : 1 }
