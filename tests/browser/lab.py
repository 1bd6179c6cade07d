#!/usr/bin/env python3
"""tests/browser/lab.py - a stage's lab (/lab) in headless Chromium, real time.

  lab.py findings URL [--seconds S] [--screenshot PNG] [--drawing JSON] -- CHROMIUM [FLAG...]
      open URL (a lab page, /lab?run=lab: every experiment runs on load), wait until its
      #lab text holds "lab done" (at most S seconds), print that text: the lab's findings.
      --screenshot: the whole page as a PNG; --drawing: what the page drew, as JSON (the
      timelines' bars and axis, the charts' lines, the connections' table), read from the
      SVG and HTML elements, twice: once the lab is done, and once the charts have moved
      and the connections' table (if drawn) has a row (at most 10 s later). Status 0 when
      the lab finished, 1 when not.
  lab.py check DRAWING --sleep serial|parallel --held serve|stall --sends serve|stall
               --lists yes|no NAME
      judge a --drawing file the way a reader looks at the page: PASS/FAIL lines (see
      tests/browser/run.sh for what each expectation means).
  lab.py lists STATS_URL
      "yes" when the server's /stats lists its connections ("conns", 06), else "no".
  lab.py picture OUT URL LABEL URL LABEL -- CHROMIUM [FLAG...]
      run each lab (/lab?run=sleep), cut out its sleep timeline, and put the two side by
      side, with their labels, into one PNG (make lab-picture: docs/lab-03-vs-04.png).

Real time: the page times its requests itself, so Chromium must not fast-forward its clock
(--virtual-time-budget stops the page's clock while a fetch is pending: every /sleep then
"takes" 0 ms, and the lab never ends). Chromium is driven over --remote-debugging-pipe
(DevTools messages, NUL-terminated JSON on its fds 3 and 4): no package, no open port.
"""
import base64
import json
import os
import re
import select
import subprocess
import sys
import time
import urllib.request


class Browser:
    def __init__(self, argv):
        to_child, self.out = os.pipe()     # our commands: the child's fd 3
        self.inp, from_child = os.pipe()   # its answers and events: the child's fd 4

        def fds():
            a, b = os.dup(to_child), os.dup(from_child)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(argv + ["--remote-debugging-pipe"], preexec_fn=fds,
                                     pass_fds=(3, 4), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child)
        os.close(from_child)
        self.pending = b""
        self.next_id = 0

    def call(self, method, params=None, session=None, timeout=10.0):
        """Send one command; return its result (events in between are skipped)."""
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.out, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self.pending:
                raw, self.pending = self.pending.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self.next_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply["result"]
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.inp], [], [], left)[0]:
                raise TimeoutError(f"{method}: no answer in {timeout} s")
            chunk = os.read(self.inp, 65536)
            if not chunk:
                raise RuntimeError(f"{method}: Chromium closed the pipe")
            self.pending += chunk

    def open(self, url, width=800, height=900):
        """A new tab on url; returns its session."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
        self.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                  "deviceScaleFactor": 1, "mobile": False}, session=session)
        self.call("Page.navigate", {"url": url}, session=session)
        return session

    def value(self, session, expression):
        got = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                        session=session)
        return got["result"].get("value")

    def wait_text(self, session, seconds, word="lab done"):
        """The page's #lab text once it holds word, or when seconds have passed."""
        deadline, text = time.monotonic() + seconds, ""
        while word not in text and time.monotonic() < deadline:
            time.sleep(0.2)
            text = self.value(session, "(document.getElementById('lab') || {}).textContent || ''") or ""
        return text

    def screenshot(self, session, clip=None):
        """PNG bytes: the whole page, or clip {x, y, width, height} of it (CSS pixels, within
        the window: open the page with a window that holds it)."""
        whole = clip is None
        if whole:
            size = self.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
            clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"]}
        clip = dict(clip, scale=1)
        shot = self.call("Page.captureScreenshot", {"format": "png", "clip": clip,
                         "captureBeyondViewport": whole}, session=session, timeout=30)
        return base64.b64decode(shot["data"])

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# What the page drew, read from its elements: numbers as the SVG attributes hold them.
DRAWING_JS = r"""(function () {
  function num(e, a) { return parseFloat(e.getAttribute(a)); }
  function all(root, sel) { return root ? Array.prototype.slice.call(root.querySelectorAll(sel)) : []; }
  function timeline(id) {
    var svg = document.getElementById(id);
    return {ticks: all(svg, 'line.tick').map(function (l) { return {s: +l.dataset.s, x: num(l, 'x1')}; }),
            bars: all(svg, 'rect.bar').map(function (r) {
              return {row: +r.dataset.row, kind: r.classList[1], x: num(r, 'x'), w: num(r, 'width')}; }),
            marks: all(svg, 'line.mark').map(function (l) { return num(l, 'x1'); })};
  }
  function chart(id) {
    var svg = document.getElementById(id);
    return {present: !!svg && svg.childNodes.length > 0,
            grid: all(svg, 'line.grid').map(function (l) { return {key: l.dataset.key || '', v: +l.dataset.v, y: num(l, 'y1')}; }),
            series: all(svg, 'path.series').map(function (p) { return {key: p.dataset.key, d: p.getAttribute('d')}; }),
            bands: all(svg, 'rect.band').map(function (r) { return {x: num(r, 'x'), w: num(r, 'width')}; }),
            nogo: all(svg, 'line.nogo').length};
  }
  var conns = document.getElementById('conns');
  return JSON.stringify({
    timelines: {sleep: timeline('sleep-timeline'), held: timeline('held-timeline')},
    charts: {ops: chart('chart-ops'), conns: chart('chart-conns'), buffers: chart('chart-buffers')},
    conns: {text: conns ? conns.textContent : null,
            rows: all(conns, 'tr.conn').map(function (r) {
              return Array.prototype.map.call(r.cells, function (c) { return c.textContent; }); })},
    calls: all(document.getElementById('chart-calls'), 'rect.call').map(function (r) {
      return {kind: r.dataset.kind, w: num(r, 'width')}; }),
    lab: (document.getElementById('lab') || {}).textContent || ''});
})()"""


def findings(args, argv):
    browser = Browser(argv)
    text, drawing = "", None
    try:
        session = browser.open(args["url"])
        text = browser.wait_text(session, args["seconds"])
        if args.get("drawing"):
            # the charts are redrawn at each answer of /stats: look again until they move
            # (twice a second; a busy machine may take longer) and, where a table of
            # connections is drawn, until it has a row: "conns" is the last sweep's sample
            # (a sweep every 2.5 s skips a connection a handler holds), 10 s at most
            first = json.loads(browser.value(session, DRAWING_JS))
            deadline = time.monotonic() + 10
            while True:
                time.sleep(0.5)
                later = json.loads(browser.value(session, DRAWING_JS))
                table_empty = "listed of" in (later["conns"]["text"] or "") and not later["conns"]["rows"]
                if (later["charts"] != first["charts"] and not table_empty) or time.monotonic() > deadline:
                    break
            drawing = {"first": first, "later": later}
            with open(args["drawing"], "w") as f:
                json.dump(drawing, f)
        if args.get("screenshot"):
            with open(args["screenshot"], "wb") as f:
                f.write(browser.screenshot(session))
    except (RuntimeError, TimeoutError, OSError, ValueError) as e:
        text += f"\nlab.py: {e}"
    finally:
        browser.close()
    print(text.rstrip("\n"))
    return 0 if "lab done" in text else 1


# --- judging a drawing -----------------------------------------------------------------

def ms_per_px(t):
    """The timeline's scale, from its ticks (one a second) as a reader reads the axis."""
    ticks = sorted(t["ticks"], key=lambda k: k["s"])
    if len(ticks) < 2 or ticks[0]["s"] != 0:
        return None, None
    px_per_s = (ticks[-1]["x"] - ticks[0]["x"]) / ticks[-1]["s"]
    return ticks[0]["x"], 1000.0 / px_per_s


def rows_of(t):
    """{row: [(kind, from_ms, to_ms)]} of a timeline, in ms on its own axis."""
    x0, scale = ms_per_px(t)
    rows = {}
    if scale is None:
        return rows, None, None
    for b in t["bars"]:
        rows.setdefault(b["row"], []).append((b["kind"], (b["x"] - x0) * scale, (b["x"] + b["w"] - x0) * scale))
    return rows, x0, scale


def check_sleep(t, want):
    """serial: the four handler bars (the last 1000 ms before each answer) follow one another,
    a staircase: each begins at most 700 ms before the one before ends (answers 1000 ms apart,
    less what the browser's and a busy machine's delays take off one gap), 2400 ms from the
    first answer to the last; parallel: side by side, every bar ends by 2.5 s on the axis
    (scenario sleep-parallel-4's bound: "all within 2.5 s"), so each overlaps the others.
    Never answered fails."""
    rows, _, scale = rows_of(t)
    if scale is None:
        return "no time axis drawn (ticks 0 s, 1 s, ...)"
    if len(rows) != 4:
        return f"{len(rows)} rows drawn, not 4"
    stalled = [r for r, parts in rows.items() if any(k == "stall" for k, _, _ in parts)]
    if stalled:
        return f"rows {sorted(r + 1 for r in stalled)} drawn as never answered"
    runs = sorted((f, e) for parts in rows.values() for k, f, e in parts if k == "run")
    if len(runs) != 4:
        return f"{len(runs)} handler bars drawn, not 4"
    shown = ", ".join(f"{f:.0f}-{e:.0f}" for f, e in runs)
    serial = (all(runs[i][0] >= runs[i - 1][1] - 700 for i in range(1, 4))
              and runs[3][1] - runs[0][1] >= 2400)
    beside = max(e for _, e in runs) <= 2500
    got = "serial" if serial else "parallel" if beside else "neither"
    if got != want:
        return f"handler bars at {shown} ms drawn {got}, expected {want}"
    return None, f"handler bars at {shown} ms: {'a staircase' if serial else 'side by side'}"


def check_hold(t, want):
    """B's bar (row 1) ends before the red line (A lets go) where the stage serves B beside A,
    after it where A holds the stage; never answered fails either way."""
    rows, x0, scale = rows_of(t)
    if scale is None:
        return "no time axis drawn"
    if len(t["marks"]) != 1 or 1 not in rows:
        return f"{len(t['marks'])} red lines and rows {sorted(rows)} drawn, expected one line and rows A, B"
    if any(k == "stall" for k, _, _ in rows[1]):
        return "B drawn as never answered"
    release = (t["marks"][0] - x0) * scale
    b_end = max(e for _, _, e in rows[1])
    got = "serve" if b_end <= release + 1 else "stall"
    shown = f"B answered at {b_end:.0f} ms, A let go at {release:.0f} ms"
    if got != want:
        return f"{shown}: drawn {got}, expected {want}"
    return None, shown


def path_points(d):
    """[(x, y, starts_a_line)] of an SVG path of M and L commands."""
    out = []
    for cmd, x, y in re.findall(r"([ML])\s*(-?[\d.]+)[ ,]+(-?[\d.]+)", d or ""):
        out.append((float(x), float(y), cmd == "M"))
    return out


def chart_values(c, key):
    """[(x, value)] of one series, read back through the grid lines (0 and the top) of its
    lane, or of the chart where it has one scale."""
    lane = [g for g in c["grid"] if g.get("key") == key] or [g for g in c["grid"] if not g.get("key")]
    grid = {g["v"]: g["y"] for g in lane}
    if 0 not in grid or len(grid) != 2:
        return None
    top_v = max(grid)
    y0, y1 = grid[0], grid[top_v]
    series = [s for s in c["series"] if s["key"] == key]
    if not series:
        return None
    return [(x, (y0 - y) / (y0 - y1) * top_v) for x, y, _ in path_points(series[0]["d"])]


def check_charts(first, later):
    """Each chart is drawn, has points, and moved between two looks (up to 10 s apart)."""
    problems = []
    for name, c in first["charts"].items():
        c2 = later["charts"][name]
        if not c["present"] or not c["series"]:
            problems.append(f"{name}: not drawn")
            continue
        n = len(path_points(c["series"][0]["d"]))
        if n < 5:
            problems.append(f"{name}: {n} points")
        if c["series"][0]["d"] == c2["series"][0]["d"]:
            problems.append(f"{name}: unchanged for 10 s")
    return problems


def check_download(c, text, want):
    """In the shaded band (the download, read from 2 s on): serve (overlapped
    sends, 03-06) send.pending is 1 at some point and never more: one send in flight; stall
    (01, 02 send with blocking calls from their one thread) send.pending is never above 0,
    and the page's "big:" line says the ledger answered 0 times while the server was sending
    it. Either way buffer_bytes stays under 1 MiB for a 64 MiB answer: the body is produced
    as it is sent."""
    ops, buffers = c["ops"], c["buffers"]
    mid = re.search(r"answered (\d+) times while the server was sending it", text)
    if not mid:
        return "no \"big:\" line saying how often the ledger answered during the download", None
    if not ops["bands"]:
        return "no shaded band for the download", None
    band = ops["bands"][-1]
    lo, hi = band["x"], band["x"] + band["w"]
    sends = [v for x, v in (chart_values(ops, "send.pending") or []) if lo <= x <= hi]
    held = [v for x, v in (chart_values(buffers, "buffer_bytes") or []) if lo <= x <= hi]
    shown = (f"{len(sends)} ledger points in the download's band, send.pending "
             f"{max(sends):.0f} at most" if sends else "no ledger point in the download's band")
    if held:
        shown += f", buffer_bytes {max(held) / 1024:.0f} KiB at most"
    if want == "serve" and not (sends and 0.5 < max(sends) < 1.5):
        return f"{shown}: expected send.pending 1 in the band, never more", None
    shown += f"; {mid.group(1)} answers while it was being sent"
    if want == "stall" and sends and max(sends) > 0.5:
        return f"{shown}: expected no send in flight (blocking sends)", None
    if want == "stall" and mid.group(1) != "0":
        return f"{shown}: expected none (the one thread sends)", None
    if held and max(held) >= 1048576:
        return f"{shown}: buffer_bytes not bounded", None
    return None, shown


def check(args):
    with open(args["drawing"]) as f:
        drawing = json.load(f)
    first, later, name = drawing["first"], drawing["later"], args["name"]
    failed = 0

    def report(what, outcome):
        nonlocal failed
        if isinstance(outcome, tuple) and outcome[0] is None:
            print(f"PASS {name}/{what} ({outcome[1]})")
        else:
            failed += 1
            print(f"FAIL {name}/{what}: {outcome[0] if isinstance(outcome, tuple) else outcome}")

    report("lab-sleep-timeline", check_sleep(first["timelines"]["sleep"], args["sleep"]))
    report("lab-held-timeline", check_hold(first["timelines"]["held"], args["held"]))
    problems = check_charts(first, later)
    report("lab-charts", (None, "3 charts drawn and moving") if not problems else "; ".join(problems))
    report("lab-download-chart", check_download(first["charts"], first["lab"], args["sends"]))
    conns = later["conns"]
    if args["lists"] == "yes":
        states = {r[1] for r in conns["rows"]}
        outcome = ((None, f"{len(conns['rows'])} connections drawn: {', '.join(sorted(states))}")
                   if conns["rows"] and states <= {"OPEN", "FINISHING", "LINGERING", "CLOSED"}
                   else f"/stats lists connections, the page's last drawing (10 s at most after "
                        f"the lab) was {conns['rows'] or conns['text']!r}")
    else:
        outcome = ((None, "says this stage does not list its connections")
                   if conns["text"] == "this stage does not list its connections"
                   else f"/stats has no \"conns\", the page shows {conns['text']!r}")
    report("lab-connections", outcome)
    kinds = {c["kind"] for c in later.get("calls", []) if c["w"] > 0}
    outcome = ((None, f"a bar per kind of call: {', '.join(sorted(kinds))}")
               if kinds & {"accept", "AcceptEx"} and kinds & {"recv", "WSARecv"}
               else f"the calls chart has no bar for an accept and a read: {sorted(kinds)!r}")
    report("lab-calls", outcome)
    return 1 if failed else 0


# --- the README's picture --------------------------------------------------------------

def picture(out, pairs, argv):
    browser = Browser(argv)
    shots = []
    try:
        for url, label in pairs:
            session = browser.open(url, height=2400)
            text = browser.wait_text(session, 60)
            if "lab done" not in text:
                raise RuntimeError(f"{url}: the lab did not finish: {text!r}")
            box = json.loads(browser.value(session, """JSON.stringify((function () {
                var r = document.getElementById('sleep-timeline').getBoundingClientRect();
                return {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height}; })())"""))
            shots.append((label, base64.b64encode(browser.screenshot(session, box)).decode(),
                          text.splitlines()[0]))
        cells = "".join(
            f'<td><b>{label}</b><br><img src="data:image/png;base64,{png}"><br><small>{line}</small></td>'
            for label, png, line in shots)
        key = ('<span style="display:inline-block;width:.9em;height:.9em;background:{}"></span> {}')
        page = ('<!doctype html><html><body style="margin:8px;font-family:sans-serif;font-size:14px">'
                '<div id="pair"><p style="margin:4px 12px">Four <code>/sleep?ms=1000</code> at once, '
                'one bar per request from when it was asked to its answer: '
                f'{key.format("#cbd5e0", "waiting")}, {key.format("#2b6cb0", "the handler&#39;s 1000 ms")}</p>'
                f'<table style="border-spacing:12px 0"><tr style="vertical-align:top">{cells}</tr></table></div>'
                '</body></html>')
        session = browser.open("data:text/html;base64," + base64.b64encode(page.encode()).decode(),
                               width=1400)
        time.sleep(1)
        box = json.loads(browser.value(session, """JSON.stringify((function () {
            var r = document.getElementById('pair').getBoundingClientRect();
            return {x: 0, y: 0, width: r.right + 8, height: r.bottom + 8}; })())"""))
        with open(out, "wb") as f:
            f.write(browser.screenshot(session, box))
    finally:
        browser.close()
    for label, _, line in shots:
        print(f"{label}: {line}")
    return 0


def main():
    argv = sys.argv[1:]
    chromium = []
    if "--" in argv:
        at = argv.index("--")
        argv, chromium = argv[:at], argv[at + 1:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    mode, rest = argv[0], argv[1:]
    if mode == "findings":
        args = {"url": rest[0], "seconds": 60.0}
        opts = iter(rest[1:])
        for o in opts:
            args[o.lstrip("-")] = float(next(opts)) if o == "--seconds" else next(opts)
        return findings(args, chromium)
    if mode == "check":
        args = {"drawing": rest[0], "name": rest[-1], "lists": "no"}
        opts = iter(rest[1:-1])
        for o in opts:
            args[o.lstrip("-")] = next(opts)
        return check(args)
    if mode == "lists":
        with urllib.request.urlopen(rest[0], timeout=10) as r:
            print("yes" if isinstance(json.loads(r.read()).get("conns"), list) else "no")
        return 0
    if mode == "picture":
        return picture(rest[0], list(zip(rest[1::2], rest[2::2])), chromium)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
