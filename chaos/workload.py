"""Chaos workload: concurrent API clients and the JSONL history they write.

Each client draws its choices from its own random.Random(seed, client) and
records every invocation and completion with time.monotonic():
  {"e":"invoke","id":N,"c":C,"f":F,"key":K,"value":V,"t":T}
  {"e":"ok"|"fail"|"unknown","id":N,"value":V,"err":E,"t":T}
Operations (f):
  write  PUT /api/regions/KEY {"priority": unique int}       register write
  read   GET /api/regions/KEY -> priority                     register read
  add    POST /api/regions {"name": unique}                   registration
  delete DELETE /api/regions/NAME                             unregistration
  site   GET /api/site -> [epoch, primary]
  cas    POST /api/site/primary {"region","expected_epoch"} -> [epoch, primary]
  list   GET /api/regions -> sorted names (final read)
"""

import json
import random
import threading
import time

from client import call


class History:
    """Append-only JSONL history; thread-safe."""

    def __init__(self, path):
        self.f = open(path, "w")
        self.lock = threading.Lock()
        self.next_id = 0
        self.counts = {"ok": 0, "fail": 0, "unknown": 0}

    def event(self, ev):
        with self.lock:
            self.f.write(json.dumps(ev, sort_keys=True) + "\n")

    def invoke(self, client, f, key=None, value=None):
        with self.lock:
            self.next_id += 1
            oid = self.next_id
            self.f.write(json.dumps({"e": "invoke", "id": oid, "c": client,
                                     "f": f, "key": key, "value": value,
                                     "t": time.monotonic()},
                                    sort_keys=True) + "\n")
        return oid

    def complete(self, oid, kind, value=None, err=None):
        with self.lock:
            self.counts[kind] += 1
            ev = {"e": kind, "id": oid, "t": time.monotonic()}
            if value is not None:
                ev["value"] = value
            if err:
                ev["err"] = err
            self.f.write(json.dumps(ev, sort_keys=True) + "\n")

    def close(self):
        with self.lock:
            self.f.close()


class Api:
    """Calls with the run's token and source address, on a random node."""

    def __init__(self, addrs, token, source_ip, timeout=5.0):
        self.addrs = addrs
        self.token = token
        self.source_ip = source_ip
        self.timeout = timeout

    def call(self, rng, method, path, body=None, addr=None):
        addr = addr or rng.choice(self.addrs)
        return call(addr, method, path, body=body, token=self.token,
                    timeout=self.timeout, source_ip=self.source_ip)


def do_op(api, hist, rng, cid, f, key=None, value=None):
    """Run one recorded operation; returns (kind, result value, status)."""
    oid = hist.invoke(cid, f, key, value)
    res = None
    if f == "write":
        o = api.call(rng, "PUT", "/api/regions/" + key, {"priority": value})
    elif f == "read":
        o = api.call(rng, "GET", "/api/regions/" + key)
        if o.kind == "ok":
            res = o.body.get("priority") if isinstance(o.body, dict) else None
    elif f == "add":
        o = api.call(rng, "POST", "/api/regions", {"name": key})
    elif f == "delete":
        o = api.call(rng, "DELETE", "/api/regions/" + key)
    elif f == "site":
        o = api.call(rng, "GET", "/api/site")
        if o.kind == "ok":
            res = [o.body.get("epoch"), o.body.get("primary_region")]
    elif f == "cas":
        o = api.call(rng, "POST", "/api/site/primary",
                     {"region": value["region"],
                      "expected_epoch": value["expected"],
                      "reason": "chaos"})
        if o.kind == "ok":
            res = [o.body.get("epoch"), o.body.get("primary_region")]
    elif f == "list":
        o = api.call(rng, "GET", "/api/regions")
        if o.kind == "ok":
            res = sorted(r["name"] for r in o.body.get("regions", []))
    else:
        raise ValueError("unknown operation %r" % f)
    if o.kind == "ok" and f in ("read", "site", "cas", "list") and \
            res is None:
        o.kind, o.error = "fail", "malformed answer %r" % (o.body,)
    hist.complete(oid, o.kind, res, o.error)
    return o.kind, res, o.status


class Client(threading.Thread):
    """One client: a random mix of operations until stop is set."""

    def __init__(self, cid, seed, api, hist, registers, sites, max_live,
                 stop):
        super().__init__(daemon=True, name="chaos-client-%d" % cid)
        self.cid = cid
        self.rng = random.Random("%d/client/%d" % (seed, cid))
        self.api = api
        self.hist = hist
        self.registers = registers
        self.sites = sites
        self.max_live = max_live
        self.stop = stop
        self.seq = 0
        self.live = []  # names added (ok or unknown) and not yet deleted

    def unique(self):
        self.seq += 1
        return self.cid * 1000000 + self.seq

    def run(self):
        while not self.stop.is_set():
            if self.one() == "fail":  # no leader, node down: back off
                time.sleep(0.1 + self.rng.random() * 0.2)
            else:
                time.sleep(self.rng.random() * 0.02)

    def one(self):
        rng, cid = self.rng, self.cid
        x = rng.random()
        if x < 0.35:
            return do_op(self.api, self.hist, rng, cid, "write",
                         rng.choice(self.registers), self.unique())[0]
        elif x < 0.60:
            return do_op(self.api, self.hist, rng, cid, "read",
                         rng.choice(self.registers))[0]
        elif x < 0.82:
            if self.live and (len(self.live) >= self.max_live or
                              rng.random() < 0.4):
                name = self.live.pop(rng.randrange(len(self.live)))
                kind, _, status = do_op(self.api, self.hist, rng, cid,
                                        "delete", name)
                if kind != "ok" and status != 404:
                    self.live.append(name)  # try again later
                return kind
            else:
                name = "c%d-%d" % (cid, self.unique() % 1000000)
                kind, _, _ = do_op(self.api, self.hist, rng, cid, "add",
                                   name)
                if kind != "fail":
                    self.live.append(name)
                return kind
        elif x < 0.90:
            return do_op(self.api, self.hist, rng, cid, "site")[0]
        else:
            kind, site, _ = do_op(self.api, self.hist, rng, cid, "site")
            if kind != "ok":
                return kind
            others = [s for s in self.sites if s != site[1]]
            return do_op(self.api, self.hist, rng, cid, "cas", None,
                         {"expected": site[0],
                          "region": rng.choice(others)})[0]
