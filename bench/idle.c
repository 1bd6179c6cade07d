/* idle.c - the bench's idle-connection client (native Linux; the server runs under Wine).
 *
 *   idle -p PORT -n N [-w WINDOW] [-s SAMPLES] [--pid PID] [--timeout-s S]
 *
 * What wrk cannot do: hold N connections open and silent, and meanwhile time new requests.
 *  1. A keep-alive connection asks GET /stats: the baseline (accepted, buffer_bytes) and,
 *     with --pid, the server process's memory from /proc/PID/status (VmRSS, RssAnon).
 *  2. N connections are opened at once (at most WINDOW more than the server has accepted,
 *     so none waits for a SYN retry behind a full listen backlog) and /stats is polled
 *     every few ms until "accepted" has grown by N: the accept rate is N / that time.
 *  3. "idle": the ledger and the memory again, so per idle connection = growth / N.
 *  4. SAMPLES new requests one after another, each on a new connection (connect,
 *     GET / with Connection: close, read to the server's close): their p50/p99/max.
 *  5. "used": every idle connection sends one keep-alive GET / and reads the response,
 *     then is silent again; the ledger and memory a third time.
 *  6. Everything is closed; the ledger's live_connections should come back to the baseline.
 * Output: one `key=value` line per figure (sizes in bytes, times in microseconds), for
 * bench/run.sh. Every wait is bounded; exit status 1 when the server stops answering. */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define STATS_POLL_MS 5
#define PROBE_MS      5000   /* one new request at most */
#define SETTLE_MS     300    /* let the server finish posting before the ledger is read */

static struct sockaddr_in server;
static int proc_pid;         /* 0: no memory figures */
static long long deadline;   /* now_us() at which the whole run gives up */

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static _Noreturn void die(const char *what)
{
    printf("error=%s\n", what);
    fflush(stdout);
    exit(1);
}

/* A non-blocking socket with its connect started; -1 and errno on failure. */
static int connect_start(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&server, sizeof server) != 0 && errno != EINPROGRESS) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* Wait for fd to be ready for events until the absolute time `until`; 1 ready, 0 not. */
static int wait_fd(int fd, short events, long long until)
{
    for (;;) {
        long long left = until - now_us();
        struct pollfd p = {fd, events, 0};
        int n;
        if (left <= 0)
            return 0;
        n = poll(&p, 1, (int)((left + 999) / 1000));
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return 0;
    }
}

static int send_all(int fd, const char *p, size_t n, long long until)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
        } else if (k < 0 && errno == EAGAIN) {
            if (!wait_fd(fd, POLLOUT, until))
                return -1;
        } else if (k < 0 && errno != EINTR) {
            return -1;
        }
    }
    return 0;
}

/* Bytes of a whole response at the front of buf[0..len), or 0 when more must come. */
static size_t response_size(const char *buf, size_t len)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    const char *cl;
    size_t head, body = 0;
    if (end == NULL)
        return 0;
    head = (size_t)(end - buf) + 4;
    cl = memmem(buf, head, "Content-Length:", 15);
    if (cl != NULL)
        body = strtoul(cl + 15, NULL, 10);
    return len >= head + body ? head + body : 0;
}

/* ------------------------------------------------------------------ the ledger */

static int stats_fd = -1;

typedef struct snapshot {
    long long accepted, live, buffer_bytes;  /* from /stats */
    long long rss, anon;                     /* bytes, from /proc/PID/status; -1 unknown */
} snapshot;

static long long json_num(const char *json, const char *key)
{
    char pattern[64];
    const char *p;
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    p = strstr(json, pattern);
    return p ? strtoll(p + strlen(pattern), NULL, 10) : -1;
}

static long long proc_kb(const char *field)
{
    char path[64], line[256];
    long long kb = -1;
    size_t n = strlen(field);
    FILE *f;
    if (proc_pid <= 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/status", proc_pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            kb = strtoll(line + n + 1, NULL, 10);
    fclose(f);
    return kb;
}

/* GET /stats on the keep-alive stats connection (opened on first use). */
static snapshot stats(void)
{
    static const char req[] = "GET /stats HTTP/1.1\r\nHost: bench\r\n\r\n";
    char buf[4096];
    size_t len = 0, size;
    long long until = now_us() + 10 * 1000000LL;
    snapshot s;
    if (stats_fd < 0) {
        stats_fd = connect_start();
        if (stats_fd < 0 || !wait_fd(stats_fd, POLLOUT, until))
            die("cannot-connect-for-stats");
    }
    if (send_all(stats_fd, req, sizeof req - 1, until) != 0)
        die("stats-send-failed");
    while ((size = response_size(buf, len)) == 0) {
        ssize_t k;
        if (!wait_fd(stats_fd, POLLIN, until))
            die("stats-timeout");
        k = recv(stats_fd, buf + len, sizeof buf - 1 - len, 0);
        if (k <= 0 && !(k < 0 && (errno == EAGAIN || errno == EINTR)))
            die("stats-connection-closed");
        if (k > 0)
            len += (size_t)k;
        if (len >= sizeof buf - 1)
            die("stats-too-long");
    }
    buf[size] = '\0';
    s.accepted = json_num(buf, "accepted");
    s.live = json_num(buf, "live_connections");
    s.buffer_bytes = json_num(buf, "buffer_bytes");
    s.rss = proc_kb("VmRSS");
    s.anon = proc_kb("RssAnon");
    if (s.rss >= 0)
        s.rss *= 1024;
    if (s.anon >= 0)
        s.anon *= 1024;
    return s;
}

static void print_snapshot(const char *name, snapshot s, snapshot base, int conns)
{
    printf("%s_live=%lld\n%s_buffer_bytes=%lld\n%s_rss=%lld\n%s_anon=%lld\n", name, s.live, name,
           s.buffer_bytes, name, s.rss, name, s.anon);
    if (conns > 0) {
        /* The baseline's own probe connection may give its buffer back meanwhile: a
         * shrink is "nothing held per connection", not a negative amount. */
        long long grown = s.buffer_bytes - base.buffer_bytes;
        printf("%s_buffer_per_conn=%lld\n", name, (grown > 0 ? grown : 0) / conns);
        if (s.rss >= 0 && base.rss >= 0)
            printf("%s_rss_per_conn=%lld\n%s_anon_per_conn=%lld\n", name, (s.rss - base.rss) / conns,
                   name, (s.anon - base.anon) / conns);
    }
}

/* ------------------------------------------------------------------ the phases */

/* Open n connections, at most `window` ahead of the server's accepts. Returns how many
 * were opened (fewer when the client could not open more: the reason is printed). */
static int open_idle(int *fds, int n, int window, long long acc0)
{
    int opened = 0;
    long long t0 = now_us(), accepted = 0;
    while (accepted < opened || opened < n) {
        while (opened < n && opened - accepted < window) {
            int fd = connect_start();
            if (fd < 0) {
                printf("open_error=%s\n", strerror(errno));
                n = opened;
                break;
            }
            fds[opened++] = fd;
        }
        if (now_us() > deadline) {
            printf("open_error=timeout-with-%lld-of-%d-accepted\n", accepted, opened);
            break;
        }
        sleep_ms(STATS_POLL_MS);
        accepted = stats().accepted - acc0;
    }
    printf("opened=%d\naccepted=%lld\naccept_us=%lld\n", opened, accepted, now_us() - t0);
    if (opened > 0)
        printf("accept_rate=%.0f\n", opened / ((now_us() - t0) / 1e6));
    return opened;
}

/* How many of fds[0..n) did not connect. */
static int connect_failures(const int *fds, int n)
{
    int failed = 0, i;
    for (i = 0; i < n; i++) {
        int err = 0;
        socklen_t len = sizeof err;
        struct pollfd p = {fds[i], POLLOUT, 0};
        if (poll(&p, 1, 0) != 1 || getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
            failed++;
    }
    return failed;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* `samples` new requests in turn, each on its own connection. */
static void probe(int samples)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
    long long *lat = calloc((size_t)samples, sizeof *lat);
    int failed = 0, i;
    if (lat == NULL)
        die("no-memory");
    for (i = 0; i < samples; i++) {
        long long t0 = now_us(), until = t0 + PROBE_MS * 1000LL;
        char buf[4096];
        size_t got = 0;
        int ok = 0, fd = connect_start();
        if (fd >= 0 && wait_fd(fd, POLLOUT, until) && send_all(fd, req, sizeof req - 1, until) == 0) {
            for (;;) {  /* to the server's close, counting only whole responses */
                ssize_t k;
                if (!wait_fd(fd, POLLIN, until))
                    break;
                k = recv(fd, buf + got, sizeof buf - got, 0);
                if (k > 0 && got + (size_t)k < sizeof buf) {
                    got += (size_t)k;
                } else if (k > 0) {
                    got = sizeof buf;  /* longer than any page: keep draining */
                } else if (k == 0) {
                    ok = got == sizeof buf || response_size(buf, got) > 0;
                    break;
                } else if (errno != EAGAIN && errno != EINTR) {
                    break;
                }
            }
        }
        if (fd >= 0)
            close(fd);
        lat[i] = now_us() - t0;
        failed += !ok;
    }
    qsort(lat, (size_t)samples, sizeof *lat, cmp_ll);
    printf("probe_n=%d\nprobe_failed=%d\nprobe_p50_us=%lld\nprobe_p99_us=%lld\nprobe_max_us=%lld\n",
           samples, failed, lat[(samples - 1) / 2], lat[(samples * 99 + 99) / 100 - 1], lat[samples - 1]);
    free(lat);
}

/* One keep-alive GET / on every idle connection, all at once; each reads its response. */
static void use_all(const int *fds, int n)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
    typedef struct { size_t len; char buf[2048]; } reply;
    reply *r = calloc((size_t)n, sizeof *r);
    char *done = calloc((size_t)n, 1);
    int ep = epoll_create1(0), ok = 0, failed = 0, i;
    long long until = now_us() + 60 * 1000000LL;
    if (r == NULL || done == NULL || ep < 0)
        die("no-memory-or-epoll");
    for (i = 0; i < n; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)i};
        if (send(fds[i], req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1)
            || epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) != 0) {
            done[i] = 1;
            failed++;
        }
    }
    while (ok + failed < n && now_us() < until) {
        struct epoll_event evs[256];
        int k = epoll_wait(ep, evs, 256, 100), j;
        for (j = 0; j < k; j++) {
            unsigned c = evs[j].data.u32;
            ssize_t got;
            if (done[c])
                continue;
            got = recv(fds[c], r[c].buf + r[c].len, sizeof r[c].buf - 1 - r[c].len, 0);
            if (got > 0)
                r[c].len += (size_t)got;
            if (got > 0 && response_size(r[c].buf, r[c].len) > 0) {
                done[c] = 1;
                ok++;
            } else if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)
                       || r[c].len >= sizeof r[c].buf - 1) {
                done[c] = 1;
                failed++;
            }
        }
    }
    for (i = 0; i < n; i++)
        if (!done[i])
            epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
    printf("used_ok=%d\nused_failed=%d\n", ok, n - ok);
    close(ep);
    free(r);
    free(done);
}

int main(int argc, char **argv)
{
    int port = 0, n = 1000, window = 1000, samples = 200, timeout_s = 60, opened, i;
    int *fds;
    struct rlimit rl;
    snapshot base, s;
    long long t;

    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-p") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-n") == 0)
            n = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-w") == 0)
            window = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-s") == 0)
            samples = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--pid") == 0)
            proc_pid = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--timeout-s") == 0)
            timeout_s = atoi(argv[i + 1]);
        else
            break;
    }
    if (i != argc || port <= 0 || port > 65535 || n < 1 || window < 1 || samples < 1 || timeout_s < 1) {
        fprintf(stderr, "usage: %s -p PORT -n N [-w WINDOW] [-s SAMPLES] [--pid PID] [--timeout-s S]\n",
                argv[0]);
        return 2;
    }
    server.sin_family = AF_INET;
    server.sin_port = htons((unsigned short)port);
    server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    deadline = now_us() + timeout_s * 1000000LL;

    /* N sockets and a few more: raise the soft limit on open files as far as allowed. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    fds = calloc((size_t)n, sizeof *fds);
    if (fds == NULL)
        die("no-memory");

    stats();  /* twice: what answering the first /stats left allocated is in the baseline */
    base = stats();
    printf("wanted=%d\n", n);
    print_snapshot("base", base, base, 0);

    opened = open_idle(fds, n, window, base.accepted);
    printf("connect_failed=%d\n", connect_failures(fds, opened));
    sleep_ms(SETTLE_MS);
    s = stats();
    print_snapshot("idle", s, base, opened);
    fflush(stdout);

    probe(samples);
    fflush(stdout);

    t = now_us();
    use_all(fds, opened);
    printf("used_us=%lld\n", now_us() - t);
    sleep_ms(SETTLE_MS);
    s = stats();
    print_snapshot("used", s, base, opened);
    fflush(stdout);

    for (i = 0; i < opened; i++)
        close(fds[i]);
    t = now_us() + 10 * 1000000LL;  /* the server frees them: live back to the baseline? */
    do {
        sleep_ms(50);
        s = stats();
    } while (s.live > base.live && now_us() < t);
    printf("closed_live=%lld\n", s.live - base.live);
    free(fds);
    return 0;
}
