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

import http.server
import json
import os
import sys
import tempfile
import threading
import time
import unittest

import drtest  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import drcluster  # noqa: E402
import svc_pdns  # noqa: E402
from drcluster import Cluster, wait_until  # noqa: E402
from svc_pg import PgServer  # noqa: E402
from svc_redis import RedisServer  # noqa: E402

ZONE = "dr.test."
NAME = "app.dr.test."
TARGETS = {"eu-west": ["127.0.0.11"], "us-east": ["127.0.0.12", "127.0.0.13"],
           "ap-south": ["127.0.0.14"]}


class Hooks(http.server.BaseHTTPRequestHandler):
    events = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        Hooks.events.append(json.loads(self.rfile.read(n)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@unittest.skipIf(svc_pdns.available() is not None, svc_pdns.available())
class FailoverTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dr-failover-it-")
        drcluster.TEMP_DIRS.add(self.tmp)
        self.pg = {r: PgServer() for r in ("eu-west", "us-east")}
        for p in self.pg.values():
            p.create_db("app")
        self.redis = {r: RedisServer() for r in ("eu-west", "us-east")}
        for r in self.redis.values():
            r.start()
        self.dns = svc_pdns.PowerDns(ZONE).start()
        self.dns.set(NAME, "A", TARGETS["eu-west"])
        Hooks.events = []
        self.hooks = http.server.HTTPServer(("127.0.0.1", 0), Hooks)
        threading.Thread(target=self.hooks.serve_forever, daemon=True).start()
        self.fence_log = os.path.join(self.tmp, "fenced")
        self.activate_log = os.path.join(self.tmp, "activated")
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
        for n in self.c.nodes.values():
            n.extra_sections = {
                "hooks": {"fence": "echo $DR_EPOCH $DR_REGION >> %s"
                          % self.fence_log,
                          "activate": "echo $DR_EPOCH $DR_REGION >> %s"
                          % self.activate_log},
                "dns": {"api_key_file": self.dns.key_file}}
        self.c.start_all()
        self.c.wait_for_leader()
        for k, v in (("backup.pg_interval_s", 0),
                     ("backup.redis_interval_s", 0),
                     ("drill.restore_interval_h", 0),
                     ("dns.api_url", self.dns.api_url),
                     ("dns.zone", ZONE), ("dns.name", NAME),
                     ("dns.servers", self.dns.server), ("dns.ttl", 5),
                     ("failover.notify_urls",
                      "http://127.0.0.1:%d/hook" % self.hooks.server_port),
                     ("failover.detection_window_ms", 3000),
                     ("fence.timeout_ms", 2000)):
            self.set(k, v)

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

    def fenced(self):
        """What the fence hooks wrote: "EPOCH REGION" lines."""
        try:
            with open(self.fence_log) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def set(self, key, value):
        r = self.c.leader().write("PUT", "/api/settings/" + key,
                                  {"value": value})
        self.assertEqual(r.status, 200, r.body)

    def drctl(self, *args, check=True, nodes=None):
        p = self.c.drctl(*args, nodes=nodes)
        if check and p.returncode != 0:
            self.fail("drctl %s: exit %d\n%s%s" % (
                " ".join(args), p.returncode, p.stdout.decode(),
                p.stderr.decode()))
        return p

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
        self.set("failover.mode", "automatic")
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
        wait_until(lambda: len(Hooks.events) >= 1, 10, what="the webhook")
        self.assertEqual(len(Hooks.events), 1)
        self.assertEqual(Hooks.events[0]["to_region"], "us-east")
        self.assertEqual(Hooks.events[0]["epoch"], epoch0 + 1)
        # The history says it, with RTO and RPO.
        hist = self.c.leader().get("/api/history").json["history"]
        done_ev = [h for h in hist if h["action"] == "failover-complete"]
        self.assertEqual(len(done_ev), 1)
        self.assertIn("RTO", done_ev[0]["detail"])
        out = self.drctl("failover", "status", nodes=[self.c.node(3)])
        self.assertIn(b"complete", out.stdout)
        self.assertIn(b"eu-west -> us-east", out.stdout)

    def test_old_region_returns_and_fails_back(self):
        """eu-west comes back after the failover: its nodes learn the new
        epoch and fence themselves, never publish DNS; once the new
        primary's backups are copied there, a failover back to eu-west
        (the failback) moves the primary and DNS home with the data written
        meanwhile, fencing us-east."""
        self.load_and_back_up()
        self.set("failover.mode", "automatic")
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
        # Work goes on in us-east, then its backups reach eu-west.
        self.pg["us-east"].psql("app", "INSERT INTO agents (name) SELECT "
                                "'late-' || g FROM generate_series(1, 25) g")
        ids = []
        for kind in ("pg", "redis"):
            p = self.drctl("--json", "backups", "run", "--kind", kind)
            ids.append(json.loads(p.stdout)["id"])
            self.assertEqual(json.loads(p.stdout)["origin_region"], "us-east")

        def home():
            for bid in ids:
                b = self.c.leader().get("/api/backups/" + bid).json
                if not any(c["region"] == "eu-west" and
                           c["state"] == "verified" for c in b["copies"]):
                    return False
            return True
        wait_until(home, 90, interval=0.2, what="copies back in eu-west")
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
        self.assertEqual(self.dns.query(NAME), TARGETS["eu-west"])
        n = self.pg["eu-west"].psql("app", "SELECT count(*) FROM agents")
        self.assertEqual(n.strip(), "4025")
        rc = self.redis["eu-west"].client()
        self.assertEqual(rc.command("DBSIZE"), 300)
        rc.close()
        # us-east's nodes fenced themselves when the primary left them.
        wait_until(lambda: "%d us-east" % (epoch0 + 2) in self.fenced(), 20,
                   what="us-east's fence hook")

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


if __name__ == "__main__":
    drtest.main()
