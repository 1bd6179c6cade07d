/* 06-shutdown: ending without losing anything; nothing waits without bound (C11).
 *
 * Ctrl+C, Ctrl+Break or closing the console: stop accepting (close the listener: the
 * pending AcceptEx requests fail); close idle connections, let responses in flight finish
 * for up to --drain-ms (a second Ctrl+C or a console close cuts that short); cancel the
 * rest; wait until nothing is pending; a quit packet per worker, join; free, WSACleanup,
 * print the final ledger (all zero), exit 0. A peer's FIN ends its requests, not their
 * answers. main's sweep closes what makes no progress: idle --idle-ms after the last
 * response, a send stuck --send-ms, a lingering close LINGER_MS; it refills the accept
 * pool. The list of open connections that the sweep and the shutdown walk is new. */

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
#define SEND_CHUNK  (64 * 1024)  /* at most this per WSASend: each completion shows progress */
#define LINGER_MS   5000         /* a lingering close waits this long at most for the FIN */
#define LINGER_BYTES (4L * 1024 * 1024)  /* lingering close: discard at most this much */

static const stage_info STAGE = {
    "06-shutdown",
    "a FIN is answered, not cut; nothing waits without bound; Ctrl+C drains to a zero ledger.",
    "none of the earlier ones; it is a lesson to copy from, not a product.",
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
    int    peer_fin;        /* the peer's FIN came: answer what it sent, read no more */
    long   discarded;       /* bytes read and thrown away after the last request */
    buffer in;              /* work buffer: bytes received and not yet answered */
    buffer send_queue;      /* responses waiting for the send in flight to finish */
    ULONGLONG last_progress;/* GetTickCount64() at accept, send posted or completed, FIN sent */
    struct conn *prev, *next; /* in open_conns while open */
} conn;

/* Every open connection, so that the idle sweep and the shutdown can reach them all. */
static struct {
    CRITICAL_SECTION lock;  /* taken inside a conn's lock, never the other way round */
    conn   head;            /* a ring: head.next is the newest, head.prev the oldest */
    int    count;
    int    stopping;        /* no new connection, no new request */
    int    idle_ms, send_ms;
    HANDLE drained;         /* set when, stopping, nothing is open and nothing pending */
} open_conns;

/* Stopping, and the last connection freed or the last accept completed: drained. */
static void check_drained(void)
{
    if (open_conns.stopping && ledger_read(&the_ledger.live_connections) == 0
        && ledger_pending(OP_KINDS) == 0)
        SetEvent(open_conns.drained);
}

static void conn_free(conn *c);

static conn *conn_new(SOCKET sock, long id)
{
    conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->sock = sock;
    c->id = id;
    c->refs = 2;  /* open, and the caller's: once in the list, another thread may close it */
    c->last_progress = GetTickCount64();
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
    /* Published last, whole: the idle sweep and the shutdown find it from here on. */
    EnterCriticalSection(&open_conns.lock);
    if (open_conns.stopping) {  /* too late: the shutdown may have swept the list already */
        LeaveCriticalSection(&open_conns.lock);
        conn_free(c);
        return NULL;
    }
    c->next = open_conns.head.next;
    c->prev = &open_conns.head;
    c->next->prev = c;
    c->prev->next = c;
    open_conns.count++;
    LeaveCriticalSection(&open_conns.lock);
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
    check_drained();
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
    EnterCriticalSection(&open_conns.lock);
    c->prev->next = c->next;
    c->next->prev = c->prev;
    open_conns.count--;
    LeaveCriticalSection(&open_conns.lock);
    conn_release(c);
}

/* Run fn on every open connection, under its lock (skip_busy: not one whose lock is held,
 * by a handler at work). The list's lock is let go before a conn's is taken (conn_close
 * takes them the other way round), so each is held first: it may close, not be freed. */
static void for_each_open(void (*fn)(conn *c), int skip_busy)
{
    conn **held, *c;
    int n = 0, i;
    EnterCriticalSection(&open_conns.lock);
    held = malloc(((size_t)open_conns.count + 1) * sizeof *held);
    for (c = open_conns.head.next; held != NULL && c != &open_conns.head; c = c->next) {
        conn_hold(c);
        held[n++] = c;
    }
    LeaveCriticalSection(&open_conns.lock);
    for (i = 0; i < n; i++) {
        if (!skip_busy)
            EnterCriticalSection(&held[i]->lock);
        if (!skip_busy || TryEnterCriticalSection(&held[i]->lock)) {
            fn(held[i]);
            LeaveCriticalSection(&held[i]->lock);
        }
        conn_release(held[i]);
    }
    free(held);
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
    wsabuf.len = (ULONG)(op->data.len < SEND_CHUNK ? op->data.len : SEND_CHUNK);
    ZeroMemory(&op->ov, sizeof op->ov);
    c->last_progress = GetTickCount64();
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
    int keep = open_conns.stopping ? 0 : 1;  /* a shutdown answers no new request... */
    while (keep == 1 && http_frame(buffer_begin(&c->in), c->in.len, &req) != HTTP_NEED_MORE) {
        if (c->send_queue.len >= QUEUE_HIGH) {
            keep = 2;
            break;
        }
        keep = app_respond(&req, &c->send_queue);
        log_event(c->id, "%s %s -> %d", req.method, req.path, req.status);
        if (keep == 1)
            buffer_consume(&c->in, req.total_len);
        if (keep == 1 && open_conns.stopping)  /* ...nor waits for one not yet begun */
            keep = 0;
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
    c->last_progress = GetTickCount64();  /* the sweep gives up after LINGER_MS */
    c->lingering = 1;
    log_event(c->id, "all sent: FIN sent%s", c->peer_fin ? "" : ", discarding until the peer's FIN");
    if (shutdown(c->sock, SD_SEND) != 0)  /* then the read fails, and that closes it */
        log_error(c->id, (DWORD)WSAGetLastError(), "shutdown failed");
    if (c->peer_fin || (!c->receiving && post_recv(c) != 0))
        conn_close(c);  /* with the peer's FIN in, nothing is left to wait for */
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
        if (c->peer_fin)  /* all it sent is answered */
            close_when_sent(c);
        else if (!c->receiving && post_recv(c) != 0)
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
    case 0:  /* the peer's FIN: it sends no more, but it may still read, so what it sent
              * is answered first (serve_then_read). Lingering, it is the end. */
        c->peer_fin = 1;
        log_event(c->id, "peer closed (FIN)%s", c->lingering ? "" : ": answering what it sent");
        if (!c->lingering)
            break;
        /* fall through - lingering: close */
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
    c->last_progress = GetTickCount64();  /* idle from the last byte sent, unless more go */
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
        if (ov == NULL) {  /* nothing was dequeued: a quit packet, or the wait failed */
            if (!ok)
                log_error(0, err, "GetQueuedCompletionStatus failed");
            return ok ? 0 : 1;
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
    io_op  op;     /* kind IO_ACCEPT */
    int    posted; /* an AcceptEx is pending on it, or its completion is being handled */
    SOCKET sock;
    char   addresses[2 * ADDR_SPACE];
} accept_op;

static struct {
    SOCKET listener;
    HANDLE port;
    LPFN_ACCEPTEX accept_ex;  /* extension functions: net_accept_ex asks the listener */
    LPFN_GETACCEPTEXSOCKADDRS get_addresses;
    volatile LONG last_id;
    accept_op *pool;
    int pool_size;
} server;

/* Post one AcceptEx into a fresh socket. No data is asked for (dwReceiveDataLength 0):
 * with some, the accept would complete only when the client sends, so clients that
 * connect and say nothing would hold the pool. 0 posted, -1 not (no completion comes). */
static int post_accept(accept_op *a)
{
    DWORD unused;
    a->posted = 0;  /* until it is: then main's sweep posts it again (refill_accept_pool) */
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
    a->posted = 1;
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
        log_event(0, "accepted from %s, closed at once: shutting down, or no memory", peer);
        closesocket(a->sock);
        return;
    }
    log_event(c->id, "accepted from %s", peer);
    /* conn_new gave us our own reference: a worker may see the peer close and drop the
     * open one as soon as the read is posted, or the shutdown may close c before that. */
    EnterCriticalSection(&c->lock);
    if (!c->closing) {
        if (CreateIoCompletionPort((HANDLE)c->sock, server.port, (ULONG_PTR)c, 0) == NULL) {
            log_error(c->id, GetLastError(), "CreateIoCompletionPort failed");
            conn_close(c);
        } else if (post_recv(c) != 0) {
            conn_close(c);
        }
    }
    LeaveCriticalSection(&c->lock);
    conn_release(c);
}

/* Every accept completion, success or failure, posts the next (the pool never drains),
 * until the shutdown closes the listener: then they all fail, and none is posted. */
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
        start_connection(a);  /* refused once stopping */
    }
    /* Under the lock the shutdown closes the listener with: never post on a closed one. */
    EnterCriticalSection(&open_conns.lock);
    if (open_conns.stopping)
        check_drained();
    else if (post_accept(a) != 0)
        log_event(0, "the accept pool is one request short until the next sweep");
    LeaveCriticalSection(&open_conns.lock);
}

/* main, at each sweep: post again the accepts whose post failed (no socket, say). */
static void refill_accept_pool(void)
{
    int i;
    EnterCriticalSection(&open_conns.lock);
    for (i = 0; i < server.pool_size && !open_conns.stopping; i++)
        if (!server.pool[i].posted)
            post_accept(&server.pool[i]);
    LeaveCriticalSection(&open_conns.lock);
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
    pool = server.pool = calloc((size_t)count, sizeof *pool);
    if (pool == NULL)
        return -1;
    server.pool_size = count;
    for (i = 0; i < count; i++) {
        pool[i].op.kind = IO_ACCEPT;
        opcheck_init(&pool[i].op.check);
        if (post_accept(&pool[i]) != 0)
            return -1;
    }
    return 0;
}

/*** shutdown ***/

static HANDLE stop_requested, hurry_requested, shutdown_done;

/* Ctrl+C, Ctrl+Break, console close (under Wine: SIGINT). Runs on a thread of its own:
 * the first starts the shutdown, a second skips the drain, and so does a console close:
 * Windows ends the process about 5 s after this is called, drained or not. */
static BOOL WINAPI on_console_event(DWORD event)
{
    static volatile LONG count;
    if (InterlockedIncrement(&count) > 1 || event == CTRL_CLOSE_EVENT)
        SetEvent(hurry_requested);
    SetEvent(stop_requested);
    if (event == CTRL_CLOSE_EVENT)  /* the process ends when this returns */
        WaitForSingleObject(shutdown_done, INFINITE);
    return TRUE;
}

/* main's sweep: close a connection that made no progress for too long, by what it waits
 * for: a send the peer does not read (--send-ms), the peer's FIN after ours (LINGER_MS),
 * a next request since the last response was sent (--idle-ms: silent, slowloris). */
static void close_if_stuck(conn *c)
{
    int limit = c->sending ? open_conns.send_ms : c->lingering ? LINGER_MS : open_conns.idle_ms;
    if (!c->closing && GetTickCount64() - c->last_progress > (ULONGLONG)limit) {
        log_event(c->id, "%s for %d ms: closing", c->sending ? "send made no progress"
                  : c->lingering ? "no FIN after ours" : "idle", limit);
        conn_close(c);
    }
}

/* The shutdown, in order; each step waits for what the one before set off. */
static int shut_down(HANDLE port, HANDLE *workers, int count, int drain_ms)
{
    HANDLE drained_or_hurry[2] = {open_conns.drained, hurry_requested};
    int i;
    log_event(0, "shutting down (Ctrl+C again skips the drain)");
    /* 1. No new connections: the pending AcceptEx requests complete with an error. */
    EnterCriticalSection(&open_conns.lock);
    open_conns.stopping = 1;
    closesocket(server.listener);
    LeaveCriticalSection(&open_conns.lock);
    check_drained();  /* in case nothing at all was open or pending */
    /* 2. Idle connections close now, busy ones once their responses are sent... */
    for_each_open(close_when_sent, 0);
    if (WaitForMultipleObjects(2, drained_or_hurry, FALSE, (DWORD)drain_ms) != WAIT_OBJECT_0) {
        /* 3. ...until the deadline: then what is left is cancelled. */
        log_event(0, "drain over: cancelling %d connection(s)", open_conns.count);
        for_each_open(conn_close, 0);
    }
    /* 4. The last completions (ERROR_OPERATION_ABORTED, expected now), then one quit
     * packet per worker: under Wine, closing the port does not wake its waiters. If some
     * never come, nothing is freed: the system may still write into that memory. */
    if (WaitForSingleObject(open_conns.drained, 3000) != WAIT_OBJECT_0) {
        log_event(0, "operations still pending after the cancel: exiting without freeing");
        return ledger_report(STAGE.name) | 1;
    }
    for (i = 0; i < count; i++)
        PostQueuedCompletionStatus(port, 0, 0, NULL);
    for (i = 0; i < count; i++) {
        WaitForSingleObject(workers[i], INFINITE);
        CloseHandle(workers[i]);
    }
    free(server.pool);
    CloseHandle(port);
    WSACleanup();
    return ledger_report(STAGE.name);  /* 0 (the exit status) when nothing is left */
}

/*** main ***/

int main(int argc, char **argv)
{
    options opt;
    SOCKET listener;
    HANDLE port, *workers;
    int i;

    options_parse(argc, argv, TAKES_THREADS | TAKES_ACCEPTS | TAKES_SHUTDOWN, &opt);
    net_start();
    app_init(&STAGE);
    listener = net_listen(&opt, STAGE.name);
    InitializeCriticalSection(&open_conns.lock);
    open_conns.head.next = open_conns.head.prev = &open_conns.head;
    open_conns.idle_ms = opt.idle_ms;
    open_conns.send_ms = opt.send_ms;
    open_conns.drained = CreateEventW(NULL, TRUE, FALSE, NULL);  /* manual-reset events */
    stop_requested = CreateEventW(NULL, TRUE, FALSE, NULL);
    hurry_requested = CreateEventW(NULL, TRUE, FALSE, NULL);
    shutdown_done = CreateEventW(NULL, TRUE, FALSE, NULL);
    workers = calloc((size_t)opt.threads, sizeof *workers);  /* freed at exit */
    if (!open_conns.drained || !stop_requested || !hurry_requested || !shutdown_done
        || !workers || !SetConsoleCtrlHandler(on_console_event, TRUE)) {
        log_error(0, GetLastError(), "setting up the shutdown failed");
        return 1;
    }
    /* Concurrency 0: the port lets as many workers run at once as there are processors,
     * and wakes another when one blocks (in /sleep, say). More workers than that wait. */
    port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    if (port == NULL) {
        log_error(0, GetLastError(), "CreateIoCompletionPort failed");
        return 1;
    }
    for (i = 0; i < opt.threads; i++) {
        workers[i] = CreateThread(NULL, 0, worker, port, 0, NULL);
        if (workers[i] == NULL) {
            log_error(0, GetLastError(), "CreateThread failed");
            return 1;
        }
    }
    if (start_accepting(listener, port, opt.accepts) != 0)
        return 1;
    log_event(0, "%d worker threads, %d accepts pending", opt.threads, opt.accepts);
    /* Until Ctrl+C, the sweep, four times per shortest limit. */
    i = min(min(opt.idle_ms, opt.send_ms), LINGER_MS) / 4 + 1;
    while (WaitForSingleObject(stop_requested, (DWORD)i) == WAIT_TIMEOUT) {
        for_each_open(close_if_stuck, 1);
        refill_accept_pool();
    }
    i = shut_down(port, workers, opt.threads, opt.drain_ms);
    SetEvent(shutdown_done);  /* a console close may now end the process */
    return i;
}
