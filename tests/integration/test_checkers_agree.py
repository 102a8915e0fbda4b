"""Differential test of the two linearizability checkers: thousands of small
random register histories, some valid by construction and some corrupted,
judged by a brute-force search (every order of every subset of the
operations whose outcome is unknown), by chaos/check.py (the chaos runs'
checker) and by tests/fixture/sched_check.c (the fixture schedules'
checker, through the sched_judge filter). All three must agree on every
history, and both verdicts must be common, so the test cannot pass by
judging everything alike.

A history: one register with an initial value, reads and writes from a few
clients, unique written values, every time distinct. A write ends ok, fail
(certainly not applied) or unknown (maybe applied, at any time after it
began); a read ends ok or unknown (then it says nothing). DR_DIFF_SEED and
DR_DIFF_N pick the seed and the count."""

import json
import os
import random
import subprocess
import sys
import unittest

import drtest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)),
                                "chaos"))

import check  # noqa: E402

TOOLS = os.environ.get("DR_TOOLS") or os.path.join(
    os.path.dirname(os.path.dirname(HERE)), "build", "tests")
JUDGE = os.path.join(TOOLS, "sched_judge")
SEED = int(os.environ.get("DR_DIFF_SEED") or 20261206)
COUNT = int(os.environ.get("DR_DIFF_N") or 5000)
INIT = 0
NEVER = None


class Op:
    def __init__(self, f, value, inv, ret, kind):
        self.f, self.value, self.inv, self.ret, self.kind = (
            f, value, inv, ret, kind)
        self.result = None  # a read's answer


def generate(rng):
    """A random history (ops) and whether it was corrupted."""
    n = rng.randint(1, 10)
    times = rng.sample(range(1, 40 * n), 2 * n)
    ops, next_value = [], 1
    for i in range(n):
        inv, ret = sorted(times[2 * i:2 * i + 2])
        if rng.random() < 0.5:
            kind = rng.choices(("ok", "unknown", "fail"), (6, 2, 1))[0]
            ops.append(Op("write", next_value, inv, ret, kind))
            next_value += 1
        else:
            kind = rng.choices(("ok", "unknown"), (9, 1))[0]
            ops.append(Op("read", None, inv, ret, kind))
    # Run it: each op that takes effect does so at one point of its window
    # (an unknown one anywhere after it began, or not at all).
    points = []
    for o in ops:
        if o.kind == "fail" or (o.kind == "unknown" and rng.random() < 0.4):
            continue
        end = o.ret if o.kind == "ok" else o.inv + 80
        points.append((rng.uniform(o.inv, end), o))
    value = INIT
    for _, o in sorted(points, key=lambda p: p[0]):
        if o.f == "write":
            value = o.value
        else:
            o.result = value
    reads = [o for o in ops if o.f == "read" and o.kind == "ok"]
    for o in reads:
        if o.result is None:
            o.result = value  # not taken (cannot happen for ok): keep sane
    corrupted = bool(reads) and rng.random() < 0.6
    if corrupted:
        o = rng.choice(reads)
        o.result = rng.choice([v for v in [INIT, 999] + [
            w.value for w in ops if w.f == "write"] if v != o.result])
    return ops, corrupted


def brute_force(ops):
    """True when some order of the ops that must take effect, plus any
    subset of the unknown writes, respects real time and the register."""
    must = [o for o in ops if o.kind == "ok"]
    maybe = [o for o in ops if o.kind == "unknown" and o.f == "write"]
    for mask in range(1 << len(maybe)):
        chosen = must + [o for i, o in enumerate(maybe) if mask >> i & 1]
        if _orders(chosen, [False] * len(chosen), INIT, len(chosen)):
            return True
    return False


def _ret(o):
    return o.ret if o.kind == "ok" else float("inf")


def _orders(ops, placed, value, left):
    if left == 0:
        return True
    for i, o in enumerate(ops):
        if placed[i]:
            continue
        # o may go next only if no unplaced op ended before o began.
        if any(not placed[j] and _ret(p) < o.inv
               for j, p in enumerate(ops) if j != i):
            continue
        if o.f == "read" and o.result != value:
            continue
        placed[i] = True
        ok = _orders(ops, placed, o.value if o.f == "write" else value,
                     left - 1)
        placed[i] = False
        if ok:
            return True
    return False


def chaos_verdict(ops):
    """chaos/check.py's register check on the history as chaos/run writes
    it (JSON lines)."""
    lines = [json.dumps({"e": "meta", "registers": {"k": INIT}})]
    events = []
    for i, o in enumerate(ops):
        events.append((o.inv, {"e": "invoke", "id": i, "c": i, "f": o.f,
                               "key": "k", "value": o.value, "t": o.inv}))
        done = {"e": o.kind, "id": i, "t": o.ret}
        if o.f == "read" and o.kind == "ok":
            done["value"] = o.result
        events.append((o.ret, done))
    lines += [json.dumps(e) for _, e in sorted(events, key=lambda x: x[0])]
    meta, hops, _ = check.load(lines)
    rep = check.Report()
    check.check_registers(rep, meta, hops)
    if rep.doubts:
        return "?"
    return rep.anomalies == 0


def judge_line(ops):
    parts = []
    for o in ops:
        status = {"ok": "ok", "unknown": "unknown", "fail": "refused"}[o.kind]
        value = o.value if o.f == "write" else (
            o.result if o.result is not None else 0)
        parts.append("%s %s %d %d %s" % (
            "w" if o.f == "write" else "r", status, value, o.inv,
            o.ret if o.kind != "unknown" else "-"))
    return "%d %s" % (INIT, ";".join(parts))


def describe(ops):
    return "\n".join("  %s %s %r -> %r [%d, %d]" % (
        o.f, o.kind, o.value, o.result, o.inv, o.ret) for o in ops)


@unittest.skipUnless(os.access(JUDGE, os.X_OK),
                     "sched_judge not built at %s" % JUDGE)
class CheckersAgreeTest(unittest.TestCase):

    def test_three_checkers_agree(self):
        rng = random.Random(SEED)
        hists = [generate(rng) for _ in range(COUNT)]
        p = subprocess.run([JUDGE], input="\n".join(
            judge_line(ops) for ops, _ in hists) + "\n",
            capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        c_verdicts = p.stdout.splitlines()
        self.assertEqual(len(c_verdicts), COUNT)
        tally = {True: 0, False: 0}
        corrupted_valid = 0
        for k, ((ops, corrupted), cv) in enumerate(zip(hists, c_verdicts)):
            truth = brute_force(ops)
            py = chaos_verdict(ops)
            c = {"1": True, "0": False}.get(cv, cv)
            msg = "history %d (seed %d): brute force %s, check.py %s, " \
                "sched_check %s\n%s" % (k, SEED, truth, py, c, describe(ops))
            self.assertEqual(py, truth, msg)
            self.assertEqual(c, truth, msg)
            if not corrupted:
                self.assertTrue(truth, "a valid-by-construction history "
                                "judged not linearizable\n" + msg)
            elif truth:
                corrupted_valid += 1  # the change happened to be harmless
            tally[truth] += 1
        sys.stderr.write("checkers agree on %d histories: %d linearizable, "
                         "%d not (%d corrupted ones still linearizable)\n" %
                         (COUNT, tally[True], tally[False], corrupted_valid))
        self.assertGreater(tally[True], COUNT // 4, tally)
        self.assertGreater(tally[False], COUNT // 5, tally)

    def test_brute_force_itself(self):
        """The reference is checked on hand-made cases first."""
        w = Op("write", 1, 1, 3, "ok")
        r = Op("read", None, 4, 6, "ok")
        r.result = 1
        self.assertTrue(brute_force([w, r]))
        r.result = INIT  # stale read after the write completed
        self.assertFalse(brute_force([w, r]))
        r.inv = 2        # concurrent with the write: either is fine
        self.assertTrue(brute_force([w, r]))
        u = Op("write", 2, 1, 2, "unknown")
        r2 = Op("read", None, 5, 7, "ok")
        r2.result = 2
        self.assertTrue(brute_force([u, r2]))
        f = Op("write", 2, 1, 2, "fail")
        self.assertFalse(brute_force([f, r2]))


if __name__ == "__main__":
    drtest.main()
