#!/usr/bin/env python3
"""Unit tests of chaos/check.py on small hand-written histories that must
pass and histories that must fail (python3 chaos/test_check.py)."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import check  # noqa: E402


class H:
    """Builds a history: op(...) adds an invocation and its completion."""

    def __init__(self, registers=None, site=(1, "eu-west")):
        self.lines = [{"e": "meta", "seed": 0,
                       "registers": registers or {"r": 0},
                       "sites": ["eu-west", "us-east"],
                       "initial_site": list(site)}]
        self.n = 0

    def op(self, f, key, value, inv, ret, kind="ok", result=None, c=1):
        self.n += 1
        self.lines.append({"e": "invoke", "id": self.n, "c": c, "f": f,
                           "key": key, "value": value, "t": inv})
        if ret is not None:
            ev = {"e": kind, "id": self.n, "t": ret}
            if result is not None:
                ev["value"] = result
            self.lines.append(ev)
        return self

    def final_list(self, names, t=100.0):
        return self.op("list", None, None, t, t + 1, result=sorted(
            list(names) + ["r", "eu-west", "us-east"]))

    def final_nodes(self, states):
        self.lines.append({"e": "final", "nodes": states})
        return self

    def check(self):
        if not any(x.get("f") == "list" for x in self.lines):
            self.final_list([])
        if not any(x.get("e") == "final" for x in self.lines):
            self.final_nodes({"1": node_state(), "2": node_state()})
        return check.check([json.dumps(x) for x in self.lines])


def node_state(epoch=1, primary="eu-west", history=((1, 10), (2, 20)),
               regions=("eu-west", "r", "us-east"), applied=7, audit=()):
    """audit: (action, detail) entries after history's."""
    n = len(history)
    history = [{"seq": s, "time_ms": t} for s, t in history] + [
        {"seq": n + k + 1, "time_ms": 100 + k, "action": a, "detail": d}
        for k, (a, d) in enumerate(audit)]
    return {"status": {"applied_index": applied, "epoch": epoch,
                       "role": "follower", "last_contact_ms": 3},
            "regions": {"regions": [{"name": r} for r in regions]},
            "history": {"history": history},
            "settings": {"settings": []},
            "site": {"epoch": epoch, "primary_region": primary,
                     "state": "active"},
            "members": {"members": [{"id": 1, "last_contact_ms": 5}]}}


class RegisterTest(unittest.TestCase):
    def test_sequential_ok(self):
        r = H().op("write", "r", 5, 1, 2).op("read", "r", None, 3, 4,
                                              result=5).check()
        self.assertEqual((r.lost, r.anomalies), (0, 0), r.text())

    def test_older_value_after_newer_read_fails(self):
        # Write 5 overlaps both reads, but once a read saw 5 a later one
        # cannot see 0 again.
        r = (H().op("write", "r", 5, 1, 10)
             .op("read", "r", None, 2, 3, result=5, c=2)
             .op("read", "r", None, 4, 5, result=0, c=3)).check()
        self.assertEqual(r.anomalies, 1, "5 then 0 with no write between "
                         "cannot be linearized")

    def test_stale_read_fails(self):
        r = (H().op("write", "r", 5, 1, 2).op("write", "r", 6, 3, 4)
             .op("read", "r", None, 5, 6, result=5)).check()
        self.assertEqual(r.anomalies, 1, r.text())
        self.assertIn("register r: not linearizable", r.text())

    def test_lost_acked_write_fails(self):
        r = (H().op("write", "r", 5, 1, 2)
             .op("read", "r", None, 3, 4, result=0)).check()
        self.assertEqual(r.anomalies, 1, r.text())

    def test_unknown_write_may_apply_late(self):
        # An unknown write seen long after its request timed out.
        r = (H().op("write", "r", 5, 1, 2, kind="unknown")
             .op("read", "r", None, 3, 4, result=0)
             .op("read", "r", None, 9, 10, result=5)).check()
        self.assertEqual(r.anomalies, 0, r.text())

    def test_unknown_write_unseen_is_dropped(self):
        r = (H().op("write", "r", 5, 1, 2, kind="unknown")
             .op("write", "r", 6, 3, 4)
             .op("read", "r", None, 5, 6, result=6)).check()
        self.assertEqual(r.anomalies, 0, r.text())

    def test_value_nobody_wrote_fails(self):
        r = H().op("read", "r", None, 1, 2, result=77).check()
        self.assertIn("read 77, which nobody wrote", r.text())

    def test_failed_write_seen_fails(self):
        r = (H().op("write", "r", 5, 1, 2, kind="fail")
             .op("read", "r", None, 3, 4, result=5)).check()
        self.assertGreaterEqual(r.anomalies, 1, r.text())

    def test_read_before_write_invoked_fails(self):
        r = (H().op("read", "r", None, 1, 2, result=5)
             .op("write", "r", 5, 3, 4, kind="unknown")).check()
        self.assertEqual(r.anomalies, 1, r.text())

    def test_many_concurrent_ops_stay_fast(self):
        h = H()
        for k in range(300):  # 300 rounds of 4 overlapping clients
            t = k * 10.0
            h.op("write", "r", k * 10 + 1, t, t + 5, c=1)
            h.op("write", "r", k * 10 + 2, t + 1, t + 6, c=2)
            h.op("read", "r", None, t + 2, t + 7, result=k * 10 + 2, c=3)
            h.op("write", "r", k * 10 + 3, t + 3, t + 8, kind="unknown",
                 c=4)
        r = h.check()
        self.assertEqual(r.anomalies, 0, r.text())
        self.assertEqual(r.doubts, [], r.text())
        self.assertIn("register r: linearizable", r.text())

    def test_many_concurrent_ops_one_stale_read_fails(self):
        """The same 1,200 operations with one read, deep in the history,
        answering the round before's value: decided (no doubt) and found."""
        h = H()
        for k in range(300):
            t = k * 10.0
            h.op("write", "r", k * 10 + 1, t, t + 5, c=1)
            h.op("write", "r", k * 10 + 2, t + 1, t + 6, c=2)
            # Round 250 reads round 248's value, overwritten in round 249.
            stale = (k - 2) * 10 + 2 if k == 250 else k * 10 + 2
            h.op("read", "r", None, t + 2, t + 7, result=stale, c=3)
            h.op("write", "r", k * 10 + 3, t + 3, t + 8, kind="unknown",
                 c=4)
        r = h.check()
        self.assertEqual(r.doubts, [], r.text())
        self.assertEqual(r.anomalies, 1, r.text())
        self.assertIn("register r: not linearizable (900 operations)",
                      r.text())

    def test_search_out_of_budget_is_a_doubt(self):
        h = H()
        for k in range(40):  # everything overlaps everything
            h.op("write", "r", k + 1, float(k), 1000.0 + k, c=k)
        h.op("read", "r", None, 2000.0, 2001.0, result=7, c=99)
        _, ops, _ = check.load([json.dumps(x) for x in h.lines])
        items = [(o.inv, o.ret, o, True) for o in ops]
        self.assertIsNone(check.linearizable(items, 0, check.register_step,
                                             budget=50))
        old = check.linearizable.__defaults__
        check.linearizable.__defaults__ = (50,)  # the budget check() uses
        try:
            r = h.check()
        finally:
            check.linearizable.__defaults__ = old
        self.assertEqual(r.anomalies, 0, r.text())
        self.assertTrue(any("inconclusive" in d for d in r.doubts), r.text())
        self.assertIn("DOUBT register r", r.text())


class SiteTest(unittest.TestCase):
    def test_cas_chain_ok(self):
        r = (H().op("site", None, None, 1, 2, result=[1, "eu-west"])
             .op("cas", None, {"expected": 1, "region": "us-east"}, 3, 4,
                 result=[2, "us-east"])
             .op("site", None, None, 5, 6, result=[2, "us-east"])
             .final_nodes({"1": node_state(2, "us-east")})).check()
        self.assertEqual((r.lost, r.anomalies), (0, 0), r.text())

    def test_two_primaries_in_one_epoch_fails(self):
        r = (H().op("cas", None, {"expected": 1, "region": "us-east"}, 1, 2,
                    result=[2, "us-east"])
             .op("site", None, None, 3, 4, result=[2, "ap-south"], c=2)
             .final_nodes({"1": node_state(2, "us-east")})).check()
        self.assertIn("epoch 2 has 2 primaries", r.text())

    def test_two_acked_cas_same_epoch_fails(self):
        r = (H().op("cas", None, {"expected": 1, "region": "us-east"}, 1, 2,
                    result=[2, "us-east"])
             .op("cas", None, {"expected": 1, "region": "us-east"}, 1, 2,
                 result=[2, "us-east"], c=2)
             .final_nodes({"1": node_state(2, "us-east")})).check()
        self.assertIn("two acknowledged CAS made epoch 2", r.text())

    def test_epoch_falls_fails(self):
        r = (H().op("cas", None, {"expected": 1, "region": "us-east"}, 1, 2,
                    result=[2, "us-east"])
             .op("site", None, None, 3, 4, result=[1, "eu-west"], c=2)
             .final_nodes({"1": node_state(2, "us-east")})).check()
        self.assertIn("epoch fell", r.text())

    def test_unknown_cas_explains_later_epoch(self):
        r = (H().op("cas", None, {"expected": 1, "region": "us-east"}, 1, 2,
                    kind="unknown")
             .op("site", None, None, 3, 4, result=[2, "us-east"], c=2)
             .final_nodes({"1": node_state(2, "us-east")})).check()
        self.assertEqual(r.anomalies, 0, r.text())


TARGETS = {"eu-west": ["192.0.2.11", "192.0.2.12"],
           "us-east": ["192.0.2.21", "192.0.2.22"]}
START_2 = ("failover-start", "eu-west -> us-east (epoch 2): region eu-west "
           "lost; restore point pg (none), redis (none)")
DNS_2 = ("failover-step", "epoch 2: notify")


class RunbookDnsTest(unittest.TestCase):
    """Runbooks' site writes, and the DNS looks of chaos/run --dns."""

    def h(self, audit=(START_2, DNS_2)):
        h = H()
        h.lines[0]["dns"] = {"name": "app.dr.test.", "targets": TARGETS}
        h.final_nodes({"1": node_state(2, "us-east", audit=audit),
                       "2": node_state(2, "us-east", audit=audit)})
        return h

    def dns(self, h, inv, epoch, region, a=None, final=False):
        h.lines.insert(-1, {"e": "dns", "inv": inv, "ret": inv + 0.1,
                            "txt": ["dr-epoch=%d primary=%s" %
                                    (epoch, region)],
                            "a": a or TARGETS[region], "final": final})
        return h

    def test_runbook_write_explains_a_new_epoch(self):
        h = self.h(audit=(START_2,))
        h.lines[0].pop("dns")
        r = h.op("site", None, None, 1, 2, result=[1, "eu-west"]) \
            .op("site", None, None, 3, 4, result=[2, "us-east"]).check()
        self.assertEqual(r.anomalies, 0, r.text())
        self.assertIn("1 by runbooks", r.text())
        # Without the runbook in the history nothing explains epoch 2.
        h = self.h(audit=())
        h.lines[0].pop("dns")
        r = h.op("site", None, None, 3, 4, result=[2, "us-east"]).check()
        self.assertIn("site: not linearizable", r.text())

    def test_dns_following_the_runbook_ok(self):
        h = self.dns(self.dns(self.h(), 1, 1, "eu-west"), 5, 2, "us-east",
                     final=True)
        r = h.check()
        self.assertEqual((r.anomalies, r.doubts), (0, []), r.text())
        self.assertIn("dns: 2 looks, epochs [1, 2], 1 runbooks past DNS",
                      r.text())

    def test_dns_going_back_fails(self):
        h = self.dns(self.dns(self.h(), 1, 2, "us-east"), 5, 1, "eu-west",
                     final=True)
        r = h.check()
        self.assertIn("DNS went back: epoch 1 (eu-west's targets) answered "
                      "after epoch 2 (us-east)", r.text())

    def test_dns_targets_of_another_region_fail(self):
        r = self.dns(self.h(), 5, 2, "us-east", a=TARGETS["eu-west"],
                     final=True).check()
        self.assertIn("whose primary us-east has targets", r.text())

    def test_dns_naming_another_primary_for_the_epoch_fails(self):
        r = self.dns(self.h(), 5, 2, "eu-west", final=True).check()
        self.assertIn("names eu-west primary in epoch 2, whose primary was "
                      "['us-east']", r.text())

    def test_dns_epoch_nobody_made_fails(self):
        r = self.dns(self.h(), 5, 7, "us-east", final=True).check()
        self.assertIn("epoch 7 (primary us-east) that no site state",
                      r.text())

    def test_dns_behind_a_runbook_past_its_dns_step_fails(self):
        r = self.dns(self.h(), 5, 1, "eu-west", final=True).check()
        self.assertIn("DNS ends at epoch 1, but the runbook of epoch 2 "
                      "passed its DNS step", r.text())

    def test_bad_txt_fails_and_no_final_look_is_a_doubt(self):
        h = self.h()
        h.lines.insert(-1, {"e": "dns", "inv": 1, "ret": 2, "txt": [],
                            "a": TARGETS["eu-west"]})
        r = h.check()
        self.assertIn("TXT [] names no one epoch and primary", r.text())
        self.assertIn("DOUBT dns: no final look at the zone", r.text())


class RegistrationTest(unittest.TestCase):
    def test_acked_add_present_ok(self):
        r = H().op("add", "a", None, 1, 2).final_list(["a"]).check()
        self.assertEqual((r.lost, r.anomalies), (0, 0), r.text())

    def test_acked_add_missing_is_lost(self):
        r = H().op("add", "a", None, 1, 2).final_list([]).check()
        self.assertEqual(r.lost, 1, r.text())
        self.assertIn("registration a: acknowledged", r.text())

    def test_deleted_add_missing_ok(self):
        r = (H().op("add", "a", None, 1, 2)
             .op("delete", "a", None, 3, 4, kind="unknown")
             .final_list([])).check()
        self.assertEqual((r.lost, r.anomalies), (0, 0), r.text())

    def test_deleted_with_ack_present_fails(self):
        r = (H().op("add", "a", None, 1, 2).op("delete", "a", None, 3, 4)
             .final_list(["a"])).check()
        self.assertIn("deleted with an ack, present", r.text())

    def test_failed_add_present_fails(self):
        r = H().op("add", "a", None, 1, 2, kind="fail").final_list(
            ["a"]).check()
        self.assertIn("add failed", r.text())

    def test_unknown_add_either_way_ok(self):
        r = (H().op("add", "a", None, 1, 2, kind="unknown")
             .op("add", "b", None, 1, None)  # never completed
             .final_list(["a"])).check()
        self.assertEqual((r.lost, r.anomalies), (0, 0), r.text())


class FinalStateTest(unittest.TestCase):
    def test_divergent_nodes_fail(self):
        r = H().final_nodes({"1": node_state(),
                             "2": node_state(regions=("eu-west",))}).check()
        self.assertIn("node 2: final regions differs from node 1's",
                      r.text())

    def test_node_local_fields_ignored(self):
        b = node_state()
        b["status"]["role"] = "leader"
        b["members"]["members"][0]["last_contact_ms"] = 0
        r = H().final_nodes({"1": node_state(), "2": b}).check()
        self.assertEqual(r.anomalies, 0, r.text())

    def test_time_falling_fails(self):
        r = H().final_nodes({"1": node_state(history=((1, 50), (2, 40)))}
                            ).check()
        self.assertIn("history time fell", r.text())

    def test_unreadable_node_fails(self):
        r = H().final_nodes({"1": node_state(),
                             "2": {"status": {"error": "timeout"}}}).check()
        self.assertIn("node 2: final state unreadable", r.text())


class CrashTest(unittest.TestCase):
    def test_crash_is_an_anomaly(self):
        h = H()
        h.lines.append({"e": "crash", "node": 3, "status": -6,
                        "disk_full": False, "t": 5.0})
        r = h.check()
        self.assertIn("node 3 exited by itself with status -6", r.text())
        self.assertEqual(r.anomalies, 1, r.text())

    def test_exit_on_full_disk_is_a_note(self):
        h = H()
        h.lines.append({"e": "crash", "node": 3, "status": 1,
                        "disk_full": True, "t": 5.0})
        r = h.check()
        self.assertEqual(r.anomalies, 0, r.text())
        self.assertIn("(its data dir was full)", r.text())


class CliTest(unittest.TestCase):
    def run_cli(self, lines):
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl",
                                         delete=False) as f:
            f.write("\n".join(json.dumps(x) for x in lines) + "\n")
        try:
            return subprocess.run([sys.executable,
                                   os.path.join(HERE, "check.py"), f.name],
                                  capture_output=True, text=True)
        finally:
            os.unlink(f.name)

    def test_exit_codes(self):
        good = H().op("add", "a", None, 1, 2).final_list(["a"])
        good.final_nodes({"1": node_state()})
        p = self.run_cli(good.lines)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("lost=0 anomalies=0", p.stdout)
        bad = H().op("add", "a", None, 1, 2).final_list([])
        bad.final_nodes({"1": node_state()})
        p = self.run_cli(bad.lines)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("lost=1 anomalies=0", p.stdout)

    def test_malformed_history_is_named(self):
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl",
                                         delete=False) as f:
            f.write('{"e":"meta"}\nnot json\n')
        try:
            p = subprocess.run([sys.executable,
                                os.path.join(HERE, "check.py"), f.name],
                               capture_output=True, text=True)
        finally:
            os.unlink(f.name)
        self.assertEqual(p.returncode, 2)
        self.assertIn("line 2: not JSON", p.stderr)


if __name__ == "__main__":
    unittest.main()
