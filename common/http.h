/* http.h - HTTP/1.1 request framing and parsing, response building.
 *
 * Portable C with no Windows header: it is unit-tested and fuzzed natively.
 * A connection's bytes arrive in arbitrary pieces; http_frame() says whether
 * the front of the work buffer holds one whole request yet, and parses it. */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>
#include "buffer.h"

#define HTTP_MAX_HEADER   (8u * 1024u)        /* request line to blank line */
#define HTTP_MAX_BODY     (1024u * 1024u)     /* POST /echo */
#define HTTP_MAX_BIG      (64u * 1024u * 1024u) /* GET /big?bytes=N */
#define HTTP_MAX_SLEEP_MS 5000u               /* GET /sleep?ms=N */

/* http_frame() results. */
#define HTTP_NEED_MORE 0   /* no whole request yet: read more */
#define HTTP_READY     1   /* req describes one whole request at the front */
/* otherwise: an HTTP error status (400, 413, 431, 501, 505) in req->status
 * too */

typedef enum {
    ROUTE_NONE = 0,   /* not routed yet / error */
    ROUTE_PAGE,       /* GET /              */
    ROUTE_LAB,        /* GET /lab           */
    ROUTE_FAVICON,    /* GET /favicon.ico   */
    ROUTE_STATS,      /* GET /stats         */
    ROUTE_BIG,        /* GET /big?bytes=N   */
    ROUTE_SLEEP,      /* GET /sleep?ms=N    */
    ROUTE_ECHO        /* POST /echo         */
} http_route;

typedef struct http_request {
    char   method[16];      /* "GET", "HEAD", "POST", ... (longer: 405) */
    char   path[256];       /* "/big" (no query) */
    char   query[256];      /* "bytes=100" (no '?'), "" when none */
    int    minor_version;   /* 1 for HTTP/1.1, 0 for HTTP/1.0 */
    int    keep_alive;      /* 1: connection stays open after the response */
    int    head_only;       /* 1 for HEAD: headers without body */
    size_t header_len;      /* bytes of request line + headers + blank line */
    size_t content_length;  /* body bytes */
    size_t total_len;       /* header_len + content_length: bytes to consume */
    const char *body;       /* into the caller's bytes, content_length long */
    int    status;          /* 0, or the error status framing/routing chose */
    const char *error;      /* one-line reason for that status: body and log */
    http_route route;       /* set by http_route_request() */
    size_t arg;             /* /big: bytes, /sleep: ms */
} http_request;

/* Frame and parse the request at the front of data[0..len). HTTP_NEED_MORE,
 * HTTP_READY, or an error status (also in req->status, with req->error).
 * Lines end in CRLF or a bare LF. Errors: 400 malformed request line/header,
 * bad Content-Length; 431 header block over HTTP_MAX_HEADER (decided as soon
 * as len passes it without a blank line); 413 Content-Length over
 * HTTP_MAX_BODY; 501 Transfer-Encoding; 505 HTTP major version other than 1.
 * keep_alive: HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with
 * "Connection: keep-alive" (and no "close"). Never reads past len. */
int  http_frame(const char *data, size_t len, http_request *req);

/* Choose the route for a framed request: sets req->route and req->arg, or an
 * error status: 404 unknown path, 405 known path with a method it does not
 * take, 400 bad query (/big bytes not in 0..HTTP_MAX_BIG, /sleep ms not in
 * 0..HTTP_MAX_SLEEP_MS). Returns req->status (0 when routed). GET routes
 * also take HEAD. On any route the query "close=1" clears keep_alive: the
 * answer ends its connection as "Connection: close" would, for a browser's
 * fetch(), which cannot send that header (the lab, /lab). */
int  http_route_request(http_request *req);

/* Response building: each appends to out and returns 0, or -1 when out is
 * full. */
/* Status line and headers; Content-Length is body_len; Connection:
 * keep-alive/close. */
int http_write_head(buffer *out, int status, const char *content_type,
                    size_t body_len, int keep_alive, const char *extra_headers);
/* A whole error response: short text body naming status and reason;
 * Connection: close. */
int  http_write_error(buffer *out, int status, const char *reason);
/* The error response for a request http_frame() or http_route_request()
 * refused: http_write_error(out, req->status, req->error), and for a 405 the
 * Allow header it must carry (the methods req->path takes, e.g. "Allow: GET,
 * HEAD"). */
int  http_write_request_error(buffer *out, const http_request *req);
/* Append n bytes of the /big pattern starting at byte offset `offset`. */
int  http_write_big(buffer *out, size_t offset, size_t n);

/* A response body that is produced as it is sent (GET /big), not built
 * whole: the stage asks for the next piece whenever its send queue has room,
 * so a connection holds about one queue's worth of it, whatever it asked for
 * and however slowly it reads. */
typedef struct http_body {
    size_t offset;  /* bytes of the /big pattern produced so far */
    size_t left;    /* bytes still to produce; 0: nothing pending */
} http_body;

/* Append the next bytes of body to out until out holds `high` bytes or the
 * body ends (nothing when out already holds that much). 0, or -1 when out is
 * full (body unchanged). */
int  http_body_next(http_body *body, buffer *out, size_t high);
/* Fill dst with n bytes of the /big pattern from `offset` (tests verify with
 * it). The pattern is lines of 16 bytes: the line's own starting offset as
 * 15 decimal digits, then '\n'. */
void http_big_pattern(char *dst, size_t offset, size_t n);
/* The favicon: a valid 16x16 .ico. Returns its bytes and sets *len. */
const unsigned char *http_favicon(size_t *len);
/* Reason phrase of a status ("OK", "Not Found", ...). */
const char *http_reason(int status);

#endif
