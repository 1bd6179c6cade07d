/* client.c - see client.h. */
#define _POSIX_C_SOURCE 200809L

#include "client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"   /* HTTP_MAX_BIG: the longest answer a server may send */

char client_error[256];
long long client_deadline;

PRINTF_LIKE(1, 2)
static int failed(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(client_error, sizeof client_error, fmt, ap);
    va_end(ap);
    return CONN_ERROR;
}

/* timeout_ms, cut to what is left before client_deadline. */
static int bounded(int timeout_ms)
{
    long long left;
    if (!client_deadline)
        return timeout_ms;
    left = client_deadline - now_ms();
    return left <= 0 ? 0 : left < timeout_ms ? (int)left : timeout_ms;
}

int wait_fd(sock_t fd, short events, int timeout_ms)
{
    struct pollfd p = {fd, events, 0};
    long long until = now_ms() + bounded(timeout_ms);
    for (;;) {
        int left = (int)(until - now_ms()), r, err;
        r = sock_poll(&p, 1, left > 0 ? left : 0);
        if (r >= 0)
            return r > 0;
        if (!sock_interrupted(err = sock_error()))
            return failed("poll: %s", sock_strerror(err));
    }
}

/* ---------------------------------------------------------------- connections */

int conn_start(conn *c, unsigned short port, const char *name, int rcvbuf)
{
    struct sockaddr_in sa;
    int one = 1;

    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd == NO_SOCKET)
        return failed("socket: %s", sock_strerror(sock_error()));
    sock_nonblocking(c->fd);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
    if (rcvbuf > 0)
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, (const char *)&rcvbuf, sizeof rcvbuf);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0 && !sock_in_progress(sock_error()))
        return failed("connect: %s", sock_strerror(sock_error()));
    return 0;
}

int conn_connected(conn *c, int timeout_ms)
{
    int err = 0, ready;
    socklen_t errlen = sizeof err;
    if ((ready = wait_fd(c->fd, POLLOUT, timeout_ms)) <= 0)
        return ready;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (char *)&err, &errlen);
    return err ? failed("connect: %s", sock_strerror(err)) : 1;
}

int conn_open(conn *c, unsigned short port, const char *name, int timeout_ms)
{
    int r = conn_start(c, port, name, 0);
    if (r == 0 && (r = conn_connected(c, timeout_ms)) == 0) {
        snprintf(client_error, sizeof client_error, "connect timed out");
        return CONN_TIMEOUT;
    }
    return r < 0 ? r : 0;
}

int conn_send(conn *c, const void *data, size_t n, int stall_ms)
{
    const char *p = data;
    while (n > 0) {
        long r = sock_send(c->fd, p, n);
        int err = r < 0 ? sock_error() : 0, ready;
        if (r > 0) {
            p += r;
            n -= (size_t)r;
        } else if (r < 0 && sock_would_block(err)) {
            if ((ready = wait_fd(c->fd, POLLOUT, stall_ms)) < 0)
                return ready;
            if (!ready) {
                snprintf(client_error, sizeof client_error, "send made no progress for %d ms",
                         stall_ms);
                return CONN_TIMEOUT;
            }
        } else if (r < 0 && !sock_interrupted(err)) {
            failed("send: %s", sock_strerror(err));
            return sock_was_reset(err) ? CONN_RESET : CONN_ERROR;
        }
    }
    return 0;
}

int conn_send_get(conn *c, const char *target, const char *extra, int stall_ms)
{
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", target,
                     extra ? extra : "");
    if (n < 0 || n >= (int)sizeof req)
        return failed("request for %.60s too long", target);
    return conn_send(c, req, (size_t)n, stall_ms);
}

/* The buffer grows as answers need, from 4 KiB: an idle client holds thousands. */
long conn_fill(conn *c, size_t max, int timeout_ms)
{
    if (c->cap - c->len < 2048) {
        char *more = realloc(c->buf, (c->cap ? c->cap * 2 : 4096) + 1);   /* +1: a NUL */
        if (!more)
            return failed("out of memory for %zu received bytes", c->cap * 2);
        c->buf = more;
        c->cap = c->cap ? c->cap * 2 : 4096;
    }
    for (;;) {
        size_t room = c->cap - c->len;
        long r = sock_recv(c->fd, c->buf + c->len, room < max ? room : max);
        int err, ready;
        if (r >= 0) {
            c->len += (size_t)r;
            return r;
        }
        err = sock_error();
        if (sock_was_reset(err)) {
            snprintf(client_error, sizeof client_error, "recv: %s", sock_strerror(err));
            return CONN_RESET;
        }
        if (sock_would_block(err)) {
            if ((ready = wait_fd(c->fd, POLLIN, timeout_ms)) <= 0)
                return ready ? ready : CONN_TIMEOUT;
        } else if (!sock_interrupted(err)) {
            return failed("recv: %s", sock_strerror(err));
        }
    }
}

void conn_close(conn *c)
{
    if (c->fd != NO_SOCKET)
        sock_close(c->fd);
    free(c->buf);
    c->fd = NO_SOCKET;
    c->buf = NULL;
    c->len = c->cap = 0;
}

void conn_reset(conn *c)
{
    struct linger lg = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, (const char *)&lg, sizeof lg);
    conn_close(c);
}

/* ---------------------------------------------------------------- responses */

static const char *find(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return hay + i;
    return NULL;
}

const char *header_value(const char *head, const char *name, char *out, size_t size)
{
    size_t k = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, name, k) == 0 && line[k] == ':') {
            const char *v = line + k + 1, *end = strstr(v, "\r\n");
            size_t n;
            while (*v == ' ' || *v == '\t')
                v++;
            if (!end)
                end = v + strlen(v);
            n = (size_t)(end - v) < size - 1 ? (size_t)(end - v) : size - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return out;
        }
    }
    return NULL;
}

int response_head(conn *c, response *r)
{
    enum { MAX_HEAD = 65536 };
    const char *end;
    char value[64], *e;

    memset(r, 0, sizeof *r);
    end = c->len ? find(c->buf, c->len < MAX_HEAD ? c->len : MAX_HEAD, "\r\n\r\n") : NULL;
    if (!end)
        return c->len >= MAX_HEAD ? failed("no end of headers in 64 KiB") : 0;
    r->head_len = (size_t)(end - c->buf) + 4;
    if (!(r->head = malloc(r->head_len - 1)))
        return failed("out of memory");
    memcpy(r->head, c->buf, r->head_len - 2);   /* up to and with the last CRLF */
    r->head[r->head_len - 2] = '\0';
    if (strncmp(r->head, "HTTP/1.", 7) != 0 || strlen(r->head) < 12) {
        failed("bad status line \"%.40s\"", r->head);
        response_free(r);
        return CONN_ERROR;
    }
    r->status = atoi(r->head + 9);
    if (!header_value(r->head, "Content-Length", value, sizeof value)) {
        failed("response %d has no Content-Length", r->status);
        response_free(r);
        return CONN_ERROR;
    }
    r->length = strtoul(value, &e, 10);
    if (*e || !*value || r->length > HTTP_MAX_BIG) {
        failed("bad Content-Length \"%s\"", value);
        response_free(r);
        return CONN_ERROR;
    }
    if (header_value(r->head, "Content-Type", value, sizeof value))
        snprintf(r->content_type, sizeof r->content_type, "%s", value);
    r->closes = header_value(r->head, "Connection", value, sizeof value)
                && strcasecmp(value, "close") == 0;
    return 1;
}

int response_take(conn *c, response *r)
{
    int got = response_head(c, r);
    size_t total;
    if (got <= 0)
        return got;
    total = r->head_len + r->length;
    if (c->len < total) {
        response_free(r);
        return 0;
    }
    if (!(r->body = malloc(r->length + 1))) {
        response_free(r);
        return failed("out of memory for a body of %zu bytes", r->length);
    }
    memcpy(r->body, c->buf + r->head_len, r->length);
    r->body[r->length] = '\0';
    c->len -= total;
    memmove(c->buf, c->buf + total, c->len);
    return 1;
}

int response_read(conn *c, response *r, int timeout_ms)
{
    long long until = now_ms() + timeout_ms;
    int took;
    while ((took = response_take(c, r)) == 0) {
        long left = (long)(until - now_ms()), got;
        if (left <= 0)
            return CONN_TIMEOUT;
        if ((got = conn_fill(c, (size_t)-1, (int)left)) <= 0)
            return (int)got;
    }
    return took;
}

void response_free(response *r)
{
    free(r->head);
    free(r->body);
    r->head = r->body = NULL;
}

int http_get(conn *c, const char *target, const char *extra, response *r, int timeout_ms)
{
    int sent = conn_send_get(c, target, extra, timeout_ms);
    memset(r, 0, sizeof *r);
    return sent < 0 ? sent : response_read(c, r, timeout_ms);
}

/* ---------------------------------------------------------------- /stats JSON */

static const char *json_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    return p;
}

/* Skip one value; return the ',' or '}' after it (or the end of the text). */
static const char *json_skip(const char *p)
{
    int depth = 0;
    for (; *p; p++) {
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\' && p[1])
                    p++;
            if (!*p)
                break;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            if (depth-- == 0)
                break;
        } else if (*p == ',' && depth == 0) {
            break;
        }
    }
    return p;
}

/* The value of member `key` (key_len bytes) of the object at p, or NULL. */
static const char *json_member(const char *p, const char *key, size_t key_len)
{
    p = json_ws(p);
    if (*p++ != '{')
        return NULL;
    for (;;) {
        const char *k, *end;
        p = json_ws(p);
        if (*p != '"')
            return NULL;
        k = p + 1;
        end = strchr(k, '"');
        if (!end)
            return NULL;
        p = json_ws(end + 1);
        if (*p != ':')
            return NULL;
        p = json_ws(p + 1);
        if ((size_t)(end - k) == key_len && memcmp(k, key, key_len) == 0)
            return p;
        p = json_skip(p);
        if (*p++ != ',')
            return NULL;
    }
}

const char *json_path(const char *json, const char *path)
{
    const char *p = json;
    while (p) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        p = json_member(p, path, n);
        if (!dot)
            return p;
        path = dot + 1;
    }
    return NULL;
}

int json_number(const char *json, const char *path, long long *out)
{
    const char *v = json_path(json, path);
    char *end;
    if (!v)
        return -1;
    *out = strtoll(v, &end, 10);
    return end == v ? -1 : 0;
}
