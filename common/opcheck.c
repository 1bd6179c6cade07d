/* opcheck.c - see opcheck.h. */
#include "opcheck.h"

#include <stdio.h>
#include <stdlib.h>

#include "ledger.h"
#include "log.h"

static const char *const call_names[OP_KINDS]
    = {"WSARecv", "WSASend", "AcceptEx"};

void op_posted(op_check *check, op_kind kind, long conn_id, unsigned long bytes)
{
    check->kind = kind;
    check->conn_id = conn_id;
    opcheck_post(check, conn_id, op_kind_name(kind));
    ledger_add(&the_ledger.posted[kind], 1);
    ledger_calls(kind == OP_RECV   ? CALL_WSARECV
                 : kind == OP_SEND ? CALL_WSASEND : CALL_ACCEPTEX);
    if (kind == OP_ACCEPT)
        log_op(conn_id, "accept posted");
    else
        log_op(conn_id, "%s posted %lu bytes", op_kind_name(kind), bytes);
}

void op_post_failed(op_check *check, DWORD err)
{
    log_error(check->conn_id, err, "%s failed", call_names[check->kind]);
    ledger_add(&the_ledger.failed[check->kind], 1);
    opcheck_done(check);
}

void op_dequeued(op_check *check, DWORD bytes, DWORD err)
{
    char name[64];
    opcheck_done(check);
    ledger_calls(CALL_DEQUEUE);
    if (err != 0) {
        ledger_add(&the_ledger.failed[check->kind], 1);
        log_op(check->conn_id, "%s failed: %s", op_kind_name(check->kind),
               error_name(err, name, sizeof name));
    } else {
        ledger_add(&the_ledger.completed[check->kind], 1);
        log_op(check->conn_id, "%s completed %lu bytes",
               op_kind_name(check->kind), bytes);
    }
}

#ifdef IOCP_DEBUG
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN   /* no <winsock.h>: <winsock2.h> may follow */
#endif
#include <windows.h>

enum {
    OP_MAGIC = 0x10C9A11Fu,
    OP_POISON = 0xDEADDEADu,
    OP_IDLE = 0,
    OP_POSTED = 1
};

static void die(const op_check *check, long conn_id, const char *what,
                const char *why)
{
    log_flush();
    fprintf(stderr, "opcheck: #%ld %s: %s (op %p, magic 0x%08x, state %ld)\n",
            conn_id, what, why, (const void *)check, check->magic,
            check->state);
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
        die(check, conn_id, what,
            "posting an op that was freed or never set up");
    if (InterlockedCompareExchange(&check->state, OP_POSTED, OP_IDLE)
        != OP_IDLE)
        die(check, conn_id, what, "posting an op that is already in flight "
                                  "(one OVERLAPPED in two operations)");
}

void opcheck_done(op_check *check)
{
    if (check->magic != OP_MAGIC)
        die(check, 0, "completion", "the op was freed (use after free)");
    if (InterlockedCompareExchange(&check->state, OP_IDLE, OP_POSTED)
        != OP_POSTED)
        die(check, 0, "completion",
            "the op was not posted (double completion)");
}

void opcheck_free(op_check *check)
{
    if (check->state == OP_POSTED)
        die(check, 0, "free",
            "freeing an op whose completion has not come yet");
    check->magic = OP_POISON;
}

void opcheck_state(long conn_id, int from, int to, const char *const names[])
{
    if (to <= from) {
        log_flush();
        fprintf(
            stderr,
            "opcheck: #%ld state %s -> %s: "
            "a connection's state only moves forward\n",
            conn_id, names[from], names[to]);
        fflush(stderr);
        abort();
    }
}

#else

void opcheck_init(op_check *check) { (void)check; }
void opcheck_post(op_check *check, long conn_id, const char *what)
{
    (void)check, (void)conn_id, (void)what;
}
void opcheck_done(op_check *check) { (void)check; }
void opcheck_free(op_check *check) { (void)check; }
void opcheck_state(long conn_id, int from, int to, const char *const names[])
{
    (void)conn_id, (void)from, (void)to, (void)names;
}

#endif
