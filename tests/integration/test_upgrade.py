"""Upgrades: a data directory written by the previous release (drnode 0.1,
libraft 0.15: LZ4 snapshots, log segments) opens under this build with its
state intact, and drctl version names what each member runs."""

import json
import os
import re
import shutil
import subprocess
import tarfile
import time
import unittest

import drtest  # noqa: E402

import drcluster

DATA = os.path.join(drcluster.ROOT, "tests", "data",
                    "drnode-0.1-libraft-0.15-datadir.tar.gz")
# The previous release (0.2, FSM entry version 2, libraft 0.22.1): a
# catalog with a verified backup, its job and breaker counters, written by
# tests/upgrade/make_old_datadir.py --catalog at commit 92ad84e.
DATA_CATALOG = os.path.join(drcluster.ROOT, "tests", "data",
                            "drnode-0.2-fsm2-catalog-datadir.tar.gz")
STATE_PATHS = ("/api/regions", "/api/settings", "/api/site")
CATALOG_PATHS = ("/api/backups", "/api/jobs", "/api/breakers")


class UpgradeTest(drcluster.ClusterTestCase):
    maxDiff = None

    def unpack_old(self, c, data=DATA):
        """Put the old release's data dir in place of node 1's."""
        work = os.path.join(c.base, "old")
        with tarfile.open(data) as t:
            t.extractall(work)
        with open(os.path.join(work, "expected.json")) as f:
            expected = json.load(f)
        # Defaults changed since: the old cluster keeps its stored value.
        for st in expected["/api/settings"]["settings"]:
            if st["key"] in self.CHANGED_DEFAULTS:
                st["default"] = self.CHANGED_DEFAULTS[st["key"]]
            st.pop("description", None)
        n = c.node(1)
        shutil.rmtree(n.data_dir, ignore_errors=True)
        shutil.copytree(os.path.join(work, "data"), n.data_dir)
        os.remove(os.path.join(n.data_dir, "drnode.lock"))
        return n, expected, sorted(os.listdir(os.path.join(work, "data")))

    def wait_leading(self, n):
        """The old state names the old API address for member 1, so wait
        for the node's own word rather than an agreed leader address."""
        drcluster.wait_until(
            lambda: n.status()["role"] == "leader" and
            n.status()["initialized"], drcluster.ELECTION_WAIT_S,
            what="node %d to lead" % n.id)

    # Settings added since the archive was written: they appear with
    # their defaults next to the old ones.
    NEW_SETTINGS = {"replication.bandwidth_bps", "replication.max_concurrent",
                    "replication.min_copies", "replication.retry_s",
                    "replication.targets", "dns.api_url", "dns.name",
                    "dns.server_id", "dns.servers", "dns.ttl", "dns.zone",
                    "failover.notify_urls", "failover.on_degraded",
                    "failover.practice_name", "drill.failover_interval_h",
                    "dns.provider", "dns.update_server", "dns.zone_id",
                    "redis.method", "backup.pg_base_interval_s",
                    "wal.pitr_window_h", "failover.max_standby_lag_s",
                    "wal.stream", "wal.flush_ms", "wal.stream_lease_ms",
                    "wal.scan_interval_s"}

    CHANGED_DEFAULTS = {"fence.timeout_ms": 5000, "failover.mode": "auto",
                        "backup.pg_interval_s": 300}

    def state(self, n, paths=STATE_PATHS):
        out = {}
        for p in paths:
            r = n.get(p)
            self.assertEqual(r.status, 200, r)
            out[p] = r.json
        # Descriptions are the binary's text, not the cluster's state.
        for s in out["/api/settings"]["settings"]:
            s.pop("description", None)
        # Regions gained endpoints (entry version 4): none in old data.
        for r in out["/api/regions"]["regions"]:
            self.assertEqual(r.pop("endpoints"), [], r)
        settings = out["/api/settings"]["settings"]
        added = {s["key"] for s in settings} & self.NEW_SETTINGS
        self.assertEqual(added, self.NEW_SETTINGS)
        for s in settings:
            if s["key"] in added:
                self.assertEqual(s["value"], s["default"], s)
        out["/api/settings"]["settings"] = [
            s for s in settings if s["key"] not in added]
        return out

    def test_old_data_dir_opens_with_its_state(self):
        c = self.new_cluster(regions=("eu-west",),
                             raft={"snapshot_threshold": 16,
                                   "snapshot_trailing": 4})
        n, expected, old_files = self.unpack_old(c)
        # What this archive must exercise: an LZ4 snapshot and segments.
        snaps = [f for f in old_files if re.match(r"snapshot-\d+-\d+-\d+$", f)]
        self.assertTrue(snaps, old_files)
        with open(os.path.join(n.data_dir, snaps[-1]), "rb") as f:
            self.assertEqual(f.read(4), b"\x04\x22\x4d\x18")  # LZ4 frame
        self.assertTrue(any(re.match(r"\d{16}-\d{16}$", f)
                            for f in old_files), old_files)

        c.start(1)
        self.wait_leading(n)
        self.assertEqual(self.state(n), expected)
        # The default became auto; a cluster created before keeps manual.
        mode = n.get("/api/settings/failover.mode").json
        self.assertEqual((mode["value"], mode["default"]), ("manual", "auto"))

        # The log goes on: writes, a snapshot of the new library (not
        # compressed), and a restart that reads both.
        for k in range(40):
            r = n.write("PUT", "/api/settings/rpo.redis_s", {"value": 10 + k})
            self.assertEqual(r.status, 200, r)
        after = self.state(n)
        self.assertEqual(after["/api/site"], expected["/api/site"])
        self.assertEqual(after["/api/regions"], expected["/api/regions"])
        new_snaps = [f for f in os.listdir(n.data_dir)
                     if re.match(r"snapshot-\d+-\d+-\d+$", f)
                     and f not in old_files]
        self.assertTrue(new_snaps, os.listdir(n.data_dir))
        with open(os.path.join(n.data_dir, sorted(new_snaps)[-1]), "rb") as f:
            self.assertNotEqual(f.read(4), b"\x04\x22\x4d\x18")
        self.assertEqual(c.stop(1), 0)
        c.start(1)
        self.wait_leading(n)
        self.assertEqual(self.state(n), after)

    def test_previous_release_catalog_decodes_and_replays(self):
        """Snapshot and log entries of entry version 2 decode and replay
        to the state the old node answered; what this release added
        appears with the values an old record means."""
        c = self.new_cluster(regions=("eu-west",))
        n, expected, old_files = self.unpack_old(c, DATA_CATALOG)
        self.assertTrue(any(re.match(r"snapshot-\d+-\d+-\d+$", f)
                            for f in old_files), old_files)
        self.assertTrue(any(re.match(r"\d{16}-\d{16}$", f)
                            for f in old_files), old_files)
        c.start(1)
        self.wait_leading(n)
        got = self.state(n, STATE_PATHS + CATALOG_PATHS)
        # A backup of entry version 2 has one copy: its origin's, verified
        # when the backup was.
        old_b = expected["/api/backups"]["backups"]
        self.assertEqual(len(old_b), 1, old_b)
        for b in got["/api/backups"]["backups"]:
            copies = b.pop("copies")
            ob = next(x for x in old_b if x["id"] == b["id"])
            self.assertEqual(len(copies), 1, copies)
            self.assertEqual(copies[0]["region"], ob["origin_region"])
            self.assertEqual(copies[0]["store"], ob["store"])
            self.assertEqual(copies[0]["state"], "verified")
            self.assertEqual(copies[0]["verified_ms"], ob["verified_ms"])
            # One region with a store: one verified copy makes it safe.
            self.assertEqual((b.pop("min_copies"), b.pop("safe")), (1, True))
        for p in expected:
            self.assertEqual(got[p], expected[p], p)
        # Nothing started by itself but the WAL catalog's first scan of
        # each region with a store (new in this release, on by default):
        # the schedules were off in the old state, and no region is owed a
        # copy.
        time.sleep(2)
        jobs = n.get("/api/jobs").json["jobs"]
        scans = [j for j in jobs if j["kind"] == "wal_scan"]
        self.assertEqual({j["region"] for j in scans}, {"eu-west"}, scans)
        self.assertEqual({"jobs": [j for j in jobs if j["kind"] != "wal_scan"]},
                         expected["/api/jobs"])

    def test_drnode_version(self):
        out = subprocess.run([drcluster.DRNODE, "--version"],
                             capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout.strip(),
                         r"^drnode \d+\.\d+\.\d+ \(libraft 0\.22\.1, "
                         r"libuv \d+\.\d+\.\d+\)$")

    def test_drctl_version_names_every_member(self):
        c = self.new_cluster()
        c.start_all()
        c.wait_for_leader()
        r = c.drctl("version", "--json")
        r.stdout, r.stderr = r.stdout.decode(), r.stderr.decode()
        self.assertEqual(r.returncode, 0, r.stderr)
        got = json.loads(r.stdout)
        self.assertRegex(got["drctl"], r"^\d+\.\d+\.\d+$")
        self.assertEqual(sorted(x["id"] for x in got["nodes"]), [1, 2, 3])
        for x in got["nodes"]:
            self.assertEqual(x["libraft"], "0.22.1", x)
            self.assertEqual(x["version"], got["drctl"], x)
        r = c.drctl("version")
        r.stdout, r.stderr = r.stdout.decode(), r.stderr.decode()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(re.findall(r"libraft 0\.22\.1", r.stdout)), 3,
                         r.stdout)

        # A member that does not answer is named, and the exit code says so.
        c.kill(3)
        r = c.drctl("version", nodes=[c.node(1), c.node(2)])
        r.stdout, r.stderr = r.stdout.decode(), r.stderr.decode()
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"node 3 \(127\.0\.0\.1:\d+\): no answer")
        self.assertIn("1 of 3 members did not answer", r.stderr)


if __name__ == "__main__":
    drtest.main()
