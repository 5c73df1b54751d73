"""End-to-end checks of `gale`'s TCP programs against peers written like the tutorials' Python
programs. Loopback only, ephemeral ports, every wait bounded.

    GALE_BIN=.build/debug/gale python3 -m unittest discover -s Tests/cli -v
"""
import os
import re
import selectors
import signal
import socket
import subprocess
import threading
import time
import unittest

GALE = os.environ.get("GALE_BIN", ".build/debug/gale")
LISTENING = re.compile(r"listening on (\S+):(\d+)")


def wait_for_line(proc, regex, timeout, stream=None):
    """Read `stream` (default proc.stderr, a pipe) until a line matches `regex`, for at most
    `timeout` s; return the match. If the timeout passes or the stream ends first, kill proc and
    raise AssertionError with what was read: unlike a blocking readline(), a child that hangs
    without printing cannot hang the caller. Reads the pipe's fd a byte at a time (select +
    os.read), so nothing after the matching line is consumed: later readers of `stream` get the
    rest. `stream` must not have been read through its buffered wrapper before."""
    stream = proc.stderr if stream is None else stream
    pattern = re.compile(regex)
    fd = stream.fileno()
    deadline = time.monotonic() + timeout
    seen, line, why = [], bytearray(), "timed out"
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                break
            byte = os.read(fd, 1)
            if not byte:
                why = "end of output"
                break
            if byte != b"\n":
                line += byte
                continue
            text = line.decode(errors="replace").rstrip("\r")
            line.clear()
            seen.append(text)
            m = pattern.search(text)
            if m:
                return m
    if line:
        seen.append(line.decode(errors="replace"))
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    raise AssertionError("%s: no line matching %r within %g s (%s, exit status %s); read: %r"
                         % (os.path.basename(str(proc.args[0])), regex, timeout, why,
                            proc.returncode, "\n".join(seen)))


class Server:
    """A `gale` server on port 0; knows its port from the line it prints on stderr."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([GALE, *args, "--port", "0"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.port = int(wait_for_line(self.proc, LISTENING, 20).group(2))
        self.lines = []
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()

    def _read_stdout(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_lines(self, n, timeout=10):
        deadline = time.time() + timeout
        while len(self.lines) < n and time.time() < deadline:
            time.sleep(0.01)
        return self.lines[:]

    def stop(self, sig=signal.SIGINT):
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(5)
            self.proc.stdout.close()
            self.proc.stderr.close()


def run_gale(*args, timeout=60):
    return subprocess.run([GALE, *args], capture_output=True, text=True, timeout=timeout)


def listen_socket():
    """A plain Python listening socket on an ephemeral loopback port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(5)
    s.settimeout(20)
    return s, s.getsockname()[1]


class TCPServerAndClient(unittest.TestCase):
    def test_tcp_server_greets_the_tutorial_client(self):
        server = Server("tcp-server", "--message", "Thank you for connecting")
        try:
            for _ in range(3):
                # The tutorial's client.py
                s = socket.socket()
                s.settimeout(10)
                s.connect(("127.0.0.1", server.port))
                data = s.recv(1024)
                self.assertEqual(data, b"Thank you for connecting")
                self.assertEqual(s.recv(1024), b"")  # and then the server closes
                s.close()
            lines = server.wait_for_lines(3)
            self.assertEqual(len(lines), 3)
            for line in lines:
                self.assertRegex(line, r"^Got connection from 127\.0\.0\.1:\d+$")
        finally:
            self.assertEqual(server.stop(signal.SIGTERM), 0)

    def test_tcp_client_prints_what_the_tutorial_server_sends(self):
        lsock, port = listen_socket()

        def tutorial_server():  # the tutorial's server.py, one connection
            c, addr = lsock.accept()
            c.send(b"Thank you for connecting")
            c.close()

        t = threading.Thread(target=tutorial_server)
        t.start()
        r = run_gale("tcp-client", "--port", str(port))
        t.join(10)
        lsock.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "Thank you for connecting")

    def test_client_reports_refused_connection(self):
        lsock, port = listen_socket()
        lsock.close()
        r = run_gale("tcp-client", "--port", str(port))
        self.assertEqual(r.returncode, 1)
        self.assertIn("refused", r.stderr.lower())


class Echo(unittest.TestCase):
    def test_echo_server_serves_many_tutorial_clients_at_once(self):
        server = Server("echo-server")
        try:
            results = {}

            def tutorial_client(i):  # echo-client.py, with a bigger message
                msg = (b"Hello, world %d " % i) * 2000
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    s.settimeout(10)
                    s.connect(("127.0.0.1", server.port))
                    s.sendall(msg)
                    s.shutdown(socket.SHUT_WR)
                    got = b""
                    while True:
                        data = s.recv(65536)
                        if not data:
                            break
                        got += data
                results[i] = got == msg

            threads = [threading.Thread(target=tutorial_client, args=(i,)) for i in range(20)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            self.assertEqual(len(results), 20)
            self.assertTrue(all(results.values()))
            lines = server.wait_for_lines(20)
            self.assertTrue(all(re.match(r"^Connected by 127\.0\.0\.1:\d+$", l) for l in lines), lines)
        finally:
            self.assertEqual(server.stop(), 0)

    def test_echo_client_against_the_tutorial_echo_server(self):
        lsock, port = listen_socket()

        def tutorial_echo_server():  # echo-server.py
            conn, addr = lsock.accept()
            with conn:
                while True:
                    data = conn.recv(1024)
                    if not data:
                        break
                    conn.sendall(data)

        t = threading.Thread(target=tutorial_echo_server)
        t.start()
        r = run_gale("echo-client", "--port", str(port))
        t.join(10)
        lsock.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "Received: Hello, world\n")

    def test_gale_client_and_server_together(self):
        server = Server("echo-server", "--quiet")
        try:
            r = run_gale("echo-client", "--port", str(server.port), "--message", "ünïcödé ok")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, "Received: ünïcödé ok\n")
        finally:
            self.assertEqual(server.stop(), 0)


class Bulk(unittest.TestCase):
    def test_sink_server_counts_the_tutorial_blocking_client(self):
        server = Server("sink-server")
        try:
            # blockclient.py: a blocking send of "Hello Python\n" * 10 * 1024 * 1024 (130 MiB);
            # a tenth of it here to keep the test short.
            data = b"Hello Python\n" * 1024 * 1024
            s = socket.socket()
            s.settimeout(30)
            s.connect(("127.0.0.1", server.port))
            s.setblocking(1)
            s.sendall(data)
            s.close()
            lines = server.wait_for_lines(1, timeout=30)
            self.assertEqual(len(lines), 1)
            self.assertRegex(lines[0], r"^All Data Received: %d bytes in [0-9.]+ s \([0-9.]+ MiB/s\)$" % len(data))
        finally:
            self.assertEqual(server.stop(), 0)

    def test_bulk_client_into_the_tutorial_blocking_server(self):
        lsock, port = listen_socket()
        received = {}

        def tutorial_block_server():  # blockserver.py, counting instead of printing
            conn, addr = lsock.accept()
            conn.settimeout(30)
            total, tail = 0, b""
            data = conn.recv(65536)
            while data:
                total += len(data)
                tail = (tail + data)[-26:]
                data = conn.recv(65536)
            received["bytes"], received["tail"] = total, tail
            conn.close()

        t = threading.Thread(target=tutorial_block_server)
        t.start()
        r = run_gale("bulk-client", "--port", str(port), "--bytes", "13MiB")
        t.join(30)
        lsock.close()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(received.get("bytes"), 13 * 1024 * 1024)
        self.assertEqual(received.get("tail"), b"Hello Python\nHello Python\n")
        self.assertRegex(r.stdout, r"^Sent 13631488 bytes in [0-9.]+ s \([0-9.]+ MiB/s\)\n$")

    def test_bulk_client_into_gale_sink_server(self):
        server = Server("sink-server")
        try:
            r = run_gale("bulk-client", "--port", str(server.port), "--bytes", "64MiB")
            self.assertEqual(r.returncode, 0, r.stderr)
            lines = server.wait_for_lines(1, timeout=30)
            self.assertRegex(lines[0], r"^All Data Received: 67108864 bytes")
        finally:
            self.assertEqual(server.stop(), 0)


class Usage(unittest.TestCase):
    def test_help_lists_every_program(self):
        r = run_gale("--help")
        self.assertEqual(r.returncode, 0)
        for cmd in ["tcp-server", "tcp-client", "echo-server", "echo-client", "sink-server", "bulk-client"]:
            self.assertIn(cmd, r.stdout)

    def test_bad_flags_print_usage_and_exit_2(self):
        for args in (["echo-server", "--bogus"], ["tcp-client", "--port", "70000"],
                     ["bulk-client", "--bytes", "lots"], ["no-such-command"], ["echo-client", "--port"]):
            r = run_gale(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn("Usage:", r.stderr + r.stdout, args)


if __name__ == "__main__":
    unittest.main()
