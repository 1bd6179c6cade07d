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
static char lab[40960];
static int  lab_len;

/* The lab (/lab, linked from the page): the stage, its experiments drawn as timelines in
 * inline SVG by plain JavaScript (four /sleep?ms=1000 at once; a connection kept open and
 * idle while a second one asks), and the live ledger (/stats) drawn as charts over the last
 * minute, with a 64 MiB download; on a stage whose /stats lists its connections ("conns":
 * 06, ledger_note_conn), those too. /lab?run=lab runs every experiment on load and writes
 * what it found into #lab (make lab, tests/browser/run.sh). Apart from /, which stays a
 * plain page (one request, no script): NOTES reads the logs of a browser loading it. The
 * head is a printf format (no '%' in it); the script is not. */
static const char lab_head[] =
    "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>%s: the lab</title>\n"
    "<style>body{font-family:sans-serif;max-width:52em;margin:2em auto;padding:0 1em}"
    "pre{background:#f3f3f3;padding:.6em;white-space:pre-wrap}svg{display:block;margin:.4em 0}"
    ".key{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 .6em;vertical-align:-.1em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.1em .6em;text-align:center}"
    "td.state{color:#fff}caption{text-align:left}</style></head>\n<body>\n"
    "<h1>iocp-stages: %s, the lab</h1>\n<p><b>This stage:</b> %s</p>\n<p><b>Limitation:</b> %s</p>\n"
    "<p id=\"stage-lab\">%s</p>\n"
    "<p><small>Commands are typed from the repository's root, in a second terminal (build the "
    "client once: <code>make build/tests/scenarios</code>). Without a window, over SSH: "
    "<code>make lab PORT=<span class=\"port\">8080</span></code> runs this page in headless "
    "Chromium and prints what it finds (it opens <code>/lab?run=lab</code>, which runs every "
    "experiment on load).</small></p>\n<p id=\"status\"></p>\n"
    "<h2>Four /sleep?ms=1000 at once</h2>\n"
    "<p><button id=\"sleep\">Run: one alone, then four at once</button> One bar per request, "
    "from when it was asked to its answer, on one time axis:<span class=\"key\" "
    "style=\"background:#cbd5e0\"></span>waiting,<span class=\"key\" style=\"background:#2b6cb0\">"
    "</span>the handler's 1000 ms (the last second before the answer). One handler at a time "
    "draws a staircase; handlers side by side, four bars one above the other.</p>\n"
    "<svg id=\"sleep-timeline\" width=\"660\" height=\"0\"></svg>\n"
    "<h2>An idle connection kept open</h2>\n"
    "<p><button id=\"hold\">Run</button> A is answered and keeps its connection open, "
    "idle<span class=\"key\" style=\"background:#9ae6b4\"></span>(as a browser does); B asks "
    "on a second connection. A lets go (the red line) once B is answered, or 3 s after its "
    "own answer: is B answered before?<span class=\"key\" style=\"background:#e53e3e\"></span>"
    "never answered.</p>\n"
    "<svg id=\"held-timeline\" width=\"660\" height=\"0\"></svg>\n"
    "<h2>The ledger, live: the last minute</h2>\n"
    "<p><button id=\"big\">Download 64 MiB, read late</button> (shaded in the charts; the page "
    "reads it from 2 s on, so the browser takes what it can hold and the rest waits): what the "
    "server holds while it sends, asked of <a href=\"/stats\">/stats</a> every half second "
    "(every 50 ms meanwhile). "
    "<i id=\"answered\"></i></p>\n"
    "<svg id=\"chart-ops\" width=\"660\" height=\"0\"></svg>\n"
    "<svg id=\"chart-conns\" width=\"660\" height=\"0\"></svg>\n"
    "<svg id=\"chart-buffers\" width=\"660\" height=\"0\"></svg>\n"
    "<h3>Open connections</h3>\n<div id=\"conns\">asking /stats ...</div>\n"
    "<details><summary>/stats, as numbers</summary><pre id=\"ledger\">asking /stats ...</pre></details>\n"
    "<h2>What the lab found</h2>\n<pre id=\"lab\"></pre>\n"
    "<p>By hand: <a href=\"/\">the page</a>, <a href=\"/stats\">/stats</a>, "
    "<a href=\"/big?bytes=1048576\">/big?bytes=1048576</a>, <a href=\"/sleep?ms=1000\">/sleep?ms=1000</a>.</p>\n"
    "<script>\n";

/* The script, in two pieces (Visual Studio takes string literals of up to 16 KiB). */
static const char lab_script_1[] =
    "'use strict';\n"
    "/* The lab: plain JavaScript and inline SVG, nothing fetched but this server's own routes.\n"
    " * An experiment asks each of its requests with ?close=1 (a connection of its own that ends\n"
    " * with its answer, as the scenario clients do: fetch() cannot send \"Connection: close\"),\n"
    " * and so does the ledger meanwhile; before, it ends the connection the ledger's refreshes\n"
    " * keep open between experiments. So this page never holds a stage that serves one\n"
    " * connection at a time (01) while it measures. */\n"
    "var SVG = 'http://www.w3.org/2000/svg';\n"
    "var port = location.port || (location.protocol === 'https:' ? '443' : '80');\n"
    "var lab = byId('lab'), busy = false;\n"
    "/* ?axis=N: timelines span at least N seconds (make lab-picture draws 03 and 04 on one scale) */\n"
    "var AXIS = 1000 * +((/[?&]axis=([0-9]+)/.exec(location.search) || [0, 0])[1]);\n"
    "var COLOUR = {wait: '#cbd5e0', run: '#2b6cb0', idle: '#9ae6b4', stall: '#e53e3e',\n"
    "              recv: '#2b6cb0', send: '#dd6b20', accept: '#38a169', conns: '#553c9a',\n"
    "              buffer: '#2b6cb0', high: '#718096', budget: '#e53e3e'};\n"
    "function byId(id) { return document.getElementById(id); }\n"
    "function now() { return performance.now(); }\n"
    "function say(line) { lab.textContent += line + '\\n'; }\n"
    "function status(text) { byId('status').textContent = text; }\n"
    "function delay(ms) { return new Promise(function (go) { setTimeout(go, ms); }); }\n"
    "function ms(t) { return Math.round(t); }\n"
    "function kib(n) {\n"
    "  return n >= 10485760 ? Math.round(n / 1048576) + ' MiB' : n >= 1048576 ? (n / 1048576).toFixed(1) + ' MiB' :\n"
    "         n >= 1024 ? Math.round(n / 1024) + ' KiB' : n + ' B';\n"
    "}\n"
    "function el(parent, name, attrs, text) {\n"
    "  var e = document.createElementNS(SVG, name);\n"
    "  Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });\n"
    "  if (text !== undefined) e.textContent = text;\n"
    "  if (parent) parent.appendChild(e);\n"
    "  return e;\n"
    "}\n"
    "function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }\n"
    "\n"
    "/* Commands as typed from the repository's root, with the port this page came from. */\n"
    "(function () {\n"
    "  var p = byId('stage-lab');\n"
    "  p.innerHTML = p.innerHTML.replace(/(build\\/tests\\/)?scenarios -p PORT/g, 'build/tests/scenarios -p ' + port);\n"
    "  Array.prototype.forEach.call(document.querySelectorAll('.port'), function (e) { e.textContent = port; });\n"
    "})();\n"
    "\n"
    "/* One request: when it went out, when its head came, when its answer was whole (ms of\n"
    " * performance.now()); error instead of end when it failed or was given up. */\n"
    "function request(url, signal) {\n"
    "  var r = {url: url, start: now()};\n"
    "  return fetch(url, {cache: 'no-store', signal: signal}).then(function (resp) {\n"
    "    r.head = now();\n"
    "    r.status = resp.status;\n"
    "    return resp.text();\n"
    "  }).then(function () { r.end = now(); return r; }, function (e) { r.error = String(e); r.gaveUp = now(); return r; });\n"
    "}\n"
    "\n"
    "/* A timeline: one row per request on a common time axis, a tick a second. A row's parts\n"
    " * are {from, to, kind} in ms from t0: wait (asked, no answer yet), run (a handler's time:\n"
    " * the last ms before its answer), idle (answered, its connection kept open), stall (never\n"
    " * answered). marks: [{at, label}], a red line. */\n"
    "function timeline(svg, t0, rows, marks) {\n"
    "  var W = 660, left = 230, right = 20, rowH = 24, top = 26, end = 0, span, px, H, s;\n"
    "  clear(svg);\n"
    "  rows.forEach(function (r) { r.parts.forEach(function (p) { end = Math.max(end, p.to - t0); }); });\n"
    "  marks.forEach(function (m) { end = Math.max(end, m.at - t0); });\n"
    "  span = Math.max(2000, AXIS, Math.ceil((end + 150) / 1000) * 1000);\n"
    "  px = (W - left - right) / span;\n"
    "  H = top + rows.length * rowH + 26;\n"
    "  svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);\n"
    "  svg.setAttribute('width', W);\n"
    "  svg.setAttribute('height', H);\n"
    "  function x(t) { return (left + (t - t0) * px).toFixed(1); }\n"
    "  for (s = 0; s <= span; s += 1000) {\n"
    "    el(svg, 'line', {'class': 'tick', 'data-s': s / 1000, x1: x(t0 + s), x2: x(t0 + s), y1: top - 6, y2: H - 20, stroke: '#e2e8f0'});\n"
    "    el(svg, 'text', {x: x(t0 + s), y: H - 6, 'text-anchor': 'middle', 'font-size': 11, fill: '#4a5568'}, s / 1000 + ' s');\n"
    "  }\n"
    "  rows.forEach(function (r, i) {\n"
    "    var y = top + i * rowH;\n"
    "    el(svg, 'text', {x: left - 8, y: y + 15, 'text-anchor': 'end', 'font-size': 12}, r.label);\n"
    "    r.parts.forEach(function (p) {\n"
    "      var bar = el(svg, 'rect', {'class': 'bar ' + p.kind, 'data-row': i, x: x(p.from), y: y + 4,\n"
    "                                 width: Math.max(1, (p.to - p.from) * px).toFixed(1), height: rowH - 8, fill: COLOUR[p.kind]});\n"
    "      el(bar, 'title', {}, p.kind + ': ' + ms(p.from - t0) + '-' + ms(p.to - t0) + ' ms');\n"
    "    });\n"
    "    if (r.note)\n"
    "      el(svg, 'text', {x: (+x(r.parts[r.parts.length - 1].to) + 6).toFixed(1), y: y + 15, 'font-size': 11, fill: '#4a5568'}, r.note);\n"
    "  });\n"
    "  marks.forEach(function (m) {\n"
    "    el(svg, 'line', {'class': 'mark', x1: x(m.at), x2: x(m.at), y1: top - 10, y2: H - 20, stroke: COLOUR.stall, 'stroke-dasharray': '4 3'});\n"
    "    el(svg, 'text', {x: x(m.at), y: top - 12, 'text-anchor': 'middle', 'font-size': 11, fill: COLOUR.stall}, m.label);\n"
    "  });\n"
    "}\n"
    "\n"
    "/* The parts of an answered request whose handler took `handler` ms before its answer. */\n"
    "function parts(r, handler) {\n"
    "  if (r.end === undefined)\n"
    "    return [{from: r.start, to: r.gaveUp, kind: 'stall'}];\n"
    "  var run = Math.max(r.start, r.end - handler);\n"
    "  return [{from: r.start, to: run, kind: 'wait'}, {from: run, to: r.end, kind: 'run'}];\n"
    "}\n"
    "\n"
    "/* One experiment at a time. Meanwhile the ledger is asked with ?close=1 too, and first the\n"
    " * refresh in flight, if any, ends and one more (?close=1) ends the kept-alive connection. */\n"
    "function experiment(name, fn) {\n"
    "  if (busy)\n"
    "    return Promise.resolve();\n"
    "  busy = true;\n"
    "  setButtons(true);\n"
    "  status('running: ' + name + ' ...');\n"
    "  return ledgerQuiet().then(fn).catch(function (e) { say(name + ': failed: ' + e); }).then(function () {\n"
    "    ledger.closing--;\n"
    "    ledger.every = 500;\n"
    "    busy = false;\n"
    "    setButtons(false);\n"
    "    status('');\n"
    "  });\n"
    "}\n"
    "function setButtons(off) {\n"
    "  Array.prototype.forEach.call(document.querySelectorAll('button'), function (b) { b.disabled = off; });\n"
    "}\n"
    "\n"
    "/* Four /sleep?ms=1000 at once (after one alone): a staircase where one handler runs at a time. */\n"
    "function sleeps(n) {\n"
    "  var abort = new AbortController(), timer = setTimeout(function () { abort.abort(); }, 12000), runs = [], i;\n"
    "  for (i = 0; i < n; i++)\n"
    "    runs.push(request('/sleep?ms=1000&close=1&n=' + i, abort.signal));\n"
    "  return Promise.all(runs).then(function (rs) { clearTimeout(timer); return rs; });\n"
    "}\n"
    "function sleepTest() {\n"
    "  return experiment('four /sleep?ms=1000 at once', function () {\n"
    "    var single;\n"
    "    return sleeps(1).then(function (one) {\n"
    "      single = one[0].end === undefined ? undefined : ms(one[0].end - one[0].start);\n"
    "      return sleeps(4);\n"
    "    }).then(function (four) {\n"
    "      var t0 = Math.min.apply(null, four.map(function (r) { return r.start; }));\n"
    "      var ends = four.filter(function (r) { return r.end !== undefined; })\n"
    "                     .map(function (r) { return ms(r.end - t0); }).sort(function (a, b) { return a - b; });\n"
    "      /* one after another: answers about 1000 ms apart (at least 300: the browser's and a\n"
    "       * busy machine's delays come off a gap), 2400 ms from first to last; side by side: all\n"
    "       * answered within 2500 ms of the asking (scenario sleep-parallel-4's bound), the\n"
    "       * handlers' seconds overlapping */\n"
    "      var steps = ends.length === 4 && ends[3] - ends[0] >= 2400 &&\n"
    "                  ends.every(function (e, i) { return i === 0 || e - ends[i - 1] >= 300; });\n"
    "      var beside = ends.length === 4 && ends[3] <= 2500;\n"
    "      timeline(byId('sleep-timeline'), t0, four.map(function (r, i) {\n"
    "        return {label: '/sleep?ms=1000 #' + (i + 1), parts: parts(r, 1000),\n"
    "                note: r.end === undefined ? 'no answer in 12 s' : ms(r.end - t0) + ' ms'};\n"
    "      }), []);\n"
    "      say('sleep: one alone ' + (single === undefined ? 'not answered in 12 s' : single + ' ms') +\n"
    "          '; four at once answered at ' + (ends.length ? ends.join(', ') + ' ms' : 'none') +\n"
    "          (ends.length < 4 ? ' (' + (4 - ends.length) + ' not answered in 12 s): stalled' :\n"
    "           steps ? ': one after another' : beside ? ': side by side' : ': in between'));\n"
    "    });\n"
    "  });\n"
    "}\n"
    "\n"
    "/* 01's limitation, as a browser can show it: A's answer comes and its connection stays open\n"
    " * (keep-alive), idle; B asks on a second connection. A lets go once B is answered, or 3 s\n"
    " * after its answer: was B answered before? (A client that does not read its answer, 02's\n"
    " * limitation, a browser cannot play: Chromium reads and keeps a whole 64 MiB answer that\n"
    " * the page does not read.) */\n"
    "function holdTest() {\n"
    "  return experiment('an idle connection kept open', function () {\n"
    "    var abort = new AbortController(), timer, a, b, release;\n"
    "    a = request('/sleep?ms=500');  /* kept alive: no close=1 */\n"
    "    return delay(100).then(function () {\n"
    "      timer = setTimeout(function () { abort.abort(); }, 12000);\n"
    "      b = request('/stats?close=1', abort.signal);\n"
    "      return a;\n"
    "    }).then(function () {\n"
    "      return Promise.race([b, delay(3000)]);\n"
    "    }).then(function () {\n"
    "      release = now();\n"
    "      /* A's connection is the only idle one this page has: the browser sends this on it,\n"
    "       * and the answer ends it. */\n"
    "      return request('/stats?close=1');\n"
    "    }).then(function () { return b; }).then(function (rb) {\n"
    "      var ra, t0;\n"
    "      clearTimeout(timer);\n"
    "      return a.then(function (x) {\n"
    "        ra = x;\n"
    "        t0 = ra.start;\n"
    "        timeline(byId('held-timeline'), t0, [\n"
    "          {label: 'A: /sleep?ms=500, kept open', parts: parts(ra, 500).concat(\n"
    "             ra.end === undefined ? [] : [{from: ra.end, to: release, kind: 'idle'}]), note: ''},\n"
    "          {label: 'B: /stats, a second connection', parts: rb.end === undefined ? parts(rb, 0) :\n"
    "             [{from: rb.start, to: rb.end, kind: 'wait'}], note: rb.end === undefined ? 'no answer in 12 s' : ms(rb.end - t0) + ' ms'}\n"
    "        ], [{at: release, label: \"A's connection ends\"}]);\n"
    "        say('held: B answered ' + (rb.end === undefined ? 'not at all in 12 s' :\n"
    "            rb.end <= release ? 'at ' + ms(rb.end - t0) + ' ms, while A\\'s connection was open: served beside it' :\n"
    "            'at ' + ms(rb.end - t0) + ' ms, only after A\\'s connection ended (at ' + ms(release - t0) + ' ms): held by A'));\n"
    "      });\n"
    "    });\n"
    "  });\n"
    "}\n";
/* end of lab_script_1 */

static const char lab_script_2[] =
    "/* A 64 MiB download that the page starts reading only after 2 s: the browser takes in what\n"
    " * it can hold, then the server's last sends wait (in flight, where sends are operations);\n"
    " * the ledger is asked every 50 ms, on a kept-alive connection (the download has its own):\n"
    " * what is in flight, what is held. */\n"
    "function bigTest() {\n"
    "  return experiment('a 64 MiB download', function () {\n"
    "    var n = 67108864, got = 0, t0, band, base = 0;\n"
    "    ledger.closing--;\n"
    "    ledger.every = 50;\n"
    "    return sampledAfter(now()).then(function () {  /* asked every 50 ms from here on */\n"
    "      t0 = now();\n"
    "      band = {from: t0, to: undefined};\n"
    "      ledger.samples.forEach(function (x) { if (x.s) base = x.s.bytes_out; });  /* before it */\n"
    "      ledger.bands.push(band);\n"
    "      return fetch('/big?bytes=' + n + '&close=1', {cache: 'no-store'});\n"
    "    }).then(function (r) {\n"
    "      var reader = r.body.getReader();\n"
    "      function pump() {\n"
    "        return reader.read().then(function (c) {\n"
    "          if (c.done)\n"
    "            return;\n"
    "          got += c.value.length;\n"
    "          return pump();\n"
    "        });\n"
    "      }\n"
    "      return delay(2000).then(pump);\n"
    "    }).then(function () {\n"
    "      band.to = now();\n"
    "      /* the answers that came while the server was in the middle of sending it: 64 KiB to\n"
    "       * 64 MiB more out than before (other answers are a few KiB); a stage that sends with\n"
    "       * blocking calls from its one thread gives none */\n"
    "      var seen = ledger.samples.filter(function (x) { return x.s && x.t >= band.from && x.t <= band.to; });\n"
    "      var mid = seen.filter(function (x) { var d = x.s.bytes_out - base; return d >= 65536 && d < n; });\n"
    "      var sending = mid.filter(function (x) { return value(x.s, 'send.pending') > 0; }).length;\n"
    "      var most = Math.max.apply(null, [0].concat(mid.map(function (x) { return value(x.s, 'send.pending'); })));\n"
    "      var held = Math.max.apply(null, [0].concat(mid.map(function (x) { return x.s.buffer_bytes; })));\n"
    "      say('big: ' + got + ' bytes in ' + ms(band.to - t0) + ' ms (read from 2 s on); the ledger ' +\n"
    "          'answered ' + mid.length + ' times while the server was sending it' + (mid.length === 0 ?\n"
    "          ' (nobody else is answered meanwhile)' : ': a send in flight in ' + sending + ' (never more than ' + most +\n"
    "          '), buffer_bytes at most ' + held));\n"
    "    }, function (e) { band.to = now(); say('big: failed after ' + got + ' bytes: ' + e); }).then(function () {\n"
    "      ledger.closing++;  /* experiment() takes it back */\n"
    "    });\n"
    "  });\n"
    "}\n"
    "\n"
    "/* The ledger: /stats every 0.5 s, drawn over the last minute; on a kept-alive connection\n"
    " * except while an experiment runs (closing > 0). */\n"
    "var ledger = {every: 500, closing: 0, current: null, samples: [], bands: [], lastOk: 0};\n"
    "var CHARTS = [\n"
    "  {id: 'chart-ops', title: 'pending operations, by kind', lanes: true, series: [\n"
    "    {key: 'recv.pending', label: 'recv', colour: COLOUR.recv},\n"
    "    {key: 'send.pending', label: 'send', colour: COLOUR.send},\n"
    "    {key: 'accept.pending', label: 'accept', colour: COLOUR.accept}]},\n"
    "  {id: 'chart-conns', title: 'live connections', series: [\n"
    "    {key: 'live_connections', label: 'live', colour: COLOUR.conns}]},\n"
    "  {id: 'chart-buffers', title: 'buffer bytes', bytes: true, series: [\n"
    "    {key: 'buffer_bytes', label: 'buffer_bytes', colour: COLOUR.buffer},\n"
    "    {key: 'buffer_high', label: 'buffer_high', colour: COLOUR.high, dash: '5 3'},\n"
    "    {key: 'buffer_budget', label: 'budget', colour: COLOUR.budget, dash: '2 2', ifPositive: true, offScale: 8}]}\n"
    "];\n"
    "function value(s, key) {\n"
    "  var k = key.split('.');\n"
    "  return k.length === 2 ? (s[k[0]] || {})[k[1]] : s[key];\n"
    "}\n"
    "function poll(close) {\n"
    "  return fetch('/stats' + (close ? '?close=1' : ''), {cache: 'no-store'}).then(function (r) { return r.json(); })\n"
    "    .then(function (s) { record({t: now(), s: s}); }, function (e) { record({t: now(), error: String(e)}); });\n"
    "}\n"
    "function pollLoop() {\n"
    "  ledger.current = poll(ledger.closing > 0).then(function () {\n"
    "    var failing = ledger.samples.length && ledger.samples[ledger.samples.length - 1].error;\n"
    "    ledger.current = null;\n"
    "    setTimeout(pollLoop, failing ? 1000 : ledger.every);\n"
    "  });\n"
    "}\n"
    "/* Resolves once the ledger has an answer asked after time t (at most 2 s later): a change of\n"
    " * pace takes effect at the poll loop's next turn, up to half a second on. */\n"
    "function sampledAfter(t) {\n"
    "  return new Promise(function (go) {\n"
    "    (function look() {\n"
    "      var last = ledger.samples[ledger.samples.length - 1];\n"
    "      if ((last && last.s && last.t > t + 1) || now() > t + 2000) go(); else setTimeout(look, 10);\n"
    "    })();\n"
    "  });\n"
    "}\n"
    "/* Before an experiment: the refresh in flight, if any, then one with ?close=1, which goes\n"
    " * out on the kept-alive connection (a browser reuses its idle connection) and ends it. */\n"
    "function ledgerQuiet() {\n"
    "  var inflight = ledger.current || Promise.resolve();\n"
    "  ledger.closing++;\n"
    "  return inflight.then(function () { return poll(true); });\n"
    "}\n"
    "function record(x) {\n"
    "  var t = now();\n"
    "  ledger.samples.push(x);\n"
    "  while (ledger.samples.length && ledger.samples[0].t < t - 61000)\n"
    "    ledger.samples.shift();\n"
    "  ledger.bands = ledger.bands.filter(function (b) { return b.to === undefined || b.to > t - 60000; });\n"
    "  if (x.s) {\n"
    "    ledger.lastOk = x.t;\n"
    "    byId('ledger').textContent = Object.keys(x.s).filter(function (k) { return k !== 'conns'; }).map(function (k) {\n"
    "      var v = x.s[k];\n"
    "      if (typeof v === 'object') v = Object.keys(v).map(function (f) { return f + ' ' + v[f]; }).join(', ');\n"
    "      return k + ': ' + v;\n"
    "    }).join('\\n');\n"
    "    drawConns(x.s);\n"
    "    byId('answered').textContent = 'the server answered /stats at ' + new Date().toLocaleTimeString();\n"
    "  } else {\n"
    "    byId('answered').textContent = ledger.lastOk ? 'no answer to /stats for ' + ((t - ledger.lastOk) / 1000).toFixed(1) +\n"
    "      ' s (' + x.error + '): the server is busy or gone; the charts keep its last minute' : '/stats failed: ' + x.error;\n"
    "  }\n"
    "  CHARTS.forEach(function (c) { chart(c, t); });\n"
    "}\n"
    "function nice(n) {\n"
    "  var p = Math.pow(10, Math.floor(Math.log10(n))), m = n / p;\n"
    "  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;\n"
    "}\n"
    "/* One chart: the last 60 s, now at the right; a line per series, broken where the ledger\n"
    " * did not answer for over 1.5 s; red ticks where /stats failed; shaded: a download. With\n"
    " * lanes, each series has a lane and a scale of its own (32 pending accepts would flatten one\n"
    " * pending send). */\n"
    "function chart(c, t) {\n"
    "  var svg = byId(c.id), W = 660, left = 64, right = 170, top = 22, bottom = 20;\n"
    "  var oks = ledger.samples.filter(function (x) { return x.s; }), series, lanes, laneH, H;\n"
    "  series = c.series.filter(function (sr) {\n"
    "    return !sr.ifPositive || oks.some(function (x) { return value(x.s, sr.key) > 0; });\n"
    "  });\n"
    "  lanes = c.lanes ? series.map(function (sr) { return [sr]; }) : [series];\n"
    "  laneH = c.lanes ? 34 : 78;\n"
    "  H = top + lanes.length * laneH + bottom;\n"
    "  clear(svg);\n"
    "  svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);\n"
    "  svg.setAttribute('width', W);\n"
    "  svg.setAttribute('height', H);\n"
    "  function x(at) { return (left + (W - left - right) * (1 - (t - at) / 60000)).toFixed(1); }\n"
    "  el(svg, 'text', {x: 4, y: 14, 'font-size': 12, 'font-weight': 'bold'}, c.title);\n"
    "  ledger.bands.forEach(function (b) {\n"
    "    var from = Math.max(b.from, t - 60000), to = b.to === undefined ? t : b.to;\n"
    "    el(svg, 'rect', {'class': 'band', x: x(from), y: top, width: Math.max(1, x(to) - x(from)).toFixed(1),\n"
    "                     height: H - top - bottom, fill: '#fefcbf'});\n"
    "  });\n"
    "  el(svg, 'text', {x: left, y: H - 5, 'font-size': 11, fill: '#4a5568'}, '60 s ago');\n"
    "  el(svg, 'text', {x: W - right, y: H - 5, 'text-anchor': 'end', 'font-size': 11, fill: '#4a5568'}, 'now');\n"
    "  lanes.forEach(function (lane, li) {\n"
    "    var max = 1, y0 = top + (li + 1) * laneH - (c.lanes ? 6 : 0), y1 = top + li * laneH + 4, key = c.lanes ? lane[0].key : '';\n"
    "    oks.forEach(function (p) { lane.forEach(function (sr) { if (!sr.offScale) max = Math.max(max, value(p.s, sr.key) || 0); }); });\n"
    "    /* A limit far above what is held (06's default budget: 512 MiB) is named, not drawn: on\n"
    "     * its scale the line of what is held would lie flat on 0. */\n"
    "    lane.forEach(function (sr) {\n"
    "      sr.above = sr.offScale && oks.some(function (p) { return value(p.s, sr.key) > sr.offScale * max; });\n"
    "      if (sr.offScale && !sr.above)\n"
    "        oks.forEach(function (p) { max = Math.max(max, value(p.s, sr.key) || 0); });\n"
    "    });\n"
    "    max = nice(max);\n"
    "    function y(v) { return (y0 - (y0 - y1) * v / max).toFixed(1); }\n"
    "    el(svg, 'line', {'class': 'grid', 'data-key': key, 'data-v': max, x1: left, x2: W - right, y1: y(max), y2: y(max), stroke: '#e2e8f0'});\n"
    "    el(svg, 'line', {'class': 'grid', 'data-key': key, 'data-v': 0, x1: left, x2: W - right, y1: y(0), y2: y(0), stroke: '#a0aec0'});\n"
    "    el(svg, 'text', {'class': 'ylabel', x: left - 4, y: y1 + 9, 'text-anchor': 'end', 'font-size': 11}, c.bytes ? kib(max) : String(max));\n"
    "    el(svg, 'text', {'class': 'ylabel', x: left - 4, y: y0, 'text-anchor': 'end', 'font-size': 11}, '0');\n"
    "    lane.forEach(function (sr, i) {\n"
    "      var d = '', last = 0, alone = false, latest;\n"
    "      oks.forEach(function (p) {\n"
    "        var v = value(p.s, sr.key), at;\n"
    "        if (v === undefined) return;\n"
    "        at = x(p.t) + ' ' + y(v) + ' ';\n"
    "        if (d === '' || p.t - last > 1500) {\n"
    "          d += (alone ? 'L' + d.split('M').pop() : '') + 'M' + at;  /* a point alone: a dot */\n"
    "          alone = true;\n"
    "        } else {\n"
    "          d += 'L' + at;\n"
    "          alone = false;\n"
    "        }\n"
    "        last = p.t;\n"
    "        latest = v;\n"
    "      });\n"
    "      if (alone)\n"
    "        d += 'L' + d.split('M').pop();\n"
    "      if (!sr.above)\n"
    "        el(svg, 'path', {'class': 'series', 'data-key': sr.key, d: d.trim(), fill: 'none', stroke: sr.colour,\n"
    "                         'stroke-width': 2, 'stroke-linecap': 'round', 'stroke-dasharray': sr.dash || 'none'});\n"
    "      el(svg, 'text', {x: W - right + 8, y: y1 + 12 + 15 * i, 'font-size': 11, fill: sr.colour},\n"
    "         sr.label + ' ' + (latest === undefined ? '-' : c.bytes ? kib(latest) : latest) + (sr.above ? ' (off scale)' : ''));\n"
    "    });\n"
    "  });\n"
    "  ledger.samples.forEach(function (p) {\n"
    "    if (p.error)\n"
    "      el(svg, 'line', {'class': 'nogo', x1: x(p.t), x2: x(p.t), y1: H - bottom - 6, y2: H - bottom, stroke: COLOUR.stall});\n"
    "  });\n"
    "}\n"
    "/* 06 lists its open connections in /stats (\"conns\": the first 16): draw them. */\n"
    "var STATE_COLOUR = {OPEN: '#38a169', FINISHING: '#dd6b20', LINGERING: '#805ad5', CLOSED: '#718096'};\n"
    "function drawConns(s) {\n"
    "  var box = byId('conns'), t, row;\n"
    "  if (!Array.isArray(s.conns)) {\n"
    "    box.textContent = 'this stage does not list its connections';\n"
    "    return;\n"
    "  }\n"
    "  clear(box);\n"
    "  t = document.createElement('table');\n"
    "  t.id = 'conns-table';\n"
    "  t.innerHTML = '<caption>' + s.conns.length + ' listed of ' + s.live_connections + ' live (at most 16)</caption>' +\n"
    "    '<tr><th>#</th><th>state</th><th>recv in flight</th><th>send in flight</th><th>queued</th></tr>';\n"
    "  s.conns.forEach(function (c) {\n"
    "    row = t.insertRow();\n"
    "    row.className = 'conn';\n"
    "    row.innerHTML = '<td>' + c.id + '</td><td class=\"state\" style=\"background:' + (STATE_COLOUR[c.state] || '#a0aec0') +\n"
    "      '\">' + c.state + '</td><td>' + (c.recv ? '\\u25cf' : '\\u00b7') + '</td><td>' + (c.send ? '\\u25cf' : '\\u00b7') +\n"
    "      '</td><td>' + kib(c.queued) + '</td>';\n"
    "  });\n"
    "  box.appendChild(t);\n"
    "}\n"
    "\n"
    "byId('sleep').onclick = sleepTest;\n"
    "byId('hold').onclick = holdTest;\n"
    "byId('big').onclick = bigTest;\n"
    "pollLoop();\n"
    "/* /lab?run=lab runs every experiment on load (make lab, the browser suite); run=sleep,big:\n"
    " * only those. */\n"
    "(function () {\n"
    "  var m = /[?&]run=([a-z,]+)/.exec(location.search), all = {sleep: sleepTest, held: holdTest, big: bigTest};\n"
    "  if (!m) return;\n"
    "  var names = m[1] === 'lab' ? Object.keys(all) : m[1].split(',').filter(function (k) { return all[k]; });\n"
    "  names.reduce(function (p, k) { return p.then(all[k]); }, delay(300)).then(function () { say('lab done'); });\n"
    "})();\n";
/* end of lab_script_2 */

static const char lab_tail[] = "</script>\n</body></html>\n";

/* Append n bytes to the lab page; 0 when they do not fit. */
static int lab_append(const char *text, size_t n)
{
    if (lab_len < 0 || n >= sizeof lab - (size_t)lab_len)
        return 0;
    memcpy(lab + lab_len, text, n);
    lab_len += (int)n;
    return 1;
}

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
    lab_len = snprintf(lab, sizeof lab, lab_head, stage->name, stage->name, stage->fixes,
                       stage->limitation, stage->lab);
    if (page_len < 0 || page_len >= (int)sizeof page)
        page_len = 0;   /* cannot happen with these texts; an empty page rather than a cut one */
    if (lab_len < 0 || lab_len >= (int)sizeof lab
        || !lab_append(lab_script_1, sizeof lab_script_1 - 1)
        || !lab_append(lab_script_2, sizeof lab_script_2 - 1)
        || !lab_append(lab_tail, sizeof lab_tail - 1))
        lab_len = 0;
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
