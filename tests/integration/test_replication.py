"""End to end: cross-region replication on a local three-region cluster.

eu-west (primary, nodes 1-2, file store, PostgreSQL and Redis to back up),
us-east (nodes 3-4, file store), ap-south (node 5, an S3 endpoint on
loopback: moto with signatures checked). Every backup reaches every region
and is verified there; a store that refuses credentials fails with S3's code
and catches up when it takes them again; killing the copying node mid-copy
leaves one complete copy and no leftovers; a flipped byte in a copy is found
by verify and repaired; a source object that changed fails the checksum and
nothing is committed; a region without a store is skipped with a reason;
restores and verification read the caller's region's copy."""

import hashlib
import json
import os
import sys
import subprocess
import tempfile
import time
import unittest

import drtest  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import drcluster  # noqa: E402
import svc_s3  # noqa: E402
from drcluster import Cluster, wait_until  # noqa: E402
from svc_pg import PgServer  # noqa: E402
from svc_redis import RedisServer  # noqa: E402


def tree(root, prefix):
    """{relative key: sha256} of the files under root/prefix."""
    out = {}
    base = os.path.join(root, prefix)
    for d, _, files in os.walk(base):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha256(
                    fh.read()).hexdigest()
    return out


def flip_byte(path, offset=100):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


class ReplicationTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.pg = PgServer()
        cls.pg.create_db("app")
        cls.pg.psql("app", """
            CREATE TABLE agents (id serial PRIMARY KEY, name text);
            INSERT INTO agents (name)
              SELECT 'agent-' || g FROM generate_series(1, 3000) g;""")
        cls.redis = RedisServer()
        cls.redis.start()
        cls.tmp = tempfile.mkdtemp(prefix="dr-repl-it-")
        drcluster.TEMP_DIRS.add(cls.tmp)
        cls.store = {r: os.path.join(cls.tmp, "store-" + r)
                     for r in ("eu-west", "us-east", "ap-south")}
        for d in cls.store.values():
            os.mkdir(d)
        cls.s3 = None
        ap = "file://" + cls.store["ap-south"]
        services = {n: {"pg": cls.pg.conninfo("app"),
                        "redis": cls.redis.address} for n in (1, 2)}
        if svc_s3.available() is None:
            cls.s3 = svc_s3.MotoS3(bucket="dr-ap").start()
            ap = cls.s3.url("dr")
            cls.creds = cls.s3.write_credentials(
                os.path.join(cls.tmp, "ap-creds"))
            services[5] = {"store_credentials": cls.creds}
        cls.c = Cluster(
            regions=("eu-west", "eu-west", "us-east", "us-east", "ap-south"),
            region_sections={
                "eu-west": {"object_store": "file://" + cls.store["eu-west"],
                            "priority": 10},
                "us-east": {"object_store": "file://" + cls.store["us-east"],
                            "priority": 5},
                "ap-south": {"object_store": ap, "priority": 1}},
            services=services, name="repl")
        cls.c.start_all()
        cls.c.wait_for_leader()
        # Nothing on a schedule: every backup here is asked for.
        for k in ("backup.pg_interval_s", "backup.redis_interval_s",
                  "drill.restore_interval_h"):
            cls.set_(k, 0)
        cls.set_("replication.retry_s", 2)

    @classmethod
    def tearDownClass(cls):
        cls.c.cleanup()
        if cls.s3 is not None:
            cls.s3.stop()
        cls.pg.stop()
        cls.redis.stop()

    @classmethod
    def set_(cls, key, value):
        r = cls.c.leader().write("PUT", "/api/settings/" + key,
                                 {"value": value})
        assert r.status == 200, r.body

    def drctl(self, *args, check=True, nodes=None):
        return self.c.drctl_checked(self, *args, check=check, nodes=nodes)

    def backup(self, bid):
        r = self.c.leader().get("/api/backups/" + bid)
        self.assertEqual(r.status, 200, r.body)
        return r.json

    def copy(self, bid, region):
        for c in self.backup(bid)["copies"]:
            if c["region"] == region:
                return c
        return None

    def run_backup(self, kind):
        p = self.drctl("--json", "backups", "run", "--kind", kind)
        out = json.loads(p.stdout)
        return out["id"]

    def wait_copies(self, bid, regions, state="verified", timeout=90):
        def ok():
            return all((self.copy(bid, r) or {}).get("state") == state
                       for r in regions)
        try:
            wait_until(ok, timeout, interval=0.2,
                       what="copies of %s %s in %s" % (bid, state, regions))
        except Exception:
            print(json.dumps(self.backup(bid)["copies"], indent=1),
                  file=sys.stderr)
            print(json.dumps([j for j in self.c.leader().get(
                "/api/jobs").json["jobs"] if j["backup_id"] == bid],
                indent=1), file=sys.stderr)
            raise

    def regions(self):
        return ["eu-west", "us-east", "ap-south"]

    def test_1_backup_reaches_every_region(self):
        bid = self.run_backup("pg")
        self.wait_copies(bid, self.regions())
        b = self.backup(bid)
        self.assertTrue(b["safe"])
        self.assertEqual(b["min_copies"], 3)
        # The origin's copy first.
        self.assertEqual(b["copies"][0]["region"], "eu-west")
        self.assertEqual(sorted(c["region"] for c in b["copies"]),
                         ["ap-south", "eu-west", "us-east"])
        for c in b["copies"][1:]:
            self.assertEqual(c["source_region"], "eu-west")
            self.assertGreater(c["bytes"], 0)
            self.assertEqual(c["error"], "")
        # us-east holds byte-identical objects under the same keys.
        origin = tree(self.store["eu-west"], b["prefix"])
        self.assertIn(b["manifest_key"], origin)
        self.assertEqual(tree(self.store["us-east"], b["prefix"]), origin)
        if self.s3 is not None:
            # (Under this backup's prefix: a start-up backup, scheduled
            # before the intervals went to 0, may be there too.)
            objs = self.s3.client().list_objects_v2(Bucket="dr-ap")
            keys = {o["Key"] for o in objs.get("Contents", [])
                    if o["Key"].startswith("dr/" + b["prefix"] + "/")}
            self.assertEqual(keys, {"dr/" + k for k in origin})
        # The CLI: where the copies are, and replication status.
        out = self.drctl("backups", "list").stdout.decode()
        row = [ln for ln in out.splitlines() if ln.startswith(bid)][0]
        for r in self.regions():
            self.assertIn(" %s:ok" % r, row)
        out = self.drctl("backups", "show", bid).stdout.decode()
        self.assertIn("REGION", out)
        self.assertIn("us-east", out)
        st = json.loads(self.drctl("--json", "replication", "status").stdout)
        by = {r["region"]: r for r in st["regions"]}
        self.assertEqual(by["us-east"]["lag_s"]["pg_logical"], 0)
        self.assertGreaterEqual(by["us-east"]["copies"]["verified"], 1)
        self.assertGreater(by["us-east"]["bytes_copied"], 0)
        self.assertEqual(by["eu-west"]["bytes_copied"], 0)
        # Backups the scheduler took at start-up (another kind) may still
        # be on their way: the region's lag is the oldest it lacks of any
        # kind, so it reads 0 once those are copied too.
        wait_until(lambda: "drnode_backups_unsafe 0\n" in
                   self.c.leader().get("/metrics").body.decode(), 60,
                   interval=0.2, what="every backup safe")
        m = self.c.leader().get("/metrics").body.decode()
        self.assertIn('drnode_replication_lag_seconds{region="us-east"} 0.000',
                      m)

    def test_2_region_without_store_is_skipped(self):
        p = self.drctl("regions", "add", "sa-east", "--priority", "0")
        self.assertEqual(p.returncode, 0, p.stderr)
        st = json.loads(self.drctl("--json", "replication", "status").stdout)
        sa = [r for r in st["regions"] if r["region"] == "sa-east"][0]
        self.assertFalse(sa["receives"])
        self.assertEqual(sa["skipped"], "no object store")
        out = self.drctl("replication", "status").stdout.decode()
        self.assertIn("no object store", out)
        self.drctl("regions", "remove", "sa-east")

    def test_3_source_changed_fails_checksum_and_commits_nothing(self):
        self.set_("replication.targets", "none")
        try:
            bid = self.run_backup("pg")
            b = self.backup(bid)
            self.assertEqual(len(b["copies"]), 1)
            objs = sorted(k for k in tree(self.store["eu-west"], b["prefix"])
                          if k != b["manifest_key"])
            victim = os.path.join(self.store["eu-west"], objs[-1])
            flip_byte(victim, 10)
            self.set_("jobs.max_attempts", 1)
            self.set_("replication.targets", "us-east")
            self.wait_copies(bid, ["us-east"], state="failed")
            c = self.copy(bid, "us-east")
            # (Copied by the kernel, the bytes that landed were hashed.)
            self.assertRegex(c["error"], r"the copy in file://\S+ has "
                             r"SHA-256 [0-9a-f]{16}\.\.\. \(\d+ bytes\), "
                             r"not [0-9a-f]{16}")
            self.assertIn(objs[-1], c["error"])
            # Nothing under that key, and no manifest: not a copy.
            self.assertFalse(os.path.exists(
                os.path.join(self.store["us-east"], objs[-1])))
            self.assertFalse(os.path.exists(
                os.path.join(self.store["us-east"], b["manifest_key"])))
            self.assertFalse(self.backup(bid)["safe"])
            # Source repaired: the next try (replication.retry_s) succeeds.
            flip_byte(victim, 10)
            self.wait_copies(bid, ["us-east"])
        finally:
            self.set_("jobs.max_attempts", 3)
            self.set_("replication.targets", "")

    @unittest.skipIf(svc_s3.available() is not None, "no moto_server")
    def test_4_refused_credentials_then_catch_up(self):
        self.s3.write_credentials(self.creds, secret="wrong-secret")
        bid = self.run_backup("redis")
        self.wait_copies(bid, ["us-east"])

        def failed_attempt():
            c = self.copy(bid, "ap-south")
            return c is not None and c["failures"] >= 1
        wait_until(failed_attempt, 60, what="a refused copy to ap-south")
        c = self.copy(bid, "ap-south")
        self.assertIn("SignatureDoesNotMatch", c["error"])
        jobs = [j for j in self.c.leader().get("/api/jobs").json["jobs"]
                if j["backup_id"] == bid and j["region"] == "ap-south"]
        # Backing off, not hammering: one job, its next try in the future.
        self.assertEqual(len(jobs), 1, jobs)
        self.assertLessEqual(jobs[0]["attempt"], 2)
        self.s3.write_credentials(self.creds)
        # The next attempt first lists the prefix for leftovers: moto 5.2
        # checks the signature of a listing whose prefix holds '/' against
        # the decoded query and refuses it whatever the client signs
        # (svc_s3.MotoS3.set_verify), so checking is off while it catches up.
        self.s3.set_verify(False)
        try:
            self.wait_copies(bid, ["ap-south"], timeout=120)
        finally:
            self.s3.set_verify(True)
        self.assertTrue(self.backup(bid)["safe"])

    def test_5_killed_copier_leaves_one_complete_copy(self):
        rc = self.redis.client()
        rc.pipeline([("SET", "blob:%d" % i, os.urandom(2000).hex())
                     for i in range(1500)])
        rc.close()
        self.set_("jobs.lease_ms", 3000)
        self.set_("replication.targets", "us-east")
        self.set_("replication.bandwidth_bps", 600000)
        try:
            bid = self.run_backup("redis")
            b = self.backup(bid)

            def running():
                for j in self.c.leader().get("/api/jobs").json["jobs"]:
                    if (j["backup_id"] == bid and j["kind"] == "replicate"
                            and j["state"] == "running"):
                        return j
                return None
            job = wait_until(running, 60, what="the copy to start")
            owner = job["owner"]
            self.assertIn(owner, (3, 4))
            # Wait until part of it is there, then kill that node.
            wait_until(lambda: len(tree(self.store["us-east"],
                                        b["prefix"])) >= 1,
                       60, interval=0.05, what="a first copied object")
            self.c.kill(owner)
            self.wait_copies(bid, ["us-east"], timeout=120)
            c = self.copy(bid, "us-east")
            done = [j for j in self.c.leader().get("/api/jobs").json["jobs"]
                    if j["id"] == c["job_id"] or (
                        j["backup_id"] == bid and j["kind"] == "replicate")]
            self.assertTrue(any(j["attempt"] >= 2 for j in done), done)
            # Exactly the origin's objects, byte for byte: no leftovers.
            self.assertEqual(tree(self.store["us-east"], b["prefix"]),
                             tree(self.store["eu-west"], b["prefix"]))
        finally:
            self.set_("replication.bandwidth_bps", 0)
            self.set_("replication.targets", "")
            self.set_("jobs.lease_ms", 30000)
            for n in (3, 4):
                if not self.c.node(n).running():
                    self.c.start(n)

    def test_6_flipped_byte_found_and_repaired(self):
        bid = self.run_backup("pg")
        self.wait_copies(bid, ["us-east"])
        b = self.backup(bid)
        objs = sorted(k for k in tree(self.store["us-east"], b["prefix"])
                      if k != b["manifest_key"])
        path = os.path.join(self.store["us-east"], objs[0])
        good = tree(self.store["us-east"], b["prefix"])
        flip_byte(path, 20)
        p = self.drctl("backups", "verify", bid, "--region", "us-east",
                       check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn(b"FAILED verification in us-east", p.stdout)
        # The origin's copy is untouched and still good.
        p = self.drctl("backups", "verify", bid, "--region", "eu-west")
        self.assertIn(b"verified in eu-west", p.stdout)
        # Copied again from a good copy, then checked.
        self.wait_copies(bid, ["us-east"])
        self.assertEqual(tree(self.store["us-east"], b["prefix"]), good)
        self.drctl("backups", "verify", bid, "--region", "us-east")
        self.assertEqual(self.copy(bid, "us-east")["state"], "verified")

    def test_7_restore_reads_the_callers_region(self):
        bid = self.run_backup("pg")
        self.wait_copies(bid, ["us-east"])
        self.pg.create_db("target_us")
        us_nodes = [self.c.node(3), self.c.node(4)]
        p = self.drctl("--json", "restore", "--backup", bid, "--pg",
                       self.pg.conninfo("target_us"), nodes=us_nodes)
        out = json.loads(p.stdout)
        self.assertEqual(out["pg"]["copy_region"], "us-east")
        n = self.pg.psql("target_us", "SELECT count(*) FROM agents").strip()
        self.assertEqual(n, "3000")
        # A region's copy gone bad: the origin's is used, and said so.
        c = self.copy(bid, "us-east")
        self.assertIsNotNone(c)
        r = self.c.leader().write("POST", "/api/backups/%s/verified" % bid,
                                  {"ok": False, "error": "test: bad",
                                   "region": "us-east"})
        self.assertEqual(r.status, 200, r.body)
        self.pg.create_db("target_us2")
        p = self.drctl("--json", "restore", "--backup", bid, "--pg",
                       self.pg.conninfo("target_us2"), nodes=us_nodes)
        self.assertEqual(json.loads(p.stdout)["pg"]["copy_region"],
                         "eu-west")
        self.assertIn(b"using the origin's copy in eu-west", p.stderr)

    def test_8_bad_input_changes_nothing(self):
        bid = self.run_backup("pg")
        self.wait_copies(bid, self.regions())
        lead = self.c.leader()
        # Quiet first: a copy or cleanup of an earlier backup (one taken
        # before the schedule went to 0) must not count as the bad input's.
        wait_until(lambda: all(j["state"] in ("done", "failed") for j in
                               lead.get("/api/jobs").json["jobs"]), 60,
                   interval=0.2, what="every job to end")
        # Counted for this backup only: the leader may still schedule the
        # repair of the copy test_7 marked failed, an unrelated job.
        def jobs_of_bid():
            return sorted(j["id"] for j in lead.get("/api/jobs").json["jobs"]
                          if j["backup_id"] == bid or j["region"] == "mars")
        before = jobs_of_bid()
        r = lead.write("POST", "/api/backups/%s/verified" % bid,
                       {"ok": True, "region": "mars"})
        self.assertEqual(r.status, 404, r.body)
        self.assertIn(b"has no copy in region mars", r.body)
        r = lead.write("PUT", "/api/settings/replication.targets",
                       {"value": "us-east:mysql"})
        self.assertEqual(r.status, 400, r.body)
        self.assertIn(b"unknown backup kind", r.body)
        p = self.drctl("backups", "verify", bid, "--region", "mars",
                       check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"has no copy in region mars", p.stderr)
        self.assertEqual(jobs_of_bid(), before)

    def replicate_job(self, spec):
        p = subprocess.run([drcluster.DRNODE, "--run-job"],
                           input=json.dumps(spec).encode(),
                           capture_output=True, timeout=120)
        return json.loads(p.stdout.decode().strip().splitlines()[-1])

    @unittest.skipIf(svc_s3.available() is not None, "no moto_server")
    def test_9_s3_to_s3_copies_inside_the_service(self):
        # ap-south's copy (in moto) copied into another bucket of the same
        # moto by the replicate op itself: every object by CopyObject, each
        # copy's SHA-256 computed by moto and checked against the manifest.
        bid = self.run_backup("pg")
        self.wait_copies(bid, self.regions())
        b = self.backup(bid)
        client = self.s3.client()
        client.create_bucket(Bucket="dr-ap2")
        dst = "s3://dr-ap2/dr?endpoint=%s&region=%s" % (self.s3.endpoint,
                                                       self.s3.region)
        spec = {"op": "replicate", "backup_id": bid, "kind": "pg_logical",
                "manifest_key": b["manifest_key"],
                "manifest_sha256": b["manifest_sha256"],
                "prefix": b["prefix"], "store": dst,
                "credentials_file": self.creds,
                "sources": [{"region": "ap-south",
                             "store": self.s3.url("dr")}]}
        out = self.replicate_job(spec)
        self.assertTrue(out["ok"], out)
        res = out["result"]
        self.assertEqual(res["direct"], res["objects"] - 1)  # manifest
        self.assertGreaterEqual(res["direct"], 3)

        def listing(bucket):
            r = client.list_objects_v2(Bucket=bucket,
                                       Prefix="dr/" + b["prefix"] + "/")
            return {o["Key"]: o["Size"] for o in r.get("Contents", [])}
        self.assertEqual(listing("dr-ap2"), listing("dr-ap"))
        for k in listing("dr-ap"):
            self.assertEqual(
                client.get_object(Bucket="dr-ap2", Key=k)["Body"].read(),
                client.get_object(Bucket="dr-ap", Key=k)["Body"].read())
        # A source object that no longer matches its manifest: the copy
        # fails with both hashes named and leaves nothing under that key.
        data = [k for k in listing("dr-ap") if "/data/" in k][0]
        client.put_object(Bucket="dr-ap", Key=data, Body=b"tampered")
        client.create_bucket(Bucket="dr-ap3")
        spec["store"] = dst.replace("dr-ap2", "dr-ap3")
        out = self.replicate_job(spec)
        self.assertFalse(out["ok"], out)
        self.assertEqual(out["code"], "corrupt", out)
        self.assertIn("from ap-south: object %s: the copy in s3://dr-ap3/dr "
                      "has SHA-256 %s..." % (data[len("dr/"):],
                                             hashlib.sha256(b"tampered")
                                             .hexdigest()[:16]),
                      out["error"])
        self.assertNotIn(data, listing("dr-ap3"))
        self.assertNotIn("dr/" + b["manifest_key"], listing("dr-ap3"))
        # Streamed through the node (S3 -> file, with a bandwidth limit):
        # the reader's check refuses the same object before its commit.
        local = os.path.join(self.tmp, "streamed")
        spec.update({"store": "file://" + local, "bandwidth_bps": 1 << 40})
        out = self.replicate_job(spec)
        self.assertFalse(out["ok"], out)
        self.assertEqual(out["code"], "corrupt", out)
        self.assertIn("SHA-256 mismatch", out["error"])
        self.assertFalse(os.path.exists(os.path.join(local, data[3:])))
        self.assertFalse(os.path.exists(os.path.join(local,
                                                     b["manifest_key"])))


if __name__ == "__main__":
    drtest.main()
