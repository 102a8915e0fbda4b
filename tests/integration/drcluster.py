"""Loopback drnode clusters for the integration tests (Python 3 stdlib only).

A Cluster writes one INI config per node into a temp dir, starts real drnode
processes on free ports, and offers HTTP helpers that never follow redirects
(so tests can assert 307 + Location). Every wait is bounded; cleanup() kills
what it started (SIGTERM, then SIGKILL) and removes the temp dir.

Environment: DRNODE (path to drnode; default build/node/drnode), DRCTL,
DRCLUSTER_KEEP=1 keeps temp dirs for post-mortems.
"""

import atexit
import ctypes
import http.client
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

DRNODE = os.environ.get("DRNODE") or os.path.join(ROOT, "build", "node",
                                                  "drnode")
DRCTL = os.environ.get("DRCTL") or os.path.join(ROOT, "build", "cluster",
                                                "drctl")

ELECTION_WAIT_S = 20.0  # bound of every "wait for a leader"
CATCH_UP_WAIT_S = 20.0  # bound of every "wait for a node to catch up"
EXIT_WAIT_S = 10.0      # bound of every "wait for a process to exit"

# Every process any Cluster started and has not reaped yet, and every temp
# dir not yet removed: the atexit hook kills and removes them if a test run
# is interrupted before its cleanups (SIGTERM is turned into
# KeyboardInterrupt so that atexit runs).
_LIVE = {}
TEMP_DIRS = set()

from drsecrets import pem_key_body, register_secret, secrets_in  # noqa: E402,F401


def _kill_leftovers():
    for pid, proc in list(_LIVE.items()):
        try:
            os.kill(pid, signal.SIGKILL)
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        _LIVE.pop(pid, None)
    if not os.environ.get("DRCLUSTER_KEEP"):
        for d in list(TEMP_DIRS):
            shutil.rmtree(d, ignore_errors=True)
            TEMP_DIRS.discard(d)


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


atexit.register(_kill_leftovers)
if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
    signal.signal(signal.SIGTERM, _on_sigterm)


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL if the test process dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:  # best effort: atexit and cleanups still apply
        pass


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Ports handed out by free_ports, shared by every test process of the
# machine: ctest runs several at once, each choosing at random from the
# same range, and a port one of them chose but has not bound yet looks
# free to the others (a node's API "address already in use" at its first
# start failed a CI run so). A claim holds for PORT_CLAIM_S, long enough
# for any choice to be bound; the directory is in the temp dir and
# emptied of stale claims as it is used.
PORT_CLAIM_S = 600
PORT_CLAIMS = os.path.join(tempfile.gettempdir(),
                           "drtest-ports-%d" % os.getuid())


class _port_registry:
    """with _port_registry() as claim: claim(port) is True when no other
    test process claimed port in the last PORT_CLAIM_S seconds, and then
    claims it. One process at a time (a lock file)."""

    def __enter__(self):
        import fcntl
        os.makedirs(PORT_CLAIMS, mode=0o700, exist_ok=True)
        self.lock = open(os.path.join(PORT_CLAIMS, ".lock"), "a")
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        now = time.time()
        for e in os.scandir(PORT_CLAIMS):
            if e.name.isdigit():
                try:
                    if now - e.stat().st_mtime >= PORT_CLAIM_S:
                        os.unlink(e.path)
                except FileNotFoundError:
                    pass
        return self.claim

    def claim(self, port):
        path = os.path.join(PORT_CLAIMS, str(port))
        if os.path.exists(path):
            return False
        with open(path, "w"):
            pass
        return True

    def __exit__(self, *exc):
        self.lock.close()  # releases the lock
        return False


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1, each checked bindable.

    They come from below the kernel's ephemeral range: a port the kernel
    hands out itself (bind to port 0, or the local end of any outgoing
    connection, which the tests make by the thousand) can be taken by
    another test's connection between this choice and the node's bind (a
    raft address "in use by another process" failed a CI run so). Ports
    below that range are only ever taken by explicit binds; 10000-19999
    also stays clear of `drctl local`'s own choices (20000-32000)."""
    low = _ephemeral_low()
    first, last = 10000, min(low - 1, 19999)
    ports = []
    if last - first < 1000:  # an odd range: let the kernel choose
        socks = []
        try:
            while len(ports) < n:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind(("127.0.0.1", 0))
                socks.append(s)
                ports.append(s.getsockname()[1])
        finally:
            for s in socks:
                s.close()
        return ports
    rng = random.SystemRandom()
    with _port_registry() as claim:
        for _ in range(20 * n + 100):
            if len(ports) == n:
                break
            port = rng.randint(first, last)
            if port in ports:
                continue
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            finally:
                s.close()
            if claim(port):
                ports.append(port)
    if len(ports) < n:
        raise AssertionError("no %d free ports between %d and %d"
                             % (n, first, last))
    return ports


def pid_alive(pid):
    """True if pid runs and is not a zombie (PID 1 here may not reap the
    processes that drctl detached)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def terminate_all(pids, what="process", timeout=30):
    """SIGTERM each pid (ours: servers a test started) and wait until each
    is gone; those already gone are skipped."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        wait_until(lambda: not pid_alive(pid), timeout,
                   what="%s %d to stop" % (what, pid))


def pid_cmdline(pid):
    """The command line of pid, "" when it is gone."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def drctl_in_pty(args, env, timeout=120):
    """drctl with stdout and stderr on a pty (progress lines are drawn only
    for a terminal): (exit code, output)."""
    import pty
    master, slave = pty.openpty()
    out = b""
    try:
        q = subprocess.Popen([DRCTL] + list(args), stdout=slave, stderr=slave,
                             stdin=subprocess.DEVNULL, env=env)
        os.close(slave)
        slave = None
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the pty
                break
            if not chunk:
                break
            out += chunk
        rc = q.wait(timeout=timeout)
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    return rc, out.decode(errors="replace")


def wait_until(fn, timeout, interval=0.05, what="condition"):
    """Poll fn() until it returns a truthy value (returned) or time is up
    (AssertionError naming what and the last value or exception)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v
            last = v
        except Exception as e:  # noqa: BLE001 - reported on timeout
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s "
                                 "(last: %r)" % (timeout, what, last))
        time.sleep(interval)


class Response:
    """One HTTP answer: status, headers (lower-case keys), raw body, json."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except (ValueError, UnicodeDecodeError):
            self.json = None

    def header(self, name):
        return self.headers.get(name.lower())

    @property
    def error(self):
        """(code, message) of an error body, or None if it has not the
        documented {"error":{"code","message"}} shape."""
        j = self.json
        if (isinstance(j, dict) and list(j.keys()) == ["error"]
                and isinstance(j["error"], dict)
                and set(j["error"].keys()) == {"code", "message"}
                and isinstance(j["error"]["code"], str)
                and isinstance(j["error"]["message"], str)):
            return j["error"]["code"], j["error"]["message"]
        return None

    def __repr__(self):
        return "<%d %s>" % (self.status, self.body[:300].decode("utf-8",
                                                              "replace"))


def http_request(addr, method, path, body=None, token=None, headers=None,
                 timeout=10.0, tls=None):
    """One request on a fresh connection; never follows redirects.
    body: bytes/str sent as is, anything else is JSON-encoded. tls: an
    ssl.SSLContext for HTTPS, or None for plain HTTP."""
    host, port = addr.rsplit(":", 1)
    if tls is not None:
        conn = http.client.HTTPSConnection(host, int(port), timeout=timeout,
                                           context=tls)
    else:
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    hdrs = {}
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode("utf-8")
    if body is not None:
        hdrs["Content-Type"] = "application/json"
    if token is not None:
        hdrs["Authorization"] = "Bearer " + token
    hdrs.update(headers or {})
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()},
                        data)
    finally:
        conn.close()


class Node:
    """One drnode: its addresses, files and process."""

    def __init__(self, cluster, node_id, region, raft_port, api_port):
        self.cluster = cluster
        self.id = node_id
        self.region = region
        self.raft_address = "127.0.0.1:%d" % raft_port
        self.api_address = "127.0.0.1:%d" % api_port
        self.dir = os.path.join(cluster.base, "node%d" % node_id)
        self.data_dir = os.path.join(self.dir, "data")
        self.config_path = os.path.join(self.dir, "drnode.conf")
        self.log_path = os.path.join(self.dir, "drnode.log")
        self.join = False
        self.proc = None
        os.makedirs(self.dir, exist_ok=True)

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def member_json(self):
        return {"id": self.id, "region": self.region,
                "raft_address": self.raft_address,
                "api_address": self.api_address}

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)\n"

    # HTTP on this node.
    def request(self, method, path, body=None, token=None, **kw):
        kw.setdefault("tls", self.cluster.tls)
        return http_request(self.api_address, method, path, body=body,
                            token=token, **kw)

    def get(self, path, stale=False, **kw):
        if stale:
            path += ("&" if "?" in path else "?") + "stale=true"
        if "tokens_file" in self.cluster.api:
            # Roles: reads need a token too (the cluster's is a node's).
            kw.setdefault("token", self.cluster.token)
        return self.request("GET", path, **kw)

    def write(self, method, path, body=None, token=True, **kw):
        """A write with the admin token (token=True), none (None) or a given
        string."""
        if token is True:
            token = self.cluster.token
        return self.request(method, path, body=body, token=token, **kw)

    def status(self):
        r = self.get("/api/status", timeout=5.0)
        if r.status != 200 or r.json is None:
            raise AssertionError("GET /api/status on node %d: %r" %
                                 (self.id, r))
        return r.json


class Cluster:
    """A loopback cluster of drnode processes in a temp dir.

    regions: the region of each initial member, in id order (ids 1..n).
    raft/api: overrides of the [raft]/[api] keys. region_sections: dict of
    region name -> dict of [region.NAME] keys."""

    def __init__(self, regions=("eu-west", "us-east", "ap-south"),
                 primary="eu-west", raft=None, api=None, region_sections=None,
                 name="cluster", services=None, probes=None, tls=False):
        if not os.access(DRNODE, os.X_OK):
            raise unittest.SkipTest("drnode not built at %s" % DRNODE)
        self.base = tempfile.mkdtemp(prefix="drnode-it-%s-" % name)
        TEMP_DIRS.add(self.base)
        self.primary = primary
        self.raft = {"election_timeout_ms": 500, "heartbeat_timeout_ms": 50,
                     "snapshot_threshold": 1024, "snapshot_trailing": 128}
        self.raft.update(raft or {})
        self.api = {"max_body_bytes": 1048576}
        self.api.update(api or {})
        self.region_sections = region_sections or {}
        self.services = services or {}  # node id -> [services] keys
        self.probes = probes or {}  # node id -> [probes] keys
        self.token = "it-token-" + os.urandom(12).hex()
        register_secret(self.token)
        self.token_file = os.path.join(self.base, "token")
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                     0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.token + "\n")
        ports = free_ports(2 * len(regions))
        self.nodes = {}
        self.initial_ids = []
        for i, region in enumerate(regions):
            nid = i + 1
            self.nodes[nid] = Node(self, nid, region, ports[2 * i],
                                   ports[2 * i + 1])
            self.initial_ids.append(nid)
        self.tls = None
        if tls:
            self.make_tls()
        for n in self.nodes.values():
            self.write_config(n)

    def make_tls(self):
        """A cluster CA (drctl certs init), a certificate per node and one
        for the tests' client (drctl certs issue); every node serves HTTPS
        only and asks clients for a certificate ([tls] client_ca). Requests
        of this cluster's helpers then go over TLS with the client's."""
        self.certs = os.path.join(self.base, "certs")
        cmds = [["init", "--dir", self.certs]]
        for n in self.nodes.values():
            cmds.append(["issue", "--dir", self.certs, "--id", str(n.id),
                         "--region", n.region, "--ip", "127.0.0.1"])
        cmds.append(["issue", "--dir", self.certs, "--client", "tests"])
        for args in cmds:
            subprocess.run([DRCTL, "certs"] + args, check=True,
                           capture_output=True, timeout=30)
        self.ca = os.path.join(self.certs, "ca.crt")
        self.client_cert = os.path.join(self.certs, "client-tests.crt")
        self.client_key = os.path.join(self.certs, "client-tests.key")
        for n in self.nodes.values():
            n.extra_sections = dict(getattr(n, "extra_sections", {}))
            n.extra_sections["tls"] = {
                "cert": os.path.join(self.certs, "node-%d.crt" % n.id),
                "key": os.path.join(self.certs, "node-%d.key" % n.id),
                "ca": self.ca, "client_ca": self.ca}
        self.tls = self.client_context(self.client_cert, self.client_key)
        for name in os.listdir(self.certs):
            if name.endswith(".key"):
                for line in pem_key_body(os.path.join(self.certs, name)):
                    register_secret(line)

    def client_context(self, cert=None, key=None, ca=None):
        """An ssl context that trusts ca (default: this cluster's CA) and
        presents cert/key when given."""
        ctx = ssl.create_default_context(cafile=ca or self.ca)
        if cert is not None:
            ctx.load_cert_chain(cert, key)
        return ctx

    # Files.
    def config_text(self, node, join=None):
        join = node.join if join is None else join
        out = ["[node]",
               "id = %d" % node.id,
               "region = %s" % node.region,
               "raft_address = %s" % node.raft_address,
               "api_address = %s" % node.api_address,
               "data_dir = %s" % node.data_dir,
               "token_file = %s" % self.token_file,
               "log_level = info",
               "join = %s" % ("true" if join else "false"),
               "", "[raft]"]
        out += ["%s = %s" % kv for kv in self.raft.items()]
        out += ["", "[api]"]
        out += ["%s = %s" % kv for kv in self.api.items()]
        if node.id in self.services:
            out += ["", "[services]"]
            out += ["%s = %s" % kv for kv in self.services[node.id].items()]
        if node.id in self.probes:
            out += ["", "[probes]"]
            out += ["%s = %s" % kv for kv in self.probes[node.id].items()]
        for sec, keys in getattr(node, "extra_sections", {}).items():
            out += ["", "[%s]" % sec]
            out += ["%s = %s" % kv for kv in keys.items()]
        out += ["", "[bootstrap]", "primary_region = %s" % self.primary]
        for nid in self.initial_ids:
            m = self.nodes[nid]
            out += ["", "[member.%d]" % nid, "region = %s" % m.region,
                    "raft_address = %s" % m.raft_address,
                    "api_address = %s" % m.api_address]
        for name, keys in self.region_sections.items():
            out += ["", "[region.%s]" % name]
            out += ["%s = %s" % kv for kv in keys.items()]
        return "\n".join(out) + "\n"

    def write_config(self, node):
        with open(node.config_path, "w") as f:
            f.write(self.config_text(node))

    # Processes.
    def start(self, nid):
        n = self.nodes[nid]
        assert not n.running(), "node %d already runs" % nid
        self.write_config(n)
        log = open(n.log_path, "ab")
        try:
            log.write(("--- start node %d at %.3f ---\n" %
                       (nid, time.time())).encode())
            log.flush()
            n.proc = subprocess.Popen([DRNODE, "--config", n.config_path],
                                      stdin=subprocess.DEVNULL, stdout=log,
                                      stderr=subprocess.STDOUT,
                                      preexec_fn=_die_with_parent)
        finally:
            log.close()
        _LIVE[n.proc.pid] = n.proc
        # Bounded: the API port answers, or the process died.
        def up():
            if n.proc.poll() is not None:
                raise AssertionError(
                    "node %d exited with %d at start:\n%s" %
                    (nid, n.proc.returncode, n.log_tail()))
            try:
                return n.get("/api/status", timeout=1.0).status == 200
            except OSError:
                return False
        wait_until(up, 10.0, what="node %d API to answer" % nid)
        return n

    def start_all(self):
        for nid in self.nodes:
            self.start(nid)

    def _reap(self, n, timeout):
        try:
            rc = n.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        _LIVE.pop(n.proc.pid, None)
        return rc

    def kill(self, nid):
        """kill -9; returns the wait status (-9)."""
        n = self.nodes[nid]
        os.kill(n.proc.pid, signal.SIGKILL)
        rc = self._reap(n, EXIT_WAIT_S)
        assert rc is not None, "node %d survived SIGKILL" % nid
        return rc

    def stop(self, nid, timeout=EXIT_WAIT_S):
        """SIGTERM and wait; returns the exit code (SIGKILL and an
        AssertionError if it does not exit in time)."""
        n = self.nodes[nid]
        os.kill(n.proc.pid, signal.SIGTERM)
        rc = self._reap(n, timeout)
        if rc is None:
            os.kill(n.proc.pid, signal.SIGKILL)
            self._reap(n, EXIT_WAIT_S)
            raise AssertionError("node %d did not exit within %.0f s of "
                                 "SIGTERM:\n%s" % (nid, timeout,
                                                   n.log_tail()))
        return rc

    def restart(self, nid):
        return self.start(nid)

    def wipe(self, nid):
        n = self.nodes[nid]
        assert not n.running()
        shutil.rmtree(n.data_dir, ignore_errors=True)

    def running_ids(self):
        return [nid for nid, n in self.nodes.items() if n.running()]

    def cleanup(self, failed=False):
        for n in self.nodes.values():
            if n.proc is not None and n.proc.poll() is None:
                try:
                    os.kill(n.proc.pid, signal.SIGTERM)
                except OSError:
                    pass
        deadline = time.monotonic() + 5.0
        for n in self.nodes.values():
            if n.proc is None:
                continue
            left = max(0.1, deadline - time.monotonic())
            if self._reap(n, left) is None:
                try:
                    os.kill(n.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                self._reap(n, EXIT_WAIT_S)
        if failed:
            for n in self.nodes.values():
                sys.stderr.write("==== node %d log (%s) tail ====\n%s" %
                                 (n.id, n.log_path, n.log_tail(60)))
        leaked = {}
        for n in self.nodes.values():
            try:
                with open(n.log_path, errors="replace") as f:
                    found = secrets_in(f.read())
            except OSError:
                continue
            if found:
                leaked[n.log_path] = found
        if os.environ.get("DRCLUSTER_KEEP") or (
                failed and os.environ.get("DRCLUSTER_KEEP_FAILED")):
            sys.stderr.write("kept %s\n" % self.base)
        else:
            shutil.rmtree(self.base, ignore_errors=True)
        TEMP_DIRS.discard(self.base)
        if leaked:
            raise AssertionError("secrets in node logs (kept with "
                                 "DRCLUSTER_KEEP=1): %r" % leaked)

    # Cluster-level waits and helpers.
    def node(self, nid):
        return self.nodes[nid]

    def statuses(self, ids=None):
        ids = self.running_ids() if ids is None else ids
        return {nid: self.nodes[nid].status() for nid in ids}

    def wait_for_leader(self, ids=None, timeout=ELECTION_WAIT_S,
                        exclude=()):
        """Wait until every node in ids (default: running ones) is
        initialized and reports the same leader (id and API address), which
        says it is the leader and is not in exclude. Returns its Node."""
        def agreed():
            st = self.statuses(ids)
            leaders = {nid: (s["leader"] or {}).get("id")
                       for nid, s in st.items()}
            vals = set(leaders.values())
            if len(vals) != 1 or None in vals:
                return None
            lid = vals.pop()
            if lid in exclude or lid not in self.nodes:
                return None
            for s in st.values():
                if not s.get("initialized") or s["leader"].get("api") != \
                        self.nodes[lid].api_address:
                    return None
            ls = st.get(lid) or self.nodes[lid].status()
            if ls["role"] != "leader" or not ls.get("initialized"):
                return None
            return self.nodes[lid]
        return wait_until(agreed, timeout, interval=0.1,
                          what="an agreed, initialized leader")

    def leader(self):
        return self.wait_for_leader()

    def followers(self, leader):
        return [n for n in self.nodes.values()
                if n.running() and n.id != leader.id]

    def drctl(self, *args, nodes=None, timeout=120):
        """Run drctl (the DRCTL env var) against this cluster's nodes (all,
        or the given ones) with its token; the CompletedProcess, output as
        bytes."""
        env = dict(os.environ)
        env["DRCTL_ENDPOINTS"] = ",".join(
            n.api_address for n in (nodes or list(self.nodes.values())))
        env["DRCTL_TOKEN_FILE"] = self.token_file
        if self.tls is not None:
            env["DRCTL_CACERT"] = self.ca
            env["DRCTL_CERT"] = self.client_cert
            env["DRCTL_KEY"] = self.client_key
        return subprocess.run([DRCTL] + list(args),
                              capture_output=True, env=env, timeout=timeout)

    def drctl_checked(self, test, *args, check=True, nodes=None):
        """drctl; with check, a non-zero exit fails test with the output."""
        p = self.drctl(*args, nodes=nodes)
        if check and p.returncode != 0:
            test.fail("drctl %s: exit %d\n%s%s" % (
                " ".join(args), p.returncode, p.stdout.decode(),
                p.stderr.decode()))
        return p

    def wait_caught_up(self, nid, leader, timeout=CATCH_UP_WAIT_S):
        """Wait until node nid has applied the leader's commit index."""
        target = leader.status()["commit_index"]
        n = self.nodes[nid]
        return wait_until(lambda: n.status()["applied_index"] >= target,
                          timeout, interval=0.1,
                          what="node %d to apply index %d" % (nid, target))


class GuardedClassSetUp:
    """A test class whose setUpClass starts services (cls.start_services):
    when that fails part way, tearDownClass still stops what had started
    (unittest does not call it then). tearDownClass must cope with what is
    missing."""

    @classmethod
    def setUpClass(cls):
        try:
            cls.start_services()
        except BaseException:
            cls.tearDownClass()
            raise


class ClusterTestCase(unittest.TestCase):
    """Base class: self.new_cluster() creates a cluster cleaned up after the
    test, dumping node logs if the test failed."""

    def _test_failed(self):
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is None:
            return False
        return any(t is self for t, _ in
                   list(getattr(result, "errors", [])) +
                   list(getattr(result, "failures", [])))

    def new_cluster(self, **kw):
        c = Cluster(name=self.id().rsplit(".", 1)[-1], **kw)
        self.addCleanup(lambda: c.cleanup(failed=self._test_failed()))
        return c

    def assertError(self, r, status, code, msg_part):
        """Status, documented error shape, code, and a part of the
        message."""
        self.assertEqual(r.status, status, r)
        self.assertIsNotNone(r.error, "not an error body: %r" % r)
        self.assertEqual(r.error[0], code, r)
        self.assertIn(msg_part, r.error[1], r)
