/* app.c - see app.h. */
#include "app.h"

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN   /* no <winsock.h>: <winsock2.h> may still come after */
#endif
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"

/* The four lines of the stage's stage.txt (app.h), split at app_init. */
static struct {
    const char *name, *fixes, *limitation, *lab;
} the_stage = { "", "", "", "" };
static const char *page;
static size_t      page_len;
static const char *lab;
static size_t      lab_len;

/* The two pages, common/lab/page.html (/) and common/lab/lab.html (/lab), made
 * into arrays at build time (tools/embed.c; CMake: tools/embed.cmake). / is a
 * plain page (one request, no script): NOTES reads the logs of a browser
 * loading it. /lab draws the stage's experiments and its live /stats. */
extern const unsigned char page_html[], lab_html[], stage_txt[];
extern const size_t page_html_size, lab_html_size, stage_txt_size;

/* Does the marker start at `at`? Its length in *len either way. */
static int marker_at(const char *at, const char *marker, size_t *len)
{
    *len = strlen(marker);
    return strncmp(at, marker, *len) == 0;
}

/* The stage's text that the page's marker at `at` stands for, and the marker's
 * length; NULL if no marker starts there. */
static const char *field_at(const char *at, size_t *marker_len)
{
    if (marker_at(at, "{{name}}", marker_len))
        return the_stage.name;
    if (marker_at(at, "{{fixes}}", marker_len))
        return the_stage.fixes;
    if (marker_at(at, "{{limitation}}", marker_len))
        return the_stage.limitation;
    if (marker_at(at, "{{lab}}", marker_len))
        return the_stage.lab;
    return NULL;
}

/* Copy a page's source into out with each marker replaced by the stage's text;
 * the length it takes. out NULL: only that length. */
static size_t fill_page(const unsigned char *source, size_t size, char *out)
{
    const char *at = (const char *)source, *end = at + size, *text;
    size_t len = 0, marker_len, text_len;

    while (at < end) {
        text = *at == '{' ? field_at(at, &marker_len) : NULL;
        if (text != NULL) {
            text_len = strlen(text);
            if (out != NULL)
                memcpy(out + len, text, text_len);
            len += text_len;
            at += marker_len;
        } else {
            if (out != NULL)
                out[len] = *at;
            len++;
            at++;
        }
    }
    return len;
}

/* A page for this stage, kept while the process lives (empty if no memory). */
static const char *make_page(const unsigned char *source, size_t size,
                             size_t *len)
{
    char *out;

    *len = fill_page(source, size, NULL);
    out = malloc(*len);
    if (out == NULL) {
        *len = 0;
        return "";
    }
    fill_page(source, size, out);
    return out;
}

/* The next line of the stage's text, cut at its end; "" once none is left. */
static const char *next_line(char **at)
{
    char *line = *at, *end = strchr(line, '\n');

    if (end == NULL) {
        *at += strlen(line);
        return line;
    }
    *end = '\0';
    *at = end + 1;
    return line;
}

void app_init(void)
{
    char *text = malloc(stage_txt_size + 1), *at = text;

    if (text != NULL) {
        memcpy(text, stage_txt, stage_txt_size + 1);
        the_stage.name = next_line(&at);
        the_stage.fixes = next_line(&at);
        the_stage.limitation = next_line(&at);
        the_stage.lab = next_line(&at);
    }
    ledger_init();
    page = make_page(page_html, page_html_size, &page_len);
    lab = make_page(lab_html, lab_html_size, &lab_len);
}

const char *app_stage_name(void)
{
    return the_stage.name;
}

/* Append the 200 response of a routed request. 0, or -1 when out is full. */
static int write_route(const http_request *req, buffer *out)
{
    char json[4096];
    const unsigned char *icon;
    size_t icon_len;
    int json_len, body = !req->head_only;

    switch (req->route) {
    case ROUTE_PAGE:
        return http_write_head(out, 200, "text/html; charset=utf-8", page_len, req->keep_alive, NULL)
            || (body && buffer_append(out, page, page_len));
    case ROUTE_LAB:
        return http_write_head(out, 200, "text/html; charset=utf-8", lab_len, req->keep_alive, NULL)
            || (body && buffer_append(out, lab, lab_len));
    case ROUTE_FAVICON:
        icon = http_favicon(&icon_len);
        return http_write_head(out, 200, "image/x-icon", icon_len, req->keep_alive, NULL)
            || (body && buffer_append(out, icon, icon_len));
    case ROUTE_STATS:
        json_len = ledger_json(json, sizeof json, the_stage.name);
        return json_len < 0
            || http_write_head(out, 200, "application/json", (size_t)json_len, req->keep_alive, NULL)
            || (body && buffer_append(out, json, (size_t)json_len));
    case ROUTE_BIG:  /* the head now, the body as it is sent (see app_respond) */
        return http_write_head(out, 200, "text/plain", req->arg, req->keep_alive, NULL);
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

response_end app_respond(http_request *req, buffer *out, http_body *body)
{
    ledger_add(&the_ledger.requests, 1);
    body->left = 0;
    if (req->status == 0)
        http_route_request(req);
    if (req->status != 0)
        return http_write_request_error(out, req) == 0 ? RESPONSE_LAST : RESPONSE_FAILED;
    if (write_route(req, out) != 0)
        return RESPONSE_FAILED;
    body->offset = 0;
    body->left = req->route == ROUTE_BIG && !req->head_only ? req->arg : 0;
    req->status = 200;
    return req->keep_alive ? RESPONSE_KEEP_OPEN : RESPONSE_LAST;
}

int app_admit(const http_request *req, LONG64 *reserved)
{
    if (*reserved > 0)
        return 1;
    if (req->content_length == 0)  /* /stats is answered over the budget: it shows it */
        return strcmp(req->path, "/stats") == 0 || !ledger_over_budget();
    /* The body in the work buffer, then its echo in the send queue: both, for a moment. */
    *reserved = 2 * (LONG64)(req->header_len + req->content_length);
    if (ledger_reserve(*reserved))
        return 1;
    *reserved = 0;
    return 0;
}

response_end app_refuse(http_request *req, buffer *out)
{
    static const char why[] = "503 Service Unavailable: the server's buffers are over its "
                              "budget (--budget-mb); retry in a second\n";
    ledger_add(&the_ledger.requests, 1);
    ledger_add(&the_ledger.refused, 1);
    req->status = 503;
    return http_write_head(out, 503, "text/plain", sizeof why - 1, 0, "Retry-After: 1\r\n")
           || buffer_append(out, why, sizeof why - 1) ? RESPONSE_FAILED : RESPONSE_LAST;
}
