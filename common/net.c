/* net.c - see net.h.
 *
 * Three mistakes of a first attempt (C12 in the stage contract) are fixed here:
 *  - setsockopt takes a pointer to the value: (const char *)&yes, not (const char *)yes;
 *  - on Windows SO_REUSEADDR lets another process bind the same port and steal
 *    connections; a server asks for SO_EXCLUSIVEADDRUSE instead;
 *  - every call is checked, and a failure says what failed and why. */
#include "net.h"

#include <ws2tcpip.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(const char *prog, unsigned takes, int code)
{
    fprintf(code ? stderr : stdout,
            "usage: %s [-p PORT] [-b ADDR]%s%s%s%s [-v | -q]\n"
            "  -p PORT   port to listen on (default 8080; 0 = any free port)\n"
            "  -b ADDR   IPv4 address to bind (default 127.0.0.1)\n"
            "%s%s%s%s"
            "  -v        log every posted and completed operation\n"
            "  -q        log errors only\n",
            prog, (takes & TAKES_THREADS) ? " [-t N]" : "", (takes & TAKES_ACCEPTS) ? " [-a N]" : "",
            (takes & TAKES_SHUTDOWN) ? " [--drain-ms N] [--idle-ms N] [--send-ms N] [--budget-mb N]" : "",
            (takes & TAKES_LINGER) ? " [--linger-ms N]" : "",
            (takes & TAKES_THREADS) ? "  -t N      worker threads (default 2 x processors)\n" : "",
            (takes & TAKES_ACCEPTS) ? "  -a N      AcceptEx requests kept pending (default 32)\n" : "",
            (takes & TAKES_SHUTDOWN)
                ? "  --drain-ms N  on Ctrl+C, time given to responses in flight (default 5000)\n"
                  "  --idle-ms N   close a connection idle this long after its last response was\n"
                  "                sent (default 30000)\n"
                  "  --send-ms N   close a connection whose send makes no progress this long\n"
                  "                (a client that does not read; default 10000)\n"
                  "  --budget-mb N refuse requests (503) while all connections' buffers hold\n"
                  "                more than N MiB (default 512)\n"
                : "",
            (takes & TAKES_LINGER)
                ? "  --linger-ms N after our FIN, close once the peer has been silent N ms,\n"
                  "                or 6 x N ms in all (default 5000)\n"
                : "");
    exit(code);
}

/* A whole decimal number in [lo, hi], or usage and exit. */
static long number_arg(const char *prog, unsigned takes, const char *text, long lo, long hi)
{
    char *end;
    long value = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || value < lo || value > hi) {
        fprintf(stderr, "%s: '%s' is not a number in %ld..%ld\n", prog, text, lo, hi);
        usage(prog, takes, 2);
    }
    return value;
}

void options_parse(int argc, char **argv, unsigned takes, options *opt)
{
    const char *prog = argv[0];
    SYSTEM_INFO si;
    int i;

    GetSystemInfo(&si);
    opt->bind_addr = "127.0.0.1";
    opt->port = 8080;
    opt->threads = 2 * (int)si.dwNumberOfProcessors;
    opt->accepts = 32;
    opt->drain_ms = 5000;
    opt->idle_ms = 30000;
    opt->send_ms = 10000;
    opt->budget_mb = 512;
    opt->linger_ms = 5000;
    opt->level = LOG_DEFAULT;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        int takes_value = strcmp(a, "-p") == 0 || strcmp(a, "-b") == 0
                       || ((takes & TAKES_THREADS) && strcmp(a, "-t") == 0)
                       || ((takes & TAKES_ACCEPTS) && strcmp(a, "-a") == 0)
                       || ((takes & TAKES_SHUTDOWN)
                           && (strcmp(a, "--drain-ms") == 0 || strcmp(a, "--idle-ms") == 0
                               || strcmp(a, "--send-ms") == 0 || strcmp(a, "--budget-mb") == 0))
                       || ((takes & TAKES_LINGER) && strcmp(a, "--linger-ms") == 0);
        if (takes_value && value == NULL) {
            fprintf(stderr, "%s: %s needs a value\n", prog, a);
            usage(prog, takes, 2);
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            usage(prog, takes, 0);
        else if (strcmp(a, "-v") == 0)
            opt->level = LOG_VERBOSE;
        else if (strcmp(a, "-q") == 0)
            opt->level = LOG_QUIET;
        else if (!takes_value) {
            fprintf(stderr, "%s: unknown option '%s'\n", prog, a);
            usage(prog, takes, 2);
        } else if (strcmp(a, "-p") == 0)
            opt->port = (unsigned short)number_arg(prog, takes, value, 0, 65535);
        else if (strcmp(a, "-b") == 0)
            opt->bind_addr = value;
        else if (strcmp(a, "-t") == 0)
            opt->threads = (int)number_arg(prog, takes, value, 1, 256);
        else if (strcmp(a, "-a") == 0)
            opt->accepts = (int)number_arg(prog, takes, value, 1, 1024);
        else if (strcmp(a, "--drain-ms") == 0)
            opt->drain_ms = (int)number_arg(prog, takes, value, 0, 600000);
        else if (strcmp(a, "--idle-ms") == 0)
            opt->idle_ms = (int)number_arg(prog, takes, value, 100, 3600000);
        else if (strcmp(a, "--send-ms") == 0)
            opt->send_ms = (int)number_arg(prog, takes, value, 100, 3600000);
        else if (strcmp(a, "--linger-ms") == 0)
            opt->linger_ms = (int)number_arg(prog, takes, value, 100, 600000);
        else
            opt->budget_mb = (int)number_arg(prog, takes, value, 1, 1048576);
        i += takes_value;
    }
    log_init(opt->level);
}

void net_start(void)
{
    WSADATA wsa;
    int err = WSAStartup(MAKEWORD(2, 2), &wsa);
    if (err != 0) {
        char name[64];
        log_flush();
        fprintf(stderr, "error: WSAStartup failed: %s\n", error_name((DWORD)err, name, sizeof name));
        exit(1);
    }
}

static void fail(const char *what, const char *addr, unsigned short port)
{
    char name[64];
    DWORD err = (DWORD)WSAGetLastError();
    log_flush();
    fprintf(stderr, "error: %s %s:%u failed: %s%s\n", what, addr, port, error_name(err, name, sizeof name),
            err == WSAEADDRINUSE ? " (another server has this port: stop it or pass -p)" : "");
    exit(1);
}

SOCKET net_listen(const options *opt, const char *stage)
{
    struct sockaddr_in addr;
    int addr_len = sizeof addr;
    int yes = 1;
    SOCKET sock;

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(opt->port);
    if (inet_pton(AF_INET, opt->bind_addr, &addr.sin_addr) != 1) {
        log_flush();
        fprintf(stderr, "error: -b %s is not an IPv4 address\n", opt->bind_addr);
        exit(1);
    }
    /* Overlapped, so that AcceptEx can run on it through the port; not inherited by a
     * child process: a duplicated handle keeps a connection open after our closesocket.
     * That accept()'s sockets take this from the listener is an assumption (no page says
     * so; CPython clears HANDLE_FLAG_INHERIT on each): safe here, no server starts one. */
    sock = WSASocketW(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                      WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (sock == INVALID_SOCKET)
        fail("socket for", opt->bind_addr, opt->port);
    if (setsockopt(sock, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&yes, sizeof yes) != 0)
        fail("SO_EXCLUSIVEADDRUSE on", opt->bind_addr, opt->port);
    if (bind(sock, (struct sockaddr *)&addr, sizeof addr) != 0)
        fail("bind", opt->bind_addr, opt->port);
    if (listen(sock, SOMAXCONN) != 0)
        fail("listen", opt->bind_addr, opt->port);
    if (getsockname(sock, (struct sockaddr *)&addr, &addr_len) != 0)
        fail("getsockname", opt->bind_addr, opt->port);
    printf("%s listening on http://%s:%u/\n", stage, opt->bind_addr, ntohs(addr.sin_port));
    fflush(stdout);
    return sock;
}

void net_accept_failed(void)
{
    DWORD err = (DWORD)WSAGetLastError();
    log_error(0, err, "accept failed");
    if (err != WSAECONNRESET && err != WSAECONNABORTED)
        Sleep(100);
}

void net_accepted_peer(LPFN_GETACCEPTEXSOCKADDRS get_addresses, char *addresses,
                       DWORD addr_space, char *out, size_t size)
{
    SOCKADDR *local, *remote;
    int local_len, remote_len;
    char ip[INET_ADDRSTRLEN] = "?";
    get_addresses(addresses, 0, addr_space, addr_space, &local, &local_len, &remote, &remote_len);
    inet_ntop(AF_INET, &((SOCKADDR_IN *)remote)->sin_addr, ip, sizeof ip);
    snprintf(out, size, "%s:%u", ip, ntohs(((SOCKADDR_IN *)remote)->sin_port));
}
