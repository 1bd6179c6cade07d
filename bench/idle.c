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
 * bench/run.sh. Every wait is bounded; exit status 1 when the server stops answering.
 * Native Linux C over the test clients' library (tests/client/client.c); epoll for the
 * thousands of connections answered at once. */
#define _GNU_SOURCE

#include "client.h"   /* connections, responses, /stats JSON (tests/client) */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#define STATS_POLL_MS 5
#define PROBE_MS      5000   /* one new request at most */
#define SETTLE_MS     300    /* let the server finish posting before the ledger is read */

static unsigned short port;
static int proc_pid;         /* 0: no memory figures */
static long long deadline;   /* now_us() at which the whole run gives up */

static _Noreturn void die(const char *what)
{
    printf("error=%s\n", what);
    fflush(stdout);
    exit(1);
}

/* ------------------------------------------------------------------ the ledger */

static conn stats_conn = {NO_SOCKET, "stats", NULL, 0, 0};

typedef struct snapshot {
    long long accepted, live, buffer_bytes;  /* from /stats */
    long long rss, anon;                     /* bytes, from /proc/PID/status; -1 unknown */
} snapshot;

static long long json_num(const char *json, const char *key)
{
    long long n;
    return json_number(json, key, &n) == 0 ? n : -1;
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
    enum { WAIT_MS = 10000 };
    response r;
    snapshot s;
    int got;
    if (stats_conn.fd == NO_SOCKET && conn_open(&stats_conn, port, "stats", WAIT_MS) != 0)
        die("cannot-connect-for-stats");
    if (conn_send_get(&stats_conn, "/stats", NULL, WAIT_MS) != 0)
        die("stats-send-failed");
    if ((got = response_read(&stats_conn, &r, WAIT_MS)) != 1)
        die(got == CONN_TIMEOUT ? "stats-timeout" : got == CONN_ERROR ? "stats-malformed"
                                                                      : "stats-connection-closed");
    s.accepted = json_num(r.body, "accepted");
    s.live = json_num(r.body, "live_connections");
    s.buffer_bytes = json_num(r.body, "buffer_bytes");
    response_free(&r);
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
static int open_idle(conn *cs, int n, int window, long long acc0)
{
    int opened = 0;
    long long t0 = now_us(), accepted = 0;
    while (accepted < opened || opened < n) {
        while (opened < n && opened - accepted < window) {
            if (conn_start(&cs[opened], port, "idle", 0) != 0) {
                printf("open_error=%s\n", client_error);
                n = opened;
                break;
            }
            opened++;
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

/* How many of cs[0..n) did not connect. */
static int connect_failures(conn *cs, int n)
{
    int failed = 0, i;
    for (i = 0; i < n; i++)
        failed += conn_connected(&cs[i], 0) != 1;
    return failed;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* One new request, timed from the connect to the server's close: 1 when its answer came
 * whole and then the server's FIN. */
static int probe_one(void)
{
    long long until = now_ms() + PROBE_MS;
    response r;
    conn c;
    int ok = conn_open(&c, port, "probe", PROBE_MS) == 0
          && http_get(&c, "/", "Connection: close\r\n", &r, (int)(until - now_ms())) == 1;
    if (ok) {
        response_free(&r);
        while ((ok = (int)conn_fill(&c, (size_t)-1, (int)(until - now_ms()))) > 0)
            c.len = 0;   /* nothing may follow the answer but the close */
        ok = ok == CONN_EOF && c.len == 0;
    }
    conn_close(&c);
    return ok;
}

/* `samples` new requests in turn, each on its own connection. */
static void probe(int samples)
{
    long long *lat = calloc((size_t)samples, sizeof *lat);
    int failed = 0, i;
    if (lat == NULL)
        die("no-memory");
    for (i = 0; i < samples; i++) {
        long long t0 = now_us();
        failed += !probe_one();
        lat[i] = now_us() - t0;
    }
    qsort(lat, (size_t)samples, sizeof *lat, cmp_ll);
    printf("probe_n=%d\nprobe_failed=%d\nprobe_p50_us=%lld\nprobe_p99_us=%lld\nprobe_max_us=%lld\n",
           samples, failed, lat[(samples - 1) / 2], lat[(samples * 99 + 99) / 100 - 1], lat[samples - 1]);
    free(lat);
}

/* One keep-alive GET / on every idle connection, all at once; each reads its response. */
static void use_all(conn *cs, int n)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    char *done = calloc((size_t)n, 1);
    int ep = epoll_create1(0), ok = 0, failed = 0, i;
    long long until = now_us() + 60 * 1000000LL;
    if (done == NULL || ep < 0)
        die("no-memory-or-epoll");
    for (i = 0; i < n; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)i};
        if (sock_send(cs[i].fd, req, sizeof req - 1) != (long)(sizeof req - 1)
            || epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) != 0) {
            done[i] = 1;
            failed++;
        }
    }
    while (ok + failed < n && now_us() < until) {
        struct epoll_event evs[256];
        int k = epoll_wait(ep, evs, 256, 100), j;
        for (j = 0; j < k; j++) {
            unsigned c = evs[j].data.u32;
            response r;
            long got;
            int took = 0;
            if (done[c])
                continue;
            got = conn_fill(&cs[c], (size_t)-1, 0);
            if (got > 0 && (took = response_take(&cs[c], &r)) == 1)
                response_free(&r);
            if (took != 0 || (got <= 0 && got != CONN_TIMEOUT)) {
                done[c] = 1;
                if (took == 1)
                    ok++;
                else
                    failed++;
                free(cs[c].buf);   /* thousands of them: hold no buffer once answered */
                cs[c].buf = NULL;
                cs[c].len = cs[c].cap = 0;
            }
        }
    }
    for (i = 0; i < n; i++)
        if (!done[i])
            epoll_ctl(ep, EPOLL_CTL_DEL, cs[i].fd, NULL);
    printf("used_ok=%d\nused_failed=%d\n", ok, n - ok);
    close(ep);
    free(done);
}

int main(int argc, char **argv)
{
    int p = 0, n = 1000, window = 1000, samples = 200, timeout_s = 60, opened, i;
    const struct { const char *flag; int *value; } opts[] = {
        {"-p", &p}, {"-n", &n}, {"-w", &window}, {"-s", &samples}, {"--pid", &proc_pid},
        {"--timeout-s", &timeout_s},
    };
    size_t k = 0, nopts = sizeof opts / sizeof opts[0];
    unsigned long long hard;
    conn *cs;
    snapshot base, s;
    long long t;

    for (i = 1; i + 1 < argc && k < nopts; i += 2) {   /* every option takes a number */
        for (k = 0; k < nopts && strcmp(argv[i], opts[k].flag) != 0; k++) {
        }
        if (k < nopts)
            *opts[k].value = atoi(argv[i + 1]);
    }
    port = (unsigned short)p;
    if (i != argc || k == nopts || p <= 0 || p > 65535 || n < 1 || window < 1 || samples < 1
        || timeout_s < 1) {
        fprintf(stderr, "usage: %s -p PORT -n N [-w WINDOW] [-s SAMPLES] [--pid PID] [--timeout-s S]\n",
                argv[0]);
        return 2;
    }
    sock_startup();
    deadline = now_us() + timeout_s * 1000000LL;
    /* N sockets and a few more; if the limit cannot be raised, the opens say so. */
    (void)fd_limit_ensure((unsigned long long)n + 64, &hard);
    cs = calloc((size_t)n, sizeof *cs);
    if (cs == NULL)
        die("no-memory");

    stats();  /* twice: what answering the first /stats left allocated is in the baseline */
    base = stats();
    printf("wanted=%d\n", n);
    print_snapshot("base", base, base, 0);

    opened = open_idle(cs, n, window, base.accepted);
    printf("connect_failed=%d\n", connect_failures(cs, opened));
    sleep_ms(SETTLE_MS);
    s = stats();
    print_snapshot("idle", s, base, opened);
    fflush(stdout);

    probe(samples);
    fflush(stdout);

    t = now_us();
    use_all(cs, opened);
    printf("used_us=%lld\n", now_us() - t);
    sleep_ms(SETTLE_MS);
    s = stats();
    print_snapshot("used", s, base, opened);
    fflush(stdout);

    for (i = 0; i < opened; i++)
        conn_close(&cs[i]);
    t = now_us() + 10 * 1000000LL;  /* the server frees them: live back to the baseline? */
    do {
        sleep_ms(50);
        s = stats();
    } while (s.live > base.live && now_us() < t);
    printf("closed_live=%lld\n", s.live - base.live);
    free(cs);
    return 0;
}
