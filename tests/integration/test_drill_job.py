"""The drill_restore job (`drnode --run-job`) against a real PostgreSQL 15
and redis-server on loopback: backups restored into scratch targets
(dr_drill_N, a scratch Redis db), verified, timed and dropped again, with
the live data untouched; a leftover scratch database, damaged objects,
objects-only drills, a scratch db that is the live one, bad specs and an
unreachable server.

Environment: DRNODE (path to drnode; default build/node/drnode).
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import drtest  # noqa: E402

sys.dont_write_bytecode = True  # keep the source tree clean
import svc_pg  # noqa: E402
import svc_redis  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DRNODE = os.environ.get("DRNODE") or os.path.join(ROOT, "build", "node",
                                                  "drnode")
SCRATCH_DB = 15

SCHEMA = r'''
CREATE TABLE agents (id serial PRIMARY KEY, name text NOT NULL UNIQUE,
                     config jsonb);
CREATE TABLE runs (id bigint PRIMARY KEY, agent_id int REFERENCES agents(id),
                   started timestamptz, output text, blob bytea);
CREATE SCHEMA "Memory";
CREATE TABLE "Memory"."Long Term" ("Key" text PRIMARY KEY, v text);
CREATE INDEX runs_started_idx ON runs (started);
INSERT INTO agents (name, config)
    SELECT 'agent' || i, jsonb_build_object('i', i) FROM generate_series(1, 20) i;
INSERT INTO runs SELECT i, 1 + i % 20,
    timestamptz '2025-01-01 00:00:00+00' + i * interval '1 min',
    CASE WHEN i % 9 = 0 THEN NULL ELSE 'out ' || i || E'\t\\ ''q'' end' END,
    decode(md5(i::text), 'hex')
    FROM generate_series(1, 20000) i;
INSERT INTO "Memory"."Long Term" SELECT 'k' || i, repeat('m', i % 50)
    FROM generate_series(1, 500) i;
'''
TABLES = ["agents", "runs", '"Memory"."Long Term"']
PG_ROWS = 20 + 20000 + 500
PG_TABLES = 3


def run_job(spec, timeout=120):
    """(exit status, the outcome line) of one `drnode --run-job`."""
    p = subprocess.run([DRNODE, "--run-job"], input=json.dumps(spec).encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    err = p.stderr.decode(errors="replace")
    for marker in ("Sanitizer", "runtime error:"):
        if marker in err:
            raise AssertionError("sanitizer report from %s:\n%s"
                                 % (spec.get("op"), err[-6000:]))
    lines = p.stdout.decode().strip().splitlines()
    if not lines:
        raise AssertionError("no output from --run-job (rc %d): %s" %
                             (p.returncode, err[-2000:]))
    out = json.loads(lines[-1])
    assert (p.returncode == 0) == out["ok"], (p.returncode, out)
    return p.returncode, out


def flip_middle_byte(path):
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0x5A]))


class DrillJobTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not os.access(DRNODE, os.X_OK):
            raise unittest.SkipTest("drnode not built at %s" % DRNODE)
        try:
            cls.pg = svc_pg.PgServer()
        except svc_pg.PgMissing as e:
            raise unittest.SkipTest("no PostgreSQL: %s" % e)
        cls.redis = None
        cls.tmp = tempfile.mkdtemp(prefix="drdrilltest-")
        try:
            cls.redis = svc_redis.RedisServer().start()
            cls.pg.create_db("app")
            cls.pg.psql("app", SCHEMA)
            cls.populate_redis()
            cls.store_dir = os.path.join(cls.tmp, "store")
            os.mkdir(cls.store_dir)
            store = "file://" + cls.store_dir
            rc, out = run_job({"op": "pg_backup", "store": store,
                               "pg": cls.pg.conninfo("app"), "prefix": "pg1",
                               "chunk_bytes": 256 * 1024})
            assert rc == 0, out
            cls.pg_backup = out["result"]
            rc, out = run_job({"op": "redis_backup", "store": store,
                               "redis": cls.redis.address, "prefix": "rd1"})
            assert rc == 0, out
            cls.redis_backup = out["result"]
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.pg.stop()
        if cls.redis is not None:
            cls.redis.stop()
        svc_redis.kill_all()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def populate_redis(cls):
        c = cls.redis.client()
        cmds = [("SET", "session:%04d" % i, "v%d" % i) for i in range(3000)]
        cmds += [("HSET", "agent:1", "name", "a", "blob", b"\x00\xff"),
                 ("RPUSH", "queue", "a", "b", "c"),
                 ("ZADD", "scores", 1, "x", 2, "y"),
                 ("SET", "ttl:key", "soon", "PX", 600000)]
        for r in c.pipeline(cmds):
            assert not isinstance(r, svc_redis.RedisError), r
        c.close()

    # Helpers.

    def part(self, kind, store_dir=None):
        b = self.pg_backup if kind == "pg" else self.redis_backup
        return {"backup_id": "%s-backup-1" % kind,
                "store": "file://" + (store_dir or self.store_dir),
                "manifest_key": b["manifest_key"],
                "manifest_sha256": b["manifest_sha256"]}

    def drill_spec(self, drill_id, pg=True, redis=True, store_dir=None,
                   pg_server=True, redis_db=SCRATCH_DB):
        spec = {"op": "drill_restore", "drill_id": drill_id}
        if pg:
            spec["pg"] = self.part("pg", store_dir)
            if pg_server:
                spec["pg_server"] = self.pg.conninfo("app")
        if redis:
            spec["redis"] = self.part("redis", store_dir)
            spec["redis_server"] = self.redis.address
            if redis_db is not None:
                spec["redis_db"] = redis_db
        return spec

    def damaged_store(self, kind):
        """A copy of the store with one data object of kind's backup
        damaged; returns (store dir, the damaged object's key)."""
        d = tempfile.mkdtemp(prefix="store-", dir=self.tmp)
        shutil.copytree(self.store_dir, d, dirs_exist_ok=True)
        if kind == "pg":
            data = os.path.join(d, "pg1", "data")
            name = sorted(os.listdir(data))[1]
            path, key = os.path.join(data, name), "pg1/data/" + name
        else:
            data = os.path.join(d, "rd1")
            name = sorted(f for f in os.listdir(data)
                          if f.startswith("data-"))[0]
            path, key = os.path.join(data, name), "rd1/" + name
        flip_middle_byte(path)
        return d, key

    def pg_fingerprint(self, db):
        h = hashlib.sha256()
        for t in TABLES:
            h.update(self.pg.psql_bytes(
                db, "COPY (SELECT * FROM %s ORDER BY 1) TO STDOUT" % t))
        h.update(self.pg.psql_bytes(
            db, "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname "
            "NOT IN ('pg_catalog') ORDER BY 1"))
        return h.hexdigest()

    def databases(self):
        return set(self.pg.psql(
            "postgres", "SELECT datname FROM pg_database").split())

    def redis_fingerprint(self, db):
        c = self.redis.client()
        c.command("SELECT", db)
        keys = sorted(c.all_keys())
        replies = c.pipeline([x for k in keys
                              for x in (("DUMP", k), ("PTTL", k))])
        c.close()
        return [(k, replies[2 * i], replies[2 * i + 1] >= 0)
                for i, k in enumerate(keys)]

    def redis_dbsize(self, db):
        c = self.redis.client()
        c.command("SELECT", db)
        n = c.command("DBSIZE")
        c.close()
        return n

    def fill_scratch_redis(self):
        c = self.redis.client()
        c.command("SELECT", SCRATCH_DB)
        c.command("SET", "stale-from-last-week", "x")
        c.close()

    # Tests.

    def test_happy_path(self):
        pg_before = self.pg_fingerprint("app")
        redis_before = self.redis_fingerprint(0)
        self.fill_scratch_redis()
        t0 = time.monotonic()
        rc, out = run_job(self.drill_spec(1, pg=True, redis=True))
        wall_ms = (time.monotonic() - t0) * 1000
        self.assertEqual(rc, 0, out)
        r = out["result"]
        self.assertTrue(r["ok"], r)
        self.assertNotIn("error", r)
        self.assertEqual(r["drill_id"], 1)
        pg, rd = r["pg"], r["redis"]
        self.assertEqual((pg["backup_id"], pg["mode"], pg["database"]),
                         ("pg-backup-1", "restore", "dr_drill_1"))
        self.assertEqual((pg["tables"], pg["rows"]), (PG_TABLES, PG_ROWS))
        self.assertEqual(pg["rows"], self.pg_backup["rows"])
        self.assertTrue(pg["ok"] and pg["dropped"], pg)
        self.assertNotIn("error", pg)
        self.assertEqual((rd["backup_id"], rd["mode"], rd["db"]),
                         ("redis-backup-1", "restore", SCRATCH_DB))
        self.assertEqual(rd["keys"], 3004)
        self.assertEqual(rd["keys"], self.redis_backup["keys"])
        self.assertTrue(rd["ok"] and rd["flushed"], rd)
        for p in (pg, rd):
            self.assertGreater(p["restore_ms"], 0)
            self.assertGreaterEqual(p["verify_ms"], 0)
        self.assertEqual(r["rto_ms"], pg["restore_ms"] + pg["verify_ms"] +
                         rd["restore_ms"] + rd["verify_ms"])
        self.assertLessEqual(r["rto_ms"], wall_ms)
        # Scratch gone, live data untouched.
        self.assertNotIn("dr_drill_1", self.databases())
        self.assertEqual(self.redis_dbsize(SCRATCH_DB), 0)
        self.assertEqual(self.pg_fingerprint("app"), pg_before)
        self.assertEqual(self.redis_fingerprint(0), redis_before)

    def test_pg_server_as_uri(self):
        # The scratch conninfo is rebuilt from a URI too.
        spec = self.drill_spec(8, redis=False)
        spec["pg_server"] = ("postgresql://postgres@127.0.0.1:%d/app?"
                             "application_name=it%%27s" % self.pg.port)
        rc, out = run_job(spec)
        self.assertEqual(rc, 0, out)
        self.assertTrue(out["result"]["ok"], out)
        self.assertEqual(out["result"]["pg"]["rows"], PG_ROWS)
        self.assertNotIn("dr_drill_8", self.databases())

    def test_leftover_scratch_database_replaced(self):
        self.pg.create_db("dr_drill_2")
        self.pg.psql("dr_drill_2", "CREATE TABLE junk (a int); "
                     "INSERT INTO junk VALUES (1)")
        # A session of the failed attempt still holds it open.
        holder = subprocess.Popen(
            self.pg._argv([os.path.join(svc_pg.PG_BIN, "psql"), "-X", "-h",
                           "127.0.0.1", "-p", str(self.pg.port), "-U",
                           "postgres", "-d", "dr_drill_2", "-c",
                           "SELECT pg_sleep(60)"]),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 10
            while self.pg.psql("postgres", "SELECT count(*) FROM "
                               "pg_stat_activity WHERE datname = "
                               "'dr_drill_2'").strip() == "0":
                self.assertLess(time.time(), deadline)
                time.sleep(0.05)
            rc, out = run_job(self.drill_spec(2, redis=False))
            self.assertEqual(rc, 0, out)
            pg = out["result"]["pg"]
            self.assertTrue(pg["ok"], pg)
            self.assertEqual(pg["rows"], PG_ROWS)  # no junk row counted
            self.assertTrue(pg["dropped"])
            self.assertNotIn("dr_drill_2", self.databases())
            self.assertIsNotNone(holder.wait(timeout=10))
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()

    def test_corrupt_pg_object(self):
        store, key = self.damaged_store("pg")
        pg_before = self.pg_fingerprint("app")
        rc, out = run_job(self.drill_spec(3, redis=False, store_dir=store))
        self.assertEqual(rc, 0, out)  # a finding, not a job error
        r = out["result"]
        self.assertFalse(r["ok"])
        self.assertFalse(r["pg"]["ok"])
        self.assertIn(key, r["pg"]["error"])
        self.assertIn("SHA-256", r["pg"]["error"])
        self.assertTrue(r["error"].startswith("pg: restore: object " + key),
                        r["error"])
        self.assertTrue(r["pg"]["dropped"])
        self.assertNotIn("dr_drill_3", self.databases())
        self.assertEqual(self.pg_fingerprint("app"), pg_before)
        # Objects only: the same finding.
        rc, out = run_job(self.drill_spec(4, redis=False, store_dir=store,
                                          pg_server=False))
        self.assertEqual(rc, 0, out)
        r = out["result"]
        self.assertEqual(r["pg"]["mode"], "objects")
        self.assertFalse(r["ok"])
        self.assertIn(key, r["error"])
        self.assertTrue(r["error"].startswith("pg: verify: 1 problem; "),
                        r["error"])

    def test_corrupt_redis_object(self):
        store, key = self.damaged_store("redis")
        redis_before = self.redis_fingerprint(0)
        self.fill_scratch_redis()
        rc, out = run_job(self.drill_spec(5, pg=False, store_dir=store))
        self.assertEqual(rc, 0, out)
        r = out["result"]
        self.assertFalse(r["ok"])
        rd = r["redis"]
        self.assertFalse(rd["ok"])
        self.assertIn(key, rd["error"])
        self.assertTrue(r["error"].startswith("redis: restore: "), r)
        self.assertTrue(rd["flushed"])
        self.assertEqual(self.redis_dbsize(SCRATCH_DB), 0)
        self.assertEqual(self.redis_fingerprint(0), redis_before)
        # Objects only.
        rc, out = run_job(self.drill_spec(6, pg=False, store_dir=store,
                                          redis_db=None))
        self.assertEqual(rc, 0, out)
        r = out["result"]
        self.assertEqual(r["redis"]["mode"], "objects")
        self.assertNotIn("db", r["redis"])
        self.assertFalse(r["ok"])
        self.assertIn(key, r["error"])

    def test_objects_only(self):
        dbs = self.databases()
        self.fill_scratch_redis()
        rc, out = run_job(self.drill_spec(7, pg_server=False, redis_db=None))
        self.assertEqual(rc, 0, out)
        r = out["result"]
        self.assertTrue(r["ok"], r)
        pg, rd = r["pg"], r["redis"]
        self.assertEqual((pg["mode"], rd["mode"]), ("objects", "objects"))
        self.assertNotIn("database", pg)
        self.assertEqual((pg["tables"], pg["rows"]), (PG_TABLES, PG_ROWS))
        self.assertEqual(rd["keys"], 3004)
        self.assertEqual((pg["restore_ms"], rd["restore_ms"]), (0, 0))
        self.assertFalse(pg["dropped"] or rd["flushed"])  # nothing made
        self.assertEqual(self.databases(), dbs)
        self.assertEqual(self.redis_dbsize(SCRATCH_DB), 1)  # not touched

    def test_pg_server_a_standby_checks_objects(self):
        """A DR region whose PostgreSQL is a standby ([services] pg is also
        pg_standby) takes no scratch database: the drill checks the pg
        backup's objects instead, says why, and passes."""
        standby = svc_pg.PgServer(start=False)
        self.addCleanup(standby.stop)
        standby.run([os.path.join(svc_pg.PG_BIN, "pg_basebackup"), "-D",
                     standby.data, "-R", "-X", "stream", "-c", "fast", "-h",
                     "127.0.0.1", "-p", str(self.pg.port), "-U", "postgres"])
        standby.start()
        self.assertEqual(
            standby.psql("app", "SELECT pg_is_in_recovery()").strip(), "t")
        spec = self.drill_spec(9, redis=False)
        spec["pg_server"] = standby.conninfo("app")
        rc, out = run_job(spec)
        self.assertEqual(rc, 0, out)
        r = out["result"]
        self.assertTrue(r["ok"], r)
        pg = r["pg"]
        self.assertEqual(pg["mode"], "objects")
        self.assertIn("pg_server is a standby (in recovery)", pg["mode_why"])
        self.assertNotIn("database", pg)
        self.assertEqual((pg["tables"], pg["rows"]), (PG_TABLES, PG_ROWS))
        self.assertEqual(pg["restore_ms"], 0)
        self.assertFalse(pg["dropped"])  # nothing was made
        # A primary's drill says nothing of the kind.
        rc, out = run_job(self.drill_spec(10, redis=False))
        self.assertEqual(out["result"]["pg"]["mode"], "restore", out)
        self.assertNotIn("mode_why", out["result"]["pg"])

    def test_redis_db_of_the_backup_refused(self):
        redis_before = self.redis_fingerprint(0)
        rc, out = run_job(self.drill_spec(9, redis_db=0))
        self.assertEqual(rc, 1)
        self.assertEqual(out["code"], "invalid_argument")
        self.assertEqual(
            out["error"], "drill_restore: redis: \"redis_db\" 0 is the "
            "database backup redis-backup-1 was taken from: a drill never "
            "restores into live data; name a scratch db")
        self.assertNotIn("result", out)
        self.assertEqual(self.redis_fingerprint(0), redis_before)
        self.assertNotIn("dr_drill_9", self.databases())  # pg not started

    def test_bad_specs(self):
        pg = self.part("pg")
        cases = [
            ({"drill_id": 1}, "none of \"pg\", \"redis\" and \"pg_base\" "
             "is given: nothing to drill"),
            ({"pg": pg}, "\"drill_id\" is missing"),
            ({"drill_id": 0, "pg": pg},
             "\"drill_id\" must be an integer from 1 to 9223372036854775807"),
            ({"drill_id": "7", "pg": pg},
             "\"drill_id\" must be an integer from 1 to 9223372036854775807"),
            ({"drill_id": 1, "pg": "pg1"}, "\"pg\" must be an object"),
            ({"drill_id": 1, "redis": []}, "\"redis\" must be an object"),
            ({"drill_id": 1, "pg_base": "b"}, "\"pg_base\" must be an object"),
            ({"drill_id": 1, "pg": pg, "scratch_dir": "relative/dir"},
             "\"scratch_dir\" must be an absolute path without quotes"),
            ({"drill_id": 1, "pg": pg, "scratch_dir": "/tmp/it's"},
             "\"scratch_dir\" must be an absolute path without quotes"),
            ({"drill_id": 1, "pg": dict(pg, manifest_key=5)},
             "pg: \"manifest_key\" must be a non-empty string"),
            ({"drill_id": 1, "pg": {k: v for k, v in pg.items()
                                    if k != "backup_id"}},
             "pg: \"backup_id\" is missing"),
            ({"drill_id": 1, "pg": dict(pg, credentials_file=1)},
             "pg: \"credentials_file\" must be a non-empty string"),
            ({"drill_id": 1, "pg": pg, "pg_server": 5},
             "\"pg_server\" must be a non-empty string"),
            ({"drill_id": 1, "pg": pg, "pg_server": "no equals sign"},
             "\"pg_server\" is not a connection string: missing \"=\" after "
             "\"no\" in connection info string"),
            ({"drill_id": 12, "pg": pg,
              "pg_server": "host=127.0.0.1 dbname=dr_drill_12"},
             "\"pg_server\" names the scratch database dr_drill_12 itself"),
            ({"drill_id": 1, "redis": self.part("redis"),
              "redis_server": self.redis.address, "redis_db": 65536},
             "\"redis_db\" must be an integer from 0 to 65535"),
            ({"drill_id": 1, "redis": self.part("redis"), "redis_db": 3},
             "\"redis_db\" needs \"redis_server\""),
            ({"drill_id": 1, "pg": pg, "parallel": "2"},
             "\"parallel\" must be an integer from 1 to 64"),
            ({"drill_id": 1, "pg": pg, "missing": "pg-1"},
             "\"missing\" must be an array of backup ids"),
        ]
        for spec, msg in cases:
            spec = dict(spec, op="drill_restore")
            rc, out = run_job(spec)
            self.assertEqual(rc, 1, spec)
            self.assertEqual(out["code"], "invalid_argument", out)
            self.assertEqual(out["error"], "drill_restore: " + msg)

    def test_backup_deleted_since_the_drill_started(self):
        """The worker found a recorded backup gone: the drill fails with its
        id, and nothing is restored."""
        spec = self.drill_spec(11, redis=False)
        spec["missing"] = ["redis-20261126T000000Z-9"]
        rc, out = run_job(spec)
        self.assertEqual(rc, 0, out)
        res = out["result"]
        self.assertFalse(res["ok"])
        self.assertEqual(res["error"], "backup redis-20261126T000000Z-9 was "
                         "deleted after the drill started")
        self.assertNotIn("pg", res)
        self.assertNotIn("dr_drill_11", self.pg.psql(
            "postgres", "SELECT datname FROM pg_database"))

    def test_pg_server_unreachable(self):
        port = svc_pg.free_port()
        spec = self.drill_spec(10, redis=False)
        spec["pg_server"] = "host=127.0.0.1 port=%d dbname=app " \
                            "connect_timeout=5" % port
        rc, out = run_job(spec)
        self.assertEqual(rc, 1)
        self.assertEqual(out["code"], "unavailable", out)
        self.assertTrue(out["error"].startswith(
            "drill_restore: pg: pg_server: connect: "), out["error"])
        self.assertIn("127.0.0.1", out["error"])
        self.assertNotIn("dr_drill_10", self.databases())

    def test_redis_server_unreachable(self):
        addr = "127.0.0.1:%d" % svc_redis.free_port()
        spec = self.drill_spec(13, pg=False)
        spec["redis_server"] = addr
        rc, out = run_job(spec)
        self.assertEqual(rc, 1)
        self.assertEqual(out["code"], "unavailable", out)
        self.assertTrue(out["error"].startswith(
            "drill_restore: redis: restore into db 15: redis %s: connect: "
            % addr), out["error"])
        rd = out["result"]["redis"]
        self.assertFalse(rd["ok"] or rd["flushed"])
        self.assertIn("FLUSHDB db 15: redis %s: connect: " % addr,
                      rd["cleanup_error"])

    def test_store_unreachable(self):
        # A store that cannot be read is trouble to retry, not a finding.
        cred = os.path.join(self.tmp, "s3.cred")
        with open(os.open(cred, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write("access_key_id = drill\nsecret_access_key = drill\n")
        spec = self.drill_spec(11, pg=False, redis_db=None)
        spec["redis"]["store"] = ("s3://nobucket/x?endpoint=http://"
                                  "127.0.0.1:%d&region=us-east-1" %
                                  svc_pg.free_port())
        spec["redis"]["credentials_file"] = cred
        rc, out = run_job(spec)
        self.assertEqual(rc, 1, out)
        self.assertEqual(out["code"], "unavailable", out)
        self.assertTrue(out["error"].startswith(
            "drill_restore: redis: manifest: object rd1/manifest.pb in "
            "s3://nobucket/x: cannot reach "), out["error"])


if __name__ == "__main__":
    drtest.main()
