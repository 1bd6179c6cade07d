/* 02-recv-only: the completion port arrives, for reading (C1-C4).
 *
 * main still accepts with a blocking accept(), then associates the socket with one
 * completion port (key = the connection pointer, a ULONG_PTR) and posts one WSARecv
 * with a real buffer and its own OVERLAPPED. One worker thread waits on the port and
 * reads GetQueuedCompletionStatus in its three cases before touching anything. A read
 * that completes with 0 bytes is the peer's FIN: the connection is freed then, safely,
 * because its only operation has just completed. Responses still go out with a
 * blocking send() from the worker.
 * Limitation: a client that asks for a large response and does not read it blocks that
 * send(), and with it the only worker: every other client stalls. */

/*** stage ***/

#include <winsock2.h>
#include <stdlib.h>

#include "app.h"
#include "ledger.h"
#include "log.h"
#include "net.h"

#define READ_SIZE  4096   /* bytes asked of one recv */
#define SEND_CHUNK 65536  /* bytes offered to one send (see send_all) */
#define LINGER_BYTES (4L * 1024 * 1024)  /* lingering close: discard at most this much */

static const stage_info STAGE = {
    "02-recv-only",
    "a completion port and one worker: every connection has a WSARecv in flight, read right.",
    "responses go out with a blocking send(): a client that does not read its large response stalls everyone.",
};

/*** connection ***/

typedef struct conn {
    OVERLAPPED recv_ov;  /* the one operation in flight: it belongs to the read */
    SOCKET sock;
    long   id;   /* its number in the log */
    buffer in;   /* work buffer: bytes received and not yet answered */
    buffer out;  /* response bytes not yet sent */
    int  lingering;  /* our FIN is sent: what still arrives is discarded */
    long discarded;  /* bytes discarded since */
} conn;

static conn *conn_new(SOCKET sock, long id)
{
    conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->sock = sock;
    c->id = id;
    /* A request is at most a header block and a body; one more read must fit behind it. */
    buffer_init(&c->in, HTTP_MAX_HEADER + HTTP_MAX_BODY + READ_SIZE);
    buffer_init(&c->out, HTTP_MAX_BIG + HTTP_MAX_HEADER);
    ledger_add(&the_ledger.live_connections, 1);
    return c;
}

static void conn_free(conn *c)
{
    closesocket(c->sock);
    buffer_release(&c->in);
    buffer_release(&c->out);
    ledger_add(&the_ledger.live_connections, -1);
    log_event(c->id, "closed");
    free(c);
}

/*** sending ***/

/* send() may take fewer bytes than asked: loop until the whole response is gone.
 * At most SEND_CHUNK per call: under Wine 8 a blocking send() of several MiB to a peer
 * that reset the connection was seen never to return (scenario reset-mid-response). */
static int send_all(conn *c)
{
    while (c->out.len > 0) {
        int n = send(c->sock, buffer_begin(&c->out), c->out.len > SEND_CHUNK ? SEND_CHUNK : (int)c->out.len, 0);
        if (n == SOCKET_ERROR) {
            log_error(c->id, (DWORD)WSAGetLastError(), "send failed");
            return -1;
        }
        buffer_consume(&c->out, (size_t)n);
        ledger_add(&the_ledger.bytes_out, n);
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
    ZeroMemory(&c->recv_ov, sizeof c->recv_ov);
    ledger_add(&the_ledger.posted[OP_RECV], 1);
    /* Log first: once posted, the completion may be handled (and c freed) at once. */
    log_op(c->id, "recv posted");
    if (WSARecv(c->sock, &wsabuf, 1, NULL, &flags, &c->recv_ov, NULL) == SOCKET_ERROR
        && WSAGetLastError() != WSA_IO_PENDING) {
        log_error(c->id, (DWORD)WSAGetLastError(), "WSARecv failed");
        ledger_add(&the_ledger.failed[OP_RECV], 1);
        return -1;
    }
    return 0;
}

/*** requests ***/

/* Answer every whole request at the front of the work buffer, in order.
 * Returns 1 to keep the connection, 0 to close it once all is sent, -1 to close now. */
static int serve_requests(conn *c)
{
    http_request req;
    while (http_frame(buffer_begin(&c->in), c->in.len, &req) != HTTP_NEED_MORE) {
        int keep = app_respond(&req, &c->out);
        log_event(c->id, "%s %s -> %d", req.method, req.path, req.status);
        if (keep < 0 || send_all(c) != 0)
            return -1;
        if (keep == 0)
            return 0;
        buffer_consume(&c->in, req.total_len);
    }
    return 1;
}

/*** closing ***/

/* We end the connection, and the client may still be sending: a closesocket now would
 * reset it and could destroy the response (01's lingering close). Our FIN follows the
 * last blocking send; the discarding is done by the read that stays posted: each of its
 * completions throws its bytes away, until the peer's FIN, an error or LINGER_BYTES. */
static int linger(conn *c)
{
    if (shutdown(c->sock, SD_SEND) != 0) {
        log_error(c->id, (DWORD)WSAGetLastError(), "shutdown failed");
        return -1;
    }
    c->lingering = 1;
    buffer_release(&c->in);  /* nothing more will be answered */
    log_event(c->id, "all sent: FIN sent, discarding until the peer's FIN");
    return 0;
}

/*** completions ***/

/* A read is over. Its buffer is ours again; nothing else is in flight on this connection. */
static void on_recv_completed(conn *c, DWORD bytes, DWORD err)
{
    int keep;
    if (err != 0) {  /* failed, whatever the code: this operation is over */
        ledger_add(&the_ledger.failed[OP_RECV], 1);
        log_error(c->id, err, "recv failed");
        conn_free(c);
        return;
    }
    ledger_add(&the_ledger.completed[OP_RECV], 1);
    log_op(c->id, "recv completed %lu bytes", bytes);
    if (bytes == 0) {  /* a read with a buffer that returns 0 bytes: the peer's FIN */
        log_event(c->id, "peer closed (FIN)");
        conn_free(c);
        return;
    }
    ledger_add(&the_ledger.bytes_in, bytes);
    if (c->lingering) {  /* the bytes stay uncommitted: the next read reuses their room */
        if ((c->discarded += (long)bytes) > LINGER_BYTES) {
            log_event(c->id, "still sending after %ld bytes discarded: closing anyway", c->discarded);
            conn_free(c);
        } else if (post_recv(c) != 0) {
            conn_free(c);
        }
        return;
    }
    buffer_commit(&c->in, bytes);
    keep = serve_requests(c);
    /* Keep reading: for the next request, or (lingering) to discard until the FIN. */
    if (keep < 0 || (keep == 0 && linger(c) != 0) || post_recv(c) != 0)
        conn_free(c);
}

static DWORD WINAPI worker(LPVOID port)
{
    for (;;) {
        /* Reset the out-variables: after a failure they are not all written. */
        DWORD bytes = 0;
        ULONG_PTR key = 0;
        OVERLAPPED *ov = NULL;
        BOOL ok = GetQueuedCompletionStatus((HANDLE)port, &bytes, &key, &ov, INFINITE);
        DWORD err = ok ? 0 : GetLastError();
        if (ov == NULL) {  /* nothing was dequeued: the wait itself failed */
            log_error(0, err, "GetQueuedCompletionStatus failed");
            return 1;
        }
        /* An operation completed, successfully or not: now the key may be used. */
        on_recv_completed((conn *)key, bytes, err);
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
            conn_free(c);
            continue;
        }
        if (post_recv(c) != 0)
            conn_free(c);
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
