/* net.h - command line, Winsock start-up and the listening socket: the same in every stage. */
#ifndef NET_H
#define NET_H

#include <winsock2.h>
#include <mswsock.h>
#include "log.h"

/* Visual Studio: link Winsock without a project setting (cl server.c common\*.c). AcceptEx
 * and GetAcceptExSockaddrs are fetched with WSAIoctl (05, 06), so mswsock.lib is not needed. */
#ifdef _MSC_VER
#pragma comment(lib, "ws2_32.lib")
#endif

typedef struct options {
    const char    *bind_addr;  /* -b ADDR, default 127.0.0.1 (loopback: no firewall prompt) */
    unsigned short port;       /* -p PORT, default 8080; 0 picks a free port */
    int            threads;    /* -t N (04+), default 2 x processors */
    int            accepts;    /* -a N (05+), AcceptEx requests kept pending, default 32 */
    int            drain_ms;   /* --drain-ms N (06), default 5000 */
    int            idle_ms;    /* --idle-ms N (06), default 30000 */
    int            send_ms;    /* --send-ms N (06), default 10000 */
    int            budget_mb;  /* --budget-mb N (06): all connections' buffers, default 512 */
    int            linger_ms;  /* --linger-ms N (01, 06): a silent peer's linger, 5000 */
    log_level      level;      /* -v / -q */
} options;

/* Which options a stage takes beyond -p -b -v -q. */
#define TAKES_THREADS  1u
#define TAKES_ACCEPTS  2u
#define TAKES_LINGER   8u
#define TAKES_SHUTDOWN (4u | TAKES_LINGER)

/* Parse argv; prints usage and exits 2 on a bad argument, exits 0 on -h. */
void   options_parse(int argc, char **argv, unsigned takes, options *opt);
/* WSAStartup(2.2), or a message and exit 1. */
void   net_start(void);
/* A listening socket on opt's address (overlapped, SO_EXCLUSIVEADDRUSE), or a clear
 * message and exit 1 (port in use, bad address). Prints
 * "<stage> listening on http://ADDR:PORT/" on stdout with the real port. */
SOCKET net_listen(const options *opt, const char *stage);

/* accept() failed (01-04): log it and, unless only that client is gone (it reset or
 * aborted before it was accepted), wait a moment: a cause that lasts (no socket handle
 * left, no buffer space, the network down) would have the loop spin on the error. */
void   net_accept_failed(void);

/* "ADDR:PORT" of the client an AcceptEx accepted, from the addresses it wrote (no data
 * asked, addr_space bytes per address), for the log. */
void   net_accepted_peer(LPFN_GETACCEPTEXSOCKADDRS get_addresses, char *addresses,
                         DWORD addr_space, char *out, size_t size);

#endif
