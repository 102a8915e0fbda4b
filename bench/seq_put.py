#!/usr/bin/env python3
"""Sequential writes from one client on one keep-alive connection, against
drnode (PUT /api/regions/NAME) or etcd's v3 JSON gateway (POST /v3/kv/put),
so both are measured by the same client code. Prints one summary line.

usage: seq_put.py drnode|etcd HOST:PORT SECONDS SIZE [TOKEN_FILE]
"""
import base64
import http.client
import json
import sys
import time


def main():
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    target, addr = sys.argv[1], sys.argv[2]
    duration, size = float(sys.argv[3]), int(sys.argv[4])
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"Content-Type": "application/json"}
    if target == "drnode":
        with open(sys.argv[5]) as f:
            headers["Authorization"] = "Bearer " + f.read().strip()
        conn.request("POST", "/api/regions", json.dumps({"name": "seqbench"}),
                     headers)
        conn.getresponse().read()
        # DNS targets padded so the body is about SIZE bytes.
        label = "a" * 60
        n = max(1, size // 250)
        targets = [".".join([label] * 3) + ".t%d" % i for i in range(n)]
    elif target == "etcd":
        value = base64.b64encode(b"v" * size).decode()
    else:
        print("target must be drnode or etcd", file=sys.stderr)
        return 2
    lat, errors, i = [], 0, 0
    end = time.monotonic() + duration
    while time.monotonic() < end:
        if target == "drnode":
            method, path = "PUT", "/api/regions/seqbench"
            body = json.dumps({"priority": i % 1000, "dns_targets": targets})
        else:
            method, path = "POST", "/v3/kv/put"
            key = base64.b64encode(b"bench-%08d" % (i % 1000)).decode()
            body = json.dumps({"key": key, "value": value})
        t0 = time.monotonic()
        conn.request(method, path, body, headers)
        resp = conn.getresponse()
        resp.read()
        t1 = time.monotonic()
        if resp.status == 200:
            lat.append((t1 - t0) * 1000)
        else:
            errors += 1
        i += 1
    if target == "drnode":
        conn.request("DELETE", "/api/regions/seqbench", None, headers)
        conn.getresponse().read()
    lat.sort()
    n = len(lat)
    if n == 0:
        print("no successful writes", file=sys.stderr)
        return 1
    print("client=python target=%s size=%d duration=%g writes=%d errors=%d "
          "writes_per_sec=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f"
          % (target, size, duration, n, errors, n / duration, lat[n // 2],
             lat[min(n - 1, int(n * 0.99))], lat[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
