/* client.h - the test clients' one library: connections, responses, /stats JSON, waits.
 *
 * The scenario client (tests/scenario/scenarios.c, a Linux and a Windows program), the
 * shutdown suite's client (tests/shutdown/client.c) and the bench's idle client
 * (bench/idle.c) reach a server through this; portable.h holds what differs between
 * Winsock and BSD sockets. The server is on loopback.
 *
 * Nothing here prints or exits. A call that fails returns a code and leaves one line
 * saying why in client_error; what that means (a FAIL line, "end=reset", "error=...") is
 * the program's business. Every wait is bounded by the time it is given and by
 * client_deadline.
 *
 *   conn_start, conn_connected, conn_open   a non-blocking connection to 127.0.0.1:port
 *   conn_send, conn_send_get                all the bytes, or why not
 *   conn_fill                               one read into the connection's buffer
 *   conn_close, conn_reset                  an orderly close (FIN), or a reset (RST)
 *   response_head, response_take            a response at the front of that buffer
 *   response_read, http_get                 ... waited for
 *   header_value                            one header of a header block
 *   json_path, json_number                  a value of the /stats JSON
 *   wait_fd                                 poll one socket */
#ifndef CLIENT_H
#define CLIENT_H

#include "portable.h"

#include <stddef.h>

/* What a read or a wait came to, besides bytes (> 0) or success. */
enum {
    CONN_EOF     = 0,    /* the server closed in order (its FIN) */
    CONN_RESET   = -1,   /* the server reset the connection (RST) */
    CONN_TIMEOUT = -2,   /* nothing within the time given, or client_deadline passed */
    CONN_ERROR   = -3    /* anything else: client_error says what */
};

extern char client_error[256];     /* why the last call failed, without the connection's name */
extern long long client_deadline;  /* now_ms() at which every wait ends (0: none) */

typedef struct conn {
    sock_t fd;
    char   name[8];    /* "A", "B", ...: for messages */
    char  *buf;        /* received bytes not yet taken as a response */
    size_t len, cap;
} conn;

typedef struct response {
    int    status;
    char   content_type[64];
    int    closes;            /* "Connection: close" */
    size_t length;            /* Content-Length */
    size_t head_len;          /* the header block, blank line included */
    char  *head;              /* the header block (without the blank line), a string */
    char  *body;              /* length bytes, NUL-terminated (response_take) */
} response;

/* 1 when fd is ready for `events` within timeout_ms, 0 when not, CONN_ERROR. */
int  wait_fd(sock_t fd, short events, int timeout_ms);

/* Start a connection named `name` to 127.0.0.1:port (TCP_NODELAY: each write a segment;
 * rcvbuf > 0: SO_RCVBUF, set before the connect so that the window stays that small).
 * 0, or CONN_ERROR. conn_connected: 1 when the connect has completed within timeout_ms,
 * 0 while it is still in progress, CONN_ERROR when it failed (refused, say). */
int  conn_start(conn *c, unsigned short port, const char *name, int rcvbuf);
int  conn_connected(conn *c, int timeout_ms);
/* Both, waiting up to timeout_ms: 0, CONN_TIMEOUT or CONN_ERROR. */
int  conn_open(conn *c, unsigned short port, const char *name, int timeout_ms);

/* Send all n bytes: 0; CONN_TIMEOUT when the server took nothing for stall_ms;
 * CONN_RESET; CONN_ERROR. */
int  conn_send(conn *c, const void *data, size_t n, int stall_ms);
/* "GET target HTTP/1.1", Host, then `extra` (header lines, each ending in CRLF), sent. */
int  conn_send_get(conn *c, const char *target, const char *extra, int stall_ms);

/* Read once into c->buf, at most `max` bytes: the bytes read (> 0), CONN_EOF, CONN_RESET,
 * CONN_TIMEOUT (nothing within timeout_ms) or CONN_ERROR. */
long conn_fill(conn *c, size_t max, int timeout_ms);

void conn_close(conn *c);
void conn_reset(conn *c);   /* SO_LINGER {1, 0}, then close: a RST instead of a FIN */

/* The header block of the response at the front of c->buf: 1 with r's status, length,
 * head_len, content_type, closes and head set (body NULL; bytes stay buffered); 0 while
 * it has not all come; CONN_ERROR when it is malformed (no Content-Length is malformed:
 * the servers send one with every answer). Free r with response_free. */
int  response_head(conn *c, response *r);
/* The whole response at the front of c->buf, taken off it: 1 with *r filled, 0 while it
 * has not all come, CONN_ERROR when it is malformed. Reads nothing. */
int  response_take(conn *c, response *r);
/* response_take, reading for up to timeout_ms: 1; CONN_TIMEOUT (what came stays
 * buffered: a later call goes on from there); CONN_EOF or CONN_RESET (closed before it was
 * whole: c->len says whether any of it came); CONN_ERROR. */
int  response_read(conn *c, response *r, int timeout_ms);
void response_free(response *r);
/* conn_send_get, then response_read: 1, or the first code that is not success. */
int  http_get(conn *c, const char *target, const char *extra, response *r, int timeout_ms);

/* The value of header `name` in a header block (a NUL-terminated copy in out), or NULL. */
const char *header_value(const char *head, const char *name, char *out, size_t size);

/* The JSON value at a dotted path of an object ("accepted", "recv.pending"), or NULL. */
const char *json_path(const char *json, const char *path);
/* The number at that path: 0 with *out set, or -1 when it is missing or not a number. */
int  json_number(const char *json, const char *path, long long *out);

#endif
