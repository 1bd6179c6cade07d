#!/usr/bin/env python3
"""tests/breakit/run.py - break each lesson on purpose, and see the tests catch it (`make break-it`).

    tests/breakit/run.py [NAME...]
    tests/breakit/run.py --build-only --no-debug NAME...


For each mutation of tests/breakit/mutations (all, or those NAMEd): copy the stage's
server.c to build/breakit/NAME/STAGE/server.c with the mutation's exact-text replacements,
build it (as the Makefile builds a stage: CC, CFLAGS, COMMON and LDLIBS come from make in
the environment as BREAKIT_CC, BREAKIT_CC32, BREAKIT_CFLAGS, BREAKIT_COMMON,
BREAKIT_LDLIBS; `debug 1` adds BREAKIT_DEBUG_CFLAGS: -DIOCP_DEBUG and the fault switch of
common/fault.h), and run the check that must catch it
against the copy, with BUILD_DIR=build/breakit/NAME (the check's server log is there, in
tests/). One line per mutation:

    CAUGHT breakit/NAME (STAGE): MISTAKE
        you see: SYMPTOM                      (the mutation's `symptom`: what a reader sees)
        caught by: WHAT                       (what the check printed)
    FAIL breakit/NAME (STAGE): not caught: ...
        mistake: MISTAKE
    FAIL breakit/NAME (STAGE): caught, but the unchanged stage fails the same check...
    FAIL breakit/NAME (STAGE): the anchor `...` is not in STAGE/server.c ...
CAUGHT is the good outcome (tools/test-all.sh counts it as passed): the mistake did not get
through. An unknown NAME lists the mutations, each with its stage.

--build-only builds the copies and runs nothing (tools/transcript.sh --mutation NAME runs
one under a client, to show the mistake in a log); --no-debug builds without -DIOCP_DEBUG
whatever the mutation says, so the mistake runs on instead of being stopped by the guard.
Those copies go to build/breakit/NAME-plain/, apart from the ones `make break-it` checks.
Each check that catches a mutation is also run against the stage as it is (built the same
way, under build/breakit/control/; once per stage, check and build, and a second time if the
first failed): it must pass there, or the catch proves nothing.
Time: the common files are compiled once per build (plain, debug) and linked into each
copy; the copies are built as many at once as there are cores; the checks and the
controls run BREAKIT_JOBS at once (default: the cores, at least 2), each in a Wine prefix
of its own (IOCP_WINEPREFIX, else build/wine, and build/wine-breakitN beside it), since a
suite ends by stopping every Wine program of its prefix. Each CAUGHT says how long its
check and its control took ("time:", indented).
A FAIL for a missing anchor means the stage changed under the mutation: fix the anchor in
tests/breakit/mutations. build/breakit/NAME/mutation.diff shows what was changed.
Exit status 1 if any line is a FAIL. BREAKIT_MUTATIONS names another mutations file
(tests/breakit/selftest.sh gives it one whose anchor is gone).
`stage fixed` is "Your program, fixed": the program NOTES.md shows whole (extracted by
tools/notes-program.awk, as make does), mutated into build/breakit/NAME/fixed/yours-fixed.c,
built alone (no common/) and checked by `check fixed CHECK...` (tests/fixed/run.sh).
"""
import concurrent.futures
import difflib
import glob
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("BUILD_DIR") or os.path.join(TOP, "build"))
MUTATIONS = os.environ.get("BREAKIT_MUTATIONS") or os.path.join(TOP, "tests", "breakit", "mutations")
CPUS = os.cpu_count() or 1
# Checks at once (BREAKIT_JOBS): each mostly waits on a server's timers and a client, and
# each runs in a Wine prefix of its own.
JOBS = max(1, int(os.environ.get("BREAKIT_JOBS") or max(2, CPUS)))
# What in a server log or a suite's output says how the mistake was caught, best first.
EVIDENCE = [
    ("the debug guard (common/opcheck.h)", re.compile(r"opcheck: .*")),
    ("set_state's table (every build)", re.compile(r".*allowed_next\[\] lacks.*")),
    ("a Wine crash report", re.compile(r".*(Unhandled exception|page fault).*")),
    ("an assert of common/", re.compile(r"Assertion failed: .*")),
]


def parse(path):
    muts, cur = [], None
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            m = re.match(r"^\[([\w-]+)\]$", line)
            if m:
                cur = {"name": m.group(1), "pairs": [], "line": n}
                muts.append(cur)
                continue
            key, _, value = line.partition(" ")
            if cur is None:
                sys.exit(f"{path}:{n}: '{key}' before any [NAME]")
            value = value.replace("\\n", "\n")
            if key == "replace":
                cur["pairs"].append([value, None])
            elif key == "with":
                if not cur["pairs"] or cur["pairs"][-1][1] is not None:
                    sys.exit(f"{path}:{n}: 'with' without a 'replace' before it")
                cur["pairs"][-1][1] = value
            elif key in ("stage", "file", "mistake", "symptom", "lesson", "debug", "check", "expect", "x86"):
                cur[key] = value
            else:
                sys.exit(f"{path}:{n}: unknown key '{key}'")
    for m in muts:
        for k in ("stage", "mistake", "symptom", "check"):
            if k not in m:
                sys.exit(f"{path}:{m['line']}: [{m['name']}] has no '{k}'")
        if not m["pairs"] or any(w is None for _, w in m["pairs"]):
            sys.exit(f"{path}:{m['line']}: [{m['name']}] needs replace/with pairs")
    return muts


def one_line(text, width=220):
    text = " ".join(text.replace("\r", "").split())
    return text if len(text) <= width else text[:width - 3] + "..."


class CommonObjects:
    """common/*.c (and the generated pages) compiled once per compiler and build (plain or
    debug), into a scratch folder of this run: each copy then compiles only its own
    server.c (and the mutated common file, for a `file` mutation) and links these. The
    objects are made with the very flags a copy is, so the program is the one a single
    gcc call over every source makes; it saves about three quarters of each copy's
    compile time (make break-it builds some 60 copies)."""

    def __init__(self):
        self.folder = None
        self.sets = {}
        self.lock = threading.Lock()

    def get(self, cc, debug):
        """{common source: its object}, or {} when one would not compile (then each copy
        compiles every source itself, as before, and shows the error)."""
        with self.lock:
            if (cc, debug) not in self.sets:
                self.sets[(cc, debug)] = self._build(cc, debug)
            return self.sets[(cc, debug)]

    def _build(self, cc, debug):
        if self.folder is None:
            os.makedirs(os.path.join(BUILD, "breakit"), exist_ok=True)
            self.folder = tempfile.mkdtemp(prefix="objects-", dir=os.path.join(BUILD, "breakit"))
        sub = os.path.join(self.folder, f"{os.path.basename(cc)}-{'debug' if debug else 'plain'}")
        os.makedirs(sub)
        sources = shlex.split(os.environ.get("BREAKIT_COMMON", ""))
        def one(item):
            i, c = item
            obj = os.path.join(sub, f"{i}-{os.path.basename(c)}.o")
            cmd = [cc] + compile_flags(debug) + ["-c", "-o", obj, c]
            ok = subprocess.run(cmd, cwd=TOP, capture_output=True).returncode == 0
            return os.path.normpath(c), (obj if ok else None)
        with concurrent.futures.ThreadPoolExecutor(CPUS) as pool:
            made = dict(pool.map(one, enumerate(sources)))
        return made if all(made.values()) else {}

    def remove(self):
        if self.folder:
            subprocess.run(["rm", "-rf", self.folder])


OBJECTS = CommonObjects()


def fixed_program():
    """The text of "Your program, fixed", as make extracts it from NOTES.md."""
    r = subprocess.run(["awk", "-v", "name=yours-fixed.c", "-f", "tools/notes-program.awk",
                        "NOTES.md"], cwd=TOP, capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None


def compile_flags(debug):
    env = os.environ
    debug_flags = shlex.split(env.get("BREAKIT_DEBUG_CFLAGS") or "-DIOCP_DEBUG -include common/fault.h")
    return shlex.split(env.get("BREAKIT_CFLAGS", "")) + (debug_flags if debug else [])


def compile_copy(cc, src, exe, debug, common_copy=None, objects=True):
    """common_copy: (common/X.c, the mutated copy that replaces it), for a `file` mutation.
    objects: link the common files compiled once (CommonObjects) where they are unchanged."""
    env = os.environ
    if src.endswith("yours-fixed.c"):  # one file, Winsock and the C library: built alone
        cmd = [cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-o", exe, src, "-lws2_32"]
        r = subprocess.run(cmd, cwd=TOP, capture_output=True, text=True)
        return r.returncode == 0, r.stderr.strip()
    common = shlex.split(env.get("BREAKIT_COMMON", ""))
    made = OBJECTS.get(cc, debug) if objects else {}
    items = []
    for c in common:
        if common_copy and os.path.normpath(c) == common_copy[0]:
            items.append(common_copy[1])
        else:
            items.append(made.get(os.path.normpath(c)) or c)
    # the stage's own text (the Makefile's STAGE_C, % the stage's folder)
    stage_c = env.get("BREAKIT_STAGE_C", "").replace("%", os.path.basename(os.path.dirname(src)))
    cmd = ([cc] + compile_flags(debug) + ["-o", exe, src] + shlex.split(stage_c) + items
           + shlex.split(env.get("BREAKIT_LDLIBS", "")))
    r = subprocess.run(cmd, cwd=TOP, capture_output=True, text=True)
    errors = [l.replace(os.path.dirname(src) + "/", "") for l in r.stderr.splitlines() if "error:" in l]
    return r.returncode == 0, (errors[0] if errors else r.stderr.strip())


class WinePrefixes:
    """One Wine prefix per check running at once: a suite ends by stopping every program of
    its prefix (wine_stop), which would kill the server of a check running beside it. The
    first is the prefix the run was given (IOCP_WINEPREFIX, else build/wine), the others
    sit beside it (build/wine-breakit1, ...), each made once (tools/wine-env.sh)."""

    def __init__(self, count):
        base = os.environ.get("IOCP_WINEPREFIX") or os.path.join(TOP, "build", "wine")
        self.free = queue.Queue()
        for i in range(count):
            self.free.put(base if i == 0 else f"{base}-breakit{i}")

    def take(self):
        prefix = self.free.get()
        if not os.path.isfile(os.path.join(prefix, ".iocp-stages-ready")):
            subprocess.run(["bash", "-c", '. tools/wine-env.sh && wine_ready'], cwd=TOP,
                           env=dict(os.environ, IOCP_WINEPREFIX=prefix))
        return prefix

    def give_back(self, prefix):
        self.free.put(prefix)


PREFIXES = None  # WinePrefixes, made by main


def run_check(m, where, stop_early=False):
    """(caught, what caught it or why not), with a Wine prefix of its own while it runs."""
    prefix = PREFIXES.take()
    try:
        return run_check_in(m, where, prefix, stop_early)
    finally:
        PREFIXES.give_back(prefix)


def run_check_in(m, where, prefix, stop_early):
    kind, *args = m["check"].split()
    # DEBUG_BUILD_DIR: the suites that run a debug build (tests/fault, ctrl-c-storm) run the copy
    env = dict(os.environ, BUILD_DIR=where, DEBUG_BUILD_DIR=where, IOCP_WINEPREFIX=prefix,
               SCENARIOS=os.path.join(BUILD, "tests", "scenarios"),
               SHUTDOWN_CLIENT=os.path.join(BUILD, "tests", "shutdown-client"))
    if kind == "scenario":
        env["SCENARIO_ONLY"] = " ".join(args)
        cmd = ["bash", "tests/scenario/run.sh", m["stage"]]
    elif kind == "shutdown":
        env["SHUTDOWN_ONLY"] = " ".join(args)
        env.setdefault("SHUTDOWN_REPEAT", "1")
        cmd = ["bash", "tests/shutdown/run.sh", m["stage"]]
    elif kind == "fault":
        env["FAULT_ONLY"] = " ".join(args)
        cmd = ["bash", "tests/fault/run.sh", m["stage"]]
    elif kind == "log":
        cmd = ["bash", "tests/log/run.sh", m["stage"]]
    elif kind == "fixed":
        env["FIXED_SRC"] = os.path.join(where, "fixed", "yours-fixed.c")
        env["FIXED_ONLY"] = " ".join(args)
        cmd = ["bash", "tests/fixed/run.sh"]
    else:
        return False, f"unknown check '{m['check']}'"
    out, status, early = run_until(cmd, env, where, kind, prefix, m.get("expect") if stop_early else None,
                                   stop_early)
    with open(os.path.join(where, "check.out"), "w") as f:
        f.write(out + ("\n(stopped here: the catch is proven; make break-it stops a mutation's check"
                       " at its first FAIL line or its first guard or crash line)\n" if early else ""))
    what = caught_by(kind, out, where)
    if status == "timeout":
        return False, f"{' '.join(cmd)} did not finish within 240 s"
    if what is None:  # no FAIL line and no evidence: passed, or the harness itself broke
        if status == 0:
            return False, f"{kind} {' '.join(args)} passed against the mutated copy"
        return False, f"{' '.join(cmd)} exited {status} without a FAIL line: {one_line(out[-200:])}"
    return True, what


def caught_by(kind, out, where):
    """What in the servers' logs (EVIDENCE) and the suite's output (its first FAIL line)
    says the check failed, or None."""
    logs = ""
    tests = os.path.join(where, "tests")
    for name in sorted(os.listdir(tests)) if os.path.isdir(tests) else []:
        if name.endswith(".log"):
            with open(os.path.join(tests, name), errors="replace") as f:
                logs += f.read()
    fails = [l[5:] for l in out.splitlines() if l.startswith("FAIL ")]
    what = None
    for label, rx in EVIDENCE:
        hit = rx.search(logs)
        if hit:
            what = f"{label}: \"{one_line(hit.group(0), 160)}\""
            break
    if fails:
        first = one_line(fails[0], 200)
        what = f"{what}; and {kind} {first}" if what else f"{kind} {first}"
    return what


def run_until(cmd, env, where, kind, prefix, expect, stop_early):
    """Run a suite (240 s at most): (its output, its exit status or "timeout", stopped early?).
    With stop_early (a mutated copy's check, never a control), it is stopped as soon as what
    it printed or its servers logged proves the catch (caught_by, matching the mutation's
    expect if it has one): a check goes on after its first FAIL (the next scenarios, the
    next runs of a repeated test), which tells nothing more about the mutation. The suite's
    processes are ended, and Wine's in its prefix (the check's own)."""
    proc = subprocess.Popen(cmd, cwd=TOP, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", start_new_session=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    deadline = time.monotonic() + 240
    status, early = None, False
    while status is None:
        try:
            status = proc.wait(timeout=1)
            break
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() > deadline:
            status = "timeout"
        elif stop_early:
            what = caught_by(kind, "".join(lines), where)
            early = what is not None and (not expect or re.search(expect, what) is not None)
        if status == "timeout" or early:
            end_group(proc)
            subprocess.run(["bash", "-c", ". tools/wine-env.sh && wine_reset"], cwd=TOP,
                           env=dict(os.environ, IOCP_WINEPREFIX=prefix), timeout=60)
            if early:
                status = "stopped"
    reader.join(timeout=10)
    return "".join(lines), status, early


def end_group(proc):
    """SIGTERM to the suite's process group (its clients, its servers' terminals), then
    SIGKILL 5 s later."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            pass


def prepare(m, no_debug, build_only):
    """Apply m's replacements to a fresh copy under build/breakit/NAME/ and build it.
    Returns a dict: fail (why it cannot go on), or exe, where, debug, ok and err (the
    compiler's verdict), src and common_copy; built (already built, --build-only)."""
    name, stage = m["name"], m["stage"]
    rel = os.path.normpath(m.get("file", os.path.join(stage, "server.c")))
    original_path = os.path.join(TOP, rel)
    if stage == "fixed":
        rel, original_path = os.path.join("fixed", "yours-fixed.c"), os.path.join(TOP, "NOTES.md")
        original = fixed_program()
        if original is None:
            return {"fail": "NOTES.md has no <!-- program: yours-fixed.c --> block"}
    elif not os.path.isfile(original_path):
        return {"fail": f"there is no {rel}"}
    else:
        with open(original_path) as f:
            original = f.read()
    text = original
    for anchor, repl in m["pairs"]:
        count = text.count(anchor)
        if count != 1:
            return {"fail": f"the anchor `{one_line(anchor, 90)}` is in {rel} {count} times, "
                            f"not once: fix it in tests/breakit/mutations"}
        text = text.replace(anchor, repl)
    debug = m.get("debug") == "1" and not no_debug
    where = os.path.join(BUILD, "breakit", name + ("-plain" if no_debug else ""))
    # the copy of the mutated file; a common/ file's mutation builds the stage as it is
    copy = os.path.join(where, rel)
    src = copy if stage == "fixed" else os.path.join(where, stage, "server.c")
    exe = os.path.join(where, stage, "server.exe")
    common_copy = (rel, copy) if copy != src else None
    job = {"exe": exe, "where": where, "debug": debug, "src": src, "common_copy": common_copy}
    sources = [original_path] + glob.glob(os.path.join(TOP, "common", "*.[ch]"))
    if stage != "fixed":
        sources.append(os.path.join(TOP, stage, "server.c"))
    if build_only and os.path.isfile(exe) and os.path.getmtime(exe) >= max(map(os.path.getmtime, sources)):
        with open(copy) as f:
            if f.read() == text:  # built already, from this very text
                return dict(job, built=True, ok=True, err="")
    subprocess.run(["rm", "-rf", where])
    os.makedirs(os.path.join(where, stage))
    os.makedirs(os.path.join(where, "tests"))  # the check's server logs
    if common_copy:
        os.makedirs(os.path.dirname(copy), exist_ok=True)
        subprocess.run(["cp", os.path.join(TOP, stage, "server.c"), src])
    with open(copy, "w") as f:
        f.write(text)
    with open(os.path.join(where, "mutation.diff"), "w") as f:
        f.writelines(difflib.unified_diff(original.splitlines(True), text.splitlines(True),
                                          rel, f"breakit/{name}/{os.path.basename(rel)}"))
    ok, err = compile_copy(os.environ.get("BREAKIT_CC", "x86_64-w64-mingw32-gcc"), src, exe, debug,
                           common_copy)
    return dict(job, ok=ok, err=err)


def verdict(m, job):
    """For a built copy whose check is not `compile`: (lines to print, failed?) once its
    check and its control have run. The check runs first; the control (the same check
    against the stage as it is) only matters once the copy is caught."""
    started = time.monotonic()
    caught, what = run_check(m, job["where"], stop_early=True)
    took = time.monotonic() - started
    if not caught:
        return None, f"not caught: {what} (see {os.path.relpath(job['where'], TOP)}/check.out)", took
    if m.get("expect") and not re.search(m["expect"], what):
        return None, f"caught, but not as expected (/{m['expect']}/): {what}", took
    return what, None, took


def main():
    global PREFIXES
    muts = parse(MUTATIONS)
    args = sys.argv[1:]
    build_only = "--build-only" in args
    no_debug = "--no-debug" in args
    wanted = {a for a in args if not a.startswith("--")}
    unknown = wanted - {m["name"] for m in muts}
    if unknown:
        sys.exit(f"no mutation named {', '.join(sorted(unknown))} in {MUTATIONS}; the mutations:\n"
                 + "\n".join(f"  {m['name']:<28} {m['stage']}" for m in muts))
    chosen = [m for m in muts if not wanted or m["name"] in wanted]
    PREFIXES = WinePrefixes(JOBS)
    try:
        return run_all(chosen, build_only, no_debug)
    finally:
        OBJECTS.remove()


def run_all(chosen, build_only, no_debug):
    """Build every copy (CPUS at once), then run the checks and the controls (JOBS at once:
    they mostly wait on the servers' timers and the clients), and print each mutation's
    lines in the file's order as soon as they are known."""
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(CPUS) as builders:
        jobs = list(builders.map(lambda m: prepare(m, no_debug, build_only), chosen))
    checkers = concurrent.futures.ThreadPoolExecutor(JOBS)
    checks, controls = {}, {}
    for m, job in zip(chosen, jobs):
        if build_only or "fail" in job or m["check"] == "compile" or not job["ok"]:
            continue
        checks[m["name"]] = checkers.submit(verdict, m, job)
        key = (m["stage"], m["check"], job["debug"])
        if key not in controls:
            controls[key] = checkers.submit(control_fails, m, job["debug"])
    for m, job in zip(chosen, jobs):
        tag = f"breakit/{m['name']} ({m['stage']})"

        def fail(why):
            nonlocal failed
            failed += 1
            print(f"FAIL {tag}: {why}\n    mistake: {m['mistake']}", flush=True)

        def report_caught(what, timing=""):
            print(f"CAUGHT {tag}: {m['mistake']}\n    you see: {m['symptom']}\n"
                  f"    caught by: {what}{timing}", flush=True)

        if "fail" in job:
            fail(job["fail"])
            continue
        if build_only:
            if job["ok"]:
                print(os.path.relpath(job["exe"], TOP))
            else:
                fail(f"the mutated copy does not compile: {one_line(job['err'], 160)}")
            continue
        if m["check"] == "compile":
            if job["ok"]:
                fail("not caught: the 64-bit build compiled it")
                continue
            what = f"the 64-bit build (-Werror): {one_line(job['err'], 160)}"
            if m.get("x86") == "compiles":
                ok32, err32 = compile_copy(os.environ.get("BREAKIT_CC32", "i686-w64-mingw32-gcc"),
                                           job["src"], job["exe"] + ".i686", job["debug"],
                                           job["common_copy"])
                if not ok32:
                    fail(f"caught by {what}, but the 32-bit build refuses it too: {one_line(err32, 120)}")
                    continue
                what += "; the 32-bit build (make check-x86) compiles it"
            report_caught(what)
            continue
        if not job["ok"]:
            fail(f"the mutated copy does not compile (fix the mutation): {one_line(job['err'], 160)}")
            continue
        what, why, took = checks[m["name"]].result()
        if why:
            fail(why)
            continue
        control, control_took = controls[(m["stage"], m["check"], job["debug"])].result()
        if control:
            fail(f"caught, but the unchanged stage fails the same check, so that proves nothing: {control}")
            continue
        report_caught(what, f"\n    time: the check {took:.0f} s, its control {control_took:.0f} s")
    checkers.shutdown()
    return 1 if failed else 0


def control_fails(m, debug):
    """The same check against the stage as it is, built the same way (once per stage, check
    and build): (None when it passes, else what failed; the seconds it took). A check that
    fails on the real stage too (Wine broken, a flaky scenario) would call every mutation
    caught. It runs beside the mutations' checks, before it is known to be needed: nearly
    every copy is caught, and a control waits on timers as long as its check does."""
    started = time.monotonic()
    if m["stage"] == "fixed":
        original = fixed_program()
    else:
        with open(os.path.join(TOP, m["stage"], "server.c")) as f:
            original = f.read()
    slug = re.sub(r"[^\w-]+", "_", f"{m['stage']}-{m['check']}-{'debug' if debug else 'plain'}")
    where = os.path.join(BUILD, "breakit", "control", slug)
    subprocess.run(["rm", "-rf", where])
    os.makedirs(os.path.join(where, m["stage"]))
    os.makedirs(os.path.join(where, "tests"))
    src = os.path.join(where, m["stage"], "yours-fixed.c" if m["stage"] == "fixed" else "server.c")
    with open(src, "w") as f:
        f.write(original)
    ok, err = compile_copy(os.environ.get("BREAKIT_CC", "x86_64-w64-mingw32-gcc"), src,
                           os.path.join(where, m["stage"], "server.exe"), debug)
    if not ok:
        return f"it does not compile: {one_line(err, 120)}", time.monotonic() - started
    # twice at most: a scenario that fails now and then on a loaded machine (its time
    # bounds) would otherwise fail a mutation that was caught; the stage fails both
    for _ in range(2):
        failed_too, what = run_check(m, where)
        if not failed_too:
            break
    took = time.monotonic() - started
    return (f"{what} (see {os.path.relpath(where, TOP)}/check.out)" if failed_too else None), took


if __name__ == "__main__":
    sys.exit(main())
