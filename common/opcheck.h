/* opcheck.h - what an operation is (op_kind), the bookkeeping of every posted
 * one, and the debug build's guard.
 *
 * One call per event of an operation's life does what is not the lesson: the
 * ledger's counts (/stats), the -v log line, and in a debug build (make
 * DEBUG=1, -DIOCP_DEBUG) the guard. The stage keeps what is the lesson: its
 * pending count and its state.
 *
 *   op_posted       just before WSARecv/WSASend/AcceptEx
 *                   "#7 recv posted 4096 bytes"
 *   op_post_failed  the call failed at once: no completion
 *                   "#7 WSARecv failed: WSAENOBUFS (10055)"
 *   op_dequeued     its completion came out of the port
 *                   "#7 recv completed 375 bytes"
 *
 * The guard: each op_check carries a magic number and a state. Posting moves
 * it from idle to posted, dequeuing its completion (or a post that failed at
 * once) moves it back, and freeing the op's memory poisons the magic. In a
 * debug build a wrong transition stops the server at once with a message
 * naming it:
 *   posting an op that is already posted   one OVERLAPPED in two operations
 *   a completion for an op not posted      a double completion, or a stray
 *                                          OVERLAPPED
 *   a completion whose magic is wrong      the op was freed too early
 *   a connection's state moving backwards  CLOSED reopened, a second close
 * instead of corrupting memory far from the mistake. In a normal build only
 * the counts and the log remain. */
#ifndef OPCHECK_H
#define OPCHECK_H

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN   /* no <winsock.h>: <winsock2.h> may follow */
#endif
#include <windows.h>

/* What an operation is: every completion is dispatched on it. */
typedef enum { OP_RECV, OP_SEND, OP_ACCEPT, OP_KINDS } op_kind;

typedef struct op_check {
    unsigned magic;
    volatile long state;
    op_kind kind;       /* what op_posted was told: for the log and counts */
    long conn_id;
} op_check;

void opcheck_init(op_check *check);
void opcheck_free(op_check *check);

/* The three events (see above). op_dequeued comes first, before anything
 * reads the op. */
void op_posted(op_check *check, op_kind kind, long conn_id,
               unsigned long bytes);
void op_post_failed(op_check *check, DWORD err);
void op_dequeued(op_check *check, DWORD bytes, DWORD err);

/* make DEBUG=1: stop when a connection's state does not move forward (from <
 * to). */
void opcheck_state(long conn_id, int from, int to, const char *const names[]);

/* The guard alone (tests/debug/opcheck-selftest.c). */
void opcheck_post(op_check *check, long conn_id, const char *what);
void opcheck_done(op_check *check);

#endif
