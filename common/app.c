/* app.c - see app.h. */
#include "app.h"

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN   /* no <winsock.h>: <winsock2.h> may still come after */
#endif
#include <windows.h>
#include <stdio.h>

#include "ledger.h"

static const stage_info *the_stage;
static char page[2048];
static int  page_len;

void app_init(const stage_info *stage)
{
    the_stage = stage;
    ledger_init();
    page_len = snprintf(page, sizeof page,
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head>\n"
        "<body style=\"font-family:sans-serif;max-width:40em;margin:2em auto\">\n"
        "<h1>iocp-stages: %s</h1>\n<p><b>This stage:</b> %s</p>\n<p><b>Limitation:</b> %s</p>\n"
        "<ul><li><a href=\"/stats\">/stats</a>: the ledger (connections, operations, buffers)</li>\n"
        "<li><a href=\"/big?bytes=1048576\">/big?bytes=1048576</a>: a large response</li>\n"
        "<li><a href=\"/sleep?ms=1000\">/sleep?ms=1000</a>: a handler that blocks</li></ul>\n"
        "</body></html>\n",
        stage->name, stage->name, stage->fixes, stage->limitation);
}

/* Append the 200 response of a routed request. 0, or -1 when out is full. */
static int write_route(const http_request *req, buffer *out)
{
    char json[1024];
    const unsigned char *icon;
    size_t icon_len;
    int json_len, body = !req->head_only;

    switch (req->route) {
    case ROUTE_PAGE:
        return http_write_head(out, 200, "text/html; charset=utf-8", (size_t)page_len, req->keep_alive, NULL)
            || (body && buffer_append(out, page, (size_t)page_len));
    case ROUTE_FAVICON:
        icon = http_favicon(&icon_len);
        return http_write_head(out, 200, "image/x-icon", icon_len, req->keep_alive, NULL)
            || (body && buffer_append(out, icon, icon_len));
    case ROUTE_STATS:
        json_len = ledger_json(json, sizeof json, the_stage->name);
        return json_len < 0
            || http_write_head(out, 200, "application/json", (size_t)json_len, req->keep_alive, NULL)
            || (body && buffer_append(out, json, (size_t)json_len));
    case ROUTE_BIG:
        return http_write_head(out, 200, "text/plain", req->arg, req->keep_alive, NULL)
            || (body && http_write_big(out, 0, req->arg));
    case ROUTE_SLEEP:
        Sleep((DWORD)req->arg);  /* the slow handler: this thread serves nobody meanwhile */
        json_len = snprintf(json, sizeof json, "slept %lu ms\n", (unsigned long)req->arg);
        return http_write_head(out, 200, "text/plain", (size_t)json_len, req->keep_alive, NULL)
            || (body && buffer_append(out, json, (size_t)json_len));
    case ROUTE_ECHO:
        return http_write_head(out, 200, "application/octet-stream", req->content_length, req->keep_alive, NULL)
            || buffer_append(out, req->body, req->content_length);
    default:
        return -1;
    }
}

int app_respond(http_request *req, buffer *out)
{
    ledger_add(&the_ledger.requests, 1);
    if (req->status == 0)
        http_route_request(req);
    if (req->status != 0)
        return http_write_request_error(out, req) == 0 ? 0 : -1;
    if (write_route(req, out) != 0)
        return -1;
    req->status = 200;
    return req->keep_alive ? 1 : 0;
}
