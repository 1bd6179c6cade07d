/* budget.h - a bound on all connections' buffers (--budget-mb), for a server
 * that refuses work rather than grow without bound: over the budget, requests
 * are answered 503 and reading stops.
 *
 * Its figures are the ledger's, so /stats shows them: buffer_bytes (what the
 * buffers hold now), buffer_budget, reserved (promised to request bodies still
 * on their way) and refused. A request with a body reserves room for the body
 * and its echo at its header, before the body is read: a budget checked only
 * once the body is in would have let it in already. */
#ifndef BUDGET_H
#define BUDGET_H

#include "app.h"   /* response_end; http.h, buffer.h, ledger.h */

/* The budget, in bytes of buffer storage; 0: none, nothing is refused. */
void budget_set(LONG64 bytes);
/* Do the buffers hold more than the budget? */
BOOL budget_over(void);
/* May req be answered? Over the budget, no, except /stats, which shows why.
 * A request with a body reserves room for the body and its echo at its header
 * (req framed up to HTTP_NEED_MORE), kept in *reserved (0: none yet); no room,
 * no. */
BOOL budget_admit(const http_request *req, LONG64 *reserved);
/* Give back what *reserved holds, once its request is answered; zero it. */
void budget_unreserve(LONG64 *reserved);
/* Refuse req instead: 503 with Retry-After, counted in /stats "refused". */
response_end budget_refuse(http_request *req, buffer *out);

#endif
