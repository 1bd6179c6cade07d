/* app.h - what the server answers: every route (common/http.c) behind one
 * call.
 *
 * The stages differ in how bytes move (blocking calls, completion port,
 * threads); what a request gets back is the same everywhere, so it lives
 * here.
 *
 * How common/ returns, in every file: a call that can fail returns 0, or else
 * what went wrong: a Winsock or Win32 error where Windows gave one, -1 where
 * it gave none (no room left); a predicate returns BOOL, TRUE for yes (an int,
 * 1 for yes, in the portable http.c and buffer.c); a function that produces a
 * length or an offset returns it, or -1 for none. A call whose failure ends
 * the process (net.h) returns what it made. */
#ifndef APP_H
#define APP_H

#include "buffer.h"
#include "http.h"
#include "ledger.h"

/* How a response leaves its connection. */
typedef enum {
    RESPONSE_KEEP_OPEN,  /* the next request may follow */
    RESPONSE_LAST,       /* "Connection: close": the connection ends after it */
    RESPONSE_FAILED      /* out had no room (nothing usable in it): end now */
} response_end;

/* Read the stage's own text, set up the ledger. That text is its folder's
 * stage.txt, linked in as `stage_txt` (tools/embed.c; CMake:
 * tools/embed.cmake): four lines, its name, what it adds, what it still
 * cannot do, and what the lab page (/lab) shows of it; the pages show them,
 * /stats names the stage. */
void app_init(void);
/* The stage's name (its folder's): its stage.txt's first line. */
const char *app_stage_name(void);

/* Append the response to one framed request (req from http_frame(), which
 * may carry an error status) to out, and say how the connection goes on. GET
 * /big appends its head only and sets *body (http.h): the stage produces the
 * body with http_body_next() as its sends drain, and answers nothing else
 * until body->left is 0. GET /sleep blocks the calling thread for the asked
 * time: that is its point. */
response_end app_respond(http_request *req, buffer *out, http_body *body);
#endif
