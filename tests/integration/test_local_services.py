"""`drctl local up` with real data services: a PostgreSQL and a Redis per
region, file stores, and (when moto_server is on PATH) a local S3 endpoint.

Skipped when drctl or drnode is not built, or PostgreSQL 15 / redis-server
is not installed. Each class shares one cluster; steps run in order.
"""

import atexit
import glob
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import unittest

import drtest  # noqa: E402
import urllib.request

sys.dont_write_bytecode = True  # keep the source tree clean
import drcluster  # noqa: E402
from drcluster import pid_alive, pid_cmdline  # noqa: E402

RUN_TIMEOUT_S = 90  # bound of one drctl invocation
REGIONS = ["eu-west", "us-east"]
PG_BINDIR = "/usr/lib/postgresql/15/bin"


def have_postgres():
    return (os.access(os.path.join(PG_BINDIR, "initdb"), os.X_OK) or
            shutil.which("initdb") is not None)



def redis_ping(addr):
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"PING\r\n")
        return s.recv(64)


def conninfo_port(conninfo):
    return int(dict(kv.split("=", 1) for kv in conninfo.split())["port"])


class LocalCluster(unittest.TestCase):
    """One `drctl local up` for the class; cleanup stops it for sure."""
    up_args = ()
    regions = REGIONS
    dir = None
    env = None
    pids = {}  # pid -> program name, of every service drctl started for us
    failed = False

    @classmethod
    def setUpClass(cls):
        cls.pids = {}
        cls.dir = tempfile.mkdtemp(prefix="drnode-it-svc-")
        cls.addClassCleanup(cls.cleanup)
        atexit.register(cls.cleanup)
        cls.env = dict(os.environ)
        cls.env["DRNODE"] = drcluster.DRNODE
        cls.env.pop("DRCTL_ENDPOINTS", None)
        cls.env.pop("DRCTL_TOKEN_FILE", None)
        cls.up()

    @classmethod
    def up(cls):
        p = cls.drctl("local", "up", "--dir", cls.dir, "--regions",
                      ",".join(cls.regions), *cls.up_args)
        cls.record_pids()
        if p.returncode != 0:
            raise AssertionError("drctl local up: %r" % (p,))
        return p

    @classmethod
    def drctl(cls, *args):
        return subprocess.run([drcluster.DRCTL] + list(args), env=cls.env,
                              capture_output=True, text=True,
                              timeout=RUN_TIMEOUT_S, stdin=subprocess.DEVNULL)

    @classmethod
    def pid_files(cls):
        """(path, program) of every service pid file drctl writes."""
        out = [(os.path.join(cls.dir, "services", "s3.pid"), "moto_server")]
        for r in cls.regions:
            d = os.path.join(cls.dir, "services", r)
            out.append((os.path.join(d, "postgres.pid"), "postgres"))
            out.append((os.path.join(d, "redis.pid"), "redis-server"))
        return out

    @classmethod
    def record_pids(cls):
        for path, prog in cls.pid_files():
            try:
                with open(path) as f:
                    cls.pids[int(f.read().strip())] = prog
            except (OSError, ValueError):
                pass
        for d in os.listdir(cls.dir):
            try:
                with open(os.path.join(cls.dir, d, "drnode.pid")) as f:
                    cls.pids[int(f.read().strip())] = "drnode"
            except (OSError, ValueError):
                pass

    @classmethod
    def cleanup(cls):
        if cls.dir is None:
            return
        try:
            cls.drctl("local", "down", "--dir", cls.dir)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for pid, prog in cls.pids.items():
            if pid_alive(pid) and prog in pid_cmdline(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if cls.failed:
            for root, _, files in os.walk(cls.dir):
                for name in files:
                    if name.endswith(".log"):
                        path = os.path.join(root, name)
                        with open(path, errors="replace") as f:
                            tail = "".join(f.readlines()[-30:])
                        print("==== %s ====\n%s" % (path, tail))
        if not os.environ.get("DRCLUSTER_KEEP"):
            shutil.rmtree(cls.dir, ignore_errors=True)
        cls.dir = None

    def tearDown(self):
        result = getattr(getattr(self, "_outcome", None), "result", None)
        if result is not None and any(
                t is self for t, _ in list(result.errors) +
                list(result.failures)):
            type(self).failed = True

    def ok(self, *args):
        p = self.drctl(*args)
        self.assertEqual(p.returncode, 0, "drctl %s: %r" % (" ".join(args),
                                                           p))
        return p

    def services(self):
        with open(os.path.join(self.dir, "services.json")) as f:
            return json.load(f)

    def endpoints(self):
        with open(os.path.join(self.dir, "env")) as f:
            for line in f:
                if line.startswith("DRCTL_ENDPOINTS="):
                    return line.split("=", 1)[1].strip().strip("'\"")
        self.fail("no DRCTL_ENDPOINTS in DIR/env")

    def node_configs(self):
        """region -> text of the config of that region's node."""
        out = {}
        for d in sorted(os.listdir(self.dir)):
            conf = os.path.join(self.dir, d, "drnode.conf")
            if d.startswith("node") and os.path.exists(conf):
                with open(conf) as f:
                    text = f.read()
                region = [line.split("=", 1)[1].strip()
                          for line in text.splitlines()
                          if line.startswith("region =")][0]
                out[region] = text
        return out

    def check_configs(self):
        for d in sorted(os.listdir(self.dir)):
            conf = os.path.join(self.dir, d, "drnode.conf")
            if d.startswith("node") and os.path.exists(conf):
                p = subprocess.run([drcluster.DRNODE, "--check-config", conf],
                                   capture_output=True, text=True,
                                   timeout=30)
                self.assertEqual(p.returncode, 0, p)

    def status(self):
        return json.loads(self.ok("--json", "local", "status", "--dir",
                                  self.dir).stdout)

    def down_and_check(self):
        self.record_pids()
        running = [pid for pid in self.pids if pid_alive(pid)]
        self.assertTrue(running, self.pids)
        p = self.ok("--json", "local", "down", "--dir", self.dir)
        gone = json.loads(p.stdout)
        for pid in running:
            self.assertFalse(pid_alive(pid), "pid %d (%s) survived local "
                             "down: %r" % (pid, self.pids[pid], p))
        for path, _ in self.pid_files():
            self.assertFalse(os.path.exists(path), path)
        st = self.status()
        self.assertTrue(all(not s["running"] for s in st["services"]), st)
        return gone


@unittest.skipUnless(os.access(drcluster.DRCTL, os.X_OK),
                     "drctl not built at %s" % drcluster.DRCTL)
@unittest.skipUnless(os.access(drcluster.DRNODE, os.X_OK),
                     "drnode not built at %s" % drcluster.DRNODE)
@unittest.skipUnless(have_postgres(), "PostgreSQL 15 (initdb) not installed")
@unittest.skipUnless(shutil.which("redis-server"), "redis-server not on PATH")
class TestLocalServices(LocalCluster):

    def test_1_services_json(self):
        svc = self.services()
        dns = svc.pop("dns")
        self.assertEqual(sorted(svc), sorted(REGIONS))
        self.assertEqual((dns["name"], dns["zone"], dns["provider"]),
                         ("app.dr.local.", "dr.local.", "pdns"))
        self.assertRegex(dns["server"], r"^127\.0\.0\.1:\d+$")
        self.assertRegex(dns["api"], r"^http://127\.0\.0\.1:\d+$")
        ports = set()
        for r in REGIONS:
            self.assertEqual(set(svc[r]), {"pg", "redis", "store"}, svc)
            self.assertRegex(svc[r]["pg"],
                             r"^host=127\.0\.0\.1 port=\d+ user=postgres "
                             r"dbname=cogitator$")
            self.assertRegex(svc[r]["redis"], r"^127\.0\.0\.1:\d+$")
            self.assertEqual(svc[r]["store"], "file://%s/store/%s" %
                             (self.dir, r))
            self.assertTrue(os.path.isdir(os.path.join(self.dir, "store", r)))
            ports.add(conninfo_port(svc[r]["pg"]))
            ports.add(int(svc[r]["redis"].rsplit(":", 1)[1]))
        self.assertEqual(len(ports), 2 * len(REGIONS))  # all distinct

    def test_2_services_answer(self):
        svc = self.services()
        psql = shutil.which("psql") or os.path.join(PG_BINDIR, "psql")
        for r in REGIONS:
            with self.subTest(region=r):
                self.assertEqual(redis_ping(svc[r]["redis"]), b"+PONG\r\n")
                p = subprocess.run(
                    [psql, svc[r]["pg"], "-XtAc",
                     "SELECT current_database(), current_user"],
                    capture_output=True, text=True, timeout=30)
                self.assertEqual(p.returncode, 0, p)
                self.assertEqual(p.stdout.strip(), "cogitator|postgres")
        st = self.status()
        self.assertEqual(len(st["services"]), 2 * len(REGIONS) + 1, st)
        for s in st["services"]:
            self.assertTrue(s["running"], s)
            self.assertIn(s["service"], ("postgres", "redis", "powerdns"))
            if s["service"] != "powerdns":
                self.assertIn(s["region"], REGIONS)
        # The zone answers, with the first region's target; the cluster's
        # DNS settings point at it.
        port = svc["dns"]["server"].rsplit(":", 1)[1]
        p = subprocess.run(["dig", "+short", "+norecurse", "-p", port,
                            "@127.0.0.1", "app.dr.local", "A"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.stdout.split(), ["127.0.1.1"], p)
        st = json.loads(self.ok("--endpoints", self.endpoints(), "--json",
                                "settings", "get", "dns.servers").stdout)
        self.assertEqual(st["value"], svc["dns"]["server"])
        text = self.ok("local", "status", "--dir", self.dir).stdout
        self.assertIn("SERVICE", text)
        self.assertIn("postgres", text)

    def test_2b_wal_archived(self):
        """The primary region's PostgreSQL archives its WAL through drnode
        wal-push into its region's store, the one its nodes stream into,
        and copies it into every other region's store (wal_copies = all):
        a switched segment lands in DIR/store/R for every R, with no
        archiver failure. Every other region's PostgreSQL is a standby
        that replays its own store's copies: the rows show up there."""
        svc = self.services()
        psql = shutil.which("psql") or os.path.join(PG_BINDIR, "psql")

        def sql(region, query):
            p = subprocess.run([psql, svc[region]["pg"], "-XtAc", query],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p)
            return p.stdout.split()

        self.assertFalse(os.path.exists(os.path.join(
            self.dir, "services", REGIONS[0], "wal", "store")))
        sysid, seg = sql(REGIONS[0],
                         "CREATE TABLE IF NOT EXISTS wal_t (i int); "
                         "INSERT INTO wal_t SELECT generate_series(1, 100); "
                         "SELECT system_identifier FROM pg_control_system(); "
                         "SELECT pg_walfile_name(pg_switch_wal())")[-2:]
        for at in REGIONS:
            store = os.path.join(self.dir, "store", at, "wal",
                                 "%016x" % int(sysid))
            drcluster.wait_until(
                lambda: glob.glob(os.path.join(store, "*", seg + "-*.zst")),
                30, interval=0.2, what="%s in %s" % (seg, store))
        self.assertEqual(sql(REGIONS[0], "SELECT failed_count FROM "
                             "pg_stat_archiver"), ["0"])
        self.assertEqual(sql(REGIONS[0], "SELECT pg_is_in_recovery()"), ["f"])
        for r in REGIONS[1:]:
            with self.subTest(region=r):
                self.assertEqual(sql(r, "SELECT pg_is_in_recovery(), "
                                     "system_identifier FROM "
                                     "pg_control_system()"),
                                 ["t|" + sysid])
                drcluster.wait_until(
                    lambda: sql(r, "SELECT count(*) FROM pg_class WHERE "
                                "relname = 'wal_t'") == ["1"] and
                    sql(r, "SELECT count(*) FROM wal_t") == ["100"],
                    30, interval=0.5, what="wal_t replayed in %s" % r)
        # The catalog's scans (every 60 s here, the first at start) give
        # each DR region's lag behind the primary's archive.
        url = self.endpoints().split(",")[0] + "/metrics"
        lag = {}

        def scanned():
            body = urllib.request.urlopen(url, timeout=10).read().decode()
            lag.clear()
            lag.update(re.findall(r'(?m)^drnode_wal_replication_lag_bytes'
                                  r'\{region="([^"]+)"\} (\d+)$', body))
            return set(lag) == set(REGIONS[1:])
        drcluster.wait_until(scanned, 90, interval=1,
                             what="drnode_wal_replication_lag_bytes of "
                                  "every DR region")
        self.assertTrue(all(int(v) < 64 << 20 for v in lag.values()), lag)

    def test_3_node_configs(self):
        svc = self.services()
        confs = self.node_configs()
        self.assertEqual(sorted(confs), sorted(REGIONS))
        for r, text in confs.items():
            with self.subTest(region=r):
                self.assertIn("\n[services]\n", text)
                self.assertIn("\npg = %s\n" % svc[r]["pg"], text)
                self.assertIn("\nredis = %s\n" % svc[r]["redis"], text)
                # The stream's segments reach every region, as wal-push's.
                self.assertIn("\nwal_copies = all\n", text)
                # Each DR region's server is a standby, drilled from a
                # scratch directory.
                self.assertEqual("\npg_standby = %s\n" % svc[r]["pg"] in text,
                                 r != REGIONS[0], r)
                self.assertEqual("\ndrill_pgdata = " in text,
                                 r != REGIONS[0], r)
                for other in REGIONS:  # every region with its store
                    self.assertIn("[region.%s]" % other, text)
                    self.assertIn("object_store = %s\n" %
                                  svc[other]["store"], text)
        self.check_configs()

    def test_4_refuses_second_up(self):
        p = self.drctl("local", "up", "--dir", self.dir)
        self.assertEqual(p.returncode, 1, p)
        self.assertIn("already has running", p.stderr)

    def test_5_usage_errors(self):
        before = sorted(os.listdir(self.dir))
        other = os.path.join(self.dir, "never")
        for args, msg in (
                (("--store", "ftp"), "--store: \"ftp\" is neither file nor s3"),
                (("--store", "s3", "--regions", "a" * 61),
                 "no valid bucket name"),
                (("--probe-interval-ms", "5"), "--probe-interval-ms"),
                (("--probe-interval-ms", "soon"), "--probe-interval-ms")):
            with self.subTest(args=args):
                p = self.drctl("local", "up", "--dir", other, *args)
                self.assertEqual(p.returncode, 2, p)
                self.assertIn(msg, p.stderr)
        self.assertEqual(sorted(os.listdir(self.dir)), before)

    def test_5b_refuses_a_dir_the_postgres_user_cannot_reach(self):
        # As root, PostgreSQL runs as postgres: a --dir below a 0700
        # directory (what mktemp -d makes) is refused at once with the fix,
        # and nothing is created.
        if os.geteuid() != 0:
            self.skipTest("only root switches to the postgres user")
        parent = tempfile.mkdtemp(prefix="drnode-it-0700-")
        self.addCleanup(shutil.rmtree, parent, True)
        os.chmod(parent, 0o700)
        target = os.path.join(parent, "cluster")
        p = self.drctl("local", "up", "--dir", target)
        self.assertEqual(p.returncode, 1, p)
        self.assertIn("%s (mode 0700) keeps the postgres user" % parent,
                      p.stderr)
        self.assertIn("chmod o+x %s" % parent, p.stderr)
        self.assertEqual(os.listdir(parent), [])

    def test_5c_kill_and_start_a_region(self):
        """kill --region: every node of the region and its PostgreSQL and
        Redis go at once; start --region brings them back, data kept."""
        lost = REGIONS[1]
        svc = self.services()
        psql = shutil.which("psql") or os.path.join(PG_BINDIR, "psql")

        def query(region):
            return subprocess.run([psql, svc[region]["pg"], "-XtAc",
                                   "SELECT 1"], capture_output=True,
                                  text=True, timeout=30).returncode

        for args, code, msg in (
                (("2", "--region", lost), 2, "give either NODE or --region R"),
                ((), 2, "give either NODE or --region R"),
                (("--region", "mars"), 1, "has no node in region mars")):
            with self.subTest(args=args):
                p = self.drctl("local", "kill", "--dir", self.dir, *args)
                self.assertEqual(p.returncode, code, p)
                self.assertIn(msg, p.stderr)
        self.assertTrue(all(n["running"] for n in self.status()["nodes"]))

        p = self.ok("--json", "local", "kill", "--dir", self.dir,
                    "--region", lost)
        out = json.loads(p.stdout)
        ids = [n["id"] for n in self.status()["nodes"]
               if n["region"] == lost]
        self.assertEqual((out["nodes"], out["services_stopped"]), (ids, 2))
        st = self.status()
        for n in st["nodes"]:
            self.assertEqual(n["running"], n["region"] != lost, n)
        for s in st["services"]:
            if s["region"] in REGIONS:
                self.assertEqual(s["running"], s["region"] != lost, s)
        self.assertNotEqual(query(lost), 0)
        self.assertEqual(query(REGIONS[0]), 0)
        # A second kill finds nothing of it running.
        out = json.loads(self.ok("--json", "local", "kill", "--dir", self.dir,
                                 "--region", lost).stdout)
        self.assertEqual((out["nodes"], out["services_stopped"]), ([], 0))

        out = json.loads(self.ok("--json", "local", "start", "--dir",
                                 self.dir, "--region", lost).stdout)
        self.assertEqual(out["nodes"], ids)
        st = self.status()
        self.assertTrue(all(n["running"] for n in st["nodes"]), st)
        self.assertTrue(all(s["running"] for s in st["services"]), st)
        self.assertEqual(query(lost), 0)
        self.assertEqual(self.services(), svc)
        # Its node rejoins the cluster.
        drcluster.wait_until(
            lambda: all(n["role"] in ("leader", "follower")
                        for n in self.status()["nodes"]), 30,
            what="the region's nodes to rejoin")

    def test_6_down_then_restart(self):
        gone = self.down_and_check()
        # PostgreSQL and Redis per region, and PowerDNS.
        self.assertEqual(gone["services_stopped"], 2 * len(REGIONS) + 1, gone)
        # The data stays, and a restart serves it again.
        for r in REGIONS:
            self.assertTrue(os.path.exists(os.path.join(
                self.dir, "services", r, "pg", "PG_VERSION")))
            self.assertTrue(os.path.isdir(os.path.join(
                self.dir, "services", r, "redis")))
        svc = self.services()
        self.up()
        self.assertEqual(self.services(), svc)
        p = subprocess.run(
            [shutil.which("psql") or os.path.join(PG_BINDIR, "psql"),
             svc[REGIONS[1]]["pg"], "-XtAc", "SELECT 1"],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p)
        self.down_and_check()
        # Idempotent.
        self.ok("local", "down", "--dir", self.dir)


@unittest.skipUnless(os.access(drcluster.DRCTL, os.X_OK),
                     "drctl not built at %s" % drcluster.DRCTL)
@unittest.skipUnless(os.access(drcluster.DRNODE, os.X_OK),
                     "drnode not built at %s" % drcluster.DRNODE)
@unittest.skipUnless(shutil.which("moto_server"),
                     "moto_server (the local S3 endpoint) not on PATH: "
                     "scripts/bootstrap builds .deps/venv with it")
class TestLocalS3Store(LocalCluster):
    up_args = ("--store", "s3", "--no-services")

    def test_1_buckets(self):
        svc = self.services()
        self.assertEqual(sorted(svc), sorted(REGIONS))
        endpoint = None
        for r in REGIONS:
            one = svc[r]
            self.assertIsNone(one["pg"])
            self.assertIsNone(one["redis"])
            self.assertRegex(one["store"],
                             r"^s3://dr-%s/backups\?endpoint=http://"
                             r"127\.0\.0\.1:\d+&region=us-east-1$" % r)
            endpoint = one["store"].split("endpoint=")[1].split("&")[0]
            creds = one["store_credentials"]
            self.assertEqual(creds, os.path.join(self.dir, "s3-credentials"))
            self.assertEqual(stat.S_IMODE(os.stat(creds).st_mode), 0o600)
            with open(creds) as f:
                keys = {line.split("=")[0].strip() for line in f
                        if "=" in line and not line.startswith("#")}
            self.assertEqual(keys, {"access_key_id", "secret_access_key"})
        with urllib.request.urlopen(endpoint + "/", timeout=10) as resp:
            body = resp.read().decode()
        for r in REGIONS:
            self.assertIn("<Name>dr-%s</Name>" % r, body)
        for r, text in self.node_configs().items():
            self.assertIn("store_credentials = %s/s3-credentials\n" %
                          self.dir, text)
            self.assertNotIn("\npg = ", text)
        self.check_configs()

    def test_2_down(self):
        gone = self.down_and_check()
        self.assertEqual(gone["services_stopped"], 1, gone)


@unittest.skipUnless(os.access(drcluster.DRCTL, os.X_OK),
                     "drctl not built at %s" % drcluster.DRCTL)
@unittest.skipUnless(shutil.which("moto_server"),
                     "moto_server (the local S3 endpoint) not on PATH: "
                     "scripts/bootstrap builds .deps/venv with it")
class TestLocalS3WalCopies(LocalCluster):
    """With S3 stores each region's bucket is where its PostgreSQL
    archives, and wal-push copies every segment into the other regions'
    buckets too ([services] wal_copies = all), so a DR region can restore
    to a point in time from its own bucket."""
    up_args = ("--store", "s3")

    def test_1_segment_in_every_bucket(self):
        import boto3  # the test venv has it (scripts/test-venv)
        svc = self.services()
        conf = os.path.join(self.dir, "services", "eu-west", "wal",
                            "wal-push.conf")
        with open(conf) as f:
            text = f.read()
        self.assertIn("wal_copies = all\n", text)
        for r in REGIONS:
            self.assertIn("[region.%s]\nobject_store = %s\n" %
                          (r, svc[r]["store"]), text)
        psql = shutil.which("psql") or os.path.join(PG_BINDIR, "psql")
        p = subprocess.run(
            [psql, svc["eu-west"]["pg"], "-XtAc",
             "CREATE TABLE IF NOT EXISTS wal_t (i int); "
             "INSERT INTO wal_t SELECT generate_series(1, 100); "
             "SELECT system_identifier FROM pg_control_system(); "
             "SELECT pg_walfile_name(pg_switch_wal())"],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p)
        sysid, seg = p.stdout.split()[-2:]
        # eu-west's own segment (every server has one of that name).
        want = "backups/wal/%016x/" % int(sysid)
        endpoint = svc["eu-west"]["store"].split("endpoint=")[1].split("&")[0]
        keys = {}
        with open(svc["eu-west"]["store_credentials"]) as f:
            for line in f:
                if "=" in line and not line.startswith("#"):
                    k, v = line.split("=", 1)
                    keys[k.strip()] = v.strip()
        s3 = boto3.client("s3", endpoint_url=endpoint,
                          region_name="us-east-1",
                          aws_access_key_id=keys["access_key_id"],
                          aws_secret_access_key=keys["secret_access_key"])

        def holds(region):
            out = s3.list_objects_v2(Bucket="dr-" + region, Prefix=want)
            return any("/" + seg + "-" in o["Key"]
                       for o in out.get("Contents", []))
        for r in REGIONS:
            with self.subTest(region=r):
                drcluster.wait_until(lambda: holds(r), 30, interval=0.3,
                                     what="%s in dr-%s" % (seg, r))
        p = subprocess.run(
            [psql, svc["eu-west"]["pg"], "-XtAc",
             "SELECT failed_count FROM pg_stat_archiver"],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(p.stdout.strip(), "0", p)


if __name__ == "__main__":
    drtest.main()
