/* heap-selftest.c - proves that the heap check of the test suites can fail.
 *
 * Frees one block twice, as a server that frees a connection on two completions would.
 * Under Wine nothing crashes: the second free is ignored. Run with WINEDEBUG=warn+heap,
 * Wine's heap prints "...:warn:heap:...: delayed freed block" on stderr, and
 * tests/load/run.sh (HEAP_CHECK=1) must find that line, or its heap check is blind.
 * Built with mingw-w64 like the servers. */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    char *volatile block = malloc(100);  /* volatile: the compiler may not drop the frees */

    free(block);
    free(block);
    puts("heap-selftest: freed one block twice");
    return 0;
}
