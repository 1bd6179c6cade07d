/* log.h - the server's log: one line per event, thread-safe, to stderr.
 *
 *   [  12.345] [tid 0x1a4] #7 recv completed 375 bytes
 *
 * time since start, the thread, the connection number (none when 0), the event.
 * The log never blocks a caller: a line is queued, and a thread of the
 * log's own writes it (a paused console or a pipe nobody reads blocks that
 * thread only). Lines may be dropped when the writer cannot keep up: they are
 * counted, "N log lines dropped" stands where they were once it can write
 * again, and /stats gives the count as "log_dropped".
 * Levels: -q errors only; default adds connection events; -v adds every
 * posted and completed operation. Error numbers are printed with their names
 * from a table, because FormatMessage has no text for many of them under
 * Wine. */
#ifndef LOG_H
#define LOG_H

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN   /* no <winsock.h>: <winsock2.h> may follow */
#endif
#include <windows.h>

typedef enum { LOG_QUIET = 0, LOG_DEFAULT = 1, LOG_VERBOSE = 2 } log_level;

#if defined(__GNUC__)
#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LOG_PRINTF(a, b)
#endif

/* Set the level and the clock, start the log's thread; and clear QuickEdit on
 * the console (see log.c). Returning from main, exit(), a failed assert and a
 * crash flush the log first. */
void log_init(log_level level);
/* Wait until the lines logged so far are written: before printing to stdout or
 * stderr directly (the final ledger, an error before exit), so that the output
 * keeps its order. Bounded: gives up when the writer writes nothing for 2 s. */
void log_flush(void);
/* Lines dropped since start because the queue was full. */
long long log_dropped(void);
/* Would a line of this level be shown? */
BOOL log_enabled(log_level level);
/* Connection events (accepted, closed, ...): shown unless -q. */
void log_event(long conn_id, const char *fmt, ...) LOG_PRINTF(2, 3);
/* Every posted and completed operation: shown with -v. */
void log_op(long conn_id, const char *fmt, ...) LOG_PRINTF(2, 3);
/* Errors: always shown; "<event>: NAME (number)" for the Win32/Winsock error
 * err. */
void log_error(long conn_id, DWORD err, const char *fmt, ...) LOG_PRINTF(3, 4);
/* "ERROR_OPERATION_ABORTED (995)", "WSAECONNRESET (10054)", "error 1234"
 * when unknown. */
const char *error_name(DWORD err, char *buf, size_t size);

#endif
