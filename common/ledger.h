/* ledger.h - the counters behind GET /stats.
 *
 * Every stage keeps the same ledger so a test (or a reader with a browser)
 * can check the answer to "when may I free?": after every client has gone,
 * live_connections and the pending operations must come back to zero.
 * Counters are updated with Interlocked operations, so any worker thread may
 * touch them. */
#ifndef LEDGER_H
#define LEDGER_H

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN   /* no <winsock.h>: <winsock2.h> may follow */
#endif
#include <windows.h>
#include <stddef.h>

#include "opcheck.h"

/* The Winsock and port calls a stage makes, by kind: what a request costs
 * (under Wine, each is a round trip to wineserver). Bits, so that one line
 * beside a compound condition counts every call in it. Posts and dequeues are
 * counted by common/opcheck.c; the others by a line beside the call. */
typedef enum {
    CALL_ACCEPT    = 1 << 0,   /* accept() */
    CALL_SOCKET    = 1 << 1,   /* WSASocket, for an AcceptEx */
    CALL_ACCEPTEX  = 1 << 2,   /* AcceptEx posted */
    CALL_UPDATE    = 1 << 3,   /* setsockopt SO_UPDATE_ACCEPT_CONTEXT */
    CALL_FIONBIO   = 1 << 4,   /* ioctlsocket FIONBIO */
    CALL_ASSOCIATE = 1 << 5,   /* CreateIoCompletionPort: joining the port */
    CALL_WSARECV   = 1 << 6,   /* WSARecv posted */
    CALL_WSASEND   = 1 << 7,   /* WSASend posted */
    CALL_DEQUEUE   = 1 << 8,   /* a completion dequeued */
    CALL_RECV      = 1 << 9,   /* recv(): blocking, or after a zero-byte read */
    CALL_SEND      = 1 << 10   /* send(), blocking */
} call_kind;
#define CALL_KINDS 11
/* The calls a connection costs once. */
#define CALL_SETUP (CALL_ACCEPT | CALL_SOCKET | CALL_ACCEPTEX | CALL_UPDATE \
                    | CALL_FIONBIO | CALL_ASSOCIATE)

typedef struct ledger {
    volatile LONG64 accepted;          /* connections accepted since start */
    volatile LONG64 live_connections;  /* connections not yet freed */
    volatile LONG64 requests;          /* requests answered (errors included) */
    volatile LONG64 bytes_in;          /* bytes received */
    volatile LONG64 bytes_out;         /* bytes sent */
    volatile LONG64 buffer_bytes;      /* bytes of I/O buffer storage now */
    volatile LONG64 buffer_high;       /* the most buffer_bytes has been */
    volatile LONG64 buffer_budget;     /* budget.h; 0: no budget */
    volatile LONG64 reserved;          /* of it, held for bodies on the way */
    volatile LONG64 refused;           /* requests refused (503): over budget */
    volatile LONG64 posted[OP_KINDS];    /* overlapped operations posted... */
    volatile LONG64 completed[OP_KINDS]; /* ...that completed successfully... */
    volatile LONG64 failed[OP_KINDS];    /* ...or failed, or never queued */
    volatile LONG64 calls[CALL_KINDS];   /* calls, by kind (its bit's number) */
} ledger;

extern ledger the_ledger;

/* Install the buffer accounting hook (buffer_bytes) and reset the counters. */
void ledger_init(void);
void ledger_add(volatile LONG64 *counter, LONG64 delta);
/* One counter, read whole (a 64-bit read is two on 32-bit x86). */
LONG64 ledger_read(volatile LONG64 *counter);
/* "recv", "send", "accept". */
const char *op_kind_name(op_kind kind);
/* One more call of each kind in `kinds` (call_kind bits). /stats gives them
 * as "calls", with "calls_per_request" (all of them over requests) and
 * "calls_per_connection" (the CALL_SETUP ones over connections accepted). */
void ledger_calls(unsigned kinds);
/* pending = posted - completed - failed, for one kind or (OP_KINDS) all of
 * them. */
LONG64 ledger_pending(op_kind kind);
/* No live connection and no pending operation: what a shutdown waits for. */
BOOL ledger_drained(void);
/* A server that sweeps its connections notes each open one it passes (the
 * first LEDGER_CONNS); then ledger_conns_done() makes that the list /stats
 * gives as "conns" (the lab draws it). */
#define LEDGER_CONNS 16
void ledger_note_conn(long id, const char *state, int recv, int send,
                      size_t queued);
void ledger_conns_done(void);
/* The /stats JSON object (one line, no newline) for stage `stage`; -1 if it
 * does not fit. Beside the counters, "log_dropped": lines the log dropped. */
int  ledger_json(char *dst, size_t size, const char *stage);
/* At exit: print "final ledger: {json}" on stdout, after the log's lines
 * (log_flush); 0 when nothing is left (no live connection, no pending
 * operation, no buffer byte), 1 otherwise: an exit status. The counters only:
 * "conns", the last sweep's list, would show connections already freed. */
int  ledger_report(const char *stage);

#endif
