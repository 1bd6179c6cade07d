/* http.c - see http.h.
 *
 * The parser works on the bytes as they lie in the work buffer: no copy of
 * the header block is made, no terminating NUL is needed, and every scan is
 * bounded by a length, so it is safe on any bytes a client sends
 * (tests/fuzz/fuzz_http.c checks that). Character classes are spelled out
 * for ASCII instead of <ctype.h>, whose answers depend on the locale and
 * which is undefined for negative chars. */
#include "http.h"

#include <stdio.h>
#include <string.h>

/* A piece of the request: p[0..n), not NUL-terminated. */
typedef struct span {
    const char *p;
    size_t n;
} span;

static span make_span(const char *p, size_t n)
{
    span s;
    s.p = p;
    s.n = n;
    return s;
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_upper(int c) { return c >= 'A' && c <= 'Z'; }
static int is_ows(int c) { return c == ' ' || c == '\t'; }
static int to_lower(int c) { return is_upper(c) ? c - 'A' + 'a' : c; }
/* Any visible ASCII character: what a request-target may hold. */
static int is_visible(int c) { return c > ' ' && c < 0x7f; }
/* A header field name is a "token" (RFC 9110, 5.6.2). */
static int is_tchar(int c)
{
    return is_visible(c) && strchr("\"(),/:;<=>?@[\\]{}", c) == NULL;
}

/* Index of the first byte at or after `from` that is not in the class. */
static size_t skip(span s, size_t from, int (*in_class)(int))
{
    while (from < s.n && in_class((unsigned char)s.p[from]))
        from++;
    return from;
}

static span trim(span s)
{
    while (s.n > 0 && is_ows(s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && is_ows(s.p[s.n - 1]))
        s.n--;
    return s;
}

/* Header names and Connection options are case-insensitive. */
static int equals_nocase(span s, const char *word)
{
    size_t i;
    if (strlen(word) != s.n)
        return 0;
    for (i = 0; i < s.n; i++) {
        if (to_lower((unsigned char)s.p[i]) != to_lower((unsigned char)word[i]))
            return 0;
    }
    return 1;
}

/* Take the next sep-separated item off the front of *rest; 0 when none is left.
 * "a,,b" gives "a", "", "b"; "" gives one empty item. */
static int next_item(span *rest, char sep, span *item)
{
    const char *at;
    if (rest->p == NULL)
        return 0;
    at = memchr(rest->p, sep, rest->n);
    item->p = rest->p;
    if (at == NULL) {
        item->n = rest->n;
        /* That was the last item. */
        rest->p = NULL;
    } else {
        item->n = (size_t)(at - rest->p);
        rest->n -= item->n + 1;
        rest->p = at + 1;
    }
    return 1;
}

/* Does a comma-separated list ("keep-alive, close") hold this token? */
static int has_token(span list, const char *token)
{
    span item;
    while (next_item(&list, ',', &item)) {
        if (equals_nocase(trim(item), token))
            return 1;
    }
    return 0;
}

/* Decimal digits only (no sign, no space), at least one. Returns -1 for
 * anything else; otherwise sets *value, to max + 1 for any larger number:
 * digits are still read, but the value stops growing, so a long run of
 * digits cannot overflow size_t. (max must stay below SIZE_MAX / 10, as
 * every limit in http.h does, even with 32-bit size_t.) */
static int parse_decimal(span s, size_t max, size_t *value)
{
    size_t i, v = 0;
    if (s.n == 0)
        return -1;
    for (i = 0; i < s.n; i++) {
        if (!is_digit(s.p[i]))
            return -1;
        if (v <= max)
            v = v * 10 + (size_t)(s.p[i] - '0');
    }
    *value = v > max ? max + 1 : v;
    return 0;
}

/* Every error goes out with Connection: close: after a malformed request the
 * server cannot know where the next one would start. */
static int fail(http_request *req, int status, const char *error)
{
    req->status = status;
    req->error = error;
    req->keep_alive = 0;
    return status;
}

/* Copy s into a char array of `size` bytes as a C string; 0 when it does not
 * fit. */
static int copy_out(char *dst, size_t size, span s)
{
    if (s.n >= size)
        return 0;
    memcpy(dst, s.p, s.n);
    dst[s.n] = '\0';
    return 1;
}

/* METHOD SP request-target SP HTTP-version: exactly one space between the
 * parts. */
static int parse_request_line(span line, http_request *req)
{
    size_t method_end, target_end, query_at;
    const char *question;
    span version;

    /* A blank line where the request should start. */
    if (line.n == 0)
        return fail(req, 400, "empty request line");
    method_end = skip(line, 0, is_upper);
    if (method_end == 0 || method_end == line.n || line.p[method_end] != ' ')
        return fail(req, 400, "bad method");
    if (!copy_out(req->method, sizeof req->method,
                  make_span(line.p, method_end)))
        return fail(req, 400, "method too long");

    target_end = skip(line, method_end + 1, is_visible);
    if (target_end == line.n || line.p[target_end] != ' '
        || line.p[method_end + 1] != '/')
        return fail(req, 400, "bad request target");
    question
        = memchr(line.p + method_end + 1, '?', target_end - method_end - 1);
    query_at = question != NULL ? (size_t)(question - line.p) : target_end;
    if (!copy_out(
            req->path, sizeof req->path,
            make_span(line.p + method_end + 1, query_at - method_end - 1)))
        return fail(req, 400, "path too long");
    if (question != NULL
        && !copy_out(req->query, sizeof req->query,
                     make_span(question + 1, target_end - query_at - 1)))
        return fail(req, 400, "query too long");

    version = make_span(line.p + target_end + 1, line.n - target_end - 1);
    if (version.n != 8 || memcmp(version.p, "HTTP/", 5) != 0
        || !is_digit(version.p[5]) || version.p[6] != '.'
        || !is_digit(version.p[7]))
        return fail(req, 400, "bad HTTP version");
    req->minor_version = version.p[7] - '0';
    if (version.p[5] != '1')
        return fail(req, 505, "HTTP major version is not 1");
    return 0;
}

/* What the header lines decide beyond the fields of http_request. */
typedef struct header_state {
    int close;        /* a Connection header holds "close" */
    int keep_alive;   /* a Connection header holds "keep-alive" (HTTP/1.0's) */
    int have_length;  /* a Content-Length header was seen */
} header_state;

/* One "Name: value" line. Only the headers that change the framing matter
 * here. */
static int parse_header(span line, http_request *req, header_state *st)
{
    size_t colon = skip(line, 0, is_tchar), i, length;
    span name, value;

    /* A line starting with whitespace (obsolete line folding) fails here
     * too. */
    if (colon == 0 || colon == line.n || line.p[colon] != ':')
        return fail(req, 400, "bad header line");
    name = make_span(line.p, colon);
    value = trim(make_span(line.p + colon + 1, line.n - colon - 1));
    for (i = 0; i < value.n; i++) {
        unsigned char c = (unsigned char)value.p[i];
        /* A bare CR, a NUL, ... */
        if ((c < ' ' && c != '\t') || c == 0x7f)
            return fail(req, 400, "bad header value");
    }

    if (equals_nocase(name, "Content-Length")) {
        if (parse_decimal(value, HTTP_MAX_BODY, &length) != 0)
            return fail(req, 400, "bad Content-Length");
        /* Two different lengths: which one frames the body? (request
         * smuggling) */
        if (st->have_length && length != req->content_length)
            return fail(req, 400, "conflicting Content-Length");
        if (length > HTTP_MAX_BODY)
            return fail(req, 413, "body over 1048576 bytes");
        req->content_length = length;
        st->have_length = 1;
    } else if (equals_nocase(name, "Transfer-Encoding")) {
        /* Chunked bodies are not implemented; guessing the framing would be
         * worse. */
        return fail(req, 501, "Transfer-Encoding not supported");
    } else if (equals_nocase(name, "Connection")) {
        st->close |= has_token(value, "close");
        st->keep_alive |= has_token(value, "keep-alive");
    }
    return 0;
}

int http_frame(const char *data, size_t len, http_request *req)
{
    /* The blank line must end within the first HTTP_MAX_HEADER bytes: never
     * look further. */
    size_t window = len < HTTP_MAX_HEADER ? len : HTTP_MAX_HEADER;
    size_t pos, next;
    header_state st = {0, 0, 0};
    int rc;

    memset(req, 0, sizeof *req);
    /* Line by line; each line is judged as soon as its '\n' is here, so
     * garbage is refused at once instead of after 8 KiB. The whole block is
     * parsed again on every call: it is at most 8 KiB, and it keeps the
     * parser free of saved state. */
    for (pos = 0;; pos = next) {
        const char *nl
            = pos < window ? memchr(data + pos, '\n', window - pos) : NULL;
        span line;

        if (nl == NULL)
            return len > HTTP_MAX_HEADER
                       ? fail(req, 431, "header block over 8192 bytes")
                       : HTTP_NEED_MORE;
        next = (size_t)(nl - data) + 1;
        line = make_span(data + pos, next - 1 - pos);
        if (line.n > 0 && line.p[line.n - 1] == '\r')
            line.n--;

        if (pos == 0)
            rc = parse_request_line(line, req);
        else if (line.n == 0)
            /* The blank line: the header block is complete. */
            break;
        else
            rc = parse_header(line, req, &st);
        if (rc != 0)
            return rc;
    }

    req->header_len = next;
    if (req->content_length > len - next)
        /* The body is still on its way. */
        return HTTP_NEED_MORE;
    req->total_len = next + req->content_length;
    req->body = data + next;
    /* HTTP/1.1 is persistent unless the client says close; HTTP/1.0 only
     * when it asks with "Connection: keep-alive" (RFC 9112, 9.3 and C.2.2),
     * as ApacheBench's -k does: the answer then says "Connection:
     * keep-alive" back (http_write_head). */
    req->keep_alive = !st.close && (req->minor_version >= 1 || st.keep_alive);
    req->head_only = strcmp(req->method, "HEAD") == 0;
    return HTTP_READY;
}

/* The routes. `allow` is both the methods a path takes and the value of the
 * Allow header its 405 carries. A route with `param` needs a query parameter
 * of that name with a value in 0..max. */
typedef struct route_def {
    const char *path;
    http_route route;
    const char *allow;
    const char *param;
    size_t max;
    const char *param_error;
} route_def;

static const route_def routes[] = {
    {"/", ROUTE_PAGE, "GET, HEAD", NULL, 0, NULL},
    {"/lab", ROUTE_LAB, "GET, HEAD", NULL, 0, NULL},
    {"/favicon.ico", ROUTE_FAVICON, "GET, HEAD", NULL, 0, NULL},
    {"/stats", ROUTE_STATS, "GET, HEAD", NULL, 0, NULL},
    {"/big", ROUTE_BIG, "GET, HEAD", "bytes", HTTP_MAX_BIG,
     "bytes must be 0..67108864"},
    {"/sleep", ROUTE_SLEEP, "GET, HEAD", "ms", HTTP_MAX_SLEEP_MS,
     "ms must be 0..5000"},
    {"/echo", ROUTE_ECHO, "POST", NULL, 0, NULL},
};

static const route_def *find_route(const char *path)
{
    size_t i;
    for (i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(routes[i].path, path) == 0)
            return &routes[i];
    }
    return NULL;
}

/* The value of `name` in a query like "a=1&bytes=5" (the first one wins). */
static int query_number(const char *query, const char *name, size_t max,
                        size_t *value)
{
    span rest = make_span(query, strlen(query)), item;
    while (next_item(&rest, '&', &item)) {
        const char *eq = memchr(item.p, '=', item.n);
        if (eq != NULL && (size_t)(eq - item.p) == strlen(name)
            && memcmp(item.p, name, strlen(name)) == 0) {
            span digits = make_span(eq + 1, item.n - (size_t)(eq - item.p) - 1);
            return parse_decimal(digits, max, value) == 0 && *value <= max ? 0
                                                                           : -1;
        }
    }
    return -1;
}

int http_route_request(http_request *req)
{
    const route_def *r;
    size_t close;

    /* Http_frame() already refused it. */
    if (req->status != 0)
        return req->status;
    r = find_route(req->path);
    if (r == NULL)
        return fail(req, 404, "no such path");
    /* http_frame() lets only uppercase methods through, so this comparison
     * is exact. */
    if (!has_token(make_span(r->allow, strlen(r->allow)), req->method))
        return fail(req, 405, "method not allowed");
    if (r->param != NULL
        && query_number(req->query, r->param, r->max, &req->arg) != 0)
        return fail(req, 400, r->param_error);
    req->route = r->route;
    if (query_number(req->query, "close", 1, &close) == 0 && close == 1)
        /* ?close=1: what "Connection: close" says, for fetch(). */
        req->keep_alive = 0;
    return 0;
}

int http_write_head(buffer *out, int status, const char *content_type,
                    size_t body_len, int keep_alive, const char *extra_headers)
{
    /* One printf: the head is appended whole or not at all. %llu rather than
     * %zu, which the old msvcrt.dll printf does not know. */
    return buffer_printf(
        out,
        "HTTP/1.1 %d %s\r\n"
        "Server: iocp-stages\r\n"
        "Content-Type: %s\r\n"
        "Content-Length: %llu\r\n"
        "Connection: %s\r\n"
        "%s\r\n",
        status, http_reason(status),
        content_type != NULL ? content_type : "application/octet-stream",
        (unsigned long long)body_len, keep_alive ? "keep-alive" : "close",
        extra_headers != NULL ? extra_headers : "");
}

/* A macro, not a variable, so the compiler checks both printf calls against
 * it. */
#define ERROR_BODY "%d %s: %s\n"

static int write_error(buffer *out, int status, const char *reason,
                       const char *extra_headers)
{
    size_t before = out->len;
    const char *phrase = http_reason(status);
    int n;

    if (reason == NULL)
        reason = "no details";
    n = snprintf(NULL, 0, ERROR_BODY, status, phrase, reason);
    if (n >= 0
        && http_write_head(out, status, "text/plain", (size_t)n, 0,
                           extra_headers)
               == 0
        && buffer_printf(out, ERROR_BODY, status, phrase, reason) == 0)
        return 0;
    /* No half response: take the head back too. */
    out->len = before;
    return -1;
}

int http_write_error(buffer *out, int status, const char *reason)
{
    return write_error(out, status, reason, NULL);
}

int http_write_request_error(buffer *out, const http_request *req)
{
    const route_def *r = req->status == 405 ? find_route(req->path) : NULL;
    char allow[64];

    if (r == NULL)
        return write_error(out, req->status, req->error, NULL);
    snprintf(allow, sizeof allow, "Allow: %s\r\n", r->allow);
    return write_error(out, req->status, req->error, allow);
}

/* The 15 digits of a line's number, plus 16, in place: cheaper than
 * formatting each line's number again (a 64-bit division is a library call
 * on 32-bit x86). */
static void next_line_number(char *digits)
{
    int i, carry = 16;
    for (i = 14; i >= 0 && carry > 0; i--) {
        int d = digits[i] - '0' + carry;
        digits[i] = (char)('0' + d % 10);
        carry = d / 10;
    }
}

void http_big_pattern(char *dst, size_t offset, size_t n)
{
    char line[16];
    size_t col = offset % 16, number = offset - col, take;
    int i;

    for (i = 14; i >= 0; i--) {
        line[i] = (char)('0' + number % 10);
        number /= 10;
    }
    line[15] = '\n';
    /* The first line may start mid-line (col > 0) and the last may stop
     * short. */
    for (; n > 0; n -= take, dst += take, col = 0) {
        take = 16 - col < n ? 16 - col : n;
        memcpy(dst, line + col, take);
        next_line_number(line);
    }
}

int http_write_big(buffer *out, size_t offset, size_t n)
{
    char *dst;

    if (n == 0)
        return 0;
    /* Generated straight into the buffer: no temporary copy of a body that
     * can be 64 MiB. */
    dst = buffer_reserve(out, n);
    if (dst == NULL)
        return -1;
    http_big_pattern(dst, offset, n);
    buffer_commit(out, n);
    return 0;
}

int http_body_next(http_body *body, buffer *out, size_t high)
{
    size_t n = out->len >= high ? 0 : high - out->len;
    if (n > body->left)
        n = body->left;
    if (http_write_big(out, body->offset, n) != 0)
        return -1;
    body->offset += n;
    body->left -= n;
    return 0;
}

/* The favicon is a constant: built by the compiler, so no thread ever writes
 * it. An .ico file is an ICONDIR, one ICONDIRENTRY per image, then the
 * image: a BITMAPINFOHEADER, the colour pixels (bottom row first, B G R A)
 * and a 1-bit AND mask. All numbers are little-endian. */
#define LE16(v) ((v) & 0xFF), (((v) >> 8) & 0xFF)
#define LE32(v) LE16(v), (((v) >> 16) & 0xFF), (((v) >> 24) & 0xFF)

#define ICON_HEADER_BYTES (6 + 16)             /* ICONDIR + one ICONDIRENTRY */
#define ICON_PIXEL_BYTES  (16 * 16 * 4)        /* 32 bits a pixel */
#define ICON_MASK_BYTES   (16 * 4)             /* 1 bit a pixel, 4-byte rows */
#define ICON_IMAGE_BYTES  (40 + ICON_PIXEL_BYTES + ICON_MASK_BYTES)
#define ICON_FILE_BYTES   (ICON_HEADER_BYTES + ICON_IMAGE_BYTES)

#define BORDER 0xFF, 0xD0, 0x9C, 0xFF   /* light blue, opaque */
#define FILL   0xC0, 0x50, 0x10, 0xFF   /* deep blue, opaque */
#define X4(p) p, p, p, p
#define EDGE_ROW X4(X4(BORDER))
#define INNER_ROW BORDER, X4(FILL), X4(FILL), X4(FILL), FILL, FILL, BORDER

static const unsigned char favicon[ICON_FILE_BYTES] = {
    /* ICONDIR: reserved, type 1 (icon), 1 image */
    LE16(0), LE16(1), LE16(1),
    /* ICONDIRENTRY: 16 x 16, no palette, reserved, 1 plane, 32 bpp, image
     * size, offset */
    16, 16, 0, 0, LE16(1), LE16(32), LE32(ICON_IMAGE_BYTES),
    LE32(ICON_HEADER_BYTES),
    /* BITMAPINFOHEADER: size, width, height (doubled: colour pixels plus AND
     * mask), planes, bpp, BI_RGB, image size, resolution x and y, colours
     * used, important */
    LE32(40), LE32(16), LE32(32), LE16(1), LE16(32), LE32(0),
    LE32(ICON_PIXEL_BYTES + ICON_MASK_BYTES), LE32(0), LE32(0), LE32(0),
    LE32(0),
    /* 16 rows: a blue square with a light border */
    EDGE_ROW, X4(INNER_ROW), X4(INNER_ROW), X4(INNER_ROW), INNER_ROW, INNER_ROW,
    EDGE_ROW,
    /* The AND mask is all zero bits (every pixel opaque): the array's zero
     * fill. */
};

const unsigned char *http_favicon(size_t *len)
{
    *len = sizeof favicon;
    return favicon;
}

const char *http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default:  return "Unknown";
    }
}
