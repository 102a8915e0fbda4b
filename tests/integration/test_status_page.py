"""The status page (GET / on every node) in a real headless Chromium against
a local three-region cluster (`drctl local up`: PostgreSQL, Redis, PowerDNS
and file stores per region).

In order: the page loads without console errors and shows the three regions
and the primary with its epoch; it follows `drctl site set-primary` within
the refresh interval; it shows a failover's runbook while it runs and DNS
moved when it is done; it goes on updating from the other members after
the node it was loaded from is killed. A screenshot of each state is kept
in $DR_TEST_ARTIFACTS/status-page (ctest: BUILD/test-artifacts).

Also the HTTP side: the page's headers, cross-origin reads allowed only for
the members' own API addresses, and /api/dns.
"""

import json
import os
import re
import sys
import tempfile
import time
import urllib.request

import drtest  # noqa: E402

sys.dont_write_bytecode = True  # keep the source tree clean
import cdp  # noqa: E402
import drcluster  # noqa: E402
import test_monitoring as tm  # noqa: E402
import test_local_services as tls  # noqa: E402

REGIONS = ["eu-west", "us-east", "ap-south"]
DASHBOARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                         "..", "monitoring", "grafana", "drnode.json")
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "and", "or", "unless", "offset", "inf", "nan"}
REFRESH_S = 2.0           # the page's REFRESH_MS
UPDATE_WITHIN_S = 2 * REFRESH_S + 1.5  # one refresh missed, plus the reads
ARTIFACTS = os.path.join(
    os.environ.get("DR_TEST_ARTIFACTS") or
    os.path.join(tempfile.gettempdir(), "drnode-test-artifacts"),
    "status-page")


def http(url, headers=None, method="GET"):
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, lower(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, lower(e.headers), e.read()


def lower(headers):
    return {k.lower(): v for k, v in headers.items()}


def exported(urls):
    """metric name -> label names, over the /metrics of every node that
    answers (some series only come from the leader)."""
    out = {}
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ')
    for url in urls:
        try:
            _, _, body = http(url + "/metrics")
        except OSError:
            continue
        for line in body.decode().splitlines():
            m = line_re.match(line)
            if m is None or line.startswith("#"):
                continue
            labels = out.setdefault(m.group(1), set())
            labels.update(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="',
                                     m.group(3) or ""))
    return out


def promql_refs(expr):
    """(metric names, [(metric, label) of selectors], grouping labels) of
    a PromQL expression: enough of the grammar for a dashboard's queries."""
    e = re.sub(r"\[[^\]]*\]", "", expr)          # range selectors
    groups = set()
    for m in re.finditer(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", e):
        groups.update(x.strip() for x in m.group(1).split(",") if x.strip())
    e = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", e)
    selectors = []
    for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}", e):
        for key in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)',
                              m.group(2)):
            selectors.append((m.group(1), key))
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r'"[^"]*"', " ", e)
    names = set()
    for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?", e):
        word = m.group(1)
        if m.group(2) or word.lower() in PROMQL_WORDS:
            continue
        names.add(word)
    return names, selectors, groups


class StatusPage(tls.LocalCluster):
    up_args = ("--probe-interval-ms", "500")
    regions = REGIONS
    browser = None

    @classmethod
    def up(cls):
        p = super().up()
        with open(os.path.join(cls.dir, "env")) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k in ("DRCTL_ENDPOINTS", "DRCTL_TOKEN_FILE"):
                    cls.env[k] = v.strip("'\"")
        cls.apis = {}  # node id -> http://API
        for d in sorted(os.listdir(cls.dir)):
            conf = os.path.join(cls.dir, d, "drnode.conf")
            if d.startswith("node") and os.path.exists(conf):
                with open(conf) as f:
                    text = f.read()
                nid = int([ln.split("=", 1)[1] for ln in text.splitlines()
                           if ln.startswith("id =")][0])
                api = [ln.split("=", 1)[1].strip() for ln in text.splitlines()
                       if ln.startswith("api_address =")][0]
                cls.apis[nid] = "http://" + api
        try:
            cls.browser = cdp.Browser()
        except cdp.BrowserMissing as e:
            raise AssertionError(str(e))
        cls.addClassCleanup(cls.browser.close)
        return p

    # Helpers.

    def page(self):
        """What the page shows, as the tests read it."""
        return self.browser.eval("""(() => {
            const b = document.body.dataset;
            const regions = [...document.querySelectorAll('.region')].map(
                el => [el.dataset.region, el.dataset.state]);
            return {state: b.state || '', primary: b.primary || '',
                    epoch: b.epoch || '', from: b.from || '',
                    served_by: b.servedBy || '', runbook: b.runbook || '',
                    dns: b.dnsMatches || '', updated: Number(b.updatedMs || 0),
                    regions: regions,
                    summary: document.getElementById('summary').textContent,
                    banner: document.getElementById('banner').hidden ? '' :
                        document.getElementById('banner').textContent,
                    steps: [...document.querySelectorAll('.steps li')].map(
                        li => [li.dataset.step, li.className])};
        })()""")

    def wait_page(self, fn, timeout, what):
        last = [None]

        def check():
            last[0] = self.page()
            return fn(last[0])
        try:
            drcluster.wait_until(check, timeout, interval=0.2, what=what)
        except AssertionError:
            self.fail("%s: the page shows %s" % (what, json.dumps(last[0])))
        return last[0]

    def shot(self, name):
        path = self.browser.screenshot(os.path.join(ARTIFACTS, name + ".png"))
        print("screenshot: %s" % path)

    def site(self):
        return json.loads(self.ok("--json", "site", "show").stdout)

    def all_caught_up(self):
        """Every node runs and has applied the membership (a node that
        just restarted knows no members, so it cannot tell the page's
        origin from any other until the leader's entries applied)."""
        for url in self.apis.values():
            try:
                _, _, body = http(url + "/api/status")
                st = json.loads(body)
            except (OSError, ValueError):
                return False
            if st.get("role") not in ("leader", "follower") or len(
                    [m for m in st.get("members", [])
                     if m.get("api_address")]) != len(self.apis):
                return False
        return True

    # The steps, in order.

    def test_0_defaults_page_nobody(self):
        """A healthy fresh cluster on every default setting fires no alert
        of monitoring/drnode-rules.yml over two PostgreSQL backup cycles.
        One real scrape of every node (once the first backups are safe in
        every region and the first restore drill passed) is held for 2
        cycles + 10 minutes in promtool, except what moves: the newest
        backup's age climbs and falls back every backup interval (as the
        settings' defaults schedule it), and timestamps are kept relative
        to now."""
        settings = {x["key"]: x for x in json.loads(http(
            self.apis[1] + "/api/settings")[2])["settings"]}
        for x in settings.values():
            # Every default, except where DNS is (drctl local up's PowerDNS)
            # and the WAL stream, scans and base backups local up turns on.
            if not x["key"].startswith("dns.") and x["key"] not in (
                    "wal.stream", "wal.scan_interval_s",
                    "backup.pg_base_interval_s"):
                self.assertEqual(x["value"], x["default"], x)

        def ready():
            b = json.loads(http(self.apis[1] + "/api/backups")[2])["backups"]
            d = json.loads(http(self.apis[1] + "/api/drills")[2])["drills"]
            kinds = {x["kind"] for x in b if x["safe"]}
            return (kinds >= {"pg_logical", "redis_snapshot"} and
                    any(x["state"] == "passed" for x in d))
        drcluster.wait_until(ready, 60, interval=0.5,
                             what="first backups safe and a drill passed")
        interval = {"pg_logical": settings["backup.pg_interval_s"]["value"],
                    "redis_snapshot":
                        settings["backup.redis_interval_s"]["value"]}
        # local up's daily base backup (for the DR standbys) ages too.
        age_period = dict(interval, pg_base=settings[
            "backup.pg_base_interval_s"]["value"])
        rpo = {"pg_logical": settings["rpo.pg_s"]["value"],
               "redis_snapshot": settings["rpo.redis_s"]["value"]}
        for k in interval:
            self.assertLessEqual(interval[k], rpo[k],
                                 "%s: backups further apart than the RPO"
                                 % k)
        with open(tm.RULES) as f:
            rules = tm.parse_rules(f.read())
        used = set()
        for r in rules:
            used |= tm.metric_names(r["expr"])
        step, horizon = 15, 2 * max(interval.values()) + 600
        n = horizon // step + 1

        def scrape():
            """Every node's /metrics, once all of them see every region's
            database and Redis up: the scrape is held for 20 minutes, so
            it must be of a healthy moment (with --probe-interval-ms 500
            the probes time out after 250 ms, which three tests at a time
            on two cores sometimes exceed)."""
            bodies = {nid: http(url + "/metrics")[2].decode()
                      for nid, url in sorted(self.apis.items())}
            for body in bodies.values():
                for name, _, v in tm.parse_exposition(body):
                    if name in ("cogitator_health_database_up",
                                "cogitator_health_redis_up") and v != 1:
                        return None
            return bodies
        bodies = drcluster.wait_until(scrape, 30, interval=1.0,
                                      what="every service seen up")
        now = time.time()
        series = []
        for nid, url in sorted(self.apis.items()):
            target = {"job": "drnode", "instance": url[len("http://"):]}
            series.append({"series": tm.series_selector("up", target),
                           "values": " ".join(["1"] * n)})
            body = bodies[nid]
            for name, labels, v in tm.parse_exposition(body):
                if name not in used:
                    continue
                labels = dict(labels, **target)
                if name == "drnode_backup_age_seconds":
                    # A backup every interval, done ~5 s after it starts.
                    per = age_period[labels["kind"]]
                    vals = ["%d" % (((v + k * step) % per) + 5)
                            for k in range(n)]
                elif name.endswith("_timestamp_seconds"):
                    vals = [tm.series_value(v - now)] * n
                else:
                    vals = [tm.series_value(v)] * n
                series.append({"series": tm.series_selector(name, labels),
                               "values": " ".join(vals)})
        alerts = sorted({r["alert"] for r in rules})
        tests = [{"eval_time": "%ds" % t, "alertname": a, "exp_alerts": []}
                 for t in range(0, horizon + 1, 60) for a in alerts]
        doc = {"rule_files": [tm.RULES], "evaluation_interval": "15s",
               "tests": [{"interval": "%ds" % step, "input_series": series,
                          "alert_rule_test": tests}]}
        path = os.path.join(self.dir, "defaults.test.yml")
        with open(path, "w") as f:
            json.dump(doc, f)  # JSON is YAML
        rc, out = tm.run_promtool("test", "rules", path)
        self.assertEqual(rc, 0, "an alert fires on a fresh cluster with "
                         "the default settings:\n%s" % out[-3000:])

    def test_1_loads(self):
        self.browser.navigate(self.apis[1] + "/")
        p = self.wait_page(
            lambda p: p["state"] == "live" and len(p["regions"]) == 3,
            10, "the page to show the cluster")
        self.assertEqual(sorted(r for r, _ in p["regions"]), sorted(REGIONS))
        states = dict(p["regions"])
        self.assertEqual(states["eu-west"], "primary")
        self.assertEqual((p["primary"], p["epoch"]), ("eu-west", "1"))
        self.assertIn("Primary eu-west · epoch 1", p["summary"])
        # DNS as PowerDNS answers it now: the primary's target.
        p = self.wait_page(lambda p: p["dns"] == "true", 10,
                           "DNS to be checked")
        self.assertEqual(self.browser.problems(), [])
        self.shot("1-loaded")
        # Readable on a phone: nothing wider than the screen.
        self.browser.call("Emulation.setDeviceMetricsOverride", width=390,
                          height=844, deviceScaleFactor=2, mobile=True)
        try:
            time.sleep(0.5)
            over = self.browser.eval(
                "document.documentElement.scrollWidth - window.innerWidth")
            self.shot("1-phone")
            self.assertLessEqual(over, 0, "the page is wider than a phone")
        finally:
            self.browser.call("Emulation.clearDeviceMetricsOverride")

    def test_2_follows_set_primary(self):
        self.ok("site", "set-primary", "us-east", "--reason",
                "status page test")
        t0 = time.monotonic()
        p = self.wait_page(
            lambda p: p["primary"] == "us-east" and p["epoch"] == "2",
            UPDATE_WITHIN_S, "the page to show us-east at epoch 2")
        took = time.monotonic() - t0
        self.assertEqual(dict(p["regions"])["us-east"], "primary")
        # set-primary moves no DNS: the page says the name is elsewhere.
        p = self.wait_page(lambda p: p["dns"] == "false",
                           UPDATE_WITHIN_S + 3, "DNS to be flagged")
        self.assertIn("does not point at the primary us-east", p["banner"])
        self.assertEqual(self.browser.problems(), [])
        print("set-primary shown after %.1f s" % took)
        self.shot("2-set-primary")

    def test_3_shows_a_failover(self):
        self.ok("settings", "set", "failover.detection_window_ms", "3000")
        self.ok("local", "kill", "--dir", self.dir, "--region", "us-east")
        seen = []

        def moving(p):
            if p["runbook"] not in seen:
                seen.append(p["runbook"])
                if p["runbook"] not in ("none", "complete", ""):
                    self.shot("3-runbook-%s" % p["runbook"])
            return p["runbook"] == "complete" and p["primary"] in (
                "eu-west", "ap-south")
        # eu-west by priority; ap-south when a probe of eu-west's database
        # failed just then (a loaded machine): the page is under test here,
        # the choice in test_failover.
        p = self.wait_page(moving, 90, "the failover to complete on the page")
        target = p["primary"]
        self.assertTrue([s for s in seen if s not in ("none", "complete")],
                        "no runbook step was shown on the way: %s" % seen)
        steps = dict(p["steps"])
        for s in ("decide", "fence", "restore", "verify", "activate", "dns",
                  "notify", "complete"):
            self.assertEqual(steps.get(s), "done", (s, p["steps"]))
        self.assertEqual(dict(p["regions"])["us-east"], "fenced")
        self.assertEqual(dict(p["regions"])[target], "primary")
        self.assertEqual(p["epoch"], str(self.site()["epoch"]))
        p = self.wait_page(lambda p: p["dns"] == "true", UPDATE_WITHIN_S + 3,
                           "DNS to point at %s" % target)
        self.assertEqual(self.browser.problems(network_too=False), [])
        self.shot("3-failover-complete")
        # Bring the region back for the next step's quorum.
        self.ok("local", "start", "--dir", self.dir, "--region", "us-east")
        drcluster.wait_until(self.all_caught_up, 30,
                             what="us-east's node to rejoin and catch up")

    def test_4_survives_its_node(self):
        # The page came from node 1 (it reads the leader, which may be
        # another node, but starts every refresh with its own).
        self.assertEqual(self.browser.eval("location.origin"), self.apis[1])
        self.ok("local", "kill", "--dir", self.dir, "1")
        t_kill = time.time() * 1000
        p = self.wait_page(lambda p: p["updated"] > t_kill + 100 and
                           p["served_by"] != "1" and p["from"] != self.apis[1],
                           20, "the page to read from another member")
        self.assertIn("does not answer", p["banner"])
        site = self.site()
        epoch = int(site["epoch"])
        # Away from wherever test_3's failover went (not eu-west: its node
        # is the one killed).
        to = "us-east" if site["primary_region"] == "ap-south" else "ap-south"
        self.ok("site", "set-primary", to, "--reason",
                "after the page's node died")
        t0 = time.monotonic()
        p = self.wait_page(lambda p: p["primary"] == to and
                           p["epoch"] == str(epoch + 1), UPDATE_WITHIN_S,
                           "the page to show %s after its node died" % to)
        print("set-primary shown after %.1f s without the page's node"
              % (time.monotonic() - t0))
        self.assertEqual(self.browser.problems(network_too=False), [])
        self.shot("4-own-node-killed")

    def test_5_http(self):
        live = [u for n, u in sorted(self.apis.items()) if n != 1]
        base, other = live[0], live[1]
        status, hdr, body = http(base + "/")
        self.assertEqual(status, 200)
        self.assertTrue(hdr["content-type"].startswith("text/html"))
        self.assertIn("script-src 'self'", hdr["content-security-policy"])
        self.assertIn(b'src="/ui/status.js"', body)
        for name, ctype in (("status.js", "text/javascript"),
                            ("status.css", "text/css")):
            status, hdr, _ = http(base + "/ui/" + name)
            self.assertEqual(status, 200, name)
            self.assertTrue(hdr["content-type"].startswith(ctype), hdr)
        for path in ("/ui/nope.js", "/ui/../drnode.conf", "/index.html",
                     "/x/y"):
            status, _, body = http(base + path)
            self.assertEqual(status, 404, (path, body))
        status, hdr, body = http(base + "/", method="POST")
        self.assertEqual(status, 405, body)
        # Cross-origin reads: a member's own address only, reads only.
        status, hdr, _ = http(base + "/api/site",
                              {"Origin": other})
        self.assertEqual(hdr.get("access-control-allow-origin"), other)
        for origin in ("http://evil.example", other + "0", "null"):
            status, hdr, _ = http(base + "/api/site", {"Origin": origin})
            self.assertEqual(status, 200)
            self.assertNotIn("access-control-allow-origin", hdr, origin)
        status, hdr, _ = http(base + "/api/site", {
            "Origin": other, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization"},
            method="OPTIONS")
        self.assertEqual(status, 204)
        self.assertEqual(hdr.get("access-control-allow-origin"), other)
        self.assertEqual(hdr.get("access-control-allow-headers"),
                         "Authorization")
        # /api/dns: this node's last look at the name (every 3 s; a node
        # that just restarted asks once it has applied the settings).
        got = {}

        def asked():
            status, _, body = http(base + "/api/dns")
            self.assertEqual(status, 200)
            got["d"] = json.loads(body)
            return got["d"]["checked_ms"] > 0
        drcluster.wait_until(asked, 10, what="a DNS lookup on %s" % base)
        d = got["d"]
        self.assertEqual(d["name"], "app.dr.local.")
        self.assertEqual(d["primary_region"], self.site()["primary_region"])
        self.assertEqual(len(d["servers"]), 1, d)
        self.assertIsNone(d["servers"][0]["error"], d)

    def test_6_grafana_dashboard(self):
        """monitoring/grafana/drnode.json parses, and every query names
        only metrics and labels the nodes export (after the drill, the
        failover and the DNS checks above, every series has appeared)."""
        with open(DASHBOARD) as f:
            dash = json.load(f)
        self.assertGreaterEqual(dash["schemaVersion"], 36)
        live = exported(u for n, u in self.apis.items() if n != 1)
        self.assertIn("drnode_raft_term", live)
        scrape = {"job", "instance"}  # Prometheus adds them
        ids, exprs = set(), []
        for p in dash["panels"]:
            self.assertNotIn(p["id"], ids, "panel id %s twice" % p["id"])
            ids.add(p["id"])
            if p["type"] == "row":
                continue
            self.assertEqual(p["datasource"]["uid"], "${datasource}",
                             p["title"])
            self.assertTrue(p["targets"], p["title"])
            exprs += [(p["title"], t["expr"]) for t in p["targets"]]
        var = [v for v in dash["templating"]["list"] if v["name"] == "job"]
        m = re.fullmatch(r"label_values\((\w+), *(\w+)\)",
                         var[0]["definition"])
        self.assertIsNotNone(m, var)
        self.assertIn(m.group(1), live)
        self.assertIn(m.group(2), scrape)
        # A node exports its own probe's series only while that probe
        # answers (on a loaded machine one can time out for a round):
        # what several scrapes over a few seconds export.
        wanted = set().union(*(promql_refs(e)[0] for _, e in exprs))
        deadline = time.monotonic() + 20
        while not wanted <= set(live) and time.monotonic() < deadline:
            time.sleep(1)
            for n, labels in exported(
                    u for i, u in self.apis.items() if i != 1).items():
                live.setdefault(n, set()).update(labels)
        used = set()
        for title, expr in exprs:
            names, selectors, groups = promql_refs(expr)
            self.assertTrue(names, (title, expr))
            for n in names:
                self.assertIn(n, live, "%s: %s is not exported (%s)" % (
                    title, n, expr))
            used |= names
            labels = set().union(*(live[n] for n in names)) | scrape
            for metric, key in selectors:
                self.assertIn(key, live[metric] | scrape,
                              "%s: %s has no label %s" % (title, metric, key))
            for g in groups - {"le"}:
                self.assertIn(g, labels, "%s: no metric of %s has label %s"
                              % (title, expr, g))
        # The list: raft health and commit rate, replication lag,
        # backup age against the RPO, job failures, breakers, probe
        # latencies, drill RTO/RPO, failover durations.
        for m in ("drnode_raft_has_leader", "drnode_raft_commands_total",
                  "drnode_replication_lag_seconds",
                  "drnode_backup_age_seconds", "drnode_backup_rpo_seconds",
                  "drnode_jobs_failed_total", "cogitator_circuit_breaker_state",
                  "cogitator_probe_latency_seconds", "drnode_drill_rto_seconds",
                  "drnode_drill_rpo_seconds",
                  "drnode_failover_last_rto_seconds",
                  "drnode_dns_matches_primary"):
            self.assertIn(m, used)
        # The checker itself finds a wrong name and a wrong label.
        with self.assertRaises(AssertionError):
            self.assertIn("drnode_raft_terms", live)
        _, sel, _ = promql_refs('max(drnode_jobs{job=~"$job",stat="x"})')
        self.assertIn(("drnode_jobs", "stat"), sel)
        self.assertNotIn("stat", live["drnode_jobs"])


if __name__ == "__main__":
    drtest.main()
