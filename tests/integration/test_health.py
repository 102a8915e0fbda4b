"""Health, circuit breakers, LLM routing and metrics end to end: a three-node
cluster whose eu-west node probes a real PostgreSQL and Redis (stopped and
started again by the test) and local HTTP servers standing in for Ollama,
OpenAI and the Cogitator app (they fail, hang and recover on command)."""

import http.server
import json
import os
import signal
import re
import socketserver
import sys
import threading
import time
import unittest

import drtest  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import drcluster  # noqa: E402
from drcluster import Cluster, ClusterTestCase, wait_until  # noqa: E402
from svc_pg import PgServer  # noqa: E402
from svc_redis import RedisServer  # noqa: E402

PROBE_MS = 300
DOWN_AFTER = 4  # failed rounds before the leader hears "down"
TIMEOUT_MS = 250
RESET_MS = 1000  # the smallest breaker.reset_timeout_ms allowed


class Stub:
    """One provider's endpoint: mode is ok, error, hang or badjson."""

    def __init__(self, body):
        self.body = body
        self.mode = "ok"
        self.hits = 0
        self.headers = []


class StubServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def make_handler(stubs):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            stub = None
            for prefix, s in stubs.items():
                if self.path.startswith(prefix):
                    stub = s
            if stub is None:
                self.send_error(404)
                return
            stub.hits += 1
            stub.headers.append(dict(self.headers))
            if stub.mode == "hang":
                time.sleep(1.0)
            if stub.mode == "error":
                body, code = b'{"error":"boom"}', 500
            elif stub.mode == "badjson":
                body, code = b"<html>not json", 200
            else:
                body, code = json.dumps(stub.body).encode(), 200
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the prober gave up (timeout)
    return Handler


def metric(text, name, **labels):
    """The value of one sample of the Prometheus text, or None."""
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(r'^([a-z_]+)(?:\{([^}]*)\})? (\S+)$', line)
        if not m or m.group(1) != name:
            continue
        got = ",".join(sorted((m.group(2) or "").split(","))) \
            if m.group(2) else ""
        if got == want:
            return float(m.group(3))
    return None


class HealthTest(drcluster.GuardedClassSetUp, ClusterTestCase):

    @classmethod
    def start_services(cls):
        cls.pg = PgServer()
        cls.pg.create_db("app")
        cls.redis = RedisServer()
        cls.redis.start()
        cls.stubs = {
            "/ollama/": Stub({"models": [{"name": "llama3.2"},
                                         {"name": "qwen2"}]}),
            "/openai/": Stub({"data": [{"id": "gpt-4o"}]}),
            "/app/": Stub({"status": "healthy",
                           "services": {"wasm": {"status": "up",
                                                 "available": True}}}),
        }
        cls.http = StubServer(("127.0.0.1", 0), make_handler(cls.stubs))
        threading.Thread(target=cls.http.serve_forever, daemon=True).start()
        base = "http://127.0.0.1:%d" % cls.http.server_address[1]
        cls.tmp = drcluster.tempfile.mkdtemp(prefix="dr-health-it-")
        drcluster.TEMP_DIRS.add(cls.tmp)
        key = os.path.join(cls.tmp, "openai.key")
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("sk-test-1234\n")
        probes = {"interval_ms": PROBE_MS, "timeout_ms": TIMEOUT_MS,
                  "down_after": DOWN_AFTER,
                  "ollama_url": base + "/ollama",
                  "openai_url": base + "/openai/v1",
                  "openai_key_file": key,
                  "app_url": base + "/app"}
        cls.c = Cluster(name="health",
                        services={1: {"pg": cls.pg.conninfo("app"),
                                      "redis": cls.redis.address}},
                        probes={1: probes})
        cls.c.start_all()
        cls.c.wait_for_leader()
        cls.n1 = cls.c.node(1)
        r = cls.c.leader().write("PUT", "/api/settings/breaker.reset_timeout_ms",
                                 {"value": RESET_MS})
        assert r.status == 200, r

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "c", None) is not None:
            cls.c.cleanup()
        if getattr(cls, "http", None) is not None:
            cls.http.shutdown()
            cls.http.server_close()
        for name in ("pg", "redis"):
            if getattr(cls, name, None) is not None:
                getattr(cls, name).stop()

    def setUp(self):
        for s in self.stubs.values():
            s.mode = "ok"
        if self.pg.proc_pid is None:
            self.pg.start()
        if self.redis.proc is None:
            self.redis.start()
        r = self.c.leader().write("POST", "/api/admin/circuit-breakers/reset")
        self.assertEqual(r.status, 200, r)
        self.wait_health("healthy")
        # Every stub answers again before a test starts.
        wait_until(lambda: all(
            self.health().json["services"][s]["status"] == "up"
            for s in ("database", "redis", "ollama", "openai", "app")),
            10, what="every probed service up")

    # Helpers.
    def health(self, node=None, region=None):
        path = "/api/health" + ("?region=" + region if region else "")
        return (node or self.n1).get(path)

    def wait_health(self, status, node=None, region=None, timeout=15):
        def ok():
            r = self.health(node, region)
            return r if r.json and r.json.get("status") == status else None
        return wait_until(ok, timeout, what="health %s" % status).json

    def breakers(self):
        r = self.c.leader().get("/api/breakers")
        self.assertEqual(r.status, 200, r)
        return {b["provider"]: b for b in r.json["breakers"]}

    def wait_breaker(self, provider, state, timeout=15):
        wait_until(lambda: self.breakers()[provider]["state"] == state,
                   timeout, what="%s breaker %s" % (provider, state))

    def metrics(self, node=None):
        r = (node or self.n1).get("/metrics")
        self.assertEqual(r.status, 200)
        return r.body.decode()

    def drctl(self, *args):
        p = self.c.drctl(*args, nodes=[self.c.node(3)], timeout=60)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def route(self, node=None, token=True):
        """GET /api/llm/route as an app instance (with the token)."""
        return (node or self.c.leader()).request(
            "GET", "/api/llm/route", token=self.c.token if token else None)

    # Tests.
    def test_healthy_view_in_seed_shape(self):
        h = self.wait_health("healthy")
        s = h["services"]
        self.assertEqual(s["database"]["status"], "up")
        self.assertGreater(s["database"]["latency"], 0)
        self.assertEqual(s["database"]["max_connections"], 50)
        self.assertGreaterEqual(s["database"]["connections"], 1)
        self.assertEqual(s["redis"]["status"], "up")
        self.assertGreater(s["redis"]["used_memory"], 0)
        self.assertEqual(s["ollama"]["models"], ["llama3.2", "qwen2"])
        self.assertEqual(s["openai"]["models"], ["gpt-4o"])
        self.assertEqual(s["anthropic"]["status"], "unconfigured")
        self.assertEqual(s["wasm"], {"status": "up", "available": True})
        self.assertEqual(h["circuitBreakers"],
                         {"ollama": "closed", "openai": "closed",
                          "anthropic": "closed"})
        co = h["coordinator"]
        self.assertEqual(co["region"], "eu-west")
        self.assertEqual(co["primary_region"], "eu-west")
        self.assertGreaterEqual(co["epoch"], 1)
        # The key came from its file, as a bearer token.
        self.assertEqual(self.stubs["/openai/"].headers[-1]["Authorization"],
                         "Bearer sk-test-1234")
        # Another node shows eu-west's view, and its own (nothing probed).
        other = self.c.node(2)
        v = self.wait_health("healthy", node=other, region="eu-west")
        self.assertIn(v["source"], ("leader", "replicated"))
        self.assertEqual(v["services"]["database"]["status"], "up")
        own = self.health(node=other).json
        self.assertEqual(own["region"], "us-east")
        self.assertEqual(own["services"]["database"]["status"],
                         "unconfigured")
        r = self.health(region="atlantis")
        self.assertError(r, 404, "not_found", 'region "atlantis" does not')
        m = self.metrics()
        self.assertEqual(metric(m, "cogitator_health_database_up",
                                region="eu-west"), 1)
        self.assertEqual(metric(m, "cogitator_health_redis_up",
                                region="eu-west"), 1)
        self.assertIsNotNone(metric(m, "cogitator_probe_latency_seconds",
                                    region="eu-west", service="database"))

    def test_database_down_is_unhealthy_then_recovers(self):
        self.pg.halt()
        h = self.wait_health("unhealthy")
        r = self.health()
        self.assertEqual(r.status, 503)
        self.assertEqual(h["services"]["database"]["status"], "down")
        self.assertIn("connect", h["services"]["database"]["error"])
        self.assertEqual(metric(self.metrics(), "cogitator_health_database_up",
                                region="eu-west"), 0)
        # The leader commits it: every node sees the region degraded.
        n3 = self.c.node(3)
        wait_until(lambda: n3.get("/api/regions/eu-west?stale=true")
                   .json["status"] == "degraded", 10, what="eu-west degraded")
        wait_until(lambda: metric(self.metrics(n3),
                                  "cogitator_health_database_up",
                                  region="eu-west") == 0, 10,
                   what="database_up 0 on node 3")
        hist = self.c.leader().get("/api/history").json["history"]
        self.assertTrue(any(e["action"] == "region-status" and
                            "down: database" in e["detail"] for e in hist))
        self.pg.start()
        self.wait_health("healthy")
        wait_until(lambda: n3.get("/api/regions/eu-west?stale=true")
                   .json["status"] == "healthy", 10, what="eu-west healthy")
        self.assertEqual(metric(self.metrics(), "cogitator_health_database_up",
                                region="eu-west"), 1)

    def test_one_failed_round_is_not_an_outage(self):
        """[probes] down_after: the node's own health shows PostgreSQL
        down from the first failed round, while the region the leader
        commits stays healthy until DOWN_AFTER rounds in a row failed
        (PROBE_MS apart); then it is degraded."""
        n3 = self.c.node(3)

        def region():
            return n3.get("/api/regions/eu-west?stale=true").json["status"]
        self.assertEqual(region(), "healthy")
        # Stopped, not gone: each probe times out (a server too busy to
        # answer), from the next round on.
        os.kill(self.pg.proc_pid, signal.SIGSTOP)
        try:
            self.wait_health("unhealthy")
            seen = time.monotonic()
            # The first failed round is at most one poll old; the region
            # cannot be degraded before DOWN_AFTER - 1 more rounds.
            window = (DOWN_AFTER - 1) * PROBE_MS / 1000.0 - 0.3
            while time.monotonic() - seen < window:
                self.assertEqual(region(), "healthy",
                                 "degraded before %d failed rounds"
                                 % DOWN_AFTER)
                time.sleep(0.05)
            wait_until(lambda: region() == "degraded", 10,
                       what="eu-west degraded")
        finally:
            os.kill(self.pg.proc_pid, signal.SIGCONT)
        self.wait_health("healthy")
        wait_until(lambda: region() == "healthy", 10, what="eu-west healthy")

    def test_redis_down_is_degraded_then_recovers(self):
        self.redis.halt()
        h = self.wait_health("degraded")
        self.assertEqual(self.health().status, 200)
        self.assertEqual(h["services"]["redis"]["status"], "down")
        self.assertEqual(metric(self.metrics(), "cogitator_health_redis_up",
                                region="eu-west"), 0)
        self.redis.start()
        self.wait_health("healthy")
        self.assertEqual(metric(self.metrics(), "cogitator_health_redis_up",
                                region="eu-west"), 1)

    def test_breaker_opens_routes_down_the_chain_and_recovers(self):
        self.assertEqual(self.route().json["provider"], "ollama")
        self.stubs["/ollama/"].mode = "error"
        self.wait_breaker("ollama", "open")
        h = self.wait_health("degraded")
        self.assertEqual(h["circuitBreakers"]["ollama"], "open")
        self.assertEqual(h["services"]["ollama"]["status"], "down")
        r = self.route()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["provider"], "openai")
        self.assertFalse(r.json["trial"])
        m = self.metrics(self.c.node(3))
        self.assertEqual(metric(m, "cogitator_circuit_breaker_state",
                                service="ollama", state="open"), 1)
        self.assertEqual(metric(m, "cogitator_circuit_breaker_state",
                                service="ollama", state="closed"), 0)
        self.assertGreaterEqual(metric(m, "cogitator_requests_errors_total",
                                       service="ollama"), 5)
        # Recovered: half-open after the reset timeout, closed on the next
        # successful probe.
        self.stubs["/ollama/"].mode = "ok"
        self.wait_breaker("ollama", "closed", timeout=RESET_MS / 1000 + 10)
        hist = [e["action"] for e in
                self.c.leader().get("/api/history").json["history"]]
        i = len(hist) - 1 - hist[::-1].index("breaker-open")
        self.assertIn("breaker-half-open", hist[i:])
        self.assertIn("breaker-close", hist[i:])
        self.assertEqual(self.route().json["provider"], "ollama")

    def test_hang_past_timeout_counts_as_failure(self):
        self.stubs["/openai/"].mode = "hang"
        self.wait_breaker("openai", "open")
        h = self.health().json
        self.assertIn("timed out", h["services"]["openai"]["error"])
        self.stubs["/openai/"].mode = "badjson"
        time.sleep((RESET_MS + 3 * PROBE_MS) / 1000)
        self.assertEqual(self.breakers()["openai"]["state"], "open")
        self.assertIn("JSON", self.health().json["services"]["openai"]
                      ["error"])

    def test_half_open_survives_a_leader_change(self):
        # Lead from node 2, open ollama, then kill the leader before the
        # reset timeout ends: the new leader half-opens it on time.
        r = self.c.leader().write("POST", "/api/leader/transfer", {"to": 2})
        self.assertEqual(r.status, 200, r)
        self.c.wait_for_leader()
        self.assertEqual(self.c.leader().id, 2)
        self.stubs["/ollama/"].mode = "error"
        self.wait_breaker("ollama", "open")
        opened = self.breakers()["ollama"]["opened_ms"]
        self.stubs["/ollama/"].mode = "ok"
        self.c.kill(2)
        try:
            self.c.wait_for_leader(ids=[1, 3])
            self.wait_breaker("ollama", "closed", timeout=15)
            b = self.breakers()["ollama"]
            self.assertGreaterEqual(b["changed_ms"], opened + RESET_MS)
        finally:
            self.c.start(2)
            self.c.wait_for_leader()

    def test_silent_region_is_degraded_then_back(self):
        """eu-west's only node stops: once its reports are overdue, the
        leader commits its services unknown (the region degraded) instead of
        showing the last values; when it is back, so is its health."""
        if self.c.leader().id == 1:
            r = self.c.leader().write("POST", "/api/leader/transfer",
                                      {"to": 2})
            self.assertEqual(r.status, 200, r)
            self.c.wait_for_leader()
        n2 = self.c.node(2)
        leader = self.c.leader()
        wait_until(lambda: n2.get("/api/regions/eu-west?stale=true")
                   .json["services"]["database"] == "up", 10,
                   what="eu-west's database committed up")
        # The leader has heard node 1 (a new leader gives silent regions
        # three of its own probe intervals first).
        wait_until(lambda: leader.get("/api/health?region=eu-west")
                   .json["source"] == "leader", 10,
                   what="the leader's view of eu-west")
        self.c.kill(1)
        try:
            wait_until(lambda: n2.get("/api/regions/eu-west?stale=true")
                       .json["status"] == "degraded", 15,
                       what="silent eu-west degraded")
            reg = n2.get("/api/regions/eu-west?stale=true").json
            self.assertEqual(reg["services"]["database"], "unknown")
            h = n2.get("/api/health?region=eu-west").json
            self.assertEqual((h["status"], h["source"]),
                             ("degraded", "replicated"))
            self.assertIsNone(metric(self.metrics(n2),
                                     "cogitator_health_database_up",
                                     region="eu-west"))
            hist = self.c.leader().get("/api/history").json["history"]
            self.assertIn("eu-west: healthy -> degraded (no report from its "
                          "nodes)", [e["detail"] for e in hist])
        finally:
            self.c.start(1)
            self.c.wait_for_leader()
        wait_until(lambda: n2.get("/api/regions/eu-west?stale=true")
                   .json["status"] == "healthy", 15,
                   what="eu-west healthy again")

    def test_events_fallback_trials_queue_mode_and_reset(self):
        leader = self.c.leader()
        follower = self.c.followers(leader)[0]
        # Ollama and OpenAI fail their probes and open.
        self.stubs["/ollama/"].mode = "error"
        self.stubs["/openai/"].mode = "error"
        self.wait_breaker("ollama", "open")
        self.wait_breaker("openai", "open")
        self.assertEqual(self.route().json["provider"], "anthropic")
        # Anthropic is not probed: only app events move its breaker. Sent
        # to a follower, they land through the leader.
        r = follower.write("POST", "/api/breakers/anthropic/events",
                           {"events": ["failure"] * 4 + ["success"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["state"], "closed")
        self.assertEqual(r.json["failures"], 0)
        r = follower.write("POST", "/api/breakers/anthropic/events",
                           {"events": ["failure"] * 5})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["state"], "open")
        # Everything open: 503, queue mode reported.
        r = self.route()
        self.assertEqual(r.status, 503, r)
        self.assertFalse(r.json["queue_mode"])
        self.assertIn("no LLM provider is available", r.json["error"]
                      ["message"])
        r = leader.write("PUT", "/api/settings/queue_mode", {"value": True})
        self.assertEqual(r.status, 200, r)
        r = self.route()
        self.assertEqual(r.status, 503)
        self.assertTrue(r.json["queue_mode"])
        # Anthropic half-opens after the timeout: three trials, no more.
        # (Alone in the chain: the probed providers cycle through half-open
        # on their own and would take the trials first.)
        self.addCleanup(leader.write, "PUT", "/api/settings/llm.fallback_chain",
                        {"value": "ollama,openai,anthropic"})
        r = leader.write("PUT", "/api/settings/llm.fallback_chain",
                         {"value": "anthropic"})
        self.assertEqual(r.status, 200, r)
        self.wait_breaker("anthropic", "half_open", timeout=10)
        # Trials go only to clients with the token, and never from a stale
        # read: neither can use them up.
        self.assertEqual(self.route(token=False).status, 503)
        r = follower.get("/api/llm/route?stale=true")
        self.assertEqual(r.status, 503, r)
        self.assertEqual(self.breakers()["anthropic"]["trials"], 0)
        for _ in range(3):
            r = self.route()
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["provider"], "anthropic")
            self.assertTrue(r.json["trial"])
        self.assertEqual(self.route().status, 503)
        r = leader.write("POST", "/api/breakers/anthropic/events",
                         {"events": ["success"]})
        self.assertEqual(r.json["state"], "closed")
        # (Ollama and OpenAI may be half-open by now and take trials first.)
        self.assertEqual(self.route().status, 200)
        r = leader.write("PUT", "/api/settings/queue_mode", {"value": False})
        self.assertEqual(r.status, 200)
        # The seed's manual reset closes them all (an admin write: a
        # follower redirects it to the leader, as drctl follows).
        r = follower.write("POST", "/api/admin/circuit-breakers/reset")
        self.assertEqual(r.status, 307, r)
        self.assertIn(leader.api_address, r.header("location"))
        r = leader.write("POST", "/api/admin/circuit-breakers/reset")
        self.assertEqual(r.status, 200, r)
        self.assertEqual({b["provider"]: b["state"]
                          for b in r.json["breakers"]},
                         {"ollama": "closed", "openai": "closed",
                          "anthropic": "closed"})

    def test_drctl(self):
        rc, out, err = self.drctl("health", "--region", "eu-west")
        self.assertEqual(rc, 0, err)
        self.assertIn("eu-west: healthy", out)
        self.assertRegex(out, r"database +up ")
        rc, out, err = self.drctl("breakers", "list")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"ollama +closed")
        self.assertIn("fallback chain: ollama -> openai -> anthropic", out)
        self.assertIn("queue mode: off", out)
        rc, out, err = self.drctl("breakers", "route")
        self.assertEqual((rc, out.strip()), (0, "ollama"), err)
        self.stubs["/ollama/"].mode = "error"
        self.wait_breaker("ollama", "open")
        rc, out, err = self.drctl("breakers", "route")
        self.assertEqual((rc, out.strip()), (0, "openai"), err)
        rc, out, err = self.drctl("breakers", "reset", "ollama")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"ollama +closed")
        rc, out, err = self.drctl("breakers", "reset", "mistral")
        self.assertEqual(rc, 2)
        self.assertIn('unknown provider "mistral"', err)
        rc, out, err = self.drctl("breakers", "reset", "a", "b")
        self.assertEqual(rc, 2)
        rc, out, err = self.drctl("health", "--region", "atlantis")
        self.assertEqual(rc, 1)
        self.assertIn('region "atlantis" does not exist', err)
        self.pg.halt()
        self.wait_health("unhealthy", node=self.c.node(3), region="eu-west")
        rc, out, err = self.drctl("health", "--region", "eu-west")
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"database +down")

    def test_bad_input_changes_nothing(self):
        leader = self.c.leader()
        follower = self.c.followers(leader)[0]
        before = self.breakers()
        idx = leader.status()["commit_index"]
        cases = [
            (follower, "/api/breakers/mistral/events",
             {"events": ["failure"]}, True, 404, "not_found",
             'unknown LLM provider "mistral"'),
            (leader, "/api/breakers/openai/events", {"events": "failure"},
             True, 400, "invalid_argument", "events must be a non-empty"),
            (leader, "/api/breakers/openai/events", {"events": []}, True,
             400, "invalid_argument", "events must be a non-empty"),
            (leader, "/api/breakers/openai/events",
             {"events": ["failure", "maybe"]}, True, 400, "invalid_argument",
             'events[1] must be "success" or "failure"'),
            (leader, "/api/breakers/openai/events",
             {"events": ["failure"], "extra": 1}, True, 400,
             "invalid_argument", "extra"),
            (leader, "/api/breakers/openai/events",
             {"events": ["failure"] * 1001}, True, 413, "payload_too_large",
             "1001 events in one batch; at most 1000"),
            (leader, "/api/breakers/openai/events", {"events": ["failure"]},
             False, 401, "unauthorized", "Bearer"),
            (leader, "/api/breakers/openai/outcomes",
             {"events": ["failure"]}, True, 404, "not_found",
             "/api/breakers/openai/events"),
            (leader, "/api/admin/circuit-breakers/reset", None, False, 401,
             "unauthorized", "Bearer"),
            (leader, "/api/admin/circuit-breakers/reset?provider=mistral",
             None, True, 404, "not_found", 'unknown LLM provider "mistral"'),
            (leader, "/api/probes", {"node": 1, "region": "eu-west",
                                     "services": {"database":
                                                  {"status": "sideways"}}},
             True, 400, "invalid_argument", "database: status must be"),
            (leader, "/api/probes", {"node": 1, "region": "eu-west",
                                     "services": {"disk": {}}},
             True, 400, "invalid_argument", 'unknown service "disk"'),
        ]
        for node, path, body, auth, status, code, msg in cases:
            with self.subTest(path=path, body=str(body)[:60]):
                r = node.write("POST", path, body, token=True if auth else None)
                self.assertError(r, status, code, msg)
        raw = leader.request("POST", "/api/breakers/openai/events",
                             body=b"{not json", token=self.c.token)
        self.assertEqual(raw.status, 400)
        # Nothing moved: the breakers, and no entry beyond what probes and
        # the leader's own barrier could add.
        after = self.breakers()
        for p in ("openai", "anthropic"):
            self.assertEqual(after[p]["failures_total"],
                             before[p]["failures_total"])
        self.assertGreaterEqual(leader.status()["commit_index"], idx)


if __name__ == "__main__":
    drtest.main()
