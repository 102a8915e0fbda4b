"""monitoring/ checked with promtool: the alert rules load and pass their
unit tests, a broken copy is refused with a message naming the problem, a
real cluster's /metrics passes promtool's lint and carries every metric the
rules use, and the rules fed with that cluster's scrapes (healthy, one node
killed, majority lost) fire exactly the coordinator alerts they should.

promtool comes from scripts/promtool (fetched by scripts/bootstrap); the
test fails if it cannot be obtained."""

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import drtest  # noqa: E402

sys.dont_write_bytecode = True  # keep the source tree clean
import drcluster  # noqa: E402
from drcluster import ClusterTestCase, wait_until  # noqa: E402

ROOT = drcluster.ROOT
RULES = os.path.join(ROOT, "monitoring", "drnode-rules.yml")
RULES_TEST = os.path.join(ROOT, "monitoring", "drnode-rules.test.yml")
RUNBOOK = os.path.join(ROOT, "docs", "runbook.md")
NODE_SRC = os.path.join(ROOT, "node")

# Metric names the rules use that a healthy 3-node cluster without services
# does not export, and why. Every other name the rules use must be in the
# live /metrics of some node, so a renamed metric breaks this test; these
# must still appear in the node's sources (except `up`).
CONDITIONAL = {
    "up": "synthesized by Prometheus for every scrape target",
    "drnode_backup_age_seconds": "only once the catalog holds a backup "
                                 "of that region and kind",
    "drnode_backup_rpo_seconds": "exported next to drnode_backup_age_seconds",
    "cogitator_health_database_up": "only for a region whose PostgreSQL has "
                                    "a known status ([services] pg probed)",
    "cogitator_health_redis_up": "only for a region whose Redis has a known "
                                 "status ([services] redis probed)",
    "drnode_drill_last_ok": "only once a restore drill has finished",
    "drnode_replication_lag_seconds": "only for regions that receive "
                                      "copies (they need an object store)",
    "drnode_drill_last_success_timestamp_seconds": "only once a restore "
                                                   "drill has passed",
    "drnode_dns_matches_primary": "only on nodes with dns.name and "
                                  "dns.servers set, once they asked "
                                  "(test_status_page.py checks it live)",
    "drnode_raft_tls_refused_total": "only on nodes with [tls] (test_tls.py "
                                     "checks it live)",
    "drnode_region_endpoints_down_seconds": "only for other regions that "
                                            "name endpoints, once probed "
                                            "(test_reach_http.py checks it "
                                            "live)",
    "drnode_tls_cert_expiry_timestamp_seconds": "only on nodes with [tls] "
                                                "(test_tls.py checks it "
                                                "live)",
    "drnode_pg_wal_archive_failing": "only on nodes whose [services] pg "
                                     "has archive_mode on (test_wal.py "
                                     "checks it live)",
    "drnode_wal_stream_active": "only while the WAL stream's replication "
                                "slot exists on [services] pg "
                                "(test_walstream.py checks it live)",
    "drnode_wal_replication_lag_bytes": "only once the primary's and a DR "
                                        "region's WAL archives were scanned "
                                        "(test_local_services.py checks it "
                                        "live)",
    "drnode_pg_standby_replay_delay_seconds": "only on nodes with [services] "
                                              "pg_standby (test_pitr.py "
                                              "checks it live)",
    "drnode_pg_standby_replay_behind_bytes": "only on nodes with [services] "
                                             "pg_standby once their region's "
                                             "WAL archive was scanned "
                                             "(test_pitr.py checks it live)",
}

# Metric names a rule uses before the node exports them (the rule is ready
# for them). The test fails once one appears in node/, so that it moves to
# the strict checks above.
NOT_YET_EXPORTED = {}

# The coordinator's alerts the live scenarios check: each one's firing set
# is asserted exactly (the cogitator group depends on services this
# cluster does not have, the backup alerts on backups it does not take).
LIVE_ALERTS = ("DrNodeNoLeader", "DrNodeDown", "DrNodeUnreachable",
               "DrNodeReplicationLag")

PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and",
    "or", "unless", "bool", "offset", "sum", "min", "max", "avg", "count",
    "rate", "irate", "increase", "delta", "absent", "time", "vector",
    "scalar", "topk", "bottomk", "quantile", "histogram_quantile",
}

_promtool = None


def promtool():
    """Path of promtool from scripts/promtool (fetched if needed);
    AssertionError with the script's message if it cannot be had."""
    global _promtool
    if _promtool is None:
        p = subprocess.run([os.path.join(ROOT, "scripts", "promtool")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=300)
        path = p.stdout.decode().strip()
        if p.returncode != 0 or not os.access(path, os.X_OK):
            raise AssertionError(
                "scripts/promtool could not provide promtool (rc %d): %s"
                % (p.returncode, p.stderr.decode(errors="replace")))
        _promtool = path
    return _promtool


def run_promtool(*args, stdin=None):
    p = subprocess.run([promtool()] + list(args), input=stdin,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


# The rules file, read line by line: promtool checks its YAML; this only
# needs each rule's alert name, labels, annotations and expression.
def parse_rules(text):
    rules = []
    cur = None
    block = None  # "expr", "labels", "annotations"
    for line in text.splitlines():
        m = re.match(r"^\s*- alert:\s*(\S+)\s*$", line)
        if m:
            cur = {"alert": m.group(1), "expr": "", "labels": {},
                   "annotations": {}, "for": None}
            rules.append(cur)
            block = None
            continue
        if cur is None or not line.strip() or line.strip().startswith("#"):
            continue
        m = re.match(r"^( +)(\w+):\s*(.*)$", line)
        indent = len(line) - len(line.lstrip())
        if m and indent == 8:
            key, val = m.group(2), m.group(3)
            block = key
            if key == "expr":
                cur["expr"] = "" if val == "|" else val
            elif key == "for":
                cur["for"] = val
            continue
        if m and indent == 10 and block in ("labels", "annotations"):
            val = m.group(3)
            if val.startswith('"') and val.endswith('"'):
                val = json.loads(val)
            cur[block][m.group(2)] = val
            continue
        if block == "expr" and indent > 8:
            cur["expr"] += " " + line.strip()
    return rules


def metric_names(expr):
    """Metric names in a PromQL expression (label matchers, grouping
    lists, ranges and strings removed; functions and keywords dropped)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    e = re.sub(r"\{[^}]*\}", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*"
               r"\([^)]*\)", "", e)
    names = set()
    for tok in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        if tok not in PROMQL_WORDS:
            names.add(tok)
    return names


def github_anchor(heading):
    a = heading.strip().lower()
    a = re.sub(r"[^\w\- ]", "", a)
    return a.replace(" ", "-")


# The Prometheus text format, enough for drnode's /metrics.
_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"'
                    r'\s*,?')


def parse_exposition(text):
    """[(name, {label: value}, float)] of every sample; ValueError naming
    the line on anything malformed."""
    out = []
    for no, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        m = re.match(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{.*\})?\s+(\S+)"
                     r"(\s+-?\d+)?\s*$", line)
        if not m:
            raise ValueError("line %d: not a sample: %r" % (no, line))
        labels = {}
        if m.group(2):
            body = m.group(2)[1:-1]
            pos = 0
            while pos < len(body):
                lm = _LABEL.match(body, pos)
                if not lm:
                    raise ValueError("line %d: bad labels: %r" % (no, line))
                labels[lm.group(1)] = re.sub(
                    r"\\(.)", lambda x: "\n" if x.group(1) == "n"
                    else x.group(1), lm.group(2))
                pos = lm.end()
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def series_selector(name, labels):
    def esc(v):
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n",
                                                                   "\\n")
    return "%s{%s}" % (name, ",".join('%s="%s"' % (k, esc(v))
                                      for k, v in sorted(labels.items())))


def series_value(v):
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    return repr(v)


class TestMonitoring(ClusterTestCase):

    def setUp(self):
        with open(RULES) as f:
            self.rules_text = f.read()
        self.rules = parse_rules(self.rules_text)
        self.tmp = tempfile.mkdtemp(prefix="drnode-it-monitoring-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    # 1. The shipped files.
    def test_rules_check_and_unit_tests_pass(self):
        rc, out = run_promtool("check", "rules", RULES)
        self.assertEqual(rc, 0, out)
        self.assertIn("SUCCESS: %d rules found" % len(self.rules), out)
        rc, out = run_promtool("test", "rules", RULES_TEST)
        self.assertEqual(rc, 0, out)
        self.assertIn("SUCCESS", out)

    def test_rules_shape_and_runbook_anchors(self):
        """The seed's four rules unchanged; every alert has a severity, a
        summary, a description and a runbook link to an existing section;
        every alert has unit tests that see it fire and stay silent."""
        by_name = {}
        for r in self.rules:
            by_name.setdefault(r["alert"], []).append(r)
        seed = {
            "DatabaseDown": ("cogitator_health_database_up == 0", "1m",
                             "critical"),
            "RedisDown": ("cogitator_health_redis_up == 0", "1m", "warning"),
            "CircuitBreakerOpen": (
                'cogitator_circuit_breaker_state{state="open"} == 1', "5m",
                "warning"),
            "HighErrorRate": ("rate(cogitator_requests_errors_total[5m]) "
                              "> 0.1", "5m", "warning"),
        }
        for name, (expr, dur, sev) in seed.items():
            self.assertEqual(len(by_name.get(name, [])), 1, name)
            r = by_name[name][0]
            self.assertEqual((r["expr"].strip(), r["for"],
                              r["labels"].get("severity")), (expr, dur, sev))
        self.assertEqual(by_name["CircuitBreakerOpen"][0]["annotations"]
                         ["summary"].split("{{ with")[0],
                         "Circuit breaker open for {{ $labels.service }}")
        want = set(seed) | {"DrNodeNoLeader", "DrNodeDown",
                            "DrNodeUnreachable", "DrNodeReplicationLag",
                            "BackupOlderThanRpo", "BackupJobsFailing",
                            "RestoreDrillFailed", "RestoreDrillOverdue",
                            "FailoverDrillOverdue",
                            "BackupCopiesBehind", "BackupNotSafe",
                            "PrimaryRegionLost", "FailoverBlocked",
                            "DnsNotAtPrimary", "RaftTlsRefused",
                            "RegionEndpointsUnreachable",
                            "WalArchiveFailing", "PgStandbyBehind",
                            "WalStreamStalled", "WalCopiesBehind",
                            "TlsCertificateExpiresSoon"}
        self.assertEqual(set(by_name), want)

        with open(RUNBOOK) as f:
            anchors = {github_anchor(m.group(1)) for m in
                       re.finditer(r"^#+\s+(.*)$", f.read(), re.M)}
        for r in self.rules:
            what = "rule %s" % r["alert"]
            self.assertIn(r["labels"].get("severity"),
                          ("critical", "warning"), what)
            for a in ("summary", "description", "runbook"):
                self.assertTrue(r["annotations"].get(a), "%s: no %s" %
                                (what, a))
            link = r["annotations"]["runbook"]
            self.assertTrue(link.startswith("docs/runbook.md#"), link)
            self.assertIn(link.split("#", 1)[1], anchors,
                          "%s: %s names no heading of docs/runbook.md" %
                          (what, link))

        with open(RULES_TEST) as f:
            cases = re.findall(r"alertname:\s*(\S+)\s*\n\s*exp_alerts:"
                               r"(\s*\[\])?", f.read())
        for name in want:
            got = [bool(empty) for n, empty in cases if n == name]
            self.assertIn(True, got, "no unit test of %s stays silent" %
                          name)
            self.assertIn(False, got, "no unit test of %s fires" % name)

    # 2. Broken copies are refused, naming the problem.
    def check_broken(self, old, new, *want):
        self.assertIn(old, self.rules_text)
        path = os.path.join(self.tmp, "broken-rules.yml")
        with open(path, "w") as f:
            f.write(self.rules_text.replace(old, new, 1))
        rc, out = run_promtool("check", "rules", path)
        self.assertEqual(rc, 1, out)
        self.assertIn("FAILED", out)
        for w in want:
            self.assertIn(w, out)

    def test_broken_rules_are_refused(self):
        self.check_broken("expr: cogitator_health_redis_up == 0",
                          "expr: cogitator_health_redis_up == (0",
                          '"RedisDown": could not parse expression',
                          "unclosed left parenthesis")
        self.check_broken("expr: drnode_raft_has_leader == 0\n"
                          "        for: 30s",
                          "expr: drnode_raft_has_leader == 0\n"
                          "        for: 30",
                          'not a valid duration string: "30"')
        self.check_broken("for: 2m\n        labels:",
                          "for: 2m\n        labelz:",
                          "field labelz not found in type rulefmt.RuleNode")
        self.check_broken('"drnode {{ $labels.instance }} sees',
                          '"drnode {{ $labels.instance } sees',
                          '"DrNodeNoLeader": annotation "summary"',
                          'unexpected "}" in operand')

    # 3. A real cluster.
    def scrape(self, cluster):
        """Prometheus' view of one scrape of every node: {api_address:
        samples or None when the scrape failed}."""
        out = {}
        for n in cluster.nodes.values():
            try:
                r = n.get("/metrics", timeout=3.0)
            except OSError:
                out[n.api_address] = None
                continue
            self.assertEqual(r.status, 200, r)
            self.assertTrue(r.header("content-type").startswith(
                "text/plain; version=0.0.4"), r.header("content-type"))
            out[n.api_address] = (r.body, parse_exposition(
                r.body.decode("utf-8")))
        return out

    def alerts_firing(self, scrape, expected):
        """Feed one scrape, held for 10 minutes, to the rules (as
        Prometheus would: job and instance labels, `up` per target) and
        assert that each alert of LIVE_ALERTS fires for exactly the label
        sets in expected[alert] (missing: none)."""
        used = set()
        for r in self.rules:
            used |= metric_names(r["expr"])
        series = []
        for inst, got in sorted(scrape.items()):
            target = {"job": "drnode", "instance": inst}
            vals = " ".join(["%d" % (got is not None)] * 41)
            series.append({"series": series_selector("up", target),
                           "values": vals})
            if got is None:
                continue
            for name, labels, v in got[1]:
                if name not in used:
                    continue
                labels = dict(labels)
                for k in ("job", "instance"):
                    if k in labels:
                        labels["exported_" + k] = labels.pop(k)
                labels.update(target)
                series.append({"series": series_selector(name, labels),
                               "values": " ".join([series_value(v)] * 41)})
        tests = []
        for alert in LIVE_ALERTS:
            samples = []
            for labels in expected.get(alert, []):
                severity = [r["labels"]["severity"] for r in self.rules
                            if r["alert"] == alert][0]
                full = dict(labels, alertname=alert, alertstate="firing",
                            severity=severity)
                samples.append({"labels": series_selector("ALERTS", full),
                                "value": 1})
            tests.append({"expr": 'ALERTS{alertstate="firing",alertname="%s"}'
                          % alert, "eval_time": "10m",
                          "exp_samples": samples})
        doc = {"rule_files": [RULES], "evaluation_interval": "15s",
               "tests": [{"interval": "15s", "input_series": series,
                          "promql_expr_test": tests}]}
        path = os.path.join(self.tmp, "live.test.yml")
        with open(path, "w") as f:
            json.dump(doc, f, indent=1)  # JSON is YAML
        rc, out = run_promtool("test", "rules", path)
        self.assertEqual(rc, 0, "the rules on the live scrape disagree "
                         "with %r:\n%s" % (expected, out))

    @staticmethod
    def value(samples, name, **labels):
        got = [v for n, lb, v in samples if n == name and
               all(lb.get(k) == v2 for k, v2 in labels.items())]
        return got[0] if len(got) == 1 else None

    def test_live_metrics_lint_and_alerts(self):
        c = self.new_cluster()
        c.start_all()
        leader = c.wait_for_leader()
        followers = sorted(c.followers(leader), key=lambda n: n.id)
        used = set()
        for r in self.rules:
            used |= metric_names(r["expr"])
        self.assertIn("drnode_raft_has_leader", used)  # the parser works
        for name in list(CONDITIONAL) + list(NOT_YET_EXPORTED):
            self.assertIn(name, used, "%s is listed here but no rule uses "
                          "it: drop it" % name)
        src = ""
        for d, _, files in os.walk(NODE_SRC):
            for fn in files:
                if fn.endswith((".c", ".h")):
                    with open(os.path.join(d, fn), errors="replace") as f:
                        src += f.read()
        for name, why in NOT_YET_EXPORTED.items():
            self.assertNotIn(name, src, "%s is in node/ now: move it out of "
                             "NOT_YET_EXPORTED" % name)
            sys.stderr.write("note: %s is not exported yet (%s)\n" %
                             (name, why))
        used -= set(NOT_YET_EXPORTED)

        # Every name a rule uses is exported by some node (the leader-only
        # ones by the leader, for every follower), or is CONDITIONAL and
        # still spelled that way in the node's sources.
        # The leader exports its per-member gauges once each follower's
        # first health report arrived: wait for those, then require every
        # name.
        leader_only = ("drnode_member_last_contact_seconds",
                       "drnode_raft_replication_lag_entries")
        last = {}

        def all_names_exported():
            scr = self.scrape(c)
            lsamples = scr[leader.api_address][1]
            last["followers"] = [
                "%s of member %d" % (name, f.id) for f in followers
                for name in leader_only
                if self.value(lsamples, name, member=str(f.id)) is None]
            have = {n for got in scr.values() if got for n, _, _ in got[1]}
            last["missing"] = sorted(used - have - set(CONDITIONAL))
            done = not last["missing"] and not last["followers"]
            return scr if done else None
        try:
            scr = wait_until(all_names_exported, 20.0, interval=0.2,
                             what="every metric the rules use")
        except AssertionError:
            scr = None
        if scr is None:
            self.assertEqual(last.get("missing"), [],
                             "the rules use metrics that no node of a "
                             "healthy cluster exports (renamed? or add them "
                             "to CONDITIONAL, saying when they appear)")
            self.fail("the leader does not export %s" %
                      ", ".join(last.get("followers", ["?"])))
        for name in CONDITIONAL:
            if name != "up":
                self.assertIn(name, src, "%s (%s) appears nowhere in node/: "
                              "renamed?" % (name, CONDITIONAL[name]))

        # promtool's lint of each node's /metrics (exit 0, nothing said).
        for addr, (body, _) in scr.items():
            rc, out = run_promtool("check", "metrics", stdin=body)
            self.assertEqual((rc, out.strip()), (0, ""),
                             "promtool check metrics on %s" % addr)

        # The healthy cluster: every node has a leader, the leader heard
        # from every follower recently and none lags.
        for addr, (_, samples) in scr.items():
            self.assertEqual(self.value(samples, "drnode_raft_has_leader"),
                             1.0, addr)
        lsamples = scr[leader.api_address][1]
        for f in followers:
            self.assertLess(self.value(
                lsamples, "drnode_member_last_contact_seconds",
                member=str(f.id)), 15.0, "member %d" % f.id)
            self.assertLess(self.value(
                lsamples, "drnode_raft_replication_lag_entries",
                member=str(f.id)), 1000.0, "member %d" % f.id)
        self.alerts_firing(scr, {})

        # One follower killed: its scrape fails and the leader stops
        # hearing from it.
        gone = followers[0]
        c.kill(gone.id)

        def contact_lost():
            got = self.scrape(c)
            v = self.value(got[leader.api_address][1],
                           "drnode_member_last_contact_seconds",
                           member=str(gone.id))
            return got if v is not None and v > 15.0 else None
        scr = wait_until(contact_lost, 30.0, interval=0.5,
                         what="the leader's last contact with member %d "
                         "over 15 s" % gone.id)
        self.assertIsNone(scr[gone.api_address])
        self.alerts_firing(scr, {
            "DrNodeDown": [{"job": "drnode", "instance": gone.api_address}],
            "DrNodeUnreachable": [{"job": "drnode",
                                   "instance": leader.api_address,
                                   "member": str(gone.id),
                                   "region": gone.region}],
        })

        # The second follower killed: the leader loses its majority, steps
        # down and knows no leader.
        c.kill(followers[1].id)

        def leaderless():
            got = self.scrape(c)
            v = self.value(got[leader.api_address][1],
                           "drnode_raft_has_leader")
            return got if v == 0.0 else None
        scr = wait_until(leaderless, 20.0, interval=0.2,
                         what="node %d to know no leader" % leader.id)
        self.alerts_firing(scr, {
            "DrNodeNoLeader": [{"job": "drnode",
                                "instance": leader.api_address}],
            "DrNodeDown": [{"job": "drnode", "instance": f.api_address}
                           for f in followers],
        })


if __name__ == "__main__":
    drtest.main()
