/* check.h - the smallest test harness that does the job: no framework to install.
 *
 * A test case is a `static void name(void)` that uses CHECK*; the first failing check
 * ends the case. RUN(name) prints exactly one line for it, `PASS unit/SUITE_name` or
 * `FAIL unit/SUITE_name: why`, and check_exit() is the suite's exit status.
 * Define CHECK_SUITE ("buffer") before including; include from one .c file only. */
#ifndef CHECK_H
#define CHECK_H

#include <stdio.h>
#include <string.h>

#ifndef CHECK_SUITE
#error "define CHECK_SUITE before including check.h"
#endif

static int  check_failed_cases;
static int  check_case_failed;
static char check_why[1024];

/* n bytes as one printable line: CR, LF, NUL and the like become escapes, so a FAIL
 * line stays one line whatever bytes it quotes. Cut short to fit dst. */
static void check_escape(char *dst, size_t size, const char *p, size_t n)
{
    size_t i, o = 0;
    for (i = 0; i < n && o + 5 < size; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\r' || c == '\n')
            o += (size_t)sprintf(dst + o, "\\%c", c == '\r' ? 'r' : 'n');
        else if (c < ' ' || c >= 0x7f)
            o += (size_t)sprintf(dst + o, "\\x%02x", c);
        else
            dst[o++] = (char)c;
    }
    dst[o] = '\0';
}

/* Record the first failure of the current case (only the first: it explains the rest). */
static void check_fail(const char *file, int line, const char *what)
{
    int n;
    if (check_case_failed)
        return;
    check_case_failed = 1;
    n = snprintf(check_why, sizeof check_why, "%s:%d: ", file, line);
    if (n > 0 && (size_t)n < sizeof check_why)
        check_escape(check_why + n, sizeof check_why - (size_t)n, what, strlen(what));
}

/* CHECK_MSG: for checks in a loop, where the message says which round failed. */
#define CHECK_MSG(cond, msg)                                         \
    do {                                                             \
        if (!(cond)) {                                               \
            check_fail(__FILE__, __LINE__, (msg));                   \
            return;                                                  \
        }                                                            \
    } while (0)

#define CHECK(cond) CHECK_MSG(cond, #cond)

/* Integers: the message shows both values, which a bare CHECK cannot. */
#define CHECK_INT(got, want)                                         \
    do {                                                             \
        long long got_ = (long long)(got), want_ = (long long)(want); \
        if (got_ != want_) {                                         \
            char what_[256];                                         \
            snprintf(what_, sizeof what_, "%s is %lld, expected %lld", #got, got_, want_); \
            check_fail(__FILE__, __LINE__, what_);                   \
            return;                                                  \
        }                                                            \
    } while (0)

#define CHECK_STR(got, want) CHECK_STR_AS(got, want, #got)
#define CHECK_STR_AS(got, want, what)                                \
    do {                                                             \
        const char *got_ = (got), *want_ = (want);                   \
        if (got_ == NULL || strcmp(got_, want_) != 0) {              \
            char what_[800];                                         \
            snprintf(what_, sizeof what_, "%s is \"%.300s\", expected \"%.300s\"", what, \
                     got_ != NULL ? got_ : "(null)", want_);         \
            check_fail(__FILE__, __LINE__, what_);                   \
            return;                                                  \
        }                                                            \
    } while (0)

/* n bytes as a C string for CHECK_STR (the first 1023 of them). */
static const char *check_text(const char *p, size_t n)
{
    static char text[1024];
    if (n > sizeof text - 1)
        n = sizeof text - 1;
    if (n > 0)
        memcpy(text, p, n);
    text[n] = '\0';
    return text;
}

/* The unconsumed bytes of a buffer (common/buffer.h) are exactly `want`. */
#define CHECK_CONTENTS(b, want) \
    CHECK_STR_AS(check_text((b)->len > 0 ? buffer_begin(b) : "", (b)->len), want, "contents of " #b)

static void check_run(const char *name, void (*test)(void))
{
    check_case_failed = 0;
    test();
    if (check_case_failed) {
        check_failed_cases++;
        printf("FAIL unit/%s_%s: %s\n", CHECK_SUITE, name, check_why);
    } else {
        printf("PASS unit/%s_%s\n", CHECK_SUITE, name);
    }
    fflush(stdout);   /* keep the lines in order with a sanitizer's report on stderr */
}

#define RUN(test) check_run(#test, test)

static int check_exit(void)
{
    return check_failed_cases > 0 ? 1 : 0;
}

#endif
