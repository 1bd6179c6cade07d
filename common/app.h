/* app.h - what the server answers: the routes of STAGES.md behind one call.
 *
 * The stages differ in how bytes move (blocking calls, completion port, threads);
 * what a request gets back is the same everywhere, so it lives here. */
#ifndef APP_H
#define APP_H

#include "buffer.h"
#include "http.h"
#include "ledger.h"

/* How a response leaves its connection. */
typedef enum {
    RESPONSE_KEEP_OPEN,  /* the next request may follow */
    RESPONSE_LAST,       /* "Connection: close": the connection ends after this one */
    RESPONSE_FAILED      /* out had no room (nothing usable appended): end it now */
} response_end;

/* Read the stage's own text, set up the ledger. That text is its folder's
 * stage.txt, linked in as `stage_txt` (tools/embed.c; CMake: tools/embed.cmake):
 * four lines, its name, what it adds, what it still cannot do, and what the lab
 * page (/lab) shows of it; the pages show them, /stats names the stage. */
void app_init(void);
/* The stage's name, "03-recv-send": its stage.txt's first line. */
const char *app_stage_name(void);

/* Append the response to one framed request (req from http_frame(), which may carry an
 * error status) to out, and say how the connection goes on.
 * GET /big appends its head only and sets *body (http.h): the stage produces the body
 * with http_body_next() as its sends drain, and answers nothing else until body->left is
 * 0. GET /sleep blocks the calling thread for the asked time: that is its point. */
response_end app_respond(http_request *req, buffer *out, http_body *body);
/* 06's --budget-mb (ledger_set_budget): may req be answered? Over the budget, no (but
 * /stats, which says why). A request with a body reserves, at its header (req framed up
 * to HTTP_NEED_MORE), room for the body and its echo, kept in *reserved (0: none yet) and
 * given back with ledger_unreserve once it is answered; no room, no. */
int app_admit(const http_request *req, LONG64 *reserved);
/* Refuse req instead: 503 with Retry-After, counted in /stats "refused". */
response_end app_refuse(http_request *req, buffer *out);

#endif
