"""Concurrent writes on a real cluster: what each caller is told matches
what its own command did, and concurrent partial updates all land."""

import sys
import threading
import unittest

import drtest  # noqa: E402

sys.dont_write_bytecode = True  # keep the source tree clean
from drcluster import ClusterTestCase  # noqa: E402


def run_together(fns):
    """Run the callables at once (released by one barrier); results in
    order."""
    start = threading.Barrier(len(fns))
    out = [None] * len(fns)

    def wrap(i, fn):
        start.wait()
        out[i] = fn()
    threads = [threading.Thread(target=wrap, args=(i, fn))
               for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


class TestConcurrency(ClusterTestCase):

    def setUp(self):
        super().setUp()
        self.c = self.new_cluster()
        self.c.start_all()
        self.leader = self.c.wait_for_leader()

    def test_partial_region_updates_all_land(self):
        leader = self.leader
        for rnd in range(20):
            name = "conc-%d" % rnd
            r = leader.write("POST", "/api/regions", {"name": name})
            self.assertEqual(r.status, 201, r)
            path = "/api/regions/" + name
            got = run_together([
                lambda: leader.write("PUT", path, {"priority": 7}),
                lambda: leader.write("PUT", path,
                                     {"dns_targets": ["a.example.com"]}),
                lambda: leader.write("PUT", path,
                                     {"object_store": "file:///x"}),
            ])
            for resp in got:
                self.assertEqual(resp.status, 200, resp)
            now = leader.get(path).json
            self.assertEqual((now["priority"], now["dns_targets"],
                              now["object_store"]),
                             (7, ["a.example.com"], "file:///x"),
                             "round %d lost an update" % rnd)

    def test_each_primary_change_answers_its_own_epoch(self):
        leader = self.leader
        seen = {}
        start_epoch = leader.get("/api/site").json["epoch"]
        for rnd in range(15):
            epoch = leader.get("/api/site").json["epoch"]
            regions = ["us-east", "ap-south"]
            cur = leader.get("/api/site").json["primary_region"]
            if cur in regions:
                regions = [r for r in ("eu-west", "us-east", "ap-south")
                           if r != cur]
            got = run_together([
                (lambda reg=reg: leader.write("POST", "/api/site/primary",
                                              {"region": reg}))
                for reg in regions])
            ok = [(g.json["primary_region"], g.json["epoch"]) for g in got
                  if g.status == 200]
            for g in got:
                self.assertIn(g.status, (200, 409), g)
            # Both regions differ from the primary before the round: the
            # first to commit cannot be refused.
            self.assertTrue(ok, "round %d: every change was refused: %r" %
                            (rnd, got))
            # Every success names the region it asked for and a distinct
            # epoch above the one before the round; the history agrees.
            for (reg, ep), g in zip(ok, [g for g in got if g.status == 200]):
                self.assertGreater(ep, epoch)
                self.assertNotIn(ep, seen, "epoch %d answered twice" % ep)
                seen[ep] = reg
            asked = [reg for reg, g in zip(regions, got) if g.status == 200]
            self.assertEqual(sorted(r for r, _ in ok), sorted(asked))
        # Each success made exactly one epoch, and nothing else did.
        self.assertEqual(leader.get("/api/site").json["epoch"],
                         start_epoch + len(seen))
        hist = leader.get("/api/history").json["history"]
        for h in hist:
            if h["action"] != "set-primary":
                continue
            # "old -> new (epoch N)..."
            new = h["detail"].split(" -> ")[1].split(" ")[0]
            ep = int(h["detail"].split("(epoch ")[1].split(")")[0])
            if ep in seen:
                self.assertEqual(seen[ep], new, h)


if __name__ == "__main__":
    drtest.main()
