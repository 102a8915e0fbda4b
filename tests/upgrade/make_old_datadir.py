#!/usr/bin/env python3
"""Writes the data directory of a one-node cluster with a drnode of an
earlier release, for the upgrade test (test_upgrade.py).

Usage: DRNODE=/path/to/old/drnode python3 make_old_datadir.py OUT.tar.gz

The node takes a snapshot (threshold 16, so at least one: libraft 0.15
writes it LZ4-compressed) and keeps log entries after it in segments; the
archive holds the data dir and expected.json, the state the old node
answered just before it stopped."""

import json
import os
import sys
import tarfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
import drcluster  # noqa: E402


def main():
    out = os.path.abspath(sys.argv[1])
    c = drcluster.Cluster(regions=("eu-west",), primary="eu-west",
                          raft={"snapshot_threshold": 16,
                                "snapshot_trailing": 4},
                          name="olddata")
    try:
        c.start_all()
        c.wait_for_leader()
        n = c.node(1)
        for name, prio in (("us-east", 50), ("ap-south", 10)):
            r = n.write("POST", "/api/regions",
                        {"name": name, "priority": prio,
                         "dns_targets": ["10.1.0.%d" % prio],
                         "object_store": "file:///var/lib/dr/%s" % name})
            assert r.status in (200, 201), r
        for k in range(40):
            r = n.write("PUT", "/api/settings/rpo.pg_s", {"value": 300 + k})
            assert r.status == 200, r
        for region in ("us-east", "eu-west", "us-east"):
            r = n.write("POST", "/api/site/primary",
                        {"region": region, "reason": "upgrade test data"})
            assert r.status == 200, r
        expected = {p: n.get(p).json for p in
                    ("/api/regions", "/api/settings", "/api/site")}
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


if __name__ == "__main__":
    main()
