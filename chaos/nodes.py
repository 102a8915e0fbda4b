"""drnode processes of a chaos run: configs, start/kill/pause, skew, disks.

Each node runs inside its own network namespace (nsenter --net, so it shares
the host's mounts) with its config, data dir and log under the run's work
dir. A node whose data dir must be fillable (the disk nemesis) gets a small
tmpfs mounted on it. Clock skew restarts a node under libfaketime with a
wall-clock offset (the monotonic clock is left alone, so raft's timers are
unaffected). Every process started is killed and every mount unmounted by
Nodes.stop_all().
"""

import ctypes
import glob
import os
import queue
import resource
import shutil
import signal
import subprocess
import threading
import time

FAKETIME_LIBS = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                 "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
                 "/usr/lib/faketime/libfaketime.so.1")


def faketime_lib():
    """Path of libfaketime, or None (Debian package `faketime`)."""
    for p in FAKETIME_LIBS + tuple(glob.glob("/usr/lib/*/faketime/"
                                             "libfaketime.so.1")):
        if os.path.exists(p):
            return p
    return None


def _die_with_parent():
    """preexec_fn: SIGKILL the child when the thread that forked it ends
    (Linux ties PR_SET_PDEATHSIG to the thread, hence Nodes' spawner), and
    allow a core dump (in the node's dir, its working directory)."""
    try:
        resource.setrlimit(resource.RLIMIT_CORE,
                           (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort; stop_all still kills
        pass


class Node:
    def __init__(self, nid, region, topo, base):
        self.id = nid
        self.region = region
        self.raft_address = topo.raft_address(nid)
        self.api_address = topo.api_address(nid)
        self.ns_path = topo.ns_path(nid)
        self.dir = os.path.join(base, "node%d" % nid)
        self.data_dir = os.path.join(self.dir, "data")
        self.config_path = os.path.join(self.dir, "drnode.conf")
        self.log_path = os.path.join(self.dir, "drnode.log")
        self.proc = None
        self.join = False
        self.paused = False
        self.skew_s = 0
        self.tmpfs = False
        self.killed = False     # the last exit was ours (kill -9)
        self.disk_full = False  # the disk nemesis holds its data dir full
        self.exit_seen = False  # an exit already reported by crashed()
        os.makedirs(self.data_dir, exist_ok=True)

    def running(self):
        return self.proc is not None and self.proc.poll() is None


class Nodes:
    """The cluster's nodes. regions: region name of node i at index i-1."""

    def __init__(self, drnode, topo, base, regions, token_file, raft_opts,
                 log):
        self.drnode = drnode
        self.topo = topo
        self.base = base
        self.token_file = token_file
        self.raft_opts = raft_opts
        self.log = log
        self.nodes = {}
        for i, r in enumerate(regions):
            self.nodes[i + 1] = Node(i + 1, r, topo, base)
        self.initial = sorted(self.nodes)
        self.primary = regions[0]
        self.dns_key_file = None  # [dns] api_key_file, when DNS is on
        self.services = {}        # [services], when DNS is on
        self._spawn_q = queue.Queue()
        threading.Thread(target=self._spawner, daemon=True,
                         name="chaos-spawner").start()

    def _spawner(self):
        """Forks every node from one thread that lives as long as the run."""
        while True:
            args, kw, box, done = self._spawn_q.get()
            try:
                box.append(subprocess.Popen(args, **kw))
            except Exception as e:  # noqa: BLE001 - raised in the caller
                box.append(e)
            done.set()

    def _popen(self, args, **kw):
        box, done = [], threading.Event()
        self._spawn_q.put((args, kw, box, done))
        done.wait()
        if isinstance(box[0], Exception):
            raise box[0]
        return box[0]

    def __getitem__(self, nid):
        return self.nodes[nid]

    def ids(self):
        return sorted(self.nodes)

    def mount_tmpfs(self, nid, size_mb):
        n = self.nodes[nid]
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % size_mb,
                        "tmpfs", n.data_dir], check=True,
                       capture_output=True)
        n.tmpfs = True

    def config_text(self, n):
        out = ["[node]", "id = %d" % n.id, "region = %s" % n.region,
               "raft_address = %s" % n.raft_address,
               "api_address = %s" % n.api_address,
               "data_dir = %s" % n.data_dir,
               "token_file = %s" % self.token_file,
               "log_level = info",
               "join = %s" % ("true" if n.join else "false"), "", "[raft]"]
        out += ["%s = %s" % kv for kv in sorted(self.raft_opts.items())]
        if self.dns_key_file:
            out += ["", "[dns]", "api_key_file = %s" % self.dns_key_file]
        if self.services:
            out += ["", "[services]"]
            out += ["%s = %s" % kv for kv in sorted(self.services.items())]
        out += ["", "[bootstrap]", "primary_region = %s" % self.primary]
        for nid in self.initial:
            m = self.nodes[nid]
            out += ["", "[member.%d]" % nid, "region = %s" % m.region,
                    "raft_address = %s" % m.raft_address,
                    "api_address = %s" % m.api_address]
        return "\n".join(out) + "\n"

    def start(self, nid, skew_s=0):
        """Start node nid (in its namespace), with a wall clock skewed by
        skew_s seconds when not 0."""
        n = self.nodes[nid]
        assert not n.running(), "node %d already runs" % nid
        with open(n.config_path, "w") as f:
            f.write(self.config_text(n))
        env = dict(os.environ)
        if skew_s:
            env["LD_PRELOAD"] = faketime_lib()
            env["FAKETIME"] = "%+ds" % skew_s
            env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
            env["FAKETIME_NO_CACHE"] = "1"
            # An ASan build insists on coming first among preloads.
            env["ASAN_OPTIONS"] = ":".join(
                x for x in (env.get("ASAN_OPTIONS"),
                            "verify_asan_link_order=0") if x)
        n.skew_s = skew_s
        with open(n.log_path, "ab") as log:
            log.write(("--- chaos: start node %d join=%s skew=%+ds ---\n" %
                       (nid, n.join, skew_s)).encode())
            log.flush()
            n.proc = self._popen(
                ["nsenter", "--net=" + n.ns_path, "--", self.drnode,
                 "--config", n.config_path],
                stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=env, cwd=n.dir,
                preexec_fn=_die_with_parent)
        n.paused = False
        n.killed = False
        n.exit_seen = False
        self.log("node %d started (pid %d%s)" %
                 (nid, n.proc.pid, ", skew %+ds" % skew_s if skew_s else ""))

    def kill(self, nid):
        """kill -9 and reap (a paused node is killed too)."""
        n = self.nodes[nid]
        if n.proc is None:
            return
        n.killed = True
        if n.proc.poll() is None:
            os.kill(n.proc.pid, signal.SIGKILL)
        try:
            n.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.log("node %d survived SIGKILL for 10 s" % nid)
        n.paused = False
        self.log("node %d killed" % nid)

    def crashed(self):
        """Nodes that exited without being killed since the last call:
        list of (node, exit status, data dir full?)."""
        out = []
        for n in self.nodes.values():
            if n.proc is None or n.killed or n.exit_seen:
                continue
            rc = n.proc.poll()
            if rc is not None:
                n.exit_seen = True
                out.append((n, rc, n.disk_full))
        return out

    def pause(self, nid):
        n = self.nodes[nid]
        if n.running():
            os.kill(n.proc.pid, signal.SIGSTOP)
            n.paused = True

    def resume(self, nid):
        n = self.nodes[nid]
        if n.running() and n.paused:
            os.kill(n.proc.pid, signal.SIGCONT)
        n.paused = False

    def wipe(self, nid):
        """Empty the data dir of a stopped node (keeping a tmpfs mount)."""
        n = self.nodes[nid]
        assert not n.running()
        for name in os.listdir(n.data_dir):
            p = os.path.join(n.data_dir, name)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)

    def fill_disk(self, nid):
        """Fill node nid's tmpfs data dir; returns the bytes written."""
        n = self.nodes[nid]
        path = os.path.join(n.data_dir, "chaos-filler")
        written = 0
        block = b"\0" * (1 << 20)
        try:
            with open(path, "ab") as f:
                while True:
                    f.write(block)
                    written += len(block)
        except OSError:
            pass
        try:  # the last partial MiB
            with open(path, "ab") as f:
                while True:
                    f.write(b"\0" * 4096)
                    written += 4096
        except OSError:
            pass
        return written

    def free_disk(self, nid):
        try:
            os.unlink(os.path.join(self.nodes[nid].data_dir, "chaos-filler"))
        except FileNotFoundError:
            pass

    def stop_all(self):
        """Kill every node, then unmount every tmpfs."""
        for n in self.nodes.values():
            n.killed = True
            if n.proc is not None and n.proc.poll() is None:
                try:
                    os.kill(n.proc.pid, signal.SIGKILL)
                    os.kill(n.proc.pid, signal.SIGCONT)
                except OSError:
                    pass
        for n in self.nodes.values():
            if n.proc is not None:
                try:
                    n.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        for n in self.nodes.values():
            if n.tmpfs:
                for _ in range(10):
                    p = subprocess.run(["umount", n.data_dir],
                                       capture_output=True)
                    if p.returncode == 0:
                        n.tmpfs = False
                        break
                    time.sleep(0.2)
