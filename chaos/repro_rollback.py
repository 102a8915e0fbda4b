#!/usr/bin/env python3
"""Targeted reproduction of the membership-rollback crash (docs/reliability.md).

  chaos/repro_rollback.py [--drnode PATH] [--attempts N] [--keep DIR]

On the chaos topology (5 nodes, 3 regions): write enough entries that every
node compacts its log past the last committed configuration entry, cut the
leader and one follower off from the other three, ask the cut-off leader to
remove a third node (the configuration entry is appended, never committed),
wait for the majority to elect a leader, heal. The two cut-off nodes must
roll the uncommitted configuration back when the new leader's entries
overwrite it. Exit 1 when a node crashed (kept: node logs and core dumps),
0 when no attempt crashed one, 3 when it cannot run here.
"""

import argparse
import importlib.machinery
import os
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from client import call  # noqa: E402
import net  # noqa: E402

run = importlib.machinery.SourceFileLoader(
    "chaos_run", os.path.join(HERE, "run")).load_module()


def attempt(h, k):
    api = h.api
    leader = h.wait_leader(30.0)
    done, t = 0, time.monotonic()
    while done < 300 and time.monotonic() - t < 90:
        o = call(h.nodes[leader].api_address, "PUT", "/api/regions/reg-1",
                 {"priority": done}, token=api.token, timeout=5.0,
                 source_ip=h.topo.client_ip)
        done += o.kind == "ok"
    leader = h.wait_leader(30.0)
    others = [i for i in h.nodes.ids() if i != leader]
    follower, victim = others[0], others[1]
    minority = {leader, follower}
    ids = h.nodes.ids()
    h.proxy.set_cut({(a, b) for a in ids for b in ids
                     if a != b and ((a in minority) != (b in minority))})
    o = call(h.nodes[leader].api_address, "DELETE",
             "/api/members/%d" % victim, token=api.token, timeout=8.0,
             source_ip=h.topo.client_ip)
    h.log("attempt %d: %d writes, cut off %s, DELETE member %d on node %d: "
          "%r" % (k, done, sorted(minority), victim, leader, o))
    # Wait (bounded) until the majority has a leader of its own: only then
    # do its entries overwrite the cut-off nodes' uncommitted change.
    majority_leader, t = None, time.monotonic()
    while majority_leader is None and time.monotonic() - t < 20.0:
        time.sleep(0.2)
        for nid in ids:
            s = h.status(nid) if nid not in minority else None
            if s and s.get("role") == "leader":
                majority_leader = nid
    h.log("attempt %d: leader of the majority: %r (after %.1f s)" %
          (k, majority_leader, time.monotonic() - t))
    h.proxy.set_cut(set())
    time.sleep(5.0)
    out = []
    for n, rc, _ in h.nodes.crashed():
        h.log("attempt %d: node %d exited with status %s" % (k, n.id, rc))
        out.append(n.id)
    return out


def main():
    ap = argparse.ArgumentParser(prog="chaos/repro_rollback.py")
    ap.add_argument("--drnode", default=os.environ.get("DRNODE") or
                    os.path.join(os.path.dirname(HERE), "build", "node",
                                 "drnode"))
    ap.add_argument("--attempts", type=int, default=3)
    ap.add_argument("--keep", metavar="DIR")
    a = ap.parse_args()
    why = net.check_root()
    if why:
        sys.stderr.write("repro_rollback: cannot run: %s\n" % why)
        return 3
    work = a.keep or tempfile.mkdtemp(prefix="drnode-repro-rollback-")
    os.makedirs(work, exist_ok=True)
    args = argparse.Namespace(seed=1, nodes=5, regions=3, clients=1,
                              nemeses=["partition"], drnode=a.drnode,
                              verbose=True, duration=0)
    signal.signal(signal.SIGTERM, run._interrupt)
    h = run.Harness(args, work)
    crashed = []
    try:
        h.setup()
        for k in range(a.attempts):
            crashed = attempt(h, k)
            if crashed:
                break
    finally:
        h.teardown()
    if crashed:
        print("crashed: nodes %s (logs and cores in %s)" % (crashed, work))
        return 1
    print("no crash in %d attempts" % a.attempts)
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
