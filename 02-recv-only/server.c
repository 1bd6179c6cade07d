/* 02-recv-only: the completion port arrives, for reading (C1-C4).
 * Each socket is associated with one port (key: the connection, a ULONG_PTR);
 * the one worker keeps one WSARecv in flight with its own OVERLAPPED, and reads
 * GetQueuedCompletionStatus's results in order before touching anything. A read
 * of 0 bytes is the peer's FIN. Answers still go out with a blocking send(). */

#include <winsock2.h>
#include <stdlib.h>
#include "app.h"
#include "ledger.h"
#include "log.h"
#include "net.h"
#include "opcheck.h"

#define READ_SIZE    4096         /* bytes asked of one recv */
#define SEND_MAX     (64 * 1024)  /* bytes offered to one send */
#define LINGER_BYTES (4L * 1024 * 1024)  /* lingering close: discard at most this much */

/*** connection ***/
/* One per operation: the system owns it and its buffer until the completion. */
typedef struct io_op {
    OVERLAPPED   ov;
    buffer       data;   /* the bytes in flight: the system's until the completion */
    op_check     check;  /* the ledger, the -v log, make DEBUG=1's guard (common/opcheck.h) */
} io_op;

/* A connection's life, in order; it only moves forward, through set_state(). */
typedef enum {
    CONN_OPEN,       /* reading requests and answering them */
    CONN_LINGERING,  /* our FIN is out: reading and discarding until the peer's FIN */
    CONN_CLOSED      /* closesocket done: freed once nothing is pending */
} conn_state;
static const char *const state_names[] = {
    [CONN_OPEN] = "OPEN", [CONN_LINGERING] = "LINGERING", [CONN_CLOSED] = "CLOSED"};

/* The states each one may move to: forward only, to LINGERING at once (the
 * sends block), and to CLOSED once. */
static const unsigned allowed_next[] = {
    [CONN_OPEN]      = 1 << CONN_LINGERING | 1 << CONN_CLOSED,
    [CONN_LINGERING] = 1 << CONN_CLOSED,  [CONN_CLOSED] = 0,
};

typedef struct conn {
    SOCKET     sock;
    long       id;           /* its number in the log */
    conn_state state;
    io_op      recv_op;      /* the one operation in flight: the read */
    int        peer_fin;     /* the peer's FIN came: it sends no more, no read is posted */
    long       discarded;    /* bytes read and thrown away after the last request */
    buffer     in;           /* work buffer: bytes received and not yet answered */
    buffer     out;          /* response bytes not yet sent */
    http_body  body;         /* the rest of a /big body, produced as it is sent */
} conn;

static conn *conn_new(SOCKET sock, long id)
{
    conn *c = calloc(1, sizeof *c);  /* CONN_OPEN, nothing posted */
    if (c == NULL)
        return NULL;
    c->sock = sock;
    c->id = id;
    opcheck_init(&c->recv_op.check);
    /* A request is at most a header block and a body; one more read must fit behind it. */
    buffer_init(&c->in, HTTP_MAX_HEADER + HTTP_MAX_BODY + READ_SIZE);
    buffer_init(&c->recv_op.data, READ_SIZE);
    buffer_init(&c->out, HTTP_MAX_BODY + HTTP_MAX_HEADER);  /* the largest whole response */
    ledger_add(&the_ledger.live_connections, 1);
    return c;
}

static void conn_free(conn *c)
{
    buffer_release(&c->in);
    buffer_release(&c->recv_op.data);
    buffer_release(&c->out);
    opcheck_free(&c->recv_op.check);
    ledger_add(&the_ledger.live_connections, -1);
    log_event(c->id, "freed");
    free(c);
}

/* Every change of state comes here: logged, and checked in every build. */
static void set_state(conn *c, conn_state next, const char *why)
{
    log_event(c->id, "%s -> %s: %s", state_names[c->state], state_names[next], why);
    if (!(allowed_next[c->state] & 1 << next)) {
        log_error(c->id, ERROR_INVALID_STATE,
                  "a move allowed_next[] lacks: a bug");
        log_flush();
        abort();
    }
    c->state = next;
}

static void close_socket(conn *c, const char *why);  /* closing, below */
static void conn_finish(conn *c, const char *why);  /* the next step, below */

/*** sending ***/
/* send() may take fewer bytes than asked: loop until the whole response is gone. A body
 * is produced SEND_MAX at a time as it goes, so no response sits whole in memory. At
 * most SEND_MAX per call: under Wine 8 a blocking send() of several MiB to a peer that
 * reset the connection was seen never to return (scenario reset-mid-response). */
static BOOL send_all(conn *c)
{
    while (c->out.len > 0 || c->body.left > 0) {
        int n;
        if (http_body_next(&c->body, &c->out, SEND_MAX) != 0)
            return FALSE;
        ledger_calls(CALL_SEND);
        n = send(c->sock, buffer_begin(&c->out), c->out.len > SEND_MAX ? SEND_MAX : (int)c->out.len, 0);
        if (n == SOCKET_ERROR) {
            log_error(c->id, (DWORD)WSAGetLastError(), "send failed");
            return FALSE;
        }
        buffer_consume(&c->out, (size_t)n);
        ledger_add(&the_ledger.bytes_out, n);
    }
    return TRUE;
}

/*** receiving ***/
/* Post a read; ending, a connection reads on, to discard.
 * One read into the op's own buffer, the system's until its completion.
 * Its result comes from the port, not from here: lpNumberOfBytesRecvd is NULL,
 * WSA_IO_PENDING means "posted"; any other error, no completion: close. */
static void post_recv(conn *c)
{
    WSABUF wsabuf;
    DWORD flags = 0;
    if (c->state == CONN_CLOSED)
        return;
    wsabuf.buf = buffer_reserve(&c->recv_op.data, READ_SIZE);
    wsabuf.len = READ_SIZE;
    if (wsabuf.buf == NULL) {
        close_socket(c, "no memory to read");
        return;
    }
    ZeroMemory(&c->recv_op.ov, sizeof c->recv_op.ov);
    op_posted(&c->recv_op.check, OP_RECV, c->id, wsabuf.len);
    if (WSARecv(c->sock, &wsabuf, 1, NULL, &flags, &c->recv_op.ov, NULL) == SOCKET_ERROR
        && WSAGetLastError() != WSA_IO_PENDING) {
        op_post_failed(&c->recv_op.check, (DWORD)WSAGetLastError());
        close_socket(c, "WSARecv failed");
    }
}

/*** requests ***/
/* Answer every whole request at the front of the work buffer, in order, each sent whole
 * before the next is read. RESPONSE_KEEP_OPEN: read on; RESPONSE_LAST: the last one is
 * sent, close; RESPONSE_FAILED: close now. */
static response_end serve_requests(conn *c)
{
    http_request req;
    while (http_frame(buffer_begin(&c->in), c->in.len, &req) != HTTP_NEED_MORE) {
        response_end end = app_respond(&req, &c->out, &c->body);
        log_event(c->id, "%s %s -> %d", req.method, req.path, req.status);
        if (end == RESPONSE_FAILED || !send_all(c))
            return RESPONSE_FAILED;
        if (end == RESPONSE_LAST)
            return end;
        buffer_consume(&c->in, req.total_len);
    }
    return RESPONSE_KEEP_OPEN;
}

/*** closing ***/
/* The end: closesocket, CLOSED; the worker frees the connection (its read is over). */
static void close_socket(conn *c, const char *why)
{
    closesocket(c->sock);
    set_state(c, CONN_CLOSED, why);
}

/* Input after the last request is thrown away; past LINGER_BYTES, a reset. */
static void discard_input(conn *c)
{
    c->discarded += (long)c->in.len;
    buffer_consume(&c->in, c->in.len);
    if (c->discarded > LINGER_BYTES)
        close_socket(c, "the peer goes on sending after the last answer");
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
            close_socket(c, "the answer could not be sent");
        else if (end == RESPONSE_LAST)
            conn_finish(c, "the answer says Connection: close");
        /* The peer's FIN while OPEN ends the requests, not the answers: no read
         * is posted, and every answer is sent already (the sends block): close. */
        else if (c->peer_fin)
            close_socket(c, "the peer's FIN");
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

/* finish: the graceful end (Connection: close, HTTP/1.0, an error status). The last
 * answer is sent already; our FIN follows it, and the read stays posted to throw away
 * what still comes, until the peer's FIN: a closesocket with bytes unread would reset
 * the connection and could destroy the answer before the client has read it. */
static void conn_finish(conn *c, const char *why)
{
    if (shutdown(c->sock, SD_SEND) != 0) {
        log_error(c->id, (DWORD)WSAGetLastError(), "shutdown failed");
        close_socket(c, "shutdown failed");
        return;
    }
    buffer_consume(&c->in, c->in.len);  /* what came after the last request is not answered */
    set_state(c, CONN_LINGERING, why);
}

/*** completions ***/
/* A read is over: its bytes are in the op's buffer; 0 bytes is the peer's FIN. */
static void on_completed(conn *c, DWORD bytes, DWORD err)
{
    if (err != 0) {  /* failed, whatever the code: this operation is over, and the connection */
        log_error(c->id, err, "recv failed");
        close_socket(c, "recv failed");
        return;
    }
    if (bytes == 0)  /* a read with a buffer that returns 0 bytes: the peer's FIN */
        c->peer_fin = 1;
    ledger_add(&the_ledger.bytes_in, bytes);
    buffer_commit(&c->recv_op.data, bytes);  /* the op's buffer is ours again: take its bytes */
    if (buffer_append(&c->in, buffer_begin(&c->recv_op.data), bytes) != 0)
        close_socket(c, "no room for what came");  /* cannot happen: 413/431 come first */
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
        c = (conn *)key;  /* something was dequeued, successfully or not: now the key is good */
        if (ov == NULL) {  /* main's packet: a new connection, whose first read is ours */
            post_recv(c);
        } else {  /* the read is over, whatever its outcome */
            op_dequeued(&c->recv_op.check, bytes, err);
            on_completed(c, bytes, err);
        }
        if (c->state == CONN_CLOSED)
            conn_free(c);  /* its one operation is over: nothing can touch it now */
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
            close_socket(c, "not started");
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
