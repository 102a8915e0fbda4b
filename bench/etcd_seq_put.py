#!/usr/bin/env python3
"""Sequential puts against etcd's v3 JSON gateway: one client, one
connection, like `drctl bench --clients 1`. Prints the same summary line."""
import base64
import http.client
import json
import sys
import time


def main():
    if len(sys.argv) != 4:
        print("usage: etcd_seq_put.py HOST:PORT SECONDS SIZE", file=sys.stderr)
        return 2
    host, port = sys.argv[1].rsplit(":", 1)
    duration, size = float(sys.argv[2]), int(sys.argv[3])
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    value = base64.b64encode(b"v" * size).decode()
    lat = []
    errors = 0
    end = time.monotonic() + duration
    i = 0
    while time.monotonic() < end:
        key = base64.b64encode(b"bench-%08d" % (i % 1000)).decode()
        body = json.dumps({"key": key, "value": value})
        t0 = time.monotonic()
        conn.request("POST", "/v3/kv/put", body,
                     {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        t1 = time.monotonic()
        if resp.status == 200:
            lat.append((t1 - t0) * 1000)
        else:
            errors += 1
        i += 1
    lat.sort()
    n = len(lat)
    if n == 0:
        print("no successful puts", file=sys.stderr)
        return 1
    print("clients=1 size=%d duration=%g writes=%d errors=%d "
          "writes_per_sec=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f"
          % (size, duration, n, errors, n / duration, lat[n // 2],
             lat[min(n - 1, int(n * 0.99))], lat[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
