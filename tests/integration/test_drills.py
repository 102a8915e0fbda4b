"""Restore drills end to end: eu-west (primary) backs up its PostgreSQL and
Redis; the leader schedules a drill in the DR region us-east, whose node
restores the backups into scratch databases of us-east's own servers,
checks them and drops them. A corrupt backup fails the drill, and the
failure shows in the history, the metrics and drctl."""

import json
import os
import re
import sys
import tempfile
import unittest

import drtest  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import drcluster  # noqa: E402
from drcluster import Cluster, wait_until  # noqa: E402
from svc_pg import PgServer  # noqa: E402
from svc_redis import RedisServer  # noqa: E402



class DrillsTest(drcluster.GuardedClassSetUp, unittest.TestCase):

    @classmethod
    def start_services(cls):
        cls.pg_eu = PgServer()
        cls.pg_eu.create_db("app")
        cls.pg_eu.psql("app", """
            CREATE TABLE agents (id serial PRIMARY KEY, name text NOT NULL);
            INSERT INTO agents (name)
              SELECT 'agent-' || g FROM generate_series(1, 3000) g;
        """)
        cls.redis_eu = RedisServer()
        cls.redis_eu.start()
        rc = cls.redis_eu.client()
        rc.pipeline([("SET", "session:%d" % i, "v%d" % i)
                     for i in range(300)])
        rc.close()
        # us-east's own servers: the drill's scratch space, and live data
        # that must stay untouched.
        cls.pg_us = PgServer()
        cls.pg_us.create_db("app")
        cls.pg_us.psql("app", "CREATE TABLE live (v int); "
                              "INSERT INTO live VALUES (42);")
        cls.redis_us = RedisServer()
        cls.redis_us.start()
        rc = cls.redis_us.client()
        rc.command("SET", "live-key", "keep")
        rc.close()
        cls.tmp = tempfile.mkdtemp(prefix="dr-drills-it-")
        drcluster.TEMP_DIRS.add(cls.tmp)
        cls.store_eu = os.path.join(cls.tmp, "store-eu")
        os.mkdir(cls.store_eu)
        cls.c = Cluster(
            regions=("eu-west", "us-east", "ap-south"),
            region_sections={
                "eu-west": {"object_store": "file://" + cls.store_eu,
                            "priority": 10},
                "us-east": {"priority": 5},
                "ap-south": {"priority": 1}},
            services={1: {"pg": cls.pg_eu.conninfo("app"),
                          "redis": cls.redis_eu.address},
                      2: {"pg": cls.pg_us.conninfo("app"),
                          "redis": cls.redis_us.address,
                          "drill_redis_db": 15}},
            name="drills")
        cls.c.start_all()
        cls.c.wait_for_leader()

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "c", None) is not None:
            cls.c.cleanup()
        for name in ("pg_eu", "pg_us", "redis_eu", "redis_us"):
            if getattr(cls, name, None) is not None:
                getattr(cls, name).stop()

    def drctl(self, *args):
        p = self.c.drctl(*args)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def drills(self):
        r = self.c.leader().get("/api/drills")
        self.assertEqual(r.status, 200, r)
        return r.json["drills"]

    def wait_drill(self, did, timeout=90):
        def done():
            d = self.c.leader().get("/api/drills/%d" % did).json
            return d if d["state"] != "running" else None
        return wait_until(done, timeout, interval=0.3,
                          what="drill %d to finish" % did)

    def us_state(self):
        dbs = self.pg_us.psql("postgres", "SELECT datname FROM pg_database "
                              "ORDER BY 1").split()
        live = self.pg_us.psql("app", "SELECT v FROM live").strip()
        rc = self.redis_us.client()
        try:
            rc.command("SELECT", "15")
            scratch = rc.command("DBSIZE")
            rc.command("SELECT", "0")
            keys = sorted(rc.all_keys())
        finally:
            rc.close()
        return dbs, live, scratch, keys

    def test_1_scheduled_drill_passes_and_leaves_nothing(self):
        before = self.us_state()
        # Backups arrive on their own schedule; the first drill follows.
        wait_until(lambda: len(self.drills()) >= 1, 90,
                   what="the scheduled drill")
        d = self.wait_drill(self.drills()[-1]["id"])
        self.assertEqual(d["state"], "passed", d)
        self.assertEqual(d["actor"], "scheduler")
        self.assertEqual(d["region"], "us-east")
        self.assertTrue(d["pg_backup"].startswith("pg-"), d)
        self.assertTrue(d["redis_backup"].startswith("redis-"), d)
        self.assertGreater(d["rto_ms"], 0)
        report = json.loads(d["detail"])
        self.assertTrue(report["ok"], report)
        self.assertEqual(report["pg"]["mode"], "restore")
        self.assertEqual(report["pg"]["rows"], 3000)
        self.assertTrue(report["pg"]["dropped"])
        self.assertEqual(report["redis"]["mode"], "restore")
        self.assertEqual(report["redis"]["keys"], 300)
        self.assertTrue(report["redis"]["flushed"])
        # The job ran on us-east's node, and us-east's live data is as it
        # was: no dr_drill_* database left, db 15 empty, db 0 untouched.
        jobs = self.c.leader().get("/api/jobs").json["jobs"]
        job = [j for j in jobs if j["id"] == d["job_id"]][0]
        self.assertEqual((job["kind"], job["region"], job["state"]),
                         ("drill", "us-east", "done"))
        self.assertEqual(self.us_state(), before)
        hist = self.c.leader().get("/api/history").json["history"]
        self.assertTrue(any(e["action"] == "drill-passed" for e in hist))
        m = self.c.node(3).get("/metrics").body.decode()
        self.assertIn('drnode_drill_last_ok{kind="restore"} 1', m)
        self.assertRegex(m, r'drnode_drill_rto_seconds\{kind="restore"\} '
                            r'[0-9.]+')
        # One drill at a time, and not again before the interval.
        self.assertEqual(len(self.drills()), 1)

    def test_2_drctl_drill(self):
        rc, out, err = self.drctl("drill", "restore", "--region", "us-east")
        self.assertEqual(rc, 0, err + out)
        self.assertRegex(out, r"state +passed")
        rc, out, err = self.drctl("drill", "list")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"restore +us-east +passed")
        rc, out, err = self.drctl("drill", "restore", "--region", "mars")
        self.assertEqual(rc, 1)
        self.assertIn('region "mars" does not exist', err)
        rc, out, err = self.drctl("drill", "restore", "--wait", "soon")
        self.assertEqual(rc, 2)
        rc, out, err = self.drctl("drill", "show", "999")
        self.assertEqual(rc, 1)
        self.assertIn("drill 999 does not exist", err)
        # ap-south's node has no services: the drill checks objects only.
        rc, out, err = self.drctl("drill", "restore", "--region", "ap-south",
                                  "--json")
        self.assertEqual(rc, 0, err)
        d = json.loads(out)
        report = json.loads(d["detail"])
        self.assertEqual(report["pg"]["mode"], "objects")
        self.assertEqual(report["redis"]["mode"], "objects")

    def test_3_corrupt_backup_fails_the_drill(self):
        leader = self.c.leader()
        pg = [b for b in leader.get("/api/backups").json["backups"]
              if b["kind"] == "pg_logical"][0]
        chunks = []
        for root, _, files in os.walk(os.path.join(self.store_eu,
                                                   pg["prefix"])):
            chunks += [os.path.join(root, f) for f in files
                       if "manifest" not in f]
        victim = sorted(chunks)[0]
        with open(victim, "r+b") as f:
            b = f.read(1)
            f.seek(0)
            f.write(bytes([b[0] ^ 0xff]))
        before = self.us_state()
        r = leader.write("POST", "/api/drills", {"kind": "restore"})
        self.assertEqual(r.status, 202, r)
        d = self.wait_drill(r.json["id"])
        self.assertEqual(d["state"], "failed", d)
        self.assertIn(os.path.basename(victim), d["error"])
        self.assertEqual(self.us_state(), before)
        hist = leader.get("/api/history").json["history"]
        self.assertEqual(hist[-1]["action"], "drill-failed")
        m = leader.get("/metrics").body.decode()
        self.assertIn('drnode_drill_last_ok{kind="restore"} 0', m)
        rc, out, err = self.drctl("drill", "list")
        self.assertRegex(out, r"failed")

    def test_4_bad_requests_change_nothing(self):
        leader = self.c.leader()
        n = len(self.drills())
        for body, status, msg in [
                ({"kind": "practice"}, 400, 'kind "practice" is not a drill'),
                ({"kind": "failover"}, 409,
                 "no region a failover could pick to drill"),
                ({}, 400, "kind"),
                ({"kind": "restore", "region": 7}, 400, "region"),
                ({"kind": "restore", "extra": True}, 400, "extra"),
                ({"kind": "restore", "region": "mars"}, 404,
                 'region "mars" does not exist'),
                ({"kind": "restore", "region": "eu-west"}, 409,
                 "drills never run in the primary region eu-west")]:
            with self.subTest(body=body):
                r = leader.write("POST", "/api/drills", body)
                self.assertEqual(r.status, status, r)
                self.assertIn(msg, r.error[1])
        r = leader.write("POST", "/api/drills", {"kind": "restore"},
                         token=None)
        self.assertEqual(r.status, 401)
        r = leader.get("/api/drills/abc")
        self.assertEqual(r.status, 400)
        self.assertEqual(len(self.drills()), n)
        self.assertTrue(re.match(r"^\d+$", str(n)))


if __name__ == "__main__":
    drtest.main()
