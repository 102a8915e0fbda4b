"""PostgreSQL's WAL archive in the object store: `drnode wal-push` as a
real PostgreSQL 15's archive_command and `drnode wal-fetch` as the
restore_command of a point-in-time recovery from a base backup. Restores
to a time between two batches of rows and finds exactly the rows before
it; a corrupt or missing segment stops recovery with the segment's name
instead of ending it early; a store that cannot be reached fails the
push, so PostgreSQL keeps the segment and retries.

Environment: DRNODE (path to drnode; default build/node/drnode).
"""

import glob
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import drtest  # noqa: E402
import drcluster  # noqa: E402

sys.dont_write_bytecode = True  # keep the source tree clean
import svc_pg  # noqa: E402

CONF = """[node]
id = 1
region = us-east
raft_address = 127.0.0.1:1
api_address = 127.0.0.1:2
data_dir = {dir}/node

[services]
wal_store = {store}

[member.1]
region = us-east
raft_address = 127.0.0.1:1
api_address = 127.0.0.1:2
"""


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s"
                                 % (timeout, what))
        time.sleep(0.1)


class Wal(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # PostgreSQL runs drnode as its own user (postgres when we are
        # root): the binary, its config and the store live where it can
        # reach them.
        cls.dir = tempfile.mkdtemp(prefix="drwal-")
        os.chmod(cls.dir, 0o755)
        cls.bin = os.path.join(cls.dir, "drnode")
        shutil.copy2(drtest.drnode(), cls.bin)
        os.chmod(cls.bin, 0o755)
        cls.store = os.path.join(cls.dir, "store")
        os.mkdir(cls.store)
        cls.conf = os.path.join(cls.dir, "drnode.conf")
        with open(cls.conf, "w") as f:
            f.write(CONF.format(dir=cls.dir, store="file://" + cls.store))
        os.chmod(cls.conf, 0o644)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(cls.store, pw.pw_uid, pw.pw_gid)
        cls.servers = []
        try:
            cls.pg = cls.server(settings={"wal_level": "replica",
                                          "archive_mode": "on"})
        except svc_pg.PgMissing as e:
            shutil.rmtree(cls.dir, ignore_errors=True)
            raise unittest.SkipTest(str(e))
        cls.pg.psql("postgres", "ALTER SYSTEM SET archive_command = "
                    "'%s wal-push --config %s %%p'; SELECT pg_reload_conf();"
                    % (cls.bin, cls.conf))
        cls.pg.create_db("app")
        cls.pg.psql("app", "CREATE TABLE t (id int, batch int)")
        cls.insert(1)
        # A base backup without WAL of its own: everything it needs comes
        # from the archive (pg_basebackup waits until it is archived).
        cls.base = os.path.join(cls.dir, "base")
        os.mkdir(cls.base)
        if os.geteuid() == 0:
            os.chown(cls.base, pw.pw_uid, pw.pw_gid)
        cls.pg.run([os.path.join(svc_pg.PG_BIN, "pg_basebackup"), "-h",
                    "127.0.0.1", "-p", str(cls.pg.port), "-U", "postgres",
                    "-D", os.path.join(cls.base, "data"), "-X", "none",
                    "-c", "fast"], timeout=120)
        cls.insert(2)
        # The segment batch 2 is in: needed to reach the target.
        cls.seg2 = cls.pg.psql(
            "app", "SELECT pg_walfile_name(pg_current_wal_lsn())").strip()
        time.sleep(1.1)
        cls.target = cls.pg.psql("app",
                                 "SELECT clock_timestamp()::text").strip()
        time.sleep(1.1)
        cls.insert(3)
        last = cls.pg.psql("app", "SELECT pg_walfile_name("
                           "pg_switch_wal())").strip()
        wait_for(lambda: cls.pg.psql(
            "postgres", "SELECT last_archived_wal FROM pg_stat_archiver"
        ).strip() >= last, 60, "segment %s to be archived" % last)

    @classmethod
    def server(cls, **kw):
        s = svc_pg.PgServer(**kw)
        cls.servers.append(s)
        return s

    @classmethod
    def insert(cls, batch):
        cls.pg.psql("app", "INSERT INTO t SELECT i, %d FROM "
                    "generate_series(1, 100) i" % batch)

    @classmethod
    def tearDownClass(cls):
        for s in cls.servers:
            s.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def restore(self, target, settings=None):
        """A server on a copy of the base backup, recovering from the
        archive to target: (server, started), started False when
        PostgreSQL refused to come up (its log says why)."""
        srv = self.server(start=False, settings=settings)
        subprocess.run(["cp", "-a", os.path.join(self.base, "data"),
                        srv.data], check=True)
        with open(os.path.join(srv.data, "postgresql.auto.conf"), "a") as f:
            f.write("restore_command = '%s wal-fetch --config %s %%f %%p'\n"
                    "recovery_target_time = '%s'\n"
                    "recovery_target_action = 'promote'\n"
                    % (self.bin, self.conf, target))
        open(os.path.join(srv.data, "recovery.signal"), "w").close()
        # A server that stops recovery may do so before it takes
        # connections (the start fails), right after pg_ctl saw it start
        # (its postmaster.pid is gone before start() reads it), or after
        # (hot standby answers until recovery fails): all are "not up".
        try:
            srv.start()
            wait_for(lambda: srv.psql("postgres", "SELECT "
                                      "pg_is_in_recovery()").strip() == "f",
                     60, "the promote")
        except (svc_pg.PgError, FileNotFoundError):
            return srv, False
        return srv, True

    def archived(self, name):
        found = glob.glob(os.path.join(self.store, "wal", "*", "*",
                                       name + "-*.zst"))
        self.assertEqual(len(found), 1, (name, found))
        return found[0]

    def test_1_point_in_time(self):
        srv, up = self.restore(self.target)
        self.assertTrue(up, srv.log_tail())
        rows = srv.psql("app", "SELECT batch, count(*) FROM t GROUP BY "
                        "batch ORDER BY batch").split()
        self.assertEqual(rows, ["1|100", "2|100"])
        self.assertIn("recovery stopping before commit", srv.log_tail(20000))

    def test_2_push_again_and_conflict(self):
        # PostgreSQL retries a push after a crash: the same file is fine;
        # other contents under the name are refused.
        tmp = os.path.join(self.dir, "again")
        os.mkdir(tmp)
        path = os.path.join(tmp, self.seg2)
        env_cwd = self.pg.data
        p = subprocess.run([self.bin, "wal-fetch", "--config", self.conf,
                            self.seg2, path], cwd=env_cwd,
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = subprocess.run([self.bin, "wal-push", "--config", self.conf,
                            path], cwd=env_cwd, capture_output=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"already archived", p.stderr)
        with open(path, "r+b") as f:
            f.seek(100000)
            f.write(b"\x01\x02\x03")
        p = subprocess.run([self.bin, "wal-push", "--config", self.conf,
                            path], cwd=env_cwd, capture_output=True,
                           timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"already archived with other contents", p.stderr)
        # Not a data directory: named, and a fetch failure PostgreSQL
        # treats as fatal (above 128), not as the archive's end.
        p = subprocess.run([self.bin, "wal-fetch", "--config", self.conf,
                            self.seg2, path], cwd=tmp, capture_output=True,
                           timeout=60)
        self.assertEqual(p.returncode, 255, p.stderr)
        self.assertIn(b"global/pg_control", p.stderr)

    def test_2b_bad_arguments(self):
        """Usage errors and names that are not WAL files: named, nothing
        stored or written; wal-fetch's are fatal to recovery (255)."""
        before = sorted(glob.glob(os.path.join(self.store, "**"),
                                  recursive=True))
        for argv, rc, needle in (
                (["wal-push", "--config", self.conf], 1, b"usage"),
                (["wal-push", self.conf, "x"], 1, b"usage"),
                (["wal-fetch", "--config", self.conf, "x"], 255, b"usage"),
                (["wal-push", "--config", self.conf, "pg_hba.conf"], 1,
                 b"is not the name of a WAL segment"),
                (["wal-fetch", "--config", self.conf, "../../etc/passwd",
                  "x"], 255, b"is not the name of a WAL segment")):
            p = subprocess.run([self.bin] + argv, cwd=self.pg.data,
                               capture_output=True, timeout=60)
            self.assertEqual(p.returncode, rc, (argv, p.stderr))
            self.assertIn(needle, p.stderr, argv)
        self.assertFalse(os.path.exists(os.path.join(self.pg.data, "x")))
        self.assertEqual(sorted(glob.glob(os.path.join(self.store, "**"),
                                          recursive=True)), before)

    def test_3_store_down(self):
        # Nothing listens there: the push fails and names the store.
        port = svc_pg.free_port()
        conf = os.path.join(self.dir, "down.conf")
        with open(conf, "w") as f:
            f.write(CONF.format(
                dir=self.dir, store="s3://wal?endpoint=http://127.0.0.1:%d"
                "&region=us-east-1" % port))
        seg = sorted(os.path.basename(p) for p in glob.glob(
            os.path.join(self.store, "wal", "*", "0*", "*.zst")))[0][:24]
        path = os.path.join(self.dir, seg)
        p = subprocess.run([self.bin, "wal-fetch", "--config", self.conf,
                            seg, path], cwd=self.pg.data,
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        env = dict(os.environ, AWS_ACCESS_KEY_ID="k",
                   AWS_SECRET_ACCESS_KEY="s")
        t0 = time.time()
        p = subprocess.run([self.bin, "wal-push", "--config", conf, path],
                           cwd=self.pg.data, capture_output=True,
                           timeout=120, env=env)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"127.0.0.1:%d" % port, p.stderr)
        self.assertLess(time.time() - t0, 60)
        p = subprocess.run([self.bin, "wal-fetch", "--config", conf, seg,
                            path + ".x"], cwd=self.pg.data,
                           capture_output=True, timeout=120, env=env)
        self.assertEqual(p.returncode, 255, p.stderr)

    def test_4_corrupt_segment_stops_recovery(self):
        obj = self.archived(self.seg2)
        with open(obj, "rb") as f:
            good = f.read()
        other = sorted(p for p in glob.glob(os.path.join(
            self.store, "wal", "*", "0*", "*.zst")) if p != obj)[0]
        try:
            shutil.copyfile(other, obj)  # decodes, but to other bytes
            srv, up = self.restore(self.target)
            log = srv.log_tail(20000)
            self.assertFalse(up, log)
            self.assertIn("drnode wal-fetch: %s: the archived copy is "
                          "corrupt" % self.seg2, log)
            self.assertIn("FATAL", log)
        finally:
            with open(obj, "wb") as f:
                f.write(good)

    def test_5_missing_segment_stops_recovery(self):
        obj = self.archived(self.seg2)
        moved = obj + ".away"
        os.rename(obj, moved)
        try:
            srv, up = self.restore(self.target)
            log = srv.log_tail(20000)
            self.assertFalse(up, log)
            self.assertIn("%s: not in the archive" % self.seg2, log)
            self.assertIn("recovery ended before configured recovery "
                          "target was reached", log)
        finally:
            os.rename(moved, obj)

    def probe_once(self):
        conf = os.path.join(self.dir, "probe.conf")
        with open(conf, "w") as f:
            f.write(CONF.format(dir=self.dir, store="file://" + self.store)
                    .replace("[services]\n", "[services]\npg = %s\n"
                             % self.pg.conninfo("postgres")))
        p = subprocess.run([self.bin, "--probe-once", conf],
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)["database"]

    def test_6_archiver_failing_is_seen(self):
        ok = self.probe_once()["wal_archive"]
        self.assertGreater(ok["archived"], 0, ok)
        self.assertFalse(ok["failing"], ok)
        self.assertGreaterEqual(ok["last_archived_age_s"], 0, ok)
        c = drcluster.Cluster(name="wal", regions=("us-east",),
                              primary="us-east",
                              services={1: {"pg": self.pg.conninfo(
                                  "postgres")}},
                              probes={1: {"interval_ms": 300,
                                          "timeout_ms": 250}})
        try:
            c.start_all()
            n = c.wait_for_leader()

            def metric(name):
                body = n.get("/metrics").body.decode()
                for line in body.splitlines():
                    if line.startswith(name + '{region="us-east"} '):
                        return line.split()[-1]
                return None
            drcluster.wait_until(lambda: metric(
                "drnode_pg_wal_archive_failing") == "0", 10,
                what="the archiver metrics")
            self.assertGreater(int(metric("drnode_pg_wal_archived_total")),
                               0)
            # archive_command fails (a store gone, say): seen within a
            # probe round of PostgreSQL's first failure.
            self.pg.psql("postgres", "ALTER SYSTEM SET archive_command = "
                         "'false'; SELECT pg_reload_conf();")
            self.insert(4)
            seg = self.pg.psql("app", "SELECT pg_walfile_name("
                               "pg_switch_wal())").strip()
            drcluster.wait_until(lambda: metric(
                "drnode_pg_wal_archive_failing") == "1", 30,
                what="drnode_pg_wal_archive_failing 1")
            self.assertGreater(
                int(metric("drnode_pg_wal_archive_failed_total")), 0)
            bad = self.probe_once()["wal_archive"]
            self.assertTrue(bad["failing"], bad)
            self.assertEqual(bad["last_failed_wal"], seg)
        finally:
            self.pg.psql("postgres", "ALTER SYSTEM SET archive_command = "
                         "'%s wal-push --config %s %%p'; "
                         "SELECT pg_reload_conf();" % (self.bin, self.conf))
            c.cleanup()
        # Archiving resumes: the segment is in the store.
        wait_for(lambda: glob.glob(os.path.join(
            self.store, "wal", "*", "*", seg + "-*.zst")), 90,
            "%s archived after the failures" % seg)

    def test_7_timeline_switch(self):
        """A server recovered and promoted (timeline 2) archives into the
        same store with the same archive_command (in the base backup's
        postgresql.auto.conf): its history file and its own segments,
        from the one it branched in on. A recovery to a time on
        timeline 2 follows the history: the rows up to the branch and
        those written after it, not the old timeline's later ones."""
        srv, up = self.restore(self.target, settings={
            "wal_level": "replica", "archive_mode": "on"})
        self.assertTrue(up, srv.log_tail())
        srv.psql("app", "INSERT INTO t SELECT i, 5 FROM "
                 "generate_series(1, 100) i")
        time.sleep(1.1)
        target2 = srv.psql("app", "SELECT clock_timestamp()::text").strip()
        time.sleep(1.1)
        srv.psql("app", "INSERT INTO t SELECT i, 6 FROM "
                 "generate_series(1, 100) i")
        last = srv.psql("app", "SELECT pg_walfile_name(pg_switch_wal())"
                        ).strip()
        self.assertTrue(last.startswith("00000002"), last)
        wait_for(lambda: srv.psql(
            "postgres", "SELECT last_archived_wal FROM pg_stat_archiver"
        ).strip() >= last, 60, "timeline 2 segment %s archived" % last)
        self.archived("00000002.history")
        # Its first segment starts with a page of timeline 1 (a copy of
        # the branch segment's start): accepted by the header check.
        first = "00000002" + self.seg2[8:]
        self.archived(first)
        self.assertEqual(srv.psql("postgres", "SELECT failed_count FROM "
                                  "pg_stat_archiver").strip(), "0")
        srv.stop()
        again, up = self.restore(target2)
        self.assertTrue(up, again.log_tail())
        rows = again.psql("app", "SELECT batch, count(*) FROM t GROUP BY "
                          "batch ORDER BY batch").split()
        self.assertEqual(rows, ["1|100", "2|100", "5|100"])
        self.assertEqual(again.psql("postgres", "SELECT timeline_id FROM "
                                    "pg_control_checkpoint()").strip(), "3")


if __name__ == "__main__":
    drtest.main()
