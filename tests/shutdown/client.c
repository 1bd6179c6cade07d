/* client.c - the clients of the shutdown suite (tests/shutdown/run.sh), where curl and wrk
 * give too little control: when exactly the signal goes, how fast a body is read, when a
 * connection was closed by the server.
 *
 *   shutdown-client -p PORT [-t MS] get PATH [--rate BYTES_PER_S | --hold] [--sigint PID]
 *       GET PATH (Connection: close). Prints "HEADERS status=S length=N" once the header
 *       block is in; then, with --sigint, sends SIGINT to PID and prints "SIGNALLED"; then
 *       reads the body, at most BYTES_PER_S bytes a second, or (--hold) nothing at all,
 *       until SIGUSR1 arrives: from then on as fast as it can, so a test can drain what is
 *       left once it has seen what it wanted. With --rate or --hold the receive buffer is
 *       64 KiB (a reader that is really slow). Last line:
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
 *   shutdown-client -p PORT [-t MS] storm [--conns N] [--for MS]
 *       A connect storm: N connections (default 64) at a time for MS ms (default: until
 *       -t), a new one as soon as one ends. Every third is reset (RST) as soon as it is
 *       connected; the others ask GET / (Connection: close) and read to the server's close.
 *       Prints "STORMING" once N connects are issued, and last
 *         STORM connects=C answered=A cut=X refused=R ms=T
 *       (answered: a whole 200; cut: closed or reset before one; refused: the connect
 *       failed). It stops early after 50 refused connects in a row (the server is gone).
 *       Exit 0: the suite judges the server, not the storm.
 *
 *   shutdown-client -p PORT [-t MS] window [--bytes N] [--count K]
 *       A reader through a small window: SO_RCVBUF 4096 before the connect,
 *       then in one write GET /big?bytes=N (default 262144) and K (default
 *       10) GET / behind it, all keep-alive. Prints "SENT", reads nothing
 *       until SIGUSR1, then everything, checking each answer (200, the /big
 *       pattern), then waits for the server's close. Last line:
 *         WINDOW answers=A/K+1 bytes=B end=eof|reset|timeout|bad ms=T [why]
 *       (B: every byte received; T from SIGUSR1). Exit 0 only for all
 *       answers, then an EOF.
 *   shutdown-client -p PORT [-t MS] upload [--bytes N] [--count P]
 *                   [--interval MS]
 *       POST /echo (Connection: close) of N bytes (default 20000) in P
 *       pieces (default 10), the header block with the first, MS (default
 *       400) apart. Last line:
 *         UPLOAD status=S echo=GOT/N sent=X end=complete|eof|reset|... ms=T
 *       (T from the connect). Exit 0 only when the echo came whole and equal.
 *   shutdown-client -p PORT [-t MS] trickle [--interval MS] [--for MS]
 *       GET / with Connection: close, reads the answer and the server's FIN
 *       ("ANSWERED"), then sends one byte every MS (default 300) for --for
 *       ms (default: until -t), never its own FIN. Last line:
 *         TRICKLE sent=S end=closed|timeout ms=T
 *       (T from ANSWERED; closed: a send failed or the server's reset came,
 *       it was let go; timeout: --for passed and it was still held)
 *   shutdown-client -p PORT [-t MS] partial
 *       Connects, sends half a request header, prints "SENT", waits for the
 *       server to close:
 *         PARTIAL end=eof|reset|timeout ms=T bytes=B   (T from SENT)
 *
 * -t MS bounds the whole run (default 20000): nothing here can hang. Native C over the
 * test clients' library (tests/client/client.c); the signals are POSIX. The server runs
 * under Wine on the same machine, reached over loopback. */
#define _POSIX_C_SOURCE 200809L

#include "client.h"   /* connections, responses (tests/client) */
#include "http.h"     /* http_big_pattern: what /big sends */

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned short port;
static volatile sig_atomic_t full_speed; /* SIGUSR1: read as fast as possible */

PRINTF_LIKE(1, 2)
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
    fprintf(stderr, "usage: shutdown-client -p PORT [-t MS] get PATH [--rate B | --hold] [--sigint PID]\n"
                    "       shutdown-client -p PORT [-t MS] idle | slowloris [--interval MS] |\n"
                    "                       keepalive [--count N] [--interval MS] |\n"
                    "                       storm [--conns N] [--for MS] |\n"
                    "                       window [--bytes N] [--count K] |\n"
                    "                       upload [--bytes N] [--count P]\n"
                    "                              [--interval MS] |\n"
                    "                       trickle [--interval MS]\n"
                    "                               [--for MS] | partial\n");
    exit(2);
}

static void on_usr1(int sig) { (void)sig; full_speed = 1; }

static void on_alarm(int sig)
{
    static const char line[] = "TIMEOUT the client's own time limit ran out\n";
    (void)sig;
    write_out(line, sizeof line - 1);
    _exit(1);
}

/* What is left of the run, in ms (every wait is cut to it by client_deadline too). */
static int left_ms(void)
{
    long long left = client_deadline - now_ms();
    return left > 0 ? (int)left : 0;
}

/* A connection to the server, connected; "CONNECT-FAILED reason" and exit 1 if not. */
static conn connect_server(int rcvbuf)
{
    conn c;
    int r = conn_start(&c, port, "A", rcvbuf);
    if (r == 0 && (r = conn_connected(&c, left_ms())) == 0)
        snprintf(client_error, sizeof client_error, "connect timed out");
    if (r <= 0) {
        say("CONNECT-FAILED %s", client_error);
        exit(1);
    }
    return c;
}

/* How a connection ended, from a conn_fill or response_read code <= 0. */
static const char *end_name(long n)
{
    return n == CONN_EOF ? "eof" : n == CONN_RESET ? "reset" : n == CONN_TIMEOUT ? "timeout" : "error";
}

/* --hold: nothing until SIGUSR1 (or the end of the run); a signal that came first counts. */
static void wait_usr1(void)
{
    sigset_t usr1;
    struct timespec left = {left_ms() / 1000, (long)(left_ms() % 1000) * 1000000L};
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    if (!full_speed && sigtimedwait(&usr1, NULL, &left) == SIGUSR1)
        full_speed = 1;
    sigprocmask(SIG_UNBLOCK, &usr1, NULL);
}

static int do_get(const char *path, long rate, int hold, long sigint_pid)
{
    conn c = connect_server(rate > 0 || hold ? 65536 : 0);
    response r;
    long n = 1;
    long long length, got, first, start, rate_start;
    int head = 0;

    if (conn_send_get(&c, path, "Connection: close\r\n", left_ms()) != 0) {
        say("GET status=0 body=0/0 end=reset ms=0 (the request could not be sent: %s)", client_error);
        return 1;
    }
    while ((head = response_head(&c, &r)) == 0 && (n = conn_fill(&c, (size_t)-1, left_ms())) > 0) {
    }
    if (head <= 0) {
        say("GET status=0 body=0/0 end=%s ms=0 (no header block%s%s)", end_name(head < 0 ? head : n),
            head < 0 ? ": " : "", head < 0 ? client_error : "");
        return 1;
    }
    length = (long long)r.length;
    got = first = (long long)(c.len - r.head_len);
    c.len = 0;   /* the body is counted, not kept */
    say("HEADERS status=%d length=%lld", r.status, length);
    start = now_ms();
    if (sigint_pid > 0) {
        if (kill((pid_t)sigint_pid, SIGINT) != 0) {
            say("GET status=%d body=%lld/%lld end=error ms=0 (kill %ld: %s)", r.status, got, length,
                sigint_pid, strerror(errno));
            return 1;
        }
        say("SIGNALLED");
    }
    if (hold)
        wait_usr1();
    rate_start = now_ms();
    while (got < length) {
        size_t want = (size_t)-1;
        if (rate > 0 && !full_speed) {
            /* keep the average at `rate`: wait until the budget allows another chunk */
            long long allowed = (now_ms() - rate_start) * rate / 1000 + 4096;
            long long done = got - first;
            if (done >= allowed) {
                sleep_ms((int)((done - allowed) * 1000 / rate + 10));
                if (left_ms() == 0) {
                    n = CONN_TIMEOUT;
                    break;
                }
                continue;
            }
            want = 4096;
        }
        if ((long long)want > length - got)
            want = (size_t)(length - got);
        if ((n = conn_fill(&c, want, left_ms())) <= 0)
            break;
        got += n;
        c.len = 0;
    }
    say("GET status=%d body=%lld/%lld end=%s ms=%lld", r.status, got, length,
        got == length ? "complete" : end_name(n), now_ms() - start);
    conn_close(&c);
    return r.status == 200 && got == length ? 0 : 1;
}

/* Wait for the server to close c; returns the conn_fill code, counts bytes. */
static long wait_closed(conn *c, long long *bytes, int ms)
{
    long n;
    while ((n = conn_fill(c, (size_t)-1, ms)) > 0) {
        *bytes += n;
        c->len = 0;
    }
    return n;
}

static int do_idle(void)
{
    long long bytes = 0, start;
    long n;
    conn c = connect_server(0);
    start = now_ms();
    say("CONNECTED");
    n = wait_closed(&c, &bytes, left_ms());
    say("IDLE end=%s ms=%lld bytes=%lld", end_name(n), now_ms() - start, bytes);
    conn_close(&c);
    return n == CONN_TIMEOUT;
}

static int do_slowloris(long interval)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\nX-Pad: ";
    long long bytes = 0, start, sent = 0;
    long n = CONN_TIMEOUT;
    conn c = connect_server(0);
    start = now_ms();
    say("CONNECTED");
    while (left_ms() > 0) {
        char ch = sent < (long long)sizeof req - 1 ? req[sent] : 'a';
        if (conn_send(&c, &ch, 1, left_ms()) != 0) { /* EPIPE, ECONNRESET: closed */
            n = CONN_RESET;
            break;
        }
        sent++;
        /* between two bytes: did the server close (or answer and close)? */
        n = conn_fill(&c, (size_t)-1, (int)interval);
        if (n > 0) {
            bytes += n;
            c.len = 0;
            n = wait_closed(&c, &bytes, left_ms());
            break;
        }
        if (n != CONN_TIMEOUT)
            break;
    }
    say("SLOWLORIS end=%s ms=%lld sent=%lld bytes=%lld", end_name(n), now_ms() - start, sent, bytes);
    conn_close(&c);
    return n == CONN_TIMEOUT;
}

static int do_keepalive(int count, long interval)
{
    long long start;
    conn c = connect_server(0);
    int k;
    start = now_ms();
    say("CONNECTED");
    for (k = 0; k < count; k++) {
        response r;
        int got;
        if (k > 0)
            sleep_ms((int)interval);
        if ((got = http_get(&c, "/", NULL, &r, left_ms())) != 1 || r.status != 200) {
            say("KEEPALIVE served=%d/%d ms=%lld (request %d: %s)", k, count, now_ms() - start, k + 1,
                got != 1 ? end_name(got) : "status is not 200");
            return 1;
        }
        response_free(&r);
    }
    say("KEEPALIVE served=%d/%d ms=%lld", count, count, now_ms() - start);
    conn_close(&c);
    return 0;
}

/* One connection of the storm. */
typedef struct storm_conn {
    conn c;
    int  active, connecting, reset;
} storm_conn;

typedef struct storm_count {
    long connects, answered, cut, refused, refused_in_a_row;
} storm_count;

/* A connection of the storm has ended: count it, free its slot. */
static void storm_end(storm_conn *k, storm_count *n)
{
    response r;
    if (response_take(&k->c, &r) == 1 && r.status == 200)
        n->answered++;
    else
        n->cut++;
    response_free(&r);
    conn_close(&k->c);
    k->active = 0;
}

/* One step of k after poll() said `revents` about it. */
static void storm_step(storm_conn *k, short revents, storm_count *n)
{
    int r;
    long got;
    if (!revents)
        return;
    if (k->connecting) {
        if ((r = conn_connected(&k->c, 0)) < 0) {
            n->refused++;
            n->refused_in_a_row++;
            conn_close(&k->c);
            k->active = 0;
        } else if (r == 1) {
            k->connecting = 0;
            n->refused_in_a_row = 0;
            if (k->reset) {
                conn_reset(&k->c);
                k->active = 0;
            } else if (conn_send_get(&k->c, "/", "Connection: close\r\n", 1000) != 0) {
                storm_end(k, n);
            }
        }
    } else if ((got = conn_fill(&k->c, (size_t)-1, 0)) <= 0 && got != CONN_TIMEOUT) {
        storm_end(k, n);
    }
}

static int do_storm(int size, long ms)
{
    storm_conn *ks = calloc((size_t)size, sizeof *ks);
    struct pollfd *ps = calloc((size_t)size, sizeof *ps);
    long long start = now_ms(), stop = start + ms;
    storm_count n = {0, 0, 0, 0, 0};
    int i, active;
    if (!ks || !ps) {
        say("STORM connects=0 answered=0 cut=0 refused=0 ms=0 (out of memory)");
        return 1;
    }
    do {
        active = 0;
        for (i = 0; i < size; i++) {
            storm_conn *k = &ks[i];
            if (!k->active && now_ms() < stop && left_ms() > 0 && n.refused_in_a_row < 50) {
                if (conn_start(&k->c, port, "s", 0) != 0) {
                    n.refused++;
                    n.refused_in_a_row++;
                    conn_close(&k->c);
                } else {
                    k->active = k->connecting = 1;
                    k->reset = ++n.connects % 3 == 0;
                    if (n.connects == size)
                        say("STORMING");
                }
            }
            ps[i].fd = k->active ? k->c.fd : NO_SOCKET;   /* poll skips a negative fd */
            ps[i].events = k->connecting ? POLLOUT : POLLIN;
            ps[i].revents = 0;
            active += k->active;
        }
        if (active && sock_poll(ps, size, 100) < 0 && !sock_interrupted(sock_error()))
            break;
        for (i = 0; i < size; i++)
            if (ks[i].active)
                storm_step(&ks[i], ps[i].revents, &n);
    } while (active > 0);
    for (i = 0; i < size; i++)
        if (ks[i].active)
            conn_close(&ks[i].c);
    say("STORM connects=%ld answered=%ld cut=%ld refused=%ld ms=%lld", n.connects, n.answered,
        n.cut, n.refused, now_ms() - start);
    free(ks);
    free(ps);
    return 0;
}

/* The body of a /big?bytes=n answer is the pattern: 1 when it is. */
static int big_ok(const response *r, size_t n)
{
    char expect[4096];
    size_t off, k;
    if (r->length != n)
        return 0;
    for (off = 0; off < n; off += k) {
        k = n - off < sizeof expect ? n - off : sizeof expect;
        http_big_pattern(expect, off, k);
        if (memcmp(r->body + off, expect, k) != 0)
            return 0;
    }
    return 1;
}

static int do_window(long big, int count)
{
    conn c = connect_server(4096);
    size_t cap = 128 + (size_t)count * 64, len;
    char *reqs = malloc(cap);
    long long bytes = 0, start;
    long n = 1;
    int answers = 0, k;
    const char *why = "";
    if (reqs == NULL) {
        say("WINDOW answers=0/%d bytes=0 end=bad ms=0 (out of memory)",
            count + 1);
        return 1;
    }
    len = (size_t)snprintf(
        reqs, cap, "GET /big?bytes=%ld HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        big);
    for (k = 0; k < count; k++)
        len += (size_t)snprintf(reqs + len, cap - len,
                                "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    if (conn_send(&c, reqs, len, left_ms()) != 0) {
        say("WINDOW answers=0/%d bytes=0 end=reset ms=0 (not sent: %s)",
            count + 1, client_error);
        return 1;
    }
    free(reqs);
    say("SENT");
    wait_usr1();
    start = now_ms();
    while (answers < count + 1) {
        response r;
        int got = response_take(&c, &r);
        if (got == 1) {
            int ok =
                r.status == 200 && (answers > 0 || big_ok(&r, (size_t)big));
            response_free(&r);
            if (!ok) {
                why = answers == 0 ? " (/big is not 200 with the pattern)"
                                   : " (an answer is not 200)";
                n = -100;
                break;
            }
            answers++;
            continue;
        }
        if (got < 0) {
            why = " (a malformed answer)";
            n = -100;
            break;
        }
        if ((n = conn_fill(&c, (size_t)-1, left_ms())) <= 0)
            break;
        bytes += n;
    }
    if (answers == count + 1) {
        /* all answered: now the server's end, and nothing more before it */
        while ((n = conn_fill(&c, (size_t)-1, left_ms())) > 0)
            bytes += n;
        if (c.len > 0 && n == CONN_EOF)
            why = " (bytes after the last answer)";
    }
    say("WINDOW answers=%d/%d bytes=%lld end=%s ms=%lld%s", answers, count + 1,
        bytes, n == -100 ? "bad" : end_name(n), now_ms() - start, why);
    conn_close(&c);
    return answers == count + 1 && n == CONN_EOF && c.len == 0 ? 0 : 1;
}

static int do_upload(long size, int pieces, long interval)
{
    char head[160];
    char *body = malloc((size_t)size + 1);
    long long start, sent = 0;
    long n = 0;
    int k, got = 0;
    response r = {0};
    conn c = connect_server(0);
    start = now_ms();
    if (body == NULL || pieces < 1) {
        say("UPLOAD status=0 echo=0/%ld sent=0 end=bad ms=0 (out of memory)",
            size);
        return 1;
    }
    for (k = 0; k < size; k++)
        body[k] = (char)('a' + k % 26);
    snprintf(head, sizeof head,
             "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
             "Content-Length: %ld\r\n\r\n",
             size);
    if (conn_send(&c, head, strlen(head), left_ms()) != 0)
        n = CONN_RESET;
    for (k = 0; k < pieces && n == 0; k++) {
        long long from = size * k / pieces, to = size * (k + 1) / pieces;
        if (k > 0) {
            /* between two pieces: did the server answer or close meanwhile? */
            long r2 = conn_fill(&c, (size_t)-1, (int)interval);
            if (r2 != CONN_TIMEOUT) {
                n = r2 > 0 ? 0 : r2;
                break;
            }
        }
        if (conn_send(&c, body + from, (size_t)(to - from), left_ms()) != 0) {
            n = CONN_RESET;
            break;
        }
        sent = to;
    }
    if (n == 0 || n == CONN_RESET)
        got = response_read(&c, &r, left_ms());
    if (got == 1) {
        int same =
            r.length == (size_t)size && memcmp(r.body, body, (size_t)size) == 0;
        say("UPLOAD status=%d echo=%zu/%ld sent=%lld end=%s ms=%lld", r.status,
            r.length, size, sent, same && r.status == 200 ? "complete" : "bad",
            now_ms() - start);
        response_free(&r);
        free(body);
        conn_close(&c);
        return same && r.status == 200 ? 0 : 1;
    }
    say("UPLOAD status=0 echo=0/%ld sent=%lld end=%s ms=%lld (%zu received)",
        size, sent, end_name(got != 0 ? got : n), now_ms() - start, c.len);
    free(body);
    conn_close(&c);
    return 1;
}

static int do_trickle(long interval, long ms)
{
    conn c = connect_server(0);
    response r;
    long long start, sent = 0, stop;
    long n;
    const char *end = "timeout";
    if (http_get(&c, "/", "Connection: close\r\n", &r, left_ms()) != 1 ||
        r.status != 200) {
        say("TRICKLE sent=0 end=bad ms=0 (no answer to GET /: %s)",
            client_error);
        return 1;
    }
    response_free(&r);
    if ((n = conn_fill(&c, (size_t)-1, left_ms())) != CONN_EOF) {
        say("TRICKLE sent=0 end=bad ms=0 (after the answer, no FIN: %s)",
            end_name(n));
        return 1;
    }
    start = now_ms();
    stop = start + ms;
    say("ANSWERED");
    while (now_ms() < stop && left_ms() > 0) {
        char ch = 'x';
        if (conn_send(&c, &ch, 1, left_ms()) != 0) {
            end = "closed";
            break;
        }
        sent++;
        sleep_ms((int)interval);
        /* once the server has closed, its reset (after its FIN) shows */
        n = conn_fill(&c, (size_t)-1, 0);
        if (n == CONN_RESET || n == CONN_ERROR) {
            end = "closed";
            break;
        }
    }
    say("TRICKLE sent=%lld end=%s ms=%lld", sent, end, now_ms() - start);
    conn_close(&c);
    return 0;
}

static int do_partial(void)
{
    static const char half[] = "GET / HTTP/1.1\r\nHost: 12";
    long long bytes = 0, start;
    long n;
    conn c = connect_server(0);
    if (conn_send(&c, half, sizeof half - 1, left_ms()) != 0) {
        say("PARTIAL end=reset ms=0 bytes=0 (could not send: %s)",
            client_error);
        return 1;
    }
    start = now_ms();
    say("SENT");
    n = wait_closed(&c, &bytes, left_ms());
    say("PARTIAL end=%s ms=%lld bytes=%lld", end_name(n), now_ms() - start,
        bytes);
    conn_close(&c);
    return n == CONN_TIMEOUT;
}

int main(int argc, char **argv)
{
    long timeout = 20000, rate = 0, sigint_pid = 0, interval = -1;
    long storm_ms = -1, bytes = -1;   /* -1: the mode's default */
    int count = 10, conns = 64, hold = 0, i = 1;
    const char *mode, *path = NULL;

    sock_startup();
    signal(SIGUSR1, on_usr1);
    signal(SIGALRM, on_alarm);
    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        if (strcmp(argv[i], "-p") == 0)
            port = (unsigned short)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-t") == 0)
            timeout = atol(argv[i + 1]);
        else
            usage();
    }
    if (i >= argc || port == 0 || timeout <= 0)
        usage();
    mode = argv[i++];
    if (strcmp(mode, "get") == 0) {
        if (i >= argc)
            usage();
        path = argv[i++];
    }
    if (i < argc && strcmp(argv[i], "--hold") == 0) {   /* the one option without a value */
        hold = 1;
        i++;
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
        else if (strcmp(argv[i], "--conns") == 0)
            conns = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--for") == 0)
            storm_ms = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--bytes") == 0)
            bytes = atol(argv[i + 1]);
        else
            usage();
    }
    if (i != argc)
        usage();
    client_deadline = now_ms() + timeout;
    alarm((unsigned)(timeout / 1000 + 5)); /* the safety net behind every bounded wait */

    if (strcmp(mode, "get") == 0)
        return do_get(path, rate, hold, sigint_pid);
    if (strcmp(mode, "idle") == 0)
        return do_idle();
    if (strcmp(mode, "slowloris") == 0)
        return do_slowloris(interval >= 0 ? interval : 300);
    if (strcmp(mode, "keepalive") == 0)
        return do_keepalive(count, interval >= 0 ? interval : 300);
    if (strcmp(mode, "window") == 0 && count >= 0)
        return do_window(bytes > 0 ? bytes : 262144, count);
    if (strcmp(mode, "upload") == 0)
        return do_upload(bytes > 0 ? bytes : 20000, count,
                         interval >= 0 ? interval : 400);
    if (strcmp(mode, "trickle") == 0)
        return do_trickle(interval >= 0 ? interval : 300,
                          storm_ms >= 0 ? storm_ms : timeout);
    if (strcmp(mode, "partial") == 0)
        return do_partial();
    if (strcmp(mode, "storm") == 0 && conns > 0)
        return do_storm(conns, storm_ms >= 0 ? storm_ms : timeout);
    usage();
}
