/* log.c - see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static log_level     the_level = LOG_DEFAULT;
static LARGE_INTEGER started, ticks_per_second;
static SRWLOCK       line_lock = SRWLOCK_INIT;  /* one whole line at a time */

void log_init(log_level level)
{
    HANDLE console = GetStdHandle(STD_INPUT_HANDLE);
    DWORD mode;
    /* QuickEdit off: in a Windows console (where it is on by default) a click starts a
     * selection, and while it is up every write to the console blocks: a worker would
     * stop at its next log line, holding whatever it holds. */
    if (GetConsoleMode(console, &mode))
        SetConsoleMode(console, (mode | ENABLE_EXTENDED_FLAGS) & ~(DWORD)ENABLE_QUICK_EDIT_MODE);
    the_level = level;
    QueryPerformanceFrequency(&ticks_per_second);
    QueryPerformanceCounter(&started);
}

int log_enabled(log_level level) { return the_level >= level; }

/* Format the line into one buffer and write it with one call, so lines written by
 * different worker threads never interleave. */
static void log_line(long conn_id, const char *suffix, const char *fmt, va_list ap)
{
    char line[512];
    LARGE_INTEGER now;
    double seconds;
    int n;

    QueryPerformanceCounter(&now);
    seconds = (double)(now.QuadPart - started.QuadPart) / (double)ticks_per_second.QuadPart;
    n = snprintf(line, sizeof line, "[%8.3f] [tid 0x%lx] ", seconds, GetCurrentThreadId());
    if (conn_id > 0)
        n += snprintf(line + n, sizeof line - n, "#%ld ", conn_id);
    n += vsnprintf(line + n, sizeof line - n, fmt, ap);
    if (n > (int)sizeof line - 64)
        n = (int)sizeof line - 64;  /* a long message is cut; the suffix still fits */
    snprintf(line + n, sizeof line - n, "%s\n", suffix ? suffix : "");

    AcquireSRWLockExclusive(&line_lock);
    fputs(line, stderr);
    fflush(stderr);
    ReleaseSRWLockExclusive(&line_lock);
}

void log_event(long conn_id, const char *fmt, ...)
{
    va_list ap;
    if (the_level < LOG_DEFAULT)
        return;
    va_start(ap, fmt);
    log_line(conn_id, NULL, fmt, ap);
    va_end(ap);
}

void log_op(long conn_id, const char *fmt, ...)
{
    va_list ap;
    if (the_level < LOG_VERBOSE)
        return;
    va_start(ap, fmt);
    log_line(conn_id, NULL, fmt, ap);
    va_end(ap);
}

void log_error(long conn_id, DWORD err, const char *fmt, ...)
{
    char suffix[80], name[64];
    va_list ap;
    snprintf(suffix, sizeof suffix, ": %s", error_name(err, name, sizeof name));
    va_start(ap, fmt);
    log_line(conn_id, suffix, fmt, ap);
    va_end(ap);
}

/* The codes a socket server meets. A table rather than FormatMessage: Wine has no
 * text for several of them (676 among them), and a name is what one searches for. */
static const struct { DWORD code; const char *name; } names[] = {
    {0, "NO_ERROR"},
    {6, "ERROR_INVALID_HANDLE"},
    {64, "ERROR_NETNAME_DELETED"},
    {87, "ERROR_INVALID_PARAMETER"},
    {121, "ERROR_SEM_TIMEOUT"},
    {258, "WAIT_TIMEOUT"},
    {676, "ERROR_HANDLES_CLOSED"},
    {735, "ERROR_ABANDONED_WAIT_0"},
    {995, "ERROR_OPERATION_ABORTED"},
    {996, "ERROR_IO_INCOMPLETE"},
    {997, "ERROR_IO_PENDING"},
    {1168, "ERROR_NOT_FOUND"},
    {1225, "ERROR_CONNECTION_REFUSED"},
    {1229, "ERROR_CONNECTION_INVALID"},
    {1236, "ERROR_CONNECTION_ABORTED"},
    {10004, "WSAEINTR"},
    {10009, "WSAEBADF"},
    {10013, "WSAEACCES"},
    {10014, "WSAEFAULT"},
    {10022, "WSAEINVAL"},
    {10024, "WSAEMFILE"},
    {10035, "WSAEWOULDBLOCK"},
    {10038, "WSAENOTSOCK"},
    {10048, "WSAEADDRINUSE"},
    {10049, "WSAEADDRNOTAVAIL"},
    {10050, "WSAENETDOWN"},
    {10053, "WSAECONNABORTED"},
    {10054, "WSAECONNRESET"},
    {10055, "WSAENOBUFS"},
    {10057, "WSAENOTCONN"},
    {10058, "WSAESHUTDOWN"},
    {10060, "WSAETIMEDOUT"},
    {10061, "WSAECONNREFUSED"},
    {10093, "WSANOTINITIALISED"},
    {10101, "WSAEDISCON"},
};

const char *error_name(DWORD err, char *buf, size_t size)
{
    size_t i;
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (names[i].code == err) {
            snprintf(buf, size, "%s (%lu)", names[i].name, err);
            return buf;
        }
    }
    snprintf(buf, size, "error %lu", err);
    return buf;
}
