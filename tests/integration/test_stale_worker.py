"""The stale worker, end to end: the node running a backup is paused
(SIGSTOP) while it holds attempt 1; its lease runs out, the leader expires
it and the other node of the region claims attempt 2. When the paused node
resumes, it stops its own attempt, and anything it could still send for
attempt 1 (renew, finish with a result or with an error) is refused with
"lease lost" and changes nothing; the backup in the catalog is attempt 2's
and verifies.

The source Redis is paused too while the attempts are in flight, so
neither attempt can finish before the test has arranged the race."""

import json
import os
import shutil
import signal
import sys
import tempfile
import time
import unittest

import drtest  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import drcluster  # noqa: E402
from drcluster import Cluster, wait_until  # noqa: E402
from svc_redis import RedisServer  # noqa: E402

REGION = "eu-west"


class StaleWorkerTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.redis = RedisServer()
        cls.redis.start()
        rc = cls.redis.client()
        rc.pipeline([("SET", "session:%d" % i, "v%d" % i)
                     for i in range(300)])
        rc.close()
        cls.tmp = tempfile.mkdtemp(prefix="dr-stale-worker-it-")
        drcluster.TEMP_DIRS.add(cls.tmp)
        svc = {"redis": cls.redis.address}
        cls.c = Cluster(regions=(REGION, REGION, "us-east"),
                        region_sections={
                            REGION: {"object_store": "file://" +
                                     os.path.join(cls.tmp, "store-eu")},
                            "us-east": {"object_store": "file://" +
                                        os.path.join(cls.tmp, "store-us")}},
                        services={1: svc, 2: svc}, name="stale")
        os.mkdir(os.path.join(cls.tmp, "store-eu"))
        os.mkdir(os.path.join(cls.tmp, "store-us"))
        cls.c.start_all()
        cls.c.wait_for_leader()
        for key, value in (("replication.targets", "none"),
                           ("rpo.redis_s", 0), ("rpo.pg_s", 0),
                           ("jobs.lease_ms", 3000),
                           ("jobs.max_attempts", 5)):
            r = cls.c.leader().write("PUT", "/api/settings/" + key,
                                     {"value": value})
            assert r.status == 200, r.body

    @classmethod
    def tearDownClass(cls):
        for pid in (cls.redis.pid,) + tuple(
                n.pid for n in cls.c.nodes.values() if n.running()):
            try:
                os.kill(pid, signal.SIGCONT)
            except (ProcessLookupError, TypeError):
                pass
        cls.c.cleanup()
        cls.redis.stop()

    def leader(self, ids):
        return self.c.wait_for_leader(ids=ids)

    def job(self, leader, jid):
        r = leader.get("/api/jobs/%d" % jid)
        self.assertEqual(r.status, 200, r)
        return r.json

    def idle(self, leader):
        """No job runs, and no Redis backup waits to (a start-up pg backup
        may wait forever: no node here has PostgreSQL)."""
        return not any(
            j["state"] == "running" or
            (j["state"] == "pending" and j.get("backup_kind") ==
             "redis_snapshot")
            for j in leader.get("/api/jobs").json["jobs"])

    def test_paused_worker_loses_its_attempt(self):
        leader = self.c.leader()
        # Start-up backups (scheduled before rpo.* went to 0) finish first.
        wait_until(lambda: self.idle(leader), 60, what="start-up jobs to finish")
        os.kill(self.redis.pid, signal.SIGSTOP)
        self.addCleanup(os.kill, self.redis.pid, signal.SIGCONT)
        r = leader.write("POST", "/api/backups", {"kind": "redis"})
        self.assertEqual(r.status, 202, r)
        jid = r.json["job"]["id"]
        wait_until(lambda: self.job(leader, jid)["state"] == "running", 30, what="a node to claim the job")
        first = self.job(leader, jid)
        self.assertEqual(first["attempt"], 1)
        stale = first["owner"]
        self.assertIn(stale, (1, 2))
        other = 3 - stale
        stale_pid = self.c.nodes[stale].pid
        os.kill(stale_pid, signal.SIGSTOP)
        try:
            # If the paused node was the leader, the other two elect one.
            leader = self.leader([other, 3])

            def reclaimed():
                j = self.job(leader, jid)
                return j["attempt"] == 2 and j["state"] == "running"
            wait_until(reclaimed, 60, what="attempt 2 to be claimed")
            second = self.job(leader, jid)
            self.assertEqual(second["owner"], other)
            self.assertTrue(second["prefix"].endswith("/2"), second)
            self.assertIn("lease expired: node %d stopped renewing attempt 1"
                          % stale, [
                              e["detail"] for e in
                              leader.get("/api/history").json["history"]
                              if e["action"] == "job-attempt-failed"][-1])
        finally:
            os.kill(stale_pid, signal.SIGCONT)

        # The resumed node gives its attempt up by itself.
        wait_until(lambda: "lease ran out without a renewal" in
                   self.c.nodes[stale].log_tail(200), 30, what="the resumed worker to stop attempt 1")
        leader = self.leader([1, 2, 3])
        before = (self.job(leader, jid), leader.get("/api/backups").json)

        # Whatever it could still send for attempt 1 is refused.
        fake = {"manifest_key": first["prefix"] + "/manifest.pb",
                "manifest_sha256": "ab" * 32, "stored_bytes": 1}
        for path, body in (
                ("renew", {"node": stale, "attempt": 1, "lease_ms": 3000}),
                ("finish", {"node": stale, "attempt": 1, "ok": True,
                            "backup": fake}),
                ("finish", {"node": stale, "attempt": 1, "ok": False,
                            "error": "interrupted"})):
            r = leader.write("POST", "/api/jobs/%d/%s" % (jid, path), body)
            self.assertError(r, 409, "conflict",
                             "job %d: lease lost (attempt 2 is held by "
                             "node %d)" % (jid, other))
        self.assertEqual((self.job(leader, jid),
                          leader.get("/api/backups").json), before)

        # Attempt 2 completes once its source answers again.
        os.kill(self.redis.pid, signal.SIGCONT)
        wait_until(lambda: self.job(leader, jid)["state"] == "done", 60, what="attempt 2 to finish")
        done = self.job(leader, jid)
        self.assertEqual(done["attempt"], 2, done)
        backups = [b for b in leader.get("/api/backups").json["backups"]
                   if b["id"] == done["backup_id"]]
        self.assertEqual(len(backups), 1, backups)
        self.assertTrue(backups[0]["manifest_key"].startswith(
            second["prefix"] + "/"), backups[0])
        after = leader.get("/api/backups").json
        r = leader.write("POST", "/api/jobs/%d/finish" % jid,
                         {"node": stale, "attempt": 1, "ok": True,
                          "backup": fake})
        self.assertError(r, 409, "conflict", "is done, not running")
        self.assertEqual(leader.get("/api/backups").json, after)
        p = self.c.drctl("backups", "verify", done["backup_id"], "--json",
                         nodes=[leader])
        self.assertEqual(p.returncode, 0, p)
        self.assertTrue(json.loads(p.stdout)["ok"], p.stdout)
        # Attempt 1's leftovers got a cleanup job.
        cleanups = [j for j in leader.get("/api/jobs").json["jobs"]
                    if j["kind"] == "cleanup" and j["prefix"] ==
                    first["prefix"]]
        self.assertEqual(len(cleanups), 1, cleanups)

    def assertError(self, r, status, code, msg_part):
        self.assertEqual(r.status, status, r)
        err = r.json["error"]
        self.assertEqual(err["code"], code, r)
        self.assertIn(msg_part, err["message"], r)


if __name__ == "__main__":
    drtest.main()
