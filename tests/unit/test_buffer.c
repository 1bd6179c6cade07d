/* test_buffer.c - unit tests of common/buffer.c.
 *
 * Every case ends with all its buffers released and checks that the accounting hook
 * saw the storage come back to zero: that is what lets /stats report buffer_bytes. */
#define CHECK_SUITE "buffer"
#include "check.h"

#include <stdint.h>
#include <stdlib.h>

#include "buffer.h"

/* The accounting hook: bytes held now, and how many times cap changed. */
static long long held;
static int cap_changes;

static void account(long long delta)
{
    held += delta;
    cap_changes++;
}

static void starts_empty(void)
{
    buffer b;
    buffer_init(&b, 100);
    CHECK(b.data == NULL);
    CHECK_INT(b.len, 0);
    CHECK_INT(b.cap, 0);
    CHECK_INT(b.limit, 100);
    CHECK_INT(buffer_find(&b, "x", 1), -1);
    buffer_consume(&b, 0);
    CHECK_INT(buffer_append(&b, "", 0), 0);
    CHECK(b.data == NULL);   /* appending nothing allocates nothing */
    CHECK(buffer_reserve(&b, 0) != NULL);   /* but a place to write is a real one */
    buffer_release(&b);
    CHECK_INT(held, 0);
}

static void grows_geometrically(void)
{
    buffer b;
    int i, changes;
    buffer_init(&b, 1u << 20);
    cap_changes = 0;
    for (i = 0; i < 100000; i++) {
        char c = (char)('a' + i % 26);
        CHECK_INT(buffer_append(&b, &c, 1), 0);
    }
    changes = cap_changes;
    CHECK_INT(b.len, 100000);
    CHECK(b.cap >= b.len && b.cap <= b.limit);
    CHECK_INT(held, b.cap);
    /* Doubling from 1 KiB: about log2(100000 / 1024) + 1 = 8 reallocations, not 100000. */
    CHECK(changes <= 10);
    for (i = 0; i < 100000; i++)
        CHECK(b.data[i] == (char)('a' + i % 26));
    buffer_release(&b);
    CHECK_INT(held, 0);
}

static void refuses_past_limit(void)
{
    buffer b;
    char block[100];
    memset(block, 'x', sizeof block);
    buffer_init(&b, 100);
    CHECK_INT(buffer_append(&b, block, 60), 0);
    CHECK_INT(buffer_append(&b, block, 41), -1);   /* 101 > 100 */
    CHECK_INT(b.len, 60);                           /* unchanged */
    CHECK(buffer_reserve(&b, 41) == NULL);
    CHECK(buffer_reserve(&b, SIZE_MAX) == NULL);   /* len + n would overflow */
    CHECK_INT(buffer_append(&b, block, 40), 0);     /* exactly at the limit */
    CHECK_INT(b.len, 100);
    CHECK_INT(b.cap, 100);                          /* growth stops at the limit */
    CHECK(buffer_reserve(&b, 1) == NULL);
    CHECK(buffer_reserve(&b, 0) != NULL);           /* asking for nothing always fits */
    buffer_release(&b);
    CHECK_INT(held, 0);
}

/* The limit bounds contents plus reservation after compaction, not start + len before. */
static void limit_counts_unconsumed_bytes(void)
{
    buffer b;
    buffer_init(&b, 10);
    CHECK_INT(buffer_append(&b, "0123456789", 10), 0);
    buffer_consume(&b, 4);
    CHECK_INT(buffer_append(&b, "abcd", 4), 0);
    CHECK_CONTENTS(&b, "456789abcd");
    CHECK_INT(b.start, 0);
    CHECK_INT(buffer_append(&b, "!", 1), -1);
    buffer_release(&b);
    CHECK_INT(held, 0);
}

static void compacts_before_growing(void)
{
    buffer b;
    char block[1000], *before;
    size_t cap;
    memset(block, 'y', sizeof block);
    buffer_init(&b, 1u << 20);
    CHECK_INT(buffer_append(&b, block, 1000), 0);
    cap = b.cap;
    before = b.data;
    buffer_consume(&b, 900);
    CHECK_INT(b.start, 900);      /* consume only moves start ... */
    CHECK(b.data == before);      /* ... and leaves the bytes where they are */
    cap_changes = 0;
    CHECK_INT(buffer_append(&b, "tail", 4), 0);  /* 904 + 4 <= 1024: no move needed */
    CHECK_INT(b.start, 900);
    CHECK_INT(buffer_append(&b, block, 500), 0); /* 100 + 4 + 500 fits once compacted */
    CHECK_INT(b.start, 0);
    CHECK_INT(b.cap, cap);
    CHECK_INT(cap_changes, 0);
    CHECK_INT(b.len, 604);
    CHECK(memcmp(b.data + 100, "tail", 4) == 0);
    buffer_release(&b);
    CHECK_INT(held, 0);
}

static void reserve_then_commit(void)
{
    buffer b;
    char *p;
    buffer_init(&b, 64);
    p = buffer_reserve(&b, 10);
    CHECK(p != NULL);
    memcpy(p, "hello, world", 10);
    buffer_commit(&b, 5);   /* fewer than reserved: only these count */
    CHECK_CONTENTS(&b, "hello");
    CHECK(buffer_reserve(&b, 59) != NULL);
    CHECK(buffer_reserve(&b, 60) == NULL);
    buffer_release(&b);
    CHECK_INT(held, 0);
}

static void consume_to_empty(void)
{
    buffer b;
    char *big = calloc(1, BUFFER_KEEP + 1);
    CHECK(big != NULL);
    buffer_init(&b, 4 * BUFFER_KEEP);

    /* Small storage is kept for the next request ... */
    CHECK_INT(buffer_append(&b, "abc", 3), 0);
    buffer_consume(&b, 1);
    buffer_consume(&b, 2);
    CHECK_INT(b.start, 0);
    CHECK_INT(b.len, 0);
    CHECK(b.data != NULL);
    CHECK_INT(held, b.cap);

    /* ... large storage goes back as soon as it is empty. */
    CHECK_INT(buffer_append(&b, big, BUFFER_KEEP + 1), 0);
    free(big);
    CHECK(b.cap > BUFFER_KEEP);
    buffer_consume(&b, BUFFER_KEEP);
    CHECK(b.data != NULL);   /* not empty yet */
    buffer_consume(&b, 1);
    CHECK(b.data == NULL);
    CHECK_INT(b.cap, 0);
    CHECK_INT(b.start, 0);
    CHECK_INT(held, 0);
    CHECK_INT(buffer_append(&b, "again", 5), 0);   /* still usable */
    CHECK_CONTENTS(&b, "again");
    buffer_release(&b);
    CHECK_INT(held, 0);
}

static void finds_needles(void)
{
    buffer b;
    buffer_init(&b, 256);
    CHECK_INT(buffer_append(&b, "xxGET / HTTP/1.1\r\nA: b\r\n\r\nbody", 30), 0);
    CHECK_INT(buffer_find(&b, "\r\n\r\n", 4), 22);
    CHECK_INT(buffer_find(&b, "xx", 2), 0);
    CHECK_INT(buffer_find(&b, "body", 4), 26);
    CHECK_INT(buffer_find(&b, "bodyx", 5), -1);   /* would run past the end */
    CHECK_INT(buffer_find(&b, "HTTP/2", 6), -1);
    CHECK_INT(buffer_find(&b, "", 0), 0);
    buffer_consume(&b, 2);   /* offsets are relative to the unconsumed bytes */
    CHECK_INT(buffer_find(&b, "GET", 3), 0);
    CHECK_INT(buffer_find(&b, "xx", 2), -1);      /* consumed bytes are not searched */
    buffer_release(&b);
    CHECK_INT(buffer_append(&b, "aaab", 4), 0);   /* a false start just before the match */
    CHECK_INT(buffer_find(&b, "aab", 3), 1);
    CHECK_INT(buffer_find(&b, "aaaab", 5), -1);
    buffer_release(&b);
    CHECK_INT(held, 0);
}

static void printf_formats_and_stops_at_limit(void)
{
    buffer b;
    buffer_init(&b, 32);
    CHECK_INT(buffer_printf(&b, "%d-%s-%llu", 42, "x", 18446744073709551615ull), 0);
    CHECK_CONTENTS(&b, "42-x-18446744073709551615");   /* 25 bytes */
    CHECK_INT(buffer_printf(&b, "%s", "1234567"), -1);      /* 32 bytes + NUL > 32 */
    CHECK_INT(b.len, 25);
    CHECK_INT(buffer_printf(&b, "%s", "123456"), 0);        /* 31 bytes + NUL fits */
    CHECK_INT(b.len, 31);
    CHECK_INT(buffer_printf(&b, "%s", ""), 0);
    CHECK_INT(b.len, 31);
    buffer_release(&b);

    /* Longer than any small scratch space a printf might use. */
    buffer_init(&b, 10000);
    CHECK_INT(buffer_printf(&b, "%5000d|", 7), 0);
    CHECK_INT(b.len, 5001);
    CHECK(b.data[4999] == '7' && b.data[5000] == '|');
    buffer_release(&b);
    CHECK_INT(held, 0);
}

static void swap_exchanges_everything(void)
{
    buffer a, b;
    buffer_init(&a, 100);
    buffer_init(&b, 200);
    CHECK_INT(buffer_append(&a, "first", 5), 0);
    buffer_consume(&a, 2);
    buffer_swap(&a, &b);
    CHECK(a.data == NULL);
    CHECK_INT(a.limit, 200);
    CHECK_CONTENTS(&b, "rst");
    CHECK_INT(b.limit, 100);
    buffer_swap(&a, &b);
    CHECK_CONTENTS(&a, "rst");
    buffer_release(&a);
    buffer_release(&b);
    CHECK_INT(held, 0);
}

static void release_keeps_buffer_usable(void)
{
    buffer b;
    buffer_init(&b, 100);
    CHECK_INT(buffer_append(&b, "data", 4), 0);
    CHECK(held > 0);
    buffer_release(&b);
    CHECK(b.data == NULL);
    CHECK_INT(b.len + b.start + b.cap, 0);
    CHECK_INT(b.limit, 100);
    CHECK_INT(held, 0);
    buffer_release(&b);   /* twice is harmless */
    CHECK_INT(buffer_append(&b, "more", 4), 0);
    CHECK_CONTENTS(&b, "more");
    buffer_release(&b);
    CHECK_INT(held, 0);
}

/* A long random mix of every operation: the hook must always match cap exactly. */
static void accounting_balances(void)
{
    buffer a, b;
    char block[3000];
    unsigned seed = 12345;
    int i;
    memset(block, 'z', sizeof block);
    buffer_init(&a, 200000);
    buffer_init(&b, 50000);
    for (i = 0; i < 20000; i++) {
        size_t n;
        seed = seed * 1103515245u + 12345u;
        n = (seed >> 8) % sizeof block;
        switch ((seed >> 24) % 6) {
        case 0: case 1: buffer_append(&a, block, n); break;
        case 2: buffer_consume(&a, n < a.len ? n : a.len); break;
        case 3: buffer_printf(&b, "%.*s", (int)n, block); break;
        case 4: buffer_consume(&b, b.len); break;
        case 5: if (seed % 7 == 0) buffer_swap(&a, &b); break;
        }
        CHECK_INT(held, (long long)a.cap + (long long)b.cap);
        CHECK(a.start + a.len <= a.limit && b.start + b.len <= b.limit);
    }
    buffer_release(&a);
    buffer_release(&b);
    CHECK_INT(held, 0);
}

/* Each case counts from zero, so one failing case (which may leave storage behind)
 * does not fail the cases after it too. */
#define RUN_CASE(test) (held = 0, RUN(test))

int main(void)
{
    buffer_set_accounting(account);
    RUN_CASE(starts_empty);
    RUN_CASE(grows_geometrically);
    RUN_CASE(refuses_past_limit);
    RUN_CASE(limit_counts_unconsumed_bytes);
    RUN_CASE(compacts_before_growing);
    RUN_CASE(reserve_then_commit);
    RUN_CASE(consume_to_empty);
    RUN_CASE(finds_needles);
    RUN_CASE(printf_formats_and_stops_at_limit);
    RUN_CASE(swap_exchanges_everything);
    RUN_CASE(release_keeps_buffer_usable);
    RUN_CASE(accounting_balances);
    return check_exit();
}
