#!/usr/bin/env python3
"""Upgrade of a running three-node cluster under a steady write load: no
acknowledged write may be lost.

Usage: python3 tests/upgrade/rolling_upgrade.py --old OLD_DRNODE
           --new NEW_DRNODE [--mode rolling|restart]

The cluster starts on OLD, a writer keeps setting rpo.pg_s to ever new
values through whichever node leads, then
- rolling: each node in turn is stopped (SIGTERM), started on NEW and
  waited for until it has caught up; followers first, the leader last;
- restart: every node is stopped, then all start on NEW (the way from
  drnode 0.1 on libraft 0.15, whose nodes cannot decode the replies of
  libraft 0.22.1 nodes: a mixed cluster does not replicate).
At the end every acknowledged value must be in the audit history of every
node. Exit 0 on success, 1 on a lost write. Not part of make test (it needs
a binary of the previous release); docs/runbook.md says how to run it.
"""

import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
import drcluster  # noqa: E402

SETTING = "rpo.pg_s"


class Writer(threading.Thread):
    def __init__(self, c):
        super().__init__(daemon=True)
        self.c = c
        self.acked = []
        self.failed = 0
        self.stop = threading.Event()

    def run(self):
        value = 1000
        while not self.stop.is_set():
            value += 1
            ok = False
            for n in list(self.c.nodes.values()):
                if not n.running():
                    continue
                try:
                    r = n.write("PUT", "/api/settings/" + SETTING,
                                {"value": value}, timeout=3.0)
                except OSError:
                    continue
                if r.status == 307:
                    continue
                ok = r.status == 200
                break
            if ok:
                self.acked.append(value)
            else:
                self.failed += 1
                time.sleep(0.05)


def history_values(n):
    r = n.get("/api/history", stale=True)  # this node's own state
    assert r.status == 200, r
    out = set()
    for e in r.json.get("history", r.json if isinstance(r.json, list)
                        else []):
        d = e.get("detail") or ""
        if d.startswith(SETTING + "="):
            out.add(int(d.split("=", 1)[1]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--mode", choices=("rolling", "restart"),
                    default="rolling")
    a = ap.parse_args()
    drcluster.DRNODE = os.path.abspath(a.old)
    c = drcluster.Cluster(name="rolling-upgrade")
    ok = False
    try:
        c.start_all()
        leader = c.wait_for_leader()
        r = leader.write("PUT", "/api/settings/history.max_entries",
                         {"value": 100000})
        assert r.status == 200, r
        w = Writer(c)
        w.start()
        time.sleep(2.0)
        if a.mode == "rolling":
            order = [n.id for n in c.followers(leader)] + [leader.id]
            for nid in order:
                print("upgrading node %d (acked so far: %d)" %
                      (nid, len(w.acked)))
                assert c.stop(nid) == 0
                time.sleep(1.0)  # writes go on without it
                drcluster.DRNODE = os.path.abspath(a.new)
                c.start(nid)
                leader = c.wait_for_leader()
                c.wait_caught_up(nid, leader)
                time.sleep(1.0)
        else:
            print("stopping every node (acked so far: %d)" % len(w.acked))
            t0 = time.monotonic()
            for nid in list(c.nodes):
                assert c.stop(nid) == 0
            drcluster.DRNODE = os.path.abspath(a.new)
            c.start_all()
            leader = c.wait_for_leader()
            print("cluster back on the new binary after %.1f s" %
                  (time.monotonic() - t0))
            time.sleep(2.0)
        time.sleep(1.0)
        w.stop.set()
        w.join(10)
        leader = c.wait_for_leader()
        for nid in c.nodes:
            c.wait_caught_up(nid, leader)
        lost = {}
        for nid, n in c.nodes.items():
            have = history_values(n)
            missing = [v for v in w.acked if v not in have]
            if missing:
                lost[nid] = missing
        statuses = c.statuses()
        versions = {nid: s.get("libraft") for nid, s in statuses.items()}
        print("acked %d writes, %d not acknowledged; versions now %s" %
              (len(w.acked), w.failed, versions))
        if lost:
            print("LOST acknowledged writes: %s" %
                  {k: v[:10] for k, v in lost.items()})
        elif not w.acked:
            print("no write was acknowledged: the run proved nothing")
        else:
            print("no acknowledged write lost")
            ok = True
    finally:
        c.cleanup(failed=not ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
