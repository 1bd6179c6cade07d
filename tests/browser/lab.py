#!/usr/bin/env python3
"""tests/browser/lab.py SECONDS URL CHROMIUM [FLAG...]

Open URL (a stage's lab page, /lab?run=lab) in Chromium and print the text the page's lab
writes into its #lab element, once that text holds "lab done" or SECONDS have passed
(exit status 0 or 1). Real time: the page times its requests itself, so Chromium must not
fast-forward its clock (--virtual-time-budget stops the page's clock while a fetch is
pending: every /sleep then "takes" 0 ms). Chromium is driven over --remote-debugging-pipe
(DevTools messages, NUL-terminated JSON on its fds 3 and 4): no package, no open port.
"""
import json
import os
import select
import subprocess
import sys
import time


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


def main():
    seconds, url, argv = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
    browser = Browser(argv)
    text = ""
    try:
        target = browser.call("Target.createTarget", {"url": url})["targetId"]
        session = browser.call("Target.attachToTarget",
                               {"targetId": target, "flatten": True})["sessionId"]
        deadline = time.monotonic() + seconds
        while "lab done" not in text and time.monotonic() < deadline:
            time.sleep(0.2)
            got = browser.call("Runtime.evaluate", {
                "expression": "(document.getElementById('lab') || {}).textContent || ''",
                "returnByValue": True}, session=session)
            text = got["result"].get("value", "")
    except (RuntimeError, TimeoutError, OSError) as e:
        text += f"\nlab.py: {e}"
    finally:
        browser.close()
    print(text.rstrip("\n"))
    return 0 if "lab done" in text else 1


if __name__ == "__main__":
    sys.exit(main())
