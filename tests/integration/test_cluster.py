"""Real 3-node drnode clusters on loopback: election, failover, restart,
re-join by snapshot, leader transfer, follower redirects, --check-config."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import drtest  # noqa: E402

sys.dont_write_bytecode = True  # keep the source tree clean
import drcluster  # noqa: E402
from drcluster import ClusterTestCase, free_ports, wait_until


def region_names(resp):
    return sorted(r["name"] for r in resp.json["regions"])


def setting_value(resp, key):
    for s in resp.json["settings"]:
        if s["key"] == key:
            return s["value"]
    raise AssertionError("setting %s missing from %r" % (key, resp))


class TestCluster(ClusterTestCase):

    def start_cluster(self, **kw):
        c = self.new_cluster(**kw)
        c.start_all()
        leader = c.wait_for_leader()
        return c, leader

    def write_ok(self, node, method, path, body, status=200):
        r = node.write(method, path, body)
        self.assertEqual(r.status, status, "%s %s -> %r" % (method, path, r))
        return r

    def assert_state(self, node, regions, settings, site, stale):
        """node's regions include `regions` (name -> expected fields), the
        settings have the given values, and the site matches."""
        r = node.get("/api/regions", stale=stale)
        self.assertEqual(r.status, 200, r)
        got = {g["name"]: g for g in r.json["regions"]}
        for name, want in regions.items():
            self.assertIn(name, got, "node %d lost region %s" % (node.id,
                                                                  name))
            for k, v in want.items():
                self.assertEqual(got[name][k], v, "region %s field %s on "
                                 "node %d" % (name, k, node.id))
        r = node.get("/api/settings", stale=stale)
        self.assertEqual(r.status, 200, r)
        for k, v in settings.items():
            self.assertEqual(setting_value(r, k), v, "setting %s on node %d"
                             % (k, node.id))
        r = node.get("/api/site", stale=stale)
        self.assertEqual(r.status, 200, r)
        for k, v in site.items():
            self.assertEqual(r.json[k], v, "site %s on node %d" % (k,
                                                                   node.id))

    def test_failover_keeps_acknowledged_writes(self):
        c, leader = self.start_cluster()
        # Every node reports the same leader and the bootstrap state.
        for nid, st in c.statuses().items():
            self.assertEqual(st["leader"]["id"], leader.id)
            self.assertEqual(st["leader"]["api"], leader.api_address)
            self.assertEqual(st["node"], nid)
            self.assertIn(st["role"], ("leader", "follower"))
        st = leader.status()
        self.assertTrue(st["initialized"])
        self.assertEqual(st["primary_region"], "eu-west")
        self.assertEqual(st["epoch"], 1)
        self.assertEqual(sorted(m["id"] for m in st["members"]), [1, 2, 3])
        self.assertTrue(all(m["voter"] for m in st["members"]))
        self.assertEqual(sorted(r["name"] for r in st["regions"]),
                         ["ap-south", "eu-west", "us-east"])

        # Acknowledged writes.
        regions = {}
        for i in range(5):
            name = "ack-%d-%s" % (i, os.urandom(3).hex())
            body = {"name": name, "priority": 10 + i,
                    "dns_targets": ["10.0.0.%d" % (i + 1), "db.example.com"],
                    "object_store": "file:///srv/backups/%d" % i}
            r = self.write_ok(leader, "POST", "/api/regions", body, 201)
            self.assertEqual(r.json["name"], name)
            self.assertEqual(r.json["priority"], 10 + i)
            self.assertEqual(r.json["primary"], False)
            regions[name] = {k: body[k] for k in ("priority", "dns_targets",
                                                  "object_store")}
        r = self.write_ok(leader, "PUT", "/api/settings/queue_mode",
                          {"value": True})
        self.assertEqual(r.json["value"], True)
        r = self.write_ok(leader, "PUT", "/api/settings/backup.pg_interval_s",
                          {"value": 120})
        self.assertEqual(r.json["value"], 120)
        r = self.write_ok(leader, "PUT", "/api/settings/failover.mode",
                          {"value": "manual"})
        self.assertEqual(r.json["value"], "manual")
        r = self.write_ok(leader, "POST", "/api/site/primary",
                          {"region": "us-east", "reason": "drill",
                           "expected_epoch": 1})
        self.assertEqual(r.json["primary_region"], "us-east")
        self.assertEqual(r.json["epoch"], 2)
        settings = {"queue_mode": True, "backup.pg_interval_s": 120,
                    "failover.mode": "manual"}
        site = {"primary_region": "us-east", "epoch": 2}
        regions["us-east"] = {"primary": True}
        regions["eu-west"] = {"primary": False}
        hist_before = leader.get("/api/history").json["history"]

        # kill -9 the leader: a new one, within bounds, has every write.
        old = leader.id
        t0 = time.monotonic()
        self.assertEqual(c.kill(old), -9)
        new = c.wait_for_leader(exclude=(old,))
        elapsed = time.monotonic() - t0
        self.assertNotEqual(new.id, old)
        self.assertLess(elapsed, drcluster.ELECTION_WAIT_S)
        self.assert_state(new, regions, settings, site, stale=False)
        hist = new.get("/api/history")
        self.assertEqual(hist.status, 200, hist)
        self.assertEqual(hist.json["history"][:len(hist_before)], hist_before)
        # The survivors are still two voters that accept writes.
        late = "late-" + os.urandom(3).hex()
        self.write_ok(new, "POST", "/api/regions", {"name": late}, 201)
        regions[late] = {"priority": 0, "dns_targets": [], "object_store": ""}

        # The killed node restarts from its data dir and catches up.
        c.restart(old)
        c.wait_caught_up(old, new)
        again = c.wait_for_leader()
        self.assertEqual(again.id, new.id)
        self.assert_state(c.node(old), regions, settings, site, stale=True)
        self.assertEqual(
            c.node(old).get("/api/history", stale=True).json["history"],
            new.get("/api/history", stale=True).json["history"])

    def test_sigterm_exits_zero_and_restarts(self):
        c, leader = self.start_cluster()
        follower = c.followers(leader)[0]
        self.assertEqual(c.stop(follower.id), 0, follower.log_tail())
        name = "while-down-" + os.urandom(3).hex()
        self.write_ok(leader, "POST", "/api/regions", {"name": name}, 201)
        c.restart(follower.id)
        c.wait_caught_up(follower.id, leader)
        self.assertIn(name, region_names(follower.get("/api/regions",
                                                      stale=True)))

        # SIGTERM on the leader: exit 0, another leader, clean restart.
        self.assertEqual(c.stop(leader.id), 0, leader.log_tail())
        new = c.wait_for_leader(exclude=(leader.id,))
        name2 = "after-term-" + os.urandom(3).hex()
        self.write_ok(new, "POST", "/api/regions", {"name": name2}, 201)
        c.restart(leader.id)
        c.wait_caught_up(leader.id, new)
        names = region_names(leader.get("/api/regions", stale=True))
        self.assertIn(name, names)
        self.assertIn(name2, names)
        c.wait_for_leader()

    def test_wiped_node_rejoins_by_snapshot(self):
        c, leader = self.start_cluster(raft={"snapshot_threshold": 32,
                                             "snapshot_trailing": 8})
        gone = c.followers(leader)[0]
        r = leader.write("DELETE", "/api/members/%d" % gone.id)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"deleted": gone.id})
        r = leader.get("/api/members")
        self.assertEqual(r.status, 200, r)
        self.assertNotIn(gone.id, [m["id"] for m in r.json["members"]])
        self.assertEqual(c.stop(gone.id), 0, gone.log_tail())
        c.wipe(gone.id)

        # ~100 entries so the leader compacts its log past what gone had.
        names = []
        for i in range(40):
            name = "snap-%02d" % i
            self.write_ok(leader, "POST", "/api/regions", {"name": name}, 201)
            names.append(name)
        for i in range(60):
            self.write_ok(leader, "PUT", "/api/settings/backup.pg_interval_s",
                          {"value": 60 + i})
        snaps = [f for f in os.listdir(leader.data_dir)
                 if f.startswith("snapshot-")]
        self.assertTrue(snaps, "leader took no snapshot: %s" %
                        os.listdir(leader.data_dir))

        # Restart it empty with join = true and add it back.
        gone.join = True
        c.start(gone.id)
        st = gone.status()
        self.assertFalse(st["initialized"], st)
        r = leader.write("POST", "/api/members", gone.member_json(),
                         timeout=30.0)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["id"], gone.id)
        self.assertEqual(r.json["voter"], True, r)
        self.assertEqual(r.json["role"], "voter", r)
        self.assertEqual(r.json["region"], gone.region)
        self.assertEqual(r.json["raft_address"], gone.raft_address)
        self.assertEqual(r.json["api_address"], gone.api_address)
        r = leader.get("/api/members")
        m = [m for m in r.json["members"] if m["id"] == gone.id]
        self.assertEqual(len(m), 1, r)
        self.assertTrue(m[0]["voter"], r)

        c.wait_caught_up(gone.id, leader)
        # The leader shows how far each member's log matches its own; a
        # follower does not know, nor does the leader for itself.
        st = leader.status()
        ms = {m["id"]: m for m in leader.get("/api/members").json["members"]}
        self.assertGreaterEqual(ms[gone.id]["match_index"],
                                st["commit_index"] - 1, ms)
        self.assertIsNone(ms[leader.id]["match_index"], ms)
        fm = gone.get("/api/members", stale=True).json["members"]
        self.assertEqual([m["match_index"] for m in fm], [None] * len(fm))
        # The leader's log says what happened to the membership.
        log = leader.log_tail(400)
        self.assertIn("membership: server %d removed" % gone.id, log)
        self.assertIn("membership: server %d joined as a spare" % gone.id,
                      log)
        self.assertIn("membership: server %d is a voter" % gone.id, log)
        want = region_names(leader.get("/api/regions"))
        self.assertEqual(region_names(gone.get("/api/regions", stale=True)),
                         want)
        for n in names + ["eu-west", "us-east", "ap-south"]:
            self.assertIn(n, want)
        self.assertEqual(setting_value(gone.get("/api/settings", stale=True),
                                       "backup.pg_interval_s"), 119)
        self.assertTrue(gone.status()["initialized"])
        got = [f for f in os.listdir(gone.data_dir)
               if f.startswith("snapshot-")]
        self.assertTrue(got, "re-joined node holds no snapshot: %s" %
                        os.listdir(gone.data_dir))
        self.assertEqual(c.wait_for_leader().id, leader.id)

    def test_wiped_voter_refuses_to_bootstrap(self):
        """A member whose disk is new (a replacement instance) while its
        config still says join = false asks the other members first: the
        leader has heard from it before, so it would wait forever for the
        log the node had; the node refuses to start and says what to do,
        and the cluster goes on unchanged."""
        c, leader = self.start_cluster()
        gone = c.followers(leader)[0]
        # The leader has heard from it (on a loaded machine it may not have
        # yet): what the restarted node will ask the leader.
        def heard():
            return any(m["id"] == gone.id and
                       isinstance(m.get("last_contact_ms"), int)
                       for m in leader.status()["members"])
        wait_until(heard, 20, what="the leader to hear from node %d" % gone.id)
        self.assertEqual(c.stop(gone.id), 0, gone.log_tail())
        c.wipe(gone.id)
        self.assertFalse(gone.join)
        with self.assertRaises(AssertionError) as cm:
            c.start(gone.id)
        msg = str(cm.exception)
        self.assertIn("exited with 2", msg)
        self.assertIn("is empty, but member %d" % leader.id, msg)
        self.assertIn("lost its disk", msg)
        self.assertIn("drctl members remove %d" % gone.id, msg)
        self.assertNotIn("bootstrapped a new cluster",
                         msg.split("--- start node %d" % gone.id)[-1])
        # Nothing written: no data dir made, no raft state.
        self.assertFalse(os.path.exists(gone.data_dir) and
                         os.listdir(gone.data_dir))
        self.assertEqual(c.wait_for_leader().id, leader.id)
        self.write_ok(leader, "POST", "/api/regions", {"name": "still"}, 201)

    def test_member_started_late_joins_instead_of_bootstrapping(self):
        """Two of three members form the cluster; the third starts later
        with an empty data dir and join = false: a cluster answers whose
        leader never heard from it, so it joins and receives the log
        instead of bootstrapping a history of its own."""
        c = self.new_cluster()
        late = c.nodes[3]
        c.start(1)
        c.start(2)
        leader = c.wait_for_leader(ids=[1, 2])
        wait_until(lambda: leader.status()["initialized"], 20,
                   what="the cluster state bootstrapped")
        for i in range(5):
            self.write_ok(leader, "POST", "/api/regions",
                          {"name": "before-%d" % i}, 201)
        c.start(late.id)
        c.wait_caught_up(late.id, leader)
        log = late.log_tail(200)
        self.assertIn("answers for an existing cluster: joining it instead "
                      "of bootstrapping", log)
        self.assertNotIn("bootstrapped a new cluster", log)
        self.assertEqual(region_names(late.get("/api/regions", stale=True)),
                         region_names(leader.get("/api/regions")))
        self.assertTrue(late.status()["initialized"])
        r = leader.get("/api/members")
        m = [m for m in r.json["members"] if m["id"] == late.id]
        self.assertTrue(m and m[0]["voter"], r)

    def knows_every_member_soon(self, c, leader):
        """Every node reports to a new leader as soon as it knows it, not
        at its next probe round (5 s by default): within 2 s the leader has
        each member's word (its lag metric; the same reports carry the
        endpoint verdicts a failover waits for)."""
        def known():
            text = leader.get("/metrics").body.decode()
            return all('drnode_raft_replication_lag_entries{member="%d"'
                       % n in text for n in c.nodes)
        wait_until(known, 2.0, interval=0.1,
                   what="node %d's word from every member" % leader.id)

    def test_leader_transfer(self):
        c, leader = self.start_cluster()
        target = c.followers(leader)[0]
        r = leader.write("POST", "/api/leader/transfer", {"to": target.id},
                         timeout=15.0)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"leader": {"id": target.id,
                                             "api": target.api_address}})
        self.assertEqual(c.wait_for_leader().id, target.id)
        self.knows_every_member_soon(c, target)
        # {} moves it to any other voter.
        r = target.write("POST", "/api/leader/transfer", {}, timeout=15.0)
        self.assertEqual(r.status, 200, r)
        self.assertNotEqual(r.json["leader"]["id"], target.id)
        now = c.wait_for_leader()
        self.assertEqual(now.id, r.json["leader"]["id"])
        self.knows_every_member_soon(c, now)
        # Writes still work on the new leader.
        self.write_ok(now, "POST", "/api/regions",
                      {"name": "post-transfer"}, 201)

    def test_leader_losing_majority_with_queued_requests_survives(self):
        # Regression: raft fails pending requests while it steps down (0.15
        # and 0.22.1 alike);
        # issuing the next barrier or apply from that callback crashed the
        # leader. Freeze both followers, queue reads and writes, wait for
        # the step-down, and check the old leader is alive and answers.
        import signal
        import threading
        c, leader = self.start_cluster()
        followers = c.followers(leader)
        for f in followers:
            os.kill(f.pid, signal.SIGSTOP)
        thawed = []

        def thaw():
            for f in followers:
                if f.pid not in thawed:
                    os.kill(f.pid, signal.SIGCONT)
                    thawed.append(f.pid)
        self.addCleanup(thaw)
        results = []

        def one(i):
            try:
                if i % 2:
                    r = leader.get("/api/regions", timeout=10.0)
                else:
                    r = leader.write("PUT", "/api/settings/rpo.pg_s",
                                     {"value": 100 + i}, timeout=10.0)
                results.append(r.status)
            except OSError as e:
                results.append(str(e))
        threads = [threading.Thread(target=one, args=(i,))
                   for i in range(80)]
        for t in threads:
            t.start()
            time.sleep(0.005)
        for t in threads:
            t.join(15)
        self.assertTrue(leader.running(), "leader crashed:\n%s" %
                        leader.log_tail())
        # Every request got an HTTP answer: 503 (outcome unknown or no
        # leader) or 307, never a dropped connection.
        self.assertEqual(len(results), 80, results)
        for st in results:
            self.assertIn(st, (503, 307), results)
        thaw()
        new = c.wait_for_leader()
        self.write_ok(new, "POST", "/api/regions", {"name": "after-thaw"},
                      201)
        self.assertTrue(leader.running())

    def test_sigterm_under_load_exits_zero(self):
        import threading
        c, leader = self.start_cluster()
        node = c.followers(leader)[0]
        stop = threading.Event()

        def hammer():
            while not stop.is_set():
                try:
                    node.get("/api/status", timeout=2.0)
                    node.get("/api/settings", stale=True, timeout=2.0)
                except OSError:
                    pass
        threads = [threading.Thread(target=hammer) for _ in range(16)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        code = c.stop(node.id)
        stop.set()
        for t in threads:
            t.join(10)
        self.assertEqual(code, 0, node.log_tail())

    def test_sigterm_with_open_connections_closes_the_loop(self):
        # Idle keep-alive connections and a half-sent request are open
        # when the node stops: it closes them, and its event loop closes
        # (uv_loop_close returns 0, or drnode exits 1).
        import socket
        c, leader = self.start_cluster()
        node = c.followers(leader)[0]
        host, port = node.api_address.rsplit(":", 1)
        socks = []
        for k in range(3):
            s = socket.create_connection((host, int(port)), timeout=5)
            s.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertIn(b"200", s.recv(4096))
            socks.append(s)
        half = socket.create_connection((host, int(port)), timeout=5)
        half.sendall(b"PUT /api/settings/rpo.pg_s HTTP/1.1\r\nHost: x\r\n")
        socks.append(half)
        try:
            self.assertEqual(c.stop(node.id), 0, node.log_tail())
        finally:
            for s in socks:
                s.close()
        log = node.log_tail(20)
        self.assertIn("raft closed cleanly", log)
        self.assertRegex(log, r"exiting \(event loop closed; \d+ open "
                              r"connection handles dropped\)")

    def test_start_failure_unwinds_and_closes_the_loop(self):
        # The API port is taken: raft had started, so drnode closes it
        # again, closes its loop, and exits 1 naming the address.
        import socket
        c = self.new_cluster(regions=("eu-west",))
        n = c.node(1)
        host, port = n.api_address.rsplit(":", 1)
        blocker = socket.socket()
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind((host, int(port)))
        blocker.listen(1)
        try:
            p = subprocess.run([drcluster.DRNODE, "--config", n.config_path],
                               capture_output=True, text=True, timeout=20)
        finally:
            blocker.close()
        self.assertEqual(p.returncode, 1, p)
        self.assertIn(n.api_address, p.stderr)
        self.assertIn("raft closed cleanly", p.stderr)
        self.assertIn("event loop closed", p.stderr)

    def test_second_process_on_a_data_dir_is_refused(self):
        c, leader = self.start_cluster()
        n = c.node(leader.id)
        p = subprocess.run([drcluster.DRNODE, "--config", n.config_path],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 1, p)
        self.assertIn("is in use by another drnode (pid %d)" % n.pid,
                      p.stderr)
        # The running node is untouched and still leads.
        self.assertEqual(c.wait_for_leader().id, leader.id)
        self.write_ok(leader, "POST", "/api/regions", {"name": "after-lock"},
                      201)

    def test_add_cut_short_by_a_leader_change_can_be_finished(self):
        """An add whose promotion is cut short by a leadership change
        leaves the node a spare (raft joined it before promoting); adding it
        again finishes the promotion instead of answering 409 forever.
        Found by chaos/run (seed 22)."""
        import threading
        c, leader = self.start_cluster()
        gone = c.followers(leader)[0]
        other = [n for n in c.followers(leader) if n.id != gone.id][0]
        self.write_ok(leader, "DELETE", "/api/members/%d" % gone.id, None)
        self.assertEqual(c.stop(gone.id), 0, gone.log_tail())
        c.wipe(gone.id)
        # Add it while it is down: it joins as spare and the promotion
        # waits for it to catch up; meanwhile leadership moves.
        answers = []
        t = threading.Thread(target=lambda: answers.append(leader.write(
            "POST", "/api/members", gone.member_json(), timeout=30.0)))
        t.start()
        wait_until(lambda: any(m["id"] == gone.id and m["role"] == "spare"
                               for m in leader.get("/api/members?stale=true")
                               .json["members"]), 10, what="a spare")
        r = leader.write("POST", "/api/leader/transfer", {"to": other.id})
        self.assertEqual(r.status, 200, r)
        t.join(35)
        self.assertEqual(answers[0].status, 503, answers[0])
        new = c.wait_for_leader(ids=[leader.id, other.id])
        roles = {m["id"]: m["role"] for m in
                 new.get("/api/members").json["members"]}
        self.assertEqual(roles.get(gone.id), "spare", roles)
        gone.join = True
        c.start(gone.id)
        r = new.write("POST", "/api/members", gone.member_json(),
                      timeout=30.0)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["role"], "voter", r)
        c.wait_caught_up(gone.id, new)
        # A member that is a voter already still gets 409.
        r = new.write("POST", "/api/members", gone.member_json())
        self.assertError(r, 409, "already_exists", "already in the cluster")

    def test_unreachable_member_is_not_left_behind(self):
        # A node that never starts cannot catch up: the add fails without
        # Retry-After (the client must not repeat it blindly), and neither
        # the spare nor its metadata stays, so the id can be added later.
        c, leader = self.start_cluster()
        dead = free_ports(4)
        got = {}

        def add():
            got["r"] = leader.write("POST", "/api/members",
                                    {"id": 9, "region": "eu-west",
                                     "raft_address": "127.0.0.1:%d" % dead[0],
                                     "api_address": "127.0.0.1:%d" % dead[1]},
                                    timeout=30.0)
        t = threading.Thread(target=add)
        t.start()
        try:
            # While raft tries to catch 9 up, another add is refused and
            # the refusal says what runs.
            wait_until(lambda: any(
                m["id"] == 9 and m["role"] == "spare" for m in
                leader.get("/api/members").json["members"]), 10.0,
                what="member 9 a spare")
            # Until the spare's configuration entry commits, the refusal
            # names that entry; then it names the catch-up. Every refusal
            # is one of the two, and the catch-up one comes.
            busy = "another membership change is in progress: "
            seen = []
            deadline = time.monotonic() + 5.0
            while True:
                r2 = leader.write("POST", "/api/members",
                                  {"id": 10, "region": "eu-west",
                                   "raft_address": "127.0.0.1:%d" % dead[2],
                                   "api_address": "127.0.0.1:%d" % dead[3]})
                self.assertError(r2, 409, "conflict", busy)
                msg = r2.error[1]
                seen.append(msg)
                if "server 9 is catching up to become a voter" in msg:
                    break
                self.assertIn("is not committed yet", msg, r2)
                self.assertLess(time.monotonic(), deadline, seen)
                time.sleep(0.05)
        finally:
            t.join(40.0)
        r = got["r"]
        self.assertError(r, 503, "unavailable", "member 9 could not join")
        self.assertIsNone(r.header("retry-after"), r)
        ids = [m["id"] for m in
               leader.get("/api/members").json["members"]]
        self.assertNotIn(9, ids)
        actions = [(h["action"], h["detail"].split()[0]) for h in
                   leader.get("/api/history").json["history"]]
        self.assertEqual(actions[-2:], [("member-put", "9"),
                                        ("member-remove", "9")])
        log = leader.log_tail(400)
        self.assertIn("membership: promoting server 9 to voter failed: ",
                      log)
        self.assertIn("membership: spare 9 taken out again", log)

    def test_follower_redirects(self):
        c, leader = self.start_cluster()
        base = "http://" + leader.api_address
        writes = [
            ("POST", "/api/regions", {"name": "via-follower"}),
            ("PUT", "/api/regions/eu-west", {"priority": 7}),
            ("DELETE", "/api/regions/ap-south", None),
            ("PUT", "/api/settings/queue_mode", {"value": True}),
            ("POST", "/api/site/primary", {"region": "us-east"}),
            ("POST", "/api/members", {"id": 9, "region": "eu-west",
                                      "raft_address": "127.0.0.1:1",
                                      "api_address": "127.0.0.1:2"}),
            ("DELETE", "/api/members/3", None),
            ("POST", "/api/leader/transfer", {}),
            ("POST", "/api/regions?trace=1", {"name": "via-follower"}),
        ]
        reads = ["/api/regions", "/api/regions/eu-west", "/api/members",
                 "/api/settings", "/api/settings/queue_mode", "/api/site",
                 "/api/history", "/api/regions?verbose=1"]
        commit0 = leader.status()["commit_index"]
        for f in c.followers(leader):
            for method, path, body in writes:
                r = f.write(method, path, body)
                self.assertEqual(r.status, 307, "%s %s on node %d: %r" %
                                 (method, path, f.id, r))
                self.assertEqual(r.header("location"), base + path)
                self.assertEqual(r.error[0], "not_leader", r)
                self.assertIn("the leader is node %d" % leader.id,
                              r.error[1])
            for path in reads:
                r = f.get(path)
                self.assertEqual(r.status, 307, "GET %s on node %d: %r" %
                                 (path, f.id, r))
                self.assertEqual(r.header("location"), base + path)
                self.assertEqual(r.error[0], "not_leader", r)
            for path in ("/api/status", "/api/health", "/metrics"):
                self.assertEqual(f.get(path).status, 200, path)
        # Nothing was proposed by the redirected writes.
        self.assertEqual(leader.status()["commit_index"], commit0)

        # Following the Location by hand works, and stale reads answer on
        # the followers with the leader's state.
        f = c.followers(leader)[0]
        r = f.write("POST", "/api/regions", {"name": "followed"})
        loc = r.header("location")
        self.assertTrue(loc.startswith(base), loc)
        r = drcluster.http_request(leader.api_address, "POST",
                                   loc[len(base):], {"name": "followed"},
                                   token=c.token)
        self.assertEqual(r.status, 201, r)
        for f in c.followers(leader):
            c.wait_caught_up(f.id, leader)
            for path in reads:
                r = f.get(path, stale=True)
                self.assertEqual(r.status, 200, "GET %s?stale on node %d: %r"
                                 % (path, f.id, r))
                if path == "/api/members":
                    continue  # last_contact_ms is only known on the leader
                want = leader.get(path, stale=True)
                self.assertEqual(r.json, want.json, path)
            self.assertIn("followed", region_names(
                f.get("/api/regions", stale=True)))
            self.assertNotIn("via-follower", region_names(
                f.get("/api/regions", stale=True)))


class TestCheckConfig(unittest.TestCase):

    def setUp(self):
        if not os.access(drcluster.DRNODE, os.X_OK):
            self.skipTest("drnode not built at %s" % drcluster.DRNODE)
        self.dir = tempfile.mkdtemp(prefix="drnode-it-check-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def run_drnode(self, *args):
        return subprocess.run([drcluster.DRNODE] + list(args),
                              capture_output=True, text=True, timeout=20)

    def test_bad_config_exits_2_with_file_line_messages(self):
        path = os.path.join(self.dir, "bad.conf")
        with open(path, "w") as f:
            f.write("[node]\n"                       # 1
                    "id = zero\n"                    # 2
                    "region = Bad_Region\n"          # 3
                    "raft_address = nohost\n"        # 4
                    "bogus = 1\n"                    # 5
                    "[raft]\n"                       # 6
                    "election_timeout_ms = -5\n"     # 7
                    "[nosuch]\n")                    # 8
        p = self.run_drnode("--check-config", path)
        self.assertEqual(p.returncode, 2, p)
        lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
        self.assertTrue(lines, p)
        pat = re.compile(r"^%s(:(\d+))?: \S.*$" % re.escape(path))
        for ln in lines:
            self.assertRegex(ln, pat)
        by_line = {}
        for ln in lines:
            m = pat.match(ln)
            if m.group(2):
                by_line.setdefault(int(m.group(2)), []).append(ln)
        self.assertEqual(sorted(by_line), [2, 3, 4, 5, 7, 8], p.stderr)
        self.assertIn("zero", by_line[2][0])
        self.assertIn("Bad_Region", by_line[3][0])
        self.assertIn("nohost", by_line[4][0])
        self.assertIn('unknown key "bogus"', by_line[5][0])
        self.assertIn("election_timeout_ms", by_line[7][0])
        self.assertIn("unknown section [nosuch]", by_line[8][0])
        self.assertTrue(any("api_address" in ln for ln in lines), p.stderr)
        self.assertTrue(any("data_dir" in ln for ln in lines), p.stderr)
        # drnode --config refuses it the same way, before doing anything.
        p2 = self.run_drnode("--config", path)
        self.assertEqual(p2.returncode, 2, p2)
        self.assertIn("%s:5:" % path, p2.stderr)

    def test_missing_config_and_good_config(self):
        path = os.path.join(self.dir, "missing.conf")
        p = self.run_drnode("--check-config", path)
        self.assertEqual(p.returncode, 2, p)
        self.assertIn(path, p.stderr)
        c = drcluster.Cluster(name="check")
        self.addCleanup(c.cleanup)
        node = c.node(1)
        p = self.run_drnode("--check-config", node.config_path)
        self.assertEqual(p.returncode, 0, p)
        self.assertEqual(p.stdout.strip(), "%s: ok" % node.config_path)
        self.assertNotIn("warning", p.stderr)
        self.assertFalse(os.path.exists(node.data_dir))
        # Two regions, one coordinator each: valid, but losing either loses
        # the majority, so it says automatic failover stays off.
        c2 = drcluster.Cluster(regions=("eu-west", "us-east"), name="check2")
        self.addCleanup(c2.cleanup)
        p = self.run_drnode("--check-config", c2.node(1).config_path)
        self.assertEqual(p.returncode, 0, p)
        self.assertIn("warning: region eu-west holds 1 of the 2 coordinators",
                      p.stderr)
        self.assertIn("automatic failover stays off", p.stderr)
        # A token file the node would refuse at start-up fails the check.
        os.chmod(c.token_file, 0o644)
        p = self.run_drnode("--check-config", node.config_path)
        self.assertEqual(p.returncode, 2, p)
        self.assertIn("[node] token_file: token file %s is accessible by "
                      "group or others" % c.token_file, p.stderr)
        os.chmod(c.token_file, 0o600)
        p = self.run_drnode("--bogus")
        self.assertEqual(p.returncode, 2, p)


if __name__ == "__main__":
    drtest.main()
