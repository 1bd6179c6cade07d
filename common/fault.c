/* fault.c - see fault.h. Plumbing of the debug build, not a lesson. */
#include "fault.h"

#ifdef IOCP_DEBUG
#undef WSARecv
#undef WSASend
#undef WSAIoctl
#undef WSASocketW

#include <mswsock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { F_RECV, F_SEND, F_ACCEPT, F_SOCKET, F_KINDS, MAX_RULES = 8 };

static const char *const kind_names[F_KINDS] = {"recv", "send", "accept",
                                                "socket"};

typedef struct rule {
    int  kind;
    long from, to;   /* posts from..to fail (or, every > 0, each every-th) */
    long every;
    int  error;      /* 0: a hold instead */
    long hold_ms;    /* hold=MS: wait, then the real call */
} rule;

static rule rules[MAX_RULES];
static int rule_count;
static volatile LONG posts[F_KINDS];
static LPFN_ACCEPTEX real_accept_ex;

static _Noreturn void bad_rules(const char *spec, const char *why)
{
    fprintf(stderr, "fault: IOCP_FAULT=%s: %s (see common/fault.h)\n", spec,
            why);
    exit(2);
}

/* One rule at p ("recv:5:10055"); returns where it ends. */
static const char *parse_rule(const char *spec, const char *p, rule *r)
{
    char *end;
    size_t n = strcspn(p, ":");
    for (r->kind = 0; r->kind < F_KINDS; r->kind++)
        if (strlen(kind_names[r->kind]) == n
            && strncmp(p, kind_names[r->kind], n) == 0)
            break;
    if (r->kind == F_KINDS || p[n] != ':')
        bad_rules(spec, "a rule starts with recv:, send:, accept: or socket:");
    p += n + 1;
    if (*p == '%') {
        r->every = strtol(p + 1, &end, 10);
    } else {
        r->from = r->to = strtol(p, &end, 10);
        if (*end == '-')
            r->to = strtol(end + 1, &end, 10);
    }
    if (end == p || *end != ':'
        || (r->every <= 0 && (r->from < 1 || r->to < r->from)))
        bad_rules(spec, "WHICH is N, N-M or %N, counted from 1");
    if (strncmp(end + 1, "hold=", 5) == 0) {
        r->hold_ms = strtol(end + 6, &end, 10);
        if (r->hold_ms < 1 || r->hold_ms > 60000
            || (*end != ',' && *end != '\0'))
            bad_rules(spec, "hold=MS waits 1..60000 ms");
        return *end == ',' ? end + 1 : end;
    }
    r->error = (int)strtol(end + 1, &end, 10);
    if (r->error <= 0 || (*end != ',' && *end != '\0'))
        bad_rules(spec,
                  "ERROR is a Winsock error number, e.g. 10055, or hold=MS");
    return *end == ',' ? end + 1 : end;
}

/* Before main: the rules, once; a program that cannot honour them does not
 * start. */
__attribute__((constructor)) static void fault_rules(void)
{
    const char *spec = getenv("IOCP_FAULT"), *p = spec;
    if (spec == NULL || *spec == '\0')
        return;
    while (*p) {
        if (rule_count == MAX_RULES)
            bad_rules(spec, "more than 8 rules");
        p = parse_rule(spec, p, &rules[rule_count++]);
    }
    fprintf(stderr, "fault: IOCP_FAULT=%s armed\n", spec);
    fflush(stderr);
}

/* Count a post of `kind`: the error it must fail with, or 0 for the real
 * call (after the wait a hold rule asks for). */
static int fault_for(int kind)
{
    long n;
    int i;
    if (rule_count == 0)
        return 0;
    n = InterlockedIncrement(&posts[kind]);
    for (i = 0; i < rule_count; i++) {
        const rule *r = &rules[i];
        if (r->kind != kind
            || (r->every > 0 ? n % r->every != 0 : n < r->from || n > r->to))
            continue;
        if (r->hold_ms > 0) {
            fprintf(stderr, "fault: %s post %ld holds %ld ms (IOCP_FAULT)\n",
                    kind_names[kind], n, r->hold_ms);
            fflush(stderr);
            Sleep((DWORD)r->hold_ms);
            fprintf(stderr, "fault: %s post %ld held %ld ms: made now\n",
                    kind_names[kind], n, r->hold_ms);
            fflush(stderr);
            return 0;
        }
        fprintf(stderr, "fault: %s post %ld fails with %d (IOCP_FAULT)\n",
                kind_names[kind], n, r->error);
        fflush(stderr);
        return r->error;
    }
    return 0;
}

/* 1 when this post of `kind` must fail: the error is set, as Winsock sets
 * it. */
static int fails(int kind)
{
    int error = fault_for(kind);
    if (error)
        WSASetLastError(error);
    return error != 0;
}

int WSAAPI fault_WSARecv(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD bytes,
                         LPDWORD flags, LPWSAOVERLAPPED ov,
                         LPWSAOVERLAPPED_COMPLETION_ROUTINE done)
{
    return fails(F_RECV) ? SOCKET_ERROR
                         : WSARecv(s, bufs, count, bytes, flags, ov, done);
}

int WSAAPI fault_WSASend(SOCKET s, LPWSABUF bufs, DWORD count, LPDWORD bytes,
                         DWORD flags, LPWSAOVERLAPPED ov,
                         LPWSAOVERLAPPED_COMPLETION_ROUTINE done)
{
    return fails(F_SEND) ? SOCKET_ERROR
                         : WSASend(s, bufs, count, bytes, flags, ov, done);
}

SOCKET WSAAPI fault_WSASocketW(int af, int type, int protocol,
                               LPWSAPROTOCOL_INFOW info, GROUP group,
                               DWORD flags)
{
    return fails(F_SOCKET) ? INVALID_SOCKET
                           : WSASocketW(af, type, protocol, info, group, flags);
}

static BOOL PASCAL fault_AcceptEx(SOCKET listener, SOCKET accepted, PVOID buf,
                                  DWORD data_len, DWORD local_len,
                                  DWORD remote_len, LPDWORD bytes,
                                  LPOVERLAPPED ov)
{
    return fails(F_ACCEPT) ? FALSE
                           : real_accept_ex(listener, accepted, buf, data_len,
                                            local_len, remote_len, bytes, ov);
}

/* The real WSAIoctl; when it hands out AcceptEx, the caller gets
 * fault_AcceptEx instead. */
int WSAAPI fault_WSAIoctl(SOCKET s, DWORD code, LPVOID in, DWORD in_size,
                          LPVOID out, DWORD out_size, LPDWORD returned,
                          LPWSAOVERLAPPED ov,
                          LPWSAOVERLAPPED_COMPLETION_ROUTINE done)
{
    static const GUID accept_ex_id = WSAID_ACCEPTEX;
    int r = WSAIoctl(s, code, in, in_size, out, out_size, returned, ov, done);
    if (r == 0 && code == SIO_GET_EXTENSION_FUNCTION_POINTER
        && in_size == sizeof(GUID)
        && memcmp(in, &accept_ex_id, sizeof(GUID)) == 0
        && out_size == sizeof(LPFN_ACCEPTEX)) {
        memcpy(&real_accept_ex, out, sizeof real_accept_ex);
        *(LPFN_ACCEPTEX *)out = fault_AcceptEx;
    }
    return r;
}

#else

/* The release build has no fault switch, and an empty file is not C. */
typedef int fault_unused;

#endif
