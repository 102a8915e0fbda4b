"""Chaos nemeses: a seeded fault schedule and the code that applies it.

The schedule is drawn up front from the seed: two lanes (node faults and
network faults) of (start, duration, nemesis, parameters) windows, so node
and network faults compose. Windows start on time; a fault whose start runs
long (a wipe waiting for its removal) may overlap the next of its lane, but
never on the same node (busy nodes are skipped). Targets named "leader" are resolved when the fault
starts. Every fault is healed at the end of its window, and heal_all() undoes
whatever is still active at the end of the run.

Nemeses:
  kill       kill -9 a node, restart it at the end
  region     kill -9 every node of one region at once (its data center is
             gone), restart them at the end
  pause      SIGSTOP a node, SIGCONT at the end
  skew       restart a node with its wall clock shifted (libfaketime)
  wipe       remove a member, kill it, wipe its data dir; at the end start it
             with join = true and add it back (docs/runbook.md)
  disk       fill a node's tmpfs data dir; at the end free it (and restart
             the node if it died)
  partition  cut links in the proxy: a region from the rest, the leader
             from the rest, a minority from a majority, a ring (a bridge
             with fewer than 5 nodes), or one-way (a node's messages lost,
             or a node deaf to the others)
  loss       iptables -m statistic drops of raft packets (5-30 %) at a node,
             a region's nodes, or all nodes
  latency    extra one-way delay (150-600 ms) between two regions or around
             one node, on top of the inter-region profile
"""

import threading
import time

NODE_NEMESES = ("kill", "pause", "skew", "wipe", "disk", "region")
NET_NEMESES = ("partition", "loss", "latency")
ALL = NODE_NEMESES + NET_NEMESES


def parse(spec):
    """Nemesis names from "a,b,c" ("all" for every one); ValueError names an
    unknown one."""
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if names == ["all"]:
        return list(ALL)
    for n in names:
        if n not in ALL:
            raise ValueError("unknown nemesis %r (known: %s)" %
                             (n, ",".join(ALL)))
    return names


def base_latency(rng, regions):
    """Inter-region round-trip times (30-120 ms) per unordered region pair;
    0 inside a region."""
    rtt = {}
    names = sorted(set(regions))
    for a in names:
        for b in names:
            if a < b:
                rtt[(a, b)] = rtt[(b, a)] = rng.uniform(30.0, 120.0)
    return rtt


def schedule(rng, names, duration, n_nodes, regions):
    """The fault windows of a run: list of dicts sorted by start."""
    out = []
    warmup, cooldown = 3.0, 4.0
    lanes = [[n for n in names if n in NODE_NEMESES],
             [n for n in names if n in NET_NEMESES]]
    ids = list(range(1, n_nodes + 1))
    region_names = sorted(set(regions))
    for lane in lanes:
        if not lane:
            continue
        t = warmup + rng.uniform(0.0, 3.0)
        while True:
            dur = rng.uniform(3.0, 10.0)
            if t + dur > duration - cooldown:
                break
            name = rng.choice(lane)
            f = {"start": round(t, 3), "duration": round(dur, 3),
                 "nemesis": name}
            target = "leader" if rng.random() < 0.3 else rng.choice(ids)
            if name in ("kill", "pause"):
                f["node"] = target
            elif name == "skew":
                f["node"] = target
                f["skew_s"] = rng.choice((-1, 1)) * rng.randint(5, 600)
            elif name == "wipe":
                f["node"] = rng.choice(ids)
            elif name == "region":
                f["region"] = rng.choice(region_names)
            elif name == "disk":
                f["node"] = target
            elif name == "partition":
                kind = rng.choice(("region", "leader", "majority", "ring",
                                   "oneway"))
                f["kind"] = kind
                if kind == "region":
                    f["region"] = rng.choice(region_names)
                elif kind in ("majority", "ring"):
                    order = list(ids)
                    rng.shuffle(order)
                    f["order"] = order
                elif kind == "oneway":
                    f["node"] = target
                    f["direction"] = rng.choice(("mute", "deaf"))
            elif name == "loss":
                scope = rng.choice(("node", "region", "all"))
                f["scope"] = scope
                f["node"] = rng.choice(ids)
                f["region"] = rng.choice(region_names)
                f["p"] = round(rng.uniform(0.05, 0.3), 3)
            elif name == "latency":
                f["scope"] = rng.choice(("regions", "node"))
                pair = rng.sample(region_names, 2) if len(region_names) > 1 \
                    else region_names * 2
                f["regions"] = pair
                f["node"] = rng.choice(ids)
                f["extra_ms"] = rng.randint(150, 600)
            out.append(f)
            t += dur + rng.uniform(1.0, 5.0)
    out.sort(key=lambda f: f["start"])
    return out


def cut_pairs(f, ids, region_of, leader):
    """The ordered (from, to) links a partition fault cuts."""
    def across(group):
        g = set(group)
        return {(a, b) for a in ids for b in ids
                if a != b and ((a in g) != (b in g))}
    kind = f["kind"]
    if kind == "region":
        return across([i for i in ids if region_of[i] == f["region"]])
    if kind == "leader":
        return across([leader]) if leader else set()
    if kind == "majority":
        return across(f["order"][:len(ids) // 2])
    if kind == "ring":
        order = [i for i in f["order"] if i in ids]
        n = len(order)
        if n < 5:  # a bridge: the first node talks to both halves
            ok = {(order[0], x) for x in order} | \
                 {(x, order[0]) for x in order}
        else:
            ok = set()
            for k in range(n):
                a, b = order[k], order[(k + 1) % n]
                ok |= {(a, b), (b, a)}
        return {(a, b) for a in ids for b in ids if a != b} - ok
    if kind == "oneway":
        x = leader if f["node"] == "leader" else f["node"]
        if not x:
            return set()
        if f["direction"] == "mute":
            return {(x, b) for b in ids if b != x}
        return {(a, x) for a in ids if a != x}
    raise ValueError("unknown partition kind %r" % kind)


class Runner:
    """Applies a schedule against a harness h (see chaos/run: h.nodes,
    h.topo, h.proxy, h.leader_id(), h.remove_member(), h.add_member(),
    h.log()). Faults run on one thread per lane window."""

    def __init__(self, h, faults):
        self.h = h
        self.faults = faults
        self.lock = threading.Lock()
        self.cuts = {}     # fault index -> set of cut pairs
        self.losses = {}   # fault index -> {node: p}
        self.extra = {}    # fault index -> {(i, j): ms}
        self.busy = set()  # node ids under a node fault
        self.applied = 0
        self.skipped = 0
        self.errors = []
        self.threads = []
        self.stop = threading.Event()

    def start(self, t0):
        for k, f in enumerate(self.faults):
            th = threading.Thread(target=self._window, args=(t0, k, f),
                                  daemon=True, name="nemesis-%d" % k)
            th.start()
            self.threads.append(th)

    def _window(self, t0, k, f):
        if self.stop.wait(max(0.0, t0 + f["start"] - time.monotonic())):
            return
        try:
            healer = self._apply(k, f)
        except Exception as e:  # noqa: BLE001 - recorded and reported
            self.errors.append("fault %d %s: %s" % (k, f["nemesis"], e))
            self.h.log("fault %d %s failed to apply: %s" %
                       (k, f["nemesis"], e))
            return
        if healer is None:
            with self.lock:
                self.skipped += 1
            return
        with self.lock:
            self.applied += 1
        self.stop.wait(f["duration"])
        try:
            healer()
        except Exception as e:  # noqa: BLE001 - heal_all retries
            self.errors.append("fault %d %s heal: %s" % (k, f["nemesis"], e))
            self.h.log("fault %d %s failed to heal: %s" %
                       (k, f["nemesis"], e))

    def _node(self, f):
        """The fault's target node, or None when it is busy or unknown."""
        nid = f["node"]
        if nid == "leader":
            nid = self.h.leader_id()
        with self.lock:
            if nid is None or nid in self.busy or \
                    not self.h.nodes[nid].running():
                return None
            self.busy.add(nid)
        return nid

    def _release(self, nid):
        with self.lock:
            self.busy.discard(nid)

    def _net_update(self):
        with self.lock:
            cut = set().union(*self.cuts.values()) if self.cuts else set()
            loss = {}
            for d in self.losses.values():
                for n, p in d.items():
                    loss[n] = max(loss.get(n, 0.0), p)
            extra = {}
            for d in self.extra.values():
                for pair, ms in d.items():
                    extra[pair] = extra.get(pair, 0) + ms
        self.h.proxy.set_cut(cut)
        delays = dict(self.h.base_delays)
        for pair, ms in extra.items():
            delays[pair] = delays.get(pair, 0.0) + ms
        self.h.proxy.set_delay(delays)
        for nid in self.h.nodes.ids():
            p = loss.get(nid, 0.0)
            if self.h.loss_now.get(nid, 0.0) != p:
                self.h.topo.set_loss(nid, p)
                self.h.loss_now[nid] = p

    def _region_nodes(self, region):
        """Every running node of region not under another fault, claimed;
        [] when any of them is busy (the region is not whole)."""
        ids = [i for i in self.h.nodes.ids()
               if self.h.nodes[i].region == region]
        with self.lock:
            if any(i in self.busy for i in ids):
                return []
            up = [i for i in ids if self.h.nodes[i].running()]
            self.busy.update(up)
        return up

    def _apply(self, k, f):
        h, name = self.h, f["nemesis"]
        ids = h.nodes.ids()
        region_of = {i: h.nodes[i].region for i in ids}
        if name == "region":
            lost = self._region_nodes(f["region"])
            if not lost:
                h.log("fault %d region: %s busy or down, skipped" %
                      (k, f["region"]))
                return None
            for nid in lost:
                h.nodes.kill(nid)
            h.log("fault %d: region %s lost (kill -9 of nodes %s)" %
                  (k, f["region"], lost))

            def back():
                for nid in lost:
                    h.nodes.start(nid)
                    self._release(nid)
            return back
        if name in ("kill", "pause", "skew", "disk", "wipe"):
            nid = self._node(f)
            if nid is None:
                h.log("fault %d %s: target %s busy or down, skipped" %
                      (k, name, f["node"]))
                return None
            if name == "kill":
                h.nodes.kill(nid)
                h.log("fault %d: kill node %d" % (k, nid))
                return lambda: (h.nodes.start(nid), self._release(nid))
            if name == "pause":
                h.nodes.pause(nid)
                h.log("fault %d: pause node %d" % (k, nid))
                return lambda: (h.nodes.resume(nid), self._release(nid))
            if name == "skew":
                h.nodes.kill(nid)
                h.nodes.start(nid, skew_s=f["skew_s"])
                h.log("fault %d: node %d clock %+d s" %
                      (k, nid, f["skew_s"]))

                def unskew():
                    h.nodes.kill(nid)
                    h.nodes.start(nid)
                    self._release(nid)
                return unskew
            if name == "disk":
                if not h.nodes[nid].tmpfs:
                    self._release(nid)
                    h.log("fault %d disk: node %d has no tmpfs, skipped" %
                          (k, nid))
                    return None
                h.nodes[nid].disk_full = True
                n = h.nodes.fill_disk(nid)
                h.log("fault %d: node %d data dir full (%d bytes filler)" %
                      (k, nid, n))

                def unfill():
                    h.nodes.free_disk(nid)
                    h.check_crashes()
                    h.nodes[nid].disk_full = False
                    if not h.nodes[nid].running():
                        h.log("node %d died on the full disk: restart" % nid)
                        h.nodes.start(nid)
                    self._release(nid)
                return unfill
            if name == "wipe":
                if nid == h.leader_id():
                    self._release(nid)
                    h.log("fault %d wipe: node %d leads, skipped" % (k, nid))
                    return None
                if not h.remove_member(nid):
                    self._release(nid)
                    h.log("fault %d wipe: could not remove node %d, "
                          "skipped" % (k, nid))
                    return None
                h.nodes.kill(nid)
                h.nodes.wipe(nid)
                h.nodes[nid].join = True
                h.log("fault %d: node %d removed and wiped" % (k, nid))

                def rejoin():
                    h.nodes.start(nid)
                    h.add_member(nid)
                    self._release(nid)
                return rejoin
        if name == "partition":
            leader = h.leader_id() if f["kind"] == "leader" or \
                f.get("node") == "leader" else None
            pairs = cut_pairs(f, ids, region_of, leader)
            if not pairs:
                return None
            with self.lock:
                self.cuts[k] = pairs
            self._net_update()
            h.log("fault %d: partition %s cuts %s" %
                  (k, f["kind"], sorted(pairs)))
            return lambda: self._drop(self.cuts, k)
        if name == "loss":
            if f["scope"] == "node":
                targets = [f["node"]]
            elif f["scope"] == "region":
                targets = [i for i in ids if region_of[i] == f["region"]]
            else:
                targets = ids
            with self.lock:
                self.losses[k] = {i: f["p"] for i in targets}
            self._net_update()
            h.log("fault %d: loss %.3f at nodes %s" % (k, f["p"], targets))
            return lambda: self._drop(self.losses, k)
        if name == "latency":
            if f["scope"] == "node":
                x = f["node"]
                links = [(x, b) for b in ids if b != x] + \
                        [(a, x) for a in ids if a != x]
            else:
                ra, rb = f["regions"]
                links = [(a, b) for a in ids for b in ids if a != b and
                         {region_of[a], region_of[b]} == {ra, rb}]
            with self.lock:
                self.extra[k] = {p: f["extra_ms"] for p in links}
            self._net_update()
            h.log("fault %d: +%d ms on %d links" %
                  (k, f["extra_ms"], len(links)))
            return lambda: self._drop(self.extra, k)
        raise ValueError("unknown nemesis %r" % name)

    def _drop(self, table, k):
        with self.lock:
            table.pop(k, None)
        self._net_update()

    def finish(self, timeout):
        """Stop starting faults and wait (bounded) for active windows to
        heal; returns the number of windows still running."""
        self.stop.set()
        deadline = time.monotonic() + timeout
        for th in self.threads:
            th.join(max(0.1, deadline - time.monotonic()))
        return sum(1 for th in self.threads if th.is_alive())
