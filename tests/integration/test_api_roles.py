"""Named tokens with roles ([api] tokens_file): every route against every
role, in a table. reader: GET routes; operator: + backups, drills, breaker
events and resets; node: + probe reports, job claim/renew/finish, breaker
relays; admin: everything. No token: 401; an unknown token or too little
role: 403 naming the token and what the route needs. /api/health stays
open, /metrics is closed here ([api] open_metrics = false); the status page
is always open. The audit history names the token of every write; a node
whose own token is missing from the file, or has too little role, refuses
to start; a bad tokens file is refused with the line and the reason."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import unittest

import drtest  # noqa: E402

sys.dont_write_bytecode = True  # keep the source tree clean
import cdp  # noqa: E402
import drcluster  # noqa: E402
from drcluster import http_request  # noqa: E402

ROLES = ("reader", "operator", "node", "admin")

# (method, path, body, who may): body None for none. Requests that pass the
# role check may still fail for their own reasons (404, 409, 400): only
# 401/403 count as refused.
ALL = set(ROLES)
OPS = {"operator", "admin"}
NODE = {"node", "admin"}
RELAY = {"operator", "node", "admin"}
ADMIN = {"admin"}
TABLE = [
    ("GET", "/api/status", None, ALL),
    ("GET", "/api/regions", None, ALL),
    ("GET", "/api/regions/eu-west", None, ALL),
    ("GET", "/api/members", None, ALL),
    ("GET", "/api/settings", None, ALL),
    ("GET", "/api/settings/rpo.pg_s", None, ALL),
    ("GET", "/api/site", None, ALL),
    ("GET", "/api/history", None, ALL),
    ("GET", "/api/backups", None, ALL),
    ("GET", "/api/backups/nope", None, ALL),
    ("GET", "/api/jobs", None, ALL),
    ("GET", "/api/jobs/999", None, ALL),
    ("GET", "/api/drills", None, ALL),
    ("GET", "/api/drills/999", None, ALL),
    ("GET", "/api/failover", None, ALL),
    ("GET", "/api/replication", None, ALL),
    ("GET", "/api/breakers", None, ALL),
    ("GET", "/api/llm/route", None, ALL),
    ("GET", "/api/dns", None, ALL),
    ("GET", "/api/wal", None, ALL),
    ("GET", "/metrics", None, ALL),
    ("POST", "/api/backups", {"kind": "pg"}, OPS),
    ("DELETE", "/api/backups/nope", None, OPS),
    ("POST", "/api/backups/nope/verified", {"ok": True}, OPS),
    ("POST", "/api/drills", {"kind": "restore"}, OPS),
    ("POST", "/api/admin/circuit-breakers/reset", None, OPS),
    ("POST", "/api/breakers/ollama/events", {"events": ["success"]}, RELAY),
    ("POST", "/api/probes", {}, NODE),
    ("POST", "/api/jobs/999/claim", {"node": 1}, NODE),
    ("POST", "/api/jobs/999/renew", {"node": 1, "attempt": 1}, NODE),
    ("POST", "/api/jobs/999/finish", {"node": 1, "attempt": 1, "ok": True},
     NODE),
    ("PUT", "/api/settings/rpo.redis_s", {"value": 61}, ADMIN),
    ("POST", "/api/regions", {"name": "mars"}, ADMIN),
    ("PUT", "/api/regions/mars", {"priority": 3}, ADMIN),
    ("DELETE", "/api/regions/mars", None, ADMIN),
    ("POST", "/api/members", {"id": 9}, ADMIN),
    ("DELETE", "/api/members/9", None, ADMIN),
    ("POST", "/api/leader/transfer", {"to": 99}, ADMIN),
    ("POST", "/api/site/primary", {"region": "nowhere"}, ADMIN),
    ("POST", "/api/failover", {"to": "nowhere"}, ADMIN),
    ("POST", "/api/failover/resume", None, ADMIN),
    ("POST", "/api/failover/abort", None, ADMIN),
]
OPEN = [("GET", "/api/health"), ("GET", "/"), ("GET", "/ui/status.js")]


def write_tokens(path, lines, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write("# name role token\n" + "".join(l + "\n" for l in lines))
    os.chmod(path, mode)


class ApiRoles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = drcluster.Cluster(regions=("eu-west",), name="roles")
        n = cls.c.node(1)
        cls.tokens = {r: "%s-token-%s" % (r, os.urandom(12).hex())
                      for r in ROLES}
        # The node's own token (token_file) must be a node's.
        cls.tokens["node"] = cls.c.token
        for t in cls.tokens.values():
            drcluster.register_secret(t)
        cls.tokens_file = os.path.join(cls.c.base, "tokens")
        write_tokens(cls.tokens_file, ["%s-1 %s %s" % (r, r, t)
                                       for r, t in cls.tokens.items()])
        cls.c.api.update({"tokens_file": cls.tokens_file,
                          "open_metrics": "false"})
        cls.c.start_all()
        cls.c.wait_for_leader()
        cls.addr = n.api_address

    @classmethod
    def tearDownClass(cls):
        cls.c.cleanup()

    def call(self, method, path, body=None, token=None):
        return http_request(self.addr, method, path,
                            json.dumps(body).encode() if body is not None
                            else None, token=token)

    def test_every_route_every_role(self):
        refused = {}
        for method, path, body, who in TABLE:
            r = self.call(method, path, body)
            self.assertEqual(r.status, 401, (method, path, r))
            r = self.call(method, path, body, token="not-a-known-token-x")
            self.assertEqual(r.status, 403, (method, path, r))
            self.assertIn(b"the bearer token is not valid", r.body)
            for role in ROLES:
                r = self.call(method, path, body, token=self.tokens[role])
                allowed = r.status not in (401, 403)
                if allowed != (role in who):
                    refused[(method, path, role)] = (r.status, r.body[:200])
                if role not in who:
                    self.assertIn(("token %s-1 has role %s; this route needs"
                                   % (role, role)).encode(), r.body)
        self.assertEqual(refused, {})
        for method, path in OPEN:
            self.assertEqual(self.call(method, path).status, 200, path)

    def test_history_names_the_token(self):
        r = self.call("PUT", "/api/settings/rpo.redis_s", {"value": 59},
                      token=self.tokens["admin"])
        self.assertEqual(r.status, 200, r)
        h = json.loads(self.call("GET", "/api/history",
                                 token=self.tokens["reader"]).body)
        last = h["history"][-1]
        self.assertEqual(last["action"], "setting-set")
        self.assertEqual(last["actor"], "api:admin-1@127.0.0.1")

    def test_node_token_must_be_a_nodes(self):
        """A node whose token_file token is a reader's (or absent from the
        file) refuses to start, and --check-config says why."""
        n = self.c.node(1)
        swapped = "swapped-" + os.urandom(10).hex()  # 28: fits the role column
        drcluster.register_secret(swapped)
        for lines, why in (
                (["r %s %s" % ("reader", self.c.token)],
                 "is not in it with the node or admin role"),
                (["a admin %s" % self.tokens["admin"]],
                 "is not in it with the node or admin role"),
                (["a admin %s" % self.tokens["admin"], "b reader short"],
                 "the token (third word) must be 16 to 128 characters"),
                (["a boss %s" % self.tokens["admin"]],
                 "boss is not a role"),
                # Columns swapped: the token must not be shown.
                (["a %s admin" % swapped], "the second word is not a role"),

                (["a admin %s" % self.tokens["admin"],
                  "a node %s" % self.c.token], "repeats the name of line 2"),
                (["a admin %s" % self.c.token, "b node %s" % self.c.token],
                 "repeats the token of line 2"),
                (["only two"], "want \"NAME ROLE TOKEN\""),
                ([], "holds no token")):
            path = os.path.join(self.c.base, "tokens-bad")
            write_tokens(path, lines)
            conf = os.path.join(self.c.base, "bad.conf")
            text = self.c.config_text(n).replace(self.tokens_file, path)
            with open(conf, "w") as f:
                f.write(text)
            p = subprocess.run([drcluster.DRNODE, "--check-config", conf],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, (lines, p))
            self.assertIn(why, p.stderr, lines)
            self.assertNotIn(self.c.token, p.stderr)
            self.assertNotIn(self.tokens["admin"], p.stderr)
            self.assertNotIn(swapped, p.stderr)
        write_tokens(path, ["n node %s" % self.c.token], mode=0o640)
        p = subprocess.run([drcluster.DRNODE, "--check-config", conf],
                           capture_output=True, text=True, timeout=30)
        self.assertIn("accessible by group or others", p.stderr)

    def test_sighup_rotates_tokens(self):
        """kill -HUP: a new reader token works and the old one no longer
        does, with no request of a steady admin client lost meanwhile; a
        broken file changes nothing and the log says why."""
        n = self.c.node(1)
        lost, stop = [], threading.Event()

        def steady():
            while not stop.is_set():
                r = self.call("GET", "/api/site", token=self.tokens["admin"])
                if r.status != 200:
                    lost.append(r.status)
                time.sleep(0.005)
        t = threading.Thread(target=steady)
        t.start()
        try:
            old = self.tokens["reader"]
            new = "reader-token-" + os.urandom(12).hex()
            self.tokens["reader"] = new
            write_tokens(self.tokens_file, ["%s-1 %s %s" % (r, r, tok)
                                            for r, tok in self.tokens.items()])
            os.kill(n.proc.pid, signal.SIGHUP)
            drcluster.wait_until(
                lambda: self.call("GET", "/api/site", token=new).status == 200,
                10, what="the new reader token")
            self.assertEqual(self.call("GET", "/api/site", token=old).status,
                             403)
            # A broken file: nothing changes.
            with open(self.tokens_file) as f:
                good = f.read()
            write_tokens(self.tokens_file, ["x reader short"])
            os.kill(n.proc.pid, signal.SIGHUP)
            drcluster.wait_until(
                lambda: "tokens not reloaded (the old ones stay)" in
                n.log_tail(50), 10, what="the refusal in the log")
            self.assertEqual(self.call("GET", "/api/site", token=new).status,
                             200)
            with open(self.tokens_file, "w") as f:
                f.write(good)
        finally:
            stop.set()
            t.join(timeout=10)
        self.assertEqual(lost, [])
        self.assertNotIn(new, n.log_tail(200))

    def test_status_page_asks_for_a_token(self):
        """With roles the page cannot read without a token: it asks once,
        keeps the token in the tab's sessionStorage only, and then shows
        the cluster; a wrong token is asked for again."""
        b = cdp.Browser()
        self.addCleanup(b.close)
        b.navigate("http://%s/" % self.addr)

        def shown(expr, want):
            drcluster.wait_until(lambda: b.eval(expr) == want, 10,
                                 interval=0.2, what=expr)
        shown("document.getElementById('login').hidden", False)
        self.assertEqual(b.eval("document.body.dataset.state"), "unreachable")
        for token, state in (("wrong-token-0123456789", "unreachable"),
                             (self.tokens["reader"], "live")):
            b.eval("(() => { document.getElementById('token').value = %s; "
                   "document.getElementById('login').requestSubmit(); "
                   "return true; })()" % json.dumps(token))
            shown("document.body.dataset.state", state)
            shown("document.getElementById('login').hidden",
                  state == "live")
        self.assertEqual(b.eval("document.body.dataset.primary"), "eu-west")
        self.assertEqual(b.eval("sessionStorage.getItem("
                                "'drnode-reader-token')"),
                         self.tokens["reader"])
        self.assertEqual(b.eval("localStorage.length"), 0)
        self.assertEqual(b.problems(network_too=False), [])


if __name__ == "__main__":
    drtest.main()
