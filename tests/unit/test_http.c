/* test_http.c - unit tests of common/http.c: framing, parsing, routing, responses. */
#define CHECK_SUITE "http"
#include "check.h"

#include <stdlib.h>

#include "http.h"

/* A string literal and its length, NUL bytes inside included. */
#define TEXT(s) s, sizeof s - 1

static const char GET_ROOT[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

/* Frame bytes and check the outcome is error `status` with reason `error`;
 * NULL when it is, otherwise what happened instead. */
static const char *expect_error(const char *text, size_t len, int status, const char *error)
{
    static char why[400];
    char quoted[200];
    http_request req;
    int rc = http_frame(text, len, &req);
    if (rc == status && req.status == status && req.keep_alive == 0 && req.error != NULL
        && strcmp(req.error, error) == 0)
        return NULL;
    check_escape(quoted, sizeof quoted, text, len);   /* it may hold a NUL */
    snprintf(why, sizeof why, "\"%s\" gave %d (%s, keep_alive %d), expected %d (%s)",
             quoted, rc, req.error != NULL ? req.error : "no error", req.keep_alive,
             status, error);
    return why;
}

static void simple_get(void)
{
    http_request req;
    size_t len = strlen(GET_ROOT);
    CHECK_INT(http_frame(GET_ROOT, len, &req), HTTP_READY);
    CHECK_STR(req.method, "GET");
    CHECK_STR(req.path, "/");
    CHECK_STR(req.query, "");
    CHECK_INT(req.minor_version, 1);
    CHECK_INT(req.keep_alive, 1);
    CHECK_INT(req.head_only, 0);
    CHECK_INT(req.header_len, len);
    CHECK_INT(req.content_length, 0);
    CHECK_INT(req.total_len, len);
    CHECK_INT(req.status, 0);
    CHECK(req.error == NULL);
    CHECK_INT(http_route_request(&req), 0);
    CHECK_INT(req.route, ROUTE_PAGE);
}

static void head_request(void)
{
    http_request req;
    CHECK_INT(http_frame(TEXT("HEAD /stats HTTP/1.1\r\n\r\n"), &req), HTTP_READY);
    CHECK_STR(req.method, "HEAD");
    CHECK_INT(req.head_only, 1);
    CHECK_INT(http_route_request(&req), 0);
    CHECK_INT(req.route, ROUTE_STATS);
}

static void keep_alive_defaults(void)
{
    http_request req;
    CHECK_INT(http_frame(TEXT("GET / HTTP/1.1\r\n\r\n"), &req), HTTP_READY);
    CHECK_INT(req.keep_alive, 1);
    CHECK_INT(http_frame(TEXT("GET / HTTP/1.0\r\n\r\n"), &req), HTTP_READY);
    CHECK_INT(req.minor_version, 0);
    CHECK_INT(req.keep_alive, 0);
}

/* A pipelined HTTP/1.0 keep-alive request frames like any other, and an error still closes. */
static void keep_alive_http10_stream(void)
{
    static const char stream[] =
        "GET /stats HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
        "HEAD / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
        "GET /nope HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
    size_t off = 0, len = sizeof stream - 1;
    http_request req;
    CHECK_INT(http_frame(stream, len, &req), HTTP_READY);
    CHECK_INT(req.keep_alive, 1);
    off += req.total_len;
    CHECK_INT(http_frame(stream + off, len - off, &req), HTTP_READY);
    CHECK_INT(req.keep_alive, 1);
    CHECK_INT(req.head_only, 1);
    off += req.total_len;
    CHECK_INT(http_frame(stream + off, len - off, &req), HTTP_READY);
    CHECK_INT(req.keep_alive, 1);
    CHECK_INT(http_route_request(&req), 404);
    CHECK_INT(req.keep_alive, 0);
    CHECK_INT(off + req.total_len, len);
    /* An HTTP/1.0 request the framing refuses is answered with close, asked keep-alive or not. */
    CHECK(expect_error(TEXT("GET /x HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: x\r\n\r\n"),
                       400, "bad Content-Length") == NULL);
}

/* ?close=1 on any route: the answer ends the connection (the lab's fetch() cannot send
 * "Connection: close"). Only the exact value 1 counts; the route's own parameter still does. */
static void close_query(void)
{
    static const struct {
        const char *line;
        int keep_alive;
        size_t arg;
    } cases[] = {
        {"GET /stats?close=1", 0, 0},
        {"GET /?close=1", 0, 0},
        {"HEAD /lab?run=lab&close=1", 0, 0},
        {"GET /sleep?ms=1000&n=2&close=1", 0, 1000},
        {"GET /big?close=1&bytes=67108864", 0, HTTP_MAX_BIG},
        {"GET /favicon.ico?close=1&close=0", 0, 0},   /* the first one counts */
        {"GET /stats?close=0", 1, 0},
        {"GET /stats?close=", 1, 0},
        {"GET /stats?close", 1, 0},
        {"GET /stats?close=2", 1, 0},
        {"GET /stats?close=01", 0, 0},                 /* a number: 1 */
        {"GET /stats?CLOSE=1", 1, 0},
        {"GET /stats?xclose=1", 1, 0},
    };
    size_t i;
    char text[200];
    http_request req;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = snprintf(text, sizeof text, "%s HTTP/1.1\r\n\r\n", cases[i].line);
        CHECK_MSG(http_frame(text, (size_t)n, &req) == HTTP_READY, cases[i].line);
        CHECK_MSG(req.keep_alive == 1, cases[i].line);
        CHECK_MSG(http_route_request(&req) == 0, cases[i].line);
        CHECK_MSG(req.keep_alive == cases[i].keep_alive, cases[i].line);
        CHECK_MSG(req.arg == cases[i].arg, cases[i].line);
    }
    /* Unrouted (404) stays an error that closes, close=1 or not. */
    CHECK_INT(http_frame(TEXT("GET /nope?close=0 HTTP/1.1\r\n\r\n"), &req), HTTP_READY);
    CHECK_INT(http_route_request(&req), 404);
    CHECK_INT(req.keep_alive, 0);
}

/* The Connection header decides, for HTTP/1.1 (persistent unless "close") and HTTP/1.0
 * (closed unless "keep-alive", RFC 9112 9.3 and C.2.2: ApacheBench's -k sends "Connection:
 * Keep-Alive", curl --http1.0 -H 'Connection: keep-alive' the same). Routing keeps it. */
static void connection_tokens(void)
{
    static const struct {
        int minor;
        const char *header;
        int keep_alive;
    } cases[] = {
        {1, "Connection: close", 0},
        {1, "Connection: keep-alive, close", 0},
        {1, "connection:CLOSE", 0},
        {1, "Connection:  Upgrade ,\tclose  ", 0},
        {1, "Connection: close,", 0},
        {1, "Connection: keep-alive", 1},
        {1, "Connection: closed", 1},
        {1, "Connection: not-close", 1},
        {1, "Connection:", 1},
        {1, "X-Connection: close", 1},
        {0, "Connection: Keep-Alive", 1},             /* ab -k, as it sends it */
        {0, "Connection: keep-alive", 1},
        {0, "connection:KEEP-ALIVE", 1},
        {0, "Connection: TE, keep-alive", 1},
        {0, "Connection: keep-alive, close", 0},      /* close wins */
        {0, "Connection: keep-alive\r\nConnection: close", 0},
        {0, "Connection: close\r\nConnection: keep-alive", 0},
        {0, "Connection: keep-alives", 0},
        {0, "Keep-Alive: timeout=5", 0},              /* not a Connection option */
        {0, "X-Connection: keep-alive", 0},
        {0, "Host: x", 0},                            /* plain HTTP/1.0: close */
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[200];
        http_request req;
        int n = snprintf(text, sizeof text, "GET / HTTP/1.%d\r\n%s\r\n\r\n", cases[i].minor,
                         cases[i].header);
        CHECK_MSG(http_frame(text, (size_t)n, &req) == HTTP_READY, cases[i].header);
        CHECK_MSG(req.minor_version == cases[i].minor, cases[i].header);
        CHECK_MSG(req.keep_alive == cases[i].keep_alive, cases[i].header);
        CHECK_MSG(http_route_request(&req) == 0, cases[i].header);
        CHECK_MSG(req.keep_alive == cases[i].keep_alive, cases[i].header);
    }
}

static void header_whitespace_and_case(void)
{
    http_request req;
    CHECK_INT(http_frame(TEXT("POST /echo HTTP/1.1\r\ncontent-LENGTH: \t 3 \t\r\n\r\nabc"), &req),
              HTTP_READY);
    CHECK_INT(req.content_length, 3);
    CHECK(memcmp(req.body, "abc", 3) == 0);
    /* The same length twice is not a conflict. */
    CHECK_INT(http_frame(TEXT("POST /echo HTTP/1.1\r\nContent-Length: 2\r\n"
                              "Content-Length: 002\r\n\r\nhi"), &req), HTTP_READY);
    CHECK_INT(req.content_length, 2);
}

static void query_split(void)
{
    http_request req;
    CHECK_INT(http_frame(TEXT("GET /big?bytes=5&x=1 HTTP/1.1\r\n\r\n"), &req), HTTP_READY);
    CHECK_STR(req.path, "/big");
    CHECK_STR(req.query, "bytes=5&x=1");
    CHECK_INT(http_frame(TEXT("GET /? HTTP/1.1\r\n\r\n"), &req), HTTP_READY);
    CHECK_STR(req.path, "/");
    CHECK_STR(req.query, "");
    CHECK_INT(http_frame(TEXT("GET /a?b?c HTTP/1.1\r\n\r\n"), &req), HTTP_READY);
    CHECK_STR(req.path, "/a");
    CHECK_STR(req.query, "b?c");
}

static void lf_only_lines(void)
{
    http_request req;
    CHECK_INT(http_frame(TEXT("GET / HTTP/1.1\nHost: x\nConnection: close\n\nNEXT"), &req),
              HTTP_READY);
    CHECK_INT(req.header_len, 42);
    CHECK_INT(req.total_len, 42);
    CHECK_INT(req.keep_alive, 0);
    /* Both endings mixed in one request. */
    CHECK_INT(http_frame(TEXT("GET / HTTP/1.1\r\nHost: x\n\r\n"), &req), HTTP_READY);
    CHECK_INT(req.header_len, 26);
    CHECK_INT(http_frame(TEXT("GET / HTTP/1.1\nHost: x\r\n\n"), &req), HTTP_READY);
    CHECK_INT(req.header_len, 25);
}

/* Three requests back to back: each frames at the previous one's total_len. */
static void pipelined(void)
{
    static const char stream[] =
        "GET /stats HTTP/1.1\r\n\r\n"
        "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
        "GET /big?bytes=10 HTTP/1.0\r\n\r\n";
    static const char *const paths[] = {"/stats", "/echo", "/big"};
    size_t off = 0, len = sizeof stream - 1;
    int i;
    http_request req;
    for (i = 0; i < 3; i++) {
        CHECK_INT(http_frame(stream + off, len - off, &req), HTTP_READY);
        CHECK_STR(req.path, paths[i]);
        CHECK_INT(http_route_request(&req), 0);
        off += req.total_len;
    }
    CHECK_INT(req.keep_alive, 0);
    CHECK_INT(req.arg, 10);
    CHECK_INT(off, len);
    CHECK_INT(http_frame(stream + off, 0, &req), HTTP_NEED_MORE);
}

/* However the bytes are cut, every prefix needs more and the whole is one request. */
static void byte_by_byte(void)
{
    static const char *const requests[] = {
        "GET /favicon.ico HTTP/1.1\r\nHost: localhost:8080\r\nAccept: */*\r\n\r\n",
        ("POST /echo HTTP/1.1\r\nContent-Length: 11\r\nConnection: keep-alive, close\r\n\r\n"
         "hello world"),
        "GET / HTTP/1.0\n\n",
    };
    size_t i, n;
    for (i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        size_t len = strlen(requests[i]);
        http_request req;
        char what[200];
        for (n = 0; n < len; n++) {
            /* A copy of exactly n bytes: ASan catches any read past the prefix. */
            char *prefix = malloc(n + 1);
            int rc;
            CHECK(prefix != NULL);
            memcpy(prefix, requests[i], n);
            rc = http_frame(prefix, n, &req);
            free(prefix);
            snprintf(what, sizeof what, "the first %d bytes of %s", (int)n, requests[i]);
            CHECK_MSG(rc == HTTP_NEED_MORE, what);
        }
        CHECK_MSG(http_frame(requests[i], len, &req) == HTTP_READY, requests[i]);
        CHECK_INT(req.total_len, len);
    }
}

static void body_split(void)
{
    static const char text[] = "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789";
    size_t header = sizeof text - 1 - 10;
    http_request req;
    CHECK_INT(http_frame(text, header, &req), HTTP_NEED_MORE);
    CHECK_INT(http_frame(text, header + 9, &req), HTTP_NEED_MORE);
    CHECK_INT(req.header_len, header);   /* the head is known, the body is not all here */
    CHECK_INT(req.content_length, 10);
    CHECK_INT(http_frame(text, header + 10, &req), HTTP_READY);
    CHECK_INT(req.total_len, header + 10);
    CHECK(req.body == text + header);
}

static void bad_requests(void)
{
    static const struct {
        const char *text;
        size_t len;
        int status;
        const char *error;
    } cases[] = {
        {TEXT("\r\n"), 400, "empty request line"},
        {TEXT("\n"), 400, "empty request line"},
        {TEXT("get / HTTP/1.1\r\n\r\n"), 400, "bad method"},
        {TEXT("G3T / HTTP/1.1\r\n\r\n"), 400, "bad method"},
        {TEXT(" GET / HTTP/1.1\r\n\r\n"), 400, "bad method"},
        {TEXT("GET\r\n\r\n"), 400, "bad method"},
        {TEXT("GET\t/ HTTP/1.1\r\n\r\n"), 400, "bad method"},
        {TEXT("ABCDEFGHIJKLMNOP / HTTP/1.1\r\n\r\n"), 400, "method too long"},
        {TEXT("GET  / HTTP/1.1\r\n\r\n"), 400, "bad request target"},
        {TEXT("GET http://host/ HTTP/1.1\r\n\r\n"), 400, "bad request target"},
        {TEXT("GET /\r\n\r\n"), 400, "bad request target"},
        {TEXT("GET / \r\n\r\n"), 400, "bad HTTP version"},
        {TEXT("GET /\x01 HTTP/1.1\r\n\r\n"), 400, "bad request target"},
        {TEXT("GET /\0 HTTP/1.1\r\n\r\n"), 400, "bad request target"},
        {TEXT("GET / HTTP/1.1 \r\n\r\n"), 400, "bad HTTP version"},
        {TEXT("GET / HTTP/1\r\n\r\n"), 400, "bad HTTP version"},
        {TEXT("GET / HTTP/1.x\r\n\r\n"), 400, "bad HTTP version"},
        {TEXT("GET / http/1.1\r\n\r\n"), 400, "bad HTTP version"},
        {TEXT("GET / HTTP/11.1\r\n\r\n"), 400, "bad HTTP version"},
        {TEXT("GET / HTTP/1.1\r\r\n\r\n"), 400, "bad HTTP version"},
        {TEXT("GET / HTTP/2.0\r\n\r\n"), 505, "HTTP major version is not 1"},
        {TEXT("GET / HTTP/0.9\r\n\r\n"), 505, "HTTP major version is not 1"},
        {TEXT("GET / HTTP/1.1\r\nHost x\r\n\r\n"), 400, "bad header line"},
        {TEXT("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 400, "bad header line"},
        {TEXT("GET / HTTP/1.1\r\n: x\r\n\r\n"), 400, "bad header line"},
        {TEXT("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n"), 400, "bad header line"},
        {TEXT("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"), 400, "bad header value"},
        {TEXT("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n"), 400, "bad header value"},
        {TEXT("GET / HTTP/1.1\r\nX: \x7f\r\n\r\n"), 400, "bad header value"},
        {TEXT("POST /echo HTTP/1.1\r\nContent-Length:\r\n\r\n"), 400, "bad Content-Length"},
        {TEXT("POST /echo HTTP/1.1\r\nContent-Length: abc\r\n\r\n"), 400, "bad Content-Length"},
        {TEXT("POST /echo HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400, "bad Content-Length"},
        {TEXT("POST /echo HTTP/1.1\r\nContent-Length: +5\r\n\r\n"), 400, "bad Content-Length"},
        {TEXT("POST /echo HTTP/1.1\r\nContent-Length: 5 5\r\n\r\n"), 400, "bad Content-Length"},
        {TEXT("POST /echo HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n"), 400, "bad Content-Length"},
        {TEXT("POST /echo HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n"), 400, "bad Content-Length"},
        {TEXT("POST /echo HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 400,
         "conflicting Content-Length"},
        {TEXT("POST /echo HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n"), 413,
         "body over 1048576 bytes"},
        {TEXT("POST /echo HTTP/1.1\r\nContent-Length: 99999999999999999999999999999\r\n\r\n"),
         413, "body over 1048576 bytes"},
        /* 2^32 + 5: a parser that wraps a 32-bit size_t would read 5. */
        {TEXT("POST /echo HTTP/1.1\r\nContent-Length: 4294967301\r\n\r\nhello"), 413,
         "body over 1048576 bytes"},
        {TEXT("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 501,
         "Transfer-Encoding not supported"},
        {TEXT("POST /echo HTTP/1.1\r\nContent-Length: 5\r\ntransfer-encoding: identity\r\n\r\n"),
         501, "Transfer-Encoding not supported"},
        /* A line is judged as soon as it is complete, before the blank line arrives. */
        {TEXT("get / HTTP/1.1\r\n"), 400, "bad method"},
        {TEXT("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"), 501,
         "Transfer-Encoding not supported"},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *why = expect_error(cases[i].text, cases[i].len, cases[i].status,
                                       cases[i].error);
        CHECK_MSG(why == NULL, why);
    }
}

/* What is known is still filled in when a request is refused. */
static void error_keeps_what_is_known(void)
{
    http_request req;
    CHECK_INT(http_frame(TEXT("GET /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), &req),
              501);
    CHECK_STR(req.method, "GET");
    CHECK_STR(req.path, "/x");
    CHECK_INT(req.minor_version, 0);
    CHECK_INT(http_frame(TEXT("PUT /y HTTP/3.1\r\n\r\n"), &req), 505);
    CHECK_STR(req.method, "PUT");
    CHECK_INT(req.minor_version, 1);
    CHECK_INT(req.keep_alive, 0);
    CHECK_INT(http_route_request(&req), 505);   /* routing leaves a refused request alone */
    CHECK_INT(req.route, ROUTE_NONE);
}

/* Longest fields that fit, then one byte more. */
static void field_sizes(void)
{
    char text[700], field[300];
    http_request req;
    int n;

    memset(field, 'a', sizeof field);
    n = snprintf(text, sizeof text, "ABCDEFGHIJKLMNO /%.254s?%.255s HTTP/1.1\r\n\r\n",
                 field, field);
    CHECK_INT(http_frame(text, (size_t)n, &req), HTTP_READY);
    CHECK_INT(strlen(req.method), 15);
    CHECK_INT(strlen(req.path), 255);
    CHECK_INT(strlen(req.query), 255);
    CHECK_INT(http_route_request(&req), 404);

    n = snprintf(text, sizeof text, "GET /%.255s HTTP/1.1\r\n\r\n", field);
    CHECK(expect_error(text, (size_t)n, 400, "path too long") == NULL);
    n = snprintf(text, sizeof text, "GET /?%.256s HTTP/1.1\r\n\r\n", field);
    CHECK(expect_error(text, (size_t)n, 400, "query too long") == NULL);
}

static void body_limit(void)
{
    char text[100], expected[64];
    http_request req;
    int n = snprintf(text, sizeof text, "POST /echo HTTP/1.1\r\nContent-Length: %u\r\n\r\n",
                     HTTP_MAX_BODY);
    /* The largest body is accepted (and awaited); the error text names the real limit. */
    CHECK_INT(http_frame(text, (size_t)n, &req), HTTP_NEED_MORE);
    CHECK_INT(req.content_length, HTTP_MAX_BODY);
    snprintf(expected, sizeof expected, "body over %u bytes", HTTP_MAX_BODY);
    n = snprintf(text, sizeof text, "POST /echo HTTP/1.1\r\nContent-Length: %u\r\n\r\n",
                 HTTP_MAX_BODY + 1);
    CHECK(expect_error(text, (size_t)n, 413, expected) == NULL);
}

/* A header block of exactly `size` bytes (size >= 64), followed by `extra` more bytes. */
static char *header_block(size_t size, size_t extra)
{
    static const char start[] = "GET / HTTP/1.1\r\nX-Fill: ";
    char *p = malloc(size + extra);
    if (p == NULL)
        return NULL;
    memcpy(p, start, sizeof start - 1);
    memset(p + sizeof start - 1, 'f', size - (sizeof start - 1) - 4);
    memcpy(p + size - 4, "\r\n\r\n", 4);
    memset(p + size, 'G', extra);
    return p;
}

static void header_limit_boundary(void)
{
    char expected[64], *ok = header_block(HTTP_MAX_HEADER, 100),
                       *over = header_block(HTTP_MAX_HEADER + 1, 0);
    http_request req;
    size_t n;

    CHECK(ok != NULL && over != NULL);
    snprintf(expected, sizeof expected, "header block over %u bytes", HTTP_MAX_HEADER);
    /* 8192 bytes: accepted, even with more bytes behind it. */
    CHECK_INT(http_frame(ok, HTTP_MAX_HEADER, &req), HTTP_READY);
    CHECK_INT(http_frame(ok, HTTP_MAX_HEADER + 100, &req), HTTP_READY);
    CHECK_INT(req.header_len, HTTP_MAX_HEADER);
    /* 8193 bytes: need-more up to 8192 bytes in hand, refused at the 8193rd. */
    for (n = HTTP_MAX_HEADER - 3; n <= HTTP_MAX_HEADER; n++)
        CHECK_INT(http_frame(over, n, &req), HTTP_NEED_MORE);
    CHECK(expect_error(over, HTTP_MAX_HEADER + 1, 431, expected) == NULL);
    free(ok);
    free(over);
}

static void routes(void)
{
    static const struct {
        const char *line;   /* request line */
        int status;
        http_route route;
        size_t arg;
        const char *error;
    } cases[] = {
        {"GET /", 0, ROUTE_PAGE, 0, NULL},
        {"HEAD /", 0, ROUTE_PAGE, 0, NULL},
        {"GET /?utm=1", 0, ROUTE_PAGE, 0, NULL},
        {"GET /lab?run=lab", 0, ROUTE_LAB, 0, NULL},
        {"GET /favicon.ico", 0, ROUTE_FAVICON, 0, NULL},
        {"GET /stats", 0, ROUTE_STATS, 0, NULL},
        {"GET /big?bytes=0", 0, ROUTE_BIG, 0, NULL},
        {"HEAD /big?bytes=67108864", 0, ROUTE_BIG, HTTP_MAX_BIG, NULL},
        {"GET /big?a=1&bytes=5", 0, ROUTE_BIG, 5, NULL},
        {"GET /big?bytes=007&bytes=9", 0, ROUTE_BIG, 7, NULL},
        {"GET /sleep?ms=5000", 0, ROUTE_SLEEP, 5000, NULL},
        {"GET /sleep?ms=0", 0, ROUTE_SLEEP, 0, NULL},
        {"POST /echo", 0, ROUTE_ECHO, 0, NULL},
        {"GET /nope", 404, ROUTE_NONE, 0, "no such path"},
        {"GET /stats/", 404, ROUTE_NONE, 0, "no such path"},
        {"GET /STATS", 404, ROUTE_NONE, 0, "no such path"},
        {"GET /echo", 405, ROUTE_NONE, 0, "method not allowed"},
        {"POST /", 405, ROUTE_NONE, 0, "method not allowed"},
        {"DELETE /stats", 405, ROUTE_NONE, 0, "method not allowed"},
        {"GE /", 405, ROUTE_NONE, 0, "method not allowed"},
        {"GET /big", 400, ROUTE_NONE, 0, "bytes must be 0..67108864"},
        {"GET /big?bytes=", 400, ROUTE_NONE, 0, "bytes must be 0..67108864"},
        {"GET /big?bytes", 400, ROUTE_NONE, 0, "bytes must be 0..67108864"},
        {"GET /big?bytes=67108865", 400, ROUTE_NONE, 0, "bytes must be 0..67108864"},
        {"GET /big?bytes=99999999999999999999999", 400, ROUTE_NONE, 0, "bytes must be 0..67108864"},
        {"GET /big?bytes=4294967296", 400, ROUTE_NONE, 0, "bytes must be 0..67108864"},
        {"GET /big?bytes=-1", 400, ROUTE_NONE, 0, "bytes must be 0..67108864"},
        {"GET /big?bytes=1e3", 400, ROUTE_NONE, 0, "bytes must be 0..67108864"},
        {"GET /big?bytes=%35", 400, ROUTE_NONE, 0, "bytes must be 0..67108864"},
        {"GET /big?xbytes=5", 400, ROUTE_NONE, 0, "bytes must be 0..67108864"},
        {"GET /big?BYTES=5", 400, ROUTE_NONE, 0, "bytes must be 0..67108864"},
        {"GET /sleep?ms=5001", 400, ROUTE_NONE, 0, "ms must be 0..5000"},
        {"GET /sleep?s=1", 400, ROUTE_NONE, 0, "ms must be 0..5000"},
    };
    size_t i;
    char text[200], expected[64];
    http_request req;

    /* The limits in the error texts are the limits in http.h. */
    snprintf(expected, sizeof expected, "bytes must be 0..%u", HTTP_MAX_BIG);
    CHECK_INT(http_frame(TEXT("GET /big HTTP/1.1\r\n\r\n"), &req), HTTP_READY);
    CHECK_INT(http_route_request(&req), 400);
    CHECK_STR(req.error, expected);
    snprintf(expected, sizeof expected, "ms must be 0..%u", HTTP_MAX_SLEEP_MS);
    CHECK_INT(http_frame(TEXT("GET /sleep HTTP/1.1\r\n\r\n"), &req), HTTP_READY);
    CHECK_INT(http_route_request(&req), 400);
    CHECK_STR(req.error, expected);

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = snprintf(text, sizeof text, "%s HTTP/1.1\r\n\r\n", cases[i].line);
        CHECK_MSG(http_frame(text, (size_t)n, &req) == HTTP_READY, cases[i].line);
        CHECK_MSG(http_route_request(&req) == cases[i].status, cases[i].line);
        CHECK_MSG(req.status == cases[i].status, cases[i].line);
        CHECK_MSG(req.route == cases[i].route, cases[i].line);
        if (cases[i].status == 0) {
            CHECK_MSG(req.arg == cases[i].arg, cases[i].line);
            CHECK_MSG(req.keep_alive == 1, cases[i].line);
        } else {
            CHECK_MSG(strcmp(req.error, cases[i].error) == 0, cases[i].line);
            CHECK_MSG(req.keep_alive == 0, cases[i].line);
        }
    }
}

static void write_head(void)
{
    buffer out;
    buffer_init(&out, 4096);
    CHECK_INT(http_write_head(&out, 200, "text/html", 1234, 1, "X-A: 1\r\nX-B: 2\r\n"), 0);
    CHECK_CONTENTS(&out, "HTTP/1.1 200 OK\r\nServer: iocp-stages\r\nContent-Type: text/html\r\n"
                         "Content-Length: 1234\r\nConnection: keep-alive\r\n"
                         "X-A: 1\r\nX-B: 2\r\n\r\n");
    buffer_consume(&out, out.len);
    CHECK_INT(http_write_head(&out, 200, "image/x-icon", HTTP_MAX_BIG, 0, NULL), 0);
    CHECK_CONTENTS(&out, "HTTP/1.1 200 OK\r\nServer: iocp-stages\r\nContent-Type: image/x-icon\r\n"
                         "Content-Length: 67108864\r\nConnection: close\r\n\r\n");
    buffer_release(&out);
}

static void write_error(void)
{
    static const char expected[] =
        "HTTP/1.1 404 Not Found\r\nServer: iocp-stages\r\nContent-Type: text/plain\r\n"
        "Content-Length: 28\r\nConnection: close\r\n\r\n"
        "404 Not Found: no such path\n";
    buffer out;
    buffer_init(&out, sizeof expected);   /* the text plus printf's NUL */
    CHECK_INT(http_write_error(&out, 404, "no such path"), 0);
    CHECK_CONTENTS(&out, expected);
    /* No room: nothing is appended, not even the head. */
    buffer_consume(&out, 10);
    CHECK_INT(http_write_error(&out, 404, "no such path"), -1);
    CHECK_INT(out.len, sizeof expected - 1 - 10);
    buffer_release(&out);
}

/* A 405 carries Allow with the methods of the path that refused. */
static void request_error_allow(void)
{
    static const struct {
        const char *request;
        const char *allow;   /* NULL: no Allow header */
    } cases[] = {
        {"GET /echo HTTP/1.1\r\n\r\n", "\r\nAllow: POST\r\n"},
        {"DELETE /big?bytes=1 HTTP/1.1\r\n\r\n", "\r\nAllow: GET, HEAD\r\n"},
        {"GET /missing HTTP/1.1\r\n\r\n", NULL},
        {"GET /big HTTP/1.1\r\n\r\n", NULL},
    };
    size_t i;
    buffer out;
    buffer_init(&out, 4096);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_request req;
        const char *text;
        CHECK(http_frame(cases[i].request, strlen(cases[i].request), &req) == HTTP_READY);
        CHECK(http_route_request(&req) != 0);
        buffer_consume(&out, out.len);
        CHECK_INT(http_write_request_error(&out, &req), 0);
        text = check_text(buffer_begin(&out), out.len);
        CHECK_MSG(strstr(text, "Connection: close\r\n") != NULL, cases[i].request);
        if (cases[i].allow != NULL)
            CHECK_MSG(strstr(text, cases[i].allow) != NULL, cases[i].request);
        else
            CHECK_MSG(strstr(text, "Allow:") == NULL, cases[i].request);
    }
    /* Framing errors go through the same call. */
    {
        http_request req;
        CHECK_INT(http_frame(TEXT("GET / HTTP/2.0\r\n\r\n"), &req), 505);
        buffer_consume(&out, out.len);
        CHECK_INT(http_write_request_error(&out, &req), 0);
        CHECK(strstr(check_text(buffer_begin(&out), out.len),
                     "\r\n\r\n505 HTTP Version Not Supported: HTTP major version is not 1\n")
              != NULL);
    }
    buffer_release(&out);
}

/* The /big pattern byte by byte, from its definition. */
static char pattern_byte(size_t pos)
{
    char line[32];
    if (pos % 16 == 15)
        return '\n';
    snprintf(line, sizeof line, "%015llu", (unsigned long long)(pos - pos % 16));
    return line[pos % 16];
}

static void big_pattern(void)
{
    static const size_t offsets[] = {0, 1, 7, 14, 15, 16, 17, 31, 1000003, 99999985, 99999999,
                                     HTTP_MAX_BIG - 17};
    static const size_t lengths[] = {0, 1, 2, 15, 16, 17, 33, 100};
    char got[128];
    size_t i, j, k;

    http_big_pattern(got, 0, 48);
    CHECK(memcmp(got, "000000000000000\n000000000000016\n000000000000032\n", 48) == 0);
    for (i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        for (j = 0; j < sizeof lengths / sizeof lengths[0]; j++) {
            memset(got, '?', sizeof got);
            http_big_pattern(got, offsets[i], lengths[j]);
            for (k = 0; k < lengths[j]; k++)
                CHECK(got[k] == pattern_byte(offsets[i] + k));
            CHECK(got[lengths[j]] == '?');   /* not a byte more */
        }
    }
}

static void write_big(void)
{
    buffer out;
    char *expected = malloc(100000);
    CHECK(expected != NULL);
    buffer_init(&out, 100000);
    CHECK_INT(buffer_append(&out, "head", 4), 0);
    CHECK_INT(http_write_big(&out, 5, 99000), 0);
    http_big_pattern(expected, 5, 99000);
    CHECK_INT(out.len, 99004);
    CHECK(memcmp(out.data + 4, expected, 99000) == 0);
    CHECK_INT(http_write_big(&out, 0, 0), 0);
    CHECK_INT(http_write_big(&out, 0, 997), -1);   /* one byte past the limit */
    CHECK_INT(out.len, 99004);
    free(expected);
    buffer_release(&out);
}

/* A body of 150000 bytes pulled into a queue of 65536 that is drained in between: every
 * piece tops the queue up to 65536 and no further, and the pieces join into the pattern. */
static void body_next(void)
{
    http_body body = {0, 150000};
    buffer out;
    char *got = malloc(150000), *expected = malloc(150000);
    size_t total = 0;
    CHECK(got != NULL && expected != NULL);
    buffer_init(&out, 1u << 20);
    CHECK_INT(buffer_append(&out, "HEAD", 4), 0);
    CHECK_INT(http_body_next(&body, &out, 65536), 0);
    CHECK_INT(out.len, 65536);
    CHECK_INT(body.left, 150000 - 65532);
    CHECK_INT(http_body_next(&body, &out, 65536), 0);   /* full: nothing more */
    CHECK_INT(out.len, 65536);
    memcpy(got, out.data + out.start + 4, 65532);
    total = 65532;
    buffer_consume(&out, out.len);
    while (body.left > 0) {
        size_t before = total;
        CHECK_INT(http_body_next(&body, &out, 65536), 0);
        CHECK(out.len <= 65536 && out.len > 0);
        memcpy(got + total, out.data + out.start, out.len);
        total += out.len;
        buffer_consume(&out, out.len);
        CHECK(total > before);
    }
    CHECK_INT(total, 150000);
    CHECK_INT(body.offset, 150000);
    http_big_pattern(expected, 0, 150000);
    CHECK(memcmp(got, expected, 150000) == 0);
    CHECK_INT(http_body_next(&body, &out, 65536), 0);   /* ended: nothing appended */
    CHECK_INT(out.len, 0);
    free(got);
    free(expected);
    buffer_release(&out);
}

static unsigned long le32(const unsigned char *p)
{
    return p[0] | (unsigned long)p[1] << 8 | (unsigned long)p[2] << 16 | (unsigned long)p[3] << 24;
}

static unsigned le16(const unsigned char *p)
{
    return p[0] | (unsigned)p[1] << 8;
}

static void favicon(void)
{
    size_t len, i;
    const unsigned char *ico = http_favicon(&len), *bmp, *pixels;
    CHECK(ico != NULL);
    CHECK_INT(len, 6 + 16 + 40 + 16 * 16 * 4 + 16 * 4);
    /* ICONDIR */
    CHECK_INT(le16(ico + 0), 0);
    CHECK_INT(le16(ico + 2), 1);
    CHECK_INT(le16(ico + 4), 1);
    /* ICONDIRENTRY */
    CHECK_INT(ico[6], 16);
    CHECK_INT(ico[7], 16);
    CHECK_INT(le16(ico + 10), 1);
    CHECK_INT(le16(ico + 12), 32);
    CHECK_INT(le32(ico + 14), len - 22);
    CHECK_INT(le32(ico + 18), 22);
    /* BITMAPINFOHEADER */
    bmp = ico + 22;
    CHECK_INT(le32(bmp + 0), 40);
    CHECK_INT(le32(bmp + 4), 16);
    CHECK_INT(le32(bmp + 8), 32);
    CHECK_INT(le16(bmp + 12), 1);
    CHECK_INT(le16(bmp + 14), 32);
    CHECK_INT(le32(bmp + 16), 0);
    /* Pixels: all opaque, a border unlike the inside, so something is visible. */
    pixels = bmp + 40;
    for (i = 0; i < 16 * 16; i++)
        CHECK_INT(pixels[4 * i + 3], 0xFF);
    CHECK(memcmp(pixels, pixels + 4 * (16 * 16 - 1), 4) == 0);     /* corners alike */
    CHECK(memcmp(pixels, pixels + 4 * (8 * 16 + 8), 4) != 0);      /* centre differs */
    CHECK(memcmp(pixels + 4 * 17, pixels + 4 * (14 * 16 + 14), 4) == 0);
    for (i = 22 + 40 + 1024; i < len; i++)                          /* AND mask: opaque */
        CHECK_INT(ico[i], 0);
}

static void reason_phrases(void)
{
    CHECK_STR(http_reason(200), "OK");
    CHECK_STR(http_reason(400), "Bad Request");
    CHECK_STR(http_reason(404), "Not Found");
    CHECK_STR(http_reason(405), "Method Not Allowed");
    CHECK_STR(http_reason(413), "Content Too Large");
    CHECK_STR(http_reason(431), "Request Header Fields Too Large");
    CHECK_STR(http_reason(500), "Internal Server Error");
    CHECK_STR(http_reason(501), "Not Implemented");
    CHECK_STR(http_reason(505), "HTTP Version Not Supported");
    CHECK_STR(http_reason(299), "Unknown");
}

int main(void)
{
    RUN(simple_get);
    RUN(head_request);
    RUN(keep_alive_defaults);
    RUN(keep_alive_http10_stream);
    RUN(close_query);
    RUN(connection_tokens);
    RUN(header_whitespace_and_case);
    RUN(query_split);
    RUN(lf_only_lines);
    RUN(pipelined);
    RUN(byte_by_byte);
    RUN(body_split);
    RUN(bad_requests);
    RUN(error_keeps_what_is_known);
    RUN(field_sizes);
    RUN(body_limit);
    RUN(header_limit_boundary);
    RUN(routes);
    RUN(write_head);
    RUN(write_error);
    RUN(request_error_allow);
    RUN(big_pattern);
    RUN(write_big);
    RUN(body_next);
    RUN(favicon);
    RUN(reason_phrases);
    return check_exit();
}
