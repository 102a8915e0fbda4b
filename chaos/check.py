#!/usr/bin/env python3
"""History checker of chaos runs (chaos/workload.py's JSONL format).

  python3 chaos/check.py HISTORY.jsonl    # prints the report; exit 1 if bad

Checks:
- registers (region priorities): linearizable per key, by a Wing-Gong /
  Lowe search (as Knossos and Porcupine do) with ok and unknown operations.
  Values are unique, so an unknown write that no read saw is dropped (it
  may never have happened) and one that was read must precede its first
  reader's completion: every operation's window is then bounded.
- site: linearizable as a compare-and-set register of (epoch, primary); at
  most one primary per epoch (CAS answers, site reads, final states); no
  two acknowledged CAS with the same epoch; epochs never fall in real time.
  Failover runbooks change the site too: each start (and abort) in the
  final audit history is a write whose moment is unknown.
- DNS (chaos/run --dns): every look at the zone answers the targets of the
  region its TXT record names (dr-epoch=N primary=R), R was the site's
  primary in epoch N, the published epoch never falls in real time (so a
  fenced region's targets never come back once a newer epoch's are out),
  and the last look shows at least the epoch of the last runbook that
  passed its DNS step.
- registrations: every acknowledged add is present at the end unless a
  delete was acknowledged or its outcome is unknown (lost otherwise); no
  name present that was deleted with an ack, or whose add certainly failed.
- final state: every node's local state (status, regions, members, site,
  settings, history) identical; leader-stamped history times never fall.
- crashes: a node that exited without being killed is an anomaly, unless
  its data dir was full at the time (then a note).
"""

import json
import re
import sys

INF = float("inf")
SEARCH_BUDGET = 1000000  # search steps per key before "inconclusive"


class Report:
    def __init__(self):
        self.lost = 0
        self.anomalies = 0
        self.problems = []  # lost writes and anomalies, one line each
        self.doubts = []    # inconclusive checks, faults not applied
        self.notes = []     # facts
        self.counts = {"ops": 0, "ok": 0, "fail": 0, "unknown": 0}

    def anomaly(self, msg):
        self.anomalies += 1
        self.problems.append("ANOMALY " + msg)

    def lose(self, msg):
        self.lost += 1
        self.problems.append("LOST " + msg)

    def doubt(self, msg):
        """Something the run could not decide: not a pass. chaos/run fails
        on it unless asked (--allow-doubts)."""
        self.doubts.append(msg)

    def text(self):
        out = ["check: lost=%d anomalies=%d doubts=%d" % (
            self.lost, self.anomalies, len(self.doubts))]
        out += ["  " + p for p in self.problems[:200]]
        if len(self.problems) > 200:
            out.append("  ... %d more" % (len(self.problems) - 200))
        out += ["  DOUBT " + d for d in self.doubts]
        out += ["  note: " + n for n in self.notes]
        return "\n".join(out) + "\n"


class Op:
    __slots__ = ("id", "c", "f", "key", "value", "inv", "ret", "kind",
                 "result")

    def __init__(self, ev):
        self.id = ev["id"]
        self.c = ev.get("c")
        self.f = ev["f"]
        self.key = ev.get("key")
        self.value = ev.get("value")
        self.inv = ev["t"]
        self.ret = None
        self.kind = "unknown"  # until a completion says otherwise
        self.result = None

    def __repr__(self):
        return "op %d (client %s %s %s %r -> %s %r, %.3f..%s)" % (
            self.id, self.c, self.f, self.key, self.value, self.kind,
            self.result, self.inv,
            "%.3f" % self.ret if self.ret not in (None, INF) else "?")


def load(lines):
    """(meta, ops in invocation order, final event) from JSONL lines."""
    meta, final, ops, crashes, dns = {}, None, {}, [], []
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            ev = json.loads(line)
        except ValueError as e:
            raise ValueError("line %d: not JSON: %s" % (n, e))
        kind = ev.get("e")
        if kind == "meta":
            meta = ev
        elif kind == "final":
            final = ev
        elif kind == "crash":
            crashes.append(ev)
        elif kind == "dns":
            dns.append(ev)
        elif kind == "invoke":
            ops[ev["id"]] = Op(ev)
        elif kind in ("ok", "fail", "unknown"):
            op = ops.get(ev["id"])
            if op is None:
                raise ValueError("line %d: completion of unknown op %r" %
                                 (n, ev["id"]))
            op.kind = kind
            op.ret = ev["t"]
            op.result = ev.get("value")
        else:
            raise ValueError("line %d: unknown event %r" % (n, kind))
    meta["crashes"] = crashes
    meta["dns_obs"] = dns
    return meta, sorted(ops.values(), key=lambda o: o.inv), final


def linearizable(items, init, step, budget=SEARCH_BUDGET):
    """Wing-Gong/Lowe search. items: (invoke, return or INF, op, definite);
    operations with an INF return or definite=False may be left out.
    step(state, op) -> (ok, new_state). True, False, or None (budget
    exhausted)."""
    ev = []
    for k, (inv, ret, _, _) in enumerate(items):
        ev.append((inv, 0, k))
        ev.append((ret, 1, k))
    ev.sort()
    E = len(ev)
    if E == 0:
        return True
    H, T = E, E + 1  # head and tail sentinels of the doubly linked list
    nxt = [i + 1 for i in range(E)] + [0, None]
    prv = [i - 1 for i in range(E)] + [None, E - 1]
    nxt[E - 1] = T
    prv[0] = H
    is_call = [e[1] == 0 for e in ev]
    opk = [e[2] for e in ev]
    match = [0] * E
    call_of = {}
    for idx, e in enumerate(ev):
        if e[1] == 0:
            call_of[e[2]] = idx
    for idx, e in enumerate(ev):
        if e[1] == 1:
            match[call_of[e[2]]] = idx
    definite = [items[k][3] and items[k][1] != INF for k in range(len(items))]
    remaining = sum(definite)

    def lift(e):
        for x in (e, match[e]):
            nxt[prv[x]] = nxt[x]
            prv[nxt[x]] = prv[x]

    def unlift(e):
        for x in (match[e], e):
            prv[nxt[x]] = x
            nxt[prv[x]] = x

    state, lin, stack, cache = init, 0, [], set()
    entry = nxt[H]
    steps = 0
    while True:
        if remaining == 0:
            return True
        steps += 1
        if steps > budget:
            return None
        if entry == T:
            return False  # unreachable: definite ops remain in the list
        if is_call[entry]:
            k = opk[entry]
            ok, ns = step(state, items[k][2])
            if ok:
                nl = lin | (1 << k)
                key = (nl, ns)
                if key not in cache:
                    cache.add(key)
                    stack.append((entry, state))
                    state, lin = ns, nl
                    lift(entry)
                    if definite[k]:
                        remaining -= 1
                    entry = nxt[H]
                    continue
            entry = nxt[entry]
        else:
            if not stack:
                return False
            e, state = stack.pop()
            k = opk[e]
            lin &= ~(1 << k)
            unlift(e)
            if definite[k]:
                remaining += 1
            entry = nxt[e]


def register_step(state, op):
    if op.f == "write":
        return True, op.value
    return op.result == state, state


def check_registers(rep, meta, ops):
    regs = meta.get("registers", {})
    for key in sorted(regs):
        kops = [o for o in ops if o.key == key and o.f in ("write", "read")]
        first_read = {}
        for o in kops:
            if o.f == "read" and o.kind == "ok":
                r = first_read.get(o.result)
                first_read[o.result] = o.ret if r is None else min(r, o.ret)
        items = []
        for o in kops:
            if o.kind == "fail" or (o.f == "read" and o.kind != "ok"):
                continue
            if o.kind == "ok":
                items.append((o.inv, o.ret, o, True))
            elif o.value in first_read:  # unknown write that was read
                items.append((o.inv, max(o.inv, first_read[o.value]), o,
                              True))
        writes = {o.value for o in kops if o.f == "write"}
        for v in first_read:
            if v != regs[key] and v not in writes:
                rep.anomaly("register %s: read %r, which nobody wrote" %
                            (key, v))
        res = linearizable(items, regs[key], register_step)
        if res is None:
            rep.doubt("register %s: %d operations, search budget "
                      "exhausted (inconclusive)" % (key, len(items)))
        elif not res:
            rep.anomaly("register %s: not linearizable (%d operations)" %
                        (key, len(items)))
        else:
            rep.notes.append("register %s: linearizable (%d operations)" %
                             (key, len(items)))


def site_step(state, op):
    if op.f == "site":
        return tuple(op.result) == state, state
    exp, region = op.value["expected"], op.value["region"]
    if state[0] != exp or state[1] == region:
        return False, state
    new = (exp + 1, region)
    if op.result is not None and tuple(op.result) != new:
        return False, state
    return True, new


def final_history(final):
    """One node's audit history from the final states (they are checked
    to be identical), oldest first; [] when none was read."""
    for _, st in sorted((final or {}).get("nodes", {}).items()):
        h = st.get("history")
        if isinstance(h, dict) and isinstance(h.get("history"), list):
            return h["history"]
    return []


RUNBOOK_START = re.compile(r"(\S+) -> (\S+) \(epoch (\d+)\)")
RUNBOOK_ABORT = re.compile(r"called off: (\S+) is primary again "
                           r"\(epoch (\d+)\)")
RUNBOOK_DNS_PASSED = re.compile(r"epoch (\d+): notify$")


def runbook_writes(final):
    """The site changes failover runbooks made: [(epoch, region)]."""
    out = []
    for e in final_history(final):
        a, d = e.get("action"), e.get("detail") or ""
        m = None
        if a == "failover-start":
            m = RUNBOOK_START.match(d)
            if m:
                out.append((int(m.group(3)), m.group(2)))
        elif a == "failover-abort":
            m = RUNBOOK_ABORT.search(d)
            if m:
                out.append((int(m.group(2)), m.group(1)))
    return out


def hidden_cas(k, epoch, region):
    """A runbook's site write as a CAS whose moment is unknown."""
    o = Op({"id": -k, "c": "runbook", "f": "cas", "t": 0.0,
            "value": {"expected": epoch - 1, "region": region}})
    o.kind, o.ret, o.result = "ok", INF, [epoch, region]
    return o


def check_site(rep, meta, ops, final):
    """Returns {epoch: set of primaries} of everything observed."""
    sops = [o for o in ops if o.f in ("site", "cas")]
    hidden = [hidden_cas(k + 1, e, r)
              for k, (e, r) in enumerate(runbook_writes(final))]
    seen = []  # (inv, ret, epoch, primary) of every answered observation
    for o in hidden:
        seen.append((INF, INF, o.result[0], o.result[1]))
    for o in sops:
        if o.kind == "ok":
            seen.append((o.inv, o.ret, o.result[0], o.result[1]))
    if final:
        for nid, st in sorted(final.get("nodes", {}).items()):
            s = st.get("site")
            if isinstance(s, dict) and "epoch" in s:
                seen.append((INF, INF, s["epoch"], s["primary_region"]))
    init = tuple(meta.get("initial_site") or (1, None))
    by_epoch = {init[0]: {init[1]}}
    for _, _, e, p in seen:
        by_epoch.setdefault(e, set()).add(p)
    for e, ps in sorted(by_epoch.items()):
        if len(ps) > 1:
            rep.anomaly("epoch %d has %d primaries: %s" %
                        (e, len(ps), sorted(map(str, ps))))
    cas_epochs = {}
    for o in sops:
        if o.f == "cas" and o.kind == "ok":
            e = o.result[0]
            if e != o.value["expected"] + 1:
                rep.anomaly("%r: epoch %d after expected %d" %
                            (o, e, o.value["expected"]))
            if e in cas_epochs:
                rep.anomaly("two acknowledged CAS made epoch %d: %r and %r" %
                            (e, cas_epochs[e], o))
            cas_epochs[e] = o
    # Epochs never fall: an observation that starts after another finished
    # shows an epoch at least as high.
    done = sorted((r, e) for _, r, e, _ in seen if r != INF)
    starts = sorted((i, e) for i, _, e, _ in seen if i != INF)
    best, k = None, 0
    for inv, e in starts:
        while k < len(done) and done[k][0] < inv:
            best = done[k][1] if best is None else max(best, done[k][1])
            k += 1
        if best is not None and e < best:
            rep.anomaly("epoch fell: %d observed after %d had completed" %
                        (e, best))
            break
    max_seen = max([e for _, _, e, _ in seen] + [init[0]])
    items = [(o.inv, INF, o, False) for o in hidden]
    for o in sops:
        if o.kind == "ok":
            items.append((o.inv, o.ret, o, True))
        elif o.f == "cas" and o.kind == "unknown" and \
                o.value["expected"] + 1 <= max_seen:
            items.append((o.inv, INF, o, False))
    res = linearizable(items, init, site_step)
    if res is None:
        rep.doubt("site: %d operations, search budget exhausted "
                  "(inconclusive)" % len(items))
    elif not res:
        rep.anomaly("site: not linearizable (%d operations)" % len(items))
    else:
        rep.notes.append("site: linearizable (%d operations, %d epochs, %d "
                         "by runbooks)" % (len(items), len(by_epoch),
                                           len(hidden)))
    return by_epoch


def check_dns(rep, meta, final, by_epoch):
    conf = meta.get("dns")
    if not conf:
        return
    targets = {r: sorted(t) for r, t in conf["targets"].items()}
    obs = []  # (inv, ret, epoch, region)
    for o in meta.get("dns_obs", []):
        at = "DNS at %.3f" % o["inv"]
        txt = [t for t in o["txt"] if t.startswith("dr-epoch=")]
        m = re.match(r"dr-epoch=(\d+) primary=(\S+)$", txt[0]) \
            if len(txt) == 1 else None
        if m is None:
            rep.anomaly("%s: TXT %r names no one epoch and primary" %
                        (at, o["txt"]))
            continue
        e, r = int(m.group(1)), m.group(2)
        if sorted(o["a"]) != targets.get(r):
            rep.anomaly("%s: answers %s for epoch %d, whose primary %s has "
                        "targets %s" % (at, sorted(o["a"]), e, r,
                                        targets.get(r)))
        ps = by_epoch.get(e)
        if ps is None:
            rep.anomaly("%s: epoch %d (primary %s) that no site state or "
                        "runbook shows" % (at, e, r))
        elif r not in ps:
            rep.anomaly("%s: names %s primary in epoch %d, whose primary "
                        "was %s" % (at, r, e, sorted(map(str, ps))))
        obs.append((o["inv"], o["ret"], e, r, o.get("final", False)))
    best, k = None, 0
    done = sorted((ret, e, r) for _, ret, e, r, _ in obs)
    for inv, _, e, r, _ in sorted(obs):
        while k < len(done) and done[k][0] < inv:
            if best is None or done[k][1] > best[0]:
                best = (done[k][1], done[k][2])
            k += 1
        if best is not None and e < best[0]:
            rep.anomaly("DNS went back: epoch %d (%s's targets) answered "
                        "after epoch %d (%s) had been" % (e, r, best[0],
                                                          best[1]))
            break
    passed = [int(m.group(1)) for m in (
        RUNBOOK_DNS_PASSED.search(h.get("detail") or "")
        for h in final_history(final) if h.get("action") == "failover-step")
        if m]
    last = [x for x in obs if x[4]]
    if not last:
        rep.doubt("dns: no final look at the zone")
    elif passed and last[-1][2] < max(passed):
        rep.anomaly("DNS ends at epoch %d, but the runbook of epoch %d "
                    "passed its DNS step" % (last[-1][2], max(passed)))
    rep.notes.append("dns: %d looks, epochs %s, %d runbooks past DNS" % (
        len(obs), sorted({x[2] for x in obs}), len(passed)))


def check_registrations(rep, meta, ops):
    lists = [o for o in ops if o.f == "list" and o.kind == "ok"]
    if not lists:
        rep.anomaly("no final region list was read: registrations unchecked")
        return
    present = set(lists[-1].result)
    adds, deletes = {}, {}
    for o in ops:
        if o.f == "add":
            adds[o.key] = o
        elif o.f == "delete":
            deletes.setdefault(o.key, []).append(o)
    base = set(meta.get("registers", {})) | set(meta.get("sites", []))
    acked = 0
    for name, a in sorted(adds.items()):
        dk = {d.kind for d in deletes.get(name, [])}
        if a.kind == "ok":
            acked += 1
            if name not in present and not (dk & {"ok", "unknown"}):
                rep.lose("registration %s: acknowledged (%r), absent at the "
                         "end, never deleted" % (name, a))
        if name in present:
            if "ok" in dk:
                rep.anomaly("registration %s: deleted with an ack, present "
                            "at the end" % name)
            if a.kind == "fail":
                rep.anomaly("registration %s: add failed (%r), present at "
                            "the end" % (name, a))
    for name in sorted(present - base - set(adds)):
        rep.anomaly("region %s present at the end, never added" % name)
    for name in sorted(base - present):
        rep.lose("region %s (created at setup) absent at the end" % name)
    rep.notes.append("registrations: %d acknowledged adds, %d present at "
                     "the end" % (acked, len(present - base)))


def _strip(v):
    """A node's state without node-local fields."""
    if isinstance(v, dict):
        return {k: _strip(x) for k, x in v.items()
                if k not in ("last_contact_ms", "match_index", "role",
                             "node", "region",
                             "leader", "term", "commit_index",
                             "applied_index")}
    if isinstance(v, list):
        return [_strip(x) for x in v]
    return v


def _first_difference(a, b, path=""):
    """Where two JSON values first differ, as "path: a != b"."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k),
                                         "%s.%s" % (path, k))
    elif (isinstance(a, list) and isinstance(b, list)
          and len(a) == len(b)):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, "%s[%d]" % (path, i))
    return "%s: %s != %s" % (path or "value", json.dumps(a)[:120],
                             json.dumps(b)[:120])


def check_final(rep, final):
    if not final or not final.get("nodes"):
        rep.anomaly("no final node states recorded")
        return
    nodes = final["nodes"]
    ref_id, ref = None, None
    for nid in sorted(nodes, key=int):
        st = nodes[nid]
        bad = [k for k, v in st.items()
               if not isinstance(v, dict) or "error" in v]
        if bad:
            rep.anomaly("node %s: final state unreadable (%s)" %
                        (nid, ", ".join(sorted(bad))))
            continue
        hist = st["history"].get("history", [])
        for a, b in zip(hist, hist[1:]):
            if b["time_ms"] < a["time_ms"]:
                rep.anomaly("node %s: history time fell from %d (seq %d) "
                            "to %d (seq %d)" % (nid, a["time_ms"], a["seq"],
                                                b["time_ms"], b["seq"]))
                break
        s = _strip(st)
        if ref is None:
            ref_id, ref = nid, s
            continue
        for k in sorted(s):
            if s[k] != ref.get(k):
                rep.anomaly("node %s: final %s differs from node %s's "
                            "(%s)" % (nid, k, ref_id,
                                      _first_difference(s[k], ref.get(k))))
    applied = {nid: st.get("status", {}).get("applied_index")
               for nid, st in nodes.items()}
    rep.notes.append("final applied index per node: %s" %
                     json.dumps(applied, sort_keys=True))


def check_crashes(rep, meta):
    """A node that exits by itself is a bug, unless its disk was full
    (fail-stop is then a fair answer: noted)."""
    for c in meta.get("crashes", []):
        msg = "node %s exited by itself with status %s at %.3f" % (
            c["node"], c["status"], c["t"])
        if c.get("disk_full"):
            rep.notes.append(msg + " (its data dir was full)")
        else:
            rep.anomaly(msg)


def check(lines):
    rep = Report()
    meta, ops, final = load(lines)
    check_crashes(rep, meta)
    for o in ops:
        rep.counts["ops"] += 1
        rep.counts[o.kind] += 1
    check_registers(rep, meta, ops)
    by_epoch = check_site(rep, meta, ops, final)
    check_dns(rep, meta, final, by_epoch)
    check_registrations(rep, meta, ops)
    check_final(rep, final)
    return rep


def check_file(path):
    with open(path) as f:
        return check(f)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: check.py HISTORY.jsonl\n")
        return 2
    try:
        rep = check_file(argv[1])
    except (OSError, ValueError, KeyError) as e:
        sys.stderr.write("check.py: %s: %s\n" % (argv[1], e))
        return 2
    sys.stdout.write(rep.text())
    c = rep.counts
    print("ops=%d ok=%d fail=%d unknown=%d lost=%d anomalies=%d doubts=%d" %
          (c["ops"], c["ok"], c["fail"], c["unknown"], rep.lost,
           rep.anomalies, len(rep.doubts)))
    return 1 if rep.lost or rep.anomalies or rep.doubts else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
