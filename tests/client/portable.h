/* portable.h - what the test clients need from the system, on Windows and on Linux.
 *
 * client.c and the programs over it (scenarios.c above all) are one source each: Winsock
 * on Windows (built with MSYS2 gcc, mingw-w64 or Visual Studio), BSD sockets on Linux.
 * Everything that differs between the two is here, behind one name each:
 *
 *   sock_t, NO_SOCKET            a socket (SOCKET or int), and "none"
 *   sock_startup()               WSAStartup; SIGPIPE ignored; stdout without CRLF translation
 *   sock_nonblocking(s)          ioctlsocket(FIONBIO) or fcntl(O_NONBLOCK)
 *   sock_send / sock_recv        the byte counts as long, never a SIGPIPE
 *   sock_close(s)                closesocket or close
 *   sock_poll(p, n, ms)          WSAPoll or poll; an entry with fd NO_SOCKET is skipped
 *   sock_error()                 the last socket error (WSAGetLastError or errno)...
 *   sock_would_block(e) ...      ...and what it means, and its text
 *   now_us(), now_ms()           a monotonic clock, in microseconds and milliseconds
 *   sleep_ms(ms)                 a pause
 *   watchdog_start(s, fire)      fire() after s seconds, whatever the program is doing
 *                                (alarm() on Linux, a thread on Windows)
 *   write_out(text, n)           write to stdout, safe inside a signal handler
 *   fd_limit_ensure(n, &hard)    room for n open sockets (RLIMIT_NOFILE; nothing to do
 *                                on Windows)
 *   PRINTF_LIKE(f, a)            printf-style format checking where the compiler has it */
#ifndef CLIENT_PORTABLE_H
#define CLIENT_PORTABLE_H

#ifdef _WIN32

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <fcntl.h>
#include <io.h>
#include <limits.h>
#include <process.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _MSC_VER
#pragma comment(lib, "ws2_32.lib")
#endif

typedef SOCKET sock_t;
#define NO_SOCKET INVALID_SOCKET
#define SHUT_WR   SD_SEND
#define strcasecmp  _stricmp
#define strncasecmp _strnicmp
#define getpid      _getpid

static inline void sock_startup(void)
{
    WSADATA wsa;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
        fprintf(stderr, "WSAStartup failed\n");
        exit(2);
    }
    _setmode(_fileno(stdout), _O_BINARY);   /* "\n", not "\r\n": the scripts read the lines */
}

static inline int  sock_error(void) { return WSAGetLastError(); }
static inline int  sock_would_block(int e) { return e == WSAEWOULDBLOCK; }
static inline int  sock_in_progress(int e) { return e == WSAEWOULDBLOCK; }
static inline int  sock_was_reset(int e) { return e == WSAECONNRESET || e == WSAECONNABORTED; }
static inline int  sock_interrupted(int e) { return e == WSAEINTR; }
static inline void sock_close(sock_t s) { closesocket(s); }

static inline void sock_nonblocking(sock_t s)
{
    u_long on = 1;
    ioctlsocket(s, FIONBIO, &on);
}

static inline long sock_send(sock_t s, const void *p, size_t n)
{
    return send(s, (const char *)p, n < INT_MAX ? (int)n : INT_MAX, 0);
}

static inline long sock_recv(sock_t s, void *p, size_t n)
{
    return recv(s, (char *)p, n < INT_MAX ? (int)n : INT_MAX, 0);
}

/* WSAPoll fails (WSAEINVAL) on an array with no socket in it: then it is a pause. */
static inline int sock_poll(struct pollfd *p, int n, int timeout_ms)
{
    for (int i = 0; i < n; i++)
        if (p[i].fd != NO_SOCKET)
            return WSAPoll(p, (ULONG)n, timeout_ms);
    Sleep((DWORD)timeout_ms);
    return 0;
}

/* "WSAECONNREFUSED (10061): No connection could be made ...", from the system's table. */
static inline const char *sock_strerror(int e)
{
    static char text[256];
    int n = snprintf(text, sizeof text, "error %d: ", e);
    if (!FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                        (DWORD)e, 0, text + n, (DWORD)(sizeof text - (size_t)n), NULL))
        text[n - 2] = '\0';
    text[strcspn(text, "\r\n")] = '\0';
    return text;
}

static inline long long now_us(void)
{
    static LARGE_INTEGER freq;
    LARGE_INTEGER t;
    if (!freq.QuadPart)
        QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&t);
    return t.QuadPart / freq.QuadPart * 1000000
         + t.QuadPart % freq.QuadPart * 1000000 / freq.QuadPart;
}

static inline void sleep_ms(int ms)
{
    Sleep((DWORD)ms);
}

static void (*watchdog_fire)(void);
static DWORD watchdog_ms;

static DWORD WINAPI watchdog_thread(LPVOID arg)
{
    (void)arg;
    Sleep(watchdog_ms);
    watchdog_fire();
    return 0;
}

static inline void watchdog_start(int seconds, void (*fire)(void))
{
    HANDLE t;
    watchdog_fire = fire;
    watchdog_ms = (DWORD)seconds * 1000;
    t = CreateThread(NULL, 0, watchdog_thread, NULL, 0, NULL);
    if (t)
        CloseHandle(t);
}

static inline void write_out(const char *text, size_t n)
{
    if (_write(1, text, (unsigned)n) < 0) {
        /* nothing more to do */
    }
}

static inline int fd_limit_ensure(unsigned long long want, unsigned long long *hard)
{
    (void)want;
    (void)hard;
    return 0;   /* sockets are handles: no per-process limit to raise */
}

#else /* BSD sockets */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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
#include <sys/resource.h>
#include <sys/socket.h>

typedef int sock_t;
#define NO_SOCKET (-1)

static inline void sock_startup(void)
{
    signal(SIGPIPE, SIG_IGN);
}

static inline int  sock_error(void) { return errno; }
static inline int  sock_would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK; }
static inline int  sock_in_progress(int e) { return e == EINPROGRESS; }
static inline int  sock_was_reset(int e) { return e == ECONNRESET || e == EPIPE; }
static inline int  sock_interrupted(int e) { return e == EINTR; }
static inline void sock_close(sock_t s) { close(s); }

static inline void sock_nonblocking(sock_t s)
{
    fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
}

static inline long sock_send(sock_t s, const void *p, size_t n)
{
    return (long)send(s, p, n, MSG_NOSIGNAL);
}

static inline long sock_recv(sock_t s, void *p, size_t n)
{
    return (long)recv(s, p, n, 0);
}

static inline int sock_poll(struct pollfd *p, int n, int timeout_ms)
{
    return poll(p, (nfds_t)n, timeout_ms);
}

static inline const char *sock_strerror(int e)
{
    return strerror(e);
}

static inline long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void (*watchdog_fire)(void);

static void watchdog_signal(int sig)
{
    (void)sig;
    watchdog_fire();
}

static inline void watchdog_start(int seconds, void (*fire)(void))
{
    watchdog_fire = fire;
    signal(SIGALRM, watchdog_signal);
    alarm((unsigned)seconds);
}

static inline void write_out(const char *text, size_t n)
{
    if (write(STDOUT_FILENO, text, n) < 0) {
        /* nothing more to do */
    }
}

static inline int fd_limit_ensure(unsigned long long want, unsigned long long *hard)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    *hard = (unsigned long long)rl.rlim_max;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
        return 0;
    rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
    return setrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= want ? 0 : -1;
}

#endif

static inline long long now_ms(void) { return now_us() / 1000; }

#if defined(__MINGW32__)
#define PRINTF_LIKE(f, a) __attribute__((format(__MINGW_PRINTF_FORMAT, f, a)))
#elif defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

#endif
