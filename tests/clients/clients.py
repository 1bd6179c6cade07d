#!/usr/bin/env python3
"""tests/clients/clients.py CHECK PORT - two of the client suite's checks, in Python.

  http10 PORT       HTTP/1.0 as ApacheBench -k and curl --http1.0 send it, on a raw socket:
                    with "Connection: keep-alive" the answer says "Connection: keep-alive"
                    and a second request on the same connection is answered; without it the
                    answer says "Connection: close" and the server ends the connection.
  http-client PORT  Python's http.client, as its users use it: GET /, HEAD /, GET /big,
                    POST /echo and GET /stats on one HTTPConnection, every answer whole and
                    right, and one connection for all (the socket is never opened again).
Prints one line: "ok: ..." (status 0) or the first thing that went wrong (status 1).
"""
import http.client
import socket
import sys

TIMEOUT = 10


def read_answer(f):
    """(status line, {header: value}, body) of one answer from a socket's file."""
    status = f.readline().decode("latin-1").rstrip("\r\n")
    headers = {}
    while True:
        line = f.readline().decode("latin-1").rstrip("\r\n")
        if not line:
            break
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = f.read(int(headers.get("content-length", "0")))
    return status, headers, body


def http10(port):
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        f = s.makefile("rb")
        for i in range(3):
            s.sendall(b"GET /stats HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: Keep-Alive\r\n\r\n")
            status, headers, body = read_answer(f)
            if " 200 " not in status + " " or headers.get("connection", "").lower() != "keep-alive":
                return f"HTTP/1.0 keep-alive request {i + 1}: {status!r}, Connection: {headers.get('connection')!r}"
            if b'"stage"' not in body:
                return f"HTTP/1.0 keep-alive request {i + 1}: body {body[:60]!r}"
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        f = s.makefile("rb")
        s.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        status, headers, _ = read_answer(f)
        if " 200 " not in status + " " or headers.get("connection", "").lower() != "close":
            return f"plain HTTP/1.0: {status!r}, Connection: {headers.get('connection')!r} (expected close)"
        if f.read(1) != b"":
            return "plain HTTP/1.0: bytes after the answer, the connection not ended"
    return None, ("3 HTTP/1.0 keep-alive requests on one connection, each answered keep-alive; "
                  "plain HTTP/1.0 answered close, then EOF")


def big_pattern(offset, n):
    """The /big body (common/http.h): lines of 16 bytes, the line's offset in 15 digits, '\\n'."""
    first = offset - offset % 16
    text = b"".join(b"%015d\n" % o for o in range(first, offset + n + 16, 16))
    return text[offset - first:offset - first + n]


def http_client(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    conn.connect()
    sock = conn.sock
    echo = bytes(range(256)) * 400
    steps = [("GET", "/", None), ("HEAD", "/", None), ("GET", "/big?bytes=1000000", None),
             ("POST", "/echo", echo), ("GET", "/favicon.ico", None), ("GET", "/stats", None)]
    for method, path, body in steps:
        conn.request(method, path, body=body)
        r = conn.getresponse()
        data = r.read()
        what = f"{method} {path}"
        if r.status != 200:
            return f"{what}: status {r.status}"
        if r.will_close:
            return f"{what}: the answer ends the connection (Connection: {r.getheader('Connection')})"
        if method == "HEAD" and data:
            return f"{what}: {len(data)} body bytes after HEAD"
        if path.startswith("/big") and data != big_pattern(0, 1000000):
            return f"{what}: {len(data)} bytes, not the /big pattern"
        if path == "/echo" and data != echo:
            return f"{what}: echo of {len(data)} bytes differs"
        if path == "/stats" and b'"live_connections"' not in data:
            return f"{what}: {data[:60]!r}"
        if conn.sock is not sock:
            return f"{what}: http.client had to connect again"
    conn.close()
    return None, f"{len(steps)} requests (GET, HEAD, a 1 MB /big checked byte for byte, a 100 KB echo, /stats) on one connection"


def main():
    check, port = sys.argv[1], int(sys.argv[2])
    try:
        outcome = {"http10": http10, "http-client": http_client}[check](port)
    except (OSError, http.client.HTTPException) as e:
        outcome = f"{type(e).__name__}: {e}"
    if isinstance(outcome, tuple):
        print("ok: " + outcome[1])
        return 0
    print(outcome)
    return 1


if __name__ == "__main__":
    sys.exit(main())
