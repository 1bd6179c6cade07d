#!/usr/bin/env python3
"""tests/log/keepalive.py PORT COUNT LIMIT_S - COUNT requests on one keep-alive connection.

GET / COUNT times on one connection to 127.0.0.1:PORT, one at a time, each answer read
whole (Content-Length) within LIMIT_S seconds; then GET /stats on the same connection.
Prints one line, and exits 0 only on the first:
    ANSWERED 5000 keep-alive requests, each within 10 s (the slowest in 41 ms)
    UNANSWERED request 268 of 5000: no whole answer within 10 s (267 answered)
    BAD request 12 of 5000: status 500 / the server closed the connection / ...
and on ANSWERED a second line, "STATS {json}" (the last answer, /stats).
"""
import re
import socket
import sys
import time


class Unanswered(Exception):
    pass


def main():
    port, count, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    sock = socket.create_connection(("127.0.0.1", port), timeout=limit)
    pending = b""

    def answer(path):
        nonlocal pending
        sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        deadline = time.monotonic() + limit

        def more():
            left = deadline - time.monotonic()
            if left <= 0:
                raise Unanswered()
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                raise Unanswered()
            if not chunk:
                raise ConnectionError("the server closed the connection")
            return chunk

        while b"\r\n\r\n" not in pending:
            pending += more()
        head, _, rest = pending.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        length = int(length.group(1)) if length else 0
        while len(rest) < length:
            rest += more()
        body, pending = rest[:length], rest[length:]
        status = int(head.split(b" ", 2)[1])
        if status != 200:
            raise ConnectionError(f"status {status}")
        return body

    slowest = 0.0
    for i in range(1, count + 1):
        started = time.monotonic()
        try:
            answer(b"/")
        except Unanswered:
            print(f"UNANSWERED request {i} of {count}: no whole answer within "
                  f"{limit:g} s ({i - 1} answered)")
            return 1
        except (OSError, ValueError, IndexError) as e:
            print(f"BAD request {i} of {count}: {e} ({i - 1} answered)")
            return 1
        slowest = max(slowest, time.monotonic() - started)
    try:
        stats = answer(b"/stats")
    except (Unanswered, OSError, ValueError, IndexError) as e:
        print(f"BAD /stats after {count} answers: {e or 'no answer'}")
        return 1
    print(f"ANSWERED {count} keep-alive requests, each within {limit:g} s "
          f"(the slowest in {slowest * 1000:.0f} ms)")
    print("STATS " + stats.decode(errors="replace").strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
