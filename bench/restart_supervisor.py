#!/usr/bin/env python3
"""Zero-drop restarts under load, on loopback: a supervisor keeps the listening socket and
hands it to each hello-server the systemd way (fd 3, LISTEN_FDS, LISTEN_PID); wrk hammers the
port while the server is replaced RESTARTS times (start the new one, SIGTERM the old one,
which drains). Prints wrk's report and whether any request failed.

usage: restart_supervisor.py HELLO_BIN [SECONDS] [RESTARTS] [CONNS]"""
import os, re, signal, socket, subprocess, sys, time

hello = sys.argv[1]
seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 12
restarts = int(sys.argv[3]) if len(sys.argv) > 3 else 3
conns = int(sys.argv[4]) if len(sys.argv) > 4 else 64

sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", 0))
sock.listen(4096)
port = sock.getsockname()[1]
fd = sock.fileno()


def start():
    def child():
        os.dup2(fd, 3)
        os.environ["LISTEN_FDS"] = "1"
        os.environ["LISTEN_PID"] = str(os.getpid())
    p = subprocess.Popen(["taskset", "-c", os.environ.get("SERVER_CPU", "0"), hello, "--threads", "1"],
                         preexec_fn=child, pass_fds=(fd,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    if "listening on" not in line:
        sys.exit("server did not start: " + line)
    return p


server = start()
wrk = subprocess.Popen(["taskset", "-c", os.environ.get("WRK_CPU", "1"), "wrk", "-t1", "-c%d" % conns,
                        "-d%ds" % seconds, "http://127.0.0.1:%d/" % port], stdout=subprocess.PIPE, text=True)
for i in range(restarts):
    time.sleep(seconds / (restarts + 1))
    new = start()                      # accepting from the same socket before the old one stops
    server.send_signal(signal.SIGTERM)  # the old one drains its connections and exits
    rc = server.wait(timeout=30)
    print(f"restart {i + 1}: old server exited {rc}", flush=True)
    server = new
out = wrk.communicate()[0]
server.send_signal(signal.SIGTERM)
server.wait(timeout=30)
print(out)
errors = re.search(r"Socket errors: (.*)", out)
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
requests = re.search(r"(\d+) requests in", out)
ok = not errors and not non2xx
print(f"zero-drop: {'yes' if ok else 'NO'} ({requests.group(1) if requests else '?'} requests, "
      f"{restarts} restarts, errors: {errors.group(1) if errors else 'none'}, non-2xx: {non2xx.group(1) if non2xx else 0})")
sys.exit(0 if ok else 1)
