/* opcheck.h - the debug build's guard on every posted operation (make DEBUG=1).
 *
 * Each io_op carries an op_check: a magic number and a state. Posting moves it from idle
 * to posted, dequeuing its completion (or a post that failed at once) moves it back,
 * and freeing the op's memory poisons the magic. In a debug build (-DIOCP_DEBUG) a
 * wrong transition stops the server at once with a message naming it:
 *   posting an op that is already posted   one OVERLAPPED in two operations (C5)
 *   a completion for an op not posted      a double completion, or a stray OVERLAPPED
 *   a completion whose magic is wrong      the op was freed too early (C8)
 * instead of corrupting memory far from the mistake. In a normal build the calls do
 * nothing. This is plumbing: the lesson is in each stage's rules, not here. */
#ifndef OPCHECK_H
#define OPCHECK_H

typedef struct op_check {
    unsigned magic;
    volatile long state;
} op_check;

void opcheck_init(op_check *check);
void opcheck_post(op_check *check, long conn_id, const char *what);
void opcheck_done(op_check *check);  /* before anything else reads the op */
void opcheck_free(op_check *check);

#endif
