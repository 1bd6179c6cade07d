/* app.h - what the server answers: the routes of STAGES.md behind one call.
 *
 * The stages differ in how bytes move (blocking calls, completion port, threads);
 * what a request gets back is the same everywhere, so it lives here. */
#ifndef APP_H
#define APP_H

#include "buffer.h"
#include "http.h"

typedef struct stage_info {
    const char *name;        /* "03-recv-send" */
    const char *fixes;       /* one sentence: what this stage adds */
    const char *limitation;  /* one sentence: what it still cannot do */
} stage_info;

/* Remember the stage (for the page and /stats), set up the ledger. */
void app_init(const stage_info *stage);

/* Append the response to one framed request (req from http_frame(), which may carry an
 * error status) to out. Returns 1 when the connection stays open, 0 when it closes after
 * this response, -1 when out had no room (nothing usable was appended: close now).
 * GET /big appends its head only and sets *body (http.h): the stage produces the body
 * with http_body_next() as its sends drain, and answers nothing else until body->left is
 * 0. GET /sleep blocks the calling thread for the asked time: that is its point. */
int  app_respond(http_request *req, buffer *out, http_body *body);

#endif
