/* scenarios.c - end-to-end scenarios against a running stage server.
 *
 *   scenarios -p PORT NAME                 run one scenario
 *   scenarios -p PORT ledger-zero [--expect-accepted N]
 *   scenarios --list                       the scenarios and what each checks
 *
 * Built natively (POSIX sockets); the server runs under Wine on the same machine and
 * is reached over loopback. Each run prints one line and exits with its result:
 *
 *   PASS  NAME conns=N[: detail]       exit 0  served correctly
 *   STALL NAME conns=N: detail         exit 3  the stage's limitation was observed: a
 *                                              waiting client got nothing in the window,
 *                                              and was served once the blocker let go
 *   FAIL  NAME conns=N: reason         exit 1  wrong answer, closed, timed out, ...
 *
 * conns=N is how many connections the scenario opened: the runner checks that the
 * server's "accepted" counter grew by exactly that much.
 *
 * Nothing here can hang: every socket is non-blocking and every wait is a poll() bounded
 * by the scenario's deadline; alarm() is the safety net behind that. A helper that sees
 * a wrong answer ends the run with FAIL on the spot, like an assertion.
 *
 * To add a scenario: write a function `static void name(const void *arg)` from the
 * helpers below and add a row to the table at the end. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include "http.h"   /* limits and http_big_pattern() */

enum { R_PASS = 0, R_FAIL = 1, R_USAGE = 2, R_STALL = 3 };

#define SCENARIO_MS   30000   /* a whole scenario */
#define CONNECT_MS     5000
#define SEND_MS       10000   /* a send that cannot make progress this long fails */
#define REPLY_MS      10000   /* an ordinary response */
#define BIG_REPLY_MS  20000   /* /big of several MiB */
#define CLOSE_MS       5000   /* the server closes after an error response */

/* ---------------------------------------------------------------- results and time */

static unsigned short port;
static const char *scenario_name = "?";
static volatile sig_atomic_t conns_opened;   /* read by the alarm handler too */
static long long deadline;                  /* now_ms() at which the scenario fails */
static long long expect_accepted = -1;      /* ledger-zero --expect-accepted */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Print the one result line and exit. */
__attribute__((format(printf, 2, 3)))
static _Noreturn void finish(int result, const char *fmt, ...)
{
    static const char *const words[] = {"PASS", "FAIL", "USAGE", "STALL"};
    printf("%s %s conns=%d", words[result], scenario_name, (int)conns_opened);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        fputs(": ", stdout);
        vprintf(fmt, ap);
        va_end(ap);
    }
    putchar('\n');
    fflush(stdout);
    exit(result);
}

#define FAIL(...) finish(R_FAIL, __VA_ARGS__)

/* The safety net: only async-signal-safe calls here, so the line is built by hand. */
static void on_alarm(int sig)
{
    char line[160], digits[12];
    int n = 0, d = 0, c = conns_opened;
    (void)sig;
    do digits[d++] = (char)('0' + c % 10); while ((c /= 10) > 0 && d < 11);
    for (const char *s = "FAIL "; *s; s++) line[n++] = *s;
    for (const char *s = scenario_name; *s && n < 100; s++) line[n++] = *s;
    for (const char *s = " conns="; *s; s++) line[n++] = *s;
    while (d > 0) line[n++] = digits[--d];
    for (const char *s = ": safety alarm: a wait was not bounded\n"; *s; s++) line[n++] = *s;
    if (write(STDOUT_FILENO, line, (size_t)n) < 0) {
        /* nothing more to do */
    }
    _exit(R_FAIL);
}

/* Milliseconds to wait: `want`, cut to what is left of the scenario; FAIL past it. */
static int time_left(int want)
{
    long long left = deadline - now_ms();
    if (left <= 0)
        FAIL("scenario deadline (%d s) passed", SCENARIO_MS / 1000);
    return left < want ? (int)left : want;
}

/* ---------------------------------------------------------------- connections */

typedef struct conn {
    int    fd;
    char   name[8];    /* "A", "B", ...: for messages */
    char  *buf;        /* received bytes not yet taken as a response */
    size_t len, cap;
} conn;

/* Wait until fd is ready for `events`; 1 ready, 0 timed out. */
static int wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd p = {fd, events, 0};
    long long until = now_ms() + timeout_ms;
    for (;;) {
        int left = (int)(until - now_ms()), r;
        r = poll(&p, 1, left > 0 ? left : 0);
        if (r >= 0)
            return r > 0;
        if (errno != EINTR)
            FAIL("poll: %s", strerror(errno));
    }
}

/* A new non-blocking loopback connection to the server, named for messages. */
static conn conn_open(const char *name)
{
    conn c = {-1, "", NULL, 0, 0};
    struct sockaddr_in sa;
    int one = 1, err = 0;
    socklen_t errlen = sizeof err;

    snprintf(c.name, sizeof c.name, "%s", name);
    c.fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c.fd < 0)
        FAIL("socket: %s", strerror(errno));
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  /* each write a segment */
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    conns_opened++;
    if (connect(c.fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (errno != EINPROGRESS)
            FAIL("%s: connect: %s", c.name, strerror(errno));
        if (!wait_fd(c.fd, POLLOUT, time_left(CONNECT_MS)))
            FAIL("%s: connect timed out", c.name);
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &errlen);
        if (err)
            FAIL("%s: connect: %s", c.name, strerror(err));
    }
    return c;
}

/* Send all n bytes (FAIL if the server takes none for SEND_MS). */
static void conn_send(conn *c, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL);
        if (r > 0) {
            p += r;
            n -= (size_t)r;
        } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!wait_fd(c->fd, POLLOUT, time_left(SEND_MS)))
                FAIL("%s: send made no progress for %d s", c->name, SEND_MS / 1000);
        } else if (r < 0 && errno != EINTR) {
            FAIL("%s: send: %s", c->name, strerror(errno));
        }
    }
}

static void conn_send_str(conn *c, const char *s)
{
    conn_send(c, s, strlen(s));
}

/* Send n bytes in pieces of `piece` bytes with a pause after each: a request that
 * reaches the server in many reads. */
static void conn_send_slowly(conn *c, const void *data, size_t n, size_t piece, int pause_ms)
{
    const char *p = data;
    while (n > 0) {
        size_t k = n < piece ? n : piece;
        conn_send(c, p, k);
        p += k;
        n -= k;
        sleep_ms(pause_ms);
    }
}

/* Read once into c->buf. Returns bytes read, 0 on EOF or reset by the server, -1 when
 * nothing came within timeout_ms. */
static long conn_fill(conn *c, int timeout_ms)
{
    if (c->cap - c->len < 16384) {
        c->cap = c->cap ? c->cap * 2 : 65536;
        c->buf = realloc(c->buf, c->cap + 1);   /* +1: room for a NUL */
        if (!c->buf)
            FAIL("out of memory");
    }
    for (;;) {
        ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (r >= 0) {
            c->len += (size_t)r;
            return (long)r;
        }
        if (errno == ECONNRESET)
            return 0;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (!wait_fd(c->fd, POLLIN, timeout_ms))
                return -1;
        } else if (errno != EINTR) {
            FAIL("%s: recv: %s", c->name, strerror(errno));
        }
    }
}

static void conn_close(conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
    c->fd = -1;
    c->buf = NULL;
    c->len = c->cap = 0;
}

/* Close with a reset (RST) instead of an orderly FIN: SO_LINGER with a zero timeout. */
static void conn_reset(conn *c)
{
    struct linger lg = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    conn_close(c);
}

/* ---------------------------------------------------------------- HTTP responses */

typedef struct response {
    int    status;
    char   content_type[64];
    int    closes;            /* "Connection: close" */
    size_t length;            /* Content-Length */
    char  *body;              /* length bytes, NUL-terminated, malloc'd */
} response;

static const char *find(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return hay + i;
    return NULL;
}

/* The value of header `name` in a header block (NUL-terminated copy), or NULL. */
static const char *header_value(const char *head, const char *name, char *out, size_t size)
{
    size_t k = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, name, k) == 0 && line[k] == ':') {
            const char *v = line + k + 1, *end = strstr(v, "\r\n");
            size_t n;
            while (*v == ' ' || *v == '\t')
                v++;
            n = (size_t)(end - v) < size - 1 ? (size_t)(end - v) : size - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return out;
        }
    }
    return NULL;
}

/* Read one whole response (status line, headers, Content-Length body) from c.
 * Returns 1 with *r filled, 0 if it was not all there within timeout_ms (what did
 * arrive stays buffered, so a later call picks up where this one stopped).
 * FAIL on a malformed response or when the server closes in the middle of one. */
static int read_response(conn *c, response *r, int timeout_ms)
{
    static char head[65536 + 1];   /* a copy of the header block, as a string */
    long long until = now_ms() + timeout_ms;
    size_t head_len = 0;
    char value[64];

    memset(r, 0, sizeof *r);
    for (;;) {
        if (!head_len && c->len) {
            const char *end = find(c->buf, c->len < 65536 ? c->len : 65536, "\r\n\r\n");
            if (end) {
                char *e;
                head_len = (size_t)(end - c->buf) + 4;
                memcpy(head, c->buf, head_len - 2);   /* up to and with the last CRLF */
                head[head_len - 2] = '\0';
                if (strncmp(head, "HTTP/1.", 7) != 0 || strlen(head) < 12)
                    FAIL("%s: bad status line \"%.40s\"", c->name, head);
                r->status = atoi(head + 9);
                if (!header_value(head, "Content-Length", value, sizeof value))
                    FAIL("%s: response %d has no Content-Length", c->name, r->status);
                r->length = strtoul(value, &e, 10);
                if (*e || !*value || r->length > HTTP_MAX_BIG)
                    FAIL("%s: bad Content-Length \"%s\"", c->name, value);
                if (header_value(head, "Content-Type", value, sizeof value))
                    snprintf(r->content_type, sizeof r->content_type, "%s", value);
                r->closes = header_value(head, "Connection", value, sizeof value)
                            && strcasecmp(value, "close") == 0;
            } else if (c->len >= 65536) {
                FAIL("%s: no end of headers in 64 KiB", c->name);
            }
        }
        if (head_len && c->len >= head_len + r->length)
            break;
        long left = (long)(until - now_ms()), got;
        if (left <= 0)
            return 0;
        got = conn_fill(c, time_left((int)left));
        if (got == 0)
            FAIL("%s: server closed the connection %s", c->name,
                 c->len ? "in the middle of a response" : "without a response");
        if (got < 0)
            return 0;
    }
    r->body = malloc(r->length + 1);
    if (!r->body)
        FAIL("out of memory");
    memcpy(r->body, c->buf + head_len, r->length);
    r->body[r->length] = '\0';
    c->len -= head_len + r->length;
    memmove(c->buf, c->buf + head_len + r->length, c->len);
    return 1;
}

/* A response that must arrive within timeout_ms, with the given status. */
static response expect_response(conn *c, int status, int timeout_ms)
{
    response r;
    if (!read_response(c, &r, time_left(timeout_ms)))
        FAIL("%s: no whole response within %d ms", c->name, timeout_ms);
    if (r.status != status)
        FAIL("%s: status %d, expected %d (%.60s)", c->name, r.status, status, r.body);
    return r;
}

static void response_free(response *r)
{
    free(r->body);
    r->body = NULL;
}

/* The server must close now: EOF (or a reset) with no further bytes. */
static void expect_close(conn *c)
{
    for (;;) {
        long got;
        if (c->len)
            FAIL("%s: %zu unexpected bytes after the response", c->name, c->len);
        got = conn_fill(c, time_left(CLOSE_MS));
        if (got == 0)
            return;
        if (got < 0)
            FAIL("%s: the server did not close the connection within %d ms", c->name, CLOSE_MS);
    }
}

/* Send "GET target" (HTTP/1.1, keep-alive unless `extra` says otherwise). */
static void send_get(conn *c, const char *target, const char *extra)
{
    char req[512];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", target,
             extra ? extra : "");
    conn_send_str(c, req);
}

/* GET on a keep-alive connection: 200, and the connection stays open. */
static response get(conn *c, const char *target)
{
    response r;
    send_get(c, target, NULL);
    r = expect_response(c, 200, REPLY_MS);
    if (r.closes)
        FAIL("%s: GET %s answered with Connection: close", c->name, target);
    return r;
}

/* The body of a /big?bytes=n response must be exactly the pattern. */
static void check_big(const conn *c, const response *r, size_t n)
{
    char expect[65536];
    if (r->length != n)
        FAIL("%s: /big?bytes=%zu sent %zu bytes", c->name, n, r->length);
    for (size_t off = 0; off < n; off += sizeof expect) {
        size_t k = n - off < sizeof expect ? n - off : sizeof expect;
        http_big_pattern(expect, off, k);
        if (memcmp(expect, r->body + off, k) != 0) {
            size_t i = off;
            while (r->body[i] == expect[i - off])
                i++;
            FAIL("%s: /big?bytes=%zu differs from the pattern at byte %zu", c->name, n, i);
        }
    }
}

/* GET /big?bytes=n and check the pattern. */
static void get_big(conn *c, size_t n)
{
    char target[64];
    response r;
    snprintf(target, sizeof target, "/big?bytes=%zu", n);
    send_get(c, target, NULL);
    r = expect_response(c, 200, BIG_REPLY_MS);
    check_big(c, &r, n);
    response_free(&r);
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

/* The value at a dotted path ("accepted", "recv.pending"), or NULL. */
static const char *json_path(const char *json, const char *path)
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

/* A number from the /stats JSON; FAIL when it is missing or not a number. */
static long long stat_num(const char *json, const char *path)
{
    const char *v = json_path(json, path);
    char *end;
    long long n;
    if (!v)
        FAIL("/stats has no \"%s\": %s", path, json);
    n = strtoll(v, &end, 10);
    if (end == v)
        FAIL("/stats \"%s\" is not a number: %s", path, json);
    return n;
}

/* The "stage" string from the /stats JSON. */
static void stat_stage(const char *json, char *out, size_t size)
{
    const char *v = json_path(json, "stage"), *end;
    if (!v || *v != '"' || !(end = strchr(v + 1, '"')) || end == v + 1)
        FAIL("/stats has no \"stage\" string: %s", json);
    snprintf(out, size, "%.*s", (int)(end - v - 1), v + 1);
}

/* GET /stats on c: the JSON text (caller frees). */
static char *get_stats(conn *c)
{
    response r = get(c, "/stats");
    if (strncmp(r.content_type, "application/json", 16) != 0)
        FAIL("/stats Content-Type is \"%s\"", r.content_type);
    return r.body;
}

/* ---------------------------------------------------------------- scenarios */

/* GET /, then /favicon.ico on the same connection, as a browser does. */
static void page_favicon(const void *arg)
{
    conn c = conn_open("A");
    char *stats = get_stats(&c), stage[64];
    response page, icon;
    (void)arg;

    stat_stage(stats, stage, sizeof stage);
    page = get(&c, "/");
    if (strncmp(page.content_type, "text/html", 9) != 0)
        FAIL("page Content-Type is \"%s\"", page.content_type);
    if (!strstr(page.body, stage))
        FAIL("page does not name the stage \"%s\"", stage);
    icon = get(&c, "/favicon.ico");
    if (strcmp(icon.content_type, "image/x-icon") != 0)
        FAIL("favicon Content-Type is \"%s\"", icon.content_type);
    if (icon.length < 4 || memcmp(icon.body, "\0\0\1\0", 4) != 0)
        FAIL("favicon does not start with the .ico header 00 00 01 00");
    free(stats);
    response_free(&page);
    response_free(&icon);
    conn_close(&c);
}

/* /stats has every ledger key, its sums agree, and it counts our own traffic. */
static void stats_json(const void *arg)
{
    static const char *const keys[] = {"accepted", "live_connections", "requests", "bytes_in",
                                       "bytes_out", "buffer_bytes", "pending_ops"};
    static const char *const kinds[] = {"recv", "send", "accept"};
    conn c = conn_open("A");
    char *s1 = get_stats(&c), *s2 = get_stats(&c), stage[64], path[32];
    long long pending_sum = 0;
    (void)arg;

    stat_stage(s1, stage, sizeof stage);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        stat_num(s1, keys[i]);
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        long long n[4];
        static const char *const fields[] = {"posted", "completed", "failed", "pending"};
        for (int f = 0; f < 4; f++) {
            snprintf(path, sizeof path, "%s.%s", kinds[i], fields[f]);
            n[f] = stat_num(s1, path);
        }
        if (n[3] != n[0] - n[1] - n[2])
            FAIL("%s: pending != posted - completed - failed: %s", kinds[i], s1);
        pending_sum += n[3];
    }
    if (stat_num(s1, "pending_ops") != pending_sum)
        FAIL("pending_ops is not the sum of the pending counts: %s", s1);
    if (stat_num(s1, "live_connections") < 1 ||
        stat_num(s1, "accepted") < stat_num(s1, "live_connections"))
        FAIL("live_connections must be >= 1 and <= accepted: %s", s1);
    if (stat_num(s2, "requests") <= stat_num(s1, "requests") ||
        stat_num(s2, "bytes_in") <= stat_num(s1, "bytes_in") ||
        stat_num(s2, "bytes_out") <= stat_num(s1, "bytes_out"))
        FAIL("a second /stats did not count more requests, bytes_in, bytes_out: %s then %s", s1, s2);
    free(s1);
    free(s2);
    conn_close(&c);
}

/* 100 requests, one after the other, on one keep-alive connection. */
static void keep_alive_100(const void *arg)
{
    static const char *const targets[] = {"/", "/favicon.ico", "/stats"};
    conn c = conn_open("A");
    (void)arg;
    for (int i = 0; i < 100; i++) {
        if (i % 4 == 3) {
            get_big(&c, (size_t)i * 37);
        } else {
            response r = get(&c, targets[i % 4]);
            response_free(&r);
        }
    }
    conn_close(&c);
}

/* 20 requests in one write; 20 responses in order (each /big has its own length). The
 * last request says Connection: close, and the server must close after answering it. */
static void pipeline_20(const void *arg)
{
    enum { N = 20 };
    static char reqs[N * 128];
    size_t len = 0, sizes[N];
    conn c = conn_open("A");
    (void)arg;

    for (int i = 0; i < N; i++) {
        sizes[i] = 100 + (size_t)i * 613;
        len += (size_t)snprintf(reqs + len, sizeof reqs - len,
                                "GET /big?bytes=%zu HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n",
                                sizes[i], i == N - 1 ? "Connection: close\r\n" : "");
    }
    conn_send(&c, reqs, len);
    for (int i = 0; i < N; i++) {
        response r = expect_response(&c, 200, REPLY_MS);
        check_big(&c, &r, sizes[i]);
        if (r.closes != (i == N - 1))
            FAIL("response %d %s Connection: close", i + 1, r.closes ? "has" : "lacks");
        response_free(&r);
    }
    expect_close(&c);
    conn_close(&c);
}

/* A request arriving one byte per write: the server must frame it across many reads. */
static void byte_by_byte(const void *arg)
{
    const char *req = "GET /big?bytes=4242 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: byte-by-byte\r\n\r\n";
    conn c = conn_open("A");
    response r;
    (void)arg;
    conn_send_slowly(&c, req, strlen(req), 1, 2);
    r = expect_response(&c, 200, REPLY_MS);
    check_big(&c, &r, 4242);
    response_free(&r);
    conn_close(&c);
}

/* POST /echo whose headers and body arrive in pieces; the echo must be exact, and the
 * next request on the connection must be framed right after the body. */
static void echo_split(const void *arg)
{
    enum { BODY = 100000 };
    static char req[BODY + 256];
    conn c = conn_open("A");
    response r;
    int head;
    (void)arg;

    head = snprintf(req, sizeof req,
                    "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n", BODY);
    for (int i = 0; i < BODY; i++)
        req[head + i] = (char)(i * 7 + i / 251);   /* all byte values, NULs and CRLFs too */
    conn_send_slowly(&c, req, (size_t)head, (size_t)head / 2 + 1, 50);   /* headers in 2 */
    conn_send_slowly(&c, req + head, BODY, BODY / 5 + 1, 50);            /* body in 5 */
    r = expect_response(&c, 200, REPLY_MS);
    if (r.length != BODY || memcmp(r.body, req + head, BODY) != 0)
        FAIL("echo of %d bytes came back as %zu different bytes", BODY, r.length);
    response_free(&r);
    get_big(&c, 10);
    conn_close(&c);
}

/* 8 MiB read whole and checked byte for byte. */
static void big_8m(const void *arg)
{
    conn c = conn_open("A");
    (void)arg;
    get_big(&c, 8u * 1024 * 1024);
    conn_close(&c);
}

/* Request, then shutdown(SHUT_WR): the response must still arrive, then EOF. */
static void half_close(const void *arg)
{
    conn c = conn_open("A");
    response r;
    (void)arg;
    send_get(&c, "/big?bytes=1000", NULL);
    shutdown(c.fd, SHUT_WR);
    r = expect_response(&c, 200, REPLY_MS);
    check_big(&c, &r, 1000);
    response_free(&r);
    expect_close(&c);
    conn_close(&c);
}

/* Bad input: the status, Connection: close, and the server closes. The request is
 * head + pad bytes of 'a' + tail (pad makes a header block too large). */
typedef struct bad_case {
    int         status;
    const char *head;
    size_t      pad;
    const char *tail;
} bad_case;

static const bad_case bad_400 = {400, "HELLO\r\n\r\n", 0, ""};
static const bad_case bad_404 = {404, "GET /no-such-page HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 0, ""};
static const bad_case bad_405 = {405, "DELETE / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 0, ""};
/* Only the headers: the server must refuse on Content-Length, not wait for the body. */
static const bad_case bad_413 = {413, "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1048577\r\n\r\n", 0, ""};
/* Just over 8 KiB of headers and no blank line: decided as soon as the limit is passed. */
static const bad_case bad_431 = {431, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ", HTTP_MAX_HEADER, "\r\n"};
static const bad_case bad_501 = {501, "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n", 0, ""};
static const bad_case bad_505 = {505, "GET / HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n", 0, ""};

static void bad_input(const void *arg)
{
    const bad_case *b = arg;
    size_t hl = strlen(b->head), tl = strlen(b->tail), n = hl + b->pad + tl;
    char *req = malloc(n);
    conn c = conn_open("A");
    response r;

    if (!req)
        FAIL("out of memory");
    memcpy(req, b->head, hl);
    memset(req + hl, 'a', b->pad);
    memcpy(req + hl + b->pad, b->tail, tl);
    conn_send(&c, req, n);
    r = expect_response(&c, b->status, REPLY_MS);
    if (!r.closes)
        FAIL("error %d without Connection: close", r.status);
    response_free(&r);
    expect_close(&c);
    conn_close(&c);
    free(req);
}

/* Half a request, then a reset: the server must drop that connection and go on. */
static void reset_mid_request(const void *arg)
{
    conn a = conn_open("A"), b;
    response r;
    (void)arg;
    conn_send_str(&a, "GET /big?bytes=100 HTTP/1.1\r\nHost: 12");
    sleep_ms(200);
    conn_reset(&a);
    b = conn_open("B");
    r = get(&b, "/");
    response_free(&r);
    conn_close(&b);
}

/* The client resets while the response is on its way: 8 MiB asked, 64 KiB read, RST. */
static void reset_mid_response(const void *arg)
{
    conn a = conn_open("A"), b;
    response r;
    (void)arg;
    send_get(&a, "/big?bytes=8388608", NULL);
    while (a.len < 65536)
        if (conn_fill(&a, time_left(REPLY_MS)) <= 0)
            FAIL("A: less than 64 KiB of /big?bytes=8388608 came");
    conn_reset(&a);
    b = conn_open("B");
    r = get(&b, "/");
    response_free(&r);
    conn_close(&b);
}

/* The limitation tests. Client A does something a weak stage lets block the whole
 * server; then client B asks for the page. B answered within the window: PASS. Not
 * answered: STALL, provided B is answered once A lets go (else the server is broken). */
typedef struct blocker {
    const char *request;     /* what A sends */
    int reply_before_b;      /* A reads its reply first (and then holds the connection) */
    int reply_at_release;    /* A reads its reply when it lets go */
    int reset_at_release;    /* A lets go with RST (else an orderly close) */
    int delay_ms;            /* between A's request and B's */
    int window_ms;           /* B must be answered within this to PASS */
} blocker;

/* A keeps an idle keep-alive connection: 01 serves one connection at a time. */
static const blocker idle_blocker = {"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 1, 0, 0, 100, 2000};
/* A asks for 64 MiB and reads none of it: 02 sends with a blocking send() from its worker. */
static const blocker big_unread_blocker = {"GET /big?bytes=67108864 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                                           0, 0, 1, 300, 2000};
/* A's handler sleeps 2 s: 03 has one worker thread. */
static const blocker sleep_blocker = {"GET /sleep?ms=2000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 0, 1, 0, 200, 1000};

static void blocks_others(const void *arg)
{
    const blocker *k = arg;
    conn a = conn_open("A"), b;
    response r;
    long long t0, waited;
    int served;

    conn_send_str(&a, k->request);
    if (k->reply_before_b) {
        r = expect_response(&a, 200, REPLY_MS);
        response_free(&r);
    }
    sleep_ms(k->delay_ms);

    b = conn_open("B");
    send_get(&b, "/", NULL);
    t0 = now_ms();
    served = read_response(&b, &r, time_left(k->window_ms));
    waited = now_ms() - t0;

    if (k->reply_at_release) {
        response ra = expect_response(&a, 200, REPLY_MS);
        response_free(&ra);
    }
    if (k->reset_at_release)
        conn_reset(&a);
    else
        conn_close(&a);

    if (served) {
        if (r.status != 200)
            FAIL("B: status %d", r.status);
        response_free(&r);
        conn_close(&b);
        finish(R_PASS, "B answered in %lld ms", waited);
    }
    t0 = now_ms();
    r = expect_response(&b, 200, 5000);   /* a stall must end when A lets go */
    response_free(&r);
    conn_close(&b);
    finish(R_STALL, "B not answered within %d ms; answered %lld ms after A let go",
           k->window_ms, now_ms() - t0);
}

/* The ledger check, run after every scenario: fresh connections GET /stats (with
 * Connection: close) until the server holds only that one connection and at most its
 * own read pending, for up to 10 s. With --expect-accepted N, "accepted" must also read
 * N plus the probes made so far. The detail shows "accepted" for the next check. */
static void ledger_zero(const void *arg)
{
    long long start = now_ms();
    (void)arg;

    for (int probe = 1;; probe++) {
        conn c = conn_open("probe");
        response r;
        long long accepted, live, pending, want;

        send_get(&c, "/stats", "Connection: close\r\n");
        r = expect_response(&c, 200, REPLY_MS);
        conn_close(&c);
        accepted = stat_num(r.body, "accepted");
        live = stat_num(r.body, "live_connections");
        pending = stat_num(r.body, "recv.pending") + stat_num(r.body, "send.pending");
        want = expect_accepted >= 0 ? expect_accepted + probe : accepted;
        if (accepted > want)
            FAIL("accepted=%lld, %lld more connections than were opened: %s", accepted,
                 accepted - want, r.body);
        if (live == 1 && pending <= 1 && accepted == want)
            finish(R_PASS, "accepted=%lld", accepted);
        if (now_ms() - start > 10000)
            FAIL("accepted=%lld (want %lld), live_connections=%lld (want 1), recv+send "
                 "pending=%lld (want <= 1) after 10 s: %s", accepted, want, live, pending, r.body);
        response_free(&r);
        sleep_ms(200);
    }
}

typedef struct scenario {
    const char *name;
    const char *what;
    void (*run)(const void *arg);
    const void *arg;
} scenario;

static const scenario scenarios[] = {
    {"page-favicon", "GET / then /favicon.ico on one keep-alive connection", page_favicon, NULL},
    {"stats-json", "/stats has the ledger keys, consistent, counting our requests", stats_json, NULL},
    {"keep-alive-100", "100 requests one after another on one connection", keep_alive_100, NULL},
    {"pipeline-20", "20 requests in one write, answered in order, last one closes", pipeline_20, NULL},
    {"byte-by-byte", "a request sent one byte per write", byte_by_byte, NULL},
    {"echo-split", "POST /echo, headers and body in pieces with pauses", echo_split, NULL},
    {"big-8m", "GET /big of 8 MiB, checked byte for byte", big_8m, NULL},
    {"half-close", "request then shutdown(SHUT_WR): response, then EOF", half_close, NULL},
    {"bad-400", "malformed request line: 400 and close", bad_input, &bad_400},
    {"bad-404", "unknown path: 404 and close", bad_input, &bad_404},
    {"bad-405", "method the path does not take: 405 and close", bad_input, &bad_405},
    {"bad-413", "Content-Length over 1 MiB: 413 and close", bad_input, &bad_413},
    {"bad-431", "header block over 8 KiB: 431 and close", bad_input, &bad_431},
    {"bad-501", "Transfer-Encoding: 501 and close", bad_input, &bad_501},
    {"bad-505", "HTTP/2.0 request line: 505 and close", bad_input, &bad_505},
    {"reset-mid-request", "half a request then RST; a new connection is served", reset_mid_request, NULL},
    {"reset-mid-response", "8 MiB asked, 64 KiB read, then RST; a new connection is served", reset_mid_response, NULL},
    {"idle-blocks-others", "A holds an idle keep-alive connection; B within 2 s?", blocks_others, &idle_blocker},
    {"big-unread-blocks-others", "A does not read 64 MiB; B within 2 s?", blocks_others, &big_unread_blocker},
    {"sleep-blocks-others", "A's /sleep?ms=2000 runs; B within 1 s?", blocks_others, &sleep_blocker},
    {"ledger-zero", "the ledger check: only the probe's connection left, no I/O pending", ledger_zero, NULL},
};

static int usage(void)
{
    fprintf(stderr, "usage: scenarios -p PORT NAME [--expect-accepted N]\n"
                    "       scenarios --list\n");
    return R_USAGE;
}

int main(int argc, char **argv)
{
    const scenario *s = NULL;
    const char *name = NULL;
    size_t count = sizeof scenarios / sizeof scenarios[0];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--list") == 0) {
            for (size_t j = 0; j < count; j++)
                printf("%-26s %s\n", scenarios[j].name, scenarios[j].what);
            return 0;
        } else if (strcmp(argv[i], "-p") == 0 && i + 1 < argc) {
            port = (unsigned short)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--expect-accepted") == 0 && i + 1 < argc) {
            expect_accepted = atoll(argv[++i]);
        } else if (argv[i][0] != '-' && !name) {
            name = argv[i];
        } else {
            return usage();
        }
    }
    if (!port || !name)
        return usage();
    for (size_t j = 0; j < count; j++)
        if (strcmp(scenarios[j].name, name) == 0)
            s = &scenarios[j];
    if (!s) {
        fprintf(stderr, "scenarios: no scenario \"%s\" (see --list)\n", name);
        return R_USAGE;
    }

    scenario_name = s->name;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    deadline = now_ms() + SCENARIO_MS;
    alarm(SCENARIO_MS / 1000 + 15);
    s->run(s->arg);
    finish(R_PASS, NULL);
}
