/* ledger.c - see ledger.h. */
#include "ledger.h"

#include <stdio.h>
#include <string.h>

#include "buffer.h"
#include "log.h"

ledger the_ledger;

void ledger_add(volatile LONG64 *counter, LONG64 delta)
{
    InterlockedExchangeAdd64(counter, delta);
}

/* A 64-bit read is not atomic on 32-bit x86: read through an interlocked
 * operation. */
LONG64 ledger_read(volatile LONG64 *counter)
{
    return InterlockedCompareExchange64(counter, 0, 0);
}

static const char *const call_names[CALL_KINDS] = {
    "accept", "WSASocket", "AcceptEx", "SO_UPDATE_ACCEPT_CONTEXT", "FIONBIO",
    "CreateIoCompletionPort", "WSARecv", "WSASend", "GetQueuedCompletionStatus",
    "recv", "send"};

void ledger_calls(unsigned kinds)
{
    int k;
    for (k = 0; k < CALL_KINDS; k++)
        if (kinds & (1u << k))
            ledger_add(&the_ledger.calls[k], 1);
}

/* ,"calls":{...},"calls_per_request":N,"calls_per_connection":N at dst;
 * returns its length. */
static int calls_json(char *dst, size_t size)
{
    LONG64 all = 0, setup = 0, requests = ledger_read(&the_ledger.requests);
    LONG64 accepted = ledger_read(&the_ledger.accepted);
    int n = snprintf(dst, size, ",\"calls\":{"), k;
    for (k = 0; k < CALL_KINDS && n > 0 && (size_t)n < size; k++) {
        LONG64 v = ledger_read(&the_ledger.calls[k]);
        all += v;
        if (CALL_SETUP & (1u << k))
            setup += v;
        n += snprintf(dst + n, size - n, "%s\"%s\":%lld", k ? "," : "",
                      call_names[k], v);
    }
    if (n > 0 && (size_t)n < size)
        n += snprintf(dst + n, size - n, "},\"calls_per_request\":%.2f,"
                      "\"calls_per_connection\":%.2f",
                      requests ? (double)all / (double)requests : 0.0,
                      accepted ? (double)setup / (double)accepted : 0.0);
    return n;
}

/* The buffers' accounting hook: buffer_bytes, and its high-water mark. */
static void account_buffer(long long delta)
{
    LONG64 now
        = InterlockedExchangeAdd64(&the_ledger.buffer_bytes, delta) + delta;
    LONG64 high = ledger_read(&the_ledger.buffer_high);
    while (now > high) {
        LONG64 seen
            = InterlockedCompareExchange64(&the_ledger.buffer_high, now, high);
        if (seen == high)
            break;
        high = seen;
    }
}

static const char *const kind_names[OP_KINDS] = {"recv", "send", "accept"};

const char *op_kind_name(op_kind kind)
{
    return kind_names[kind];
}

void ledger_init(void)
{
    ZeroMemory((void *)&the_ledger, sizeof the_ledger);
    buffer_set_accounting(account_buffer);
}

/* One kind's counters. completed and failed are read before posted: an
 * operation is counted as posted before it can complete, so read this way
 * pending is never negative, even while other threads post and complete. */
typedef struct op_counts { LONG64 posted, completed, failed; } op_counts;

static op_counts read_counts(int k)
{
    op_counts n;
    n.completed = ledger_read(&the_ledger.completed[k]);
    n.failed = ledger_read(&the_ledger.failed[k]);
    n.posted = ledger_read(&the_ledger.posted[k]);
    return n;
}

LONG64 ledger_pending(op_kind kind)
{
    LONG64 pending = 0;
    int k;
    for (k = 0; k < OP_KINDS; k++) {
        if (kind == OP_KINDS || kind == (op_kind)k) {
            op_counts n = read_counts(k);
            pending += n.posted - n.completed - n.failed;
        }
    }
    return pending;
}

BOOL ledger_drained(void)
{
    return ledger_read(&the_ledger.live_connections) == 0
           && ledger_pending(OP_KINDS) == 0;
}

/* The list being noted (the sweep's thread only) and the one /stats gives
 * (under its lock). */
static char conns_next[LEDGER_CONNS * 96], conns_now[sizeof conns_next];
static int conns_next_len, conns_noted, conns_listed;
static SRWLOCK conns_lock = SRWLOCK_INIT;

void ledger_note_conn(long id, const char *state, int recv, int send,
                      size_t queued)
{
    int n;
    if (conns_noted++ >= LEDGER_CONNS)
        return;
    n = snprintf(
        conns_next + conns_next_len, sizeof conns_next - conns_next_len,
        "%s{\"id\":%ld,\"state\":\"%s\",\"recv\":%d,\"send\":%d,"
        "\"queued\":%lu}",
        conns_next_len > 0 ? "," : "", id, state, recv, send,
        (unsigned long)queued);
    if (n > 0 && (size_t)n < sizeof conns_next - conns_next_len)
        conns_next_len += n;
}

void ledger_conns_done(void)
{
    AcquireSRWLockExclusive(&conns_lock);
    memcpy(conns_now, conns_next, (size_t)conns_next_len);
    conns_now[conns_next_len] = '\0';
    conns_listed = 1;
    ReleaseSRWLockExclusive(&conns_lock);
    conns_next_len = conns_noted = 0;
}

int ledger_json(char *dst, size_t size, const char *stage)
{
    LONG64 pending_ops = 0;
    int n, k;

    n = snprintf(
        dst, size,
        "{\"stage\":\"%s\",\"accepted\":%lld,\"live_connections\":%lld,"
        "\"requests\":%lld,\"bytes_in\":%lld,\"bytes_out\":%lld,"
        "\"buffer_bytes\":%lld,"
        "\"buffer_high\":%lld,\"buffer_budget\":%lld,"
        "\"reserved\":%lld,\"refused\":%lld,\"log_dropped\":%lld",
        stage, ledger_read(&the_ledger.accepted),
        ledger_read(&the_ledger.live_connections),
        ledger_read(&the_ledger.requests), ledger_read(&the_ledger.bytes_in),
        ledger_read(&the_ledger.bytes_out),
        ledger_read(&the_ledger.buffer_bytes),
        ledger_read(&the_ledger.buffer_high),
        ledger_read(&the_ledger.buffer_budget),
        ledger_read(&the_ledger.reserved), ledger_read(&the_ledger.refused),
        log_dropped());
    for (k = 0; k < OP_KINDS && n > 0 && (size_t)n < size; k++) {
        op_counts c = read_counts(k);
        pending_ops += c.posted - c.completed - c.failed;
        n += snprintf(
            dst + n, size - n,
            ",\"%s\":{\"posted\":%lld,\"completed\":%lld,"
            "\"failed\":%lld,\"pending\":%lld}",
            kind_names[k], c.posted, c.completed, c.failed,
            c.posted - c.completed - c.failed);
    }
    /* Before pending_ops: a final ledger (no "conns") still ends with it. */
    if (n > 0 && (size_t)n < size)
        n += calls_json(dst + n, size - n);
    if (n > 0 && (size_t)n < size)
        n += snprintf(dst + n, size - n, ",\"pending_ops\":%lld", pending_ops);
    AcquireSRWLockShared(&conns_lock);
    if (conns_listed && n > 0 && (size_t)n < size)
        n += snprintf(dst + n, size - n, ",\"conns\":[%s]", conns_now);
    ReleaseSRWLockShared(&conns_lock);
    if (n > 0 && (size_t)n < size)
        n += snprintf(dst + n, size - n, "}");
    return (n > 0 && (size_t)n < size) ? n : -1;
}

int ledger_report(const char *stage)
{
    char json[4096];
    AcquireSRWLockExclusive(&conns_lock);
    /* The last sweep's list is from before the shutdown: left out. */
    conns_listed = 0;
    ReleaseSRWLockExclusive(&conns_lock);
    log_flush();
    ledger_json(json, sizeof json, stage);
    printf("final ledger: %s\n", json);
    fflush(stdout);
    return ledger_drained() && ledger_read(&the_ledger.buffer_bytes) == 0 ? 0
                                                                          : 1;
}
