"""drctl against a real loopback cluster started by `drctl local up`.

Skipped when $DRCTL (default build/cluster/drctl) is not built. The steps
share one cluster and run in order (test_1_..., test_2_...).
"""

import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import drtest  # noqa: E402

sys.dont_write_bytecode = True  # keep the source tree clean
import drcluster  # noqa: E402
from drcluster import http_request, pid_alive, pid_cmdline, wait_until

STATUS_KEYS = {"node", "region", "role", "leader", "term", "commit_index",
               "applied_index", "primary_region", "epoch", "site_state",
               "members", "regions"}
RUN_TIMEOUT_S = 60  # bound of one drctl invocation (local up/down included)



@unittest.skipUnless(os.access(drcluster.DRCTL, os.X_OK),
                     "drctl not built at %s" % drcluster.DRCTL)
@unittest.skipUnless(os.access(drcluster.DRNODE, os.X_OK),
                     "drnode not built at %s" % drcluster.DRNODE)
class TestDrctl(unittest.TestCase):
    dir = None
    env = None
    pids = set()   # every drnode pid drctl started for us
    failed = False

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="drnode-it-drctl-")
        # The nodes run detached from us: no parent-death signal reaches
        # them, so also clean up at exit if the run is interrupted.
        cls.addClassCleanup(cls.cleanup)
        atexit.register(cls.cleanup)
        cls.env = dict(os.environ)
        cls.env["DRNODE"] = drcluster.DRNODE
        cls.env.pop("DRCTL_ENDPOINTS", None)
        cls.env.pop("DRCTL_TOKEN_FILE", None)
        # No PostgreSQL/Redis: these steps need only the nodes
        # (test_local_services.py covers the services).
        p = cls.drctl("local", "up", "--dir", cls.dir, "--no-services",
                      "--probe-interval-ms", "2000", env=cls.env)
        cls.record_pids()
        if p.returncode != 0:
            raise AssertionError("drctl local up: %r" % (p,))
        with open(os.path.join(cls.dir, "env")) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    k, v = line.split("=", 1)
                    cls.env[k] = v
        assert "DRCTL_ENDPOINTS" in cls.env and "DRCTL_TOKEN_FILE" in \
            cls.env, "incomplete %s/env" % cls.dir
        # local up may return once a leader exists; wait for bootstrap.
        wait_until(lambda: cls.status_json().get("initialized"),
                   drcluster.ELECTION_WAIT_S, interval=0.2,
                   what="the drctl cluster to be initialized")

    @classmethod
    def drctl(cls, *args, env=None):
        return subprocess.run([drcluster.DRCTL] + list(args),
                              env=env if env is not None else cls.env,
                              capture_output=True, text=True,
                              timeout=RUN_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)

    @classmethod
    def node_dirs(cls):
        return sorted(d for d in os.listdir(cls.dir)
                      if d.startswith("node") and
                      os.path.isdir(os.path.join(cls.dir, d)))

    @classmethod
    def node_pid(cls, node_dir):
        try:
            with open(os.path.join(cls.dir, node_dir, "drnode.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    @classmethod
    def record_pids(cls):
        for d in cls.node_dirs():
            pid = cls.node_pid(d)
            if pid:
                cls.pids.add(pid)

    @classmethod
    def status_json(cls):
        p = cls.drctl("--json", "status")
        if p.returncode != 0:
            raise AssertionError("drctl --json status: %r" % (p,))
        return json.loads(p.stdout)

    @classmethod
    def cleanup(cls):
        if cls.dir is None:
            return
        try:
            cls.drctl("local", "down", "--dir", cls.dir)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for pid in cls.pids:
            if pid_alive(pid) and cls.dir in pid_cmdline(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if cls.failed:
            for d in cls.node_dirs():
                try:
                    with open(os.path.join(cls.dir, d, "drnode.log"),
                              errors="replace") as f:
                        tail = "".join(f.readlines()[-40:])
                except OSError:
                    tail = "(no log)\n"
                print("==== %s log tail ====\n%s" % (d, tail))
        if not os.environ.get("DRCLUSTER_KEEP"):
            shutil.rmtree(cls.dir, ignore_errors=True)
        cls.dir = None

    def tearDown(self):
        result = getattr(getattr(self, "_outcome", None), "result", None)
        if result is not None and any(
                t is self for t, _ in list(result.errors) +
                list(result.failures)):
            type(self).failed = True

    def ok(self, *args):
        p = self.drctl(*args)
        self.assertEqual(p.returncode, 0, "drctl %s: %r" % (" ".join(args),
                                                           p))
        return p

    def leader_api(self):
        """The leader's API address, once one is known: a node resumed
        after a SIGSTOP longer than the election timeout may call an
        election (a new term) and the others then elect again."""
        last = {}

        def known():
            last["st"] = self.status_json()
            return last["st"]["leader"] is not None
        try:
            wait_until(known, 10, interval=0.1, what="a leader")
        except AssertionError:
            self.fail("no leader: %r" % (last.get("st"),))
        return last["st"]["leader"]["api"]

    def get_leader(self, path):
        r = http_request(self.leader_api(), "GET", path)
        self.assertEqual(r.status, 200, r)
        return r.json

    # Steps, in order.

    def test_0_probe_interval_reaches_the_configs(self):
        # drctl local up --probe-interval-ms: every node's [probes].
        nodes = sorted(d for d in os.listdir(self.dir) if d.startswith("node"))
        self.assertTrue(nodes)
        for d in nodes:
            with open(os.path.join(self.dir, d, "drnode.conf")) as f:
                self.assertIn("[probes]\ninterval_ms = 2000\n", f.read())

    def test_1_local_up_and_status(self):
        self.assertEqual(len(self.node_dirs()), 3, os.listdir(self.dir))
        for d in self.node_dirs():
            self.assertTrue(pid_alive(self.node_pid(d)), d)
        st = self.status_json()
        self.assertTrue(STATUS_KEYS <= set(st), sorted(st))
        self.assertTrue(st["initialized"])
        self.assertEqual(sorted(r["name"] for r in st["regions"]),
                         ["ap-south", "eu-west", "us-east"])
        self.assertEqual(len(st["members"]), 3)
        self.assertEqual(st["primary_region"], "eu-west")
        self.assertEqual(st["epoch"], 1)
        self.assertIsNotNone(st["leader"])
        # The same keys as the node's own /api/status.
        first = self.env["DRCTL_ENDPOINTS"].split(",")[0]
        direct = http_request(first.replace("http://", ""), "GET",
                              "/api/status").json
        self.assertEqual(set(direct), set(st))
        # The table form names the leader.
        p = self.ok("status")
        self.assertIn("leader", p.stdout)
        self.assertIn(st["leader"]["api"], p.stdout)

    def test_2_writes(self):
        p = self.ok("regions", "add", "sa-east", "--priority", "5",
                    "--dns-targets", "a.example,b.example",
                    "--object-store", "file:///srv/sa")
        self.assertIn("sa-east", p.stdout)
        r = http_request(self.leader_api(), "GET", "/api/regions/sa-east")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["priority"], 5)
        self.assertEqual(r.json["dns_targets"], ["a.example", "b.example"])
        self.assertEqual(r.json["object_store"], "file:///srv/sa")
        p = self.ok("--json", "regions", "list")
        names = [x["name"] for x in json.loads(p.stdout)["regions"]]
        self.assertIn("sa-east", names)

        self.ok("settings", "set", "queue_mode", "true")
        r = http_request(self.leader_api(), "GET",
                         "/api/settings/queue_mode")
        self.assertEqual(r.json["value"], True, r)
        p = self.ok("--json", "settings", "get", "queue_mode")
        self.assertEqual(json.loads(p.stdout)["value"], True)

        self.ok("site", "set-primary", "us-east")
        site = self.get_leader("/api/site")
        self.assertEqual(site["primary_region"], "us-east")
        self.assertEqual(site["epoch"], 2)

    def test_3_exit_codes(self):
        before = {p: self.get_leader(p) for p in ("/api/regions",
                                                  "/api/settings",
                                                  "/api/site")}
        usage = [
            ("bogus",),
            ("regions",),
            ("regions", "add"),
            ("regions", "add", "x", "--priority", "high"),
            ("regions", "add", "x", "--nope"),
            ("settings", "set", "queue_mode", "maybe"),
            ("site", "set-primary"),
            ("status", "--bogus"),
            ("local", "up"),
            ("failover",),
            ("failover", "--to"),
            ("failover", "--to", "us-east", "--nope"),
            ("failover", "frob"),
            ("failback", "extra"),
            ("replication", "frob"),
            ("backups", "verify", "x", "--region"),
        ]
        for args in usage:
            with self.subTest(args=args):
                p = self.drctl(*args)
                self.assertEqual(p.returncode, 2, p)
                self.assertTrue(p.stderr.startswith("drctl: "), p)
        env = dict(self.env)
        env.pop("DRCTL_ENDPOINTS")
        p = self.drctl("status", env=env)
        self.assertEqual(p.returncode, 2, p)
        self.assertIn("no endpoints", p.stderr)

        # Global options work after the command too, like etcdctl's.
        eps = self.env["DRCTL_ENDPOINTS"]
        for args in (("status", "--endpoints", eps, "--json"),
                     ("status", "--json", "--endpoints=" + eps,
                      "--timeout", "5"),
                     ("--json", "status", "--token-file",
                      self.env["DRCTL_TOKEN_FILE"], "--endpoints", eps)):
            with self.subTest(args=args):
                p = self.drctl(*args, env=env)
                self.assertEqual(p.returncode, 0, p)
                self.assertIn("commit_index", json.loads(p.stdout))
        for args, msg in ((("status", "--endpoints"),
                           "option --endpoints needs a value"),
                          (("status", "--timeout", "0", "--endpoints", eps),
                           "--timeout"),
                          (("status", "--endpoints="), "empty list")):
            with self.subTest(args=args):
                p = self.drctl(*args, env=env)
                self.assertEqual(p.returncode, 2, p)
                self.assertIn(msg, p.stderr)

        failures = [
            (("regions", "add", "sa-east"), "already exists"),
            (("regions", "add", "eu-west"), "already exists"),
            (("site", "set-primary", "us-east"), "already primary"),
            (("site", "set-primary", "nowhere"), "does not exist"),
            (("site", "set-primary", "ap-south", "--expected-epoch", "1"),
             "not the expected 1"),
            (("regions", "remove", "us-east"), "primary"),
            (("settings", "set", "no.such.key", "1"), "no.such.key"),
        ]
        for args, msg in failures:
            with self.subTest(args=args):
                p = self.drctl(*args)
                self.assertEqual(p.returncode, 1, p)
                self.assertIn(msg, p.stderr)
        after = {p: self.get_leader(p) for p in before}
        self.assertEqual(after, before)

    def test_3b_frozen_first_endpoint_is_passed_over(self):
        # The first endpoint is a follower that is frozen (SIGSTOP: it
        # accepts connections and never answers). Reads and writes move on
        # after --endpoint-timeout (2 s) instead of the 10 s --timeout, and
        # drctl says which endpoint it passed over.
        st = self.status_json()
        leader = st["leader"]["id"]
        follower = next(m for m in st["members"] if m["id"] != leader)
        others = [m["api_address"] for m in st["members"]
                  if m["id"] != follower["id"]]
        env = dict(self.env)
        env["DRCTL_ENDPOINTS"] = ",".join([follower["api_address"]] + others)
        pid = self.node_pid("node%d" % follower["id"])
        self.assertIsNotNone(pid)
        os.kill(pid, signal.SIGSTOP)
        try:
            for args in (("status",), ("regions", "add", "frozen-test")):
                with self.subTest(args=args):
                    t0 = time.monotonic()
                    p = self.drctl(*args, env=env)
                    took = time.monotonic() - t0
                    self.assertEqual(p.returncode, 0, p)
                    self.assertLess(took, 6.0, p)
                    self.assertIn("passed over %s (timed out"
                                  % follower["api_address"], p.stderr)
        finally:
            os.kill(pid, signal.SIGCONT)
        self.assertIn("frozen-test",
                      [r["name"] for r in self.get_leader("/api/regions")
                       ["regions"]])

    def test_4_kill_leader(self):
        self.leader_api()  # one is known (after 3b's frozen node)
        st = self.status_json()
        old = st["leader"]["id"]
        node_dir = "node%d" % old
        pid = self.node_pid(node_dir)
        self.assertTrue(pid and pid_alive(pid), node_dir)
        self.ok("local", "kill", "--dir", self.dir, str(old))
        wait_until(lambda: not pid_alive(pid), drcluster.EXIT_WAIT_S,
                   what="pid %d to die" % pid)

        def new_leader():
            s = self.status_json()
            lid = (s["leader"] or {}).get("id")
            return lid if lid not in (None, old) else None
        t0 = time.monotonic()
        lid = wait_until(new_leader, drcluster.ELECTION_WAIT_S,
                         interval=0.2, what="a new leader after the kill")
        self.assertLess(time.monotonic() - t0, drcluster.ELECTION_WAIT_S)
        self.assertNotEqual(lid, old)
        # Writes go through the new leader; the earlier ones are still
        # there.
        self.ok("regions", "add", "after-kill")
        names = [x["name"] for x in self.get_leader("/api/regions")["regions"]]
        self.assertIn("sa-east", names)
        self.assertIn("after-kill", names)
        p = self.ok("local", "status", "--dir", self.dir)
        self.assertIn("stopped", p.stdout)
        # drctl status shows the leader's view and, once the dead member has
        # been silent for over 2 s, names it.
        warn = re.compile(r"WARNING   member %d: leader last heard from it "
                          r"[0-9.]+ s ago" % old)

        def warned():
            p = self.ok("status")
            self.assertIn("members as seen by the leader", p.stdout)
            return warn.search(p.stdout)
        wait_until(warned, 10.0, interval=0.5,
                   what="drctl status to warn about member %d" % old)

    def test_5_local_down(self):
        self.record_pids()
        running = [pid for pid in self.pids if pid_alive(pid)]
        self.assertEqual(len(running), 2, self.pids)
        p = self.ok("local", "down", "--dir", self.dir)
        for pid in running:
            self.assertFalse(pid_alive(pid), "pid %d survived local down: %r"
                             % (pid, p))
        for d in self.node_dirs():
            pid = self.node_pid(d)
            self.assertTrue(pid is None or not pid_alive(pid), d)
        # Idempotent.
        self.ok("local", "down", "--dir", self.dir)


if __name__ == "__main__":
    drtest.main()
