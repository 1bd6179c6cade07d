/* log.c - see log.h.
 *
 * A worker formats its line and copies it into a ring; the log's thread alone
 * writes to stderr. A console write blocks while the console's output is paused
 * (a QuickEdit selection, Ctrl+S, the Pause key), and a pipe write blocks while
 * nobody reads the pipe: a worker that wrote itself would stop there, holding
 * its connection's lock, and every other worker after it. The ring's lock is
 * held to copy one line in or out, never during a write. */
#include "log.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_LINE_MAX   512   /* bytes of one line, its "\r\n" included */
#define LOG_RING       1024  /* lines queued at most; more are dropped */
#define FLUSH_STALL_MS 2000  /* log_flush gives up: this long without a write */

typedef struct queued_line {
    long dropped_before;  /* lines dropped just before this one was queued */
    int  len;
    char text[LOG_LINE_MAX];
} queued_line;

static log_level     the_level = LOG_DEFAULT;
static LARGE_INTEGER started, ticks_per_second;

/* The ring and its counters, under ring_lock: the lines queued and written
 * since start, those dropped after the last line queued and in all (/stats
 * "log_dropped"), and whether the writer holds a line or a notice out of the
 * ring. writer is the log's thread (NULL: each caller writes its own line). */
static SRWLOCK            ring_lock = SRWLOCK_INIT;
static CONDITION_VARIABLE line_queued = CONDITION_VARIABLE_INIT;
static CONDITION_VARIABLE line_written = CONDITION_VARIABLE_INIT;
static queued_line ring[LOG_RING];
static unsigned    ring_first, ring_count;
static long long   lines_queued, lines_written;
static long        dropped_since_queued;
static long long   dropped_total;
static int         writer_busy;
static HANDLE      writer;
/* lines_written when a flush last gave up: the next one waits only if the
 * writer has written since (an exit does not wait twice for a paused
 * console) */
static long long   flush_gave_up_at = -1;

/* One line to stderr with one call, so that lines never interleave. WriteFile,
 * not the C runtime's stderr: exit() takes that stream's lock, which a blocked
 * writer would hold. A line with nowhere to go (no stderr) is lost. */
static void write_out(const char *text, int len)
{
    DWORD written;
    WriteFile(GetStdHandle(STD_ERROR_HANDLE), text, (DWORD)len, &written, NULL);
}

/* "[  12.345] [tid 0x1a4] #7 " into line; its length. */
static int line_prefix(char *line, size_t size, long conn_id)
{
    LARGE_INTEGER now;
    double seconds;
    int n;
    QueryPerformanceCounter(&now);
    seconds = (double)(now.QuadPart - started.QuadPart)
            / (double)ticks_per_second.QuadPart;
    n = snprintf(line, size, "[%8.3f] [tid 0x%lx] ", seconds,
                 GetCurrentThreadId());
    if (conn_id > 0)
        n += snprintf(line + n, size - n, "#%ld ", conn_id);
    return n;
}

static void write_dropped(long count)
{
    char line[128];
    int n = line_prefix(line, sizeof line, 0);
    n += snprintf(line + n, sizeof line - n, "%ld log lines dropped\r\n",
                  count);
    write_out(line, n);
}

/* The log's thread: the lines in the order they were queued, each drop notice
 * where the lines it counts would have been. */
static DWORD WINAPI log_writer(void *unused)
{
    static queued_line line;
    long dropped;
    int have_line;
    (void)unused;
    AcquireSRWLockExclusive(&ring_lock);
    for (;;) {
        while (ring_count == 0 && dropped_since_queued == 0)
            SleepConditionVariableSRW(&line_queued, &ring_lock, INFINITE, 0);
        have_line = ring_count > 0;
        if (have_line) {
            line = ring[ring_first];
            ring_first = (ring_first + 1) % LOG_RING;
            ring_count--;
            dropped = line.dropped_before;
        } else {
            /* the ring is empty: the lines dropped after the last one queued */
            dropped = dropped_since_queued;
            dropped_since_queued = 0;
        }
        writer_busy = 1;
        ReleaseSRWLockExclusive(&ring_lock);

        if (dropped > 0)
            write_dropped(dropped);
        if (have_line)
            write_out(line.text, line.len);

        AcquireSRWLockExclusive(&ring_lock);
        writer_busy = 0;
        lines_written += have_line;
        WakeAllConditionVariable(&line_written);
    }
    return 0;
}

/* Return from main and exit() write what is queued first; so do a failed
 * assert (abort: SIGABRT) and a crash, whose last lines tell what led to it. */
static void flush_at_exit(void) { log_flush(); }
static void flush_at_abort(int sig) { (void)sig; log_flush(); }
static LONG WINAPI flush_at_crash(EXCEPTION_POINTERS *unused)
{
    (void)unused;
    log_flush();
    return EXCEPTION_CONTINUE_SEARCH;
}

static void quick_edit_off(void)
{
    /* CONIN$, not STD_INPUT_HANDLE: the console's input buffer even when stdin
     * is redirected. QuickEdit (on by default in a Windows console) makes a
     * click start a selection, and while one is up the console takes no
     * output. No console: nothing to do. */
    HANDLE console = CreateFileW(L"CONIN$", GENERIC_READ | GENERIC_WRITE,
                                 FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
                                 OPEN_EXISTING, 0, NULL);
    DWORD mode;
    if (console == INVALID_HANDLE_VALUE)
        return;
    if (GetConsoleMode(console, &mode))
        SetConsoleMode(console, (mode | ENABLE_EXTENDED_FLAGS)
                                & ~(DWORD)ENABLE_QUICK_EDIT_MODE);
    CloseHandle(console);
}

void log_init(log_level level)
{
    quick_edit_off();
    the_level = level;
    QueryPerformanceFrequency(&ticks_per_second);
    QueryPerformanceCounter(&started);
    if (writer == NULL) {
        writer = CreateThread(NULL, 0, log_writer, NULL, 0, NULL);
        if (writer != NULL) {
            atexit(flush_at_exit);
            signal(SIGABRT, flush_at_abort);
            SetUnhandledExceptionFilter(flush_at_crash);
        }
    }
}

BOOL log_enabled(log_level level)
{
    return the_level >= level;
}

void log_flush(void)
{
    long long target, seen;
    ULONGLONG stalled_since;
    DWORD waited;
    /* Ended already (ExitProcess ends the other threads before the atexit
     * handlers a DLL's detach runs): a worker may have died in ring_lock. */
    if (writer == NULL || WaitForSingleObject(writer, 0) != WAIT_TIMEOUT)
        return;
    AcquireSRWLockExclusive(&ring_lock);
    if (lines_written == flush_gave_up_at) {
        ReleaseSRWLockExclusive(&ring_lock);
        return;
    }
    target = lines_queued;
    seen = lines_written;
    stalled_since = GetTickCount64();
    /* Until the lines queued so far are written, and the drop notice after
     * them; a writer that makes no progress for FLUSH_STALL_MS (a paused
     * console) is left to it. */
    while (lines_written < target
           || (ring_count == 0 && (dropped_since_queued > 0 || writer_busy))) {
        if (lines_written != seen) {
            seen = lines_written;
            stalled_since = GetTickCount64();
        }
        waited = (DWORD)(GetTickCount64() - stalled_since);
        if (waited >= FLUSH_STALL_MS) {
            flush_gave_up_at = lines_written;
            break;
        }
        SleepConditionVariableSRW(&line_written, &ring_lock,
                                  FLUSH_STALL_MS - waited, 0);
    }
    ReleaseSRWLockExclusive(&ring_lock);
}

long long log_dropped(void)
{
    long long dropped;
    AcquireSRWLockShared(&ring_lock);
    dropped = dropped_total;
    ReleaseSRWLockShared(&ring_lock);
    return dropped;
}

/* Format the line, then queue it whole (or, with no log thread, write it). */
static void log_line(long conn_id, const char *suffix, const char *fmt,
                     va_list ap)
{
    char line[LOG_LINE_MAX];
    queued_line *slot;
    int n;

    n = line_prefix(line, sizeof line, conn_id);
    n += vsnprintf(line + n, sizeof line - n, fmt, ap);
    if (n > (int)sizeof line - 64)
        /* A long message is cut; the suffix still fits. */
        n = (int)sizeof line - 64;
    n += snprintf(line + n, sizeof line - n, "%s\r\n", suffix ? suffix : "");

    if (writer == NULL) {
        write_out(line, n);
        return;
    }
    AcquireSRWLockExclusive(&ring_lock);
    if (ring_count == LOG_RING) {
        dropped_since_queued++;
        dropped_total++;
    } else {
        slot = &ring[(ring_first + ring_count) % LOG_RING];
        memcpy(slot->text, line, (size_t)n);
        slot->len = n;
        slot->dropped_before = dropped_since_queued;
        dropped_since_queued = 0;
        ring_count++;
        lines_queued++;
    }
    ReleaseSRWLockExclusive(&ring_lock);
    WakeConditionVariable(&line_queued);
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
/* The codes a socket server meets. A table rather than FormatMessage: Wine
 * has no text for several of them (676 among them), and a name is what one
 * searches for. */
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
