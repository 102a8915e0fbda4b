"""Chaos topology: one network namespace per node on a private bridge.

Every node runs in its own namespace with one veth into a bridge in the
host namespace. The host side of the bridge holds two addresses: PROXY
(where chaos/proxy.py listens, one port per ordered pair of nodes) and
CLIENT (the source address of the workload's API requests). Inside node i's
namespace, a nat OUTPUT rule rewrites every connection to node j's raft
address into the proxy's (i, j) port, so all raft traffic crosses the proxy
and the proxy knows who talks to whom. Random loss is an iptables
`-m statistic` rule in the node's own chain CHAOS, matched on the proxy's
address only (API traffic is never dropped).

Names (namespaces, bridge, veths) carry a random run tag so that two runs
never collide; Topology.destroy() removes everything and is idempotent.
Needs root (CAP_NET_ADMIN); Topology.check_root() says so clearly.
"""

import os
import random
import subprocess

RAFT_PORT = 7001
API_PORT = 8001


class NetError(Exception):
    """A topology command failed; the message names the command."""


def _run(args, check=True):
    p = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True)
    if check and p.returncode != 0:
        raise NetError("%s: exit %d: %s" % (" ".join(args), p.returncode,
                                            p.stderr.strip()))
    return p


def check_root():
    """None when the topology can be built here, else the reason."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, iptables)"
    for tool in ("ip", "iptables", "nsenter"):
        if not any(os.access(os.path.join(d, tool), os.X_OK)
                   for d in os.environ.get("PATH", "").split(":") +
                   ["/usr/sbin", "/sbin"]):
            return "needs %s (scripts/bootstrap installs it)" % tool
    return None


def _pick_subnet():
    """A 10.x.y.0/24 that no route or address of the host uses yet."""
    used = _run(["ip", "-4", "route", "show", "table", "all"]).stdout + \
        _run(["ip", "-4", "addr"]).stdout
    rnd = random.SystemRandom()
    for _ in range(200):
        a, b = rnd.randint(200, 250), rnd.randint(0, 255)
        prefix = "10.%d.%d." % (a, b)
        if prefix not in used:
            return prefix
    raise NetError("no free 10.x.y.0/24 subnet found")


class Topology:
    """The namespaces, bridge and veths of one run, for nodes 1..n."""

    def __init__(self, n_nodes):
        self.tag = os.urandom(3).hex()
        self.n = n_nodes
        self.prefix = _pick_subnet()
        self.proxy_ip = self.prefix + "254"
        self.client_ip = self.prefix + "253"
        self.bridge = "drc%sbr" % self.tag
        self.created_ns = []
        self.bridge_made = False

    def ns(self, i):
        return "drc-%s-n%d" % (self.tag, i)

    def ns_path(self, i):
        return "/run/netns/" + self.ns(i)

    def ip(self, i):
        return self.prefix + str(i)

    def raft_address(self, i):
        return "%s:%d" % (self.ip(i), RAFT_PORT)

    def api_address(self, i):
        return "%s:%d" % (self.ip(i), API_PORT)

    def in_ns(self, i, args, check=True):
        return _run(["ip", "netns", "exec", self.ns(i)] + args, check=check)

    def create(self):
        _run(["ip", "link", "add", self.bridge, "type", "bridge"])
        self.bridge_made = True
        _run(["ip", "addr", "add", self.proxy_ip + "/24", "dev",
              self.bridge])
        _run(["ip", "addr", "add", self.client_ip + "/24", "dev",
              self.bridge])
        _run(["ip", "link", "set", self.bridge, "up"])
        for i in range(1, self.n + 1):
            ns = self.ns(i)
            host_if, peer_if = "drc%sh%d" % (self.tag, i), \
                "drc%sp%d" % (self.tag, i)
            _run(["ip", "netns", "add", ns])
            self.created_ns.append(i)
            _run(["ip", "link", "add", host_if, "type", "veth", "peer",
                  "name", peer_if])
            _run(["ip", "link", "set", peer_if, "netns", ns])
            _run(["ip", "link", "set", host_if, "master", self.bridge, "up"])
            _run(["ip", "-n", ns, "addr", "add", self.ip(i) + "/24", "dev",
                  peer_if])
            _run(["ip", "-n", ns, "link", "set", peer_if, "up"])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
            self.in_ns(i, ["iptables", "-N", "CHAOS"])
            self.in_ns(i, ["iptables", "-A", "INPUT", "-j", "CHAOS"])
            self.in_ns(i, ["iptables", "-A", "OUTPUT", "-j", "CHAOS"])

    def route_via_proxy(self, i, j, port):
        """Node i's connections to node j's raft address go to the proxy's
        (i, j) listener."""
        self.in_ns(i, ["iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp",
                       "-d", self.ip(j), "--dport", str(RAFT_PORT), "-j",
                       "DNAT", "--to-destination",
                       "%s:%d" % (self.proxy_ip, port)])

    def set_loss(self, i, probability):
        """Drop each raft packet to or from node i with this probability
        (0 removes the loss)."""
        self.in_ns(i, ["iptables", "-F", "CHAOS"])
        if probability <= 0:
            return
        p = "%.4f" % probability
        self.in_ns(i, ["iptables", "-A", "CHAOS", "-s", self.proxy_ip, "-m",
                       "statistic", "--mode", "random", "--probability", p,
                       "-j", "DROP"])
        self.in_ns(i, ["iptables", "-A", "CHAOS", "-d", self.proxy_ip, "-m",
                       "statistic", "--mode", "random", "--probability", p,
                       "-j", "DROP"])

    def destroy(self):
        """Remove the namespaces (with their rules and veths) and the bridge;
        safe to call twice and after a partial create()."""
        errors = []
        for i in list(self.created_ns):
            p = _run(["ip", "netns", "del", self.ns(i)], check=False)
            if p.returncode != 0 and "No such file" not in p.stderr:
                errors.append(p.stderr.strip())
            self.created_ns.remove(i)
        if self.bridge_made:
            p = _run(["ip", "link", "del", self.bridge], check=False)
            if p.returncode != 0 and "Cannot find" not in p.stderr:
                errors.append(p.stderr.strip())
            self.bridge_made = False
        return errors
