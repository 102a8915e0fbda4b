"""A region's http(s) endpoints are probed with a GET, not a TCP connect:
an answer below 500 means its data center still serves, a 5xx (a load
balancer whose backends are gone) or no answer means it does not. Three
regions, one node each, failover.mode manual; eu-west (the primary) names
one endpoint, a small HTTP server of this test whose answer it changes.
With eu-west's coordinator killed, the leader's verdict follows the
server: 200 -> "reaches its endpoints"; 503 -> "finds none of its
endpoints reachable" (in manual mode: logged, nothing moves); 404 ->
reachable again; server gone -> unreachable. Down time counts from the
endpoint's last answer. A surviving node's
drnode_region_endpoints_down_seconds{region="eu-west"} follows along. The
GETs carry User-Agent drnode-reach."""

import http.server
import threading
import time
import unittest

import drtest  # noqa: E402
import drcluster  # noqa: E402
from drcluster import wait_until  # noqa: E402


class App(http.server.BaseHTTPRequestHandler):
    status = 200
    agents = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        App.agents.append(self.headers.get("User-Agent", ""))
        body = b'{"status":"ok"}'
        self.send_response(App.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class ReachHttp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.app = http.server.ThreadingHTTPServer(("127.0.0.1", 0), App)
        cls.thread = threading.Thread(target=cls.app.serve_forever,
                                      daemon=True)
        cls.thread.start()
        cls.url = "http://127.0.0.1:%d/api/health" % cls.app.server_port
        cls.c = drcluster.Cluster(name="reach-http",
                                  probes={n: {"interval_ms": 200,
                                              "timeout_ms": 100}
                                          for n in (1, 2, 3)})
        cls.c.start_all()
        cls.c.wait_for_leader()

    @classmethod
    def tearDownClass(cls):
        cls.c.cleanup()
        if cls.app is not None:
            cls.app.shutdown()
            cls.app.server_close()

    def verdict(self):
        leader = self.c.wait_for_leader(ids=[2, 3])
        lost = leader.get("/api/failover").json.get("primary_lost") or {}
        return leader, lost

    def down_s(self, nid=2):
        """node nid's drnode_region_endpoints_down_seconds for eu-west."""
        text = self.c.node(nid).get("/metrics").body.decode()
        for line in text.splitlines():
            if line.startswith('drnode_region_endpoints_down_seconds'
                               '{region="eu-west"} '):
                return float(line.split()[-1])
        return None

    def leader_log_has(self, text):
        leader, _ = self.verdict()
        return text in leader.log_tail(300)

    def test_http_endpoint_verdicts(self):
        c = self.c
        for k, v in (("failover.mode", "manual"),
                     ("failover.detection_window_ms", "1000")):
            p = c.drctl("settings", "set", k, v)
            self.assertEqual(p.returncode, 0, p.stderr)
        r = c.leader().write("PUT", "/api/regions/eu-west",
                             {"endpoints": [self.url]})
        self.assertEqual(r.status, 200, r)
        c.kill(1)
        wait_until(lambda: "reaches its endpoints" in (
            self.verdict()[1].get("why_no_failover") or ""), 30,
            what="the verdict that eu-west still serves")
        self.assertIn("drnode-reach", App.agents)
        self.assertEqual(self.down_s(), 0.0)

        App.status = 503
        flipped = time.monotonic()
        # Down time counts from the last answer, not from the first failed
        # round: the first nonzero figure already covers all the time
        # since the flip (a round starts up to one interval after it).
        while True:
            asked = time.monotonic()
            down = self.down_s()
            if down:
                break
            self.assertLess(asked - flipped, 30, "never found down")
            time.sleep(0.02)
        self.assertGreaterEqual(down, asked - flipped - 0.05,
                                "down %.3f s, flipped %.3f s before" %
                                (down, asked - flipped))
        wait_until(lambda: self.leader_log_has("failover.mode is manual"), 30,
                   what="the verdict that eu-west's endpoint is down")
        self.assertTrue(self.leader_log_has(
            "finds none of its endpoints reachable"))
        self.assertGreater(self.down_s(), 0.0)
        site = c.leader().get("/api/site").json
        self.assertEqual(site["primary_region"], "eu-west")

        App.status = 404  # the app answers: its data center is there
        wait_until(lambda: "reaches its endpoints" in (
            self.verdict()[1].get("why_no_failover") or ""), 30,
            what="reachable again on a 404")
        wait_until(lambda: self.down_s() == 0.0, 10,
                   what="the gauge back at 0 on a 404")

        self.app.shutdown()
        self.app.server_close()
        type(self).app = None
        wait_until(lambda: (self.down_s() or 0) > 0.5, 30,
                   what="unreachable once the server is gone")
        self.assertEqual(c.leader().get("/api/site").json["primary_region"],
                         "eu-west")


if __name__ == "__main__":
    drtest.main()
