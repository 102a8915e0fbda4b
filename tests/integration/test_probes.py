"""Health probes through `drnode --probe-once CONFIG` against a real
PostgreSQL, real redis-servers and an HTTP stub this test controls (status,
body, hanging past the timeout): everything up with its details, the API
keys in the right headers, services stopped, Redis passwords right and
wrong, HTTP errors, bodies that are not JSON or not the right shape, host
names resolved off the loop, and config errors."""

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import drtest  # noqa: E402

sys.dont_write_bytecode = True  # keep the source tree clean
import svc_redis  # noqa: E402
from svc_pg import PgServer, free_port, PG_BIN  # noqa: E402
from svc_redis import RedisServer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DRNODE = os.environ.get("DRNODE") or os.path.join(ROOT, "build", "node",
                                                  "drnode")
RUN_WAIT_S = 30.0
OPENAI_KEY = "sk-test-openai-0123456789"
ANTHROPIC_KEY = "sk-ant-test-9876543210"

NODE = """[node]
id = 1
region = eu-west
raft_address = 127.0.0.1:7001
api_address = 127.0.0.1:8001
data_dir = /nonexistent/drnode
[member.1]
region = eu-west
raft_address = 127.0.0.1:7001
api_address = 127.0.0.1:8001
"""

OLLAMA_TAGS = {"models": [{"name": "llama3.2:3b", "size": 1},
                          {"name": "nomic-embed-text:latest"}]}
OPENAI_MODELS = {"object": "list", "data": [{"id": "gpt-4o-mini"},
                                            {"id": "gpt-4o"}]}
ANTHROPIC_MODELS = {"data": [{"id": "claude-sonnet-4-5", "type": "model"}],
                    "has_more": False}
APP_HEALTH = {"status": "healthy",
              "services": {"database": {"status": "up"},
                           "wasm": {"available": True}}}


class Stub:
    """An HTTP server on loopback whose answers the test sets per path, and
    which keeps the headers of every request."""

    def __init__(self):
        self.routes = {}  # path -> (status, body bytes, delay seconds)
        self.seen = {}    # path -> [headers as a dict]
        self.lock = threading.Lock()
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                with stub.lock:
                    stub.seen.setdefault(self.path, []).append(
                        {k.lower(): v for k, v in self.headers.items()})
                    status, body, delay = stub.routes.get(
                        self.path, (404, b"not found", 0))
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the probe gave up first

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request, client_address):
                pass  # a probe that hung up first

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def url(self, prefix):
        return "http://127.0.0.1:%d%s" % (self.port, prefix)

    def set(self, path, body, status=200, delay=0):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        with self.lock:
            self.routes[path] = (status, body, delay)

    def headers(self, path):
        with self.lock:
            return list(self.seen.get(path, []))

    def reset(self):
        with self.lock:
            self.seen.clear()
        self.set("/ollama/api/tags", OLLAMA_TAGS)
        self.set("/openai/v1/models", OPENAI_MODELS)
        self.set("/anthropic/v1/models", ANTHROPIC_MODELS)
        self.set("/app/api/health", APP_HEALTH)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class ProbeCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dr-probes-")
        cls.pg = cls.redis = cls.redis_pw = cls.stub = None
        try:
            cls.pg = PgServer()
            cls.redis = RedisServer().start()
            cls.redis_pw = RedisServer(password="right-horse-battery").start()
            cls.stub = Stub()
        except BaseException:
            cls.tearDownClass()
            raise
        cls.openai_key = cls.secret("openai.key", OPENAI_KEY + "\n")
        cls.anthropic_key = cls.secret("anthropic.key", ANTHROPIC_KEY)

    @classmethod
    def tearDownClass(cls):
        for srv in (cls.stub, cls.redis, cls.redis_pw, cls.pg):
            if srv is not None:
                srv.stop()
        svc_redis.kill_all()
        if not os.environ.get("DRCLUSTER_KEEP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.stub.reset()

    @classmethod
    def secret(cls, name, text, mode=0o600):
        path = os.path.join(cls.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def all_services(self, **over):
        """Config values for every service, up; over replaces some."""
        v = {
            "pg": self.pg.conninfo("postgres"),
            # A primary: answers, not in recovery (test_pitr.py probes a
            # real standby).
            "pg_standby": self.pg.conninfo("postgres"),
            "redis": self.redis.address,
            "redis_password_file": None,
            "timeout_ms": 2000,
            "ollama_url": self.stub.url("/ollama"),
            "openai_url": self.stub.url("/openai/v1/"),
            "openai_key_file": self.openai_key,
            "anthropic_url": self.stub.url("/anthropic/v1"),
            "anthropic_key_file": self.anthropic_key,
            "app_url": self.stub.url("/app"),
        }
        v.update(over)
        return v

    def probe(self, values, expect_rc=None):
        """Run drnode --probe-once on a config of values (None: left out);
        return (rc, results or None, stderr, seconds)."""
        services = ["[services]"]
        for k in ("pg", "pg_standby", "redis", "redis_password_file"):
            if values.get(k) is not None:
                services.append("%s = %s" % (k, values[k]))
        probes = ["[probes]"]
        for k in ("interval_ms", "timeout_ms", "ollama_url", "openai_url",
                  "openai_key_file", "anthropic_url", "anthropic_key_file",
                  "app_url"):
            if values.get(k) is not None:
                probes.append("%s = %s" % (k, values[k]))
        path = os.path.join(self.tmp, "drnode.ini")
        with open(path, "w") as f:
            f.write(NODE + "\n".join(services) + "\n" + "\n".join(probes) +
                    "\n")
        t0 = time.monotonic()
        p = subprocess.run([DRNODE, "--probe-once", path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=RUN_WAIT_S)
        seconds = time.monotonic() - t0
        out = p.stdout.decode(errors="replace")
        err = p.stderr.decode(errors="replace")
        self.assertNotIn("Sanitizer", err)
        self.assertNotIn("runtime error", err)
        self.assertNotIn("did not close cleanly", err)
        for key in (OPENAI_KEY, ANTHROPIC_KEY, "right-horse-battery"):
            self.assertNotIn(key, out)
            self.assertNotIn(key, err)
        if expect_rc is not None:
            self.assertEqual(p.returncode, expect_rc, (out, err))
        results = None
        if p.returncode in (0, 1):
            lines = out.strip().splitlines()
            self.assertEqual(len(lines), 1, out)
            results = json.loads(lines[0])
            self.assertEqual(sorted(results), sorted(
                ["database", "redis", "ollama", "openai", "anthropic",
                 "app", "pg_standby"]))
            any_down = any(r["status"] not in ("up", "unconfigured")
                           for r in results.values())
            self.assertEqual(p.returncode, 1 if any_down else 0, results)
        return p.returncode, results, err, seconds

    def assert_down(self, result, *needles):
        if os.environ.get("PROBE_TEST_VERBOSE"):
            print(result["error"], file=sys.stderr)
        self.assertEqual(result["status"], "down", result)
        for n in needles:
            self.assertIn(n, result["error"])

    # Everything up

    def test_all_up(self):
        rc, r, _, _ = self.probe(self.all_services(), expect_rc=0)
        for name, res in r.items():
            self.assertEqual(res["status"], "up", (name, res))
            self.assertEqual(res["error"], "", name)
            self.assertGreater(res["latency_ms"], 0, name)
            self.assertLess(res["latency_ms"], 2000, name)
        db = r["database"]
        self.assertGreaterEqual(db["connections"], 1)  # the probe itself
        self.assertLess(db["connections"], 50)
        self.assertEqual(db["max_connections"], 50)  # svc_pg's setting
        self.assertGreater(r["redis"]["used_memory"], 0)
        self.assertEqual(r["redis"]["maxmemory"], 0)
        self.assertEqual(r["ollama"]["models"],
                         ["llama3.2:3b", "nomic-embed-text:latest"])
        self.assertEqual(r["openai"]["models"], ["gpt-4o-mini", "gpt-4o"])
        self.assertEqual(r["anthropic"]["models"], ["claude-sonnet-4-5"])
        self.assertIs(r["app"]["wasm_available"], True)
        self.assertIs(r["pg_standby"]["in_recovery"], False)
        self.assertEqual(r["pg_standby"]["replay_delay_s"], -1)
        # The keys went in their headers, and only to their provider.
        openai = self.stub.headers("/openai/v1/models")
        self.assertEqual(len(openai), 1)
        self.assertEqual(openai[0].get("authorization"),
                         "Bearer " + OPENAI_KEY)
        self.assertNotIn("x-api-key", openai[0])
        anthropic = self.stub.headers("/anthropic/v1/models")
        self.assertEqual(len(anthropic), 1)
        self.assertEqual(anthropic[0].get("x-api-key"), ANTHROPIC_KEY)
        self.assertEqual(anthropic[0].get("anthropic-version"), "2023-06-01")
        self.assertNotIn("authorization", anthropic[0])
        for path in ("/ollama/api/tags", "/app/api/health"):
            h = self.stub.headers(path)
            self.assertEqual(len(h), 1, path)
            self.assertNotIn("authorization", h[0])
            self.assertNotIn("x-api-key", h[0])

    def test_unconfigured_and_wasm_unknown(self):
        self.stub.set("/app/api/health", {"status": "healthy"})
        rc, r, _, _ = self.probe({"app_url": self.stub.url("/app")},
                                 expect_rc=0)
        self.assertEqual(r["app"]["status"], "up")
        self.assertIsNone(r["app"]["wasm_available"])
        for name in ("database", "redis", "ollama", "openai", "anthropic"):
            self.assertEqual(r[name]["status"], "unconfigured", name)
        self.stub.set("/app/api/health",
                      {"services": {"wasm": {"available": False}}})
        rc, r, _, _ = self.probe({"app_url": self.stub.url("/app")},
                                 expect_rc=0)
        self.assertIs(r["app"]["wasm_available"], False)

    # Services down

    def test_database_stopped(self):
        pg = PgServer()
        try:
            conninfo = pg.conninfo("postgres")
            port = pg.port
            rc, r, _, _ = self.probe({"pg": conninfo}, expect_rc=0)
            self.assertEqual(r["database"]["status"], "up")
            pg.run([os.path.join(PG_BIN, "pg_ctl"), "-D", pg.data, "-m",
                    "fast", "-w", "stop"])
            rc, r, _, seconds = self.probe({"pg": conninfo, "timeout_ms": 1000},
                                           expect_rc=1)
            self.assert_down(r["database"], "connect 127.0.0.1:%d: " % port,
                             "Connection refused")
            self.assertNotIn("\n", r["database"]["error"])
            self.assertLess(seconds, 1.0 + 2.0)
        finally:
            pg.stop()

    def test_redis_stopped(self):
        srv = RedisServer().start()
        address = srv.address
        srv.stop()
        rc, r, _, seconds = self.probe(
            self.all_services(redis=address, timeout_ms=1000), expect_rc=1)
        self.assert_down(r["redis"], "connect %s: Connection refused"
                         % address)
        self.assertLess(seconds, 1.0 + 2.0)
        for name in ("database", "ollama", "openai", "anthropic", "app"):
            self.assertEqual(r[name]["status"], "up", name)

    def test_redis_password(self):
        right = self.secret("redis.pw", "right-horse-battery\n")
        wrong = self.secret("redis-wrong.pw", "wrong horse\n")
        rc, r, _, _ = self.probe({"redis": self.redis_pw.address,
                                  "redis_password_file": right},
                                 expect_rc=0)
        self.assertEqual(r["redis"]["status"], "up")
        self.assertGreater(r["redis"]["used_memory"], 0)
        rc, r, _, _ = self.probe({"redis": self.redis_pw.address,
                                  "redis_password_file": wrong},
                                 expect_rc=1)
        self.assert_down(r["redis"], "redis %s: AUTH: "
                         % self.redis_pw.address)
        self.assertTrue("WRONGPASS" in r["redis"]["error"] or
                        "invalid password" in r["redis"]["error"],
                        r["redis"])
        rc, r, _, _ = self.probe({"redis": self.redis_pw.address},
                                 expect_rc=1)
        self.assert_down(r["redis"], "PING: NOAUTH")

    def test_silent_servers(self):
        """PostgreSQL and Redis addresses that accept connections and never
        answer: both time out, and the run still closes cleanly."""
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel accepts; nobody answers
        port = silent.getsockname()[1]
        try:
            rc, r, _, seconds = self.probe(
                {"pg": "host=127.0.0.1 port=%d dbname=x" % port,
                 "redis": "127.0.0.1:%d" % port, "timeout_ms": 700},
                expect_rc=1)
        finally:
            silent.close()
        self.assert_down(r["database"], "timed out after 700 ms (connecting "
                         "to 127.0.0.1:%d)" % port)
        self.assert_down(r["redis"], "timed out after 700 ms (PING on "
                         "127.0.0.1:%d)" % port)
        self.assertGreaterEqual(seconds, 0.7)
        self.assertLess(seconds, 0.7 + 2.0)

    # HTTP answers the probes refuse

    def test_http_hangs(self):
        self.stub.set("/app/api/health", APP_HEALTH, delay=4)
        self.stub.set("/ollama/api/tags", OLLAMA_TAGS, delay=4)
        rc, r, _, seconds = self.probe(self.all_services(timeout_ms=500),
                                       expect_rc=1)
        self.assert_down(r["app"], "timed out after 500 ms",
                         "GET %s/api/health" % self.stub.url("/app"))
        self.assert_down(r["ollama"], "timed out after 500 ms")
        self.assertLess(seconds, 0.5 + 2.0)
        for name in ("database", "redis", "openai", "anthropic"):
            self.assertEqual(r[name]["status"], "up", name)

    def test_http_status(self):
        self.stub.set("/app/api/health", {"status": "unhealthy"}, status=503)
        self.stub.set("/openai/v1/models", {"error": "boom"}, status=500)
        self.stub.set("/anthropic/v1/models", {"error": "no key"},
                      status=401)
        rc, r, _, _ = self.probe(self.all_services(), expect_rc=1)
        self.assert_down(r["app"], "HTTP 503")
        self.assert_down(r["openai"], "GET %s/models: HTTP 500"
                         % self.stub.url("/openai/v1"))
        self.assert_down(r["anthropic"], "HTTP 401")
        self.assertEqual(r["ollama"]["status"], "up")

    def test_bad_bodies(self):
        self.stub.set("/ollama/api/tags", b"<html>not json</html>")
        self.stub.set("/openai/v1/models", {"data": "gpt-4o"})
        self.stub.set("/anthropic/v1/models", {"data": [{"name": "x"}]})
        self.stub.set("/app/api/health",
                      {"services": {"wasm": {"available": "yes"}}})
        rc, r, _, _ = self.probe(self.all_services(), expect_rc=1)
        self.assert_down(r["ollama"], "the answer is not JSON")
        self.assert_down(r["openai"], 'the answer has no "data" array')
        self.assert_down(r["anthropic"], 'data[0] has no "id" string')
        self.assert_down(r["app"], '"services.wasm.available" is not a '
                         'boolean')
        self.stub.set("/ollama/api/tags", [1, 2])
        self.stub.set("/app/api/health", b"x" * (2 << 20))
        rc, r, _, _ = self.probe(self.all_services(), expect_rc=1)
        self.assert_down(r["ollama"], "the answer is not a JSON object")
        self.assert_down(r["app"], "response body is larger than 1048576")

    def test_unreachable_http(self):
        port = free_port()
        rc, r, _, _ = self.probe(
            {"ollama_url": "http://127.0.0.1:%d" % port}, expect_rc=1)
        self.assert_down(r["ollama"],
                         "GET http://127.0.0.1:%d/api/tags: " % port)

    # Names resolved off the loop

    def test_host_names(self):
        conninfo = "host=localhost port=%d dbname=postgres user=postgres" % (
            self.pg.port)
        rc, r, _, _ = self.probe(
            self.all_services(pg=conninfo,
                              redis="localhost:%d" % self.redis.port),
            expect_rc=0)
        self.assertEqual(r["database"]["status"], "up")
        self.assertEqual(r["database"]["max_connections"], 50)
        self.assertEqual(r["redis"]["status"], "up")
        rc, r, _, _ = self.probe(
            {"pg": "host=no-such-host.invalid dbname=postgres",
             "redis": "no-such-host.invalid:6379"}, expect_rc=1)
        self.assert_down(r["database"], "resolve no-such-host.invalid: ")
        self.assert_down(r["redis"], "resolve no-such-host.invalid: ")
        # A service file could name a host libpq would resolve on the loop.
        rc, r, _, _ = self.probe({"pg": "service=cogitator dbname=postgres"},
                                 expect_rc=1)
        self.assert_down(r["database"], "service=cogitator is not supported")

    # Config and key file errors

    def test_config_errors(self):
        rc, _, err, _ = self.probe(
            {"ollama_url": "ftp://127.0.0.1/"}, expect_rc=2)
        self.assertIn("[probes] ollama_url: URL \"ftp://127.0.0.1/\" must "
                      "start with http:// or https://", err)
        rc, _, err, _ = self.probe(
            {"openai_key_file": self.openai_key}, expect_rc=2)
        self.assertIn("[probes] openai_key_file is set but openai_url is "
                      "not", err)
        loose = self.secret("loose.key", OPENAI_KEY, mode=0o644)
        rc, _, err, _ = self.probe(
            self.all_services(openai_key_file=loose), expect_rc=2)
        self.assertIn("[probes] openai_key_file %s is accessible by group or "
                      "others (mode 0644); chmod 600 it" % loose, err)
        rc, _, err, _ = self.probe(
            self.all_services(anthropic_key_file=loose + ".missing"),
            expect_rc=2)
        self.assertIn("cannot open [probes] anthropic_key_file", err)
        self.assertEqual(self.stub.headers("/openai/v1/models"), [])


if __name__ == "__main__":
    drtest.main()
