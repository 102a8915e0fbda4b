"""The WAL stream (wal.stream), end to end: one node of the primary region
streams a real PostgreSQL 15's WAL from a physical replication slot into
the region's store, the segment in progress flushed as a streamed partial
every wal.flush_ms; whole segments land where wal-push (also on, as
archive_command) puts them, and the two agree. When the streaming node is
killed another takes over from the slot. The RPO test: a commit, the
server killed -9 at once and the streaming node a second later, and a
point-in-time restore to the latest point still holds the commit.

Environment: DRNODE, DRCTL (paths to the binaries).
"""

import hashlib
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import drtest  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree clean

import drcluster  # noqa: E402
from drcluster import Cluster, wait_until  # noqa: E402
import svc_pg  # noqa: E402
import svc_s3  # noqa: E402
from drtest import run_job  # noqa: E402
from test_wal import CONF as WAL_CONF  # noqa: E402 (wal-push's config)

PARTIAL = re.compile(r"^([0-9A-F]{24})\.stream-([0-9a-f]{8})-[0-9a-f]{64}\.zst$")


class WalStreamTest(drcluster.GuardedClassSetUp, unittest.TestCase):

    @classmethod
    def start_services(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dr-walstream-it-")
        drcluster.TEMP_DIRS.add(cls.tmp)
        os.chmod(cls.tmp, 0o755)
        # PostgreSQL runs wal-push and the restores run wal-fetch as the
        # postgres user when we are root: a copy of drnode it can reach.
        cls.bin = os.path.join(cls.tmp, "drnode")
        shutil.copy2(drtest.drnode(), cls.bin)
        os.chmod(cls.bin, 0o755)
        cls.store = os.path.join(cls.tmp, "store")
        os.mkdir(cls.store)
        cls.pw = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if cls.pw is not None:
            os.chown(cls.store, cls.pw.pw_uid, cls.pw.pw_gid)
        cls.wal_conf = os.path.join(cls.tmp, "wal.conf")
        with open(cls.wal_conf, "w") as f:
            f.write(WAL_CONF.replace("region = us-east",
                                     "region = eu-west").format(
                dir=cls.tmp, store="file://" + cls.store))
        os.chmod(cls.wal_conf, 0o644)
        cls.restored = []
        drcluster.DRNODE = cls.bin
        cls.pg = svc_pg.PgServer(settings={"wal_level": "replica",
                                           "archive_mode": "on"})
        cls.pg.psql("postgres", "ALTER SYSTEM SET archive_command = "
                    "'%s wal-push --config %s %%p'; SELECT pg_reload_conf();"
                    % (cls.bin, cls.wal_conf))
        cls.pg.create_db("app")
        cls.pg.psql("app", "CREATE TABLE t (id int, note text)")
        # Three nodes of one region, each able to stream: a killed one
        # leaves a quorum and another node to take over.
        cls.c = Cluster(
            regions=("eu-west", "eu-west", "eu-west"),
            region_sections={"eu-west": {"object_store": "file://" +
                                         cls.store}},
            services={i: {"pg": cls.pg.conninfo("app")} for i in (1, 2, 3)},
            probes={i: {"interval_ms": 2000, "timeout_ms": 1500}
                    for i in (1, 2, 3)},
            name="walstream")
        cls.c.start_all()
        cls.c.wait_for_leader()
        for key, value in (("backup.pg_interval_s", "0"),
                           ("backup.redis_interval_s", "0"),
                           # The stream's own lease, short; every
                           # other job's long: a takeover within the
                           # first is the stream's setting at work.
                           ("wal.stream_lease_ms", "3000"),
                           ("jobs.lease_ms", "60000")):
            p = cls.c.drctl("settings", "set", key, value)
            assert p.returncode == 0, p

    @classmethod
    def tearDownClass(cls):
        drcluster.terminate_all(getattr(cls, "restored", []),
                                "restored server")
        if getattr(cls, "c", None) is not None:
            cls.c.cleanup()
        if getattr(cls, "pg", None) is not None:
            cls.pg.stop()

    def drctl(self, *args, timeout=180):
        p = self.c.drctl(*args, timeout=timeout)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def stream_job(self):
        """The running wal_stream job (one look at the catalog)."""
        jobs = [j for j in self.c.leader().get("/api/jobs").json["jobs"]
                if j["kind"] == "wal_stream"]
        running = [j for j in jobs if j["state"] == "running"]
        return running[0] if running else None

    def slot(self):
        return self.pg.psql("postgres", "SELECT slot_type, active FROM "
                            "pg_replication_slots WHERE slot_name = "
                            "'drnode_wal'").strip()

    def partials(self):
        """{segment: [bytes of each streamed partial]} in the store."""
        out = {}
        for root, _, files in os.walk(os.path.join(self.store, "wal")):
            for f in files:
                m = PARTIAL.match(f)
                if m:
                    out.setdefault(m.group(1), []).append(
                        int(m.group(2), 16))
        return out

    def archived(self, name):
        d = os.path.join(self.store, "wal")
        return any(f.startswith(name + "-") for _, _, fs in os.walk(d)
                   for f in fs)

    def insert_end(self):
        """The segment holding the end of the WAL written so far, and
        that end as a number."""
        seg, end = self.pg.psql(
            "app", "SELECT pg_walfile_name(pg_current_wal_lsn() - 1) || '|' "
            "|| (pg_current_wal_lsn() - '0/0'::pg_lsn)").strip().split("|")
        return seg, int(end)

    def streaming(self):
        """The job runs and the server sees our walsender on the slot."""
        j = self.stream_job()
        return j if j is not None and self.slot() == "physical|t" else None

    def test_1_streams_the_segment_in_progress_and_whole_ones(self):
        rc, out, err = self.drctl("settings", "set", "wal.flush_ms", "50")
        self.assertNotEqual(rc, 0)
        self.assertIn("wal.flush_ms", out + err)
        rc, out, err = self.drctl("--json", "backups", "run", "--kind",
                                  "pg_base", "--wait", "120")
        self.assertEqual(rc, 0, out + err)
        rc, out, err = self.drctl("settings", "set", "wal.stream", "true")
        self.assertEqual(rc, 0, out + err)
        job = wait_until(self.streaming, 30, interval=0.2,
                         what="the WAL stream to start")
        type(self).owner = job["owner"]
        self.pg.psql("app", "INSERT INTO t SELECT g, 'one' FROM "
                     "generate_series(1, 5000) g")
        seg, end = self.insert_end()
        seg_off = end % (16 << 20)
        # Within a flush or two the store holds the segment up to the
        # insert, before PostgreSQL has archived anything of it.
        wait_until(lambda: max(self.partials().get(seg, [0])) >= seg_off,
                   10, interval=0.1,
                   what="%s streamed up to offset %d" % (seg, seg_off))
        self.assertFalse(self.archived(seg))
        # The slot follows what is durable in the store.
        wait_until(lambda: int(self.pg.psql(
            "postgres", "SELECT restart_lsn - '0/0'::pg_lsn FROM "
            "pg_replication_slots WHERE slot_name = 'drnode_wal'").strip())
            >= end, 15, interval=0.2, what="the slot to reach the insert")
        # A whole segment: archived once (the stream and wal-push agree
        # on its contents), its partials gone.
        self.pg.psql("app", "SELECT pg_switch_wal()")
        wait_until(lambda: self.archived(seg) and seg not in self.partials(),
                   30, interval=0.2, what="%s archived whole" % seg)
        self.pg.psql("app", "SELECT pg_switch_wal()")
        last = self.pg.psql("app", "SELECT pg_walfile_name("
                            "pg_current_wal_lsn() - 1)").strip()
        wait_until(lambda: self.pg.psql(
            "postgres", "SELECT coalesce(last_failed_wal, '') || '|' || "
            "coalesce(last_archived_wal, '') FROM pg_stat_archiver"
        ).strip().split("|")[1] >= last, 30, interval=0.2,
            what="wal-push to archive %s beside the stream" % last)
        failed = self.pg.psql("postgres", "SELECT failed_count FROM "
                              "pg_stat_archiver").strip()
        self.assertEqual(failed, "0", self.pg.log_tail())
        # Nor did the stream stumble over what wal-push archived first.
        j = self.stream_job()
        self.assertEqual((j["attempt"], j["error"]), (1, ""), j)
        # Each node's database probe sees the slot read, little kept.
        def metrics():
            text = self.c.nodes[1].get("/metrics").body.decode()
            got = dict(re.findall(r'^(drnode_wal_stream_\w+)\{region='
                                  r'"eu-west"\} (\S+)$', text, re.M))
            return got if got.get("drnode_wal_stream_active") == "1" \
                else None
        got = wait_until(metrics, 20, interval=0.5,
                         what="drnode_wal_stream_active 1 on node 1")
        self.assertLess(int(got["drnode_wal_stream_slot_bytes"]), 16 << 20)

    def test_1b_wal_status_shows_the_archive_and_its_gaps(self):
        # The archive as drctl reads it from the region's store: one
        # timeline, no gap, ending past the last insert (streamed).
        self.pg.psql("app", "INSERT INTO t VALUES (0, 'status')")
        seg, end = self.insert_end()
        wait_until(lambda: max(self.partials().get(seg, [0])) >=
                   end % (16 << 20), 10, interval=0.1,
                   what="the insert streamed")
        rc, out, err = self.drctl("--json", "wal", "status")
        self.assertEqual(rc, 0, out + err)
        res = json.loads(out)
        self.assertEqual((res["region"], res["gaps"]), ("eu-west", 0), res)
        tl = res["systems"][0]["timelines"][-1]
        newest = tl["ranges"][-1]
        hi, lo = newest["end_lsn"].split("/")
        self.assertGreaterEqual((int(hi, 16) << 32) + int(lo, 16), end, res)
        self.assertEqual(newest["streamed"]["segment"], seg, res)
        # A copy of the archive with a segment gone: the gap is named, and
        # drctl fails.
        copy = os.path.join(self.tmp, "store-gap")
        shutil.copytree(self.store, copy)
        self.addCleanup(shutil.rmtree, copy, True)
        whole = sorted(os.path.join(r, f) for r, _, fs in
                       os.walk(os.path.join(copy, "wal"))
                       for f in fs if re.match(r"^[0-9A-F]{24}-", f))
        # The newest whole segment: the streamed partial after it is then
        # past a gap.
        self.assertGreaterEqual(len(whole), 2, whole)
        gone = os.path.basename(whole[-1])[:24]
        os.unlink(whole[-1])
        rc, out, err = self.drctl("wal", "status", "--store", "file://" + copy)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("GAP: %s .. %s missing (1 segments)" % (gone, gone), out)
        self.assertIn("1 gap in the archive", err)
        # Bad input changes nothing and says what is wrong.
        for args, msg in ((("--region", "eu-west", "--store", "file:///x"),
                           "give one"),
                          (("--segment-size", "3000000"),
                           "not a power of two"),
                          (("--region", "mars"), 'no region "mars"')):
            rc, out, err = self.drctl("wal", "status", *args)
            self.assertNotEqual(rc, 0)
            self.assertIn(msg, err)

    def test_1c_the_catalog_records_the_archive_as_ranges(self):
        # A wal_scan job reads the region's archive into the catalog: one
        # range per run of the timeline, ending past the last insert.
        rc, out, err = self.drctl("settings", "set", "wal.scan_interval_s",
                                  "2")
        self.assertEqual(rc, 0, out + err)
        self.pg.psql("app", "INSERT INTO t VALUES (0, 'catalog')")
        seg, end = self.insert_end()
        wait_until(lambda: max(self.partials().get(seg, [0])) >=
                   end % (16 << 20), 10, interval=0.1,
                   what="the insert streamed")

        def recorded():
            for r in self.c.leader().get("/api/wal").json["regions"]:
                if r["region"] != "eu-west" or not r["ranges"]:
                    continue
                hi, lo = r["ranges"][-1]["end_lsn"].split("/")
                if (int(hi, 16) << 32) + int(lo, 16) >= end:
                    return r
            return None
        rec = wait_until(recorded, 30, interval=0.3,
                         what="the catalog reaching the insert")
        self.assertEqual(rec["gaps"], 0, rec)
        self.assertEqual(rec["store"], "file://" + self.store, rec)
        self.assertGreater(rec["files"], 0, rec)
        self.assertTrue(rec["ranges"][-1]["streamed"], rec)
        self.assertEqual(rec["ranges"][-1]["sysid"], self.pg.psql(
            "postgres", "SELECT lpad(to_hex(system_identifier), 16, '0') "
            "FROM pg_control_system()").strip(), rec)
        self.assertLess(time.time() * 1000 - rec["newest_ms"], 60000, rec)
        jobs = [j for j in self.c.leader().get("/api/jobs").json["jobs"]
                if j["kind"] == "wal_scan"]
        self.assertTrue(any(j["id"] == rec["job_id"] and j["state"] == "done"
                            for j in jobs), jobs)
        rc, out, err = self.drctl("wal", "catalog")
        self.assertEqual(rc, 0, out + err)
        self.assertRegex(out, r"eu-west  file://\S+: \d+ files, newest ")
        self.assertIn("ends in a streamed partial", out)
        body = self.c.leader().get("/metrics").body.decode()
        self.assertRegex(body, r'(?m)^drnode_wal_archive_age_seconds'
                               r'\{region="eu-west"\} [0-9.]+$')
        self.assertIn('drnode_wal_archive_gaps{region="eu-west"} 0', body)
        # Back to a slow pace for the rest of the class.
        rc, out, err = self.drctl("settings", "set", "wal.scan_interval_s",
                                  "900")
        self.assertEqual(rc, 0, out + err)

    def test_2_another_node_takes_over_from_the_slot(self):
        owner = self.owner
        self.c.kill(owner)
        killed = time.monotonic()
        job = wait_until(lambda: (lambda j: j if j is not None and
                                  j["owner"] != owner and
                                  self.slot() == "physical|t" else None)(
            self.stream_job()), 40, interval=0.2,
            what="another node to stream")
        # wal.stream_lease_ms (3 s) and the back-off, not jobs.lease_ms
        # (60 s): the stream is back within seconds.
        self.assertLess(time.monotonic() - killed, 20.0)
        type(self).owner = job["owner"]
        self.assertGreaterEqual(job["attempt"], 2)
        self.c.start(owner)
        self.c.wait_for_leader()
        self.pg.psql("app", "INSERT INTO t VALUES (0, 'two')")
        seg, end = self.insert_end()
        wait_until(lambda: max(self.partials().get(seg, [0])) >=
                   end % (16 << 20), 10, interval=0.1,
                   what="the new streamer to store the insert")

    def test_3_a_standby_replays_the_segment_in_progress(self):
        """A standby of the archive (drctl restore --pitr --standby)
        replays what the stream flushed: a commit reaches it in seconds,
        not when its segment is full."""
        port = drcluster.free_ports(1)[0]
        rc, out, err = self.drctl("--json", "restore", "--pitr", "--standby",
                                  "--drnode", self.bin, "--start", "--port",
                                  str(port), "--pgdata",
                                  os.path.join(self.tmp, "r-standby"))
        self.assertEqual(rc, 0, out + err)
        res = json.loads(out)
        self.restored.append(res["result"]["pid"])
        self.pg.psql("app", "INSERT INTO t VALUES (-2, 'to the standby')")
        seg, _ = self.insert_end()

        def on_standby():
            p = self.pg.run([os.path.join(svc_pg.PG_BIN, "psql"), "-X", "-A",
                             "-t", "-h", res["result"]["pgdata"], "-p",
                             str(port), "-U", "postgres", "-d", "app", "-c",
                             "SELECT note FROM t WHERE id = -2"],
                            check=False, timeout=30)
            return p.stdout.decode().strip() == "to the standby"
        wait_until(on_standby, 30, interval=0.5,
                   what="the commit on the standby")
        self.assertFalse(self.archived(seg), "%s was archived whole: the "
                         "standby did not need the stream" % seg)
        # Promoted (timeline 2), it is streamed from in turn, as a failover
        # would: the new timeline's history first, then its WAL.
        self.pg.run([os.path.join(svc_pg.PG_BIN, "pg_ctl"), "-D",
                     res["result"]["pgdata"], "-w", "promote"], timeout=60)
        store = os.path.join(self.tmp, "store-promoted")
        os.mkdir(store)
        stream = subprocess.Popen(
            [self.bin, "--run-job"], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        stream.stdin.write(json.dumps({
            "op": "wal_stream", "store": "file://" + store,
            "pg": "host=127.0.0.1 port=%d user=postgres" % port}).encode())
        stream.stdin.close()
        try:
            def streamed():
                names = [f for _, _, fs in os.walk(store) for f in fs]
                return names if any(f.startswith("00000002.history-")
                                    for f in names) and any(
                    f.startswith("00000002") and ".stream-" in f
                    for f in names) else None
            wait_until(streamed, 30, interval=0.2,
                       what="timeline 2's history and WAL streamed")
        finally:
            stream.kill()
            stream.wait()
            err = stream.stderr.read().decode(errors="replace")
            stream.stderr.close()
        self.assertIn("timeline 2", err)
        # The history file byte for byte (its SHA-256 names the object), so
        # a wal-push of the same file later finds it already there.
        with open(os.path.join(res["result"]["pgdata"], "pg_wal",
                               "00000002.history"), "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        self.assertIn("00000002.history-%s.zst" % sha,
                      [f for _, _, fs in os.walk(store) for f in fs])
        drcluster.terminate_all([res["result"]["pid"]], "promoted standby")

    def stream_child(self, spec):
        """A WAL stream outside the cluster (what the job runs), on a
        slot of its own."""
        p = subprocess.Popen([self.bin, "--run-job"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        p.stdin.write(json.dumps(dict(spec, op="wal_stream")).encode())
        p.stdin.close()
        return p

    def test_3b_into_s3_and_into_a_store_that_is_down(self):
        s3 = svc_s3.MotoS3(bucket="wal").start()
        creds = s3.write_credentials(os.path.join(self.tmp, "s3creds"))
        down = drcluster.free_ports(1)[0]
        streams = []
        try:
            ok = self.stream_child({"store": s3.url(), "slot": "drnode_s3",
                                    "credentials_file": creds,
                                    "pg": self.pg.conninfo("app")})
            streams.append(ok)
            bad = self.stream_child({
                "store": "s3://wal?endpoint=http://127.0.0.1:%d&region="
                "us-east-1" % down, "slot": "drnode_down",
                "credentials_file": creds, "pg": self.pg.conninfo("app")})
            streams.append(bad)
            self.pg.psql("app", "INSERT INTO t VALUES (-3, 'to s3')")
            seg, end = self.insert_end()

            def in_s3():
                p = subprocess.run(
                    [os.path.join(drtest.tools(), "storetool"),
                     "--credentials", creds, s3.url(), "list", "wal/"],
                    capture_output=True, timeout=60)
                sizes = [int(m.group(1), 16) for m in re.finditer(
                    (r"/%s\.stream-([0-9a-f]{8})-" % seg).encode(),
                    p.stdout)]
                return sizes and max(sizes) >= end % (16 << 20)
            wait_until(in_s3, 20, interval=0.3, what="%s streamed into S3"
                       % seg)
            # A store that is down: the stream fails naming it, and its
            # slot keeps what it could not store.
            out = json.loads(bad.stdout.read().decode().strip()
                             .splitlines()[-1])
            bad.wait(timeout=60)
            self.assertFalse(out["ok"])
            self.assertIn("127.0.0.1:%d" % down, out["error"])
            kept = self.pg.psql("postgres", "SELECT restart_lsn <= "
                                "'%X/%X'::pg_lsn FROM pg_replication_slots "
                                "WHERE slot_name = 'drnode_down'" % (
                                    end >> 32, end & 0xffffffff)).strip()
            self.assertEqual(kept, "t")
        finally:
            for p in streams:
                p.kill()
                p.wait()
                p.stdout.close()
                p.stderr.close()
            s3.stop()
            # Nobody reads these slots again: they would keep WAL.
            wait_until(lambda: self.pg.psql(
                "postgres", "SELECT count(*) FROM pg_replication_slots "
                "WHERE slot_name IN ('drnode_s3', 'drnode_down') AND "
                "active").strip() == "0", 30, what="the test's slots idle")
            self.pg.psql("postgres", "SELECT pg_drop_replication_slot("
                         "slot_name) FROM pg_replication_slots WHERE "
                         "slot_name IN ('drnode_s3', 'drnode_down')")

    def test_3c_turned_off_its_slot_is_dropped_then_made_again(self):
        # While wal.stream is on, a stream that stops for a moment leaves
        # the slot alone (test_2); turned off, the slot would hold WAL for
        # ever: a node of the region drops it once nothing reads it.
        wait_until(self.streaming, 60, interval=0.3, what="a stream")
        rc, out, err = self.drctl("settings", "set", "wal.stream", "false")
        self.assertEqual(rc, 0, out + err)
        wait_until(lambda: self.slot() == "", 60, interval=0.5,
                   what="the slot dropped")
        self.assertTrue(any(
            "dropped the replication slot drnode_wal" in n.log_tail(200) and
            "wal.stream is off" in n.log_tail(200)
            for n in self.c.nodes.values() if n.running()))
        # Each node's next probe round sees it gone.
        wait_until(lambda: not any(
            "drnode_wal_stream_slot_bytes" in n.get("/metrics").body.decode()
            for n in self.c.nodes.values() if n.running()), 15, interval=0.5,
            what="no node reporting the slot")
        # On again: a new stream makes the slot again and goes on.
        rc, out, err = self.drctl("settings", "set", "wal.stream", "true")
        self.assertEqual(rc, 0, out + err)
        job = wait_until(self.streaming, 60, interval=0.3,
                         what="the stream again")
        type(self).owner = job["owner"]
        self.pg.psql("app", "INSERT INTO t VALUES (-4, 'after the restart')")
        seg, end = self.insert_end()
        wait_until(lambda: max(self.partials().get(seg, [0])) >=
                   end % (16 << 20) or self.archived(seg), 30, interval=0.3,
                   what="%s streamed again" % seg)

    def test_3d_a_timeline_that_ends_mid_stream_is_followed(self):
        """A stream from a standby whose server is promoted under it: the
        walsender ends timeline 1 (CopyDone), the same child answers,
        archives timeline 2's history and streams on from the switch."""
        standby = svc_pg.PgServer(start=False,
                                  settings={"archive_mode": "off"})
        self.addCleanup(standby.stop)
        standby.run([os.path.join(svc_pg.PG_BIN, "pg_basebackup"), "-D",
                     standby.data, "-R", "-X", "stream", "-c", "fast", "-h",
                     "127.0.0.1", "-p", str(self.pg.port), "-U", "postgres"],
                    timeout=120)
        standby.start()
        store = os.path.join(self.tmp, "store-tl")
        os.mkdir(store)
        p = self.stream_child({"store": "file://" + store, "slot": "drnode_tl",
                               "pg": standby.conninfo("app")})
        self.addCleanup(p.stderr.close)
        self.addCleanup(p.stdout.close)
        self.addCleanup(p.wait)
        self.addCleanup(p.kill)

        def names():
            return [f for _, _, fs in os.walk(store) for f in fs]
        self.pg.psql("app", "INSERT INTO t VALUES (-5, 'timeline 1')")
        seg1, _ = self.insert_end()
        wait_until(lambda: any(f.startswith(seg1) for f in names()), 30,
                   interval=0.2, what="%s streamed from the standby" % seg1)
        standby.run([os.path.join(svc_pg.PG_BIN, "pg_ctl"), "-D",
                     standby.data, "-w", "promote"], timeout=60)
        standby.psql("app", "INSERT INTO t VALUES (-6, 'timeline 2')")
        seg2 = standby.psql("app", "SELECT pg_walfile_name("
                            "pg_current_wal_lsn() - 1)").strip()
        self.assertTrue(seg2.startswith("00000002"), seg2)
        wait_until(lambda: any(f.startswith("00000002.history-")
                               for f in names()) and any(
            f.startswith(seg2 + ".stream-") for f in names()), 30,
            interval=0.2, what="timeline 2's history and %s streamed" % seg2)
        self.assertIsNone(p.poll(), "the stream exited instead of "
                          "following the new timeline")
        # The history file byte for byte.
        with open(os.path.join(standby.data, "pg_wal", "00000002.history"),
                  "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        self.assertIn("00000002.history-%s.zst" % sha, names())

    def test_4_rpo_a_commit_survives_the_server_and_the_streamer(self):
        self.pg.psql("app", "INSERT INTO t VALUES (-1, 'the last commit')")
        self.pg.kill()
        time.sleep(1.0)
        self.c.kill(self.owner)
        self.c.wait_for_leader()
        port = drcluster.free_ports(1)[0]
        rc, out, err = self.drctl("--json", "restore", "--pitr", "--target",
                                  "latest", "--pgdata",
                                  os.path.join(self.tmp, "r-latest"),
                                  "--drnode", self.bin, "--start", "--port",
                                  str(port))
        self.assertEqual(rc, 0, out + err)
        res = json.loads(out)
        self.restored.append(res["result"]["pid"])
        p = self.pg.run([os.path.join(svc_pg.PG_BIN, "psql"), "-X", "-A",
                         "-t", "-h", res["result"]["pgdata"], "-p",
                         str(port), "-U", "postgres", "-d", "app", "-c",
                         "SELECT note FROM t WHERE id = -1"], timeout=30)
        self.assertEqual(p.stdout.decode().strip(), "the last commit",
                         out + err)

    def fetch_dir(self, name):
        """A data directory as far as wal-fetch looks (the control file of
        test_4's restore, for the system identifier, and an empty pg_wal),
        and the restore's wal-fetch config."""
        src = os.path.join(self.tmp, "r-latest")
        pgdata = os.path.join(self.tmp, name)
        os.makedirs(os.path.join(pgdata, "global"))
        os.makedirs(os.path.join(pgdata, "pg_wal"))
        shutil.copy(os.path.join(src, "global", "pg_control"),
                    os.path.join(pgdata, "global"))
        return pgdata, os.path.join(src, "drnode-wal-fetch.conf")

    def test_6_streamed_partials_are_checked(self):
        """A corrupt streamed partial, and one with a later segment in the
        archive (a gap), are refused by wal-fetch naming the segment; what
        it refuses is never written where PostgreSQL reads."""
        pgdata, conf = self.fetch_dir("fetch-checks")
        paths = sorted(os.path.join(d, f) for d, _, fs in
                       os.walk(os.path.join(self.store, "wal")) for f in fs
                       if PARTIAL.match(f))
        self.assertTrue(paths, "no streamed partial left by test_4")
        part = paths[-1]
        seg = PARTIAL.match(os.path.basename(part)).group(1)
        out = os.path.join(self.tmp, "fetched")

        def fetch():
            return subprocess.run([self.bin, "wal-fetch", "--config", conf,
                                   seg, out], cwd=pgdata,
                                  capture_output=True, timeout=60)
        p = fetch()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"from the WAL stream", p.stderr)
        self.assertEqual(os.path.getsize(out), 16 << 20)
        os.unlink(out)
        with open(part, "rb") as f:
            good = f.read()
        try:
            # One byte flipped past zstd's header.
            with open(part, "wb") as f:
                f.write(good[:20] + bytes([good[20] ^ 0xff]) + good[21:])
            p = fetch()
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(seg.encode(), p.stderr)
            self.assertFalse(os.path.exists(out))
        finally:
            with open(part, "wb") as f:
                f.write(good)
        # The next segment in the archive: this partial is not the end.
        nxt = seg[:16] + "%08X" % (int(seg[16:], 16) + 1)
        fake = os.path.join(os.path.dirname(part), "%s.stream-00000100-%s.zst"
                            % (nxt, "0" * 64))
        with open(fake, "wb") as f:
            f.write(b"x")
        try:
            p = fetch()
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(b"a gap in the WAL", p.stderr)
            self.assertIn(nxt.encode(), p.stderr)
            self.assertFalse(os.path.exists(out))
        finally:
            os.unlink(fake)

    def test_6b_a_partial_postgresql_holds_is_not_fetched_again(self):
        """A standby at the end of the archive asks for the segment in
        progress every few seconds. PostgreSQL keeps what restore_command
        gave it as pg_wal/NAME; while that begins with the stream's
        longest partial, wal-fetch answers "nothing new" and writes
        nothing. A copy that differs, or none, is fetched again."""
        paths = sorted(os.path.join(d, f) for d, _, fs in
                       os.walk(os.path.join(self.store, "wal")) for f in fs
                       if PARTIAL.match(f))
        self.assertTrue(paths, "no streamed partial left by test_4")
        seg = PARTIAL.match(os.path.basename(paths[-1])).group(1)
        pgdata, conf = self.fetch_dir("standby-like")
        xlog = os.path.join(pgdata, "pg_wal", "RECOVERYXLOG")
        kept = os.path.join(pgdata, "pg_wal", seg)

        def fetch():
            return subprocess.run([self.bin, "wal-fetch", "--config", conf,
                                   seg, "pg_wal/RECOVERYXLOG"], cwd=pgdata,
                                  capture_output=True, timeout=60)
        p = fetch()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"from the WAL stream", p.stderr)
        os.rename(xlog, kept)  # what PostgreSQL does with a restored file
        p = fetch()
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"nothing new", p.stderr)
        self.assertIn(seg.encode(), p.stderr)
        self.assertFalse(os.path.exists(xlog))
        # One byte of PostgreSQL's copy differs: served again.
        with open(kept, "r+b") as f:
            f.seek(100)
            b = f.read(1)
            f.seek(100)
            f.write(bytes([b[0] ^ 0xff]))
        p = fetch()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(os.path.getsize(xlog), 16 << 20)
        # No copy in pg_wal: served again.
        os.unlink(kept)
        os.unlink(xlog)
        p = fetch()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"from the WAL stream", p.stderr)

    def test_5_bad_specs_are_refused(self):
        base = {"op": "wal_stream", "pg": "host=127.0.0.1 port=1",
                "store": "file://" + self.tmp}
        for extra, want in (({"slot": "Bad-Name"}, "slot"),
                            ({"flush_ms": 5}, "flush_ms"),
                            ({"copies": "file:///x"}, "copies"),
                            ({"pg": None}, "pg")):
            spec = dict(base, **extra)
            if extra.get("pg", 1) is None:
                del spec["pg"]
            out = run_job(spec)
            self.assertFalse(out["ok"])
            self.assertIn(want, out["error"])
        # A server that cannot be reached: the error says so.
        out = run_job(base)
        self.assertFalse(out["ok"])
        self.assertIn("replication connection", out["error"])


if __name__ == "__main__":
    drtest.main()
