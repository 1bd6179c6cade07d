/* 06-shutdown: ending without losing anything; nothing waits without bound
 * (C11). Ctrl+C: stop accepting, let connections finish (--drain-ms), abort the
 * rest, wait until nothing is pending, free, print the final ledger, all zero.
 * A sweep ends what waits too long; --budget-mb bounds all buffers (503). */

#include <winsock2.h>
#include <mswsock.h>
#include <stdlib.h>
#include "app.h"
#include "budget.h"
#include "ledger.h"
#include "log.h"
#include "net.h"
#include "opcheck.h"

#define READ_SIZE    4096         /* bytes asked of one recv */
#define ADDR_SPACE   (sizeof(SOCKADDR_STORAGE) + 16)  /* per address, as AcceptEx wants */
#define SEND_MAX     (64 * 1024)  /* bytes offered to one send */
#define QUEUE_HIGH   (64 * 1024)  /* answer no more requests while this much waits to be sent */
#define LINGER_BYTES (4L * 1024 * 1024)  /* lingering close: discard at most this much */
#define CANCEL_MS    3000         /* the cancel's wait: a closing console ends at 5 s */

/*** connection ***/
/* One per operation: the system owns it and its buffer until the completion. */
typedef struct io_op {
    OVERLAPPED   ov;     /* first, so that CONTAINING_RECORD(ov, io_op, ov) finds the op */
    op_kind      kind;   /* which operation the port handed back */
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
    http_body  body;         /* the rest of a /big body, produced as it is sent */
    LONG64     reserved;     /* of the budget, for the body of the request on its way */
    ULONGLONG  last_progress;/* GetTickCount64() at a change of state, bytes moved */
    ULONGLONG  state_since;  /* GetTickCount64() at the last change of state */
    struct conn *prev, *next;/* in open_conns once started, until CLOSED */
} conn;

static struct {
    CRITICAL_SECTION lock;  /* taken inside a conn's lock, never the other way round */
    conn   head;            /* a ring: head.next is the newest */
    volatile LONG stopping; /* the shutdown has begun: no new connection, no new request */
    HANDLE drained;         /* set when, stopping, nothing is open and nothing pending */
} open_conns;

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
    budget_unreserve(&c->reserved);
    ledger_add(&the_ledger.live_connections, -1);
    log_event(c->id, "freed");
    free(c);
    check_drained();
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
    c->last_progress = c->state_since = GetTickCount64();
}

/* One reference per operation posted, and per helper (a thread outside one). */
static void conn_hold(conn *c) { InterlockedIncrement(&c->refs); }

/* Drop one: whoever drops the last frees c, once. Never the last under c's lock: the lock
 * lives in the memory being freed. */
static void conn_release(conn *c)
{
    if (InterlockedDecrement(&c->refs) == 0)
        conn_free(c);
}

/* fn(c), under c's lock, on each started connection no handler holds (it comes
 * again): TryEnter never waits, so it may be taken under the list's lock. */
static void for_each_open(void (*fn)(conn *c))
{
    conn *c, *next;
    EnterCriticalSection(&open_conns.lock);
    for (c = open_conns.head.next; c != &open_conns.head; c = next) {
        next = c->next;  /* fn may take c out of the list */
        if (TryEnterCriticalSection(&c->lock)) {
            conn_hold(c);
            fn(c);
            LeaveCriticalSection(&c->lock);
            conn_release(c);
        }
    }
    LeaveCriticalSection(&open_conns.lock);
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
/* Requests held back: nothing more is read, the peer waits in TCP. */
static int holding_back(const conn *c)
{
    return c->send_queue.len >= QUEUE_HIGH || c->body.left > 0;
}

/* Over --budget-mb, one read (to refuse a request or see /stats), no more. */
static int reading_paused(const conn *c)
{
    return c->reserved == 0 && c->in.len > 0 && budget_over();
}

/* Post a read; ending, a connection reads on, to discard.
 * A zero-byte read: done when data or a FIN came; meanwhile no buffer is held.
 * Its result comes from the port, not from here: lpNumberOfBytesRecvd is NULL,
 * WSA_IO_PENDING means "posted"; any other error, no completion: abort. */
static void post_recv(conn *c)
{
    static char nothing[1];
    WSABUF wsabuf;
    DWORD flags = 0;
    if (c->recv_op.posted || c->peer_fin || c->state == CONN_CLOSED
        || (c->state == CONN_OPEN && (holding_back(c) || reading_paused(c))))
        return;
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

/* After a zero-byte completion, non-blocking recv takes what is there, until
 * WSAEWOULDBLOCK or a short read; recv's 0 is the peer's FIN. 0 or an error. */
static DWORD read_available(conn *c)
{
    for (;;) {
        char *room = buffer_reserve(&c->in, READ_SIZE);
        int got;
        if (room == NULL)  /* full: what is there is answered before reading on */
            return 0;
        ledger_calls(CALL_RECV);
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
/* Answer the whole requests at the front of the work buffer, in order, into the
 * send queue; one in pieces waits for the rest. Returns how the last ends. */
static response_end serve_requests(conn *c)
{
    http_request req;
    while (!holding_back(c) && !open_conns.stopping) {
        int framed = http_frame(buffer_begin(&c->in), c->in.len, &req);
        response_end end;
        /* --budget-mb: a body is read once admitted at its header; else refused (503) */
        if (framed == HTTP_NEED_MORE && (req.header_len == 0 || budget_admit(&req, &c->reserved)))
            break;  /* the rest is on its way */
        end = framed != HTTP_NEED_MORE && budget_admit(&req, &c->reserved)
                  ? app_respond(&req, &c->send_queue, &c->body) : budget_refuse(&req, &c->send_queue);
        budget_unreserve(&c->reserved);  /* answered: the body and its echo are counted */
        log_event(c->id, "%s %s -> %d", req.method, req.path, req.status);
        if (end != RESPONSE_KEEP_OPEN)
            return end;
        buffer_consume(&c->in, req.total_len);
    }
    return RESPONSE_KEEP_OPEN;
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
        else if (open_conns.stopping)
            conn_finish(c, "shutting down");
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
        budget_unreserve(&c->reserved);
    }
    conn_step(c);
}

/*** completions ***/
/* Every completion comes here, whatever its outcome, under c's lock; the
 * io_op's kind says what completed: nothing is guessed. Once CLOSED, a
 * completion (our cancel's error, or one that beat it) is only counted. */
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
    conn_step(c);
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
        if (ov == NULL && ok)  /* a quit packet from the shutdown */
            return 0;
        if (ov == NULL) {  /* nothing was dequeued: the wait itself failed */
            log_error(0, err, "GetQueuedCompletionStatus failed");
            return 1;
        }
        op = CONTAINING_RECORD(ov, io_op, ov);
        if (op->kind == OP_ACCEPT) {  /* the listener's: no connection, no lock yet */
            on_accept_completed(op, bytes, err);
        } else {
            op_dequeued(&op->check, bytes, err);
            c = op->conn;  /* alive: this operation's reference is still held */
            EnterCriticalSection(&c->lock);
            on_completed(op, bytes, err);
            LeaveCriticalSection(&c->lock);
            conn_release(c);  /* the operation's reference: this may free c */
        }
    }
}

/*** accepting ***/
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

/* No data is asked for: with some, the accept would complete only when the
 * client sends, and silent clients would hold the pool. A post failing at once
 * (a client's reset, no socket left) closes its socket (state undocumented). */
static BOOL post_accept(accept_op *a)
{
    DWORD unused, err;
    if (open_conns.stopping)  /* the shutdown has cancelled the pool */
        return FALSE;
    ledger_calls(CALL_SOCKET);
    a->sock = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                         WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (a->sock == INVALID_SOCKET) {
        log_error(0, (DWORD)WSAGetLastError(), "WSASocket failed");
        return FALSE;
    }
    ZeroMemory(&a->op.ov, sizeof a->op.ov);
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
    ledger_calls(CALL_UPDATE | CALL_FIONBIO | CALL_ASSOCIATE);
    if (setsockopt(c->sock, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, (char *)&server.listener,
                   sizeof server.listener) != 0
        || ioctlsocket(c->sock, FIONBIO, &nonblocking) != 0
        || CreateIoCompletionPort((HANDLE)c->sock, server.port, (ULONG_PTR)c, 0) == NULL) {
        log_error(c->id, GetLastError(), "starting an accepted connection failed");
        conn_abort(c, "not started");
    } else {
        post_recv(c);
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
    post_accept(a);  /* if it fails, main posts it again */
    LeaveCriticalSection(&server.pool_lock);
    check_drained();
}

static void refill_accept_pool(int count)
{
    int i;
    EnterCriticalSection(&server.pool_lock);
    for (i = 0; i < count; i++)
        if (!server.pool[i].op.posted)
            post_accept(&server.pool[i]);
    LeaveCriticalSection(&server.pool_lock);
}

/* AcceptEx, GetAcceptExSockaddrs: Winsock extensions ws2_32 does not export. */
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

/* main's sweep: no progress ends a connection (idle: a FIN, as nginx does). */
static void sweep(conn *c)
{
    ULONGLONG now = GetTickCount64(), quiet = now - c->last_progress;
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
        conn_step(c);
}

static void finish_for_shutdown(conn *c) { conn_finish(c, "shutting down"); }
static void abort_for_shutdown(conn *c)
{
    conn_abort(c, "shutting down: the drain is over");
}

/* The shutdown; each step waits, bounded, for what the one before set off. */
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
    /* 2. Every connection finishes (one a worker held, at the next pass)... */
    do
        for_each_open(finish_for_shutdown);
    while (WaitForMultipleObjects(2, drained_or_hurry, FALSE, 50) == WAIT_TIMEOUT
           && GetTickCount64() < deadline);
    if (WaitForSingleObject(open_conns.drained, 0) != WAIT_OBJECT_0) {
        /* 3. ...then the rest is aborted, until nothing is pending. */
        log_event(0, "drain over: aborting what is left");
        deadline = GetTickCount64() + CANCEL_MS;
        do
            for_each_open(abort_for_shutdown);
        while (WaitForSingleObject(open_conns.drained, 50) == WAIT_TIMEOUT
               && GetTickCount64() < deadline);
    }
    /* 4. If some never came, nothing is freed: the system may still write into that memory. */
    if (WaitForSingleObject(open_conns.drained, 0) != WAIT_OBJECT_0) {
        log_event(0, "operations still pending after the cancel: exiting without freeing");
        ledger_report(app_stage_name());
        return 1;
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
    return ledger_report(app_stage_name());
}

/*** main ***/
int main(int argc, char **argv)
{
    SOCKET listener;
    HANDLE port;
    int i, status;
    DWORD sweep_ms;
    options_parse(argc, argv, TAKES_THREADS | TAKES_ACCEPTS | TAKES_SHUTDOWN, &opt);
    net_start();
    app_init();
    listener = net_listen(&opt, app_stage_name());
    InitializeCriticalSection(&open_conns.lock);
    open_conns.head.next = open_conns.head.prev = &open_conns.head;
    budget_set((LONG64)opt.budget_mb << 20);
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
    sweep_ms = (DWORD)(min(min(opt.idle_ms, opt.send_ms), opt.linger_ms) / 4 + 1);
    while (WaitForSingleObject(stop_requested, sweep_ms) == WAIT_TIMEOUT) {
        for_each_open(sweep);
        ledger_conns_done();
        refill_accept_pool(opt.accepts);
    }
    status = shut_down(port, opt.threads);
    SetEvent(shutdown_done);
    return status;
}
