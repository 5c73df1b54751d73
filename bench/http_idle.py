#!/usr/bin/env python3
"""Memory per keep-alive HTTP connection.

Opens N connections to 127.0.0.1:PORT; on each sends `GET / HTTP/1.1` and reads the whole
response (by its Content-Length), so the server has accepted, parsed, answered and gone back to
waiting on it; then holds them all open and idle, waits SETTLE seconds and reads the server's
VmRSS and RssAnon (its private memory: RSS less the clean file-backed pages of its binary and
libraries, which the page cache shares).

usage: http_idle.py PID PORT N [SETTLE_S=1]   (needs `ulimit -n` above N + 64: bench/http_memory.sh
raises it and skips the Ns it cannot hold)
prints a human line, then a machine line:
  result n=.. ok=.. rss_before_kib=.. rss_held_kib=.. anon_before_kib=.. anon_held_kib=.. bytes_per_conn=..
exit 1 if any connection was not answered 200."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from proc import status_kib  # noqa: E402


def get(s):
    s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            return False
        body += chunk
    return head.startswith(b"HTTP/1.1 200")


def main():
    pid, port, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    settle = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    time.sleep(settle)
    before, anon_before = status_kib(pid, "VmRSS"), status_kib(pid, "RssAnon")
    conns, ok = [], 0
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        ok += get(s)
        conns.append(s)
    time.sleep(settle)
    held, anon_held = status_kib(pid, "VmRSS"), status_kib(pid, "RssAnon")
    for s in conns:
        s.close()
    per = (held - before) * 1024 / n
    print(f"{ok}/{n} answered; server RSS {before / 1024:.1f} -> {held / 1024:.1f} MiB "
          f"(private {anon_before / 1024:.1f} -> {anon_held / 1024:.1f} MiB); {per:,.0f} bytes per connection")
    print(f"result n={n} ok={ok} rss_before_kib={before} rss_held_kib={held} anon_before_kib={anon_before} "
          f"anon_held_kib={anon_held} bytes_per_conn={per:.0f}")
    return 0 if ok == n else 1


if __name__ == "__main__":
    sys.exit(main())
