#!/usr/bin/env python3
"""bench/variants/refresh.py - write bench/variants/*.patch again from 06-shutdown/server.c.

Each variant of 06 that `make bench` measures is an edit of 06's server.c, made here by
exact-text replacements (rep: each old text must occur once); the patches are their diffs
against 06 as it is now. When 06 changes and a patch no longer applies (make bench says
so), run this from anywhere: an anchor not found stops it with the text it looked for.

  skip         FILE_SKIP_COMPLETION_PORT_ON_SUCCESS: an operation that succeeds at once
               is completed where it was posted (complete_at_once), no packet comes
  gqcsex       GetQueuedCompletionStatusEx: up to 16 completions a call
  skip-gqcsex  both
  read         a real 4 KiB read in place of the zero-byte read and its recv()
"""
import difflib
import os
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STAGE = os.path.join(TOP, "06-shutdown", "server.c")

PRELUDE = """
def rep(old, new, count=1):
    global s
    if s.count(old) != count:
        raise SystemExit("refresh: %d matches (want %d) in 06-shutdown/server.c of:\\n%s"
                         % (s.count(old), count, old))
    s = s.replace(old, new)
"""

EDITS = {}
EDITS['skip'] = r'''
rep("""    int          posted; /* from the post until its completion is dequeued */
""", """    int          posted; /* from the post until its completion is dequeued */
    int          done_at_once; /* it succeeded at once: no packet, complete_at_once() */
    DWORD        bytes_at_once; /* what it moved, then */
""")
# send
rep("""    op_posted(&op->check, OP_SEND, c->id, wsabuf.len);
    if (WSASend(c->sock, &wsabuf, 1, NULL, 0, &op->ov, NULL) == SOCKET_ERROR
        && WSAGetLastError() != WSA_IO_PENDING) {""", """    op_posted(&op->check, OP_SEND, c->id, wsabuf.len);
    if (WSASend(c->sock, &wsabuf, 1, &op->bytes_at_once, 0, &op->ov, NULL) == 0)
        op->done_at_once = 1;  /* no packet will come (FILE_SKIP_COMPLETION_PORT_ON_SUCCESS) */
    else if (WSAGetLastError() != WSA_IO_PENDING) {""")
rep("""    op_posted(&c->recv_op.check, OP_RECV, c->id, wsabuf.len);
    if (WSARecv(c->sock, &wsabuf, 1, NULL, &flags, &c->recv_op.ov, NULL) == SOCKET_ERROR
        && WSAGetLastError() != WSA_IO_PENDING) {""", """    op_posted(&c->recv_op.check, OP_RECV, c->id, wsabuf.len);
    if (WSARecv(c->sock, &wsabuf, 1, &c->recv_op.bytes_at_once, &flags, &c->recv_op.ov,
                NULL) == 0)
        c->recv_op.done_at_once = 1;  /* no packet will come */
    else if (WSAGetLastError() != WSA_IO_PENDING) {""")
# complete_at_once after on_completed definition: insert before worker's forward decl
rep("""static void on_accept_completed(io_op *op, DWORD bytes, DWORD err);  /* below */
""", """/* An operation that succeeded where it was posted completes here, under c's lock, as
 * if dequeued; what it posts may succeed at once too: loop. The caller holds a
 * reference, so the operation's own is never the last. */
static void complete_at_once(conn *c)
{
    io_op *op;
    for (;;) {
        op = c->recv_op.done_at_once ? &c->recv_op
             : c->send_op.done_at_once ? &c->send_op : NULL;
        if (op == NULL)
            return;
        op->done_at_once = 0;
        op_dequeued(&op->check, op->bytes_at_once, 0);
        /* op_dequeued counted a dequeue: none was made (calls[8]: CALL_DEQUEUE) */
        ledger_add(&the_ledger.calls[8], -1);
        on_completed(op, op->bytes_at_once, 0);
        conn_release(c);
    }
}

static void on_accept_completed(io_op *op, DWORD bytes, DWORD err);  /* below */
""")
rep("""        on_completed(op, bytes, err);
        LeaveCriticalSection(&c->lock);""", """        on_completed(op, bytes, err);
        complete_at_once(c);
        LeaveCriticalSection(&c->lock);""")
rep("""            fn(c);
            LeaveCriticalSection(&c->lock);""", """            fn(c);
            complete_at_once(c);
            LeaveCriticalSection(&c->lock);""")
rep("""static void conn_hold(conn *c) { InterlockedIncrement(&c->refs); }
""", """static void conn_hold(conn *c) { InterlockedIncrement(&c->refs); }
static void complete_at_once(conn *c);  /* completions, below */
""")
rep("""        || CreateIoCompletionPort((HANDLE)c->sock, server.port, (ULONG_PTR)c, 0) == NULL) {""",
"""        || CreateIoCompletionPort((HANDLE)c->sock, server.port, (ULONG_PTR)c, 0) == NULL
        || !SetFileCompletionNotificationModes((HANDLE)c->sock,
                FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE)) {""")
rep("""        post_recv(c);
    }
    if (c->state == CONN_OPEN) {""", """        post_recv(c);
        complete_at_once(c);
    }
    if (c->state == CONN_OPEN) {""")
'''

EDITS['gqcsex'] = r'''
rep("""#include <stdlib.h>
""", """#include <stdlib.h>
#include <winternl.h>  /* RtlNtStatusToDosError: an entry's status is an NTSTATUS */
""")
rep("""#define CANCEL_MS    3000""", """#define BATCH        16           /* completions dequeued by one call */
#define CANCEL_MS    3000""")
old_start = s.index("static DWORD WINAPI worker(LPVOID port)\n")
old_end = s.index("/*** accepting ***/")
s = s[:old_start] + """/* One completion, as GetQueuedCompletionStatus would have returned it. */
static void handle_completion(OVERLAPPED *ov, DWORD bytes, DWORD err)
{
    io_op *op = CONTAINING_RECORD(ov, io_op, ov);
    conn *c;
    if (op->kind == OP_ACCEPT) {  /* the listener's: no connection, no lock yet */
        on_accept_completed(op, bytes, err);
        return;
    }
    op_dequeued(&op->check, bytes, err);
    c = op->conn;  /* alive: this operation's reference is still held */
    EnterCriticalSection(&c->lock);
    on_completed(op, bytes, err);
""" + ("    complete_at_once(c);\n" if "complete_at_once" in s else "") + """    LeaveCriticalSection(&c->lock);
    conn_release(c);  /* the operation's reference: this may free c */
}

/* Up to BATCH completions a call. A quit packet (no OVERLAPPED) may come in a batch
 * beside others, or several at once: the others are handled, the extra quits posted
 * back for the other workers. */
static DWORD WINAPI worker(LPVOID port)
{
    for (;;) {
        OVERLAPPED_ENTRY entries[BATCH];
        ULONG got = 0, i, quits = 0;
        if (!GetQueuedCompletionStatusEx((HANDLE)port, entries, BATCH, &got, INFINITE,
                                         FALSE)) {
            log_error(0, GetLastError(), "GetQueuedCompletionStatusEx failed");
            return 1;
        }
        /* op_dequeued counts a dequeue per completion; this was one call */
        ledger_add(&the_ledger.calls[8], 1 - (LONG64)got);
        for (i = 0; i < got; i++) {
            OVERLAPPED *ov = entries[i].lpOverlapped;
            if (ov == NULL)
                quits++;
            else
                handle_completion(ov, entries[i].dwNumberOfBytesTransferred,
                                  ov->Internal == 0 ? 0
                                  : RtlNtStatusToDosError((NTSTATUS)ov->Internal));
        }
        if (quits > 0) {
            while (--quits > 0)
                PostQueuedCompletionStatus((HANDLE)port, 0, 0, NULL);
            return 0;
        }
    }
}

""" + s[old_end:]
'''

EDITS['read'] = r'''
rep("""    static char nothing[1];
    WSABUF wsabuf;
""", """    WSABUF wsabuf;
""")
rep("""    if (c->in.len == 0)
        buffer_release(&c->in);
    wsabuf.buf = nothing;
    wsabuf.len = 0;
""", """    wsabuf.buf = buffer_reserve(&c->recv_op.data, READ_SIZE);
    wsabuf.len = READ_SIZE;
    if (wsabuf.buf == NULL) {
        conn_abort(c, "no memory to read");
        return;
    }
""")
rep("""    if (err == 0 && op->kind == OP_RECV)
        err = read_available(c);  /* the zero-byte read says only "something came" */
""", """    if (err == 0 && op->kind == OP_RECV) {  /* a real read: its bytes, 0 the FIN */
        if (bytes == 0)
            c->peer_fin = 1;
        ledger_add(&the_ledger.bytes_in, bytes);
        buffer_commit(&op->data, bytes);
        if (buffer_append(&c->in, buffer_begin(&op->data), bytes) != 0)
            err = ERROR_NOT_ENOUGH_MEMORY;
        buffer_consume(&op->data, bytes);
        if (bytes > 0 && (c->reserved > 0 || c->state == CONN_LINGERING))
            c->last_progress = GetTickCount64();
    }
""")
# read_available now unused: drop it (-Werror unused function)
a = s.index("/* After a zero-byte completion: take what is there")
b = s.index("/*** requests ***/")
s = s[:a] + s[b:]
rep("""    buffer_init(&c->send_queue, QUEUE_HIGH + HTTP_MAX_BODY + HTTP_MAX_HEADER);
""", """    buffer_init(&c->recv_op.data, READ_SIZE);
    buffer_init(&c->send_queue, QUEUE_HIGH + HTTP_MAX_BODY + HTTP_MAX_HEADER);
""")
rep("""    buffer_release(&c->send_op.data);
""", """    buffer_release(&c->send_op.data);
    buffer_release(&c->recv_op.data);
""")
'''

VARIANTS = {"skip": ["skip"], "gqcsex": ["gqcsex"], "skip-gqcsex": ["skip", "gqcsex"],
            "read": ["read"]}


def main():
    with open(STAGE) as f:
        original = f.read()
    for name, edits in VARIANTS.items():
        ns = {"s": original}
        exec(PRELUDE, ns)
        for edit in edits:
            exec(EDITS[edit], ns)
        diff = difflib.unified_diff(original.splitlines(True), ns["s"].splitlines(True),
                                    "a/server.c", "b/server.c")
        with open(os.path.join(TOP, "bench", "variants", name + ".patch"), "w") as f:
            f.writelines(diff)
        print(f"bench/variants/{name}.patch")


if __name__ == "__main__":
    main()
