/* buffer.h - a growable byte buffer with a hard limit.
 *
 * Used for a connection's work buffer (bytes received, not yet framed into
 * requests) and its send queue (response bytes not yet sent). Portable C: no
 * Windows header.
 *
 * Every byte of storage a buffer holds is reported to an optional accounting
 * hook, so the server's /stats can say how much memory sits in I/O buffers
 * right now. */
#ifndef BUFFER_H
#define BUFFER_H

#include <stddef.h>

typedef struct buffer {
    char  *data;   /* storage, or NULL when nothing is held */
    size_t start;  /* offset of the first unconsumed byte */
    size_t len;    /* unconsumed bytes: data[start .. start+len) */
    size_t cap;    /* bytes of storage allocated */
    size_t limit;  /* start+len never exceeds this; an append past it fails */
} buffer;

/* Storage kept when a buffer empties; more than this is given back. */
#define BUFFER_KEEP (64u * 1024u)

void   buffer_init(buffer *b, size_t limit);
/* The unconsumed bytes. */
static inline char *buffer_begin(const buffer *b)
{
    return b->data != NULL ? b->data + b->start : b->data;
}
/* Make room for at least n more bytes at the end and return where they go,
 * or NULL when that would pass the limit or memory is short. Moves the
 * contents (compacts or reallocates), so no pointer into the buffer survives
 * a call. */
char  *buffer_reserve(buffer *b, size_t n);
/* Count n bytes written at buffer_reserve()'s pointer as contents. */
void   buffer_commit(buffer *b, size_t n);
/* Append n bytes; 0 on success, -1 past the limit or out of memory (buffer
 * unchanged). */
int    buffer_append(buffer *b, const void *p, size_t n);
/* Append formatted text; 0 on success, -1 as buffer_append. */
int    buffer_printf(buffer *b, const char *fmt, ...);
/* Drop n bytes from the front (n <= len). O(1); when the buffer becomes empty,
 * storage over BUFFER_KEEP is released. */
void   buffer_consume(buffer *b, size_t n);
/* Offset of the first occurrence of needle in the contents, or -1. */
long   buffer_find(const buffer *b, const char *needle, size_t needle_len);
/* Give the storage back (contents are lost). The buffer stays usable. */
void   buffer_release(buffer *b);
/* Exchange two buffers' contents and storage. */
void   buffer_swap(buffer *a, buffer *b);

/* Accounting: hook(+n) when storage grows by n bytes, hook(-n) when it
 * shrinks. Called from any thread; the hook must be thread-safe. NULL
 * (default) = none. */
typedef void (*buffer_account_fn)(long long delta);
void   buffer_set_accounting(buffer_account_fn hook);

#endif
