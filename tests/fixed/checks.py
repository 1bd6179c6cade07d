#!/usr/bin/env python3
"""tests/fixed/checks.py PORT LOG OFFSET [CHECK...] - real clients against "Your program, fixed".

The program (NOTES.md, built by tests/fixed/run.sh) runs on PORT and writes its log to LOG
from byte OFFSET on. Each check talks to it over loopback as a client would, asserts what
the client sees, then waits (bounded) until the log shows every connection the check
opened "freed, 0 pending", and no "freed" line with anything pending. Prints one line per
check: "PASS fixed/NAME (detail)" or "FAIL fixed/NAME: reason". CHECKs: all, or those named.

  browser-get   a browser's GET / (its headers, keep-alive), then /favicon.ico (404) on the
                same connection, beside an idle preconnected one; both closed by the client
  pipelined     GET /, POST /echo and GET /nope in one write, then 20 GET / in one write:
                every answer, in order, on one connection
  post-body     POST /echo of 16 KiB (binary, NUL bytes too) sent in pieces: the same bytes back
  conn-close    "Connection: close" (with a request pipelined behind it) and HTTP/1.0: one
                answer, saying "Connection: close", then the end of the stream (our FIN)
  fin-mid       a request and half of another, then the client's FIN: the whole one is
                answered, then the end; the log says "both FINs"
  reset         half a request, then a reset (SO_LINGER {1, 0}); and a whole request reset
                at once: the server frees each connection, and answers the next client
  reset-sending 1100 GETs pipelined (19800 bytes: room is left to read), and a reset as soon
                as the first answer is sent: about a thousand answers to go, so the close
                (a failed operation, or a WSASend refused at once) leaves one operation
                pending, the read or the send: it is counted down, then the connection freed
  too-large     a header that does not end within 4 KiB: 400; a Content-Length of 100000:
                413; each followed by the end of the stream
  many          20 connections at once, each GET / twice
"""
import re
import socket
import struct
import sys
import threading
import time

TIMEOUT = 20        # seconds a client waits for an answer, and the log for "freed"
PORT, LOG, OFFSET = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])


class Failed(Exception):
    pass


def log_text():
    with open(LOG, "rb") as f:
        f.seek(OFFSET)
        return f.read().decode("latin-1").replace("\r", "")


def accepted_ids():
    return [int(i) for i in re.findall(r"^conn (\d+): accepted$", log_text(), re.M)]


def connect():
    s = socket.create_connection(("127.0.0.1", PORT), timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    return s


def read_answer(s, buf):
    """(status, headers, body, rest of buf) of one answer; buf holds bytes read before."""
    while b"\r\n\r\n" not in buf:
        more = s.recv(65536)
        if not more:
            raise Failed(f"the stream ended before a whole answer (had {buf[:80]!r})")
        buf += more
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "-1"))
    if length < 0:
        raise Failed(f"an answer without Content-Length: {lines[0]}")
    while len(buf) < length:
        more = s.recv(65536)
        if not more:
            raise Failed(f"the stream ended inside a body ({len(buf)} of {length} bytes)")
        buf += more
    return status, headers, buf[:length], buf[length:]


def expect_eof(s, rest):
    """The server's FIN: nothing more than what was read, then the end of the stream."""
    if rest:
        raise Failed(f"{len(rest)} bytes after the last answer: {rest[:60]!r}")
    try:
        more = s.recv(65536)
    except socket.timeout:
        raise Failed(f"no end of the stream within {TIMEOUT} s after the answer")
    if more:
        raise Failed(f"more after the last answer: {more[:60]!r}")


def expect(cond, what):
    if not cond:
        raise Failed(what)


def wait_log(pattern, what):
    """The last match of pattern in the log (its first group), once there is one: a
    readiness wait, bounded."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        found = re.findall(pattern, log_text(), re.M)
        if found:
            return found[-1]
        if time.monotonic() > deadline:
            raise Failed(f"{what}: not in the log within {TIMEOUT} s")
        time.sleep(0.05)


def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def wait_freed(ids, reasons=None):
    """Every connection in ids freed with 0 pending (and, for those in reasons, closed
    with that reason); returns the detail for the PASS line."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        text = log_text()
        bad = re.findall(r"^conn (\d+): freed, ([1-9]\d*) pending$", text, re.M)
        if bad:
            raise Failed(f"conn {bad[0][0]} freed with {bad[0][1]} operation(s) pending")
        freed = {int(i) for i in re.findall(r"^conn (\d+): freed, 0 pending$", text, re.M)}
        if set(ids) <= freed:
            break
        if time.monotonic() > deadline:
            missing = sorted(set(ids) - freed)
            last = [l for l in text.splitlines() if l.startswith(f"conn {missing[0]}:")][-3:]
            raise Failed(f"conn {missing} not freed within {TIMEOUT} s; conn {missing[0]}'s "
                         f"last lines: {' | '.join(last)}")
        time.sleep(0.05)
    for conn_id, reason in (reasons or {}).items():
        closed = re.findall(rf"^conn {conn_id}: closed \((.*)\), \d+ pending$", text, re.M)
        expect(closed and reason in closed[0],
               f"conn {conn_id} closed ({closed[0] if closed else 'never'}), not ({reason})")
    return f"{len(ids)} connection(s) freed, 0 pending"


def opened_by(action):
    """Run action(); the ids of the connections the server accepted meanwhile."""
    before = len(accepted_ids())
    detail = action()
    deadline = time.monotonic() + TIMEOUT
    ids = accepted_ids()[before:]
    while len(ids) < detail[0] and time.monotonic() < deadline:
        time.sleep(0.05)
        ids = accepted_ids()[before:]
    expect(len(ids) == detail[0], f"{detail[0]} connection(s) opened, the log shows {len(ids)}")
    return ids, detail[1]


BROWSER = (b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n"
           b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36\r\n"
           b"Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n"
           b"Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n\r\n")


def browser_get():
    def act():
        idle = connect()  # the preconnect a browser opens and may never use
        s = connect()
        s.sendall(BROWSER % b"/")
        status, headers, body, rest = read_answer(s, b"")
        expect(status == 200 and b"<h1>" in body and "close" not in headers.get("connection", ""),
               f"GET /: {status}, {body[:40]!r}")
        s.sendall(BROWSER % b"/favicon.ico")
        status, _, _, rest = read_answer(s, rest)
        expect(status == 404, f"GET /favicon.ico: {status}, not 404")
        s.close()
        idle.close()
        return 2, "200 then 404 on one connection"
    ids, detail = opened_by(act)
    return f"{detail}; " + wait_freed(ids, {i: "both FINs" for i in ids})


def pipelined():
    def act():
        s = connect()
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nping"
                  b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        got, rest = [], b""
        for _ in range(3):
            status, _, body, rest = read_answer(s, rest)
            got.append((status, body[:4]))
        expect(got[0][0] == 200 and got[1] == (200, b"ping") and got[2][0] == 404,
               f"answers {got}, not 200, 200 ping, 404 in that order")
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 20)
        for n in range(20):
            status, _, _, rest = read_answer(s, rest)
            expect(status == 200, f"pipelined answer {n + 1} of 20: {status}")
        s.close()
        return 1, "3 + 20 answers in order"
    ids, detail = opened_by(act)
    return f"{detail}; " + wait_freed(ids)


def post_body():
    def act():
        body = bytes(range(256)) * 64  # 16 KiB, every byte value (NULs too)
        s = connect()
        head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
        for piece in (head[:10], head[10:], body[:1000], body[1000:9000], body[9000:]):
            s.sendall(piece)
        status, _, echoed, rest = read_answer(s, b"")
        expect(status == 200 and echoed == body,
               f"{status}, {len(echoed)} bytes back{' (not the same)' if len(echoed) == len(body) else ''}")
        s.close()
        return 1, f"{len(body)} bytes back, the same"
    ids, detail = opened_by(act)
    return f"{detail}; " + wait_freed(ids)


def answered_then_closed(request, status_wanted, what):
    """On a new connection: request, then one answer with status_wanted and
    Connection: close, then the end of the stream."""
    s = connect()
    s.sendall(request)
    status, headers, _, rest = read_answer(s, b"")
    expect(status == status_wanted
           and headers.get("connection", "").lower() == "close",
           f"{what}: {status}, not {status_wanted} with Connection: close "
           f"({headers.get('connection')!r})")
    expect_eof(s, rest)
    s.close()


def conn_close():
    def act():
        answered_then_closed(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                             b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 200,
                             "Connection: close")
        answered_then_closed(b"GET / HTTP/1.0\r\n\r\n", 200, "HTTP/1.0")
        return 2, "one answer, then the end, twice (Connection: close, HTTP/1.0)"
    ids, detail = opened_by(act)
    return f"{detail}; " + wait_freed(ids, {i: "both FINs" for i in ids})


def fin_mid():
    def act():
        s = connect()
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HT")
        s.shutdown(socket.SHUT_WR)
        status, _, _, rest = read_answer(s, b"")
        expect(status == 200, f"{status}, not 200")
        expect_eof(s, rest)
        s.close()
        s = connect()
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        s.shutdown(socket.SHUT_WR)
        expect_eof(s, b"")
        s.close()
        return 2, "the whole request answered, the half one not, then the end"
    ids, detail = opened_by(act)
    return f"{detail}; " + wait_freed(ids, {i: "both FINs" for i in ids})


def reset_check():
    def act():
        s = connect()
        s.sendall(b"GET / HTTP/1.1\r\nHost:")
        wait_log(r"^conn \d+: read 21 bytes", "the half request read")
        reset(s)
        s = connect()
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
        reset(s)
        s = connect()  # and the server goes on serving
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status, _, _, rest = read_answer(s, b"")
        expect(status == 200, f"the client after the resets: {status}")
        expect_eof(s, rest)
        s.close()
        return 3, "two resets, then a client served"
    ids, detail = opened_by(act)
    return f"{detail}; " + wait_freed(ids)


def reset_sending():
    requests = 1100
    def act():
        before = len(accepted_ids())
        s = connect()
        s.sendall(b"GET / HTTP/1.1\r\n\r\n" * requests)
        deadline = time.monotonic() + TIMEOUT
        while len(accepted_ids()) == before:
            expect(time.monotonic() < deadline, "the connection: not accepted")
            time.sleep(0.005)
        conn_id = accepted_ids()[before]
        while not re.search(rf"^conn {conn_id}: sent ", log_text(), re.M):
            expect(time.monotonic() < deadline, "no answer sent")
            time.sleep(0.005)
        reset(s)  # at the first answer sent: about a thousand to go, a send posted
        answered = len(re.findall(rf"^conn {conn_id}: GET / -> 200$", log_text(), re.M))
        return 1, f"reset after about {answered} of {requests} answers"
    ids, detail = opened_by(act)
    freed = wait_freed(ids)
    text = log_text()
    closed = re.findall(rf"^conn {ids[0]}: closed \((.*)\), (\d+) pending$", text, re.M)
    answered = len(re.findall(rf"^conn {ids[0]}: GET / -> 200$", text, re.M))
    expect(answered < requests, f"all {requests} answers went out before the reset: "
           "no send was posted at the close, so this check proves nothing")
    expect(closed and closed[0][1] == "1",
           f"closed ({closed[0][0] if closed else 'never'}) with "
           f"{closed[0][1] if closed else '?'} pending, not 1 (the read or the send)")
    return f"{detail}; closed ({closed[0][0]}) with 1 pending; {freed}"


def too_large():
    def act():
        answered_then_closed(b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 5000, 400,
                             "a 5 KB header")
        answered_then_closed(b"POST /echo HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Length: 100000\r\n\r\n", 413,
                             "Content-Length 100000")
        return 2, "400, then 413, each then the end"
    ids, detail = opened_by(act)
    return f"{detail}; " + wait_freed(ids)


def many():
    def act():
        errors = []

        def client():
            try:
                s = connect()
                rest = b""
                for _ in range(2):
                    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    status, _, _, rest = read_answer(s, rest)
                    if status != 200:
                        errors.append(f"status {status}")
                s.close()
            except (OSError, Failed) as e:
                errors.append(str(e))
        threads = [threading.Thread(target=client) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        expect(not errors, f"{len(errors)} of 20 clients failed: {errors[0] if errors else ''}")
        return 20, "20 clients, 2 answers each"
    ids, detail = opened_by(act)
    return f"{detail}; " + wait_freed(ids)


CHECKS = {"browser-get": browser_get, "pipelined": pipelined, "post-body": post_body,
          "conn-close": conn_close, "fin-mid": fin_mid, "reset": reset_check,
          "reset-sending": reset_sending, "too-large": too_large, "many": many}


def main():
    names = sys.argv[4:] or list(CHECKS)
    failed = 0
    for name in names:
        if name not in CHECKS:
            print(f"FAIL fixed/{name}: no such check (checks: {' '.join(CHECKS)})", flush=True)
            failed += 1
            continue
        try:
            print(f"PASS fixed/{name} ({CHECKS[name]()})", flush=True)
        except Failed as e:
            print(f"FAIL fixed/{name}: {e}", flush=True)
            failed += 1
        except OSError as e:  # a refused connection, a reset, a client's timeout
            print(f"FAIL fixed/{name}: the client: {type(e).__name__}: {e}", flush=True)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
