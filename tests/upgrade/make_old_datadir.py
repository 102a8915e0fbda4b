#!/usr/bin/env python3
"""Writes the data directory of a one-node cluster with a drnode of an
earlier release, for the upgrade test (test_upgrade.py).

Usage: DRNODE=/path/to/old/drnode python3 make_old_datadir.py [--catalog] OUT.tar.gz

The node takes a snapshot (threshold 16, so at least one: libraft 0.15
writes it LZ4-compressed) and keeps log entries after it in segments; the
archive holds the data dir and expected.json, the state the old node
answered just before it stopped.

--catalog (for releases with the catalog, 0.2 on) adds what later entry
versions changed: a Redis backup taken by a job (a real Redis, started
here, into a file store under /tmp/dr-upgrade-data), breaker events, and
the schedules turned off so that the node that opens the archive starts
nothing by itself. Its regions other than eu-west have no store (so no copy
is owed to them either)."""

import json
import os
import shutil
import sys
import tarfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
import drcluster  # noqa: E402


STORE = "/tmp/dr-upgrade-data/store-eu"
CATALOG_PATHS = ("/api/backups", "/api/jobs", "/api/breakers")


def catalog_state(n, redis):
    """Settings that keep the reopened node idle, one backup, breakers."""
    for key, value in (("backup.pg_interval_s", 0),
                       ("backup.redis_interval_s", 0),
                       ("drill.restore_interval_h", 0)):
        r = n.write("PUT", "/api/settings/" + key, {"value": value})
        assert r.status == 200, r
    r = n.write("POST", "/api/backups", {"kind": "redis"})
    assert r.status == 202, r
    jid = r.json["job"]["id"]
    drcluster.wait_until(
        lambda: n.get("/api/jobs/%d" % jid).json["state"] == "done", 60,
        what="the backup job")
    backup = n.get("/api/jobs/%d" % jid).json["backup_id"]
    p = n.cluster.drctl("backups", "verify", backup, nodes=[n])
    assert p.returncode == 0, p
    # Opened, reset, then two failures: closed with counters (an open
    # breaker would half-open by itself once the archive is opened).
    r = n.write("POST", "/api/breakers/anthropic/events",
                {"events": ["failure"] * 5})
    assert r.status == 200 and r.json["state"] == "open", r
    r = n.write("POST",
                "/api/admin/circuit-breakers/reset?provider=anthropic")
    assert r.status == 200, r
    r = n.write("POST", "/api/breakers/anthropic/events",
                {"events": ["failure"] * 2})
    assert r.status == 200 and r.json["state"] == "closed", r
    time.sleep(1)  # the leader's last ticks (job cleanup, leases) land


def main():
    catalog = "--catalog" in sys.argv[1:]
    out = os.path.abspath([a for a in sys.argv[1:] if a != "--catalog"][0])
    kw = {}
    redis = None
    if catalog:
        from svc_redis import RedisServer
        redis = RedisServer()
        redis.start()
        rc = redis.client()
        rc.pipeline([("SET", "session:%d" % i, "v%d" % i) for i in range(50)]
                    + [("HSET", "memory:1", "k", "v")])
        rc.close()
        shutil.rmtree(STORE, ignore_errors=True)
        os.makedirs(STORE)
        kw = {"region_sections": {"eu-west": {"object_store":
                                              "file://" + STORE}},
              "services": {1: {"redis": redis.address}}}
    c = drcluster.Cluster(regions=("eu-west",), primary="eu-west",
                          raft={"snapshot_threshold": 16,
                                "snapshot_trailing": 4},
                          name="olddata", **kw)
    try:
        c.start_all()
        c.wait_for_leader()
        n = c.node(1)
        for name, prio in (("us-east", 50), ("ap-south", 10)):
            body = {"name": name, "priority": prio,
                    "dns_targets": ["10.1.0.%d" % prio]}
            if not catalog:
                body["object_store"] = "file:///var/lib/dr/%s" % name
            r = n.write("POST", "/api/regions", body)
            assert r.status in (200, 201), r
        if catalog:
            catalog_state(n, redis)  # while eu-west, with the store, leads
        for k in range(40):
            r = n.write("PUT", "/api/settings/rpo.pg_s", {"value": 300 + k})
            assert r.status == 200, r
        for region in ("us-east", "eu-west", "us-east"):
            r = n.write("POST", "/api/site/primary",
                        {"region": region, "reason": "upgrade test data"})
            assert r.status == 200, r
        paths = ("/api/regions", "/api/settings", "/api/site")
        if catalog:
            paths += CATALOG_PATHS
        expected = {p: n.get(p).json for p in paths}
        assert c.stop(1) == 0
        files = sorted(os.listdir(n.data_dir))
        assert any(f.startswith("snapshot-") for f in files), files
        with open(os.path.join(c.base, "expected.json"), "w") as f:
            json.dump(expected, f, indent=1, sort_keys=True)
        with tarfile.open(out, "w:gz") as t:
            t.add(n.data_dir, arcname="data")
            t.add(os.path.join(c.base, "expected.json"),
                  arcname="expected.json")
        print("wrote %s: %s" % (out, " ".join(files)))
    finally:
        c.cleanup()
        if redis is not None:
            redis.stop()
        shutil.rmtree(os.path.dirname(STORE), ignore_errors=True)


if __name__ == "__main__":
    main()
