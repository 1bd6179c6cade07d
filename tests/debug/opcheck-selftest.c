/* opcheck-selftest.c - proves the debug build's guard (common/opcheck.h) fires.
 *
 * Built with -DIOCP_DEBUG and run under Wine by tests/debug/run.sh, once per mistake:
 *   opcheck-selftest.exe double-post   one op posted twice (one OVERLAPPED, two operations)
 *   opcheck-selftest.exe double-done   one completion dequeued twice
 *   opcheck-selftest.exe after-free    a completion for an op already freed
 *   opcheck-selftest.exe state-back    a connection's state moved backwards (CLOSED -> OPEN)
 *   opcheck-selftest.exe right         post, done, free, states forward: must exit 0
 * Each mistake must stop the program with opcheck's message. */
#include <stdio.h>
#include <string.h>

#include "opcheck.h"

int main(int argc, char **argv)
{
    static const char *const states[] = {"OPEN", "FINISHING", "LINGERING", "CLOSED"};
    op_check check;
    const char *mistake = argc > 1 ? argv[1] : "right";
    opcheck_state(7, 0, 1, states);
    opcheck_state(7, 1, 3, states);
    if (strcmp(mistake, "state-back") == 0)
        opcheck_state(7, 3, 0, states);
    opcheck_init(&check);
    opcheck_post(&check, 7, "recv");
    if (strcmp(mistake, "double-post") == 0)
        opcheck_post(&check, 7, "send");
    opcheck_done(&check);
    if (strcmp(mistake, "double-done") == 0)
        opcheck_done(&check);
    opcheck_free(&check);
    if (strcmp(mistake, "after-free") == 0)
        opcheck_done(&check);
    printf("no mistake caught\n");
    return 0;
}
