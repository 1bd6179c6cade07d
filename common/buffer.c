/* buffer.c - see buffer.h.
 *
 * The unconsumed bytes live at data[start .. start+len). Consuming only
 * moves `start`, so taking one request off the front of a buffer holding ten
 * pipelined ones costs nothing; the bytes are moved once, later, when room
 * is needed at the end. */
#include "buffer.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Smallest allocation: a typical request fits, and tiny appends do not
 * realloc each time. */
#define BUFFER_MIN_CAP 1024u

static buffer_account_fn account_hook;

void buffer_set_accounting(buffer_account_fn hook)
{
    account_hook = hook;
}

/* Every change of cap goes through here, so the ledger's buffer_bytes is
 * exact. */
static void account(size_t old_cap, size_t new_cap)
{
    if (account_hook != NULL && new_cap != old_cap)
        account_hook((long long)new_cap - (long long)old_cap);
}

void buffer_init(buffer *b, size_t limit)
{
    b->data = NULL;
    b->start = b->len = b->cap = 0;
    b->limit = limit;
}

char *buffer_reserve(buffer *b, size_t n)
{
    size_t want, new_cap;
    char *p;

    /* len <= limit always holds, so this test cannot overflow (len + n
     * could). */
    if (n > b->limit - b->len)
        return NULL;
    want = b->len + n;

    /* Room at the end already? */
    if (b->data != NULL && n <= b->cap - b->start - b->len)
        return b->data + b->start + b->len;

    /* Move the contents to the front: the consumed bytes before `start`
     * become free room, and if that is still too little, realloc grows a
     * buffer that needs `want` bytes rather than start + want. */
    if (b->start > 0) {
        memmove(b->data, b->data + b->start, b->len);
        b->start = 0;
    }
    if (b->data != NULL && want <= b->cap)
        return b->data + b->len;

    /* Grow geometrically so appending byte by byte stays linear; never past
     * the limit. (cap > limit / 2 is tested instead of cap * 2 > limit: no
     * overflow on 32-bit size_t.) */
    if (b->cap == 0)
        new_cap = BUFFER_MIN_CAP < b->limit ? BUFFER_MIN_CAP : b->limit;
    else
        new_cap = b->cap > b->limit / 2 ? b->limit : b->cap * 2;
    if (new_cap < want)
        new_cap = want;
    /* Limit 0: nothing can ever be held. */
    if (new_cap == 0)
        return NULL;

    p = realloc(b->data, new_cap);
    /* The old storage is still ours, contents unchanged. */
    if (p == NULL)
        return NULL;
    account(b->cap, new_cap);
    b->data = p;
    b->cap = new_cap;
    return b->data + b->len;
}

void buffer_commit(buffer *b, size_t n)
{
    assert(n <= b->cap - b->start - b->len);
    b->len += n;
}

int buffer_append(buffer *b, const void *p, size_t n)
{
    char *dst;

    /* Memcpy with a NULL pointer is undefined even for 0 bytes. */
    if (n == 0)
        return 0;
    dst = buffer_reserve(b, n);
    if (dst == NULL)
        return -1;
    memcpy(dst, p, n);
    buffer_commit(b, n);
    return 0;
}

/* vsnprintf writes a terminating NUL, so one byte more than the text is
 * reserved (it is not committed): a text that would end exactly at the limit
 * fails. */
int buffer_printf(buffer *b, const char *fmt, ...)
{
    va_list ap, again;
    int n;
    char *dst;

    va_start(ap, fmt);
    /* A va_list can be walked only once. */
    va_copy(again, ap);
    n = vsnprintf(NULL, 0, fmt, ap);
    dst = n < 0 ? NULL : buffer_reserve(b, (size_t)n + 1);
    if (dst != NULL)
        vsnprintf(dst, (size_t)n + 1, fmt, again);
    va_end(again);
    va_end(ap);
    if (dst == NULL)
        return -1;
    buffer_commit(b, (size_t)n);
    return 0;
}

void buffer_consume(buffer *b, size_t n)
{
    assert(n <= b->len);
    b->start += n;
    b->len -= n;
    if (b->len > 0)
        return;
    /* Empty: the next bytes go to the front, and an idle connection does not
     * sit on a large allocation left over from one big response. */
    b->start = 0;
    if (b->cap > BUFFER_KEEP)
        buffer_release(b);
}

long buffer_find(const buffer *b, const char *needle, size_t needle_len)
{
    const char *hay, *p, *end;

    if (needle_len == 0)
        return 0;
    if (b->len < needle_len)
        return -1;
    hay = b->data + b->start;
    /* Candidates for the first byte of a match: memchr skips to each one
     * quickly. */
    end = hay + (b->len - needle_len) + 1;
    for (p = hay; (p = memchr(p, needle[0], (size_t)(end - p))) != NULL; p++) {
        if (memcmp(p, needle, needle_len) == 0)
            return (long)(p - hay);
    }
    return -1;
}

void buffer_release(buffer *b)
{
    free(b->data);
    account(b->cap, 0);
    b->data = NULL;
    b->start = b->len = b->cap = 0;
}

/* The whole struct is exchanged, limit included: each limit stays with the
 * contents it bounds, so neither buffer can end up holding more than its
 * limit allows. */
void buffer_swap(buffer *a, buffer *b)
{
    buffer t = *a;
    *a = *b;
    *b = t;
}
