"""hello-server against the real Tornado program, and against the clients people use: curl,
http.client, requests. Also the malformed-request corpus, pipelining, HTTP/1.0, slowloris and
signals. Loopback only, ephemeral ports, every wait bounded.

    HELLO_BIN=.build/debug/hello-server python3 -m unittest Tests/cli/test_hello_server.py -v
"""
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

HELLO = os.environ.get("HELLO_BIN", ".build/debug/hello-server")
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # run as a file path rather than through `discover -s Tests/cli`
    sys.path.insert(0, HERE)
from test_gale_tcp import wait_for_line  # noqa: E402
PAGE = (b"<html>\n<head>\n<title>Tornado Framework</title>\n\n</head>\n<body>\n"
        b"<h2>Welcome to the Tornado framework</h2>\n</body>\n</html>")
assert len(PAGE) == 120


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class HelloServer:
    def __init__(self, *args):
        self.proc = subprocess.Popen([HELLO, "--port", "0", *args], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.port = int(wait_for_line(self.proc, r"listening on http://127\.0\.0\.1:(\d+)/", 30).group(1))
        self.stderr_lines = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    def stop(self, sig=signal.SIGINT):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stderr.close()


class Tornado:
    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "tornado_hello.py"), str(self.port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        wait_for_line(self.proc, r"^ready$", 30, self.proc.stdout)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def raw_exchange(port, data, timeout=5.0):
    """Send raw bytes and read the reply until the server closes the connection or `timeout` s
    pass with nothing more arriving. Returns (reply, closed): closed is True only if the server
    closed (EOF), False if the read timed out with the connection still open. A caller that
    expects the server to close must assert `closed`; one that means to read until the timeout
    ignores it."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return out, False
            if not chunk:
                return out, True
            out += chunk
    finally:
        s.close()


def recv_until(s, marker, got=b""):
    """Read from s (after `got`, already read) until `marker` has arrived; fails, rather than
    spinning, if the peer closes first; socket.timeout if nothing arrives within s's timeout."""
    while marker not in got:
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError("connection closed before %r arrived; got %r" % (marker, got[-200:]))
        got += chunk
    return got


def get(port, path="/", headers=None, method="GET"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


class SameAsTornado(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gale = HelloServer()
        cls.tornado = Tornado()

    @classmethod
    def tearDownClass(cls):
        cls.tornado.stop()
        assert cls.gale.stop() == 0

    def both(self, path="/", headers=None, method="GET"):
        return get(self.gale.port, path, headers, method), get(self.tornado.port, path, headers, method)

    def test_page_headers_and_etag(self):
        (gs, gh, gb), (ts, th, tb) = self.both()
        self.assertEqual(gs, 200)
        self.assertEqual((gs, gb), (ts, tb))
        self.assertEqual(gb, PAGE)
        for h in ("content-type", "content-length", "etag"):
            self.assertEqual(gh[h], th[h], h)
        self.assertEqual(gh["content-type"], "text/html; charset=UTF-8")
        self.assertIn("date", gh)
        self.assertIn("server", gh)
        self.assertRegex(gh["date"], r"^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$")

    def test_if_none_match_gives_304_without_body(self):
        etag = get(self.gale.port)[1]["etag"]
        (gs, gh, gb), (ts, th, tb) = self.both(headers={"If-None-Match": etag})
        self.assertEqual((gs, gb), (304, b""))
        self.assertEqual((ts, tb), (304, b""))
        self.assertEqual(gh["etag"], th["etag"])

    def test_not_found_and_method_not_allowed(self):
        (gs, _, gb), (ts, _, tb) = self.both("/nope")
        self.assertEqual((gs, gb), (ts, tb))
        self.assertEqual(gb, b"<html><title>404: Not Found</title><body>404: Not Found</body></html>")
        for method in ("POST", "DELETE", "PUT", "HEAD"):
            (gs, _, gb), (ts, _, tb) = self.both(method=method)
            self.assertEqual((gs, gb), (ts, tb), method)
            self.assertEqual(gs, 405)

    def test_query_strings(self):
        (gs, _, gb), (ts, _, tb) = self.both("/?a=1&b=two%20words")
        self.assertEqual((gs, gb), (200, PAGE))
        self.assertEqual((ts, tb), (200, PAGE))


class Clients(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gale = HelloServer()

    @classmethod
    def tearDownClass(cls):
        assert cls.gale.stop() == 0

    def test_curl(self):
        if not shutil.which("curl"):
            self.skipTest("curl is not installed")
        url = "http://127.0.0.1:%d/" % self.gale.port
        r = subprocess.run(["curl", "-sS", "-i", url, url], capture_output=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count(b"HTTP/1.1 200 OK"), 2)
        self.assertEqual(r.stdout.count(PAGE), 2)
        v = subprocess.run(["curl", "-sS", "-v", "-o", "/dev/null", "-o", "/dev/null", url, url],
                           capture_output=True, timeout=20)
        self.assertIn(b"Re-using existing connection", v.stderr)  # keep-alive

    def test_http_client_keep_alive(self):
        c = http.client.HTTPConnection("127.0.0.1", self.gale.port, timeout=10)
        for _ in range(5):
            c.request("GET", "/")
            r = c.getresponse()
            self.assertEqual(r.read(), PAGE)
        sock = c.sock
        c.request("GET", "/")
        c.getresponse().read()
        self.assertIs(c.sock, sock)  # the same connection all along
        c.close()

    def test_requests_session(self):
        import requests
        with requests.Session() as s:
            for _ in range(3):
                r = s.get("http://127.0.0.1:%d/" % self.gale.port, timeout=10)
                self.assertEqual(r.status_code, 200)
                self.assertEqual(r.content, PAGE)
                self.assertEqual(r.headers["Content-Type"], "text/html; charset=UTF-8")
            r = s.post("http://127.0.0.1:%d/" % self.gale.port, data={"a": "1"}, timeout=10)
            self.assertEqual(r.status_code, 405)

    def test_pipelined_requests_are_answered_in_order(self):
        reqs = b"".join([
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
            b"GET /?q=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ])
        out, closed = raw_exchange(self.gale.port, reqs)
        self.assertTrue(closed, "no close after the Connection: close request")
        statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", out)
        self.assertEqual(statuses, [b"200", b"404", b"405", b"200"])
        self.assertEqual(out.count(PAGE), 2)

    def test_http_1_0_closes_unless_keep_alive_is_asked(self):
        out, closed = raw_exchange(self.gale.port, b"GET / HTTP/1.0\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertTrue(out.endswith(PAGE))
        self.assertTrue(closed, "HTTP/1.0 without keep-alive: the server must close")
        s = socket.create_connection(("127.0.0.1", self.gale.port), timeout=5)
        s.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        got = recv_until(s, PAGE)
        self.assertIn(b"Connection: keep-alive\r\n", got)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")  # still open: a second request works
        more = b""
        while True:
            chunk = s.recv(65536)  # socket.timeout (an error) if the server does not close
            if not chunk:
                break
            more += chunk
        self.assertIn(PAGE, more)
        s.close()

    def test_expect_100_continue(self):
        s = socket.create_connection(("127.0.0.1", self.gale.port), timeout=5)
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        first = s.recv(65536)
        self.assertTrue(first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"))
        s.sendall(b"hello")
        rest = first[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
        rest = recv_until(s, b"</html>", rest)
        self.assertTrue(rest.startswith(b"HTTP/1.1 405 "))
        s.close()


# (request bytes, expected status). Each goes on its own connection; the server must answer
# with that status, close, and go on serving others.
MALFORMED = [
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),  # CL + TE
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),  # bad chunk size
    (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 20 + b"\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400),  # NUL in a value
    (b"GET / HTTP/1.1\r\nHost: x\r\n: empty\r\n\r\n", 400),  # empty header name
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n", 400),  # space before the colon
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n folded\r\n\r\n", 400),  # obs-fold
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host in HTTP/1.1
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(150)) + b"\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 70000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n", 417),
    (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n", 413),
]


class Malformed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gale = HelloServer()

    @classmethod
    def tearDownClass(cls):
        assert cls.gale.stop() == 0

    def test_each_gets_its_4xx_and_the_server_keeps_serving(self):
        for data, status in MALFORMED:
            with self.subTest(request=data[:60], status=status):
                out, closed = raw_exchange(self.gale.port, data)
                self.assertTrue(out.startswith(b"HTTP/1.1 %d " % status), out[:80])
                self.assertIn(b"Connection: close\r\n", out)
                self.assertTrue(closed, "the server answered but did not close")
                self.assertEqual(get(self.gale.port)[0], 200)


class Slowloris(unittest.TestCase):
    def test_slow_head_gets_408_while_others_are_served(self):
        gale = HelloServer("--header-timeout", "1")
        try:
            result = {}

            def slowloris():
                s = socket.create_connection(("127.0.0.1", gale.port), timeout=10)
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
                start = time.time()
                got = b""
                try:
                    for i in range(60):  # a header byte every 100 ms, never finishing
                        s.sendall(b"X-%d: y\r\n" % i)
                        time.sleep(0.1)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                s.settimeout(5)
                try:
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        got += chunk
                except (socket.timeout, ConnectionResetError):
                    pass
                result["reply"], result["after"] = got, time.time() - start
                s.close()

            t = threading.Thread(target=slowloris)
            t.start()
            served = 0
            while t.is_alive() and served < 100:
                self.assertEqual(get(gale.port)[0], 200)  # others are served meanwhile
                served += 1
                time.sleep(0.02)
            t.join(15)
            self.assertGreater(served, 5)
            self.assertTrue(result["reply"].startswith(b"HTTP/1.1 408 "), result["reply"][:60])
            self.assertLess(result["after"], 5)
        finally:
            self.assertEqual(gale.stop(), 0)


def activated_server(sock, *args):
    """hello-server given an open listening socket the systemd way (fd 3, LISTEN_FDS=1,
    LISTEN_PID = its own pid), as a supervisor that keeps the socket across restarts does."""
    fd = sock.fileno()

    def child():
        os.dup2(fd, 3)
        os.environ["LISTEN_FDS"] = "1"
        os.environ["LISTEN_PID"] = str(os.getpid())

    proc = subprocess.Popen([HELLO, *args], preexec_fn=child, pass_fds=(fd,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_line(proc, r"listening on", 30)
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    return proc


class Operations(unittest.TestCase):
    def test_several_loops_serve(self):
        gale = HelloServer("--threads", "3")
        try:
            results = []

            def client():
                for _ in range(20):
                    results.append(get(gale.port)[2] == PAGE)

            threads = [threading.Thread(target=client) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            self.assertEqual(len(results), 160)
            self.assertTrue(all(results))
        finally:
            self.assertEqual(gale.stop(), 0)

    def test_socket_activation_and_a_restart_that_drops_nothing(self):
        # The supervisor's socket: it outlives every server process.
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        port = sock.getsockname()[1]
        old = activated_server(sock)
        stop = threading.Event()
        stats = {"ok": 0, "failed": []}

        def client():  # keep-alive requests, back to back, reconnecting when told to close
            c = None
            while not stop.is_set():
                try:
                    if c is None:
                        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    c.request("GET", "/")
                    r = c.getresponse()
                    body = r.read()
                    if r.status != 200 or body != PAGE:
                        stats["failed"].append(r.status)
                    else:
                        stats["ok"] += 1
                    if r.getheader("Connection", "").lower() == "close":
                        c.close()
                        c = None
                except Exception as e:  # a dropped request
                    stats["failed"].append(repr(e))
                    c = None
            if c:
                c.close()

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.5)
            new = activated_server(sock)     # the new one accepts from the same socket ...
            self.assertEqual(old.send_signal(signal.SIGTERM) or old.wait(timeout=15), 0)  # ... the old drains
            before = stats["ok"]
            time.sleep(0.5)
            self.assertGreater(stats["ok"], before)  # still served, by the new process alone
        finally:
            stop.set()
            for t in threads:
                t.join(15)
        self.assertEqual(stats["failed"], [])
        self.assertGreater(stats["ok"], 50)
        new.send_signal(signal.SIGTERM)
        self.assertEqual(new.wait(timeout=15), 0)
        sock.close()


class Signals(unittest.TestCase):
    def test_sigterm_and_sigint_exit_0_and_stop_accepting(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            gale = HelloServer()
            s = socket.create_connection(("127.0.0.1", gale.port), timeout=5)  # an idle keep-alive client
            self.assertEqual(gale.stop(sig), 0)
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", gale.port), timeout=2)
            s.close()

    def test_bad_flags_exit_2(self):
        for args in (["--port", "99999"], ["--bogus"], ["--header-timeout", "-1"]):
            r = subprocess.run([HELLO, *args], capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("Usage:", r.stderr + r.stdout)


if __name__ == "__main__":
    unittest.main()
