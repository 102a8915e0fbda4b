"""Backups through the cluster into an s3:// store (moto, every request's
SigV4 signature checked): PostgreSQL and Redis backups taken by jobs,
verified, restored and deleted, the objects checked in the bucket itself.
A node given the wrong secret fails its attempt with S3's own refusal."""

import json
import os
import sys
import tempfile
import unittest

import drtest  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import drcluster  # noqa: E402
import svc_s3  # noqa: E402
from drcluster import Cluster, wait_until  # noqa: E402
from svc_pg import PgServer  # noqa: E402
from svc_redis import RedisServer  # noqa: E402


@unittest.skipIf(svc_s3.available() is not None, svc_s3.available() or "")
class S3ClusterTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.pg = PgServer()
        cls.pg.create_db("app")
        cls.pg.psql("app", """
            CREATE TABLE agents (id serial PRIMARY KEY, name text NOT NULL,
                                 config jsonb);
            INSERT INTO agents (name, config)
              SELECT 'agent-' || g, jsonb_build_object('n', g)
              FROM generate_series(1, 3000) g;""")
        cls.redis = RedisServer()
        cls.redis.start()
        rc = cls.redis.client()
        rc.pipeline([("SET", "session:%d" % i, "v%d" % i)
                     for i in range(300)] + [("HSET", "memory:1", "k", "v")])
        rc.close()
        cls.tmp = tempfile.mkdtemp(prefix="dr-s3-cluster-it-")
        drcluster.TEMP_DIRS.add(cls.tmp)
        cls.s3 = svc_s3.MotoS3(bucket="dr-eu").start()
        cls.creds = cls.s3.write_credentials(os.path.join(cls.tmp, "creds"))
        svc = {"pg": cls.pg.conninfo("app"), "redis": cls.redis.address,
               "store_credentials": cls.creds}
        cls.c = Cluster(regions=("eu-west", "eu-west", "us-east"),
                        region_sections={"eu-west": {
                            "object_store": cls.s3.url("backups")}},
                        services={1: svc, 2: dict(svc)}, name="s3cluster")
        cls.c.start_all()
        cls.c.wait_for_leader()
        for k in ("backup.pg_interval_s", "backup.redis_interval_s",
                  "drill.restore_interval_h"):
            r = cls.c.leader().write("PUT", "/api/settings/" + k,
                                     {"value": 0})
            assert r.status == 200, r

    @classmethod
    def tearDownClass(cls):
        cls.c.cleanup()
        cls.s3.stop()
        cls.pg.stop()
        cls.redis.stop()

    def drctl(self, *args, check=True):
        # drctl reads the store itself to verify and restore.
        if "restore" in args or "verify" in args:
            args += ("--credentials", self.creds)
        return self.c.drctl_checked(self, *args, check=check)

    def keys(self, prefix):
        """Object keys under prefix in the bucket, read with boto3."""
        out, token = [], None
        client = self.s3.client()
        while True:
            kw = {"Bucket": "dr-eu", "Prefix": prefix}
            if token:
                kw["ContinuationToken"] = token
            r = client.list_objects_v2(**kw)
            out += [o["Key"] for o in r.get("Contents", [])]
            if not r.get("IsTruncated"):
                return sorted(out)
            token = r["NextContinuationToken"]

    def test_1_pg_backup_verify_restore_delete(self):
        p = self.drctl("--json", "backups", "run", "--kind", "pg")
        b = json.loads(p.stdout)
        self.assertTrue(b["store"].startswith("s3://dr-eu/backups"), b)
        objs = self.keys("backups/" + b["prefix"] + "/")
        self.assertIn("backups/" + b["manifest_key"], objs)
        self.assertGreater(len(objs), 1, objs)
        p = self.drctl("backups", "verify", b["id"])
        self.assertIn(b"verified", p.stdout)
        self.assertTrue(self.c.leader().get(
            "/api/backups/" + b["id"]).json["verify_ok"])
        self.pg.create_db("restored")
        p = self.drctl("--json", "restore", "--backup", b["id"], "--pg",
                       self.pg.conninfo("restored"))
        self.assertTrue(json.loads(p.stdout)["ok"], p.stdout)
        q = "SELECT count(*), md5(string_agg(name || config::text, ',' " \
            "ORDER BY id)) FROM agents"
        self.assertEqual(self.pg.psql("app", q), self.pg.psql("restored", q))

        self.drctl("backups", "delete", b["id"])
        leader = self.c.leader()
        wait_until(lambda: leader.get("/api/backups/" + b["id"]).status ==
                   404, 60, what="the backup to leave the catalog")
        self.assertEqual(self.keys("backups/" + b["prefix"] + "/"), [])

    def test_2_redis_backup_and_restore(self):
        p = self.drctl("--json", "backups", "run", "--kind", "redis")
        rb = json.loads(p.stdout)
        self.drctl("backups", "verify", rb["id"])
        target = RedisServer()
        target.start()
        try:
            p = self.drctl("--json", "restore", "--backup", rb["id"],
                           "--redis", target.address)
            self.assertTrue(json.loads(p.stdout)["ok"], p.stdout)
            tc = target.client()
            self.assertEqual(tc.command("DBSIZE"), 301)
            self.assertEqual(tc.command("GET", "session:7"), b"v7")
            tc.close()
        finally:
            target.stop()

    def test_3_a_flipped_object_is_refused(self):
        p = self.drctl("--json", "backups", "run", "--kind", "redis")
        rb = json.loads(p.stdout)
        objs = [k for k in self.keys("backups/" + rb["prefix"] + "/")
                if not k.endswith("manifest.pb")]
        client = self.s3.client()
        body = bytearray(client.get_object(Bucket="dr-eu",
                                           Key=objs[0])["Body"].read())
        body[len(body) // 2] ^= 0x01
        client.put_object(Bucket="dr-eu", Key=objs[0], Body=bytes(body))
        p = self.drctl("backups", "verify", rb["id"], check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn(os.path.basename(objs[0]).encode(), p.stdout + p.stderr)
        self.assertFalse(self.c.leader().get(
            "/api/backups/" + rb["id"]).json["verify_ok"])

    def test_4_wrong_secret_fails_the_attempt_with_the_reason(self):
        self.s3.write_credentials(self.creds, secret="wrong-secret")
        try:
            r = self.c.leader().write("PUT", "/api/settings/jobs.max_attempts",
                                      {"value": 1})
            self.assertEqual(r.status, 200, r)
            p = self.drctl("backups", "run", "--kind", "redis", "--wait",
                           "60", check=False)
            self.assertEqual(p.returncode, 1, p.stdout)
            # The job's first request is a HEAD, whose reply has no body.
            self.assertRegex(p.stderr, rb"access denied: HTTP 403 "
                             rb"(SignatureDoesNotMatch|\(no error code: "
                             rb"check key, secret, clock\))")
        finally:
            self.s3.write_credentials(self.creds)


if __name__ == "__main__":
    drtest.main()
