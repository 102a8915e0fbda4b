"""End to end: scheduled and manual backups through the cluster (jobs,
leases, the catalog), drctl verify and restore against real PostgreSQL and
Redis, corruption refused, failures retried then failed with their reason,
and deletion of a backup's objects."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import drtest  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import drcluster  # noqa: E402
from drcluster import Cluster, wait_until  # noqa: E402
from svc_pg import PgServer  # noqa: E402
from svc_redis import RedisServer  # noqa: E402



class BackupsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.pg = PgServer()
        cls.pg.create_db("app")
        cls.pg.psql("app", """
            CREATE TABLE agents (id serial PRIMARY KEY, name text NOT NULL,
                                 config jsonb, created timestamptz);
            INSERT INTO agents (name, config, created)
              SELECT 'agent-' || g, jsonb_build_object('n', g),
                     '2026-01-01'::timestamptz + g * interval '1 min'
              FROM generate_series(1, 2000) g;
            CREATE TABLE runs (id bigint PRIMARY KEY,
                               agent int REFERENCES agents(id), out bytea);
            INSERT INTO runs SELECT g, 1 + g % 2000, sha256(g::text::bytea)
              FROM generate_series(1, 5000) g;
        """)
        cls.redis = RedisServer()
        cls.redis.start()
        rc = cls.redis.client()
        rc.pipeline([("SET", "session:%d" % i, "v%d" % i)
                     for i in range(500)] +
                    [("HSET", "memory:1", "k", "v"),
                     ("EXPIRE", "session:1", "3600")])
        rc.close()
        cls.tmp = tempfile.mkdtemp(prefix="dr-backups-it-")
        drcluster.TEMP_DIRS.add(cls.tmp)
        cls.store_eu = os.path.join(cls.tmp, "store-eu")
        os.mkdir(cls.store_eu)
        svc = {"pg": cls.pg.conninfo("app"), "redis": cls.redis.address}
        cls.c = Cluster(regions=("eu-west", "eu-west", "us-east"),
                        region_sections={
                            "eu-west": {"object_store":
                                        "file://" + cls.store_eu},
                            "us-east": {"object_store": "file://" +
                                        os.path.join(cls.tmp, "store-us")}},
                        services={1: svc, 2: svc}, name="backups")
        cls.c.start_all()
        cls.c.wait_for_leader()
        # Backups only: copies to us-east are test_replication's business
        # (and would race with the corruption test).
        r = cls.c.leader().write("PUT", "/api/settings/replication.targets",
                                 {"value": "none"})
        assert r.status == 200, r.body

    @classmethod
    def tearDownClass(cls):
        cls.c.cleanup()
        cls.pg.stop()
        cls.redis.stop()

    def drctl(self, *args, check=True):
        return self.c.drctl_checked(self, *args, check=check)

    def catalog(self):
        r = self.c.leader().get("/api/backups")
        self.assertEqual(r.status, 200)
        return r.json["backups"]

    def jobs(self):
        return self.c.leader().get("/api/jobs").json["jobs"]

    def set(self, key, value):
        r = self.c.leader().write("PUT", "/api/settings/" + key,
                                  {"value": value})
        self.assertEqual(r.status, 200, r.body)

    def test_0_cli_usage_errors_change_nothing(self):
        cases = [
            (("backups", "run"), b"--kind pg|redis|pg_base is required"),
            (("backups", "run", "--kind", "mysql"),
             b'--kind: "mysql" is not pg, redis or pg_base'),
            (("backups", "run", "--kind", "pg", "--wait", "soon"), b"--wait"),
            (("backups", "show"), b"ID"),
            (("backups", "frob"), b"frob"),
            (("restore", "--pg", "host=x"), b"--backup ID|latest is required"),
            (("restore", "--backup", "latest"),
             b"give a target: --pg CONNINFO and/or --redis HOST:PORT"),
            (("restore", "--backup", "latest", "--redis", "127.0.0.1:1",
              "--redis-rdb-file", "dump.rdb"),
             b"--redis and --redis-rdb-file: give one Redis target"),
        ]
        for args, msg in cases:
            with self.subTest(args=args):
                p = self.drctl(*args, check=False)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn(msg, p.stderr)
        # Only the scheduler has made jobs: nothing came from drctl.
        self.assertEqual([j for j in self.jobs()
                          if not j["actor"].startswith("scheduler")], [])

    def test_1_scheduled_backups_arrive(self):
        """The leader schedules both kinds at once; a node of the primary
        region runs them; they land in the catalog."""
        def both():
            kinds = {b["kind"] for b in self.catalog()}
            return {"pg_logical", "redis_snapshot"} <= kinds
        wait_until(both, 60, what="scheduled backups in the catalog")
        for b in self.catalog():
            self.assertEqual(b["origin_region"], "eu-west")
            self.assertEqual(b["state"], "complete")
            self.assertEqual(len(b["manifest_sha256"]), 64)
            self.assertTrue(b["prefix"].startswith("backups/" + b["id"]))
            # Every object under the prefix is on disk, manifest included.
            self.assertTrue(os.path.exists(os.path.join(
                self.store_eu, b["manifest_key"])), b)
        for j in self.jobs():
            if j["kind"] == "backup":
                self.assertIn(j["state"], ("done", "running", "pending"))
        # Nothing scheduled on top of a pending one; turn the schedule off
        # for the rest of the tests.
        self.set("backup.pg_interval_s", 0)
        self.set("backup.redis_interval_s", 0)

    def test_2_manual_backup_verify_restore(self):
        p = self.drctl("--json", "backups", "run", "--kind", "pg")
        b = json.loads(p.stdout)
        self.assertEqual(b["kind"], "pg_logical")
        self.assertGreater(b["raw_bytes"], 0)
        p = self.drctl("backups", "verify", b["id"])
        self.assertIn(b"verified", p.stdout)
        shown = self.c.leader().get("/api/backups/" + b["id"]).json
        self.assertTrue(shown["verify_ok"])
        self.assertGreater(shown["verified_ms"], 0)
        # Restore into a new database; contents equal.
        self.pg.create_db("restored")
        p = self.drctl("--json", "restore", "--backup", b["id"], "--pg",
                       self.pg.conninfo("restored"))
        self.assertTrue(json.loads(p.stdout)["ok"])
        q = "SELECT count(*), sum(length(config::text)) FROM agents;" \
            "SELECT count(*), md5(string_agg(out::text, ',' ORDER BY id))" \
            " FROM runs;"
        self.assertEqual(self.pg.psql("app", q), self.pg.psql("restored", q))
        # A second restore into the now non-empty target is refused.
        p = self.drctl("restore", "--backup", b["id"], "--pg",
                       self.pg.conninfo("restored"), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"not empty", p.stderr.lower())
        # Redis: take one, restore "latest" into a fresh server.
        p = self.drctl("--json", "backups", "run", "--kind", "redis")
        rb = json.loads(p.stdout)
        self.assertEqual(rb["kind"], "redis_snapshot")
        # auto: through SYNC, one point in time (the snapshot is when the
        # server forked, before the backup was finished).
        detail = json.loads(rb["detail"])
        self.assertEqual(detail["method"], "rdb")
        self.assertNotIn("fallback", detail)
        self.assertEqual(rb["snapshot_ms"], detail["snapshot_time_ms"])
        # The cluster setting reaches the worker.
        self.drctl("settings", "set", "redis.method", "scan")
        try:
            p = self.drctl("--json", "backups", "run", "--kind", "redis")
            rb = json.loads(p.stdout)  # "latest" from now on
            self.assertEqual(json.loads(rb["detail"])["method"], "scan")
        finally:
            self.drctl("settings", "set", "redis.method", "auto")
        p = self.drctl("settings", "set", "redis.method", "fork", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"auto", p.stderr)
        target = RedisServer()
        target.start()
        try:
            p = self.drctl("--json", "restore", "--backup", "latest",
                           "--redis", target.address)
            self.assertEqual(json.loads(p.stdout)["redis"]["id"], rb["id"])
            tc = target.client()
            self.assertEqual(tc.command("GET", "session:42"), b"v42")
            self.assertEqual(tc.command("DBSIZE"), 501)
            self.assertGreater(tc.command("TTL", "session:1"), 3000)
            tc.close()
        finally:
            target.stop()
        # The same as an RDB file a server then starts on.
        d = tempfile.mkdtemp(prefix="dr-rdbfile-")
        try:
            p = self.drctl("--json", "restore", "--backup", rb["id"],
                           "--redis-rdb-file", os.path.join(d, "dump.rdb"))
            self.assertEqual(json.loads(p.stdout)["redis"]["result"]["keys"],
                             501)
            target = RedisServer(extra_args=["--dir", d])
            target.start()
            tc = target.client()
            self.assertEqual(tc.command("GET", "session:42"), b"v42")
            self.assertEqual(tc.command("DBSIZE"), 501)
            tc.close()
            target.stop()
        finally:
            shutil.rmtree(d, ignore_errors=True)

    @staticmethod
    def run_in_pty(args, env):
        return drcluster.drctl_in_pty(args, env)

    def test_2b_progress_on_a_terminal_only(self):
        # drctl backups verify draws a progress line on stderr when its
        # output is a terminal (here a pty), backups run a status line
        # while it waits, and neither when the output is piped.
        p = self.drctl("--json", "backups", "list")
        b = json.loads(p.stdout)["backups"][0]
        env = dict(os.environ, DRCTL_PROGRESS_MS="1",
                   DRCTL_ENDPOINTS=",".join(n.api_address
                                            for n in self.c.nodes.values()),
                   DRCTL_TOKEN_FILE=self.c.token_file)
        rc, out = self.run_in_pty(["backups", "verify", b["id"]], env)
        self.assertEqual(rc, 0, out)
        self.assertIn("verify %s: " % b["id"], out)
        self.assertRegex(out, r"MiB/s")
        self.assertIn("\r\x1b[K", out)  # erased at the end
        rc, out = self.run_in_pty(["backups", "run", "--kind", "redis"], env)
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"job \d+: (pending|running)")
        for args in (["backups", "verify", b["id"]],
                     ["backups", "run", "--kind", "redis"]):
            q = subprocess.run([drcluster.DRCTL] + args, capture_output=True,
                               stdin=subprocess.DEVNULL, env=env, timeout=120)
            self.assertEqual(q.returncode, 0, q)
            self.assertNotIn(b"\x1b[K", q.stderr)
            self.assertNotIn(b"MiB/s", q.stderr)

    def test_3_corruption_is_found_and_refused(self):
        p = self.drctl("--json", "backups", "run", "--kind", "pg")
        b = json.loads(p.stdout)
        prefix = os.path.join(self.store_eu, b["prefix"])
        victim = None
        for root, _, files in os.walk(prefix):
            for f in sorted(files):
                if f != "manifest.pb" and victim is None:
                    victim = os.path.join(root, f)
        self.assertIsNotNone(victim)
        with open(victim, "r+b") as f:
            data = bytearray(f.read())
            data[len(data) // 2] ^= 0x40
            f.seek(0)
            f.write(data)
        rel = os.path.relpath(victim, self.store_eu)
        # The restore checks every object before it writes anything.
        self.pg.create_db("never")
        p = self.drctl("restore", "--backup", b["id"], "--pg",
                       self.pg.conninfo("never"), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(os.path.basename(rel).encode(), p.stderr)
        self.assertEqual(self.pg.psql(
            "never", "SELECT count(*) FROM pg_tables WHERE schemaname = "
            "'public'").strip(), "0")
        p = self.drctl("backups", "verify", b["id"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(os.path.basename(rel).encode(), p.stdout + p.stderr)
        shown = self.c.leader().get("/api/backups/" + b["id"]).json
        self.assertFalse(shown["verify_ok"])
        self.assertIn("SHA-256", shown["verify_error"])
        self.assertEqual(shown["copies"][0]["state"], "failed")
        # A copy that failed its check is never restored again.
        p = self.drctl("restore", "--backup", b["id"], "--pg",
                       self.pg.conninfo("never"), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"has no verified copy to restore", p.stderr)

    def test_4_failures_retry_then_fail_with_reason(self):
        self.set("jobs.max_attempts", 2)
        port = drcluster.free_ports(1)[0]
        # The job runs on whichever eu-west node claims it: point both at a
        # Redis that is not there.
        for nid in (1, 2):
            self.c.services[nid] = {"pg": self.pg.conninfo("app"),
                                    "redis": "127.0.0.1:%d" % port}
            self.c.write_config(self.c.nodes[nid])
            self.c.stop(nid)
            self.c.start(nid)
        self.c.wait_for_leader()
        t0 = time.time()
        p = self.drctl("backups", "run", "--kind", "redis", "--wait", "60",
                       check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn(b"failed after 2 attempts", p.stderr)
        self.assertIn(b"127.0.0.1:%d" % port, p.stderr)
        self.assertLess(time.time() - t0, 50)
        failed = [j for j in self.jobs() if j["state"] == "failed"
                  and j["kind"] == "backup"]
        self.assertEqual(len(failed), 1)
        # Each failed attempt's objects got a cleanup job.
        cleanups = [j for j in self.jobs() if j["kind"] == "cleanup"
                    and j["backup_id"] == failed[0]["backup_id"]]
        self.assertEqual(len(cleanups), 2)
        self.assertFalse(any(b["id"] == failed[0]["backup_id"]
                             for b in self.catalog()))

    def test_5_delete_removes_objects_then_entry(self):
        b = self.catalog()[-1]
        objdir = os.path.join(self.store_eu, b["prefix"])
        self.assertTrue(os.path.isdir(objdir))
        self.drctl("backups", "delete", b["id"])
        wait_until(lambda: all(x["id"] != b["id"] for x in self.catalog()),
                   30, what="backup %s gone from the catalog" % b["id"])
        left = [f for _, _, fs in os.walk(objdir) for f in fs]
        self.assertEqual(left, [])
        p = self.drctl("backups", "show", b["id"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"does not exist", p.stderr)


class BackupRunJoinsTest(drcluster.ClusterTestCase):
    """POST /api/backups while a job of that kind is pending joins it: no
    node here can run a backup (no [services]), so the job stays pending."""

    def test_second_request_joins_the_pending_job(self):
        store = tempfile.mkdtemp(prefix="drnode-it-join-store-")
        self.addCleanup(shutil.rmtree, store, True)
        c = self.new_cluster(
            regions=("eu-west",),
            region_sections={"eu-west": {"object_store": "file://" + store}})
        c.start_all()
        leader = c.wait_for_leader()
        r1 = leader.write("POST", "/api/backups", {"kind": "redis"})
        self.assertEqual(r1.status, 202, r1)
        r2 = leader.write("POST", "/api/backups", {"kind": "redis"})
        self.assertEqual(r2.status, 202, r2)
        self.assertEqual(r2.json["job"]["id"], r1.json["job"]["id"])
        self.assertEqual(r2.json["job"]["state"], "pending")
        # The scheduler may queue its own first PostgreSQL backup meanwhile:
        # only the Redis jobs count here.
        jobs = [j for j in leader.get("/api/jobs").json["jobs"]
                if j["kind"] == "backup"
                and j["backup_kind"] == "redis_snapshot"]
        self.assertEqual(len(jobs), 1, jobs)
        # drctl says the same and does not wait with --no-wait.
        p = c.drctl("backups", "run", "--kind", "redis", "--no-wait",
                    "--json", nodes=[leader])
        self.assertEqual(p.returncode, 0, p)
        self.assertEqual(json.loads(p.stdout)["job"]["id"],
                         r1.json["job"]["id"])


if __name__ == "__main__":
    drtest.main()
