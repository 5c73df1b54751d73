"""End-to-end checks of `gale`'s UDP, name-resolution and blocking-socket programs against
peers written like the tutorials' Python programs, and of `gale resolve` against Python's own
socket.getaddrinfo on the same inputs. Loopback only, ephemeral ports, every wait bounded.

    GALE_BIN=.build/debug/gale python3 -m unittest discover -s Tests/cli -v
"""
import json
import pprint
import re
import signal
import socket
import threading
import time
import unittest

from test_gale_tcp import Server, run_gale


def udp_socket(family=socket.AF_INET, host="127.0.0.1"):
    """The tutorials' socket.socket(AF_INET, SOCK_DGRAM), bound to an ephemeral port."""
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.settimeout(20)
    return s


class UDPServer(unittest.TestCase):
    def check_server_prints_each_datagram(self, host, family, shown):
        server = Server("udp-server", "--host", host)
        try:
            # The tutorial's udpclient.py, three times from three sockets.
            senders = []
            for msg in (b"Welcome to JavaTpoint", b"second", "ünïcödé".encode()):
                s = socket.socket(family, socket.SOCK_DGRAM)
                s.sendto(msg, (host, server.port))
                senders.append(s)
            lines = server.wait_for_lines(3)
            ports = [s.getsockname()[1] for s in senders]
            self.assertEqual(lines, [
                "Received Messages: Welcome to JavaTpoint from %s:%d" % (shown, ports[0]),
                "Received Messages: second from %s:%d" % (shown, ports[1]),
                "Received Messages: ünïcödé from %s:%d" % (shown, ports[2]),
            ])
            for s in senders:
                s.close()
        finally:
            self.assertEqual(server.stop(), 0)

    def test_udp_server_prints_the_tutorial_clients_datagrams(self):
        self.check_server_prints_each_datagram("127.0.0.1", socket.AF_INET, "127.0.0.1")

    def test_udp_server_over_ipv6(self):
        self.check_server_prints_each_datagram("::1", socket.AF_INET6, "[::1]")

    def test_udp_server_stops_cleanly_on_sigterm(self):
        server = Server("udp-server")
        self.assertEqual(server.stop(signal.SIGTERM), 0)


class UDPClient(unittest.TestCase):
    def check_client_sends_to_the_tutorial_server(self, host, family, *extra):
        srv = udp_socket(family, host)  # the tutorial's udp server.py
        port = srv.getsockname()[1]
        r = run_gale("udp-client", "--host", host, "--port", str(port), *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "UDP target IP: %s\nUDP target Port: %d\n" % (host, port))
        data, addr = srv.recvfrom(1024)
        srv.close()
        return data, addr

    def test_udp_client_sends_the_tutorial_message(self):
        data, addr = self.check_client_sends_to_the_tutorial_server("127.0.0.1", socket.AF_INET)
        self.assertEqual(data, b"Welcome to JavaTpoint")
        self.assertEqual(addr[0], "127.0.0.1")

    def test_udp_client_over_ipv6_with_a_message(self):
        data, _ = self.check_client_sends_to_the_tutorial_server("::1", socket.AF_INET6, "--message", "over v6")
        self.assertEqual(data, b"over v6")

    def test_udp_client_resolves_a_host_name(self):
        srv = udp_socket()
        port = srv.getsockname()[1]
        r = run_gale("udp-client", "--host", "localhost", "--port", str(port), "--message", "by name")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(srv.recvfrom(1024)[0], b"by name")
        srv.close()

    def test_gale_client_and_server_together(self):
        server = Server("udp-server")
        try:
            r = run_gale("udp-client", "--port", str(server.port), "--message", "gale to gale")
            self.assertEqual(r.returncode, 0, r.stderr)
            lines = server.wait_for_lines(1)
            self.assertRegex(lines[0], r"^Received Messages: gale to gale from 127\.0\.0\.1:\d+$")
        finally:
            self.assertEqual(server.stop(), 0)


def python_getaddrinfo(host, service):
    return [(int(f), int(t), p, c, a) for f, t, p, c, a in socket.getaddrinfo(host, service)]


def hosts_file_names():
    names = []
    with open("/etc/hosts") as f:
        for line in f:
            fields = line.split("#", 1)[0].split()
            names += [n for n in fields[1:] if n not in names]
    return names


class Resolve(unittest.TestCase):
    def inputs(self):
        cases = [("localhost", "www"), ("localhost", "http"), ("localhost", None), ("127.0.0.1", "53"),
                 ("127.0.0.1", "domain"), ("::1", "http"), ("::1", "8080"), (socket.gethostname(), None)]
        cases += [(name, "80") for name in hosts_file_names()[:4]]
        return cases

    def test_output_matches_pythons_pprint_of_getaddrinfo(self):
        for host, service in self.inputs():
            with self.subTest(host=host, service=service):
                args = [host] + ([service] if service else [])
                r = run_gale("resolve", *args)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout, pprint.pformat(python_getaddrinfo(host, service)) + "\n")

    def test_json_matches_pythons_getaddrinfo(self):
        for host, service in self.inputs():
            with self.subTest(host=host, service=service):
                args = [host] + ([service] if service else []) + ["--json"]
                r = run_gale("resolve", *args)
                self.assertEqual(r.returncode, 0, r.stderr)
                got = json.loads(r.stdout)
                expected = socket.getaddrinfo(host, service)
                self.assertEqual(len(got), len(expected))
                for g, (family, kind, proto, canon, sockaddr) in zip(got, expected):
                    self.assertEqual((g["family"], g["family_name"]), (int(family), family.name))
                    self.assertEqual((g["type"], g["type_name"]), (int(kind), kind.name))
                    self.assertEqual(g["proto"], proto)
                    self.assertEqual(g["canonname"], canon)
                    self.assertEqual((g["address"], g["port"]), sockaddr[:2])
                    if family == socket.AF_INET6:
                        self.assertEqual((g["flowinfo"], g["scope_id"]), sockaddr[2:])

    def test_an_unknown_name_fails_with_the_resolvers_message(self):
        host = "no-such-host.invalid"
        with self.assertRaises(socket.gaierror) as ctx:
            socket.getaddrinfo(host, "www")
        r = run_gale("resolve", host, "www")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertIn(ctx.exception.strerror, r.stderr)
        self.assertIn(host, r.stderr)

    def test_an_unknown_service_fails_too(self):
        with self.assertRaises(socket.gaierror) as ctx:
            socket.getaddrinfo("localhost", "no-such-service")
        r = run_gale("resolve", "localhost", "no-such-service")
        self.assertEqual(r.returncode, 1)
        self.assertIn(ctx.exception.strerror, r.stderr)

    def test_hostname_is_pythons_gethostname(self):
        r = run_gale("hostname")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, socket.gethostname() + "\n")


def slow_block_server(received, delay=0.002):
    """The tutorial's blockserver.py, counting instead of printing, and reading slowly."""
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(5)
    lsock.settimeout(20)

    def serve():
        conn, addr = lsock.accept()
        conn.settimeout(30)
        total = 0
        data = conn.recv(65536)
        while data:
            total += len(data)
            time.sleep(delay)
            data = conn.recv(65536)
        received["bytes"] = total
        conn.close()
        lsock.close()

    t = threading.Thread(target=serve)
    t.start()
    return t, lsock.getsockname()[1]


class BlockingDemo(unittest.TestCase):
    def test_blocking_send_waits_for_the_slow_tutorial_server(self):
        received = {}
        t, port = slow_block_server(received)
        r = run_gale("blocking-demo", "--port", str(port), "--bytes", "8MiB")
        t.join(30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(received.get("bytes"), 8 * 1024 * 1024)
        lines = r.stdout.splitlines()
        self.assertRegex(lines[0], r"^connected to 127\.0\.0\.1:%d; sending 8388608 bytes with a blocking socket$" % port)
        self.assertRegex(lines[1], r"^send\(\) returned 8388608 after [0-9.]+ s: a blocking send waits")
        self.assertEqual(len(lines), 2)

    def test_non_blocking_send_returns_a_partial_count_then_would_block(self):
        received = {}
        t, port = slow_block_server(received, delay=0.01)
        r = run_gale("blocking-demo", "--nonblocking", "--port", str(port), "--bytes", "64MiB")
        t.join(30)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertIn("with a non-blocking socket", lines[0])
        first = int(re.match(r"^send\(\) returned (\d+) after [0-9.]+ s: a partial count", lines[1]).group(1))
        self.assertGreater(first, 0)
        self.assertLess(first, 64 * 1024 * 1024)
        self.assertRegex(lines[2], r"^send\(\) again: \d+ more partial sends? \(\d+ bytes\), then it would block: .*\(BlockingIOError\)$")
        sent = int(re.match(r"^sent (\d+) of 67108864 bytes; closing without the rest", lines[3]).group(1))
        self.assertLess(sent, 64 * 1024 * 1024)
        self.assertEqual(received.get("bytes"), sent)  # the server got exactly what send() reported

    def test_demo_with_its_own_slow_server(self):
        for args in ([], ["--nonblocking"]):
            r = run_gale("blocking-demo", "--bytes", "4MiB", *args)
            self.assertEqual(r.returncode, 0, r.stderr)
            lines = r.stdout.splitlines()
            sent = 4 * 1024 * 1024 if not args else int(re.match(r"^sent (\d+) of", lines[-2]).group(1))
            self.assertEqual(lines[-1], "the server read %d bytes" % sent)


class Usage(unittest.TestCase):
    def test_help_lists_the_new_programs(self):
        r = run_gale("--help")
        self.assertEqual(r.returncode, 0)
        for cmd in ["udp-server", "udp-client", "resolve", "hostname", "blocking-demo"]:
            self.assertIn(cmd, r.stdout)

    def test_bad_flags_print_usage_and_exit_2(self):
        for args in (["udp-server", "--port", "70000"], ["udp-client", "--port", "0"], ["udp-client", "--bogus"],
                     ["resolve"], ["resolve", "a", "b", "c"], ["hostname", "extra"],
                     ["blocking-demo", "--bytes", "lots"], ["blocking-demo", "--port", "0"]):
            r = run_gale(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn("Usage:", r.stderr + r.stdout, args)


if __name__ == "__main__":
    unittest.main()
