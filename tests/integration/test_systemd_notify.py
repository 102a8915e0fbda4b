"""drnode speaks systemd's notification protocol (packaging/drnode.service
is Type=notify with WatchdogSec): READY=1 once raft runs and the API
answers, WATCHDOG=1 from the event loop at half of WATCHDOG_USEC, none when
WATCHDOG_PID names another process, STOPPING=1 on SIGTERM. The test plays
systemd: it binds the datagram socket drnode is told about in
NOTIFY_SOCKET (a path, and the abstract namespace) and reads what arrives.
"""

import os
import signal
import shutil
import socket
import sys
import tempfile
import time
import unittest

import drtest  # noqa: E402

sys.dont_write_bytecode = True  # keep the source tree clean
import drcluster  # noqa: E402


class Listener:
    def __init__(self, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.dir = None
        if abstract:
            name = "drnode-test-%d-%s" % (os.getpid(), os.urandom(4).hex())
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.dir = tempfile.mkdtemp(prefix="drnode-notify-")
            self.address = os.path.join(self.dir, "notify")
            self.sock.bind(self.address)
        self.sock.settimeout(0.1)
        self.got = []  # (monotonic time, message)

    def read(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            self.got.append((time.monotonic(), msg))
        return self.got

    def wait_for(self, word, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.read(0.1)
            for t, m in self.got:
                if word in m.split("\n"):
                    return t
        raise AssertionError("no %s in %d s; got %r" % (word, seconds,
                                                        self.got))

    def close(self):
        self.sock.close()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)


class SystemdNotify(unittest.TestCase):
    def start_node(self, env):
        c = drcluster.Cluster(regions=("eu-west",), name="notify")
        self.addCleanup(c.cleanup)
        saved = {k: os.environ.get(k) for k in env}
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        try:
            c.start(1)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        return c, c.node(1)

    def check(self, abstract):
        ln = Listener(abstract)
        self.addCleanup(ln.close)
        c, n = self.start_node({"NOTIFY_SOCKET": ln.address,
                                "WATCHDOG_USEC": "400000"})
        t_ready = ln.wait_for("READY=1", 10)
        # The API answered before READY (Cluster.start waited for it), and
        # still does: readiness means it is listening.
        self.assertEqual(n.get("/api/status").status, 200)
        ln.read(1.2)
        pings = [t for t, m in ln.got if m == "WATCHDOG=1" and t > t_ready]
        self.assertGreaterEqual(len(pings), 4, ln.got)  # every 200 ms
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        self.assertLess(max(gaps), 0.6, gaps)
        os.kill(n.proc.pid, signal.SIGTERM)
        ln.wait_for("STOPPING=1", 10)
        self.assertEqual(n.proc.wait(timeout=30), 0)
        self.assertIn("systemd watchdog: a ping every 200 ms", n.log_tail(200))

    def test_path_socket(self):
        self.check(abstract=False)

    def test_abstract_socket(self):
        self.check(abstract=True)

    def test_watchdog_for_another_pid(self):
        ln = Listener()
        self.addCleanup(ln.close)
        self.start_node({"NOTIFY_SOCKET": ln.address,
                         "WATCHDOG_USEC": "400000", "WATCHDOG_PID": "1"})
        ln.wait_for("READY=1", 10)
        ln.read(1.0)
        self.assertNotIn("WATCHDOG=1", [m for _, m in ln.got])

    def test_outside_systemd_nothing_is_sent(self):
        """No NOTIFY_SOCKET: the node runs as before (a bad WATCHDOG_USEC
        alone changes nothing either)."""
        c, n = self.start_node({"NOTIFY_SOCKET": None,
                                "WATCHDOG_USEC": "garbage"})
        self.assertEqual(n.get("/api/status").status, 200)
        self.assertNotIn("watchdog", n.log_tail(200))


if __name__ == "__main__":
    drtest.main()
