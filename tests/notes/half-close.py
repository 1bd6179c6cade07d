#!/usr/bin/env python3
"""tests/notes/half-close.py PORT [BYTES] - a client for a NOTES.md transcript (03-recv-send).

Asks for GET /big?bytes=BYTES (default 8 MiB), reads the first 64 KiB of the response,
then half-closes (shutdown SHUT_WR: a FIN, not a reset) while the rest is still being
sent, and stays connected one more second before closing."""
import socket
import sys
import time

port = int(sys.argv[1])
size = int(sys.argv[2]) if len(sys.argv) > 2 else 8 * 1024 * 1024
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(b"GET /big?bytes=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % size)
got = 0
while got < 65536:
    chunk = s.recv(65536 - got)
    if not chunk:
        break
    got += len(chunk)
print(f"read {got} bytes, then FIN")
s.shutdown(socket.SHUT_WR)
time.sleep(1)
s.close()
