"""End to end: losing the primary data center.

eu-west (primary: nodes 1-2, its own PostgreSQL and Redis), us-east (the DR
site: nodes 3-4, its own PostgreSQL and Redis), ap-south (node 5), a file
store per region, a real PowerDNS for the zone, a webhook receiver.
Backups are copied to us-east; then the whole of eu-west dies (nodes and
services). The cluster detects it, waits out the old site's fence
deadline, restores the DR site's live databases from its own copies,
checks them against the manifests, points the service name at us-east's
targets (confirmed by querying the authoritative server), notifies the
webhook, and records RTO and RPO. A corrupt DR copy blocks the runbook
before DNS; manual mode waits for an operator."""

import base64
import http.server
import json
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest

import drtest  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import drcluster  # noqa: E402
import svc_knot  # noqa: E402
import svc_pdns  # noqa: E402
import svc_imds  # noqa: E402
import svc_s3  # noqa: E402
from drcluster import Cluster, wait_until  # noqa: E402
import svc_pg  # noqa: E402
from svc_pg import PgServer  # noqa: E402
from svc_redis import RedisServer  # noqa: E402

ZONE = "dr.test."
NAME = "app.dr.test."
TARGETS = {"eu-west": ["127.0.0.11"], "us-east": ["127.0.0.12", "127.0.0.13"],
           "ap-south": ["127.0.0.14"]}


class Hooks(http.server.BaseHTTPRequestHandler):
    events = []
    fail_first = 0  # answer 503 to that many events first

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        Hooks.events.append(json.loads(self.rfile.read(n)))
        self.send_response(503 if len(Hooks.events) <= Hooks.fail_first
                           else 204)
        self.end_headers()

    def log_message(self, *args):
        pass


@unittest.skipIf(svc_pdns.available() is not None, svc_pdns.available())
class FailoverTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dr-failover-it-")
        drcluster.TEMP_DIRS.add(self.tmp)
        self.pg = {r: PgServer(clone=True) for r in ("eu-west", "us-east")}
        for p in self.pg.values():
            p.create_db("app")
        self.redis = {r: RedisServer() for r in ("eu-west", "us-east")}
        for r in self.redis.values():
            r.start()
        self.dns = svc_pdns.PowerDns(ZONE).start()
        self.dns.set(NAME, "A", TARGETS["eu-west"])
        Hooks.events = []
        Hooks.fail_first = 0
        self.hooks = http.server.HTTPServer(("127.0.0.1", 0), Hooks)
        threading.Thread(target=self.hooks.serve_forever, daemon=True).start()
        self.fence_log = os.path.join(self.tmp, "fenced")
        self.activate_log = os.path.join(self.tmp, "activated")
        self.unfence_log = os.path.join(self.tmp, "unfenced")
        # While this file exists every fence hook fails (exit 3).
        self.fence_fails = os.path.join(self.tmp, "fence-fails")
        # While this file exists the next activate hook takes it, hangs
        # 20 s and fails (exit 4) without writing its line.
        self.activate_hangs = os.path.join(self.tmp, "activate-hangs")
        # Every node holds the TSIG key of the RFC 2136 test's Knot server.
        self.tsig_secret = base64.b64encode(os.urandom(32)).decode()
        self.tsig_file = os.path.join(self.tmp, "tsig.key")
        with open(self.tsig_file, "w") as f:
            f.write("hmac-sha256:drnode-key.:%s\n" % self.tsig_secret)
        os.chmod(self.tsig_file, 0o600)
        # ... and AWS credentials for the Route 53 test's moto (which that
        # test runs without signature checks: test_dns_route53.py checks
        # them; here the cluster's wiring is under test).
        self.aws_file = os.path.join(self.tmp, "aws.creds")
        with open(self.aws_file, "w") as f:
            f.write("access_key_id = AKIADRNODETEST000001\n"
                    "secret_access_key = %s\n"
                    % base64.b64encode(os.urandom(30)).decode())
        os.chmod(self.aws_file, 0o600)
        stores = {}
        for r in TARGETS:
            stores[r] = os.path.join(self.tmp, "store-" + r)
            os.mkdir(stores[r])
        services = {}
        for nid, r in ((1, "eu-west"), (2, "eu-west"), (3, "us-east"),
                       (4, "us-east")):
            services[nid] = {"pg": self.pg[r].conninfo("app"),
                             "redis": self.redis[r].address}
        self.c = Cluster(
            regions=("eu-west", "eu-west", "us-east", "us-east", "ap-south"),
            region_sections={
                r: {"object_store": "file://" + stores[r],
                    "dns_targets": ",".join(TARGETS[r]),
                    "priority": {"eu-west": 10, "us-east": 5,
                                 "ap-south": 1}[r]}
                for r in TARGETS},
            services=services, name="failover")
        activate = os.path.join(self.tmp, "activate.sh")
        with open(activate, "w") as f:
            # What a hook prints never reaches the job's result (stdout).
            f.write("echo activating $DR_REGION\n"
                    "if [ -f {0} ]; then rm -f {0}; sleep 20; exit 4; fi\n"
                    "echo $DR_EPOCH $DR_REGION >> {1}\n".format(
                        self.activate_hangs, self.activate_log))
        for n in self.c.nodes.values():
            n.extra_sections = {
                "hooks": {"fence": "test ! -f %s || exit 3; sleep 1; "
                          "echo $DR_EPOCH $DR_REGION >> %s"
                          % (self.fence_fails, self.fence_log),
                          "activate": "sh " + activate,
                          "unfence": "echo $DR_EPOCH $DR_REGION >> %s"
                          % self.unfence_log},
                "dns": {"api_key_file": self.dns.key_file,
                        "tsig_key_file": self.tsig_file,
                        "aws_credentials_file": self.aws_file}}
        self.c.start_all()
        self.c.wait_for_leader()
        for k, v in (("backup.pg_interval_s", 0),
                     ("backup.redis_interval_s", 0),
                     ("drill.restore_interval_h", 0),
                     # No scheduled failover drill either: it would start
                     # as soon as a test sets failover.practice_name.
                     ("drill.failover_interval_h", 0),
                     ("dns.api_url", self.dns.api_url),
                     ("dns.zone", ZONE), ("dns.name", NAME),
                     ("dns.servers", self.dns.server), ("dns.ttl", 5),
                     ("failover.notify_urls",
                      "http://127.0.0.1:%d/hook" % self.hooks.server_port),
                     ("failover.detection_window_ms", 3000),
                     ("fence.timeout_ms", 2000)):
            self.set(k, v)
        # Each data center's public endpoints: its PostgreSQL and Redis.
        for r in ("eu-west", "us-east"):
            self.set_endpoints(r, self.endpoints(r))

    def endpoints(self, region):
        return ["tcp://127.0.0.1:%d" % self.pg[region].port,
                "redis://" + self.redis[region].address]

    def set_endpoints(self, region, endpoints):
        r = self.c.leader().write("PUT", "/api/regions/" + region,
                                  {"endpoints": endpoints})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json["endpoints"], endpoints)

    def tearDown(self):
        self.c.cleanup(failed=self._failed())
        self.hooks.shutdown()
        self.hooks.server_close()
        self.dns.stop()
        for p in self.pg.values():
            p.stop()
        for r in self.redis.values():
            r.stop()

    def _failed(self):
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        return bool(result and (result.errors or result.failures))

    def fenced(self, path=None):
        """What the fence hooks wrote: "EPOCH REGION" lines."""
        try:
            with open(path or self.fence_log) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def set(self, key, value):
        r = self.c.leader().write("PUT", "/api/settings/" + key,
                                  {"value": value})
        self.assertEqual(r.status, 200, r.body)

    def drctl(self, *args, check=True, nodes=None):
        return self.c.drctl_checked(self, *args, check=check, nodes=nodes)

    def load_and_back_up(self):
        self.pg["eu-west"].psql("app", """
            CREATE TABLE agents (id serial PRIMARY KEY, name text);
            INSERT INTO agents (name)
              SELECT 'agent-' || g FROM generate_series(1, 4000) g;""")
        rc = self.redis["eu-west"].client()
        rc.pipeline([("SET", "session:%d" % i, "v%d" % i)
                     for i in range(300)])
        rc.close()
        ids = []
        for kind in ("pg", "redis"):
            p = self.drctl("--json", "backups", "run", "--kind", kind)
            ids.append(json.loads(p.stdout)["id"])

        def copied():
            for bid in ids:
                b = self.c.leader().get("/api/backups/" + bid).json
                if not any(c["region"] == "us-east" and
                           c["state"] == "verified" for c in b["copies"]):
                    return False
            return True
        wait_until(copied, 90, interval=0.2, what="copies in us-east")
        return ids

    def us_east_standby(self):
        """A streaming standby of eu-west's database, made us-east's pg and
        pg_standby (its nodes restarted with it), as drctl local up makes
        them."""
        standby = PgServer(start=False)
        self.addCleanup(standby.stop)
        standby.run([os.path.join(svc_pg.PG_BIN, "pg_basebackup"), "-D",
                     standby.data, "-R", "-X", "stream", "-c", "fast", "-h",
                     "127.0.0.1", "-p", str(self.pg["eu-west"].port), "-U",
                     "postgres"])
        standby.start()
        for nid in (3, 4):
            self.c.stop(nid)
            self.c.services[nid] = {"pg": standby.conninfo("app"),
                                    "pg_standby": standby.conninfo("app"),
                                    "redis": self.redis["us-east"].address}
            self.c.write_config(self.c.nodes[nid])
            self.c.restart(nid)
        self.c.wait_for_leader()
        return standby

    def lose_eu_west(self):
        t = time.time()
        for nid in (1, 2):
            self.c.kill(nid)
        self.pg["eu-west"].kill()
        self.redis["eu-west"].stop()
        return t

    def runbook(self, nodes=(3, 4, 5)):
        for nid in nodes:
            try:
                r = self.c.node(nid).get("/api/failover", stale=True)
                if r.status == 200:
                    return r.json
            except OSError:
                continue
        return {}

    def wait_state(self, state, timeout=120):
        try:
            return wait_until(
                lambda: self.runbook().get("state") == state and
                self.runbook(), timeout, interval=0.2,
                what="runbook %s" % state)
        except AssertionError:
            print(json.dumps(self.runbook(), indent=1), file=sys.stderr)
            for nid in (3, 4, 5):
                print(self.c.node(nid).log_tail(30), file=sys.stderr)
            raise

    def test_region_loss_fails_over_to_dr_site(self):
        pg_id, redis_id = self.load_and_back_up()
        Hooks.fail_first = 2
        self.set("failover.mode", "auto")
        epoch0 = self.c.leader().get("/api/site").json["epoch"]
        killed = self.lose_eu_west()
        rb = self.wait_state("complete")
        done = time.time()
        # The DR site is primary in the next epoch.
        site = self.c.leader().get("/api/site").json
        self.assertEqual(site["primary_region"], "us-east")
        self.assertEqual(site["epoch"], epoch0 + 1)
        self.assertEqual(site["state"], "active")
        self.assertEqual((rb["from_region"], rb["to_region"]),
                         ("eu-west", "us-east"))
        self.assertEqual(rb["pg_backup"], pg_id)
        self.assertEqual(rb["redis_backup"], redis_id)
        self.assertIn("region eu-west lost", rb["reason"])
        steps = [s["step"] for s in rb["steps"]]
        self.assertEqual(steps, ["decide", "fence", "restore", "verify",
                                 "activate", "dns", "notify", "complete"])
        at = {s["step"]: s["at_ms"] for s in rb["steps"]}
        # Nothing restored before the old site's fence deadline.
        self.assertGreaterEqual(at["restore"], rb["fence_deadline_ms"])
        # RTO and RPO recorded, and plausible.
        self.assertGreater(rb["rto_ms"], 0)
        self.assertLessEqual(rb["rto_ms"], (done - killed) * 1000 + 5000)
        self.assertGreater(rb["rpo_ms"], 0)
        # The zone answers with the DR targets, with the epoch beside them.
        self.assertEqual(self.dns.query(NAME), sorted(TARGETS["us-east"]))
        txt = " ".join(self.dns.query(NAME, "TXT"))
        self.assertIn("dr-epoch=%d" % (epoch0 + 1), txt)
        # The DR databases hold exactly the backed-up data.
        n = self.pg["us-east"].psql("app", "SELECT count(*) FROM agents")
        self.assertEqual(n.strip(), "4000")
        rc = self.redis["us-east"].client()
        self.assertEqual(rc.command("DBSIZE"), 300)
        self.assertEqual(rc.command("GET", "session:7"), b"v7")
        rc.close()
        detail = json.loads(rb["detail"])
        self.assertTrue(detail["ok"])
        # The activate hook ran once in us-east; the webhook got the event.
        with open(self.activate_log) as f:
            self.assertEqual(f.read().split(), [str(epoch0 + 1), "us-east"])
        # It answered 503 twice: the event came three times, one id.
        self.assertEqual(len(Hooks.events), 3)
        self.assertEqual([e["attempt"] for e in Hooks.events], [1, 2, 3])
        self.assertEqual({e["id"] for e in Hooks.events},
                         {"failover-%d" % (epoch0 + 1)})
        self.assertEqual(Hooks.events[0]["to_region"], "us-east")
        self.assertEqual(Hooks.events[0]["epoch"], epoch0 + 1)
        m = self.c.leader().get("/metrics").body.decode()
        self.assertIn('drnode_failover_webhooks_total{result="delivered"} 1',
                      m)
        # The history says it, with RTO and RPO.
        hist = self.c.leader().get("/api/history").json["history"]
        done_ev = [h for h in hist if h["action"] == "failover-complete"]
        self.assertEqual(len(done_ev), 1)
        self.assertIn("RTO", done_ev[0]["detail"])
        out = self.drctl("failover", "status", nodes=[self.c.node(3)])
        self.assertIn(b"complete", out.stdout)
        self.assertIn(b"eu-west -> us-east", out.stdout)
        self.assertIn(b"\npostgresql     the backup restored\n", out.stdout)
        # Each step with what it took, restore, verify and activate apart.
        took = dict(re.findall(rb"^  (\w+) +\S+   took (\d+\.\d) s$",
                               out.stdout, re.M))
        for step in (b"decide", b"fence", b"restore", b"verify",
                     b"activate", b"dns", b"notify"):
            self.assertIn(step, took, out.stdout)

    def test_region_loss_promotes_the_dr_standby(self):
        """us-east's database is a standby of eu-west's, named by its
        nodes' [services] pg_standby (and pg): the runbook promotes it
        instead of restoring the backup, so rows written after the last
        backup survive, and the RPO counts from its last replayed commit.
        Redis is restored from its backup as before."""
        pg_id, redis_id = self.load_and_back_up()
        backup_ms = self.c.leader().get("/api/backups/" + pg_id).json[
            "snapshot_ms"]
        primary = self.pg["eu-west"]
        standby = self.us_east_standby()
        # Written after the last backup: only the standby has these.
        primary.psql("app", "INSERT INTO agents (name) SELECT 'late-' || g "
                     "FROM generate_series(1, 500) g")
        wait_until(lambda: standby.psql(
            "app", "SELECT count(*) FROM agents").strip() == "4500", 30,
            interval=0.2, what="the late rows on the standby")
        self.lose_eu_west()
        rb = self.wait_state("complete")
        detail = json.loads(rb["detail"])
        self.assertTrue(detail["ok"], detail)
        self.assertEqual(detail["pg_path"], "promote")
        self.assertTrue(detail["standby"]["promoted"])
        self.assertLessEqual(detail["standby"]["lag_s"], 300)
        self.assertNotIn("restore", detail.get("pg", {}))
        self.assertEqual(standby.psql(
            "app", "SELECT pg_is_in_recovery()").strip(), "f")
        self.assertEqual(standby.psql(
            "app", "SELECT count(*) FROM agents").strip(), "4500")
        rc = self.redis["us-east"].client()
        self.assertEqual(rc.command("DBSIZE"), 300)
        rc.close()
        # The RPO counts from the standby's last commit, not PostgreSQL's
        # backup (Redis's data still reaches only its own backup: the
        # older of the two is the restore point).
        redis_ms = self.c.leader().get("/api/backups/" + redis_id).json[
            "snapshot_ms"]
        self.assertGreater(detail["standby"]["replayed_to_ms"], backup_ms)
        self.assertEqual(rb["restore_point_ms"],
                         min(detail["standby"]["replayed_to_ms"], redis_ms))
        self.assertGreater(rb["restore_point_ms"], backup_ms)
        self.assertEqual(rb["rpo_ms"],
                         rb["loss_ms"] - rb["restore_point_ms"])
        self.assertEqual(self.dns.query(NAME), sorted(TARGETS["us-east"]))
        out = self.drctl("failover", "status", nodes=[self.c.node(3)])
        self.assertIn(b"postgresql     the DR standby promoted (replayed to ",
                      out.stdout)

    def test_old_region_returns_and_fails_back(self):
        """eu-west comes back after the failover: its nodes learn the new
        epoch and fence themselves, never publish DNS; the failback is a
        switchover home: us-east is fenced, backed up a last time, and
        everything written in us-east up to its fence reaches eu-west
        (RPO 0)."""
        self.load_and_back_up()
        self.set("failover.mode", "auto")
        epoch0 = self.c.leader().get("/api/site").json["epoch"]
        self.lose_eu_west()
        self.wait_state("complete")
        self.set("failover.mode", "manual")
        # The data center returns: its databases (PostgreSQL with what it
        # had, Redis empty), then its coordinators.
        self.pg["eu-west"].start()
        self.redis["eu-west"].start()
        for nid in (1, 2):
            self.c.start(nid)
        self.c.wait_caught_up(1, self.c.leader())
        self.c.wait_caught_up(2, self.c.leader())
        # They fenced themselves for the epoch that moved the primary away.
        wait_until(lambda: "%d eu-west" % (epoch0 + 1) in self.fenced(),
                   20, what="eu-west's fence hook")
        self.assertEqual(self.dns.query(NAME), sorted(TARGETS["us-east"]))
        # Work goes on in us-east, never backed up by a schedule here: the
        # switchover's final backups carry it home.
        self.pg["us-east"].psql("app", "INSERT INTO agents (name) SELECT "
                                "'late-' || g FROM generate_series(1, 25) g")
        rc = self.redis["us-east"].client()
        rc.command("SET", "session:late", "after-the-failover")
        rc.close()
        # A failover goes only to a healthy region: its probes say so.
        wait_until(lambda: self.c.leader().get("/api/regions/eu-west")
                   .json["status"] == "healthy", 60,
                   what="eu-west healthy again")
        out = self.drctl("failback").stdout
        self.assertIn(b"us-east -> eu-west", out)
        rb = wait_until(lambda: self.runbook((1, 2, 3, 4, 5)).get("state") ==
                        "complete" and self.runbook((1, 2, 3, 4, 5))
                        .get("epoch") == epoch0 + 2 and
                        self.runbook((1, 2, 3, 4, 5)), 120, interval=0.2,
                        what="the failback")
        self.assertEqual((rb["from_region"], rb["to_region"]),
                         ("us-east", "eu-west"))
        self.assertTrue(rb["planned"])
        self.assertEqual(rb["rpo_ms"], 0)
        self.assertEqual([s["step"] for s in rb["steps"]],
                         ["decide", "fence", "final_backup", "restore",
                          "verify", "activate", "dns", "notify", "complete"])
        self.assertEqual(self.dns.query(NAME), TARGETS["eu-west"])
        n = self.pg["eu-west"].psql("app", "SELECT count(*) FROM agents")
        self.assertEqual(n.strip(), "4025")
        rc = self.redis["eu-west"].client()
        self.assertEqual(rc.command("DBSIZE"), 301)
        self.assertEqual(rc.command("GET", "session:late"),
                         b"after-the-failover")
        rc.close()
        # us-east's nodes fenced themselves (twice: the hook sleeps) before
        # the final backups were taken.
        self.assertEqual(self.fenced().count("%d us-east" % (epoch0 + 2)), 2)
        at = {s["step"]: s["at_ms"] for s in rb["steps"]}
        b = self.c.leader().get("/api/backups/" + rb["pg_backup"]).json
        self.assertEqual(b["origin_region"], "us-east")
        self.assertGreaterEqual(b["snapshot_ms"], at["final_backup"])

    def test_switchover_moves_the_primary_with_rpo_0(self):
        """A planned move to us-east with eu-west alive: eu-west's fence
        hooks run and are confirmed, final backups of eu-west are taken and
        verified in us-east, then the runbook; rows written after the last
        scheduled backup arrive too. us-east's database is a standby
        (pg_standby, as drctl local up makes them): a switchover restores
        its final backup over it rather than promote it, which could lack
        the last commits."""
        self.load_and_back_up()
        standby = self.us_east_standby()
        epoch0 = self.c.leader().get("/api/site").json["epoch"]
        self.pg["eu-west"].psql("app", "INSERT INTO agents (name) SELECT "
                                "'unsaved-' || g FROM generate_series(1, 30) g")
        rc = self.redis["eu-west"].client()
        rc.command("SET", "session:unsaved", "x")
        rc.close()
        # Bad input first: refused, nothing changes.
        p = self.drctl("switchover", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(b"give --to REGION", p.stderr)
        p = self.drctl("switchover", "--to", "eu-west", check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"cannot switch over to eu-west: it is the primary",
                      p.stderr)
        p = self.drctl("switchover", "--to", "mars", check=False)
        self.assertIn(b"region mars does not exist", p.stderr)
        self.assertEqual(self.c.leader().get("/api/site").json["epoch"],
                         epoch0)
        out = self.drctl("switchover", "--to", "us-east").stdout
        self.assertIn(b"eu-west -> us-east (switchover)", out)
        rb = self.wait_state("complete")
        self.assertTrue(rb["planned"])
        self.assertEqual(rb["epoch"], epoch0 + 1)
        self.assertEqual(rb["rpo_ms"], 0)
        self.assertGreater(rb["rto_ms"], 0)
        self.assertNotEqual(rb["final_pg_job"], 0)
        self.assertNotEqual(rb["final_redis_job"], 0)
        # Both eu-west nodes ran their fence hook before the final backups.
        self.assertEqual(self.fenced().count("%d eu-west" % (epoch0 + 1)), 2)
        at = {s["step"]: s["at_ms"] for s in rb["steps"]}
        for bid in (rb["pg_backup"], rb["redis_backup"]):
            b = self.c.leader().get("/api/backups/" + bid).json
            self.assertEqual(b["origin_region"], "eu-west")
            self.assertGreaterEqual(b["snapshot_ms"], at["final_backup"])
        detail = json.loads(rb["detail"])
        self.assertEqual(detail["pg_path"], "restore", detail)
        self.assertIn("a switchover restores its final backup",
                      detail["standby"]["why_not"])
        self.assertEqual(standby.psql(
            "app", "SELECT pg_is_in_recovery()").strip(), "f")
        n = standby.psql("app", "SELECT count(*) FROM agents")
        self.assertEqual(n.strip(), "4030")
        rc = self.redis["us-east"].client()
        self.assertEqual(rc.command("GET", "session:unsaved"), b"x")
        rc.close()
        self.assertEqual(self.dns.query(NAME), sorted(TARGETS["us-east"]))
        hist = self.c.leader().get("/api/history").json["history"]
        self.assertEqual(len([h for h in hist
                              if h["action"] == "switchover-complete"]), 1)
        out = self.drctl("failover", "status").stdout
        self.assertIn(b"final_backup", out)
        self.assertIn(b"RPO            0 ms", out)

    def test_corrupt_dr_copy_blocks_before_dns(self):
        pg_id, _ = self.load_and_back_up()
        b = self.c.leader().get("/api/backups/" + pg_id).json
        store = os.path.join(self.tmp, "store-us-east")
        objs = []
        for d, _, files in os.walk(os.path.join(store, b["prefix"])):
            objs += [os.path.join(d, f) for f in files
                     if not f.startswith("manifest")]
        victim = sorted(objs)[-1]
        with open(victim, "r+b") as f:
            f.seek(5)
            c = f.read(1)
            f.seek(5)
            f.write(bytes([c[0] ^ 0xFF]))
        self.set("jobs.max_attempts", 1)
        # Manual mode: the loss is detected, nothing moves.
        self.set("failover.mode", "manual")
        self.lose_eu_west()
        time.sleep(5)
        self.assertEqual(self.runbook().get("state"), "none")
        self.assertEqual(self.dns.query(NAME), TARGETS["eu-west"])
        # ... but it says so: the PrimaryRegionLost alert's gauge.
        m = self.c.leader().get("/metrics").body.decode()
        self.assertIn('drnode_primary_region_lost{region="eu-west"} 1', m)
        p = self.drctl("failover", "--to", "us-east", "--reason", "test",
                       nodes=[self.c.node(3), self.c.node(4)])
        rb = self.wait_state("blocked")
        self.assertIn("SHA-256", rb["error"])
        self.assertEqual(rb["blocked_step"], "restore")
        # DNS untouched, and the site says it is blocked.
        self.assertEqual(self.dns.query(NAME), TARGETS["eu-west"])
        self.assertEqual(self.c.leader().get("/api/site").json["state"],
                         "blocked")
        self.assertEqual(Hooks.events, [])
        m = self.c.leader().get("/metrics").body.decode()
        self.assertIn("drnode_failover_blocked 1", m)
        p = self.drctl("failback", check=False, nodes=[self.c.node(3)])
        self.assertEqual(p.returncode, 1, p)
        self.assertIn(b"nothing to fail back from: the last failover is "
                      b"blocked", p.stderr)
        self.assertIn('drnode_primary_region_lost{region="us-east"} 0', m)
        # Repaired (the byte flipped back), resume completes it.
        with open(victim, "r+b") as f:
            f.seek(5)
            c = f.read(1)
            f.seek(5)
            f.write(bytes([c[0] ^ 0xFF]))
        p = self.drctl("failover", "resume", nodes=[self.c.node(3)])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.wait_state("complete")
        self.assertEqual(self.dns.query(NAME), sorted(TARGETS["us-east"]))

    def test_dead_coordinators_in_a_live_data_center_fail_nothing_over(self):
        """eu-west's coordinators die but its PostgreSQL and Redis still
        answer: failing over would leave its app serving as a second
        primary. The leader says so and waits; once the services die too,
        the other regions find the endpoints unreachable and it fails over.
        A region with no endpoints is never failed over automatically."""
        self.load_and_back_up()
        # The leader in eu-west: its loss makes a new leader, which starts
        # with no word from anyone on eu-west's endpoints.
        leader = self.c.wait_for_leader()
        if leader.id not in (1, 2):
            r = leader.write("POST", "/api/leader/transfer", {"to": 1},
                             timeout=15.0)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(self.c.wait_for_leader().id, 1)
        t0 = time.monotonic()
        for nid in (1, 2):
            self.c.kill(nid)

        def lost_view():  # the leader's verdict
            leader = self.c.wait_for_leader(ids=[3, 4, 5])
            return leader.get("/api/failover").json["primary_lost"] or {}
        # The new leader has the other regions' word on the endpoints as
        # soon as it leads (they report to it at once, not at their next
        # probe round, 5 s away): its first verdict already cites it.
        first = wait_until(lambda: lost_view().get("why_no_failover"), 30,
                           interval=0.1, what="the leader's first verdict")
        self.assertIn("reaches its endpoints", first)
        time.sleep(max(0.0, 6 - (time.monotonic() - t0)))  # twice the window
        self.assertEqual(self.runbook().get("state"), "none")
        lost = lost_view()
        self.assertEqual(lost["region"], "eu-west")
        self.assertIn("reaches its endpoints", lost["why_no_failover"])
        out = self.drctl("failover", "status",
                         nodes=[self.c.node(3), self.c.node(4)]).stdout
        self.assertIn(b"LOST           eu-west", out)
        self.assertIn(b"reaches its endpoints", out)
        # Without endpoints there is nothing to cross-check: still nothing.
        self.set_endpoints("eu-west", [])
        wait_until(lambda: "no endpoints to cross-check" in (
            lost_view().get("why_no_failover") or ""), 20,
            what="the no-endpoints verdict")
        self.assertEqual(self.runbook().get("state"), "none")
        self.set_endpoints("eu-west", self.endpoints("eu-west"))
        # The data center dies for good: now it moves.
        self.pg["eu-west"].kill()
        self.redis["eu-west"].stop()
        rb = self.wait_state("complete")
        self.assertEqual(rb["to_region"], "us-east")
        self.assertIn("finds none of its endpoints reachable", rb["reason"])
        self.assertEqual(self.dns.query(NAME), sorted(TARGETS["us-east"]))

    def test_flapping_region_triggers_nothing(self):
        """eu-west's coordinators pause for less than the detection window,
        three times (default mode: auto): no runbook, no new epoch, no
        fence, DNS and the webhook untouched."""
        self.load_and_back_up()
        site0 = self.c.leader().get("/api/site").json
        self.assertEqual(self.runbook().get("mode"), "auto")
        pids = [self.c.node(n).pid for n in (1, 2)]
        for _ in range(3):
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            try:
                time.sleep(1.2)  # window 3 s, fence 2 s
            finally:
                for pid in pids:
                    os.kill(pid, signal.SIGCONT)
            time.sleep(1.5)
        leader = self.c.wait_for_leader()
        time.sleep(3)
        self.assertEqual(self.runbook((1, 2, 3, 4, 5)).get("state"), "none")
        self.assertEqual(leader.get("/api/site").json, site0)
        self.assertEqual(self.fenced(), "")
        self.assertEqual(self.dns.query(NAME), TARGETS["eu-west"])
        self.assertEqual(Hooks.events, [])
        hist = leader.get("/api/history").json["history"]
        self.assertFalse([h for h in hist if h["action"].startswith(
            "failover")], hist)

    def test_cut_off_primary_fences_then_unfences(self):
        """The majority (us-east, ap-south) pauses: eu-west's nodes hear no
        leader for fence.timeout_ms and fence themselves. When the majority
        is back and eu-west is still the primary in the same epoch, each
        runs its unfence hook; nothing failed over."""
        self.set("failover.detection_window_ms", 10000)
        site0 = self.c.leader().get("/api/site").json
        majority = [self.c.node(n).pid for n in (3, 4, 5)]
        for pid in majority:
            os.kill(pid, signal.SIGSTOP)
        try:
            wait_until(lambda: self.fenced().count(
                "%d eu-west" % site0["epoch"]) == 2, 20,
                what="both eu-west nodes to fence themselves")
            self.assertEqual(self.fenced(self.unfence_log), "")
        finally:
            for pid in majority:
                os.kill(pid, signal.SIGCONT)
        wait_until(lambda: self.fenced(self.unfence_log).count(
            "%d eu-west" % site0["epoch"]) == 2, 30,
            what="both eu-west nodes to unfence")
        leader = self.c.wait_for_leader()
        self.assertEqual(leader.get("/api/site").json["epoch"],
                         site0["epoch"])
        self.assertEqual(self.runbook((1, 2, 3, 4, 5)).get("state"), "none")
        # us-east and ap-south never lost a leader long enough... or did
        # and are not the primary: they never unfence.
        self.assertNotIn("us-east", self.fenced(self.unfence_log))

    def test_degraded_primary_alerts_then_fails_over_when_asked(self):
        """eu-west's coordinators answer but its PostgreSQL dies: degraded.
        With failover.on_degraded = alert (the default) nothing moves; set
        to failover, the runbook moves the primary to us-east and eu-west's
        nodes, alive, fence themselves for the new epoch."""
        self.load_and_back_up()
        epoch0 = self.c.leader().get("/api/site").json["epoch"]
        self.pg["eu-west"].kill()
        wait_until(lambda: self.c.leader().get("/api/regions/eu-west")
                   .json["status"] == "degraded", 30,
                   what="eu-west degraded")
        time.sleep(4)  # past the 3 s window
        self.assertEqual(self.runbook().get("state"), "none")
        self.assertEqual(self.c.leader().get("/api/site").json["epoch"],
                         epoch0)
        self.set("failover.on_degraded", "failover")
        rb = self.wait_state("complete")
        self.assertEqual((rb["from_region"], rb["to_region"], rb["epoch"]),
                         ("eu-west", "us-east", epoch0 + 1))
        self.assertIn("region eu-west degraded: PostgreSQL down for",
                      rb["reason"])
        # eu-west is alive: both its nodes confirmed their fence, so the
        # runbook went on before the fence deadline.
        at = {st["step"]: st["at_ms"] for st in rb["steps"]}
        self.assertLess(at["restore"], rb["fence_deadline_ms"], rb)
        self.assertEqual(self.fenced().count("%d eu-west" % (epoch0 + 1)), 2)
        self.assertEqual(self.dns.query(NAME), sorted(TARGETS["us-east"]))
        wait_until(lambda: self.fenced().count("%d eu-west" % (epoch0 + 1))
                   == 2, 20, what="both eu-west nodes to fence")
        n = self.pg["us-east"].psql("app", "SELECT count(*) FROM agents")
        self.assertEqual(n.strip(), "4000")

    def test_leader_killed_during_fence_and_restore(self):
        """A failover to us-east (eu-west alive, so the runbook waits for
        its fence deadline) whose leader is killed -9 while the runbook
        waits at fence, and the next one while it restores: each new
        leader resumes from the committed step; the failover completes
        once, in one new epoch, with the data and DNS right."""
        self.load_and_back_up()
        self.set("failover.mode", "manual")
        epoch0 = self.c.leader().get("/api/site").json["epoch"]
        self.drctl("failover", "--to", "us-east", "--reason", "leader kills")
        killed = []
        for steps in (("fence",), ("restore", "verify", "activate")):
            rb = wait_until(lambda: self.runbook((1, 2, 3, 4, 5))
                            .get("state") in steps + ("complete",) and
                            self.runbook((1, 2, 3, 4, 5)), 60, interval=0.05,
                            what="the runbook at %s" % "/".join(steps))
            if rb["state"] == "complete":
                break
            leader = self.c.wait_for_leader()
            self.c.kill(leader.id)
            killed.append((rb["state"], leader.id))
            others = [n for n in (1, 2, 3, 4, 5) if self.c.node(n).running()]
            self.c.wait_for_leader(ids=others)
            self.c.start(leader.id)
        self.assertIn("fence", [s for s, _ in killed], killed)
        rb = self.wait_state("complete")
        self.assertEqual(rb["epoch"], epoch0 + 1)
        leader = self.c.wait_for_leader()
        site = leader.get("/api/site").json
        self.assertEqual((site["primary_region"], site["epoch"]),
                         ("us-east", epoch0 + 1))
        hist = leader.get("/api/history").json["history"]
        self.assertEqual(len([h for h in hist
                              if h["action"] == "failover-complete"]), 1)
        self.assertEqual(self.dns.query(NAME), sorted(TARGETS["us-east"]))
        n = self.pg["us-east"].psql("app", "SELECT count(*) FROM agents")
        self.assertEqual(n.strip(), "4000")
        # Every hook and webhook call is for this one epoch.
        with open(self.activate_log) as f:
            lines = f.read().splitlines()
        self.assertTrue(lines)
        self.assertEqual(set(lines), {"%d us-east" % (epoch0 + 1)})
        wait_until(lambda: Hooks.events, 10, what="the webhook")
        self.assertEqual({e["epoch"] for e in Hooks.events}, {epoch0 + 1})
        sys.stderr.write("leader kills at %s; activate ran %d time(s), "
                         "webhook got %d event(s)\n" % (
                             killed, len(lines), len(Hooks.events)))

    def test_worker_killed_in_activate_never_restores_again(self):
        """Restore and verify are committed one by one: the node running
        the restore job is killed -9 while its activate hook hangs; the
        next attempt (on the other us-east node) starts at activate, so a
        row written into us-east's database after verify survives (a
        second restore with clean would remove it), and the steps carry
        their own times."""
        self.load_and_back_up()
        self.set("failover.mode", "manual")
        self.set("jobs.lease_ms", 3000)
        open(self.activate_hangs, "w").close()
        epoch0 = self.c.leader().get("/api/site").json["epoch"]
        self.drctl("failover", "--to", "us-east", "--reason", "worker kill")
        rb = wait_until(lambda: self.runbook((1, 2, 3, 4, 5))
                        .get("state") == "activate" and
                        not os.path.exists(self.activate_hangs) and
                        self.runbook((1, 2, 3, 4, 5)), 90, interval=0.1,
                        what="the activate hook hanging")
        self.pg["us-east"].psql(
            "app", "INSERT INTO agents (name) VALUES ('after-verify')")
        job = self.c.leader().get("/api/jobs/%d" % rb["job_id"]).json
        self.assertEqual((job["state"], job["attempt"]), ("running", 1), job)
        self.assertIn(job["owner"], (3, 4), job)
        self.c.kill(job["owner"])
        rb = self.wait_state("complete")
        self.c.start(job["owner"])
        self.assertEqual(rb["epoch"], epoch0 + 1)
        job = self.c.wait_for_leader().get(
            "/api/jobs/%d" % rb["job_id"]).json
        self.assertEqual((job["state"], job["attempt"]), ("done", 2), job)
        detail = json.loads(rb["detail"])
        self.assertEqual(detail.get("resumed_at"), "activate", detail)
        self.assertNotIn("pg", detail)  # nothing restored or verified again
        n = self.pg["us-east"].psql(
            "app", "SELECT count(*), count(*) FILTER "
            "(WHERE name = 'after-verify') FROM agents")
        self.assertEqual(n.strip(), "4001|1")
        at = {s["step"]: s["at_ms"] for s in rb["steps"]}
        self.assertLess(at["restore"], at["verify"], at)
        self.assertLess(at["verify"], at["activate"], at)
        self.assertLess(at["activate"], at["dns"], at)
        # The first attempt's hook failed without writing; the second's
        # wrote once.
        with open(self.activate_log) as f:
            self.assertEqual(f.read().splitlines(),
                             ["%d us-east" % (epoch0 + 1)])
        self.assertEqual(self.dns.query(NAME), sorted(TARGETS["us-east"]))

    def test_leader_killed_during_dns_and_notify(self):
        """The DNS step held (dns.servers a silent port: the answer cannot
        be confirmed) and the notify step held (the webhook answers 503
        three times): the leader is killed -9 in each. The next leader
        publishes and notifies again, idempotently: once DNS answers, the
        failover completes once, in one epoch, with us-east's targets, and
        every webhook call carries the same event id."""
        self.load_and_back_up()
        self.set("failover.mode", "manual")
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", 0))
        self.addCleanup(silent.close)
        self.set("dns.servers", "127.0.0.1:%d" % silent.getsockname()[1])
        Hooks.fail_first = 3
        epoch0 = self.c.leader().get("/api/site").json["epoch"]
        self.drctl("failover", "--to", "us-east", "--reason", "dns kills")
        killed = []
        for state in ("dns", "notify"):
            rb = wait_until(lambda: self.runbook((1, 2, 3, 4, 5))
                            .get("state") in (state, "blocked", "complete")
                            and self.runbook((1, 2, 3, 4, 5)), 90,
                            interval=0.05, what="the runbook at " + state)
            if rb["state"] != state:
                break
            leader = self.c.wait_for_leader()
            self.c.kill(leader.id)
            killed.append((state, leader.id))
            others = [n for n in (1, 2, 3, 4, 5) if self.c.node(n).running()]
            self.c.wait_for_leader(ids=others)
            self.c.start(leader.id)
            if state == "dns":
                # A new leader tries again; now the answer can be seen.
                self.set("dns.servers", self.dns.server)
                if self.runbook((1, 2, 3, 4, 5)).get("state") == "blocked":
                    self.drctl("failover", "resume")
        self.assertEqual([s for s, _ in killed][:1], ["dns"], killed)
        rb = wait_until(lambda: self.runbook((1, 2, 3, 4, 5))
                        .get("state") in ("blocked", "complete") and
                        self.runbook((1, 2, 3, 4, 5)), 90,
                        what="the runbook to end")
        if rb["state"] == "blocked":
            self.drctl("failover", "resume")
        rb = self.wait_state("complete")
        self.assertEqual(rb["epoch"], epoch0 + 1)
        self.assertEqual(self.dns.query(NAME), sorted(TARGETS["us-east"]))
        leader = self.c.wait_for_leader()
        hist = leader.get("/api/history").json["history"]
        self.assertEqual(len([h for h in hist
                              if h["action"] == "failover-complete"]), 1)
        wait_until(lambda: len(Hooks.events) > Hooks.fail_first, 10,
                   what="a webhook call that succeeded")
        self.assertEqual({e["id"] for e in Hooks.events},
                         {"failover-%d" % (epoch0 + 1)})
        sys.stderr.write("leader kills at %s; webhook got %d call(s)\n" %
                         (killed, len(Hooks.events)))

    def test_switchover_waits_for_every_fence_and_survives_a_leader_kill(self):
        """A switchover whose old primary cannot fence (its hook fails)
        blocks at fence with the reason and moves nothing; once the hook
        works again (it is retried) and an operator resumes, it goes on;
        the leader killed -9 at final_backup: the new leader finishes it
        once, with RPO 0."""
        self.load_and_back_up()
        self.set("failover.mode", "manual")
        epoch0 = self.c.leader().get("/api/site").json["epoch"]
        self.pg["eu-west"].psql("app", "INSERT INTO agents (name) SELECT "
                                "'unsaved-' || g FROM generate_series(1, 7) g")
        open(self.fence_fails, "w").close()
        self.drctl("switchover", "--to", "us-east")
        rb = wait_until(lambda: self.runbook((1, 2, 3, 4, 5)).get("state") ==
                        "blocked" and self.runbook((1, 2, 3, 4, 5)), 60,
                        interval=0.2, what="the switchover blocked")
        self.assertEqual(rb["blocked_step"], "fence")
        self.assertIn("not every node of eu-west confirmed its fence hook "
                      "for epoch %d" % (epoch0 + 1), rb["error"])
        self.assertEqual(rb["final_pg_job"], 0)  # no backup taken
        self.assertEqual(self.dns.query(NAME), TARGETS["eu-west"])
        self.assertEqual(self.fenced(), "")
        # The hook works again: each eu-west node runs it once more.
        os.unlink(self.fence_fails)
        wait_until(lambda: self.fenced().count("%d eu-west" % (epoch0 + 1))
                   == 2, 30, what="both eu-west fences")
        self.drctl("failover", "resume")
        rb = wait_until(lambda: self.runbook((1, 2, 3, 4, 5)).get("state") in
                        ("final_backup", "restore", "complete") and
                        self.runbook((1, 2, 3, 4, 5)), 60, interval=0.05,
                        what="the final backups")
        killed = None
        if rb["state"] == "final_backup":
            leader = self.c.wait_for_leader()
            self.c.kill(leader.id)
            killed = leader.id
            others = [n for n in (1, 2, 3, 4, 5) if n != killed]
            self.c.wait_for_leader(ids=others)
            self.c.start(killed)
        rb = self.wait_state("complete")
        self.assertEqual((rb["epoch"], rb["rpo_ms"]), (epoch0 + 1, 0))
        hist = self.c.wait_for_leader().get("/api/history").json["history"]
        self.assertEqual(len([h for h in hist
                              if h["action"] == "switchover-complete"]), 1)
        n = self.pg["us-east"].psql("app", "SELECT count(*) FROM agents")
        self.assertEqual(n.strip(), "4007")
        with open(self.activate_log) as f:
            self.assertEqual(set(f.read().splitlines()),
                             {"%d us-east" % (epoch0 + 1)})
        self.assertEqual(self.dns.query(NAME), sorted(TARGETS["us-east"]))
        sys.stderr.write("leader killed at final_backup: %s\n" % killed)

    def test_failover_drill_practises_without_touching_production(self):
        """drctl drill failover: us-east restores its own copies into
        scratch databases and checks them, the leader publishes us-east's
        targets under the practice name, sees them answered and removes
        them; the live name, the epoch and us-east's live databases stay
        as they were."""
        self.load_and_back_up()
        self.set("failover.mode", "manual")
        site0 = self.c.leader().get("/api/site").json
        p = self.drctl("drill", "failover", "--to", "us-east", check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn(b"set failover.practice_name", p.stderr)
        self.set("failover.practice_name", "app." + ZONE)  # the live name
        p = self.drctl("drill", "failover", check=False)
        self.assertIn(b"must not be dns.name", p.stderr)
        self.set("failover.practice_name", "drill." + ZONE)
        t0 = time.time() * 1000
        p = self.drctl("--json", "drill", "failover", "--to", "us-east")
        d = json.loads(p.stdout)
        self.assertEqual((d["kind"], d["region"], d["state"]),
                         ("failover", "us-east", "passed"), d)
        self.assertGreater(d["dns_confirmed_ms"], d["started_ms"])
        self.assertEqual(d["rto_ms"], d["dns_confirmed_ms"] - d["started_ms"])
        self.assertGreater(d["pg_rpo_ms"], 0)
        self.assertGreaterEqual(d["started_ms"], t0 - 5000)
        self.assertTrue(json.loads(d["detail"])["ok"], d["detail"])
        # Cleaned up: the practice name answers nothing; production as it
        # was.
        self.assertEqual(self.dns.query("drill." + ZONE), [])
        self.assertEqual(self.dns.query("drill." + ZONE, "TXT"), [])
        self.assertEqual(self.dns.query(NAME), TARGETS["eu-west"])
        site = self.c.leader().get("/api/site").json
        self.assertEqual((site["primary_region"], site["epoch"]),
                         (site0["primary_region"], site0["epoch"]))
        self.assertNotIn("agents", self.pg["us-east"].psql(
            "app", "SELECT tablename FROM pg_tables WHERE schemaname = "
            "'public'"))
        self.assertEqual(self.fenced(), "")
        m = self.c.leader().get("/metrics").body.decode()
        self.assertIn('drnode_drill_last_ok{kind="failover"} 1', m)
        out = self.drctl("drill", "list").stdout
        self.assertIn(b"failover", out)

    @unittest.skipIf(svc_knot.available() is not None,
                     svc_knot.available() or "")
    def test_failover_publishes_through_rfc2136(self):
        """dns.provider rfc2136: the DNS step is a TSIG-signed dynamic
        update to Knot, confirmed by asking it."""
        knot = svc_knot.Knot(ZONE, secret=self.tsig_secret).start()
        try:
            self.load_and_back_up()
            self.set("failover.mode", "manual")
            for k, v in (("dns.provider", "rfc2136"),
                         ("dns.update_server", knot.server),
                         ("dns.servers", knot.server)):
                self.set(k, v)
            epoch0 = self.c.leader().get("/api/site").json["epoch"]
            self.drctl("failover", "--to", "us-east")
            rb = self.wait_state("complete")
            self.assertEqual(rb["epoch"], epoch0 + 1)
            self.assertEqual(knot.query(NAME), sorted(TARGETS["us-east"]))
            self.assertIn('"dr-epoch=%d' % (epoch0 + 1),
                          knot.query(NAME, "TXT"))
            self.assertIn("DDNS, finished", knot.log())
            # PowerDNS was not asked.
            self.assertEqual(self.dns.query(NAME), TARGETS["eu-west"])
        finally:
            knot.stop()

    @unittest.skipIf(svc_s3.available() is not None, svc_s3.available() or "")
    def test_failover_publishes_through_route53(self):
        """dns.provider route53: the DNS step replaces the name's record
        sets in the hosted zone (moto) and confirms by listing them, with
        dns.servers empty."""
        moto = svc_s3.MotoS3(bucket="unused", verify_signatures=False).start()
        try:
            r53 = moto._client("route53")
            zone = r53.create_hosted_zone(Name=ZONE, CallerReference="t")
            zone_id = zone["HostedZone"]["Id"].split("/")[-1]
            # What was there before: eu-west's address, a stale TXT.
            r53.change_resource_record_sets(
                HostedZoneId=zone_id, ChangeBatch={"Changes": [
                    {"Action": "CREATE", "ResourceRecordSet": {
                        "Name": NAME, "Type": t, "TTL": 60,
                        "ResourceRecords": [{"Value": v}]}}
                    for t, v in (("A", TARGETS["eu-west"][0]),
                                 ("TXT", '"dr-epoch=0"'))]})
            self.load_and_back_up()
            self.set("failover.mode", "manual")
            for k, v in (("dns.provider", "route53"),
                         ("dns.api_url", moto.endpoint),
                         ("dns.zone_id", zone_id), ("dns.servers", "")):
                self.set(k, v)
            epoch0 = self.c.leader().get("/api/site").json["epoch"]
            self.drctl("failover", "--to", "us-east")
            rb = self.wait_state("complete")
            self.assertEqual(rb["epoch"], epoch0 + 1)
            sets = {s["Type"]: sorted(r["Value"]
                                      for r in s["ResourceRecords"])
                    for s in r53.list_resource_record_sets(
                        HostedZoneId=zone_id)["ResourceRecordSets"]
                    if s["Name"] == NAME}
            self.assertEqual(sets, {
                "A": sorted(TARGETS["us-east"]),
                "TXT": ['"dr-epoch=%d primary=us-east"' % (epoch0 + 1)]})
            # PowerDNS was not asked.
            self.assertEqual(self.dns.query(NAME), TARGETS["eu-west"])
        finally:
            moto.stop()

    def test_route53_with_the_instance_role(self):
        """No [dns] aws_credentials_file and no AWS_* keys: the leader
        fetches the instance role's credentials from IMDSv2 (a stand-in) on
        its loop before the Route 53 step, and moto, checking signatures,
        accepts them."""
        moto = svc_s3.MotoS3(bucket="unused").start()
        try:
            moto.set_verify(False)
            r53 = moto._client("route53")
            zone = r53.create_hosted_zone(Name=ZONE, CallerReference="t")
            zone_id = zone["HostedZone"]["Id"].split("/")[-1]
            moto.set_verify(True)
            akid, secret, token = moto.role_credentials(
                name="drnode-dns", action="route53:*")
            with svc_imds.Imds(akid, secret, token=token,
                               role="drnode-dns") as imds:
                env = {"AWS_EC2_METADATA_DISABLED": "",
                       "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.endpoint}
                saved = {k: os.environ.get(k) for k in env}
                os.environ.update(env)
                try:
                    for nid in sorted(self.c.nodes):
                        self.c.stop(nid)
                        del self.c.nodes[nid].extra_sections["dns"][
                            "aws_credentials_file"]
                        self.c.start(nid)
                finally:
                    for k, v in saved.items():
                        if v is None:
                            os.environ.pop(k, None)
                        else:
                            os.environ[k] = v
                self.c.wait_for_leader()
                self.load_and_back_up()
                self.set("failover.mode", "manual")
                for k, v in (("dns.provider", "route53"),
                             ("dns.api_url", moto.endpoint),
                             ("dns.zone_id", zone_id), ("dns.servers", "")):
                    self.set(k, v)
                self.assertEqual(imds.creds_fetches(), 0)  # not before
                self.drctl("failover", "--to", "us-east")
                rb = self.wait_state("complete")
                self.assertGreaterEqual(imds.creds_fetches(), 1)
                self.assertTrue(all(v for _, _, v in imds.calls), imds.calls)
            moto.set_verify(False)
            sets = {s["Type"]: sorted(r["Value"]
                                      for r in s["ResourceRecords"])
                    for s in r53.list_resource_record_sets(
                        HostedZoneId=zone_id)["ResourceRecordSets"]
                    if s["Name"] == NAME}
            self.assertEqual(sets["A"], sorted(TARGETS["us-east"]))
            self.assertIn("Route 53 credentials from the instance role",
                          self.c.leader().log_tail(400))
            self.assertNotIn(secret, "".join(
                n.log_tail(2000) for n in self.c.nodes.values()))
            del rb
        finally:
            moto.stop()


if __name__ == "__main__":
    drtest.main()
