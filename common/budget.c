/* budget.c - see budget.h. */
#include "budget.h"

#include <string.h>

void budget_set(LONG64 bytes)
{
    InterlockedExchange64(&the_ledger.buffer_budget, bytes);
}

BOOL budget_over(void)
{
    LONG64 budget = ledger_read(&the_ledger.buffer_budget);
    return budget > 0 && ledger_read(&the_ledger.buffer_bytes) > budget;
}

/* Do the buffers, what is reserved already and `bytes` more fit the budget?
 * If so, reserve them. A compare-and-swap: two headers at once cannot both
 * take the last room. */
static BOOL reserve(LONG64 bytes)
{
    LONG64 budget = ledger_read(&the_ledger.buffer_budget), held, seen;

    if (budget == 0)
        return TRUE;
    held = ledger_read(&the_ledger.reserved);
    for (;;) {
        if (ledger_read(&the_ledger.buffer_bytes) + held + bytes > budget)
            return FALSE;
        seen = InterlockedCompareExchange64(&the_ledger.reserved, held + bytes,
                                            held);
        if (seen == held)
            return TRUE;
        held = seen;
    }
}

BOOL budget_admit(const http_request *req, LONG64 *reserved)
{
    if (*reserved > 0)
        return TRUE;
    /* /stats is answered over the budget: it shows it. */
    if (req->content_length == 0)
        return strcmp(req->path, "/stats") == 0 || !budget_over();
    /* The body in the work buffer, then its echo in the send queue: both, for
     * a moment. */
    *reserved = 2 * (LONG64)(req->header_len + req->content_length);
    if (reserve(*reserved))
        return TRUE;
    *reserved = 0;
    return FALSE;
}

void budget_unreserve(LONG64 *reserved)
{
    if (ledger_read(&the_ledger.buffer_budget) > 0)
        ledger_add(&the_ledger.reserved, -*reserved);
    *reserved = 0;
}

response_end budget_refuse(http_request *req, buffer *out)
{
    static const char why[] =
        "503 Service Unavailable: the server's buffers are over its budget "
        "(--budget-mb); retry in a second\n";

    ledger_add(&the_ledger.requests, 1);
    ledger_add(&the_ledger.refused, 1);
    req->status = 503;
    if (http_write_head(out, 503, "text/plain", sizeof why - 1, 0,
                        "Retry-After: 1\r\n") != 0
        || buffer_append(out, why, sizeof why - 1) != 0)
        return RESPONSE_FAILED;
    return RESPONSE_LAST;
}
