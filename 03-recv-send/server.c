/* 03-recv-send: WSASend becomes overlapped too; a read and a send in flight at
 * once (C5-C8). Each operation has its own io_op (OVERLAPPED first, its kind);
 * CONTAINING_RECORD finds it from what the port hands back. Answers wait in a
 * send queue, one WSASend in flight, a short one followed by the rest. Every
 * post is counted: a connection is freed once it is CLOSED and its last
 * completion, whatever its error, has come out of the port. */

#include <winsock2.h>
#include <stdlib.h>
#include "app.h"
#include "ledger.h"
#include "log.h"
#include "net.h"
#include "opcheck.h"

#define READ_SIZE    4096         /* bytes asked of one recv */
#define SEND_MAX     (64 * 1024)  /* bytes offered to one send */
#define QUEUE_HIGH   (64 * 1024)  /* answer no more requests while this much waits to be sent */
#define LINGER_BYTES (4L * 1024 * 1024)  /* lingering close: discard at most this much */

/*** connection ***/
/* One per operation: the system owns it and its buffer until the completion. */
typedef struct io_op {
    OVERLAPPED   ov;     /* first, so that CONTAINING_RECORD(ov, io_op, ov) finds the op */
    op_kind      kind;   /* which operation the port handed back */
    int          posted; /* from the post until its completion is dequeued */
    struct conn *conn;
    buffer       data;   /* the bytes in flight: the system's until the completion */
    op_check     check;  /* the ledger, the -v log, make DEBUG=1's guard (common/opcheck.h) */
} io_op;

/* A connection's life, in order; it only moves forward, through set_state(). */
typedef enum {
    CONN_OPEN,       /* reading requests and answering them */
    CONN_FINISHING,  /* answering no new request: sending what is queued, then our FIN */
    CONN_LINGERING,  /* our FIN is out: reading and discarding until the peer's FIN */
    CONN_CLOSED      /* closesocket done: freed once nothing is pending */
} conn_state;
static const char *const state_names[] = {
    [CONN_OPEN] = "OPEN", [CONN_FINISHING] = "FINISHING",
    [CONN_LINGERING] = "LINGERING", [CONN_CLOSED] = "CLOSED"};

/* The states each one may move to: forward only, to LINGERING only through
 * FINISHING (our FIN goes after what is queued), and to CLOSED once. */
static const unsigned allowed_next[] = {
    [CONN_OPEN]      = 1 << CONN_FINISHING | 1 << CONN_CLOSED,
    [CONN_FINISHING] = 1 << CONN_LINGERING | 1 << CONN_CLOSED,
    [CONN_LINGERING] = 1 << CONN_CLOSED,  [CONN_CLOSED] = 0,
};

typedef struct conn {
    SOCKET     sock;
    long       id;           /* its number in the log */
    conn_state state;
    io_op      recv_op;      /* at most one read in flight... */
    io_op      send_op;      /* ...and at most one send */
    int        pending_ops;  /* posted and not yet dequeued: free only when CLOSED and 0 */
    int        peer_fin;     /* the peer's FIN came: it sends no more, no read is posted */
    long       discarded;    /* bytes read and thrown away after the last request */
    buffer     in;           /* work buffer: bytes received and not yet answered */
    buffer     send_queue;   /* responses waiting for the send in flight to finish */
    http_body  body;         /* the rest of a /big body, produced as it is sent */
} conn;

static conn *conn_new(SOCKET sock, long id)
{
    conn *c = calloc(1, sizeof *c);  /* CONN_OPEN, nothing posted */
    if (c == NULL)
        return NULL;
    c->sock = sock;
    c->id = id;
    c->recv_op.kind = OP_RECV;
    c->recv_op.conn = c;
    c->send_op.kind = OP_SEND;
    c->send_op.conn = c;
    opcheck_init(&c->recv_op.check);
    opcheck_init(&c->send_op.check);
    /* Room for a whole request and one more read; the queue takes one more whole response
     * while under QUEUE_HIGH (/echo's is the largest; a /big body comes in QUEUE_HIGH). */
    buffer_init(&c->in, HTTP_MAX_HEADER + HTTP_MAX_BODY + READ_SIZE);
    buffer_init(&c->recv_op.data, READ_SIZE);
    buffer_init(&c->send_queue, QUEUE_HIGH + HTTP_MAX_BODY + HTTP_MAX_HEADER);
    buffer_init(&c->send_op.data, QUEUE_HIGH + HTTP_MAX_BODY + HTTP_MAX_HEADER);
    ledger_add(&the_ledger.live_connections, 1);
    return c;
}

static void conn_free(conn *c)
{
    buffer_release(&c->in);
    buffer_release(&c->recv_op.data);
    buffer_release(&c->send_queue);
    buffer_release(&c->send_op.data);
    opcheck_free(&c->recv_op.check);
    opcheck_free(&c->send_op.check);
    ledger_add(&the_ledger.live_connections, -1);
    log_event(c->id, "freed");
    free(c);
}

/* Every change of state comes here: logged, and checked in every build. */
static void set_state(conn *c, conn_state next, const char *why)
{
    log_event(c->id, "%s -> %s: %s (%d pending)", state_names[c->state], state_names[next],
              why, c->recv_op.posted + c->send_op.posted);
    if (!(allowed_next[c->state] & 1 << next)) {
        log_error(c->id, ERROR_INVALID_STATE,
                  "a move allowed_next[] lacks: a bug");
        log_flush();
        abort();
    }
    c->state = next;
}

static void conn_abort(conn *c, const char *why);  /* closing, below */
static void conn_finish(conn *c, const char *why);  /* the next step, below */

/*** sending ***/
/* One WSASend at a time keeps answers in order: what a short send left, else
 * the queue (topped up from a body). Failed, no completion comes: abort. */
static void post_send(conn *c)
{
    io_op *op = &c->send_op;
    WSABUF wsabuf;
    if (op->posted || c->state == CONN_CLOSED)
        return;
    if (op->data.len == 0) {
        if (http_body_next(&c->body, &c->send_queue, QUEUE_HIGH) != 0) {
            conn_abort(c, "no room for the body");
            return;
        }
        buffer_swap(&op->data, &c->send_queue);
    }
    if (op->data.len == 0)
        return;
    wsabuf.buf = buffer_begin(&op->data);
    wsabuf.len = (ULONG)min(op->data.len, SEND_MAX);
    ZeroMemory(&op->ov, sizeof op->ov);
    op->posted = 1;
    c->pending_ops++;
    op_posted(&op->check, OP_SEND, c->id, wsabuf.len);
    if (WSASend(c->sock, &wsabuf, 1, NULL, 0, &op->ov, NULL) == SOCKET_ERROR
        && WSAGetLastError() != WSA_IO_PENDING) {
        op_post_failed(&op->check, (DWORD)WSAGetLastError());
        op->posted = 0;
        c->pending_ops--;
        conn_abort(c, "WSASend failed");
    }
}

/*** receiving ***/
/* Requests held back: nothing more is read, the peer waits in TCP. */
static int holding_back(const conn *c)
{
    return c->send_queue.len >= QUEUE_HIGH || c->body.left > 0;
}

/* Post a read; ending, a connection reads on, to discard.
 * One read into the op's own buffer, apart from the work buffer being answered.
 * Its result comes from the port, not from here: lpNumberOfBytesRecvd is NULL,
 * WSA_IO_PENDING means "posted"; any other error, no completion: abort. */
static void post_recv(conn *c)
{
    WSABUF wsabuf;
    DWORD flags = 0;
    if (c->recv_op.posted || c->peer_fin || c->state == CONN_CLOSED
        || (c->state == CONN_OPEN && holding_back(c)))
        return;
    wsabuf.buf = buffer_reserve(&c->recv_op.data, READ_SIZE);
    wsabuf.len = READ_SIZE;
    if (wsabuf.buf == NULL) {
        conn_abort(c, "no memory to read");
        return;
    }
    ZeroMemory(&c->recv_op.ov, sizeof c->recv_op.ov);
    c->recv_op.posted = 1;
    c->pending_ops++;
    op_posted(&c->recv_op.check, OP_RECV, c->id, wsabuf.len);
    if (WSARecv(c->sock, &wsabuf, 1, NULL, &flags, &c->recv_op.ov, NULL) == SOCKET_ERROR
        && WSAGetLastError() != WSA_IO_PENDING) {
        op_post_failed(&c->recv_op.check, (DWORD)WSAGetLastError());
        c->recv_op.posted = 0;
        c->pending_ops--;
        conn_abort(c, "WSARecv failed");
    }
}

/*** requests ***/
/* Answer the whole requests at the front of the work buffer, in order, into the
 * send queue; one in pieces waits for the rest. Returns how the last ends. */
static response_end serve_requests(conn *c)
{
    http_request req;
    while (!holding_back(c)
           && http_frame(buffer_begin(&c->in), c->in.len, &req) != HTTP_NEED_MORE) {
        response_end end = app_respond(&req, &c->send_queue, &c->body);
        log_event(c->id, "%s %s -> %d", req.method, req.path, req.status);
        if (end != RESPONSE_KEEP_OPEN)
            return end;
        buffer_consume(&c->in, req.total_len);
    }
    return RESPONSE_KEEP_OPEN;
}

/*** closing ***/
/* The last step of either end: closesocket, CLOSED. What is still posted completes with
 * an error and is only counted; the worker frees the connection after the last of it. */
static void close_socket(conn *c, const char *why)
{
    closesocket(c->sock);
    set_state(c, CONN_CLOSED, why);
}

/* abort: the end by a reset (a failed operation, a peer that will not stop sending):
 * cancel what is in flight, SO_LINGER {1, 0}, closesocket. The client sees a reset, and
 * knows its answer is not whole. (A read pending resets too, unless our FIN is out.) */
static void conn_abort(conn *c, const char *why)
{
    static const struct linger reset = {1, 0};
    if (c->state == CONN_CLOSED)
        return;
    if (c->recv_op.posted || c->send_op.posted)
        CancelIoEx((HANDLE)c->sock, NULL);
    setsockopt(c->sock, SOL_SOCKET, SO_LINGER, (const char *)&reset, sizeof reset);
    close_socket(c, why);
}

/* Input after the last request is thrown away; past LINGER_BYTES, a reset. */
static void discard_input(conn *c)
{
    c->discarded += (long)c->in.len;
    buffer_consume(&c->in, c->in.len);
    if (c->discarded > LINGER_BYTES)
        conn_abort(c, "the peer goes on sending after the last answer");
}

/*** the next step ***/
/* The one place that decides a connection's next step, after each event (a
 * completion; in 06 the sweep and the shutdown too): read down, its life. */
static void conn_step(conn *c)
{
    response_end end;
    switch (c->state) {
    case CONN_OPEN:
        end = serve_requests(c);
        if (end == RESPONSE_FAILED)
            conn_abort(c, "no room for a response");
        else if (end == RESPONSE_LAST)
            conn_finish(c, "the answer says Connection: close");
        /* The peer's FIN ends requests, not answers: no read is posted. */
        else if (c->peer_fin && !holding_back(c))
            conn_finish(c, "the peer's FIN, and all it sent is answered");
        else
            post_send(c);
        break;
    case CONN_FINISHING:
        discard_input(c);
        post_send(c);
        if (c->state != CONN_FINISHING || c->send_op.posted)
            break;
        /* All sent: our FIN; then, unless the peer's is in, read and discard
         * until it comes: unread bytes at a close reset, losing the answer. */
        if (shutdown(c->sock, SD_SEND) != 0) {
            log_error(c->id, (DWORD)WSAGetLastError(), "shutdown failed");
            conn_abort(c, "shutdown failed");
        } else if (c->peer_fin) {
            close_socket(c, "all sent, our FIN after the peer's");
        } else {
            set_state(c, CONN_LINGERING, "all sent, our FIN sent");
        }
        break;
    case CONN_LINGERING:
        discard_input(c);
        if (c->state == CONN_LINGERING && c->peer_fin)
            close_socket(c, "the peer's FIN after ours");
        break;
    case CONN_CLOSED:
        break;
    }
    post_recv(c);
}

/* finish: the graceful end (Connection: close, HTTP/1.0, an error status, the
 * peer's FIN; in 06 idle and the shutdown too): the queue, then our FIN. */
static void conn_finish(conn *c, const char *why)
{
    if (c->state == CONN_OPEN) {
        set_state(c, CONN_FINISHING, why);
        /* The rest of the input: not answered, nor counted as discarded. */
        buffer_consume(&c->in, c->in.len);
    }
    conn_step(c);
}

/*** completions ***/
/* Every completion comes here, whatever its outcome; the
 * io_op's kind says what completed: nothing is guessed. Once CLOSED, a
 * completion (our cancel's error, or one that beat it) is only counted. */
static void on_completed(io_op *op, DWORD bytes, DWORD err)
{
    conn *c = op->conn;
    op->posted = 0;
    c->pending_ops--;
    if (c->state == CONN_CLOSED)
        return;
    if (err != 0) {  /* failed, whatever the code: this operation is over, and the connection */
        log_error(c->id, err, "%s failed", op_kind_name(op->kind));
        conn_abort(c, op->kind == OP_RECV ? "recv failed" : "send failed");
        return;
    }
    if (op->kind == OP_SEND) {  /* a short send leaves the rest for the next post */
        ledger_add(&the_ledger.bytes_out, bytes);
        buffer_consume(&op->data, bytes);
        conn_step(c);
        return;
    }
    if (bytes == 0)  /* a read with a buffer that returns 0 bytes: the peer's FIN */
        c->peer_fin = 1;
    ledger_add(&the_ledger.bytes_in, bytes);
    buffer_commit(&c->recv_op.data, bytes);  /* the op's buffer is ours again: take its bytes */
    if (buffer_append(&c->in, buffer_begin(&c->recv_op.data), bytes) != 0)
        conn_abort(c, "no room for what came");  /* cannot happen: 413/431 come first */
    buffer_consume(&c->recv_op.data, bytes);
    conn_step(c);
}

static DWORD WINAPI worker(LPVOID port)
{
    for (;;) {
        /* Reset the out-variables: after a failure they are not all written. */
        DWORD bytes = 0;
        ULONG_PTR key = 0;
        OVERLAPPED *ov = NULL;
        conn *c;
        BOOL ok = GetQueuedCompletionStatus((HANDLE)port, &bytes, &key, &ov, INFINITE);
        DWORD err = ok ? 0 : GetLastError();
        if (ov == NULL && !ok) {  /* nothing was dequeued: the wait itself failed */
            log_error(0, err, "GetQueuedCompletionStatus failed");
            return 1;
        }
        if (ov == NULL) {  /* main's packet: a new connection, whose first read is ours */
            c = (conn *)key;
            post_recv(c);
        } else {  /* the OVERLAPPED names the operation; its kind says read or send */
            io_op *op = CONTAINING_RECORD(ov, io_op, ov);
            op_dequeued(&op->check, bytes, err);
            c = op->conn;
            on_completed(op, bytes, err);
        }
        if (c->state == CONN_CLOSED && c->pending_ops == 0)
            conn_free(c);  /* its last completion is out: nothing can touch it now */
    }
}

/*** accepting ***/
/* main accepts; the worker does the rest. A new connection is handed to it through the
 * port (PostQueuedCompletionStatus, key = the connection, no OVERLAPPED), so every call
 * on the socket is made by the thread that may close it: a socket must never be closed
 * while another thread is inside a call on it. */
static void accept_loop(SOCKET listener, HANDLE port)
{
    long next_id = 1;
    for (;;) {
        conn *c;
        SOCKET sock = accept(listener, NULL, NULL);
        ledger_calls(CALL_ACCEPT);
        if (sock == INVALID_SOCKET) {
            net_accept_failed();
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
        ledger_calls(CALL_ASSOCIATE);
        if (CreateIoCompletionPort((HANDLE)sock, port, (ULONG_PTR)c, 0) == NULL
            || !PostQueuedCompletionStatus(port, 0, (ULONG_PTR)c, NULL)) {
            log_error(c->id, GetLastError(), "handing the connection to the port failed");
            conn_abort(c, "not started");
            conn_free(c);
        }
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
    app_init();
    listener = net_listen(&opt, app_stage_name());
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
