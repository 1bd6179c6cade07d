#!/usr/bin/env python3
"""tests/console.py - run a program on a terminal of its own; Ctrl+C is a key typed there.

    tests/console.py [--tty-output] LOG -- PROGRAM [ARG...]

PROGRAM (a stage under Wine: `wine build/06-shutdown/server.exe -p 0`) runs in a new session
whose controlling terminal is a new pseudo-terminal, on its stdin, as in a reader's terminal
(`make run`). Its stdout and stderr are appended to LOG as they are (a Windows console
program redirected to a file, `server.exe >>log 2>&1`); with --tty-output they go to the
terminal too, and this helper appends what the terminal shows to LOG as plain text, line by
line (see plain()). Signals to this helper, whose PID a test holds as the server's:
  SIGINT           types Ctrl+C: the byte 0x03 is written to the terminal, whose line
                   discipline sends SIGINT to its foreground process group (the program,
                   and under Wine 8 the conhost.exe Wine starts for a program on a
                   terminal), as a keyboard's Ctrl+C does. Each SIGINT types one more.
  SIGTERM, SIGHUP  SIGTERM to the program (or, before it is started, no program).
It exits when the program does, with its exit status (128+N if a signal N ended it, as
bash's `wait` reports): at once, or with --tty-output once the terminal has shown nothing
more for 0.2 s (2 s at most), since Wine's console may still be writing to it. If this
helper is killed, the program is killed too (PR_SET_PDEATHSIG).

Echo is off on the terminal (a typed Ctrl+C would print "^C" into the log), and it is
10000 columns wide, so that the Wine console wraps no log line.
"""
import ctypes
import errno
import fcntl
import os
import re
import select
import signal
import struct
import sys
import termios
import time

COLUMNS = 10000

# What Wine's console (8.0 and 10.0) writes to a terminal around each character: hide and
# show the cursor (ESC[?25l, ESC[?25h) and, for a blank, erase to the end of the line and
# move one column right (ESC[K ESC[1C); each line ends "\r\r\n". Plain text keeps the
# characters, turns "move N right" into N blanks and drops every other sequence and
# control character. Nothing moves the cursor back or up in what it writes (measured), so
# reading it in order is what a terminal shows.
CSI = re.compile(rb"\x1b\[([0-9;?]*)[ -/]*([@-~])")
OTHER = re.compile(rb"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[^\[\]()]|[\x00-\x08\x0b-\x1f\x7f]")


def plain(line):
    def csi(m):
        return b" " * int(m.group(1) or 1) if m.group(2) == b"C" and m.group(1).isdigit() else b""
    return OTHER.sub(b"", CSI.sub(csi, line))


def child(slave, log_fd, tty_output, argv, parent):
    """In the forked child: a session of its own on the terminal, then exec argv."""
    try:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        out = slave if tty_output else log_fd
        os.dup2(slave, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the helper died before that
            os._exit(1)
        for sig in (signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ):  # Python changed these
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.execvp(argv[0], argv)
    except OSError as e:
        os.write(2, f"console.py: {argv[0]}: {e.strerror}\n".encode())
    os._exit(127)


def main():
    args = sys.argv[1:]
    tty_output = bool(args) and args[0] == "--tty-output"
    if tty_output:
        args = args[1:]
    if len(args) < 3 or args[1] != "--":
        sys.exit("usage: tests/console.py [--tty-output] LOG -- PROGRAM [ARG...]")
    log_fd = os.open(args[0], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, COLUMNS, 0, 0))

    # SIGCHLD, SIGINT and SIGTERM wake the select() below at once (their handlers run then).
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    pid = None
    stopped = []  # a SIGTERM before there was a program to send it to

    def ctrl_c(_sig, _frame):
        os.write(master, b"\x03")

    def terminate(_sig, _frame):
        if pid:
            os.kill(pid, signal.SIGTERM)
        else:
            stopped.append(_sig)

    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, ctrl_c)
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    parent = os.getpid()
    stops = {signal.SIGTERM, signal.SIGHUP}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)  # held until pid is set
    if stopped:
        sys.exit(128 + signal.SIGTERM)
    pid = os.fork()
    if pid == 0:
        child(slave, log_fd, tty_output, args[2:], parent)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
    os.close(slave)

    pending = b""  # what the terminal showed after the last complete line

    def drain_wake(timeout):
        if select.select([wake_r], [], [], timeout)[0]:
            os.read(wake_r, 512)
        return False

    def drain(timeout):
        """Copy what the terminal shows to LOG; False once nothing holds the terminal."""
        nonlocal pending
        readable = select.select([master, wake_r], [], [], timeout)[0]
        if wake_r in readable:
            os.read(wake_r, 512)
        if master not in readable:
            return True
        try:
            data = os.read(master, 65536)
        except OSError as e:  # EIO: every descriptor of the terminal's other side is closed
            if e.errno != errno.EIO:
                raise
            data = b""
        lines = (pending + data).split(b"\n")
        pending = lines.pop()
        if lines:
            os.write(log_fd, b"".join(plain(line) + b"\n" for line in lines))
        return bool(data)

    status = None
    shown = True  # False once the terminal is closed on the program's side
    while status is None:
        shown = drain(1.0) if shown else drain_wake(1.0)
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(st)
    # What the terminal still has to show.
    linger = 0.2 if tty_output else 0
    end = time.monotonic() + 10 * linger
    while shown and select.select([master], [], [], linger)[0] and time.monotonic() < end:
        shown = drain(0)
    if pending:
        os.write(log_fd, plain(pending) + b"\n")
    sys.exit(status if status >= 0 else 128 - status)


if __name__ == "__main__":
    main()
