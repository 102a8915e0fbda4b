"""Jobs in a cgroup of their own ([jobs] cgroup): drnode moves itself into
DIR/daemon and its job children into DIR/jobs, each job child makes itself
the OOM killer's first choice (oom_score_adj), a job runs to the end from
there, and a [jobs] cgroup that cannot work stops the start with its name.

Runs on a cgroup v2 hierarchy the test mounts itself (this machine's
/sys/fs/cgroup is v1: `auto` finds no cgroup there and says so). The
memory controller stays with v1 here, so the memory limits are checked by
the unit tests of the parser; here drnode must say that the jobs have no
memory limit of their own."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import drcluster
import drtest
from drcluster import Cluster
from svc_redis import RedisServer

DRNODE = drtest.drnode()
WAIT_S = 30.0
OOM_SCORE_ADJ = "500"  # common/jobenv.h


def cgroup_of(pid):
    """The cgroup v2 path of a process ("0::PATH")."""
    with open("/proc/%d/cgroup" % pid) as f:
        for line in f:
            if line.startswith("0::"):
                return line[3:].strip()
    return None


def children(pid):
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def wait_for(pred, what, timeout=WAIT_S):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


class JobCgroupCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("mounting a cgroup v2 hierarchy needs root")
        cls.mnt = tempfile.mkdtemp(prefix="dr-cgroup2-")
        drcluster.TEMP_DIRS.add(cls.mnt)
        p = subprocess.run(["mount", "-t", "cgroup2", "none", cls.mnt],
                           capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            os.rmdir(cls.mnt)
            raise unittest.SkipTest("cannot mount cgroup2: " + p.stderr.strip())
        # The mount shows the one cgroup v2 hierarchy of this namespace:
        # our cgroups go under a directory of this run's own.
        cls.rel = "/drtest-%d-%s" % (os.getpid(), os.urandom(3).hex())
        cls.base = cls.mnt + cls.rel
        os.mkdir(cls.base)

    @classmethod
    def tearDownClass(cls):
        # Leaf first; a cgroup with a process in it cannot go.
        for dirpath, dirnames, _ in sorted(os.walk(cls.base, topdown=False),
                                           key=lambda t: -len(t[0])):
            for _ in range(50):
                try:
                    os.rmdir(dirpath)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
        subprocess.run(["umount", cls.mnt], capture_output=True, timeout=30)
        os.rmdir(cls.mnt)

    def child_cgroup(self, name):
        path = os.path.join(self.base, name)
        os.mkdir(path)
        return path

    def test_job_child_moves_itself_and_offers_itself_to_the_oom_killer(self):
        jobs = self.child_cgroup("child")
        env = dict(os.environ, DR_JOB_CGROUP=jobs)
        # It waits for its spec on stdin: look at it meanwhile.
        p = subprocess.Popen([DRNODE, "--run-job"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env)
        try:
            wait_for(lambda: cgroup_of(p.pid) == self.rel + "/child",
                     "the job child in %s" % jobs, 10)
            with open("/proc/%d/oom_score_adj" % p.pid) as f:
                self.assertEqual(f.read().strip(), OOM_SCORE_ADJ)
            with open(os.path.join(jobs, "cgroup.procs")) as f:
                self.assertIn(str(p.pid), f.read().split())
        finally:
            out, err = p.communicate(b"{}", timeout=30)
        self.assertEqual(err, b"")
        self.assertIn(b'"ok"', out)

    def test_job_child_runs_where_it_is_when_the_cgroup_is_gone(self):
        missing = os.path.join(self.base, "no-such-cgroup")
        p = subprocess.run([DRNODE, "--run-job"], input=b"{}",
                           capture_output=True, timeout=30,
                           env=dict(os.environ, DR_JOB_CGROUP=missing))
        self.assertIn(("cannot move into %s/cgroup.procs" % missing).encode(),
                      p.stderr)
        self.assertIn(b"running in drnode's cgroup", p.stderr)
        # It ran: the empty spec is refused by the job, not by the cgroup.
        self.assertEqual(json.loads(p.stdout)["ok"], False, p.stdout)

    def test_node_and_its_jobs_in_their_own_cgroups(self):
        mine = self.child_cgroup("node")
        store = tempfile.mkdtemp(prefix="dr-cgroup-store-")
        self.addCleanup(shutil.rmtree, store, True)
        redis = RedisServer().start()
        self.addCleanup(redis.stop)
        c = Cluster(regions=("eu-west",), name="jobcgroup",
                    region_sections={"eu-west": {"object_store":
                                                 "file://" + store}},
                    services={1: {"redis": redis.address}})
        self.addCleanup(c.cleanup)
        node = c.nodes[1]
        node.extra_sections = {"jobs": {"cgroup": mine,
                                        "memory_max": "512M"}}
        c.write_config(node)
        c.start_all()
        leader = c.wait_for_leader()
        pid = node.pid
        self.assertEqual(cgroup_of(pid), self.rel + "/node/daemon")
        self.assertTrue(os.path.isdir(os.path.join(mine, "jobs")))
        with open(node.log_path, errors="replace") as f:
            log = f.read()
        self.assertIn("jobs run in cgroup %s/jobs; %s has no memory "
                      "controller" % (mine, mine), log)

        # A Redis that does not answer holds the backup's child while we
        # look at it; then it answers and the job ends well from there.
        os.kill(redis.pid, signal.SIGSTOP)
        stopped = True
        try:
            r = leader.write("POST", "/api/backups", {"kind": "redis"})
            self.assertEqual(r.status, 202, r)
            job_id = r.json["job"]["id"]

            def job_child():
                for k in children(pid):
                    if "--run-job" in drcluster.pid_cmdline(k):
                        return k
                return None
            kid = wait_for(job_child, "the backup's job child")
            # It moves itself first thing, before it reads its spec: a
            # slow start (ASan) is seen in the node's cgroup for a moment.
            wait_for(lambda: cgroup_of(kid) == self.rel + "/node/jobs",
                     "the job child %d in %s/jobs" % (kid, mine), 10)
            with open("/proc/%d/oom_score_adj" % kid) as f:
                self.assertEqual(f.read().strip(), OOM_SCORE_ADJ)
            # The node itself stays where it was, and out of the jobs'.
            self.assertEqual(cgroup_of(pid), self.rel + "/node/daemon")
            os.kill(redis.pid, signal.SIGCONT)
            stopped = False

            def job_done():
                jobs = leader.get("/api/jobs").json["jobs"]
                j = [x for x in jobs if x["id"] == job_id]
                return j and j[0]["state"] in ("done", "failed") and j[0]
            j = wait_for(job_done, "the Redis backup job", 60)
            self.assertEqual(j["state"], "done", j)
        finally:
            if stopped:
                os.kill(redis.pid, signal.SIGCONT)

    def start_in(self, cgroup, node, user=None):
        """drnode --config of node, started inside cgroup (as systemd
        starts a unit in its own), as user when given, with cgroup v2 at
        our mount; its output goes to its log."""
        argv = [DRNODE, "--config", node.config_path]
        if user is not None:
            argv = ["setpriv", "--reuid=" + user, "--regid=" + user,
                    "--clear-groups", "--"] + argv
        log = open(node.log_path, "ab")
        self.addCleanup(log.close)
        p = subprocess.Popen(
            ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"',
             cgroup] + argv,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(os.environ, DRNODE_CGROUP_ROOT=self.mnt))

        def stop():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(30)
        self.addCleanup(stop)
        return p

    def serves(self, node, p):
        """The node runs on from its cgroup: its API answers."""
        def answers():
            try:
                return node.get("/api/health").status == 200
            except OSError:
                return False
        wait_for(answers, "node %d's API" % node.id)
        self.assertIsNone(p.poll())

    def log_line(self, node, text):
        def found():
            with open(node.log_path, errors="replace") as f:
                return text in f.read()
        wait_for(found, "%r in %s" % (text, node.log_path))

    def test_auto_takes_a_cgroup_delegated_to_its_user(self):
        # What systemd's Delegate= does for a User= service: the unit's
        # cgroup and its cgroup.procs and subtree_control belong to the user.
        mine = self.child_cgroup("auto")
        for f in ("", "cgroup.procs", "cgroup.subtree_control",
                  "cgroup.threads"):
            shutil.chown(os.path.join(mine, f), "postgres", "postgres")
        c = Cluster(regions=("eu-west",), name="jobcgroup-auto")
        self.addCleanup(c.cleanup)
        node = c.nodes[1]
        for dirpath, dirnames, filenames in os.walk(c.base):
            for name in [dirpath] + [os.path.join(dirpath, n)
                                     for n in dirnames + filenames]:
                shutil.chown(name, "postgres", "postgres")
        p = self.start_in(mine, node, user="postgres")
        self.log_line(node, "jobs run in cgroup %s/jobs" % mine)
        self.assertEqual(cgroup_of(p.pid), self.rel + "/auto/daemon")
        self.assertEqual(os.stat(os.path.join(mine, "jobs")).st_uid,
                         os.stat(mine).st_uid)
        self.serves(node, p)

    def test_auto_leaves_a_cgroup_that_is_not_its_users_alone(self):
        theirs = self.child_cgroup("theirs")  # root's, as root runs drnode
        c = Cluster(regions=("eu-west",), name="jobcgroup-theirs")
        self.addCleanup(c.cleanup)
        node = c.nodes[1]
        p = self.start_in(theirs, node)
        self.log_line(node, "jobs run in drnode's own cgroup: %s is not "
                      "delegated to drnode's user" % theirs)
        self.assertEqual(cgroup_of(p.pid), self.rel + "/theirs")
        self.assertEqual(sorted(os.listdir(theirs)),
                         sorted(x for x in os.listdir(theirs)
                                if not os.path.isdir(os.path.join(theirs, x))))
        self.serves(node, p)

    def test_a_cgroup_that_cannot_work_stops_the_start(self):
        c = Cluster(regions=("eu-west",), name="jobcgroup-bad")
        self.addCleanup(c.cleanup)
        node = c.nodes[1]
        plain = tempfile.mkdtemp(prefix="dr-not-a-cgroup-")
        self.addCleanup(shutil.rmtree, plain, True)
        node.extra_sections = {"jobs": {"cgroup": plain}}
        c.write_config(node)
        p = subprocess.run([DRNODE, "--config", node.config_path],
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 2, p)
        self.assertIn(("[jobs] cgroup %s: not a directory of a cgroup v2 "
                       "hierarchy" % plain).encode(), p.stderr)
        self.assertFalse(os.path.exists(os.path.join(plain, "daemon")))


if __name__ == "__main__":
    drtest.main()
