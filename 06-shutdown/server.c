/* 06-shutdown: ending without losing anything; nothing waits without bound
 * (C11). Ctrl+C: stop accepting, let connections finish (--drain-ms), abort the
 * rest, wait until nothing is pending, free, print the final ledger, all zero.
 * Sweeps end the idle, the unread send, the silent linger; --budget-mb bounds
 * buffers (503). Locks: a connection's, then the list's; the pool's alone. */

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

#define READ_SIZE    4096         /* bytes asked of one recv */
#define ADDR_SPACE   (sizeof(SOCKADDR_STORAGE) + 16)  /* per address, as AcceptEx wants */
#define SEND_MAX     (64 * 1024)  /* bytes offered to one WSASend */
#define QUEUE_HIGH   (64 * 1024)  /* answer no more requests while this much waits to be sent */
#define LINGER_BYTES (4L * 1024 * 1024)  /* lingering close: discard at most this much */
#define CANCEL_MS    3000         /* the cancel's wait: a closing console ends at 5 s */

/*** connection ***/

/* One posted operation. The OVERLAPPED and the memory it points at belong to the
 * system from the post until its completion is dequeued: one io_op per operation. */
typedef struct io_op {
    OVERLAPPED   ov;     /* first, so that CONTAINING_RECORD(ov, io_op, ov) finds the op */
    op_kind      kind;   /* OP_RECV, OP_SEND, OP_ACCEPT: which one the port handed back */
    int          posted; /* from the post until its completion is dequeued */
    struct conn *conn;   /* NULL for an accept: there is no connection yet */
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

static const char *const state_names[] = {"OPEN", "FINISHING", "LINGERING", "CLOSED"};
static options opt;  /* the command line: the sweep and the accept pool read it */

typedef struct conn {
    SOCKET     sock;
    long       id;           /* its number in the log */
    conn_state state;
    io_op      recv_op;      /* at most one read in flight... */
    io_op      send_op;      /* ...and at most one send */
    CRITICAL_SECTION lock;   /* held while anything here, or an op's buffer, is touched */
    volatile LONG refs;      /* 1 until CLOSED + 1 per posted operation + 1 per helper */
    int        peer_fin;     /* the peer's FIN came: it sends no more, no read is posted */
    long       discarded;    /* bytes read and thrown away after the last request */
    buffer     in;           /* work buffer: bytes received and not yet answered */
    buffer     send_queue;   /* responses waiting for the send in flight to finish */
    http_body  body;         /* the rest of a /big body, produced as the queue drains */
    LONG64     reserved;     /* of the budget, for the body of the request on its way */
    ULONGLONG  last_progress;/* GetTickCount64() at a change of state, bytes moved */
    ULONGLONG  state_since;  /* GetTickCount64() at the last change of state */
    struct conn *prev, *next;/* in open_conns once started, until CLOSED */
} conn;

/* Every started connection, so that the sweep and the shutdown can reach them all. */
static struct {
    CRITICAL_SECTION lock;  /* taken inside a conn's lock, never the other way round */
    conn   head;            /* a ring: head.next is the newest */
    volatile LONG stopping; /* the shutdown has begun: no new connection, no new request */
    HANDLE drained;         /* set when, stopping, nothing is open and nothing pending */
} open_conns;

/* Stopping, and nothing left open or pending (the last one out calls this): drained. */
static void check_drained(void)
{
    if (open_conns.stopping && ledger_drained())
        SetEvent(open_conns.drained);
}

static conn *conn_new(SOCKET sock, long id)
{
    conn *c = calloc(1, sizeof *c);  /* CONN_OPEN, nothing posted */
    if (c == NULL)
        return NULL;
    c->sock = sock;
    c->id = id;
    c->refs = 1;  /* not CLOSED */
    c->last_progress = GetTickCount64();
    c->prev = c->next = c;  /* in no list yet */
    InitializeCriticalSection(&c->lock);
    c->recv_op.kind = OP_RECV;
    c->recv_op.conn = c;
    c->send_op.kind = OP_SEND;
    c->send_op.conn = c;
    opcheck_init(&c->recv_op.check);
    opcheck_init(&c->send_op.check);
    /* Room for a whole request and one more read; the queue takes one more whole response
     * while under QUEUE_HIGH (/echo's is the largest; a /big body comes in QUEUE_HIGH). */
    buffer_init(&c->in, HTTP_MAX_HEADER + HTTP_MAX_BODY + READ_SIZE);
    buffer_init(&c->send_queue, QUEUE_HIGH + HTTP_MAX_BODY + HTTP_MAX_HEADER);
    buffer_init(&c->send_op.data, QUEUE_HIGH + HTTP_MAX_BODY + HTTP_MAX_HEADER);
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
    ledger_unreserve(&c->reserved);
    ledger_add(&the_ledger.live_connections, -1);
    log_event(c->id, "freed");
    free(c);
    check_drained();
}

/* Every change of state goes through here: logged, and checked (make DEBUG=1) to move
 * forward only: a connection is never reopened nor closed twice. */
static void set_state(conn *c, conn_state next, const char *why)
{
    opcheck_state(c->id, c->state, next, state_names);
    log_event(c->id, "%s -> %s: %s (%d pending)", state_names[c->state], state_names[next],
              why, c->recv_op.posted + c->send_op.posted);
    c->state = next;
    c->last_progress = c->state_since = GetTickCount64();
}

/* A reference for an operation about to be posted, or for a thread about to work on c
 * from outside a completion (the starter, the sweep, the shutdown). */
static void conn_hold(conn *c) { InterlockedIncrement(&c->refs); }

/* Drop one: whoever drops the last frees c, once. Never the last under c's lock: the lock
 * lives in the memory being freed. */
static void conn_release(conn *c)
{
    if (InterlockedDecrement(&c->refs) == 0)
        conn_free(c);
}

/* fn(c, why) on every started connection no handler holds (the sweep and the shutdown
 * never wait behind one: it comes again), under its lock: TryEnter never waits, so it
 * may be taken under the list's. The reference keeps c alive if fn closes it. */
static void for_each_open(void (*fn)(conn *c, const char *why), const char *why)
{
    conn *c, *next;
    EnterCriticalSection(&open_conns.lock);
    for (c = open_conns.head.next; c != &open_conns.head; c = next) {
        next = c->next;  /* fn may take c out of the list */
        if (TryEnterCriticalSection(&c->lock)) {
            conn_hold(c);
            fn(c, why);
            LeaveCriticalSection(&c->lock);
            conn_release(c);
        }
    }
    LeaveCriticalSection(&open_conns.lock);
}

static void conn_abort(conn *c, const char *why);  /* closing, below */
static void conn_finish(conn *c, const char *why);  /* closing, below */

/*** sending ***/

/* Post the next WSASend unless one is in flight (one at a time keeps answers in order):
 * what a short send left in the op, else the queue topped up with the next piece of a
 * body, moved under the op. A post that fails means no completion will come: abort. */
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
    if (op->data.len == 0) {  /* nothing to send: hold no send buffer meanwhile */
        buffer_release(&op->data);
        buffer_release(&c->send_queue);
        return;
    }
    wsabuf.buf = buffer_begin(&op->data);
    wsabuf.len = (ULONG)min(op->data.len, SEND_MAX);
    ZeroMemory(&op->ov, sizeof op->ov);
    c->last_progress = GetTickCount64();  /* the send deadline counts from here */
    /* Everything the completion will read is written before the post: it may run on
     * another thread before WSASend returns (it waits for our lock, then reads this). */
    op->posted = 1;
    conn_hold(c);
    op_posted(&op->check, OP_SEND, c->id, wsabuf.len);
    if (WSASend(c->sock, &wsabuf, 1, NULL, 0, &op->ov, NULL) == SOCKET_ERROR
        && WSAGetLastError() != WSA_IO_PENDING) {
        op_post_failed(&op->check, (DWORD)WSAGetLastError());
        op->posted = 0;
        conn_release(c);  /* never the last: the caller holds one */
        conn_abort(c, "WSASend failed");
    }
}

/*** receiving ***/

/* Post a zero-byte read: it completes when data or a FIN has arrived, and until then the
 * connection holds no read buffer. Its result comes out of the port: lpNumberOfBytesRecvd
 * is NULL, WSA_IO_PENDING means "posted"; any other error, no completion: abort. */
static void post_recv(conn *c)
{
    static char nothing[1];
    WSABUF wsabuf;
    DWORD flags = 0;
    if (c->in.len == 0)
        buffer_release(&c->in);
    wsabuf.buf = nothing;
    wsabuf.len = 0;
    ZeroMemory(&c->recv_op.ov, sizeof c->recv_op.ov);
    c->recv_op.posted = 1;
    conn_hold(c);
    op_posted(&c->recv_op.check, OP_RECV, c->id, wsabuf.len);
    if (WSARecv(c->sock, &wsabuf, 1, NULL, &flags, &c->recv_op.ov, NULL) == SOCKET_ERROR
        && WSAGetLastError() != WSA_IO_PENDING) {
        op_post_failed(&c->recv_op.check, (DWORD)WSAGetLastError());
        c->recv_op.posted = 0;
        conn_release(c);  /* never the last: the caller holds one */
        conn_abort(c, "WSARecv failed");
    }
}

/* Over --budget-mb, a connection takes one read (enough to see a request and refuse it,
 * or answer /stats) and no more, unless the body it is taking was admitted. */
static int reading_paused(const conn *c)
{
    return c->reserved == 0 && c->in.len > 0 && ledger_over_budget();
}

/* After a zero-byte completion: take what is there with non-blocking recv, until
 * WSAEWOULDBLOCK or a short read says it is all taken; recv's 0 is the peer's FIN.
 * Returns 0, or recv's error. */
static DWORD read_available(conn *c)
{
    for (;;) {
        char *room = buffer_reserve(&c->in, READ_SIZE);
        int got;
        if (room == NULL)  /* full: what is there is answered before reading on */
            return 0;
        got = recv(c->sock, room, READ_SIZE, 0);
        if (got == SOCKET_ERROR)
            return WSAGetLastError() == WSAEWOULDBLOCK ? 0 : (DWORD)WSAGetLastError();
        if (got == 0) {  /* the peer's FIN */
            c->peer_fin = 1;
            return 0;
        }
        buffer_commit(&c->in, (size_t)got);
        ledger_add(&the_ledger.bytes_in, got);
        /* A body's byte is progress, and a linger's; a header's (a slowloris) is not. */
        if (c->reserved > 0 || c->state == CONN_LINGERING)
            c->last_progress = GetTickCount64();
        log_op(c->id, "recv took %d bytes", got);
        if (got < READ_SIZE || reading_paused(c))
            return 0;  /* empty, or over the budget: the rest waits in TCP */
    }
}

/*** requests ***/

/* While the queue is full or a body is being produced, the next request is held back and
 * nothing more is read: the peer waits in TCP. */
static int holding_back(const conn *c)
{
    return c->send_queue.len >= QUEUE_HIGH || c->body.left > 0;
}

/* Post a read unless one is in flight, or the peer's FIN is in, or the connection is
 * CLOSED, or (OPEN) requests are held back or the budget pauses it. Ending, it discards. */
static void read_more(conn *c)
{
    if (!c->recv_op.posted && !c->peer_fin && c->state != CONN_CLOSED
        && !(c->state == CONN_OPEN && (holding_back(c) || reading_paused(c))))
        post_recv(c);
}

/* Answer the whole requests at the front of the work buffer, in order, into the send
 * queue, and start sending. A request that arrived in pieces waits for the rest. */
static void serve_requests(conn *c)
{
    http_request req;
    while (c->state == CONN_OPEN && !holding_back(c) && !open_conns.stopping) {
        int framed = http_frame(buffer_begin(&c->in), c->in.len, &req);
        response_end end;
        /* --budget-mb: a body is read once admitted at its header; else refused (503) */
        if (framed == HTTP_NEED_MORE && (req.header_len == 0 || app_admit(&req, &c->reserved)))
            break;  /* the rest is on its way */
        end = framed != HTTP_NEED_MORE && app_admit(&req, &c->reserved)
                  ? app_respond(&req, &c->send_queue, &c->body) : app_refuse(&req, &c->send_queue);
        ledger_unreserve(&c->reserved);  /* answered: the body and its echo are counted */
        log_event(c->id, "%s %s -> %d", req.method, req.path, req.status);
        if (end == RESPONSE_FAILED)
            conn_abort(c, "no room for a response");
        else if (end == RESPONSE_LAST)
            conn_finish(c, "the answer says Connection: close");
        else
            buffer_consume(&c->in, req.total_len);
    }
    /* A FIN ends the requests, not the answers: once all it sent is answered, finish; a
     * shutdown answers no request that has not begun. */
    if (c->state == CONN_OPEN && c->peer_fin && !holding_back(c))
        conn_finish(c, "the peer's FIN, and all it sent is answered");
    if (c->state == CONN_OPEN && open_conns.stopping)
        conn_finish(c, "shutting down");
    post_send(c);
}

/*** closing ***/

/* The last step of either end: closesocket, CLOSED, and the "not CLOSED" reference goes
 * (never the last: the caller holds one). What is still posted completes with an error. */
static void close_socket(conn *c, const char *why)
{
    closesocket(c->sock);
    set_state(c, CONN_CLOSED, why);
    EnterCriticalSection(&open_conns.lock);
    c->prev->next = c->next;  /* out of the list (if never in it, linked to itself: no-op) */
    c->next->prev = c->prev;
    LeaveCriticalSection(&open_conns.lock);
    conn_release(c);
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

/* finish: the graceful end (Connection: close, HTTP/1.0, an error status, the peer's
 * FIN, idle, shutdown). No new request is answered, no body awaited; what is queued is
 * sent, then our FIN; with the peer's FIN in, close; else LINGERING: discard until it
 * comes (a close with bytes unread resets, losing the answer). Each send comes back here. */
static void conn_finish(conn *c, const char *why)
{
    if (c->state == CONN_OPEN) {
        set_state(c, CONN_FINISHING, why);
        buffer_consume(&c->in, c->in.len);
        ledger_unreserve(&c->reserved);
    }
    post_send(c);
    if (c->state != CONN_FINISHING || c->send_op.posted)
        return;  /* not finishing, or still sending */
    if (shutdown(c->sock, SD_SEND) != 0) {
        log_error(c->id, (DWORD)WSAGetLastError(), "shutdown failed");
        conn_abort(c, "shutdown failed");
    } else if (c->peer_fin) {
        close_socket(c, "all sent, our FIN after the peer's");
    } else {
        set_state(c, CONN_LINGERING, "all sent, our FIN sent");
        read_more(c);
    }
}

/* A read completed after the last request: what it brought is thrown away, up to
 * LINGER_BYTES. Lingering, the peer's FIN is the end we wait for. */
static void discard_input(conn *c)
{
    c->discarded += (long)c->in.len;
    buffer_consume(&c->in, c->in.len);
    if (c->discarded > LINGER_BYTES)
        conn_abort(c, "the peer goes on sending after the last answer");
    else if (c->state == CONN_LINGERING && c->peer_fin)
        close_socket(c, "the peer's FIN after ours");
}

/*** completions ***/

/* Every completion comes here, whatever its outcome, under the connection's lock; the
 * io_op's kind says what completed: nothing is guessed. Once we have closed the
 * connection, a completion (our own cancel's error, or one that beat it) is only counted
 * (the worker drops the operation's reference after). */
static void on_completed(io_op *op, DWORD bytes, DWORD err)
{
    conn *c = op->conn;
    op->posted = 0;
    if (c->state == CONN_CLOSED)
        return;
    if (err == 0 && op->kind == OP_RECV)
        err = read_available(c);  /* the zero-byte read says only "something came" */
    if (err != 0) {  /* failed, whatever the code: this operation is over, and the connection */
        log_error(c->id, err, "%s failed", op_kind_name(op->kind));
        conn_abort(c, op->kind == OP_RECV ? "recv failed" : "send failed");
        return;
    }
    if (op->kind == OP_SEND) {  /* a short send leaves the rest for the next post */
        ledger_add(&the_ledger.bytes_out, bytes);
        c->last_progress = GetTickCount64();  /* progress; and idle from the last byte sent */
        buffer_consume(&op->data, bytes);
    }
    if (c->state == CONN_OPEN) {
        serve_requests(c);  /* what is whole is answered, the next send posted */
    } else {
        discard_input(c);      /* what came after the last request is thrown away */
        conn_finish(c, NULL);  /* FINISHING: the rest, then our FIN */
    }
    read_more(c);
}

static void on_accept_completed(io_op *op, DWORD bytes, DWORD err);  /* below */

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
        if (ov == NULL) {  /* a quit packet from the shutdown, or the wait failed */
            if (!ok)
                log_error(0, err, "GetQueuedCompletionStatus failed");
            return ok ? 0 : 1;
        }
        /* The OVERLAPPED names the operation; its kind says read, send or accept. */
        op = CONTAINING_RECORD(ov, io_op, ov);
        if (op->kind == OP_ACCEPT) {  /* the listener's: no connection, no lock yet */
            on_accept_completed(op, bytes, err);
            continue;
        }
        op_dequeued(&op->check, bytes, err);
        c = op->conn;  /* alive: this operation's reference is still held */
        EnterCriticalSection(&c->lock);
        on_completed(op, bytes, err);
        LeaveCriticalSection(&c->lock);
        conn_release(c);  /* the operation's reference: this may free c */
    }
}

/*** accepting ***/

/* One AcceptEx in the pool: the socket it accepts into, and room for both addresses. */
typedef struct accept_op {
    io_op  op;  /* kind OP_ACCEPT; op.posted 0: the sweep posts it again */
    SOCKET sock;
    char   addresses[2 * ADDR_SPACE];
} accept_op;

static struct {
    SOCKET listener;
    HANDLE port;
    LPFN_ACCEPTEX accept_ex;  /* extension functions: start_accepting asks */
    LPFN_GETACCEPTEXSOCKADDRS get_addresses;
    volatile LONG last_id;
    CRITICAL_SECTION pool_lock;  /* one thread at a time posts into the pool */
    accept_op *pool;
} server;

/* Post one AcceptEx into a fresh socket. No data is asked for (dwReceiveDataLength 0):
 * with some, the accept would complete only when the client sends, so clients that
 * connect and say nothing would hold the pool. A post that fails at once (WSAECONNRESET:
 * a client reset before it was accepted; no socket left) closes its socket (its state is
 * not documented) and leaves the slot to main. TRUE posted, FALSE not (no completion). */
static BOOL post_accept(accept_op *a)
{
    DWORD unused, err;
    a->sock = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                         WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (a->sock == INVALID_SOCKET) {
        log_error(0, (DWORD)WSAGetLastError(), "WSASocket failed");
        return FALSE;
    }
    ZeroMemory(&a->op.ov, sizeof a->op.ov);
    /* Before the call: its completion may run, and post again, before it returns. */
    a->op.posted = 1;
    op_posted(&a->op.check, OP_ACCEPT, 0, 0);
    if (server.accept_ex(server.listener, a->sock, a->addresses, 0, ADDR_SPACE, ADDR_SPACE,
                         &unused, &a->op.ov)
        || (err = (DWORD)WSAGetLastError()) == ERROR_IO_PENDING)
        return TRUE;
    a->op.posted = 0;
    op_post_failed(&a->op.check, err);
    closesocket(a->sock);
    return FALSE;
}

/* The accepted socket becomes a connection: it takes the listener's properties (without
 * SO_UPDATE_ACCEPT_CONTEXT, getpeername and setsockopt fail on it), goes non-blocking
 * for read_available, joins the port, posts its first (zero-byte) read: started. Then,
 * still under its lock, it is published: the sweep and the shutdown meet only started ones. */
static void start_connection(accept_op *a)
{
    char peer[32];
    u_long nonblocking = 1;
    conn *c = conn_new(a->sock, InterlockedIncrement(&server.last_id));
    if (c == NULL) {
        log_error(0, ERROR_NOT_ENOUGH_MEMORY, "no memory for a connection");
        closesocket(a->sock);
        return;
    }
    ledger_add(&the_ledger.accepted, 1);
    net_accepted_peer(server.get_addresses, a->addresses, ADDR_SPACE, peer, sizeof peer);
    log_event(c->id, "accepted from %s", peer);
    /* Our own reference: once the read is posted, a worker may see the peer close and
     * drop the last other one before we have left the lock. */
    conn_hold(c);
    EnterCriticalSection(&c->lock);
    if (setsockopt(c->sock, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, (char *)&server.listener,
                   sizeof server.listener) != 0
        || ioctlsocket(c->sock, FIONBIO, &nonblocking) != 0
        || CreateIoCompletionPort((HANDLE)c->sock, server.port, (ULONG_PTR)c, 0) == NULL) {
        log_error(c->id, GetLastError(), "starting an accepted connection failed");
        conn_abort(c, "not started");
    } else {
        read_more(c);
    }
    if (c->state == CONN_OPEN) {
        EnterCriticalSection(&open_conns.lock);
        c->next = open_conns.head.next;
        c->prev = &open_conns.head;
        c->next->prev = c;
        c->prev->next = c;
        LeaveCriticalSection(&open_conns.lock);
    }
    LeaveCriticalSection(&c->lock);
    conn_release(c);
}

/* Every accept completion, success or failure, posts the next: the pool never drains,
 * until the shutdown cancels it. Pending until its connection is: never "drained" between. */
static void on_accept_completed(io_op *op, DWORD bytes, DWORD err)
{
    accept_op *a = CONTAINING_RECORD(op, accept_op, op);
    if (err != 0) {  /* e.g. the client reset before the accept completed; or we stopped */
        if (!open_conns.stopping)
            log_error(0, err, "accept failed");
        closesocket(a->sock);
    } else {
        start_connection(a);
    }
    /* Under the lock the shutdown cancels the pool with: nothing posted after it. */
    EnterCriticalSection(&server.pool_lock);
    a->op.posted = 0;
    op_dequeued(&op->check, bytes, err);
    if (!open_conns.stopping)
        post_accept(a);  /* if it fails, main posts it again */
    LeaveCriticalSection(&server.pool_lock);
    check_drained();
}

/* main, every second or so: post again the accepts whose post failed (no socket, say). */
static void refill_accept_pool(int count)
{
    int i;
    EnterCriticalSection(&server.pool_lock);
    for (i = 0; i < count && !open_conns.stopping; i++)
        if (!server.pool[i].op.posted)
            post_accept(&server.pool[i]);
    LeaveCriticalSection(&server.pool_lock);
}

/* Join the listener to the port, ask it for AcceptEx and GetAcceptExSockaddrs
 * (Winsock extensions, not exported by ws2_32), post the pool. TRUE done. */
static BOOL start_accepting(SOCKET listener, HANDLE port, int count)
{
    GUID accept_ex_id = WSAID_ACCEPTEX, addrs_id = WSAID_GETACCEPTEXSOCKADDRS;
    DWORD bytes;
    int i;
    server.listener = listener;
    server.port = port;
    InitializeCriticalSection(&server.pool_lock);
    if (CreateIoCompletionPort((HANDLE)listener, port, 0, 0) == NULL
        || WSAIoctl(listener, SIO_GET_EXTENSION_FUNCTION_POINTER, &accept_ex_id,
                    sizeof accept_ex_id, &server.accept_ex,
                    sizeof server.accept_ex, &bytes, NULL, NULL) != 0
        || WSAIoctl(listener, SIO_GET_EXTENSION_FUNCTION_POINTER, &addrs_id,
                    sizeof addrs_id, &server.get_addresses,
                    sizeof server.get_addresses, &bytes, NULL, NULL) != 0) {
        log_error(0, (DWORD)WSAGetLastError(), "setting up AcceptEx failed");
        return FALSE;
    }
    server.pool = calloc((size_t)count, sizeof *server.pool);
    if (server.pool == NULL)
        return FALSE;
    for (i = 0; i < count; i++) {
        server.pool[i].op.kind = OP_ACCEPT;
        opcheck_init(&server.pool[i].op.check);
        if (!post_accept(&server.pool[i]))
            return FALSE;
    }
    return TRUE;
}

/*** shutdown ***/

static HANDLE stop_requested, hurry_requested, shutdown_done, workers[256];  /* -t 1..256 */

/* Each console event on a thread of its own. Ctrl+C or Ctrl+Break starts the shutdown, a
 * second one skips the drain; so does a console close (the process ends 5 s after it:
 * SPI_GETHUNGAPPTIMEOUT). A logoff or a system shutdown reaches services only. */
static BOOL WINAPI on_console_event(DWORD event)
{
    static volatile LONG count;
    if (event == CTRL_LOGOFF_EVENT || event == CTRL_SHUTDOWN_EVENT)
        return FALSE;
    if (InterlockedIncrement(&count) > 1 || event == CTRL_CLOSE_EVENT)
        SetEvent(hurry_requested);
    SetEvent(stop_requested);
    if (event == CTRL_CLOSE_EVENT)  /* the process ends when this returns: let the shutdown end first, bounded */
        WaitForSingleObject(shutdown_done, CANCEL_MS + 1000);
    return TRUE;
}

/* main's sweep, a few times a second, ends a connection that makes no progress: idle too
 * long after its last answer, finish (a clean FIN, as nginx's keep-alive timeout gives);
 * a send not read, abort; a silent linger, a graceful close. A paused read resumes. */
static void sweep(conn *c, const char *unused)
{
    ULONGLONG now = GetTickCount64(), quiet = now - c->last_progress;
    (void)unused;
    ledger_note_conn(c->id, state_names[c->state], c->recv_op.posted, c->send_op.posted,
                     c->send_queue.len + c->send_op.data.len);  /* for /stats "conns" */
    if (c->send_op.posted && quiet > (ULONGLONG)opt.send_ms)
        conn_abort(c, "the send made no progress for --send-ms");
    else if (c->state == CONN_LINGERING && (quiet > (ULONGLONG)opt.linger_ms
             || now - c->state_since > 6 * (ULONGLONG)opt.linger_ms))
        close_socket(c, "no FIN: the peer silent for --linger-ms, or 6 times that");
    else if (c->state == CONN_OPEN && !c->send_op.posted && quiet > (ULONGLONG)opt.idle_ms)
        conn_finish(c, "idle for --idle-ms");
    else
        read_more(c);
}

/* The shutdown, in order; each step waits, bounded, for what the one before set off. */
static int shut_down(HANDLE port, int count)
{
    HANDLE drained_or_hurry[2] = {open_conns.drained, hurry_requested};
    LONG64 accepts_failed = ledger_read(&the_ledger.failed[OP_ACCEPT]);
    ULONGLONG deadline = GetTickCount64() + (ULONGLONG)opt.drain_ms;
    int i;
    log_event(0, "shutting down (Ctrl+C again skips the drain)");
    /* 1. No new connections: the pool cancelled, the listener closed once no accept is
     * pending (one is until its connection has read the listener's properties). */
    EnterCriticalSection(&server.pool_lock);
    open_conns.stopping = 1;
    CancelIoEx((HANDLE)server.listener, NULL);
    LeaveCriticalSection(&server.pool_lock);
    while (ledger_pending(OP_ACCEPT) > 0 && GetTickCount64() < deadline
           && WaitForSingleObject(hurry_requested, 10) == WAIT_TIMEOUT)
        continue;
    closesocket(server.listener);
    check_drained();  /* in case nothing at all was open or pending */
    /* 2. Every connection finishes: idle ones now, busy ones once their answers are
     * sent, one a worker held during a pass (TryEnter) at the next pass... */
    do
        for_each_open(conn_finish, "shutting down");
    while (WaitForMultipleObjects(2, drained_or_hurry, FALSE, 50) == WAIT_TIMEOUT
           && GetTickCount64() < deadline);
    if (WaitForSingleObject(open_conns.drained, 0) != WAIT_OBJECT_0) {
        /* 3. ...until the deadline: then what is left is aborted, again until nothing is
         * pending (one a handler holds, once it returns; ERROR_OPERATION_ABORTED now). */
        log_event(0, "drain over: aborting what is left");
        deadline = GetTickCount64() + CANCEL_MS;
        do
            for_each_open(conn_abort, "shutting down: the drain is over");
        while (WaitForSingleObject(open_conns.drained, 50) == WAIT_TIMEOUT
               && GetTickCount64() < deadline);
    }
    /* 4. If some never came, nothing is freed: the system may still write into that memory. */
    if (WaitForSingleObject(open_conns.drained, 0) != WAIT_OBJECT_0) {
        log_event(0, "operations still pending after the cancel: exiting without freeing");
        return ledger_report(app_stage_name()) | 1;
    }
    log_event(0, "accept pool closed: %lld pending accepts cancelled",
              ledger_read(&the_ledger.failed[OP_ACCEPT]) - accepts_failed);
    /* 5. One quit packet per worker: under Wine, closing the port does not wake them. */
    for (i = 0; i < count; i++)
        PostQueuedCompletionStatus(port, 0, 0, NULL);
    for (i = 0; i < count; i++) {
        WaitForSingleObject(workers[i], INFINITE);
        CloseHandle(workers[i]);
    }
    free(server.pool);
    CloseHandle(port);
    WSACleanup();
    return ledger_report(app_stage_name());  /* 0 (the exit status) when nothing is left */
}

/*** main ***/

int main(int argc, char **argv)
{
    SOCKET listener;
    HANDLE port;
    int i;

    options_parse(argc, argv, TAKES_THREADS | TAKES_ACCEPTS | TAKES_SHUTDOWN, &opt);
    net_start();
    app_init();
    listener = net_listen(&opt, app_stage_name());
    InitializeCriticalSection(&open_conns.lock);
    open_conns.head.next = open_conns.head.prev = &open_conns.head;
    ledger_set_budget((LONG64)opt.budget_mb << 20);
    open_conns.drained = CreateEventW(NULL, TRUE, FALSE, NULL);  /* manual-reset events */
    stop_requested = CreateEventW(NULL, TRUE, FALSE, NULL);
    hurry_requested = CreateEventW(NULL, TRUE, FALSE, NULL);
    shutdown_done = CreateEventW(NULL, TRUE, FALSE, NULL);
    /* Ctrl+C enabled first: a new process group, or a parent ignoring it, disables it. */
    if (!open_conns.drained || !stop_requested || !hurry_requested || !shutdown_done
        || !SetConsoleCtrlHandler(NULL, FALSE)
        || !SetConsoleCtrlHandler(on_console_event, TRUE)) {
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
    if (!start_accepting(listener, port, opt.accepts))
        return 1;
    log_event(0, "%d worker threads, %d accepts pending", opt.threads, opt.accepts);
    i = min(min(opt.idle_ms, opt.send_ms), opt.linger_ms) / 4 + 1;  /* sweep period */
    while (WaitForSingleObject(stop_requested, (DWORD)i) == WAIT_TIMEOUT) {
        for_each_open(sweep, NULL);
        ledger_conns_done();
        refill_accept_pool(opt.accepts);
    }
    i = shut_down(port, opt.threads);
    SetEvent(shutdown_done);  /* a console close may now end the process */
    return i;
}
