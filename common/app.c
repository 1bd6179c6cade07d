/* app.c - see app.h. */
#include "app.h"

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN   /* no <winsock.h>: <winsock2.h> may still come after */
#endif
#include <windows.h>
#include <stdio.h>
#include <string.h>

#include "ledger.h"

static const stage_info *the_stage;
static char page[2048];
static int  page_len;
static char lab[16384];
static int  lab_len;

/* The lab (/lab, linked from the page): the stage, the live ledger (/stats every 0.5 s) and
 * two experiments in plain JavaScript: one /sleep?ms=1000 alone, then four at once, timed; a
 * 64 MiB download read slowly while the ledger refreshes. /lab?run=lab runs both on load
 * (tests/browser/run.sh reads the lines they write into #lab). Apart from /, which stays a
 * plain page (one request, no script): NOTES reads the logs of a browser loading it. No '%'
 * in the script: this is a printf format. */
static const char lab_format[] =
    "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>%s: the lab</title>\n"
    "<style>body{font-family:sans-serif;max-width:46em;margin:2em auto;padding:0 1em}"
    "pre{background:#f3f3f3;padding:.6em;white-space:pre-wrap}</style></head>\n<body>\n"
    "<h1>iocp-stages: %s, the lab</h1>\n<p><b>This stage:</b> %s</p>\n<p><b>Limitation:</b> %s</p>\n"
    "<h2>The ledger, live</h2>\n<pre id=\"ledger\">asking /stats ...</pre>\n"
    "<h2>The lab</h2>\n<p>%s</p>\n"
    "<p><button id=\"sleep\">Four /sleep?ms=1000 at once</button> side by side: about 1 s; "
    "one handler at a time: about 4 s.<br>\n"
    "<button id=\"big\">Download 64 MiB</button> watch send.pending, bytes_out and "
    "buffer_bytes in the ledger meanwhile.</p>\n<pre id=\"lab\"></pre>\n"
    "<p>By hand: <a href=\"/\">the page</a>, <a href=\"/stats\">/stats</a>, <a href=\"/big?bytes=1048576\">/big?bytes=1048576</a>, "
    "<a href=\"/sleep?ms=1000\">/sleep?ms=1000</a>.</p>\n"
    "<script>\n"
    "'use strict';\n"
    "var lab = document.getElementById('lab'), seen = {refreshes: 0, sending: 0, every: 500};\n"
    "function say(line) { lab.textContent += line + '\\n'; }\n"
    "function ms(t0) { return Math.round(performance.now() - t0); }\n"
    "function ledger() {\n"
    "  fetch('/stats', {cache: 'no-store'}).then(function (r) { return r.json(); }).then(function (s) {\n"
    "    var lines = [];\n"
    "    Object.keys(s).forEach(function (k) {\n"
    "      var v = s[k];\n"
    "      if (typeof v === 'object') v = Object.keys(v).map(function (f) { return f + ' ' + v[f]; }).join(', ');\n"
    "      lines.push(k + ': ' + v);\n"
    "    });\n"
    "    seen.refreshes++;\n"
    "    if (s.send && s.send.pending > 0) seen.sending++;\n"
    "    document.getElementById('ledger').textContent = lines.join('\\n') + '\\n(at ' + new Date().toLocaleTimeString() + ')';\n"
    "  }).catch(function (e) { document.getElementById('ledger').textContent = '/stats failed: ' + e; })\n"
    "    .then(function () { setTimeout(ledger, seen.every); });\n"
    "}\n"
    "function sleeps(n) {\n"
    "  var t0 = performance.now(), times = [], abort = new AbortController();\n"
    "  var timer = setTimeout(function () { abort.abort(); }, 12000);\n"
    "  var runs = [];\n"
    "  for (var i = 0; i < n; i++)\n"
    "    runs.push(fetch('/sleep?ms=1000&n=' + i, {cache: 'no-store', signal: abort.signal})\n"
    "      .then(function (r) { return r.text(); }).then(function () { times.push(ms(t0)); }, function () {}));\n"
    "  return Promise.all(runs).then(function () { clearTimeout(timer); return times.sort(function (a, b) { return a - b; }); });\n"
    "}\n"
    "function sleepTest() {\n"
    "  var single;\n"
    "  say('one /sleep?ms=1000 alone ...');\n"
    "  return sleeps(1).then(function (t) {\n"
    "    single = t[0];\n"
    "    if (single === undefined) { say('sleep: stalled: one /sleep?ms=1000 not answered in 12 s'); return; }\n"
    "    say('four at once ...');\n"
    "    return sleeps(4).then(function (t) {\n"
    "      var total = t[t.length - 1];\n"
    "      if (t.length < 4) say('sleep: stalled: single=' + single + ' answered=' + t.length + ' of 4 in 12 s (at ' + t.join(', ') + ' ms)');\n"
    "      else say('sleep: single=' + single + ' total=' + total + ' times=' + t.join(',') + ': ' +\n"
    "               (total >= 3 * single ? 'one handler at a time' : total < 2.5 * single ? 'side by side' : 'in between'));\n"
    "    });\n"
    "  });\n"
    "}\n"
    "function bigTest() {\n"
    "  var n = 67108864, got = 0, mark = 0, t0 = performance.now(), before = seen.refreshes, sending = seen.sending;\n"
    "  say('downloading ' + n + ' bytes, with a 50 ms pause after each MiB (the send stays in flight) ...');\n"
    "  seen.every = 100;\n"
    "  return fetch('/big?bytes=' + n, {cache: 'no-store'}).then(function (r) {\n"
    "    var reader = r.body.getReader();\n"
    "    function pump() {\n"
    "      return reader.read().then(function (c) {\n"
    "        if (c.done) return;\n"
    "        got += c.value.length;\n"
    "        if (got < mark + 1048576) return pump();\n"
    "        mark = got;\n"
    "        return new Promise(function (go) { setTimeout(go, 50); }).then(pump);\n"
    "      });\n"
    "    }\n"
    "    return pump();\n"
    "  }).then(function () {\n"
    "    seen.every = 500;\n"
    "    say('big: ' + got + ' bytes in ' + ms(t0) + ' ms; the ledger refreshed ' + (seen.refreshes - before) +\n"
    "        ' times meanwhile, ' + (seen.sending - sending) + ' of them with a send in flight');\n"
    "  }, function (e) { seen.every = 500; say('big: failed after ' + got + ' bytes: ' + e); });\n"
    "}\n"
    "document.getElementById('sleep').onclick = sleepTest;\n"
    "document.getElementById('big').onclick = bigTest;\n"
    "ledger();\n"
    "if (/[?&]run=lab/.test(location.search)) sleepTest().then(bigTest).then(function () { say('lab done'); });\n"
    "</script>\n</body></html>\n";

void app_init(const stage_info *stage)
{
    the_stage = stage;
    ledger_init();
    page_len = snprintf(page, sizeof page,
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head>\n"
        "<body style=\"font-family:sans-serif;max-width:40em;margin:2em auto\">\n"
        "<h1>iocp-stages: %s</h1>\n<p><b>This stage:</b> %s</p>\n<p><b>Limitation:</b> %s</p>\n"
        "<ul><li><a href=\"/lab\">the lab</a>: the live ledger, and the limitation to run in your browser</li>\n"
        "<li><a href=\"/stats\">/stats</a>: the ledger (connections, operations, buffers)</li>\n"
        "<li><a href=\"/big?bytes=1048576\">/big?bytes=1048576</a>: a large response</li>\n"
        "<li><a href=\"/sleep?ms=1000\">/sleep?ms=1000</a>: a handler that blocks</li></ul>\n"
        "</body></html>\n",
        stage->name, stage->name, stage->fixes, stage->limitation);
    lab_len = snprintf(lab, sizeof lab, lab_format, stage->name, stage->name, stage->fixes,
                       stage->limitation, stage->lab);
    if (page_len < 0 || page_len >= (int)sizeof page)
        page_len = 0;   /* cannot happen with these texts; an empty page rather than a cut one */
    if (lab_len < 0 || lab_len >= (int)sizeof lab)
        lab_len = 0;
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
    case ROUTE_LAB:
        return http_write_head(out, 200, "text/html; charset=utf-8", (size_t)lab_len, req->keep_alive, NULL)
            || (body && buffer_append(out, lab, (size_t)lab_len));
    case ROUTE_FAVICON:
        icon = http_favicon(&icon_len);
        return http_write_head(out, 200, "image/x-icon", icon_len, req->keep_alive, NULL)
            || (body && buffer_append(out, icon, icon_len));
    case ROUTE_STATS:
        json_len = ledger_json(json, sizeof json, the_stage->name);
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
    if (*reserved > 0 || strcmp(req->path, "/stats") == 0)
        return 1;
    if (req->content_length == 0)
        return !ledger_over_budget();
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
