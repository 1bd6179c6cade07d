/* client.c - the clients of the shutdown suite (tests/shutdown/run.sh), where curl and wrk
 * give too little control: when exactly the signal goes, how fast a body is read, when a
 * connection was closed by the server.
 *
 *   shutdown-client -p PORT [-t MS] get PATH [--rate BYTES_PER_S] [--sigint PID]
 *       GET PATH (Connection: close). Prints "HEADERS status=S length=N" once the header
 *       block is in; then, with --sigint, sends SIGINT to PID and prints "SIGNALLED"; then
 *       reads the body, at most BYTES_PER_S bytes a second (until SIGUSR1 arrives: from
 *       then on as fast as it can, so a test can drain what is left once it has seen what it
 *       wanted). Last line:
 *         GET status=S body=GOT/N end=complete|eof|reset|timeout ms=T
 *       (T: ms from the headers to the end). Exit 0 only when the body came whole.
 *   shutdown-client -p PORT [-t MS] idle
 *       Connects, says nothing, waits for the server to close. Prints "CONNECTED", then
 *         IDLE end=eof|reset|timeout ms=T bytes=B   (T from the connect; B bytes received)
 *       Exit 0 when the server closed the connection.
 *   shutdown-client -p PORT [-t MS] slowloris [--interval MS]
 *       Connects and sends a request header one byte every MS (default 300) without ever
 *       ending the header block. Prints "CONNECTED", then
 *         SLOWLORIS end=eof|reset|timeout ms=T sent=S bytes=B
 *       Exit 0 when the server closed the connection.
 *   shutdown-client -p PORT [-t MS] keepalive [--count N] [--interval MS]
 *       N requests (GET /, default 10) on one keep-alive connection, one every MS (default
 *       300), each read whole. Prints "CONNECTED", then "KEEPALIVE served=K/N ms=T" (and
 *       the reason when K < N). Exit 0 when all N were answered with 200.
 *
 * -t MS bounds the whole run (default 20000): nothing here can hang. Native C, POSIX
 * sockets; the server runs under Wine on the same machine, reached over loopback. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
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
#include <sys/socket.h>

static int port;
static long long deadline;               /* now_ms() value at which everything stops */
static volatile sig_atomic_t full_speed; /* SIGUSR1: read as fast as possible */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long long ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR && !full_speed) {
    }
}

static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static _Noreturn void usage(void)
{
    fprintf(stderr, "usage: shutdown-client -p PORT [-t MS] get PATH [--rate B] [--sigint PID]\n"
                    "       shutdown-client -p PORT [-t MS] idle | slowloris [--interval MS] |\n"
                    "                       keepalive [--count N] [--interval MS]\n");
    exit(2);
}

static void on_usr1(int sig) { (void)sig; full_speed = 1; }

static void on_alarm(int sig)
{
    static const char line[] = "TIMEOUT the client's own time limit ran out\n";
    (void)sig;
    if (write(STDOUT_FILENO, line, sizeof line - 1) < 0) {
    }
    _exit(1);
}

static int connect_server(int rcvbuf)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        perror("socket");
        exit(1);
    }
    if (rcvbuf > 0) /* before connect, so the window stays small: a really slow reader */
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        say("CONNECT-FAILED %s", strerror(errno));
        exit(1);
    }
    return fd;
}

/* Wait until fd is readable or ms pass (bounded by the deadline). 1 readable, 0 not. */
static int wait_readable(int fd, long long ms)
{
    long long until = now_ms() + ms;
    if (until > deadline)
        until = deadline;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        long long left = until - now_ms();
        int r;
        if (left < 0)
            left = 0;
        r = poll(&p, 1, (int)left);
        if (r > 0)
            return 1;
        if (r == 0 || (r < 0 && errno != EINTR))
            return 0;
    }
}

/* One recv: >0 bytes, 0 EOF, -1 reset/error, -2 nothing before ms passed. */
static long read_some(int fd, char *buf, size_t len, long long ms)
{
    long n;
    if (!wait_readable(fd, ms))
        return -2;
    do
        n = (long)recv(fd, buf, len, 0);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : n;
}

static const char *end_name(long n)
{
    return n == 0 ? "eof" : n == -1 ? "reset" : "timeout";
}

static int send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Read a response's header block into buf (which keeps any body bytes after it).
 * Returns the header length (through the blank line), or the read_some() code <= 0. */
static long read_headers(int fd, char *buf, size_t cap, size_t *have)
{
    *have = 0;
    for (;;) {
        char *end;
        long n;
        buf[*have] = '\0';
        if ((end = strstr(buf, "\r\n\r\n")) != NULL)
            return (long)(end + 4 - buf);
        if (*have + 1 >= cap)
            return -1;
        n = read_some(fd, buf + *have, cap - 1 - *have, deadline - now_ms());
        if (n <= 0)
            return n;
        *have += (size_t)n;
    }
}

static long long header_num(const char *head, const char *name)
{
    const char *p = head;
    size_t len = strlen(name);
    while ((p = strstr(p, "\r\n")) != NULL) {
        p += 2;
        if (strncasecmp(p, name, len) == 0 && p[len] == ':')
            return atoll(p + len + 1);
    }
    return -1;
}

static int do_get(const char *path, long rate, long sigint_pid)
{
    char head[16384], buf[65536];
    size_t have;
    long hlen, n = 1;
    long long length, got, start, rate_start;
    int status, fd = connect_server(rate > 0 ? 65536 : 0);

    snprintf(buf, sizeof buf, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    if (send_all(fd, buf, strlen(buf)) != 0) {
        say("GET status=0 body=0/0 end=reset ms=0 (the request could not be sent: %s)", strerror(errno));
        return 1;
    }
    hlen = read_headers(fd, head, sizeof head, &have);
    if (hlen <= 0) {
        say("GET status=0 body=0/0 end=%s ms=0 (no header block)", end_name(hlen));
        return 1;
    }
    status = atoi(head + 9);
    length = header_num(head, "Content-Length");
    got = (long long)have - hlen;
    say("HEADERS status=%d length=%lld", status, length);
    start = now_ms();
    if (sigint_pid > 0) {
        if (kill((pid_t)sigint_pid, SIGINT) != 0) {
            say("GET status=%d body=%lld/%lld end=error ms=0 (kill %ld: %s)", status, got, length,
                sigint_pid, strerror(errno));
            return 1;
        }
        say("SIGNALLED");
    }
    rate_start = now_ms();
    while (length < 0 || got < length) {
        size_t want = sizeof buf;
        if (rate > 0 && !full_speed) {
            /* keep the average at `rate`: wait until the budget allows another chunk */
            long long allowed = (now_ms() - rate_start) * rate / 1000 + 4096;
            long long done = got - ((long long)have - hlen);
            if (done >= allowed) {
                sleep_ms((done - allowed) * 1000 / rate + 10);
                if (now_ms() >= deadline) {
                    n = -2;
                    break;
                }
                continue;
            }
            want = 4096;
        }
        if (length >= 0 && (long long)want > length - got)
            want = (size_t)(length - got);
        n = read_some(fd, buf, want, deadline - now_ms());
        if (n <= 0)
            break;
        got += n;
    }
    say("GET status=%d body=%lld/%lld end=%s ms=%lld", status, got, length,
        length >= 0 && got == length ? "complete" : end_name(n), now_ms() - start);
    close(fd);
    return (status == 200 && length >= 0 && got == length) ? 0 : 1;
}

/* Wait for the server to close fd; returns the read_some() code, counts bytes. */
static long wait_closed(int fd, long long *bytes, long long ms)
{
    char buf[4096];
    long n;
    while ((n = read_some(fd, buf, sizeof buf, ms)) > 0)
        *bytes += n;
    return n;
}

static int do_idle(void)
{
    long long bytes = 0, start;
    long n;
    int fd = connect_server(0);
    start = now_ms();
    say("CONNECTED");
    n = wait_closed(fd, &bytes, deadline - now_ms());
    say("IDLE end=%s ms=%lld bytes=%lld", end_name(n), now_ms() - start, bytes);
    close(fd);
    return n == -2;
}

static int do_slowloris(long interval)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\nX-Pad: ";
    char buf[4096];
    long long bytes = 0, start, sent = 0;
    long n = -2;
    int fd = connect_server(0);
    start = now_ms();
    say("CONNECTED");
    while (now_ms() < deadline) {
        char c = sent < (long long)sizeof req - 1 ? req[sent] : 'a';
        if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) { /* EPIPE, ECONNRESET: closed */
            n = -1;
            break;
        }
        sent++;
        /* between two bytes: did the server close (or answer and close)? */
        n = read_some(fd, buf, sizeof buf, interval);
        if (n > 0) {
            bytes += n;
            n = wait_closed(fd, &bytes, deadline - now_ms());
            break;
        }
        if (n != -2)
            break;
    }
    say("SLOWLORIS end=%s ms=%lld sent=%lld bytes=%lld", end_name(n), now_ms() - start, sent, bytes);
    close(fd);
    return n == -2;
}

static int do_keepalive(int count, long interval)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    char head[16384], buf[65536];
    long long start;
    int fd = connect_server(0), k;
    start = now_ms();
    say("CONNECTED");
    for (k = 0; k < count; k++) {
        size_t have;
        long hlen, n;
        long long length, got;
        if (k > 0)
            sleep_ms(interval);
        if (send_all(fd, req, sizeof req - 1) != 0) {
            say("KEEPALIVE served=%d/%d ms=%lld (request %d could not be sent: %s)", k, count,
                now_ms() - start, k + 1, strerror(errno));
            return 1;
        }
        hlen = read_headers(fd, head, sizeof head, &have);
        if (hlen <= 0 || atoi(head + 9) != 200) {
            say("KEEPALIVE served=%d/%d ms=%lld (request %d: %s)", k, count, now_ms() - start, k + 1,
                hlen <= 0 ? end_name(hlen) : "status is not 200");
            return 1;
        }
        length = header_num(head, "Content-Length");
        got = (long long)have - hlen;
        while (got < length) {
            n = read_some(fd, buf, sizeof buf, deadline - now_ms());
            if (n <= 0) {
                say("KEEPALIVE served=%d/%d ms=%lld (request %d: body %s)", k, count,
                    now_ms() - start, k + 1, end_name(n));
                return 1;
            }
            got += n;
        }
    }
    say("KEEPALIVE served=%d/%d ms=%lld", count, count, now_ms() - start);
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    long timeout = 20000, rate = 0, sigint_pid = 0, interval = 300;
    int count = 10, i = 1;
    const char *mode, *path = NULL;

    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGUSR1, on_usr1);
    signal(SIGALRM, on_alarm);
    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        if (strcmp(argv[i], "-p") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-t") == 0)
            timeout = atol(argv[i + 1]);
        else
            usage();
    }
    if (i >= argc || port <= 0 || timeout <= 0)
        usage();
    mode = argv[i++];
    if (strcmp(mode, "get") == 0) {
        if (i >= argc)
            usage();
        path = argv[i++];
    }
    for (; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--rate") == 0)
            rate = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--sigint") == 0)
            sigint_pid = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--interval") == 0)
            interval = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--count") == 0)
            count = atoi(argv[i + 1]);
        else
            usage();
    }
    if (i != argc)
        usage();
    deadline = now_ms() + timeout;
    alarm((unsigned)(timeout / 1000 + 5)); /* the safety net behind every bounded wait */

    if (strcmp(mode, "get") == 0)
        return do_get(path, rate, sigint_pid);
    if (strcmp(mode, "idle") == 0)
        return do_idle();
    if (strcmp(mode, "slowloris") == 0)
        return do_slowloris(interval);
    if (strcmp(mode, "keepalive") == 0)
        return do_keepalive(count, interval);
    usage();
}
