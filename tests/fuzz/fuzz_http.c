/* fuzz_http.c - libFuzzer target for the request framing in common/http.c.
 *
 * The input is what a client could send on one connection. It is framed request by
 * request, as a server does with its work buffer, and every answer http_frame() gives
 * is checked against its contract; each ready request is routed and answered into a
 * bounded buffer. Any broken invariant aborts, and libFuzzer keeps the input.
 * Build: clang -fsanitize=fuzzer,address,undefined (tests/unit/rules.mk). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "http.h"

/* Storage held by all buffers: must be back to zero after every input. */
static long long held;

static void account(long long delta)
{
    held += delta;
}

#define REQUIRE(cond) do { if (!(cond)) abort(); } while (0)

/* A char array field must hold a C string that fits it. */
#define TERMINATED(field) (memchr((field), '\0', sizeof (field)) != NULL)

/* Does data[0..len) hold word, whatever the case of its letters? */
static int holds_nocase(const char *data, size_t len, const char *word)
{
    size_t i, j, n = strlen(word);
    for (i = 0; i + n <= len; i++) {
        for (j = 0; j < n && (data[i + j] | 0x20) == word[j]; j++)
            ;
        if (j == n)
            return 1;
    }
    return 0;
}

static void check_ready(const http_request *req, const char *data, size_t len)
{
    REQUIRE(req->status == 0 && req->error == NULL);
    REQUIRE(req->header_len > 0 && req->header_len <= HTTP_MAX_HEADER);
    REQUIRE(req->content_length <= HTTP_MAX_BODY);
    REQUIRE(req->total_len == req->header_len + req->content_length);
    REQUIRE(req->total_len <= len);
    REQUIRE(req->body == data + req->header_len);
    REQUIRE(TERMINATED(req->method) && TERMINATED(req->path) && TERMINATED(req->query));
    REQUIRE(req->method[0] != '\0' && req->path[0] == '/');
    REQUIRE(req->minor_version >= 0 && req->minor_version <= 9);
    /* HTTP/1.0 is kept alive only when its header block asks (Connection: keep-alive). */
    REQUIRE(req->keep_alive == 0 || req->minor_version >= 1
            || holds_nocase(data, req->header_len, "keep-alive"));
}

/* Answer a framed request the way app.c does, into a buffer small enough that large
 * /big answers hit its limit: both outcomes of every writer get exercised. */
static void respond(http_request *req, buffer *out)
{
    int rc = http_route_request(req);
    size_t favicon_len;

    REQUIRE(rc == req->status);
    if (rc != 0) {
        REQUIRE(rc == 400 || rc == 404 || rc == 405);
        REQUIRE(req->route == ROUTE_NONE && req->keep_alive == 0 && req->error != NULL);
        REQUIRE(http_write_request_error(out, req) == 0);
        return;
    }
    REQUIRE(req->route != ROUTE_NONE);
    REQUIRE(req->route != ROUTE_BIG || req->arg <= HTTP_MAX_BIG);
    REQUIRE(req->route != ROUTE_SLEEP || req->arg <= HTTP_MAX_SLEEP_MS);
    switch (req->route) {
    case ROUTE_BIG:
        if (http_write_head(out, 200, "text/plain", req->arg, req->keep_alive, NULL) == 0
            && !req->head_only)
            http_write_big(out, 0, req->arg);
        break;
    case ROUTE_ECHO:
        if (http_write_head(out, 200, "application/octet-stream", req->content_length,
                            req->keep_alive, NULL) == 0)
            buffer_append(out, req->body, req->content_length);
        break;
    default:
        http_favicon(&favicon_len);
        http_write_head(out, 200, "image/x-icon", favicon_len, req->keep_alive, NULL);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    const char *data = (const char *)bytes;
    size_t off = 0;
    buffer out;

    buffer_set_accounting(account);
    buffer_init(&out, 256 * 1024);
    /* Pipelining: frame, answer, move on by total_len, until something stops us. */
    while (off < size) {
        http_request req;
        int rc = http_frame(data + off, size - off, &req);

        if (rc == HTTP_NEED_MORE) {
            REQUIRE(req.status == 0);
            break;
        }
        if (rc != HTTP_READY) {
            REQUIRE(rc == 400 || rc == 413 || rc == 431 || rc == 501 || rc == 505);
            REQUIRE(req.status == rc && req.error != NULL && req.keep_alive == 0);
            REQUIRE(rc != 431 || size - off > HTTP_MAX_HEADER);
            REQUIRE(http_write_request_error(&out, &req) == 0);
            break;   /* an error closes the connection */
        }
        check_ready(&req, data + off, size - off);
        respond(&req, &out);
        REQUIRE(out.len == 0 || memcmp(buffer_begin(&out), "HTTP/1.1 ", 9) == 0);
        buffer_consume(&out, out.len);   /* "sent" */
        off += req.total_len;
        if (!req.keep_alive)
            break;
    }
    buffer_release(&out);
    REQUIRE(held == 0);
    return 0;
}
