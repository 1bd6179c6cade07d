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
A FAIL for a missing anchor means the stage changed under the mutation: fix the anchor in
tests/breakit/mutations. build/breakit/NAME/mutation.diff shows what was changed.
Exit status 1 if any line is a FAIL. BREAKIT_MUTATIONS names another mutations file
(tests/breakit/selftest.sh gives it one whose anchor is gone).
`stage fixed` is "Your program, fixed": the program NOTES.md shows whole (extracted by
tools/notes-program.awk, as make does), mutated into build/breakit/NAME/fixed/yours-fixed.c,
built alone (no common/) and checked by `check fixed CHECK...` (tests/fixed/run.sh).
"""
import difflib
import glob
import os
import re
import shlex
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("BUILD_DIR") or os.path.join(TOP, "build"))
MUTATIONS = os.environ.get("BREAKIT_MUTATIONS") or os.path.join(TOP, "tests", "breakit", "mutations")
# What in a server log or a suite's output says how the mistake was caught, best first.
EVIDENCE = [
    ("the debug guard (common/opcheck.h)", re.compile(r"opcheck: .*")),
    ("set_state's table (every build)", re.compile(r".*allowed_next\[\] lacks.*")),
    ("a Wine crash report", re.compile(r".*(Unhandled exception|page fault).*")),
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


def fixed_program():
    """The text of "Your program, fixed", as make extracts it from NOTES.md."""
    r = subprocess.run(["awk", "-v", "name=yours-fixed.c", "-f", "tools/notes-program.awk",
                        "NOTES.md"], cwd=TOP, capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None


def compile_copy(cc, src, exe, debug, common_copy=None):
    """common_copy: (common/X.c, the mutated copy that replaces it), for a `file` mutation."""
    env = os.environ
    if src.endswith("yours-fixed.c"):  # one file, Winsock and the C library: built alone
        cmd = [cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-o", exe, src, "-lws2_32"]
        r = subprocess.run(cmd, cwd=TOP, capture_output=True, text=True)
        return r.returncode == 0, r.stderr.strip()
    debug_flags = shlex.split(env.get("BREAKIT_DEBUG_CFLAGS") or "-DIOCP_DEBUG -include common/fault.h")
    common = shlex.split(env.get("BREAKIT_COMMON", ""))
    if common_copy:
        common = [common_copy[1] if os.path.normpath(c) == common_copy[0] else c for c in common]
    # the stage's own text (the Makefile's STAGE_C, % the stage's folder)
    stage_c = env.get("BREAKIT_STAGE_C", "").replace("%", os.path.basename(os.path.dirname(src)))
    cmd = ([cc] + shlex.split(env.get("BREAKIT_CFLAGS", "")) + (debug_flags if debug else [])
           + ["-o", exe, src] + shlex.split(stage_c) + common + shlex.split(env.get("BREAKIT_LDLIBS", "")))
    r = subprocess.run(cmd, cwd=TOP, capture_output=True, text=True)
    errors = [l.replace(os.path.dirname(src) + "/", "") for l in r.stderr.splitlines() if "error:" in l]
    return r.returncode == 0, (errors[0] if errors else r.stderr.strip())


def run_check(m, where):
    """(caught, what caught it or why not)."""
    kind, *args = m["check"].split()
    # DEBUG_BUILD_DIR: the suites that run a debug build (tests/fault, ctrl-c-storm) run the copy
    env = dict(os.environ, BUILD_DIR=where, DEBUG_BUILD_DIR=where,
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
    try:
        r = subprocess.run(cmd, cwd=TOP, env=env, capture_output=True, text=True, timeout=240)
        out, status = r.stdout + r.stderr, r.returncode
    except subprocess.TimeoutExpired as e:
        out, status = (e.stdout or b"").decode(errors="replace"), "timeout"
    with open(os.path.join(where, "check.out"), "w") as f:
        f.write(out)
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
    if status == "timeout":
        return False, f"{' '.join(cmd)} did not finish within 240 s"
    if what is None:  # no FAIL line and no evidence: passed, or the harness itself broke
        if status == 0:
            return False, f"{kind} {' '.join(args)} passed against the mutated copy"
        return False, f"{' '.join(cmd)} exited {status} without a FAIL line: {one_line(out[-200:])}"
    return True, what


def main():
    muts = parse(MUTATIONS)
    args = sys.argv[1:]
    build_only = "--build-only" in args
    no_debug = "--no-debug" in args
    wanted = {a for a in args if not a.startswith("--")}
    controls = {}  # (stage, check, debug) -> None (the real stage passes) or what failed
    unknown = wanted - {m["name"] for m in muts}
    if unknown:
        sys.exit(f"no mutation named {', '.join(sorted(unknown))} in {MUTATIONS}; the mutations:\n"
                 + "\n".join(f"  {m['name']:<28} {m['stage']}" for m in muts))
    failed = 0
    for m in muts:
        if wanted and m["name"] not in wanted:
            continue
        name, stage = m["name"], m["stage"]
        tag = f"breakit/{name} ({stage})"

        def fail(why):
            nonlocal failed
            failed += 1
            print(f"FAIL {tag}: {why}\n    mistake: {m['mistake']}", flush=True)

        def report_caught(what):
            print(f"CAUGHT {tag}: {m['mistake']}\n    you see: {m['symptom']}\n"
                  f"    caught by: {what}", flush=True)

        rel = os.path.normpath(m.get("file", os.path.join(stage, "server.c")))
        original_path = os.path.join(TOP, rel)
        if stage == "fixed":
            rel, original_path = os.path.join("fixed", "yours-fixed.c"), os.path.join(TOP, "NOTES.md")
            original = fixed_program()
            if original is None:
                fail("NOTES.md has no <!-- program: yours-fixed.c --> block")
                continue
        elif not os.path.isfile(original_path):
            fail(f"there is no {rel}")
            continue
        else:
            with open(original_path) as f:
                original = f.read()
        text, bad = original, None
        for anchor, repl in m["pairs"]:
            count = text.count(anchor)
            if count != 1:
                bad = (f"the anchor `{one_line(anchor, 90)}` is in {rel} {count} times, "
                       f"not once: fix it in tests/breakit/mutations")
                break
            text = text.replace(anchor, repl)
        if bad:
            fail(bad)
            continue
        debug = m.get("debug") == "1" and not no_debug
        where = os.path.join(BUILD, "breakit", name + ("-plain" if no_debug else ""))
        # the copy of the mutated file; a common/ file's mutation builds the stage as it is
        copy = os.path.join(where, rel)
        src = copy if stage == "fixed" else os.path.join(where, stage, "server.c")
        exe = os.path.join(where, stage, "server.exe")
        common_copy = (rel, copy) if copy != src else None
        sources = [original_path] + glob.glob(os.path.join(TOP, "common", "*.[ch]"))
        if stage != "fixed":
            sources.append(os.path.join(TOP, stage, "server.c"))
        if build_only and os.path.isfile(exe) and os.path.getmtime(exe) >= max(map(os.path.getmtime, sources)):
            with open(copy) as f:
                if f.read() == text:  # built already, from this very text
                    print(os.path.relpath(exe, TOP))
                    continue
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
        if build_only:
            if ok:
                print(os.path.relpath(exe, TOP))
            else:
                fail(f"the mutated copy does not compile: {one_line(err, 160)}")
            continue
        if m["check"] == "compile":
            if ok:
                fail("not caught: the 64-bit build compiled it")
                continue
            what = f"the 64-bit build (-Werror): {one_line(err, 160)}"
            if m.get("x86") == "compiles":
                ok32, err32 = compile_copy(os.environ.get("BREAKIT_CC32", "i686-w64-mingw32-gcc"),
                                           src, exe + ".i686", debug, common_copy)
                if not ok32:
                    fail(f"caught by {what}, but the 32-bit build refuses it too: {one_line(err32, 120)}")
                    continue
                what += "; the 32-bit build (make check-x86) compiles it"
            report_caught(what)
            continue
        if not ok:
            fail(f"the mutated copy does not compile (fix the mutation): {one_line(err, 160)}")
            continue
        caught, what = run_check(m, where)
        if not caught:
            fail(f"not caught: {what} (see {os.path.relpath(where, TOP)}/check.out)")
            continue
        if m.get("expect") and not re.search(m["expect"], what):
            fail(f"caught, but not as expected (/{m['expect']}/): {what}")
            continue
        if stage == "fixed":
            control = control_fails(m, original, debug, controls)
        else:
            with open(os.path.join(TOP, stage, "server.c")) as f:
                control = control_fails(m, f.read(), debug, controls)
        if control:
            fail(f"caught, but the unchanged stage fails the same check, so that proves nothing: {control}")
            continue
        report_caught(what)
    return 1 if failed else 0


def control_fails(m, original, debug, cache):
    """The same check against the stage as it is, built the same way (once per stage, check
    and build): None when it passes, else what failed. A check that fails on the real stage
    too (Wine broken, a flaky scenario) would call every mutation caught."""
    key = (m["stage"], m["check"], debug)
    if key not in cache:
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
            cache[key] = f"it does not compile: {one_line(err, 120)}"
        else:
            # twice at most: a scenario that fails now and then on a loaded machine (its time
            # bounds) would otherwise fail a mutation that was caught; the stage fails both
            for _ in range(2):
                failed_too, what = run_check(m, where)
                if not failed_too:
                    break
            cache[key] = f"{what} (see {os.path.relpath(where, TOP)}/check.out)" if failed_too else None
    return cache[key]


if __name__ == "__main__":
    sys.exit(main())
