/* opcheck.c - see opcheck.h. */
#include "opcheck.h"

#ifdef IOCP_DEBUG
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN   /* no <winsock.h>: <winsock2.h> may still come after */
#endif
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>

enum { OP_MAGIC = 0x10C9A11Fu, OP_POISON = 0xDEADDEADu, OP_IDLE = 0, OP_POSTED = 1 };

static void die(const op_check *check, long conn_id, const char *what, const char *why)
{
    fprintf(stderr, "opcheck: #%ld %s: %s (op %p, magic 0x%08x, state %ld)\n", conn_id, what,
            why, (const void *)check, check->magic, check->state);
    fflush(stderr);
    abort();
}

void opcheck_init(op_check *check)
{
    check->magic = OP_MAGIC;
    check->state = OP_IDLE;
}

void opcheck_post(op_check *check, long conn_id, const char *what)
{
    if (check->magic != OP_MAGIC)
        die(check, conn_id, what, "posting an op that was freed or never set up");
    if (InterlockedCompareExchange(&check->state, OP_POSTED, OP_IDLE) != OP_IDLE)
        die(check, conn_id, what, "posting an op that is already in flight "
                                  "(one OVERLAPPED in two operations)");
}

void opcheck_done(op_check *check)
{
    if (check->magic != OP_MAGIC)
        die(check, 0, "completion", "the op was freed (use after free)");
    if (InterlockedCompareExchange(&check->state, OP_IDLE, OP_POSTED) != OP_POSTED)
        die(check, 0, "completion", "the op was not posted (double completion)");
}

void opcheck_free(op_check *check)
{
    if (check->state == OP_POSTED)
        die(check, 0, "free", "freeing an op whose completion has not come yet");
    check->magic = OP_POISON;
}

#else

void opcheck_init(op_check *check) { (void)check; }
void opcheck_post(op_check *check, long conn_id, const char *what)
{
    (void)check, (void)conn_id, (void)what;
}
void opcheck_done(op_check *check) { (void)check; }
void opcheck_free(op_check *check) { (void)check; }

#endif
