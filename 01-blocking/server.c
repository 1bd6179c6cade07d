/* 01-blocking: one connection at a time, served right with blocking calls.
 * Whole requests are framed out of a work buffer (they arrive in pieces, or
 * several in one recv), each response is sent in full (send() may take less),
 * and the connection stays open for the next. The listening socket's fixes
 * (&yes, SO_EXCLUSIVEADDRUSE, every call checked) are in common/net.c. */

#include <winsock2.h>
#include <stdlib.h>
#include "app.h"
#include "ledger.h"
#include "log.h"
#include "net.h"

#define READ_SIZE    4096         /* bytes asked of one recv */
#define SEND_MAX     (64 * 1024)  /* bytes offered to one send */
#define LINGER_BYTES (4L * 1024 * 1024)  /* lingering close: discard at most this much */

/*** connection ***/
typedef struct conn {
    SOCKET     sock;
    long       id;           /* its number in the log */
    buffer     in;           /* work buffer: bytes received and not yet answered */
    buffer     out;          /* response bytes not yet sent */
    http_body  body;         /* the rest of a /big body, produced as it is sent */
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
    buffer_init(&c->out, HTTP_MAX_BODY + HTTP_MAX_HEADER);  /* the largest whole response */
    ledger_add(&the_ledger.live_connections, 1);
    return c;
}

static void conn_free(conn *c)
{
    closesocket(c->sock);
    buffer_release(&c->in);
    buffer_release(&c->out);
    ledger_add(&the_ledger.live_connections, -1);
    log_event(c->id, "freed");
    free(c);
}

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
/* Append what the peer sent to the work buffer: >0 bytes, 0 the peer closed (FIN), <0 error. */
static int recv_some(conn *c)
{
    char *room = buffer_reserve(&c->in, READ_SIZE);
    int n;
    if (room == NULL)  /* cannot happen: framing answers 413/431 before the limit */
        return -1;
    ledger_calls(CALL_RECV);
    n = recv(c->sock, room, READ_SIZE, 0);
    if (n > 0) {
        buffer_commit(&c->in, (size_t)n);
        ledger_add(&the_ledger.bytes_in, n);
    } else if (n == 0) {
        log_event(c->id, "peer closed (FIN)");
    } else {
        log_error(c->id, (DWORD)WSAGetLastError(), "recv failed");
    }
    return n;
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
/* We end the connection (Connection: close, HTTP/1.0, an error status), and the client may
 * still be sending: pipelined requests, the rest of a body we refused. closesocket with
 * bytes unread makes TCP send a reset, and a reset can destroy the response before the
 * client has read it. So close as nginx does (lingering close): our FIN after the last
 * byte, then read and discard until the client's FIN, an error or LINGER_BYTES, for as
 * long as the client is not silent --linger-ms, and 6 x --linger-ms at most in all (this
 * thread serves nobody else meanwhile: a client that never closes must not hold it). */
static void linger_close(conn *c, int linger_ms)
{
    char sink[READ_SIZE];
    ULONGLONG now = GetTickCount64(), deadline = now + 6 * (ULONGLONG)linger_ms;
    DWORD timeout;
    long discarded = 0;
    int n = 1;
    if (shutdown(c->sock, SD_SEND) != 0) {
        log_error(c->id, (DWORD)WSAGetLastError(), "shutdown failed");
        return;
    }
    log_event(c->id, "all sent: FIN sent, discarding until the peer's FIN");
    /* SO_RCVTIMEO bounds one recv: the deadline, checked between them, bounds them all. */
    while (n > 0 && discarded <= LINGER_BYTES && now < deadline) {
        timeout = (DWORD)min(deadline - now, (ULONGLONG)linger_ms);
        if (setsockopt(c->sock, SOL_SOCKET, SO_RCVTIMEO, (const char *)&timeout,
                       sizeof timeout) != 0)
            break;
        n = recv(c->sock, sink, sizeof sink, 0);
        discarded += n > 0 ? n : 0;
        now = GetTickCount64();
    }
    if (n > 0)
        log_event(c->id, "still sending after %ld bytes discarded: closing anyway", discarded);
    else if (n < 0 && WSAGetLastError() == WSAETIMEDOUT)
        log_event(c->id, "no FIN within --linger-ms: closing anyway");
}

/*** serving ***/
/* The whole life of one connection, on main's thread: nobody else is served meanwhile. */
static void serve_connection(conn *c, int linger_ms)
{
    response_end end = RESPONSE_KEEP_OPEN;
    while (end == RESPONSE_KEEP_OPEN && recv_some(c) > 0)  /* a FIN or an error: close now */
        end = serve_requests(c);
    if (end == RESPONSE_LAST)
        linger_close(c, linger_ms);
    conn_free(c);
}

/*** accepting ***/
static void accept_loop(SOCKET listener, int linger_ms)
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
        serve_connection(c, linger_ms);
    }
}

/*** main ***/
int main(int argc, char **argv)
{
    options opt;
    SOCKET listener;
    options_parse(argc, argv, TAKES_LINGER, &opt);
    net_start();
    app_init();
    listener = net_listen(&opt, app_stage_name());
    accept_loop(listener, opt.linger_ms);
    return 0;
}
