"""The API port against slow, idle, greedy and oversized clients: a request
must arrive whole within [api] request_timeout_ms (slow loris), an idle
keep-alive connection closes after it, at most [api] max_connections are
open (the next one is closed at once and counted), oversized or too many
headers get 400, and the node serves normally through all of it."""

import re
import socket
import sys
import time
import unittest

import drtest  # noqa: E402

sys.dont_write_bytecode = True  # keep the source tree clean
import drcluster  # noqa: E402

MAX_CONNS = 16
TIMEOUT_MS = 1000


class ApiLimits(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = drcluster.Cluster(
            regions=("eu-west",), name="limits",
            api={"max_connections": MAX_CONNS,
                 "request_timeout_ms": TIMEOUT_MS})
        cls.c.start_all()
        cls.c.wait_for_leader()
        cls.n = cls.c.node(1)
        host, port = cls.n.api_address.rsplit(":", 1)
        cls.addr = (host, int(port))

    @classmethod
    def tearDownClass(cls):
        cls.c.cleanup()

    def connect(self):
        s = socket.create_connection(self.addr, timeout=10)
        self.addCleanup(s.close)
        return s

    def closed_after(self, s, limit):
        """Seconds until the server closed s (reading nothing more)."""
        t0 = time.monotonic()
        s.settimeout(limit)
        while True:
            d = s.recv(65536)
            if not d:
                return time.monotonic() - t0

    def status(self):
        return self.n.get("/api/status").status

    def test_slow_loris_is_cut(self):
        s = self.connect()
        s.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        took = self.closed_after(s, 10)
        self.assertGreater(took, TIMEOUT_MS / 1000 * 0.5)
        self.assertLess(took, TIMEOUT_MS / 1000 * 4)
        self.assertEqual(self.status(), 200)

    def test_idle_keep_alive_closes(self):
        s = self.connect()
        s.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(10)
        first = s.recv(65536)
        self.assertTrue(first.startswith(b"HTTP/1.1 200"), first[:80])
        self.assertLess(self.closed_after(s, 10), TIMEOUT_MS / 1000 * 4)

    def test_connection_cap(self):
        # Four more than the cap at once. The node's own keep-alive
        # connections to its API (reports, job calls) may hold a slot or
        # two meanwhile, so at least one of ours must be closed at once:
        # well before the idle timeout, so it was refused, not timed out.
        held = [self.connect() for _ in range(MAX_CONNS + 4)]
        t0 = time.monotonic()
        refused = 0
        for s in held:
            s.settimeout(max(0.01, TIMEOUT_MS / 1000 / 2 -
                             (time.monotonic() - t0)))
            try:
                if s.recv(65536) == b"":
                    refused += 1
            except socket.timeout:
                pass
        self.assertLess(time.monotonic() - t0, TIMEOUT_MS / 1000 * 0.9)
        self.assertGreaterEqual(refused, 1, "none of %d closed at once" %
                                len(held))
        self.assertLessEqual(refused, 4 + 3)
        # The held ones time out like any idle client; once they are
        # closed on our side too (the server may linger for that), room
        # again.
        for s in held:
            s.settimeout(10)
            while s.recv(65536):
                pass
            s.close()
        self.assertEqual(self.status(), 200)
        body = self.n.get("/metrics").body.decode()
        refused = int(re.search(
            r"^drnode_http_connections_refused_total (\d+)$", body,
            re.M).group(1))
        self.assertGreaterEqual(refused, 1)
        self.assertRegex(body, r"(?m)^drnode_http_connections \d+$")

    def test_oversized_headers(self):
        for head in (b"X-Big: " + b"a" * 1000000 + b"\r\n",
                     b"".join(b"X-%d: a\r\n" % i for i in range(200))):
            s = self.connect()
            s.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\n" + head +
                      b"\r\n")
            s.settimeout(10)
            try:
                got = s.recv(200)
            except ConnectionResetError:
                got = b""
            self.assertTrue(got == b"" or got.startswith(b"HTTP/1.1 400"),
                            got[:80])
        # 50 ordinary headers are fine.
        s = self.connect()
        s.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\n" +
                  b"".join(b"X-%d: a\r\n" % i for i in range(50)) + b"\r\n")
        s.settimeout(10)
        self.assertTrue(s.recv(200).startswith(b"HTTP/1.1 200"))


if __name__ == "__main__":
    drtest.main()
