/* 03-recv-send: WSASend becomes overlapped too; a read and a send in flight at once (C5-C8).
 *
 * Each operation has its own context, io_op: an OVERLAPPED (first), its kind, its
 * connection, its buffer. The port hands back the OVERLAPPED; CONTAINING_RECORD finds
 * the io_op and its kind says whether a read or a send completed: nothing is guessed.
 * Responses wait in a send queue; one WSASend is in flight at a time and a short
 * completion posts the rest; while responses pile up, the connection stops reading
 * (the peer waits in TCP: backpressure). Every post is counted in pending_ops; closing
 * cancels what is in flight, and the connection is freed only when it is closing and
 * the last of its completions has come out of the port, whatever error it carries.
 * Limitation: one worker thread; a request whose handler blocks (/sleep) holds everyone. */

/*** stage ***/

#include <winsock2.h>
#include <stdlib.h>

#include "app.h"
#include "ledger.h"
#include "log.h"
#include "net.h"
#include "opcheck.h"

#define READ_SIZE   4096         /* bytes asked of one recv */
#define QUEUE_HIGH  (64 * 1024)  /* answer no more requests while this much waits to be sent */
#define LINGER_BYTES (4L * 1024 * 1024)  /* lingering close: discard at most this much */

static const stage_info STAGE = {
    "03-recv-send",
    "overlapped sends: one io_op per operation, a send queue, and a pending count that says when to free.",
    "one worker thread: while one request's handler blocks (/sleep), nobody else is served.",
};

/*** connection ***/

typedef enum { IO_RECV, IO_SEND } io_kind;

/* One posted operation. The OVERLAPPED and the memory it points at belong to the
 * system from the post until its completion is dequeued: one io_op per operation. */
typedef struct io_op {
    OVERLAPPED   ov;    /* first, so that CONTAINING_RECORD(ov, io_op, ov) finds the op */
    io_kind      kind;
    struct conn *conn;
    buffer       data;  /* send: the bytes in flight (untouchable until the completion) */
    op_check     check; /* make DEBUG=1: posted/completed/freed checked (common/opcheck.h) */
} io_op;

typedef struct conn {
    SOCKET sock;
    long   id;              /* its number in the log */
    io_op  recv_op;         /* at most one read in flight... */
    io_op  send_op;         /* ...and at most one send */
    int    pending_ops;     /* posted and not yet dequeued: free only at 0 */
    int    receiving;       /* a WSARecv is in flight */
    int    sending;         /* a WSASend is in flight */
    int    closing;         /* closesocket done; waiting for pending_ops to reach 0 */
    int    close_after_send;/* no more requests: close once the send queue is empty */
    int    lingering;       /* all sent and our FIN out: reading only to discard */
    long   discarded;       /* bytes read and thrown away after the last request */
    buffer in;              /* work buffer: bytes received and not yet answered */
    buffer send_queue;      /* responses waiting for the send in flight to finish */
} conn;

static conn *conn_new(SOCKET sock, long id)
{
    conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->sock = sock;
    c->id = id;
    c->recv_op.kind = IO_RECV;
    c->recv_op.conn = c;
    c->send_op.kind = IO_SEND;
    c->send_op.conn = c;
    opcheck_init(&c->recv_op.check);
    opcheck_init(&c->send_op.check);
    /* A request is at most a header block and a body; one more read must fit behind it.
     * The queue takes one more response, up to /big's, once it is under QUEUE_HIGH. */
    buffer_init(&c->in, HTTP_MAX_HEADER + HTTP_MAX_BODY + READ_SIZE);
    buffer_init(&c->send_queue, QUEUE_HIGH + HTTP_MAX_BIG + HTTP_MAX_HEADER);
    buffer_init(&c->send_op.data, QUEUE_HIGH + HTTP_MAX_BIG + HTTP_MAX_HEADER);
    ledger_add(&the_ledger.live_connections, 1);
    return c;
}

static void conn_free(conn *c)
{
    buffer_release(&c->in);
    buffer_release(&c->send_queue);
    buffer_release(&c->send_op.data);
    opcheck_free(&c->recv_op.check);
    opcheck_free(&c->send_op.check);
    ledger_add(&the_ledger.live_connections, -1);
    log_event(c->id, "freed");
    free(c);
}

/* Start closing, or go on closing: cancel what is in flight, then closesocket (the Windows
 * order: Winsock closes gracefully only with no read pending, and under Wine closesocket
 * alone leaves pending a send the peer does not read); free the connection once the last
 * pending completion has been dequeued. Nothing touches c after that. */
static void conn_close(conn *c)
{
    if (!c->closing) {
        c->closing = 1;
        if (c->pending_ops > 0)
            CancelIoEx((HANDLE)c->sock, NULL);
        closesocket(c->sock);
        log_event(c->id, "closed, %d operation(s) still pending", c->pending_ops);
    }
    if (c->pending_ops == 0)
        conn_free(c);
}

/*** sending ***/

/* Post the next WSASend unless one is in flight (one at a time keeps responses in order):
 * what a short completion left in the op, else the whole send queue, moved under the op.
 * 0 posted or nothing to send, -1 failed (no completion will come). */
static int post_send(conn *c)
{
    io_op *op = &c->send_op;
    WSABUF wsabuf;
    if (c->sending)
        return 0;
    if (op->data.len == 0)
        buffer_swap(&op->data, &c->send_queue);
    if (op->data.len == 0)
        return 0;
    wsabuf.buf = buffer_begin(&op->data);
    wsabuf.len = (ULONG)op->data.len;
    ZeroMemory(&op->ov, sizeof op->ov);
    c->sending = 1;
    c->pending_ops++;
    opcheck_post(&op->check, c->id, "send");
    ledger_add(&the_ledger.posted[OP_SEND], 1);
    log_op(c->id, "send posted %lu bytes", wsabuf.len);
    if (WSASend(c->sock, &wsabuf, 1, NULL, 0, &op->ov, NULL) == SOCKET_ERROR
        && WSAGetLastError() != WSA_IO_PENDING) {
        log_error(c->id, (DWORD)WSAGetLastError(), "WSASend failed");
        ledger_add(&the_ledger.failed[OP_SEND], 1);
        opcheck_done(&op->check);
        c->sending = 0;
        c->pending_ops--;
        return -1;
    }
    return 0;
}

/*** receiving ***/

/* Post one read into the tail of the work buffer. Its result is not here: it comes out of
 * the port (lpNumberOfBytesRecvd is NULL; WSA_IO_PENDING means "posted"). Any other error
 * means no completion will come, so the caller cleans up. 0 posted, -1 not. */
static int post_recv(conn *c)
{
    WSABUF wsabuf;
    DWORD flags = 0;
    char *room = buffer_reserve(&c->in, READ_SIZE);
    if (room == NULL)  /* cannot happen: framing answers 413/431 before the limit */
        return -1;
    wsabuf.buf = room;
    wsabuf.len = READ_SIZE;
    ZeroMemory(&c->recv_op.ov, sizeof c->recv_op.ov);
    c->receiving = 1;
    c->pending_ops++;
    opcheck_post(&c->recv_op.check, c->id, "recv");
    ledger_add(&the_ledger.posted[OP_RECV], 1);
    /* Log first: once posted, the completion may be handled (and c freed) at once. */
    log_op(c->id, "recv posted");
    if (WSARecv(c->sock, &wsabuf, 1, NULL, &flags, &c->recv_op.ov, NULL) == SOCKET_ERROR
        && WSAGetLastError() != WSA_IO_PENDING) {
        log_error(c->id, (DWORD)WSAGetLastError(), "WSARecv failed");
        ledger_add(&the_ledger.failed[OP_RECV], 1);
        opcheck_done(&c->recv_op.check);
        c->receiving = 0;
        c->pending_ops--;
        return -1;
    }
    return 0;
}

/*** requests ***/

/* Answer the whole requests at the front of the work buffer, in order, into the send
 * queue, and start sending. 1: all answered, read more; 2: some held back while
 * QUEUE_HIGH bytes wait to be sent; 0: close once sent; -1: close now. */
static int serve_requests(conn *c)
{
    http_request req;
    int keep = 1;
    while (keep == 1 && http_frame(buffer_begin(&c->in), c->in.len, &req) != HTTP_NEED_MORE) {
        if (c->send_queue.len >= QUEUE_HIGH) {
            keep = 2;
            break;
        }
        keep = app_respond(&req, &c->send_queue);
        log_event(c->id, "%s %s -> %d", req.method, req.path, req.status);
        if (keep == 1)
            buffer_consume(&c->in, req.total_len);
    }
    if (keep < 0 || post_send(c) != 0)
        return -1;
    return keep;
}

/*** closing ***/

/* No more requests (Connection: close, HTTP/1.0, an error). Once all is sent, end it as
 * 01 does (lingering close): our FIN, then read and discard until the peer's FIN. Closing
 * with its bytes unread would reset the connection, and could destroy the response. */
static void close_when_sent(conn *c)
{
    c->close_after_send = 1;
    if (c->sending || c->lingering)
        return;
    c->lingering = 1;
    log_event(c->id, "all sent: FIN sent, discarding until the peer's FIN");
    if (shutdown(c->sock, SD_SEND) != 0)  /* then the read fails, and that closes it */
        log_error(c->id, (DWORD)WSAGetLastError(), "shutdown failed");
    if (!c->receiving && post_recv(c) != 0)
        conn_close(c);
}

/* A read completed after the last request: what it brought is thrown away. Lingering, read
 * on; still sending, wait (close_when_sent posts the next read). */
static void discard_input(conn *c)
{
    c->discarded += (long)c->in.len;
    buffer_consume(&c->in, c->in.len);
    if (c->discarded > LINGER_BYTES) {
        log_event(c->id, "still sending after %ld bytes discarded: closing anyway", c->discarded);
        conn_close(c);
    } else if (c->lingering && post_recv(c) != 0) {
        conn_close(c);
    }
}

/*** completions ***/

/* After a completion that leaves the connection open: answer what is whole, then read
 * more. While requests are held back the connection does not read: a peer that pipelines
 * faster than it reads waits in TCP (backpressure); the send completion calls this again. */
static void serve_then_read(conn *c)
{
    switch (serve_requests(c)) {
    case 1:
        if (!c->receiving && post_recv(c) != 0)
            conn_close(c);
        break;
    case 2:
        break;
    case 0:
        close_when_sent(c);
        break;
    default:
        conn_close(c);
    }
}

static void on_recv_completed(conn *c, DWORD bytes, DWORD err)
{
    c->pending_ops--;
    c->receiving = 0;
    if (err != 0) {  /* failed, whatever the code: this operation is over */
        ledger_add(&the_ledger.failed[OP_RECV], 1);
        log_error(c->id, err, "recv failed");
        conn_close(c);
        return;
    }
    ledger_add(&the_ledger.completed[OP_RECV], 1);
    log_op(c->id, "recv completed %lu bytes", bytes);
    if (c->closing) {  /* completed before the cancel reached it: still only to be counted */
        conn_close(c);
        return;
    }
    if (bytes == 0) {  /* the peer's FIN: it sends no more. Lingering, that is the end we
                        * wait for; otherwise this stage closes at once, and a response still
                        * being sent is lost, on Windows as under Wine (06 answers first). */
        log_event(c->id, "peer closed (FIN)");
        conn_close(c);
        return;
    }
    buffer_commit(&c->in, bytes);
    ledger_add(&the_ledger.bytes_in, bytes);
    if (c->close_after_send)
        discard_input(c);
    else
        serve_then_read(c);
}

static void on_send_completed(conn *c, DWORD bytes, DWORD err)
{
    c->pending_ops--;
    c->sending = 0;
    if (err != 0) {
        ledger_add(&the_ledger.failed[OP_SEND], 1);
        log_error(c->id, err, "send failed");
        conn_close(c);
        return;
    }
    ledger_add(&the_ledger.completed[OP_SEND], 1);
    log_op(c->id, "send completed %lu bytes", bytes);
    ledger_add(&the_ledger.bytes_out, bytes);
    buffer_consume(&c->send_op.data, bytes);  /* a short send leaves the rest for the next post */
    if (c->closing || post_send(c) != 0)
        conn_close(c);
    else if (!c->close_after_send)
        serve_then_read(c);  /* requests held back by a full queue, and reading, go on */
    else if (!c->sending)
        close_when_sent(c);  /* all sent: now the lingering close */
}

static DWORD WINAPI worker(LPVOID port)
{
    for (;;) {
        /* Reset the out-variables: after a failure they are not all written. */
        DWORD bytes = 0;
        ULONG_PTR key = 0;
        OVERLAPPED *ov = NULL;
        io_op *op;
        BOOL ok = GetQueuedCompletionStatus((HANDLE)port, &bytes, &key, &ov, INFINITE);
        DWORD err = ok ? 0 : GetLastError();
        if (ov == NULL) {  /* nothing was dequeued: the wait itself failed */
            log_error(0, err, "GetQueuedCompletionStatus failed");
            return 1;
        }
        /* The OVERLAPPED names the operation; its kind says read or send. */
        op = CONTAINING_RECORD(ov, io_op, ov);
        opcheck_done(&op->check);
        if (op->kind == IO_RECV)
            on_recv_completed(op->conn, bytes, err);
        else
            on_send_completed(op->conn, bytes, err);
    }
}

/*** accepting ***/

static void accept_loop(SOCKET listener, HANDLE port)
{
    long next_id = 1;
    for (;;) {
        conn *c;
        SOCKET sock = accept(listener, NULL, NULL);
        if (sock == INVALID_SOCKET) {
            log_error(0, (DWORD)WSAGetLastError(), "accept failed");
            continue;
        }
        ledger_add(&the_ledger.accepted, 1);
        c = conn_new(sock, next_id++);
        if (c == NULL) {
            log_error(0, ERROR_NOT_ENOUGH_MEMORY, "no memory for a connection");
            closesocket(sock);
            continue;
        }
        log_event(c->id, "accepted");
        /* The same call that created the port associates the socket with it. */
        if (CreateIoCompletionPort((HANDLE)sock, port, (ULONG_PTR)c, 0) == NULL) {
            log_error(c->id, GetLastError(), "CreateIoCompletionPort failed");
            conn_close(c);
            continue;
        }
        if (post_recv(c) != 0)
            conn_close(c);
    }
}

/*** main ***/

int main(int argc, char **argv)
{
    options opt;
    SOCKET listener;
    HANDLE port, thread;

    options_parse(argc, argv, 0, &opt);
    net_start();
    app_init(&STAGE);
    listener = net_listen(&opt, STAGE.name);
    /* A new port, not yet associated with any handle; one thread runs its completions. */
    port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    if (port == NULL) {
        log_error(0, GetLastError(), "CreateIoCompletionPort failed");
        return 1;
    }
    thread = CreateThread(NULL, 0, worker, port, 0, NULL);
    if (thread == NULL) {
        log_error(0, GetLastError(), "CreateThread failed");
        return 1;
    }
    accept_loop(listener, port);
    return 0;
}
