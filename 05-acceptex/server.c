/* 05-acceptex: AcceptEx on the port, and zero-byte reads (C10, C4).
 *
 * The listener joins the port and a pool of AcceptEx requests waits on it (-a N); every
 * accept completion, success or failure, posts another, so the pool never drains and no
 * thread blocks in accept(). AcceptEx receives no data (dwReceiveDataLength 0), so a
 * client that connects and says nothing cannot hold an accept. An idle connection waits
 * in a zero-byte WSARecv: it holds no buffer, and its completion only says "something
 * came"; a non-blocking recv then tells data (bytes) from FIN (0) from nothing yet
 * (WSAEWOULDBLOCK: post the zero-byte read again). Buffers are given back when empty.
 * Limitation: Ctrl+C ends it at once, with operations pending and nothing accounted. */

/*** stage ***/

#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <stdlib.h>

#include "app.h"
#include "ledger.h"
#include "log.h"
#include "net.h"
#include "opcheck.h"

#define READ_SIZE   4096         /* bytes asked of one recv */
#define ADDR_SPACE  (sizeof(SOCKADDR_STORAGE) + 16)  /* per address, as AcceptEx wants */
#define QUEUE_HIGH  (64 * 1024)  /* answer no more requests while this much waits to be sent */
#define LINGER_BYTES (4L * 1024 * 1024)  /* lingering close: discard at most this much */

static const stage_info STAGE = {
    "05-acceptex",
    "a pool of AcceptEx requests on the port (no accept thread), and zero-byte reads: an idle "
    "connection holds no buffer.",
    "Ctrl+C ends it at once, with operations pending and nothing accounted.",
};

/*** connection ***/

typedef enum { IO_RECV, IO_SEND, IO_ACCEPT } io_kind;

/* One posted operation. The OVERLAPPED and the memory it points at belong to the
 * system from the post until its completion is dequeued: one io_op per operation. */
typedef struct io_op {
    OVERLAPPED   ov;    /* first, so that CONTAINING_RECORD(ov, io_op, ov) finds the op */
    io_kind      kind;
    struct conn *conn;  /* NULL for an accept: there is no connection yet */
    buffer       data;  /* send: the bytes in flight (untouchable until the completion) */
    op_check     check; /* make DEBUG=1: posted/completed/freed checked (common/opcheck.h) */
} io_op;

typedef struct conn {
    SOCKET sock;
    long   id;              /* its number in the log */
    io_op  recv_op;         /* at most one read in flight... */
    io_op  send_op;         /* ...and at most one send */
    CRITICAL_SECTION lock;  /* held while anything below, or an op's buffer, is touched */
    volatile LONG refs;     /* 1 while open + 1 per posted operation + 1 per helping thread */
    int    receiving;       /* a WSARecv is in flight */
    int    sending;         /* a WSASend is in flight */
    int    closing;         /* closesocket done; the open reference is dropped */
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
    c->refs = 1;  /* open */
    InitializeCriticalSection(&c->lock);
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
    DeleteCriticalSection(&c->lock);
    ledger_add(&the_ledger.live_connections, -1);
    log_event(c->id, "freed");
    free(c);
}

/* A reference for an operation about to be posted, or for a thread about to work on c. */
static void conn_hold(conn *c)
{
    InterlockedIncrement(&c->refs);
}

/* Drop one. Whichever thread drops the last frees c, exactly once. Never under c's lock:
 * the lock lives in the memory being freed. */
static void conn_release(conn *c)
{
    if (InterlockedDecrement(&c->refs) == 0)
        conn_free(c);
}

/* Close once (under the lock, by a thread holding a reference, so c outlives this):
 * cancel what is in flight, then closesocket (03's order), and drop the open reference.
 * The pending completions drop theirs. */
static void conn_close(conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->receiving || c->sending)
        CancelIoEx((HANDLE)c->sock, NULL);
    closesocket(c->sock);
    log_event(c->id, "closed, %d operation(s) still pending", c->receiving + c->sending);
    conn_release(c);
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
    if (op->data.len == 0) {  /* nothing to send: hold no send buffer meanwhile */
        buffer_release(&op->data);
        buffer_release(&c->send_queue);
        return 0;
    }
    wsabuf.buf = buffer_begin(&op->data);
    wsabuf.len = (ULONG)op->data.len;
    ZeroMemory(&op->ov, sizeof op->ov);
    /* Everything the completion will read is written before the post: it may run on
     * another thread before WSASend returns (it waits for our lock, then reads this). */
    c->sending = 1;
    conn_hold(c);
    opcheck_post(&op->check, c->id, "send");
    ledger_add(&the_ledger.posted[OP_SEND], 1);
    log_op(c->id, "send posted %lu bytes", wsabuf.len);
    if (WSASend(c->sock, &wsabuf, 1, NULL, 0, &op->ov, NULL) == SOCKET_ERROR
        && WSAGetLastError() != WSA_IO_PENDING) {
        log_error(c->id, (DWORD)WSAGetLastError(), "WSASend failed");
        ledger_add(&the_ledger.failed[OP_SEND], 1);
        opcheck_done(&op->check);
        c->sending = 0;
        conn_release(c);  /* never the last: the caller holds one */
        return -1;
    }
    return 0;
}

/*** receiving ***/

/* Post a zero-byte read: it completes when data or a FIN has arrived, and until then the
 * connection holds no read buffer. Its result is not here: it comes out of the port
 * (lpNumberOfBytesRecvd is NULL; WSA_IO_PENDING means "posted"). Any other error means
 * no completion will come, so the caller cleans up. 0 posted, -1 not. */
static int post_recv(conn *c)
{
    static char nothing[1];
    WSABUF wsabuf;
    DWORD flags = 0;
    if (c->in.len == 0)
        buffer_release(&c->in);
    wsabuf.buf = nothing;
    wsabuf.len = 0;
    ZeroMemory(&c->recv_op.ov, sizeof c->recv_op.ov);
    c->receiving = 1;
    conn_hold(c);
    opcheck_post(&c->recv_op.check, c->id, "recv");
    ledger_add(&the_ledger.posted[OP_RECV], 1);
    log_op(c->id, "recv posted");
    if (WSARecv(c->sock, &wsabuf, 1, NULL, &flags, &c->recv_op.ov, NULL) == SOCKET_ERROR
        && WSAGetLastError() != WSA_IO_PENDING) {
        log_error(c->id, (DWORD)WSAGetLastError(), "WSARecv failed");
        ledger_add(&the_ledger.failed[OP_RECV], 1);
        opcheck_done(&c->recv_op.check);
        c->receiving = 0;
        conn_release(c);  /* never the last: the caller holds one */
        return -1;
    }
    return 0;
}

/* After a zero-byte completion: take what is there with non-blocking recv, until
 * WSAEWOULDBLOCK or a short read says the socket is empty (one call fewer: under Wine, a
 * round trip fewer). 1: bytes taken, or none yet; 0: the peer's FIN; -1: failed. */
static int read_available(conn *c)
{
    int total = 0;
    for (;;) {
        char *room = buffer_reserve(&c->in, READ_SIZE);
        int got;
        if (room == NULL)  /* full: what is there is answered before reading on */
            return total > 0 ? 1 : -1;
        got = recv(c->sock, room, READ_SIZE, 0);
        if (got == SOCKET_ERROR) {
            if (WSAGetLastError() == WSAEWOULDBLOCK)
                return 1;
            log_error(c->id, (DWORD)WSAGetLastError(), "recv failed");
            return -1;
        }
        if (got == 0)  /* FIN; what came before it is answered first */
            return total > 0 ? 1 : 0;
        buffer_commit(&c->in, (size_t)got);
        ledger_add(&the_ledger.bytes_in, got);
        log_op(c->id, "recv took %d bytes", got);
        total += got;
        if (got < READ_SIZE)
            return 1;
    }
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

/* The completion handlers run under c's lock; the worker drops the op's reference after. */
static void on_recv_completed(conn *c, DWORD bytes, DWORD err)
{
    c->receiving = 0;
    if (err != 0) {  /* failed, whatever the code: this operation is over */
        ledger_add(&the_ledger.failed[OP_RECV], 1);
        log_error(c->id, err, "recv failed");
        conn_close(c);
        return;
    }
    ledger_add(&the_ledger.completed[OP_RECV], 1);
    log_op(c->id, "recv completed %lu bytes: data or FIN, recv will say", bytes);
    if (c->closing)  /* completed before the cancel reached it: its reference goes, that is all */
        return;
    switch (read_available(c)) {
    case 0:  /* the peer's FIN: lingering, the end; otherwise closing at once loses a
              * response still being sent, on Windows too (06 answers first) */
        log_event(c->id, "peer closed (FIN)");
        conn_close(c);
        return;
    case -1:
        conn_close(c);
        return;
    }
    if (c->close_after_send)
        discard_input(c);
    else
        serve_then_read(c);
}

static void on_send_completed(conn *c, DWORD bytes, DWORD err)
{
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

static void on_accept_completed(io_op *op, DWORD err);  /* accepting, below */

static DWORD WINAPI worker(LPVOID port)
{
    for (;;) {
        /* Reset the out-variables: after a failure they are not all written. */
        DWORD bytes = 0;
        ULONG_PTR key = 0;
        OVERLAPPED *ov = NULL;
        io_op *op;
        conn *c;
        BOOL ok = GetQueuedCompletionStatus((HANDLE)port, &bytes, &key, &ov, INFINITE);
        DWORD err = ok ? 0 : GetLastError();
        if (ov == NULL) {  /* nothing was dequeued: the wait itself failed */
            log_error(0, err, "GetQueuedCompletionStatus failed");
            return 1;
        }
        /* The OVERLAPPED names the operation; its kind says read or send. */
        op = CONTAINING_RECORD(ov, io_op, ov);
        opcheck_done(&op->check);
        if (op->kind == IO_ACCEPT) {  /* the listener's: no connection, no lock yet */
            on_accept_completed(op, err);
            continue;
        }
        c = op->conn;  /* alive: this operation's reference is still held */
        EnterCriticalSection(&c->lock);
        if (op->kind == IO_RECV)
            on_recv_completed(c, bytes, err);
        else
            on_send_completed(c, bytes, err);
        LeaveCriticalSection(&c->lock);
        conn_release(c);  /* the operation's reference: this may free c */
    }
}

/*** accepting ***/

/* One AcceptEx in the pool: the socket it accepts into, and room for both addresses. */
typedef struct accept_op {
    io_op  op;  /* kind IO_ACCEPT */
    SOCKET sock;
    char   addresses[2 * ADDR_SPACE];
} accept_op;

static struct {
    SOCKET listener;
    HANDLE port;
    LPFN_ACCEPTEX accept_ex;  /* extension functions: net_accept_ex asks the listener */
    LPFN_GETACCEPTEXSOCKADDRS get_addresses;
    volatile LONG last_id;
} server;

/* Post one AcceptEx into a fresh socket. No data is asked for (dwReceiveDataLength 0):
 * with some, the accept would complete only when the client sends, so clients that
 * connect and say nothing would hold the pool. 0 posted, -1 not (no completion comes). */
static int post_accept(accept_op *a)
{
    DWORD unused;
    a->sock = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
    if (a->sock == INVALID_SOCKET) {
        log_error(0, (DWORD)WSAGetLastError(), "WSASocket failed");
        return -1;
    }
    ZeroMemory(&a->op.ov, sizeof a->op.ov);
    opcheck_post(&a->op.check, 0, "accept");
    ledger_add(&the_ledger.posted[OP_ACCEPT], 1);
    log_op(0, "accept posted");
    if (!server.accept_ex(server.listener, a->sock, a->addresses, 0, ADDR_SPACE, ADDR_SPACE,
                          &unused, &a->op.ov)
        && WSAGetLastError() != ERROR_IO_PENDING) {
        log_error(0, (DWORD)WSAGetLastError(), "AcceptEx failed");
        ledger_add(&the_ledger.failed[OP_ACCEPT], 1);
        opcheck_done(&a->op.check);
        closesocket(a->sock);
        return -1;
    }
    return 0;
}

/* The accepted socket becomes a connection: it takes the listener's properties (without
 * SO_UPDATE_ACCEPT_CONTEXT, getpeername and shutdown fail on it), goes non-blocking for
 * read_available, joins the port and posts its first (zero-byte) read. */
static void start_connection(accept_op *a)
{
    char peer[32];
    u_long nonblocking = 1;
    conn *c;
    net_accepted_peer(server.get_addresses, a->addresses, ADDR_SPACE, peer, sizeof peer);
    if (setsockopt(a->sock, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, (char *)&server.listener,
                   sizeof server.listener) != 0
        || ioctlsocket(a->sock, FIONBIO, &nonblocking) != 0) {
        log_error(0, (DWORD)WSAGetLastError(), "setting up an accepted socket failed");
        closesocket(a->sock);
        return;
    }
    ledger_add(&the_ledger.accepted, 1);
    c = conn_new(a->sock, InterlockedIncrement(&server.last_id));
    if (c == NULL) {
        log_error(0, ERROR_NOT_ENOUGH_MEMORY, "no memory for a connection");
        closesocket(a->sock);
        return;
    }
    log_event(c->id, "accepted from %s", peer);
    /* Our own reference: once the read is posted, a worker may see the peer close and
     * drop the open one before we have left the lock. */
    conn_hold(c);
    EnterCriticalSection(&c->lock);
    if (CreateIoCompletionPort((HANDLE)c->sock, server.port, (ULONG_PTR)c, 0) == NULL) {
        log_error(c->id, GetLastError(), "CreateIoCompletionPort failed");
        conn_close(c);
    } else if (post_recv(c) != 0) {
        conn_close(c);
    }
    LeaveCriticalSection(&c->lock);
    conn_release(c);
}

/* Every accept completion, success or failure, posts the next: the pool never drains. */
static void on_accept_completed(io_op *op, DWORD err)
{
    accept_op *a = CONTAINING_RECORD(op, accept_op, op);
    if (err != 0) {  /* e.g. the client reset before the accept completed */
        ledger_add(&the_ledger.failed[OP_ACCEPT], 1);
        log_error(0, err, "accept failed");
        closesocket(a->sock);
    } else {
        ledger_add(&the_ledger.completed[OP_ACCEPT], 1);
        log_op(0, "accept completed");
        start_connection(a);
    }
    if (post_accept(a) != 0)
        log_event(0, "the accept pool is one request short");
}

/* Join the listener to the port, fetch AcceptEx, and post the pool. 0 done, -1 failed. */
static int start_accepting(SOCKET listener, HANDLE port, int count)
{
    accept_op *pool;
    int i;
    server.listener = listener;
    server.port = port;
    if (CreateIoCompletionPort((HANDLE)listener, port, 0, 0) == NULL
        || net_accept_ex(listener, &server.accept_ex, &server.get_addresses) != 0) {
        log_error(0, (DWORD)WSAGetLastError(), "setting up AcceptEx failed");
        return -1;
    }
    pool = calloc((size_t)count, sizeof *pool);
    if (pool == NULL)
        return -1;
    for (i = 0; i < count; i++) {
        pool[i].op.kind = IO_ACCEPT;
        opcheck_init(&pool[i].op.check);
        if (post_accept(&pool[i]) != 0)
            return -1;
    }
    return 0;
}

/*** main ***/

int main(int argc, char **argv)
{
    options opt;
    SOCKET listener;
    HANDLE port;
    int i;

    options_parse(argc, argv, TAKES_THREADS | TAKES_ACCEPTS, &opt);
    net_start();
    app_init(&STAGE);
    listener = net_listen(&opt, STAGE.name);
    /* Concurrency 0: the port lets as many workers run at once as there are processors,
     * and wakes another when one blocks (in /sleep, say). More workers than that wait. */
    port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    if (port == NULL) {
        log_error(0, GetLastError(), "CreateIoCompletionPort failed");
        return 1;
    }
    for (i = 0; i < opt.threads; i++) {
        HANDLE thread = CreateThread(NULL, 0, worker, port, 0, NULL);
        if (thread == NULL) {
            log_error(0, GetLastError(), "CreateThread failed");
            return 1;
        }
        CloseHandle(thread);  /* never joined: the process ends with them (06 joins) */
    }
    if (start_accepting(listener, port, opt.accepts) != 0)
        return 1;
    log_event(0, "%d worker threads, %d accepts pending", opt.threads, opt.accepts);
    Sleep(INFINITE);  /* the workers do everything now; 06 waits here for Ctrl+C */
    return 0;
}
