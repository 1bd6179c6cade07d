/* reference.c - the bench's yardstick: about the least an IOCP HTTP server can do.
 *
 * Worker threads (2 x processors) on one completion port and a blocking accept loop, as
 * in 04-thread-pool, but nothing else: no HTTP framing, no ledger, no log. A connection
 * has one operation in flight at a time, a WSARecv into a 4 KiB buffer or a WSASend of
 * a fixed "hello" response, so one OVERLAPPED per connection is enough and the
 * connection is freed as soon as its last completion is handled. `make bench` measures
 * it in the same run as the stages and reports each stage as a ratio of it.
 *
 * Usage: reference.exe [-p PORT] [-t THREADS] [-q]   (-q is accepted; it never logs) */

#include <winsock2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_SIZE 4096

#define HELLO_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n"
static const char HELLO[] = HELLO_HEAD "\r\nhello\n";
static const char HELLO_CLOSE[] = HELLO_HEAD "Connection: close\r\n\r\nhello\n";

typedef struct conn {
    OVERLAPPED ov;       /* the one operation in flight: a read or a send */
    SOCKET     sock;
    int        sending;  /* which of the two ov is posted for */
    int        closing;  /* the response asked for Connection: close */
    WSABUF     out;      /* send: what is left of the response */
    char       in[READ_SIZE + 1];
} conn;

/* Nothing is in flight (the completion just handled was the only one): free at once. */
static void conn_close(conn *c)
{
    closesocket(c->sock);
    free(c);
}

/* Post the read or the rest of the send; its result comes out of the port, maybe on
 * another worker before the call returns, so nothing touches c after a successful post.
 * On failure no completion will come, so the connection is closed here. */
static void post_recv(conn *c)
{
    WSABUF buf = {READ_SIZE, c->in};
    DWORD flags = 0;
    ZeroMemory(&c->ov, sizeof c->ov);
    c->sending = 0;
    if (WSARecv(c->sock, &buf, 1, NULL, &flags, &c->ov, NULL) == SOCKET_ERROR
        && WSAGetLastError() != WSA_IO_PENDING)
        conn_close(c);
}

static void post_send(conn *c)
{
    ZeroMemory(&c->ov, sizeof c->ov);
    c->sending = 1;
    if (WSASend(c->sock, &c->out, 1, NULL, 0, &c->ov, NULL) == SOCKET_ERROR
        && WSAGetLastError() != WSA_IO_PENDING)
        conn_close(c);
}

/* No framing: a read that ends a header block ("\r\n\r\n") gets one response. That is
 * enough for wrk, which sends each request whole and waits for its response. */
static void on_received(conn *c, DWORD bytes)
{
    const char *reply;
    c->in[bytes] = '\0';
    if (bytes < 4 || memcmp(c->in + bytes - 4, "\r\n\r\n", 4) != 0) {
        post_recv(c);
        return;
    }
    c->closing = strstr(c->in, "Connection: close") != NULL;
    reply = c->closing ? HELLO_CLOSE : HELLO;
    c->out.buf = (char *)reply;
    c->out.len = (ULONG)strlen(reply);
    post_send(c);
}

static void on_sent(conn *c, DWORD bytes)
{
    c->out.buf += bytes;  /* a short send posts the rest */
    c->out.len -= bytes;
    if (c->out.len > 0)
        post_send(c);
    else if (c->closing)
        conn_close(c);
    else
        post_recv(c);
}

static DWORD WINAPI worker(LPVOID port)
{
    for (;;) {
        DWORD bytes = 0;
        ULONG_PTR key = 0;
        OVERLAPPED *ov = NULL;
        BOOL ok = GetQueuedCompletionStatus((HANDLE)port, &bytes, &key, &ov, INFINITE);
        conn *c;
        if (ov == NULL)  /* nothing dequeued: the wait itself failed */
            return 1;
        c = CONTAINING_RECORD(ov, conn, ov);
        if (!ok || (!c->sending && bytes == 0))  /* failed, or the peer's FIN */
            conn_close(c);
        else if (c->sending)
            on_sent(c, bytes);
        else
            on_received(c, bytes);
    }
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr = {0};
    int addr_len = sizeof addr, yes = 1, threads = 0, i;
    unsigned short port = 8080;
    SYSTEM_INFO si;
    WSADATA wsa;
    SOCKET listener;
    HANDLE iocp;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-p") == 0 && i + 1 < argc)
            port = (unsigned short)atoi(argv[++i]);
        else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "-q") != 0) {
            fprintf(stderr, "usage: %s [-p PORT] [-t THREADS] [-q]\n", argv[0]);
            return 2;
        }
    }
    GetSystemInfo(&si);
    if (threads <= 0)
        threads = 2 * (int)si.dwNumberOfProcessors;

    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0)
        return 1;
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    listener = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (listener == INVALID_SOCKET
        || setsockopt(listener, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&yes, sizeof yes) != 0
        || bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0
        || listen(listener, SOMAXCONN) != 0
        || getsockname(listener, (struct sockaddr *)&addr, &addr_len) != 0) {
        fprintf(stderr, "error: cannot listen on 127.0.0.1:%u (error %d)\n", port, WSAGetLastError());
        return 1;
    }
    iocp = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    if (iocp == NULL)
        return 1;
    for (i = 0; i < threads; i++)
        if (CreateThread(NULL, 0, worker, iocp, 0, NULL) == NULL)
            return 1;
    printf("reference listening on http://127.0.0.1:%u/\n", ntohs(addr.sin_port));
    fflush(stdout);

    for (;;) {
        SOCKET sock = accept(listener, NULL, NULL);
        conn *c;
        if (sock == INVALID_SOCKET)
            continue;
        c = calloc(1, sizeof *c);
        if (c == NULL || CreateIoCompletionPort((HANDLE)sock, iocp, 0, 0) == NULL) {
            closesocket(sock);
            free(c);
            continue;
        }
        c->sock = sock;
        post_recv(c);
    }
}
