"""Every bad API request gets its documented error and changes nothing.

One 3-node cluster for the whole file (max_body_bytes = 4096). Before and
after each rejected request we compare the leader's commit_index and the
exact JSON of /api/regions, /api/settings, /api/site and /api/history. Those
reads use ?stale=true on the leader: a linearizable read appends a raft
barrier, which would advance commit_index by itself; a stale read on the
leader answers from the same applied state without touching the log.
"""

import sys
import unittest

import drtest  # noqa: E402

sys.dont_write_bytecode = True  # keep the source tree clean
import drcluster  # noqa: E402
from drcluster import Cluster, ClusterTestCase

STATE_PATHS = ("/api/regions", "/api/settings", "/api/site", "/api/history",
               "/api/backups", "/api/jobs")
MAX_BODY = 4096

# Write routes with a body that would be accepted (or at least pass auth and
# parsing) if it were authorized.
WRITE_ROUTES = [
    ("POST", "/api/regions", {"name": "never-added"}),
    ("PUT", "/api/regions/eu-west", {"priority": 99}),
    ("DELETE", "/api/regions/ap-south", None),
    ("PUT", "/api/settings/queue_mode", {"value": True}),
    ("POST", "/api/site/primary", {"region": "ap-south"}),
    ("POST", "/api/members", {"id": 9, "region": "eu-west",
                              "raft_address": "127.0.0.1:9",
                              "api_address": "127.0.0.1:10"}),
    ("DELETE", "/api/members/3", None),
    ("POST", "/api/leader/transfer", {}),
    ("POST", "/api/failover", {"to": "eu-west"}),
    ("POST", "/api/failover/resume", {}),
    ("POST", "/api/failover/abort", {}),
]


class TestApiErrors(ClusterTestCase):
    cluster = None
    leader = None
    failed = False

    @classmethod
    def setUpClass(cls):
        c = Cluster(name="api_errors", api={"max_body_bytes": MAX_BODY},
                    raft={"election_timeout_ms": 1000,
                          "heartbeat_timeout_ms": 100})
        cls.addClassCleanup(lambda: c.cleanup(failed=cls.failed))
        cls.cluster = c
        c.start_all()
        cls.leader = c.wait_for_leader()
        # Epoch 2 with us-east primary: gives a stale epoch (1) to use and
        # a non-bootstrap primary.
        r = cls.leader.write("POST", "/api/site/primary",
                             {"region": "us-east", "reason": "setup",
                              "expected_epoch": 1})
        assert r.status == 200, r
        assert r.json["epoch"] == 2, r
        c.wait_for_leader()

    def tearDown(self):
        if self._test_failed():
            type(self).failed = True

    # Helpers.

    def snapshot(self):
        L = self.leader
        st = L.status()
        self.assertEqual(st["role"], "leader",
                         "leadership moved during the test: %r" % st)
        out = {"commit_index": st["commit_index"]}
        for p in STATE_PATHS:
            r = L.get(p, stale=True)
            self.assertEqual(r.status, 200, r)
            out[p] = r.body
        return out

    def rejected(self, method, path, body, status, code, msg_part,
                 token=True, headers=None):
        """Send the request to the leader, assert the error, and that the
        state and commit_index are unchanged. Returns the response."""
        before = self.snapshot()
        r = self.leader.write(method, path, body, token=token,
                              headers=headers)
        self.assertError(r, status, code, msg_part)
        self.assertEqual(r.header("content-type"), "application/json", r)
        after = self.snapshot()
        self.assertEqual(after["commit_index"], before["commit_index"],
                         "%s %s advanced commit_index" % (method, path))
        for p in STATE_PATHS:
            self.assertEqual(after[p], before[p], "%s %s changed %s" %
                             (method, path, p))
        return r

    # Authentication.

    def test_no_token_401(self):
        for method, path, body in WRITE_ROUTES:
            with self.subTest(method=method, path=path):
                self.rejected(method, path, body, 401, "unauthorized",
                              "needs Authorization: Bearer", token=None)
        # Auth comes before parsing: a bad body without a token is 401.
        self.rejected("POST", "/api/regions", "{not json", 401,
                      "unauthorized", "Bearer", token=None)

    def test_not_bearer_401(self):
        self.rejected("POST", "/api/regions", {"name": "never-added"}, 401,
                      "unauthorized", "must use the Bearer scheme",
                      token=None,
                      headers={"Authorization": "Basic " +
                               self.cluster.token})

    def test_wrong_token_403(self):
        for method, path, body in WRITE_ROUTES:
            with self.subTest(method=method, path=path):
                self.rejected(method, path, body, 403, "forbidden",
                              "bearer token is not valid",
                              token=self.cluster.token + "x")
        self.rejected("PUT", "/api/settings/queue_mode", {"value": True},
                      403, "forbidden", "not valid", token="")
        self.rejected("PUT", "/api/settings/queue_mode", "{not json", 403,
                      "forbidden", "not valid", token="wrong")

    def test_reads_need_no_token(self):
        for p in STATE_PATHS + ("/api/status", "/api/members"):
            self.assertEqual(self.leader.get(p, stale=True).status, 200, p)

    # Bodies.

    def test_malformed_json_400(self):
        cases = (('{"name": "x"', "at byte 12: expected ',' or '}'"),
                 ("{name: 1}", "at byte 1: expected a string key"),
                 ("nul", "at byte 0: unexpected token"),
                 ('{"name":"a",}', "at byte 12: expected a string key"),
                 ('{"name":"a","name":"b"}', 'duplicate key "name"'),
                 ('{"name":"a\x01"}', "control character in string"),
                 ('{"name":"a\\u0000"}', "\\u0000 is not allowed"),
                 ('{"name":"\\ud800"}', "unpaired surrogate"),
                 (b'{"name":"\xff"}', "invalid UTF-8"),
                 ('{"priority":01}', "leading zero"),
                 ('{"priority":99999999999999999999}', "64-bit range"),
                 ('{"name":"a"} x', "trailing data"),
                 ("[" * 40, "nested too deeply"))
        for body, msg in cases:
            with self.subTest(body=body):
                self.rejected("POST", "/api/regions", body, 400,
                              "invalid_argument", msg)
        self.rejected("PUT", "/api/settings/queue_mode", "{", 400,
                      "invalid_argument", "malformed JSON at byte 1")
        self.rejected("POST", "/api/site/primary", "[", 400,
                      "invalid_argument", "malformed JSON")

    def test_not_an_object_or_empty_400(self):
        self.rejected("POST", "/api/regions", "[1]", 400, "invalid_argument",
                      "request body must be a JSON object")
        self.rejected("POST", "/api/regions", '"eu-west"', 400,
                      "invalid_argument", "request body must be a JSON object")
        self.rejected("POST", "/api/regions", b"", 400, "invalid_argument",
                      "request body is empty")
        self.rejected("POST", "/api/regions", '{"name":"a","priority":1.5}',
                      400, "invalid_argument",
                      'field "priority" must be an integer')

    def test_wrong_type_400_names_field(self):
        cases = [
            ("POST", "/api/regions", {"name": "typed", "priority": "high"},
             'field "priority" must be an integer'),
            ("POST", "/api/regions", {"name": 7}, 'field "name" must be a '
             'string'),
            ("POST", "/api/regions", {"name": "typed", "dns_targets": "a"},
             'field "dns_targets" must be an array of strings'),
            ("POST", "/api/regions", {"name": "typed", "dns_targets": [1]},
             'field "dns_targets" must be an array of strings'),
            ("PUT", "/api/regions/eu-west", {"endpoints": "tcp://x:1"},
             'field "endpoints" must be an array of strings'),
            ("PUT", "/api/regions/eu-west", {"object_store": 5},
             'field "object_store" must be a string'),
            ("POST", "/api/site/primary", {"region": "ap-south",
                                           "expected_epoch": "2"},
             'field "expected_epoch" must be an integer'),
            ("POST", "/api/leader/transfer", {"to": "2"},
             'field "to" must be an integer'),
            ("POST", "/api/members", {"id": "9", "region": "eu-west",
                                      "raft_address": "127.0.0.1:9",
                                      "api_address": "127.0.0.1:10"},
             'field "id" must be an integer'),
            ("PUT", "/api/settings/queue_mode", {"value": [True]},
             'field "value" must be an integer, a boolean or a string'),
            ("PUT", "/api/settings/queue_mode", {"value": 1},
             "setting queue_mode takes a bool"),
            ("PUT", "/api/settings/backup.pg_interval_s", {"value": "120"},
             "setting backup.pg_interval_s takes a"),
            ("POST", "/api/failover", {"to": 5},
             'field "to" must be a string'),
            ("POST", "/api/failover/resume", {"epoch": "2"},
             'field "epoch" must be an integer'),
            ("PUT", "/api/settings/replication.targets", {"value": 3},
             "setting replication.targets takes a string"),
        ]
        for method, path, body, msg in cases:
            with self.subTest(method=method, path=path, body=body):
                self.rejected(method, path, body, 400, "invalid_argument",
                              msg)

    def test_unknown_field_400_names_it(self):
        cases = [
            ("POST", "/api/regions", {"name": "fielded", "colour": "red"},
             "colour"),
            ("PUT", "/api/regions/eu-west", {"name": "eu-west"}, "name"),
            ("PUT", "/api/settings/queue_mode", {"value": True, "ttl": 1},
             "ttl"),
            ("POST", "/api/site/primary", {"region": "ap-south",
                                           "force": True}, "force"),
            ("POST", "/api/leader/transfer", {"target": 2}, "target"),
            ("POST", "/api/failover", {"region": "eu-west"}, "region"),
            ("POST", "/api/members", {"id": 9, "region": "eu-west",
                                      "raft_address": "127.0.0.1:9",
                                      "api_address": "127.0.0.1:10",
                                      "voter": True}, "voter"),
        ]
        for method, path, body, field in cases:
            with self.subTest(method=method, path=path, field=field):
                self.rejected(method, path, body, 400, "invalid_argument",
                              'unknown field "%s"' % field)

    def test_missing_required_field_400_names_it(self):
        member = {"id": 9, "region": "eu-west",
                  "raft_address": "127.0.0.1:9",
                  "api_address": "127.0.0.1:10"}
        cases = [
            ("POST", "/api/regions", {"priority": 1}, "name"),
            ("PUT", "/api/settings/queue_mode", {}, "value"),
            ("POST", "/api/site/primary", {"reason": "why"}, "region"),
        ]
        for k in member:
            body = dict(member)
            del body[k]
            cases.append(("POST", "/api/members", body, k))
        for method, path, body, field in cases:
            with self.subTest(method=method, path=path, field=field):
                self.rejected(method, path, body, 400, "invalid_argument",
                              'missing field "%s"' % field)

    def test_failover_and_replication_refusals(self):
        # No failover without a region that can take over, none to the
        # primary or to nowhere; nothing to resume or abort; a replication
        # policy that does not parse.
        cases = [
            ("POST", "/api/failover", {"to": "mars"}, 404, "not_found",
             "region mars does not exist"),
            ("POST", "/api/failover", {"to": "us-east"}, 409, "conflict",
             "it is the primary"),
            ("POST", "/api/failover", {"to": "eu-west"}, 409, "conflict",
             "holds no verified copy of a backup"),
            ("POST", "/api/failover", {"force": True}, 409, "conflict",
             "no region can take over from us-east"),
            ("POST", "/api/failover/resume", {}, 409, "conflict",
             "no runbook of epoch"),
            ("POST", "/api/failover/abort", {"epoch": 7}, 409, "conflict",
             "no runbook of epoch 7"),
            ("PUT", "/api/settings/replication.targets",
             {"value": "eu-west:mysql"}, 400, "invalid_argument",
             'unknown backup kind "mysql"'),
            ("PUT", "/api/settings/replication.targets",
             {"value": "eu-west,"}, 400, "invalid_argument", "empty item"),
            ("POST", "/api/backups/pg-none/verified",
             {"ok": True, "region": "eu-west"}, 404, "not_found",
             "backup pg-none does not exist"),
        ]
        for method, path, body, status, code, msg in cases:
            with self.subTest(method=method, path=path, body=body):
                self.rejected(method, path, body, status, code, msg)

    def test_body_over_limit_413(self):
        def body_of(n):
            b = '{"name":"big","object_store":"file:///%s"}'
            pad = n - len(b % "")
            s = b % ("a" * pad)
            self.assertEqual(len(s), n)
            return s
        r = self.rejected("POST", "/api/regions", body_of(MAX_BODY + 1), 413,
                          "payload_too_large", "over the 4096 byte limit")
        self.assertIn("4097 bytes", r.error[1])
        self.rejected("POST", "/api/regions", body_of(4 * MAX_BODY), 413,
                      "payload_too_large", "over the 4096 byte limit")
        self.rejected("PUT", "/api/settings/queue_mode",
                      '{"value":true,"x":"%s"}' % ("y" * MAX_BODY), 413,
                      "payload_too_large", "byte limit")
        # Exactly at the limit the body is read and judged on its content.
        self.rejected("POST", "/api/regions", body_of(MAX_BODY), 400,
                      "invalid_argument", "object store URL")

    def test_body_far_over_limit_413(self):
        # Past 4 x max_body_bytes the HTTP layer refuses the body before
        # buffering it (h2o's own plain-text 413; documented in
        # docs/api.md): the status is still 413 and nothing changes.
        before = self.snapshot()
        r = self.leader.write("POST", "/api/regions",
                              '{"name":"%s"}' % ("a" * (4 * MAX_BODY + 1)))
        self.assertEqual(r.status, 413, r)
        after = self.snapshot()
        self.assertEqual(after["commit_index"], before["commit_index"])
        for p in STATE_PATHS:
            self.assertEqual(after[p], before[p])

    # Routes.

    def test_unknown_route_404(self):
        for method, path in (("GET", "/api/nope"), ("POST", "/api/nope"),
                             ("GET", "/api/regions/eu-west/extra"),
                             ("GET", "/nope"), ("GET", "/ui"),
                             ("PUT", "/api/statuses"),
                             ("GET", "/api/members/1/x")):
            with self.subTest(method=method, path=path):
                self.rejected(method, path, None, 404, "not_found",
                              "no such route: %s %s" % (method, path))

    def test_wrong_method_405(self):
        cases = [("DELETE", "/api/settings", "GET"),
                 ("POST", "/api/status", "GET"),
                 ("PUT", "/api/site", "GET"),
                 ("GET", "/api/site/primary", "POST"),
                 ("GET", "/api/leader/transfer", "POST"),
                 ("GET", "/api/members/1", "DELETE"),
                 ("PATCH", "/api/regions", "GET, POST"),
                 ("POST", "/api/regions/eu-west", "GET, PUT, DELETE"),
                 ("DELETE", "/api/history", "GET")]
        for method, path, allow in cases:
            with self.subTest(method=method, path=path):
                r = self.rejected(method, path, None, 405,
                                  "method_not_allowed",
                                  "%s is not allowed on" % method)
                self.assertIn("(allowed: %s)" % allow, r.error[1])
                self.assertEqual(r.header("allow"), allow)

    # Settings.

    def test_unknown_setting_404(self):
        self.rejected("PUT", "/api/settings/no.such.key", {"value": 1}, 404,
                      "not_found", 'unknown setting "no.such.key"')
        r = self.leader.get("/api/settings/no.such.key")
        self.assertError(r, 404, "not_found", 'unknown setting "no.such.key"')

    def test_setting_out_of_range_400(self):
        cases = [
            ("backup.pg_interval_s", -1,
             "setting backup.pg_interval_s: -1 is outside 0..604800"),
            ("backup.pg_interval_s", 604801, "is outside 0..604800"),
            ("history.max_entries", -1, "is outside 16..100000"),
            ("rpo.pg_s", 86401, "is outside 0..86400"),
            ("failover.mode", "sometimes", "is not one of the allowed"),
            ("failover.on_degraded", "panic", "is not one of the allowed"),
            ("llm.fallback_chain", "ollama,ollama", "appears twice"),
            ("llm.fallback_chain", "ollama,,openai", "empty item"),
            ("llm.fallback_chain", "ollama,bard", 'unknown item "bard"'),
            # DNS settings the failover's DNS step would trip over later.
            ("dns.update_server", "ns1.example.com:53",
             "setting dns.update_server: must be an IPv4 address with a "
             "port"),
            ("dns.update_server", "10.0.0.53", "must be an IPv4 address"),
            ("dns.update_server", "10.0.0.300:53", "must be an IPv4"),
            ("dns.servers", "10.0.0.53:53,ns2", "must be at most 4 IPv4"),
            ("dns.servers", "1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5",
             "must be at most 4 IPv4"),
            ("dns.servers", "10.0.0.53:0", "must be at most 4 IPv4"),
            ("dns.zone_id", "/hostedzone/Z123", "must be a Route 53 hosted"),
            ("dns.zone_id", "z0123", "must be a Route 53 hosted"),
        ]
        for key, value, msg in cases:
            with self.subTest(key=key, value=value):
                self.rejected("PUT", "/api/settings/" + key,
                              {"value": value}, 400, "invalid_argument", msg)

    def test_dns_settings_accepted(self):
        for key, value in (("dns.update_server", "10.0.0.53:53"),
                           ("dns.servers", "10.0.0.53:5300, 10.0.1.53"),
                           ("dns.zone_id", "Z0123456789ABC"),
                           ("dns.servers", ""), ("dns.zone_id", "")):
            with self.subTest(key=key, value=value):
                r = self.leader.write("PUT", "/api/settings/" + key,
                                      {"value": value})
                self.assertEqual(r.status, 200, r)

    # Regions.

    def test_invalid_region_400(self):
        cases = [
            ({"name": "Bad_Name"}, 'region name "Bad_Name" must start with '
             'a letter a-z'),
            ({"name": "bad_name"}, "may hold only a-z, 0-9 and '-'"),
            ({"name": "9lives"}, "must start with a letter"),
            ({"name": ""}, "region name is empty"),
            ({"name": "a" * 64}, "longer than 63 characters"),
            ({"name": "dns-bad", "dns_targets": ["bad host"]},
             "may hold only letters, digits"),
            ({"name": "dns-dup", "dns_targets": ["a.example", "a.example"]},
             "is listed twice"),
            ({"name": "store-bad", "object_store": "ftp://x"},
             "must start with file:// or s3://"),
            ({"name": "store-rel", "object_store": "file://rel"},
             "needs an absolute path"),
            ({"name": "prio-big", "priority": 2 ** 31},
             'field "priority" must fit in 32 bits'),
            ({"name": "ep-scheme", "endpoints": ["ftp://x:21"]},
             "must start with tcp://"),
            ({"name": "ep-creds", "endpoints": ["postgres://u:pw@db"]},
             "holds credentials"),
            ({"name": "ep-port", "endpoints": ["tcp://db"]},
             "tcp:// needs a port"),
            ({"name": "ep-many", "endpoints": ["tcp://db:%d" % (i + 1)
                                               for i in range(9)]},
             'field "endpoints" has 9 entries, at most 8 allowed'),
        ]
        for body, msg in cases:
            with self.subTest(body=body):
                self.rejected("POST", "/api/regions", body, 400,
                              "invalid_argument", msg)
        self.rejected("PUT", "/api/regions/eu-west",
                      {"dns_targets": ["-bad-"]}, 400, "invalid_argument",
                      "hyphen-edged label")
        self.rejected("PUT", "/api/regions/eu-west",
                      {"endpoints": ["tcp://a:1", "tcp://a:1"]}, 400,
                      "invalid_argument", "is listed twice")

    def test_duplicate_region_409(self):
        for name in ("eu-west", "us-east", "ap-south"):
            with self.subTest(name=name):
                self.rejected("POST", "/api/regions",
                              {"name": name, "priority": 1}, 409,
                              "already_exists",
                              "region %s already exists" % name)

    def test_unknown_region_404(self):
        self.rejected("PUT", "/api/regions/nowhere", {"priority": 1}, 404,
                      "not_found", 'region nowhere does not exist')
        self.rejected("PUT", "/api/regions/eu-west", {}, 400,
                      "invalid_argument", "nothing to update")
        self.rejected("DELETE", "/api/regions/nowhere", None, 404,
                      "not_found", 'region "nowhere" does not exist')
        r = self.leader.get("/api/regions/nowhere")
        self.assertError(r, 404, "not_found", 'region "nowhere" does not')

    def test_remove_primary_region_409(self):
        self.rejected("DELETE", "/api/regions/us-east", None, 409, "conflict",
                      "region us-east is the primary site")
        # A region that still has members cannot go either.
        self.rejected("DELETE", "/api/regions/eu-west", None, 409, "conflict",
                      "region eu-west still has member 1")

    # Site.

    def test_set_primary_stale_epoch_409(self):
        for epoch in (1, 0, 3, 1000):
            with self.subTest(expected_epoch=epoch):
                self.rejected("POST", "/api/site/primary",
                              {"region": "ap-south", "expected_epoch": epoch},
                              409, "conflict",
                              "epoch is 2, not the expected %d" % epoch)
        self.rejected("POST", "/api/site/primary",
                      {"region": "ap-south", "expected_epoch": -1}, 400,
                      "invalid_argument",
                      'field "expected_epoch" must not be negative')

    def test_set_primary_current_409(self):
        self.rejected("POST", "/api/site/primary", {"region": "us-east"},
                      409, "conflict",
                      "region us-east is already primary (epoch 2)")
        self.rejected("POST", "/api/site/primary",
                      {"region": "us-east", "expected_epoch": 2}, 409,
                      "conflict", "already primary")

    def test_set_primary_unknown_region_404(self):
        self.rejected("POST", "/api/site/primary", {"region": "nowhere"},
                      404, "not_found", 'region "nowhere" does not exist')

    # Members.

    def test_member_add_bad_address_400(self):
        base = {"id": 9, "region": "eu-west", "raft_address": "127.0.0.1:9",
                "api_address": "127.0.0.1:10"}
        cases = [
            ({"raft_address": "nope"}, 'raft_address "nope" is not '
             'host:port'),
            ({"raft_address": ":9"}, "has an empty host"),
            ({"raft_address": "127.0.0.1:0"}, "needs a port from 1 to 65535"),
            ({"api_address": "127.0.0.1:99999"},
             'api_address "127.0.0.1:99999" needs a port'),
            ({"api_address": "a b:1"}, "has an invalid host"),
            ({"api_address": ""}, "api_address is empty"),
            ({"region": "Bad"}, "must start with a letter"),
            ({"id": 0}, 'field "id" must be a positive integer'),
            ({"id": -4}, 'field "id" must be a positive integer'),
        ]
        for change, msg in cases:
            body = dict(base)
            body.update(change)
            with self.subTest(change=change):
                self.rejected("POST", "/api/members", body, 400,
                              "invalid_argument", msg)

    def test_member_add_conflicts(self):
        c = self.cluster
        self.rejected("POST", "/api/members",
                      {"id": 9, "region": "nowhere",
                       "raft_address": "127.0.0.1:9",
                       "api_address": "127.0.0.1:10"}, 404, "not_found",
                      "member 9: region nowhere does not exist")
        self.rejected("POST", "/api/members", c.node(2).member_json(), 409,
                      "already_exists", "member 2 is already in the cluster")
        self.rejected("POST", "/api/members",
                      {"id": 9, "region": "eu-west",
                       "raft_address": c.node(2).raft_address,
                       "api_address": "127.0.0.1:10"}, 409, "conflict",
                      "already uses that raft or API address")

    def test_member_remove_unknown_404(self):
        self.rejected("DELETE", "/api/members/42", None, 404, "not_found",
                      "member 42 does not exist")
        self.rejected("DELETE", "/api/members/abc", None, 400,
                      "invalid_argument",
                      'member id "abc" is not a positive integer')
        self.rejected("DELETE", "/api/members/0", None, 400,
                      "invalid_argument", "is not a positive integer")
        self.rejected("DELETE", "/api/members/%d" % self.leader.id, None,
                      409, "conflict", "is the leader; transfer leadership")

    def test_leader_transfer_bad_target_400(self):
        self.rejected("POST", "/api/leader/transfer", {"to": 0}, 400,
                      "invalid_argument",
                      'field "to" must be a positive member id')

    # Finally: linearizable reads agree with the stale ones we compared.

    # Backup catalog and jobs.

    def test_catalog_bad_input(self):
        cases = [
            ("POST", "/api/backups", {"kind": "nope"}, 400,
             "invalid_argument",
             'field "kind" must be "pg", "redis" or "pg_base"'),
            ("POST", "/api/backups", {"kind": "pg", "region": 5}, 400,
             "invalid_argument", 'field "region" must be a string'),
            ("POST", "/api/backups", {"kind": "pg", "when": 1}, 400,
             "invalid_argument", "when"),
            ("POST", "/api/backups", {"kind": "pg"}, 409, "conflict",
             "region us-east has no object store"),
            ("POST", "/api/backups", {"kind": "redis", "region": "mars"},
             404, "not_found", "region mars does not exist"),
            ("DELETE", "/api/backups/nope", None, 404, "not_found",
             "backup nope does not exist"),
            ("POST", "/api/backups/nope/verified", {"ok": True}, 404,
             "not_found", "backup nope does not exist"),
            ("POST", "/api/backups/nope/verified", {"ok": False}, 400,
             "invalid_argument", 'field "error" is required'),
            ("POST", "/api/jobs/abc/claim", {"node": 1}, 400,
             "invalid_argument", 'job id "abc" is not a positive integer'),
            ("POST", "/api/jobs/0/claim", {"node": 1}, 400,
             "invalid_argument", "not a positive integer"),
            ("POST", "/api/jobs/7/claim", {"node": 1}, 404, "not_found",
             "job 7 does not exist"),
            ("POST", "/api/jobs/7/claim", {"node": -1}, 400,
             "invalid_argument", 'field "node" must not be negative'),
            ("POST", "/api/jobs/7/claim", {}, 400, "invalid_argument",
             "node"),
            ("POST", "/api/jobs/7/renew", {"node": 1}, 400,
             "invalid_argument", 'field "attempt" is required'),
            ("POST", "/api/jobs/7/renew",
             {"node": 1, "attempt": 1, "phase": "dns"}, 400,
             "invalid_argument", '"phase" must be "restore" or "verify"'),
            ("POST", "/api/jobs/7/renew",
             {"node": 1, "attempt": 1, "phase": 3}, 400,
             "invalid_argument", 'field "phase" must be a string'),
            ("POST", "/api/jobs/7/renew",
             {"node": 1, "attempt": 1, "detail": "{}"}, 400,
             "invalid_argument", "come with a phase"),
            ("POST", "/api/jobs/7/renew",
             {"node": 1, "attempt": 1, "phase": "restore",
              "restore_point_ms": -5}, 400, "invalid_argument",
             'field "restore_point_ms" must not be negative'),
            ("POST", "/api/jobs/7/claim", {"node": 1, "phase": "restore"},
             400, "invalid_argument", "a claim has no phase"),
            ("POST", "/api/jobs/7/renew",
             {"node": 1, "attempt": 1, "phase": "restore"}, 404,
             "not_found", "job 7 does not exist"),
            ("POST", "/api/jobs/7/finish",
             {"node": 1, "attempt": 1, "ok": True, "backup": 5}, 400,
             "invalid_argument", 'field "backup" must be an object'),
            ("POST", "/api/jobs/7/finish",
             {"node": 1, "attempt": 1, "ok": True,
              "backup": {"manifest_key": "k"}}, 400, "invalid_argument",
             "backup: "),
            ("POST", "/api/jobs/7/finish",
             {"node": 1, "attempt": 1, "ok": True,
              "drill": {"ok": True, "restore_point_ms": "soon"}}, 400,
             "invalid_argument", "restore_point_ms"),
            ("POST", "/api/jobs/7/finish",
             {"node": 1, "attempt": 1, "ok": True,
              "drill": {"ok": True, "restore_point_ms": -1}}, 400,
             "invalid_argument",
             'drill: field "restore_point_ms" must not be negative'),
            ("POST", "/api/jobs/7/finish",
             {"node": 1, "attempt": 1, "ok": True,
              "drill": {"ok": True, "rto_ms": -5}}, 400,
             "invalid_argument", 'drill: field "rto_ms" must not be negative'),
            ("POST", "/api/jobs/7/finish",
             {"node": 1, "attempt": 1, "ok": True, "wal": 5}, 400,
             "invalid_argument", 'field "wal" must be an object'),
            ("POST", "/api/jobs/7/finish",
             {"node": 1, "attempt": 1, "ok": True,
              "wal": {"files": -1, "ranges": []}}, 400, "invalid_argument",
             'wal: field "files" must not be negative'),
            ("POST", "/api/jobs/7/finish",
             {"node": 1, "attempt": 1, "ok": True,
              "wal": {"ranges": [{"sysid": "1a", "timeline": 1,
                                  "start_lsn": 0, "end_lsn": 1}] * 17}},
             400, "invalid_argument", "an array of at most 16"),
            ("POST", "/api/jobs/7/finish",
             {"node": 1, "attempt": 1, "ok": True,
              "wal": {"ranges": [{"sysid": "xyz", "timeline": 1,
                                  "start_lsn": 0, "end_lsn": 1}]}},
             400, "invalid_argument",
             'wal range 0: "sysid" is not a hex system identifier'),
            ("POST", "/api/jobs/7/finish",
             {"node": 1, "attempt": 1, "ok": True,
              "wal": {"ranges": [{"sysid": "1a", "timeline": 1,
                                  "start_lsn": -1, "end_lsn": 1}]}},
             400, "invalid_argument",
             'wal range 0: field "start_lsn" must not be negative'),
            ("POST", "/api/jobs/7/finish",
             {"node": 1, "attempt": 1, "ok": True,
              "wal": {"ranges": [], "store": "ftp://x"}}, 400,
             "invalid_argument", "wal: store: "),
            ("POST", "/api/jobs/7/finish",
             {"node": 1, "attempt": 1, "ok": False, "error": "x"}, 404,
             "not_found", "job 7 does not exist"),
        ]
        for method, path, body, status, code, msg in cases:
            with self.subTest(method=method, path=path, body=body):
                self.rejected(method, path, body, status, code, msg)
        for method, path in (("POST", "/api/jobs/7/frob"),
                             ("PUT", "/api/backups/x"),
                             ("GET", "/api/backups/x/verified")):
            with self.subTest(method=method, path=path):
                self.rejected(method, path, None, 405, "method_not_allowed",
                              "%s is not allowed on" % method)
        self.rejected("POST", "/api/jobs/7/claim/x", {"node": 1}, 404,
                      "not_found", "no such route")

    def test_zz_reads_agree_when_quiet(self):
        """With nothing writing, both read paths give the same state (the
        race a stale read loses is test_linearizable_reads.py's)."""
        L = self.leader
        for p in STATE_PATHS:
            stale = L.get(p, stale=True)
            fresh = L.get(p)
            self.assertEqual(fresh.status, 200, fresh)
            self.assertEqual(fresh.json, stale.json, p)
        regions = [r["name"] for r in L.get("/api/regions").json["regions"]]
        self.assertEqual(sorted(regions), ["ap-south", "eu-west", "us-east"])
        self.assertEqual(L.get("/api/site").json["epoch"], 2)


if __name__ == "__main__":
    drtest.main()
