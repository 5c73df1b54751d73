#!/usr/bin/env python3
"""Memory per idle connection of an echo server.

Opens N connections to 127.0.0.1:PORT one after another; on each sends 16 bytes and reads them
back (so the server has accepted it, set it up and served it once), then holds them all open
and idle, waits SETTLE seconds, and reads the server's VmRSS. Then closes them all, waits
SETTLE seconds again, and reads VmRSS once more (what the server gives back). Then does it all
a second time: RSS holding N the second time should not grow again (freed memory is reused;
growth there would be a leak).

usage: idle_echo.py PID PORT N [SETTLE_S=1]   (needs `ulimit -n` above N + 64: bench/idle.sh raises
it and skips the Ns it cannot hold)
prints a human line, then a machine line:
  result n=.. ok=.. rss_before_kib=.. rss_held_kib=.. rss_after_close_kib=.. bytes_per_conn=..
         rss_held2_kib=.. rss_after_close2_kib=.. hwm_kib=..
exit 1 if any connection failed or echoed the wrong bytes."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from proc import status_kib  # noqa: E402


def cycle(pid, port, n, settle):
    """Open n connections, echo on each, hold; RSS while held and after closing them."""
    conns, ok = [], 0
    t0 = time.monotonic()
    for i in range(n):
        msg = b"%015d\n" % i
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(msg)
        data = b""
        while len(data) < len(msg):
            chunk = s.recv(64)
            if not chunk:
                break
            data += chunk
        ok += data == msg
        conns.append(s)
    t_open = time.monotonic() - t0
    time.sleep(settle)
    held = status_kib(pid, "VmRSS")
    for s in conns:
        s.close()
    time.sleep(settle)
    return ok, t_open, held, status_kib(pid, "VmRSS")


def main():
    pid, port, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    settle = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    time.sleep(settle)
    before = status_kib(pid, "VmRSS")
    ok, t_open, held, after = cycle(pid, port, n, settle)
    ok2, _, held2, after2 = cycle(pid, port, n, settle)
    ok = min(ok, ok2)
    hwm = status_kib(pid, "VmHWM")
    per = (held - before) * 1024 / n
    print(f"{ok}/{n} echoed (opened in {t_open:.1f} s); server RSS {before / 1024:.1f} MiB idle -> "
          f"{held / 1024:.1f} MiB holding {n} -> {after / 1024:.1f} MiB after closing them; "
          f"{per:,.0f} bytes per connection; second time {held2 / 1024:.1f} MiB holding, "
          f"{after2 / 1024:.1f} MiB after closing")
    print(f"result n={n} ok={ok} rss_before_kib={before} rss_held_kib={held} rss_after_close_kib={after} "
          f"bytes_per_conn={per:.0f} rss_held2_kib={held2} rss_after_close2_kib={after2} hwm_kib={hwm}")
    return 0 if ok == n else 1


if __name__ == "__main__":
    sys.exit(main())
