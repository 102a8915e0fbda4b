"""PostgreSQL logical backup, restore and verify jobs (`drnode --run-job`)
against a real PostgreSQL 15 on loopback: exact round trips (split tables
too), corrupt, missing and truncated objects, undecodable manifests, a
non-empty target, and the server dying in the middle of a backup.

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

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DRNODE = os.environ.get("DRNODE") or os.path.join(ROOT, "build", "node",
                                                  "drnode")

# A schema with the awkward cases: types, NULLs, multi-MB values, a quoted
# mixed-case name, a generated column, a sequence past its start, a foreign
# key, an index, a partitioned table, a table without rows.
SCHEMA = r'''
CREATE SCHEMA "Other Schema";
CREATE TABLE parent (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE kinds (
    id bigint PRIMARY KEY,
    t text, b bytea, j jsonb, n numeric(30,10), f float8,
    ts timestamp, tstz timestamptz, d date, iv interval, u uuid,
    arr int[], flag boolean,
    parent_id int REFERENCES parent(id),
    doubled bigint GENERATED ALWAYS AS (id * 2) STORED
);
CREATE INDEX kinds_d_idx ON kinds (d DESC, flag);
CREATE TABLE "Other Schema"."Mixed Case ""Tbl""" (
    "Id" int PRIMARY KEY, "Value Col" text);
CREATE TABLE big (id int PRIMARY KEY, payload text, blob bytea);
CREATE TABLE meas (id int, at date NOT NULL, v float8)
    PARTITION BY RANGE (at);
CREATE TABLE meas_2024 PARTITION OF meas
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE meas_2025 PARTITION OF meas
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE empty_one (a int, b text);
CREATE SEQUENCE counter START 100;
SELECT setval('counter', 4242, true);
CREATE SEQUENCE fresh START 7;

INSERT INTO parent (name) SELECT 'p' || i FROM generate_series(1, 5) i;
INSERT INTO kinds (id, t, b, j, n, f, ts, tstz, d, iv, u, arr, flag,
                   parent_id)
SELECT i,
       CASE WHEN i % 7 = 0 THEN NULL
            ELSE 'text ' || i || E' tab\t nl\n back\\ quote'' "q" é' END,
       CASE WHEN i % 5 = 0 THEN NULL
            ELSE decode(md5(i::text), 'hex') || '\x00ff'::bytea END,
       CASE WHEN i % 3 = 0 THEN NULL
            ELSE jsonb_build_object('i', i, 'nested', jsonb_build_array(i,
                 'x', null, true)) END,
       i * 1.0000000001 - 50, i / 3.0,
       timestamp '2024-02-29 12:34:56.789' + i * interval '1 hour',
       timestamptz '2024-02-29 12:34:56.789+05:30' + i * interval '1 min',
       date '2000-01-01' + i, i * interval '1 day 2 sec',
       md5(i::text)::uuid, ARRAY[i, NULL, -i], i % 2 = 0,
       CASE WHEN i % 4 = 0 THEN NULL ELSE 1 + i % 5 END
FROM generate_series(1, 3000) i;
INSERT INTO kinds (id, t, b) VALUES
    (100001, repeat('large text row ', 300000),
     (SELECT string_agg(decode(md5(g::text), 'hex'), ''::bytea)
      FROM generate_series(1, 200000) g));
INSERT INTO "Other Schema"."Mixed Case ""Tbl"""
    SELECT i, 'v' || i FROM generate_series(1, 100) i;
INSERT INTO big SELECT i, repeat(md5(i::text), 8),
    decode(md5((i * 7)::text), 'hex') FROM generate_series(1, 20000) i;
INSERT INTO meas SELECT i, date '2024-06-01' + (i % 400), i * 0.5
    FROM generate_series(1, 2000) i;
'''

TABLES = ['parent', 'kinds', '"Other Schema"."Mixed Case ""Tbl"""', 'big',
          'meas', 'empty_one']


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def run_job(spec, timeout=120):
    p = subprocess.run([DRNODE, "--run-job"], input=json.dumps(spec).encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    err = p.stderr.decode(errors="replace")
    # Under -DDR_SANITIZE=asan, any report fails the test (a failing job
    # exits 1 either way, so look at what the sanitizers said).
    for marker in ("Sanitizer", "runtime error:"):
        if marker in err:
            raise AssertionError("sanitizer report from %s:\n%s"
                                 % (spec.get("op"), err[-6000:]))
    lines = p.stdout.decode().strip().splitlines()
    if not lines:
        raise AssertionError("no output from --run-job (rc %d): %s" %
                             (p.returncode, p.stderr.decode()[-2000:]))
    out = json.loads(lines[-1])
    if out["ok"]:
        assert p.returncode == 0, p
    else:
        assert p.returncode == 1, p
    return out


class PgBackupTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not os.access(DRNODE, os.X_OK):
            raise unittest.SkipTest("drnode not built at %s" % DRNODE)
        try:
            cls.pg = svc_pg.PgServer()
        except svc_pg.PgMissing as e:
            raise unittest.SkipTest("no PostgreSQL: %s" % e)
        try:
            cls.pg.create_db("src")
            cls.pg.psql("src", SCHEMA)
            cls.tmp = tempfile.mkdtemp(prefix="drpgtest-")
            cls.store_dir = os.path.join(cls.tmp, "store")
            os.mkdir(cls.store_dir)
            cls.store = "file://" + cls.store_dir
            # One backup with small chunks, so `big` and `kinds` split.
            out = run_job({"op": "pg_backup", "store": cls.store,
                           "pg": cls.pg.conninfo("src"), "prefix": "b1",
                           "chunk_bytes": 128 * 1024, "parallel": 2})
            if not out["ok"]:
                raise AssertionError("backup failed: %r" % out)
            cls.backup = out["result"]
        except BaseException:
            cls.pg.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.pg.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # Helpers.

    def dump_table(self, db, table):
        return self.pg.psql_bytes(
            db, "COPY (SELECT * FROM %s ORDER BY 1, 2) TO STDOUT" % table)

    def user_tables(self, db):
        return self.pg.psql(
            db, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON "
            "n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'S') AND "
            "n.nspname NOT IN ('pg_catalog', 'information_schema') AND "
            "n.nspname NOT LIKE 'pg_toast%'").strip()

    def fresh_db(self, name):
        self.pg.drop_db(name)
        self.pg.create_db(name)
        self.addCleanup(self.pg.drop_db, name)

    def copy_backup(self, prefix):
        """A private copy of backup b1 under another prefix (same manifest
        bytes: keys inside still say b1, so copy the whole tree and edit
        nothing; return the directory of the copy)."""
        src = os.path.join(self.store_dir, "b1")
        d = tempfile.mkdtemp(prefix="store-", dir=self.tmp)
        shutil.copytree(src, os.path.join(d, "b1"))
        return d

    def restore_spec(self, store_dir, db, **kw):
        spec = {"op": "pg_restore", "store": "file://" + store_dir,
                "manifest_key": "b1/manifest.pb",
                "manifest_sha256": self.backup["manifest_sha256"],
                "pg": self.pg.conninfo(db), "parallel": 2}
        spec.update(kw)
        return spec

    def verify_spec(self, store_dir, db=None, **kw):
        spec = {"op": "pg_verify", "store": "file://" + store_dir,
                "manifest_key": "b1/manifest.pb",
                "manifest_sha256": self.backup["manifest_sha256"]}
        if db:
            spec["pg"] = self.pg.conninfo(db)
        spec.update(kw)
        return spec

    def data_objects(self, store_dir):
        d = os.path.join(store_dir, "b1", "data")
        return sorted(os.path.join(d, f) for f in os.listdir(d))

    # Tests.

    def test_backup_result(self):
        r = self.backup
        self.assertEqual(r["manifest_key"], "b1/manifest.pb")
        self.assertEqual(r["manifest_sha256"], sha256_file(
            os.path.join(self.store_dir, "b1", "manifest.pb")))
        self.assertEqual(r["database"], "src")
        self.assertTrue(r["server_version"].startswith("15."), r)
        # parent, kinds, Mixed Case, big, meas_2024, meas_2025, empty_one
        self.assertEqual(r["tables"], 7)
        self.assertEqual(r["rows"], 5 + 3001 + 100 + 20000 + 2000)
        self.assertGreater(r["chunks"], 7)  # big and kinds were split
        self.assertEqual(r["objects"], r["chunks"] + 3)
        self.assertEqual(r["sequences"], 3)  # parent_id_seq, counter, fresh
        now_ms = time.time() * 1000
        self.assertLess(abs(r["snapshot_time_ms"] - now_ms), 600000)
        self.assertLess(r["stored_bytes"], r["raw_bytes"])
        # Where the time went: every phase, none negative, adding up.
        ph = r["phases_ms"]
        self.assertEqual(set(ph), {"snapshot", "plan", "schema", "data",
                                   "manifest", "total"})
        self.assertTrue(all(v >= 0 for v in ph.values()), ph)
        self.assertGreaterEqual(ph["total"], ph["snapshot"] + ph["plan"] +
                                max(ph["schema"], ph["data"]) +
                                ph["manifest"] - 5, ph)
        # A second backup to the same prefix is refused.
        out = run_job({"op": "pg_backup", "store": self.store,
                       "pg": self.pg.conninfo("src"), "prefix": "b1"})
        self.assertFalse(out["ok"])
        self.assertEqual(out["code"], "already_exists")
        self.assertEqual(out["error"], "pg_backup: b1/manifest.pb already "
                         "holds a backup")

    def test_round_trip(self):
        self.fresh_db("dst")
        out = run_job(self.restore_spec(self.store_dir, "dst"))
        self.assertTrue(out["ok"], out)
        res = out["result"]
        self.assertEqual(res["rows"], self.backup["rows"])
        names = {t["name"]: t for t in res["tables"]}
        self.assertEqual(names["public.kinds"]["rows"], 3001)
        self.assertEqual(names['Other Schema.Mixed Case "Tbl"']["rows"], 100)
        self.assertTrue(all(t["ok"] for t in res["tables"]))
        for t in TABLES:
            a, b = self.dump_table("src", t), self.dump_table("dst", t)
            self.assertEqual(a, b, "table %s differs" % t)
        self.assertGreater(len(self.dump_table("dst", "kinds")), 8000000)
        # Generated column recomputed, sequences carried, keys enforced.
        self.assertEqual(self.pg.psql(
            "dst", "SELECT doubled FROM kinds WHERE id = 21").strip(), "42")
        self.assertEqual(self.pg.psql(
            "dst", "SELECT nextval('counter'), nextval('fresh'), "
            "nextval('parent_id_seq')").strip(), "4243|7|6")
        p = self.pg.run([os.path.join(svc_pg.PG_BIN, "psql"), "-X", "-h",
                         "127.0.0.1", "-p", str(self.pg.port), "-U",
                         "postgres", "-d", "dst", "-c",
                         "INSERT INTO kinds (id, parent_id) VALUES (-1, 99)"],
                        check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"violates foreign key constraint", p.stderr)
        self.assertEqual(self.pg.psql(
            "dst", "SELECT indexdef FROM pg_indexes WHERE indexname = "
            "'kinds_d_idx'").strip(),
            "CREATE INDEX kinds_d_idx ON public.kinds USING btree (d DESC, "
            "flag)")
        self.assertEqual(self.pg.psql(
            "dst", "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n "
            "ON n.oid = c.connamespace WHERE contype IN ('p', 'f', 'u') AND "
            "nspname IN ('public', 'Other Schema')").strip(), "6")
        # Verify: objects, then the tables on both databases.
        for db in ("dst", "src", None):
            out = run_job(self.verify_spec(self.store_dir, db))
            self.assertTrue(out["ok"], out)
            self.assertTrue(out["result"]["ok"])
            self.assertEqual(len(out["result"]["objects"]),
                             self.backup["objects"] - 1)
            if db:
                self.assertEqual(len(out["result"]["tables"]), 7)
                self.assertTrue(all(t["ok"] for t in out["result"]["tables"]))
            else:
                self.assertNotIn("tables", out["result"])
        # A changed row on the database is found, per table.
        self.pg.psql("dst", "UPDATE big SET payload = 'x' WHERE id = 77")
        out = run_job(self.verify_spec(self.store_dir, "dst"))
        self.assertFalse(out["ok"])
        self.assertEqual(out["code"], "corrupt")
        bad = [t for t in out["result"]["tables"] if not t["ok"]]
        self.assertEqual(bad, [{"name": "public.big", "rows_expected": 20000,
                                "rows": 20000, "ok": False,
                                "error": "table public.big: row digest "
                                "differs from the backup's"}])
        self.assertEqual(out["error"], "pg_verify: 1 problem; first: table "
                         "public.big: row digest differs from the backup's")

    def test_old_row_digest_still_verifies(self):
        # Manifests written before rowsum-xxh3-128 carry rowsum-sha256:
        # verify and restore read the algorithm from the manifest.
        out = run_job({"op": "pg_backup", "store": self.store,
                       "pg": self.pg.conninfo("src"), "prefix": "sha",
                       "row_digest": "rowsum-sha256"})
        self.assertTrue(out["ok"], out)
        old = out["result"]
        with open(os.path.join(self.store_dir, "sha", "manifest.pb"),
                  "rb") as f:
            self.assertIn(b"rowsum-sha256", f.read())
        with open(os.path.join(self.store_dir, "b1", "manifest.pb"),
                  "rb") as f:
            self.assertIn(b"rowsum-xxh3-128", f.read())
        spec = {"op": "pg_verify", "store": self.store,
                "manifest_key": "sha/manifest.pb",
                "manifest_sha256": old["manifest_sha256"],
                "pg": self.pg.conninfo("src")}
        out = run_job(spec)
        self.assertTrue(out["ok"], out)
        self.assertEqual(len(out["result"]["tables"]), 7)
        self.fresh_db("dst_sha")
        out = run_job(dict(spec, op="pg_restore",
                           pg=self.pg.conninfo("dst_sha")))
        self.assertTrue(out["ok"], out)
        self.pg.psql("dst_sha", "UPDATE big SET payload = 'x' WHERE id = 77")
        out = run_job(dict(spec, pg=self.pg.conninfo("dst_sha")))
        self.assertFalse(out["ok"], out)
        self.assertIn("public.big: row digest differs", out["error"])
        out = run_job({"op": "pg_backup", "store": self.store,
                       "pg": self.pg.conninfo("src"), "prefix": "md5",
                       "row_digest": "md5"})
        self.assertEqual((out["code"], out["error"]),
                         ("invalid_argument", 'pg_backup: "row_digest" must be '
                          'rowsum-xxh3-128 or rowsum-sha256'))
        self.assertFalse(os.path.exists(os.path.join(self.store_dir, "md5")))

    def test_non_empty_target(self):
        self.fresh_db("busy")
        self.pg.psql("busy", "CREATE TABLE keep_me (a int); "
                     "INSERT INTO keep_me VALUES (1)")
        out = run_job(self.restore_spec(self.store_dir, "busy"))
        self.assertFalse(out["ok"])
        self.assertEqual(out["code"], "conflict")
        self.assertEqual(out["error"], 'pg_restore: target database "busy" '
                         'is not empty (1 relations, e.g. public.keep_me): '
                         'restore into an empty database or pass "clean": '
                         'true')
        self.assertEqual(self.pg.psql("busy", "SELECT a FROM keep_me").strip(),
                         "1")
        # clean: true replaces what was there.
        out = run_job(self.restore_spec(self.store_dir, "busy", clean=True))
        self.assertTrue(out["ok"], out)
        self.assertEqual(self.pg.psql(
            "busy", "SELECT to_regclass('public.keep_me') IS NULL").strip(),
            "t")
        self.assertEqual(self.dump_table("src", "big"),
                         self.dump_table("busy", "big"))
        # Restoring again over it with clean works too (idempotent).
        out = run_job(self.restore_spec(self.store_dir, "busy", clean=True))
        self.assertTrue(out["ok"], out)
        out = run_job(self.verify_spec(self.store_dir, "busy"))
        self.assertTrue(out["ok"], out)

    def check_refused(self, store_dir, key, code, error):
        """verify reports the object; restore refuses and writes nothing."""
        out = run_job(self.verify_spec(store_dir))
        self.assertFalse(out["ok"], out)
        self.assertEqual(out["code"], "corrupt")
        bad = [o for o in out["result"]["objects"] if not o["ok"]]
        self.assertEqual([o["key"] for o in bad], [key])
        self.assertEqual(bad[0]["error"], error)
        self.fresh_db("victim")
        out = run_job(self.restore_spec(store_dir, "victim"))
        self.assertFalse(out["ok"], out)
        self.assertEqual(out["code"], code)
        self.assertIn(key, out["error"])
        self.assertEqual(self.user_tables("victim"), "0")
        return out

    def test_flipped_byte(self):
        for which in ("data", "pre-data", "post-data"):
            d = self.copy_backup(which)
            if which == "data":
                path = self.data_objects(d)[3]
            else:
                path = os.path.join(d, "b1", which + ".sql.zst")
            key = os.path.relpath(path, d)
            good = sha256_file(path)
            with open(path, "r+b") as f:
                f.seek(os.path.getsize(path) // 2)
                c = f.read(1)
                f.seek(-1, 1)
                f.write(bytes([c[0] ^ 0x20]))
            bad = sha256_file(path)
            out = self.check_refused(
                d, key, "corrupt", "object %s: SHA-256 mismatch (expected "
                "%s, got %s)" % (key, good, bad))
            self.assertEqual(out["error"], "pg_restore: object %s: SHA-256 "
                             "mismatch (expected %s, got %s)" % (key, good,
                                                                 bad))

    def test_missing_and_truncated(self):
        d = self.copy_backup("missing")
        path = self.data_objects(d)[0]
        key = os.path.relpath(path, d)
        os.unlink(path)
        out = self.check_refused(d, key, "corrupt",
                                 "object %s is missing from the store" % key)
        self.assertEqual(out["error"], "pg_restore: object %s is missing "
                         "from the store" % key)

        d = self.copy_backup("truncated")
        path = self.data_objects(d)[-1]
        key = os.path.relpath(path, d)
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.truncate(size - 10)
        out = self.check_refused(
            d, key, "corrupt", "object %s: %d bytes, the manifest says %d"
            % (key, size - 10, size))
        self.assertEqual(out["error"], "pg_restore: object %s: %d bytes, "
                         "the manifest says %d" % (key, size - 10, size))

    def test_bad_manifest(self):
        d = self.copy_backup("manifest")
        mpath = os.path.join(d, "b1", "manifest.pb")
        # The wrong SHA-256 for the manifest: refused before decoding.
        spec = self.verify_spec(d)
        spec["manifest_sha256"] = "0" * 64
        out = run_job(spec)
        self.assertFalse(out["ok"])
        self.assertEqual(out["code"], "corrupt")
        self.assertIn("b1/manifest.pb: SHA-256 mismatch", out["error"])
        self.assertFalse(out["result"]["ok"])
        # Bytes that match their SHA-256 but are not a manifest.
        with open(mpath, "rb") as f:
            full = f.read()
        for garbage in (b"\xff\xfe not protobuf \x00\x01",
                        full[:len(full) // 2]):
            with open(mpath, "wb") as f:
                f.write(garbage)
            sha = hashlib.sha256(garbage).hexdigest()
            for op in ("pg_verify", "pg_restore"):
                self.fresh_db("victim2")
                spec = self.restore_spec(d, "victim2", op=op,
                                         manifest_sha256=sha)
                out = run_job(spec)
                self.assertFalse(out["ok"])
                self.assertEqual(out["code"], "malformed", out)
                self.assertEqual(out["error"], "%s: b1/manifest.pb: manifest: "
                                 "not a protobuf PgManifest (%d bytes)"
                                 % (op, len(garbage)))
                self.assertEqual(self.user_tables("victim2"), "0")
        # A valid protobuf that is not a manifest (wrong magic).
        other = b"\x0a\x03abc\x10\x01"
        with open(mpath, "wb") as f:
            f.write(other)
        out = run_job(self.verify_spec(
            d, manifest_sha256=hashlib.sha256(other).hexdigest()))
        self.assertEqual(out["code"], "malformed")
        self.assertEqual(out["error"], 'pg_verify: b1/manifest.pb: manifest: '
                         'bad magic "abc"')

    def test_bad_specs(self):
        out = run_job({"op": "pg_backup", "store": self.store,
                       "prefix": "x"})
        self.assertEqual((out["code"], out["error"]),
                         ("invalid_argument", 'pg_backup: "pg" is missing'))
        out = run_job({"op": "pg_restore", "store": self.store,
                       "manifest_key": "b1/manifest.pb",
                       "manifest_sha256": self.backup["manifest_sha256"],
                       "pg": self.pg.conninfo("src"), "parallel": 0})
        self.assertEqual(out["code"], "invalid_argument")
        self.assertEqual(out["error"], 'pg_restore: "parallel" must be an '
                         'integer from 1 to 64')
        out = run_job({"op": "pg_backup", "store": self.store,
                       "pg": "host=127.0.0.1 port=1 dbname=x connect_timeout=2",
                       "prefix": "nowhere"})
        self.assertEqual(out["code"], "unavailable")
        self.assertTrue(out["error"].startswith("pg_backup: source: connect: "),
                        out)
        self.assertFalse(os.path.exists(os.path.join(self.store_dir,
                                                     "nowhere")))


class PgCrashTest(unittest.TestCase):
    """The server dies in the middle of a backup: a clear error, and no
    manifest (nothing claims success)."""

    def test_postmaster_killed_mid_copy(self):
        if not os.access(DRNODE, os.X_OK):
            self.skipTest("drnode not built at %s" % DRNODE)
        pg = svc_pg.PgServer()
        self.addCleanup(pg.stop)
        tmp = tempfile.mkdtemp(prefix="drpgcrash-")
        self.addCleanup(shutil.rmtree, tmp, True)
        pg.create_db("src")
        pg.psql("src", "CREATE TABLE huge (id int, t text); INSERT INTO huge "
                "SELECT i, repeat(md5(i::text), 12) FROM "
                "generate_series(1, 250000) i")
        spec = {"op": "pg_backup", "store": "file://" + tmp,
                "pg": pg.conninfo("src"), "prefix": "crash",
                "chunk_bytes": 512 * 1024, "parallel": 1, "zstd_level": 9}
        spec_path = os.path.join(tmp, "spec.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        with open(spec_path) as f:
            proc = subprocess.Popen([DRNODE, "--run-job"], stdin=f,
                                    stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
        data = os.path.join(tmp, "crash", "data")
        deadline = time.time() + 30
        while time.time() < deadline:
            if os.path.isdir(data) and any(f.endswith(".zst")
                                           for f in os.listdir(data)):
                break
            time.sleep(0.005)
        else:
            proc.kill()
            self.fail("backup wrote no data object")
        pg.kill()
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 1, (out, err))
        self.assertNotIn(b"Sanitizer", err)
        res = json.loads(out.decode().strip().splitlines()[-1])
        self.assertFalse(res["ok"])
        self.assertIn(res["code"], ("unavailable", "io_error"))
        self.assertTrue(res["error"].startswith("pg_backup: "), res)
        self.assertRegex(res["error"], r"COPY public\.huge|pg_dump|"
                         r"terminat|server closed|connection", res)
        self.assertNotIn("result", res)
        self.assertFalse(os.path.exists(os.path.join(tmp, "crash",
                                                     "manifest.pb")))
        # What was written is removed again.
        left = []
        for dirpath, _, files in os.walk(tmp):
            left += [f for f in files if f.endswith(".zst")]
        self.assertEqual(left, [])


if __name__ == "__main__":
    drtest.main()
