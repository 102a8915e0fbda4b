"""Redis snapshots through SYNC (method rdb) against real redis-servers:
the same payloads and digests as SCAN + DUMP for every type and encoding,
other databases, a restore that gives back every key byte for byte, one
point in time while a writer changes keys, servers that refuse SYNC (auto
falls back, rdb says why), and a transfer cut short or damaged on the way
(through a small proxy): refused, nothing left in the store, the next
attempt starts over."""

import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import unittest

import drtest  # noqa: E402

sys.dont_write_bytecode = True  # keep the source tree clean
import svc_redis  # noqa: E402
from svc_redis import RedisServer  # noqa: E402

JOB_WAIT_S = 120.0


def run_job(spec, timeout=JOB_WAIT_S):
    return drtest.run_job(spec, timeout)


def populate(c):
    """Every type in each of its encodings, TTLs, binary keys, a large
    value, and keys in database 3."""
    cmds = [("SET", "k:%05d" % i, "v%d" % i) for i in range(20000)]
    cmds += [
        ("SET", "str", "hello"), ("SET", "int", 12345),
        ("SET", "12345", "a key that is a number"), ("SET", "empty", ""),
        ("SET", "lzf", "abc" * 500), ("SET", "k" * 200, "long key"),
        ("SET", b"bin\x00key\xff", b"\x00\x80\xff"),
        ("SET", "big", os.urandom(2 << 20)),
        ("SET", "ttl", "soon", "PX", 3600000),
        ("RPUSH", "list:small", "a", "b", 1, 2),
        ("RPUSH", "list:big", *["item%d" % i for i in range(5000)]),
        ("SADD", "set:int", 1, 2, 3, -40000, 1 << 40),
        ("SADD", "set:big", *["m%d" % i for i in range(1000)]),
        ("ZADD", "zset:small", 1, "one", 2.5, "two", "-inf", "ninf"),
        ("ZADD", "zset:big", *[x for i in range(1000)
                               for x in (i * 0.5, "z%d" % i)]),
        ("HSET", "hash:small", "f1", "v1", "f2", b"\x00\xff"),
        ("HSET", "hash:big", *[x for i in range(2000)
                               for x in ("f%d" % i, "v%d" % i)]),
        ("PEXPIRE", "hash:big", 7200000),
        ("XADD", "stream", "1-1", "f", "v"),
        ("XADD", "stream", "2-1", "f", b"\xc3\x28"),
        ("XADD", "stream", "3-1", "n", "3"),
        ("XGROUP", "CREATE", "stream", "grp", "0"),
        ("XGROUP", "CREATE", "stream", "idle", "$"),
        ("XREADGROUP", "GROUP", "grp", "alice", "COUNT", 2, "STREAMS",
         "stream", ">"),
        ("XREADGROUP", "GROUP", "grp", "bob", "COUNT", 1, "STREAMS",
         "stream", ">"),
        ("SELECT", 3),
        ("SET", "db3:str", "in another database"),
        ("HSET", "db3:hash", "a", "b"),
        ("SELECT", 0),
    ]
    for r in c.pipeline(cmds):
        assert not isinstance(r, svc_redis.RedisError), r


def snapshot(server, db=0):
    """key -> (DUMP payload or, for hash-table sets and hashes, their
    sorted content; PTTL in ms, -1 for none). Compare two with same_data:
    a snapshot of many keys takes seconds, and TTLs run meanwhile."""
    c = server.client()
    c.command("SELECT", db)
    keys = sorted(c.all_keys())
    replies = c.pipeline([x for k in keys for x in (("DUMP", k), ("PTTL", k))])
    snap = {}
    for i, k in enumerate(keys):
        payload = replies[2 * i]
        if payload[0] == 2:
            payload = ("set", sorted(c.command("SMEMBERS", k)))
        elif payload[0] == 4:
            flat = c.command("HGETALL", k)
            payload = ("hash", sorted(zip(flat[::2], flat[1::2])))
        snap[k] = (payload, replies[2 * i + 1])
    c.close()
    return snap


def same_data(test, got, want, ttl_slack_ms=120000):
    """The same keys and values; TTLs both absent or within the slack (a
    restore sets the TTL left at the backup, which keeps running)."""
    test.assertEqual(sorted(got), sorted(want))
    diff = [k for k in want if got[k][0] != want[k][0]]
    test.assertEqual(diff[:5], [], "%d keys differ" % len(diff))
    ttl = [k for k in want if (got[k][1] < 0) != (want[k][1] < 0) or
           abs(got[k][1] - want[k][1]) > ttl_slack_ms]
    test.assertEqual([(k, got[k][1], want[k][1]) for k in ttl[:5]], [],
                     "%d TTLs differ" % len(ttl))


class Proxy:
    """TCP proxy to a redis-server that, once the SYNC reply's header has
    passed, closes both sides after cut RDB bytes, or flips the byte at
    RDB offset flip. Bounded: one connection at a time, threads end with
    their sockets."""

    def __init__(self, target_port, cut=None, flip=None, patch=None):
        self.target_port = target_port
        self.cut, self.flip = cut, flip
        self.patch = patch or {}  # RDB offset -> the byte put there
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4)
        self.port = self.lsock.getsockname()[1]
        self.done = threading.Event()
        self.acted = False
        threading.Thread(target=self.accept, daemon=True).start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def close(self):
        self.done.set()
        self.lsock.close()

    def accept(self):
        while not self.done.is_set():
            try:
                a, _ = self.lsock.accept()
            except OSError:
                return
            b = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self.pump, args=(a, b, False),
                             daemon=True).start()
            threading.Thread(target=self.pump, args=(b, a, True),
                             daemon=True).start()

    def pump(self, src, dst, from_server):
        head, rdb_at = b"", None  # rdb_at: RDB bytes passed so far
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_server and rdb_at is None:
                    head += data
                    i = head.find(b"$EOF:")
                    j = head.find(b"\r\n", i) if i >= 0 else -1
                    if j >= 0:  # the RDB offset of data[0] (<= 0)
                        rdb_at = (len(head) - len(data)) - (j + 2)
                if from_server and rdb_at is not None:
                    start = rdb_at  # the RDB offset of data[0] (may be < 0)
                    if self.flip is not None and \
                            start <= self.flip < start + len(data):
                        k = self.flip - start
                        data = data[:k] + bytes([data[k] ^ 0x5a]) + \
                            data[k + 1:]
                        self.acted = True
                    for at, byte in self.patch.items():
                        if start <= at < start + len(data):
                            k = at - start
                            data = data[:k] + bytes([byte]) + data[k + 1:]
                            self.acted = True
                    if self.cut is not None and start + len(data) > self.cut:
                        dst.sendall(data[:max(0, self.cut - start)])
                        self.acted = True
                        break
                    rdb_at = start + len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


class RdbCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dr-redis-rdb-")
        os.mkdir(os.path.join(cls.tmp, "store"))
        cls.store = "file://" + os.path.join(cls.tmp, "store")
        cls.src = RedisServer().start()
        c = cls.src.client()
        populate(c)
        c.close()

    @classmethod
    def tearDownClass(cls):
        svc_redis.kill_all()
        if not os.environ.get("DRCLUSTER_KEEP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()

    def server(self, **kw):
        s = RedisServer(**kw).start()
        self.servers.append(s)
        return s

    def backup(self, prefix, method, address=None, **kw):
        spec = {"op": "redis_backup", "redis": address or self.src.address,
                "prefix": prefix, "store": self.store, "method": method}
        spec.update(kw)
        return run_job(spec)

    def assert_no_backup(self, prefix):
        d = os.path.join(self.tmp, "store", prefix)
        left = os.listdir(d) if os.path.isdir(d) else []
        self.assertEqual([f for f in left if not f.startswith(".")], [],
                         "objects left behind: %r" % left)

    def test_1_rdb_and_scan_agree_and_restore_exactly(self):
        rdb = self.backup("rdb", "rdb", split_bytes=1 << 20)
        scan = self.backup("scan", "scan", split_bytes=1 << 20)
        self.assertTrue(rdb["ok"], rdb)
        self.assertTrue(scan["ok"], scan)
        r, s = rdb["result"], scan["result"]
        self.assertEqual(r["method"], "rdb")
        self.assertEqual(s["method"], "scan")
        self.assertNotIn("fallback", r)
        self.assertGreater(r["rdb_bytes"], 2 << 20)
        self.assertEqual(r["rdb_version"], 10 if r["redis_version"].startswith(
            "7.0") else r["rdb_version"])
        self.assertLessEqual(r["snapshot_time_ms"], time.time() * 1000)
        # Byte-identical payloads: the same per-key and snapshot digests.
        for k in ("keys", "digest", "types", "expiring_keys", "raw_bytes"):
            self.assertEqual(r[k], s[k], k)
        self.assertEqual(r["keys"], 20000 + 18)
        self.assertEqual(r["types"], {"string": 20009, "list": 2, "set": 2,
                                      "zset": 2, "hash": 2, "stream": 1})
        self.assertGreater(r["objects"], 3)  # split: several data objects
        # A restore of the RDB backup gives every key back byte for byte.
        dst = self.server()
        out = run_job({"op": "redis_restore", "store": self.store,
                       "manifest_key": r["manifest_key"],
                       "manifest_sha256": r["manifest_sha256"],
                       "redis": dst.address, "clean": True})
        self.assertTrue(out["ok"], out)
        same_data(self, snapshot(dst), snapshot(self.src))
        out = run_job({"op": "redis_verify", "store": self.store,
                       "manifest_key": r["manifest_key"],
                       "manifest_sha256": r["manifest_sha256"],
                       "redis": dst.address})
        self.assertTrue(out["ok"], out)
        self.assertEqual(out["result"]["method"], "rdb")
        self.assertEqual(out["result"]["matched"], r["keys"])
        # A key changed on the target: both ways name it.
        c = dst.client()
        c.command("SET", "str", "changed")
        c.command("SET", "new-key", "x")
        c.close()
        for how in ("rdb", "scan"):
            out = run_job({"op": "redis_verify", "store": self.store,
                           "manifest_key": r["manifest_key"],
                           "manifest_sha256": r["manifest_sha256"],
                           "redis": dst.address, "method": how})
            self.assertFalse(out["ok"], out)
            self.assertEqual(out["result"]["method"], how)
            self.assertEqual(out["result"]["mismatched_keys"], ["str"])
            self.assertEqual(out["result"]["extra_keys"], ["new-key"])
        # Database 3 alone.
        out = self.backup("db3", "rdb", db=3)
        self.assertTrue(out["ok"], out)
        self.assertEqual(out["result"]["keys"], 2)
        self.assertEqual(out["result"]["db"], 3)

    def test_2_one_point_in_time_under_writes(self):
        # Two counters incremented together in MULTI while the snapshot
        # streams: the restored pair is equal, and the writer got through
        # during the backup.
        s = self.server()
        c = s.client()
        c.command("DEBUG", "POPULATE", 200000, "fill", 200)
        stop = threading.Event()
        count = [0]

        def writer():
            w = s.client()
            while not stop.is_set() and count[0] < 2000000:
                w.pipeline([("MULTI",), ("INCR", "pair:a"),
                            ("INCR", "pair:b"), ("EXEC",)] * 20)
                count[0] += 20
            w.close()

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        time.sleep(0.2)
        before = count[0]
        out = self.backup("pit", "rdb", address=s.address)
        during = count[0] - before
        stop.set()
        t.join(30)
        self.assertTrue(out["ok"], out)
        self.assertGreater(during, 0, "the writer never ran")
        dst = self.server()
        r = out["result"]
        out = run_job({"op": "redis_restore", "store": self.store,
                       "manifest_key": r["manifest_key"],
                       "manifest_sha256": r["manifest_sha256"],
                       "redis": dst.address, "clean": True})
        self.assertTrue(out["ok"], out)
        d = dst.client()
        a, b = d.command("GET", "pair:a"), d.command("GET", "pair:b")
        self.assertIsNotNone(a)
        self.assertEqual(a, b)
        self.assertGreater(int(a), 0)
        self.assertLess(int(a), int(c.command("GET", "pair:a")))
        d.close()
        c.close()

    def test_3_refused_sync(self):
        renamed = self.server(extra_args=["--rename-command", "SYNC", ""])
        acl = self.server()
        c = acl.client()
        c.command("SET", "x", "1")
        c.command("ACL", "SETUSER", "default", "-sync", "-psync")
        c.close()
        c = renamed.client()
        c.command("SET", "x", "1")
        c.close()
        for srv, why, code in (
                (renamed, "SYNC refused: ERR unknown command", "io_error"),
                (acl, "SYNC refused: NOPERM", "unauthorized")):
            out = self.backup("refused-auto-%d" % srv.port, "auto",
                              address=srv.address)
            self.assertTrue(out["ok"], out)
            self.assertEqual(out["result"]["method"], "scan")
            self.assertIn(why, out["result"]["fallback"])
            self.assertEqual(out["result"]["keys"], 1)
            self.assertNotIn("snapshot_time_ms", out["result"])
            # verify reads the server back the same way, and says so.
            r = out["result"]
            v = run_job({"op": "redis_verify", "store": self.store,
                         "manifest_key": r["manifest_key"],
                         "manifest_sha256": r["manifest_sha256"],
                         "redis": srv.address})
            self.assertTrue(v["ok"], v)
            self.assertEqual(v["result"]["method"], "scan")
            self.assertIn(why, v["result"]["fallback"])
            self.assertEqual(v["result"]["matched"], 1)
            out = self.backup("refused-rdb-%d" % srv.port, "rdb",
                              address=srv.address)
            self.assertFalse(out["ok"], out)
            self.assertEqual(out["code"], code, out)
            self.assertIn(why, out["error"])
            self.assert_no_backup("refused-rdb-%d" % srv.port)

    def test_4_cut_mid_stream_then_the_next_attempt(self):
        p = Proxy(self.src.port, cut=1 << 20)
        try:  # small objects: some are complete when the line is cut
            out = self.backup("cut", "rdb", address=p.address,
                              split_bytes=65536)
        finally:
            p.close()
        self.assertTrue(p.acted)
        self.assertFalse(out["ok"], out)
        self.assertEqual(out["code"], "unavailable", out)
        self.assertRegex(out["error"], r"SYNC: the RDB stops at offset \d+ in "
                         r"the middle of an item \(connection closed\)")
        self.assert_no_backup("cut")
        out = self.backup("cut", "rdb")  # the same prefix, from the start
        self.assertTrue(out["ok"], out)

    def test_5_damaged_in_transit(self):
        p = Proxy(self.src.port, flip=600000)
        try:
            out = self.backup("flip", "rdb", address=p.address)
        finally:
            p.close()
        self.assertTrue(p.acted)
        self.assertFalse(out["ok"], out)
        self.assertEqual(out["code"], "corrupt", out)
        self.assertRegex(out["error"], r"SYNC: RDB offset \d+: ")
        self.assert_no_backup("flip")

    def test_5b_beyond_the_walker_falls_back(self):
        # An RDB the walker cannot read (here: a version it does not know,
        # as a newer server would send): auto takes the snapshot key by key
        # and says why, rdb refuses and names it; verify falls back too.
        p = Proxy(self.src.port, patch={7: ord("9"), 8: ord("9")})
        try:
            out = self.backup("newer-auto", "auto", address=p.address)
            self.assertTrue(out["ok"], out)
            r = out["result"]
            self.assertEqual(r["method"], "scan")
            self.assertIn("RDB version 99 is not supported", r["fallback"])
            self.assertEqual(r["keys"], 20000 + 18)
            v = run_job({"op": "redis_verify", "store": self.store,
                         "manifest_key": r["manifest_key"],
                         "manifest_sha256": r["manifest_sha256"],
                         "redis": p.address})
            self.assertTrue(v["ok"], v)
            self.assertEqual(v["result"]["method"], "scan")
            self.assertIn("RDB version 99", v["result"]["fallback"])
            out = self.backup("newer-rdb", "rdb", address=p.address)
        finally:
            p.close()
        self.assertTrue(p.acted)
        self.assertFalse(out["ok"], out)
        self.assertEqual(out["code"], "unsupported_version", out)
        self.assertIn("SYNC: RDB offset 0: RDB version 99 is not supported",
                      out["error"])
        self.assert_no_backup("newer-rdb")
        # Found at the very end (the EOF opcode made an unknown type),
        # after many small objects were written: they go, then scan.
        probe = self.backup("probe", "rdb")["result"]
        eof_at = probe["rdb_bytes"] - 40 - 9  # before the mark and CRC
        p = Proxy(self.src.port, patch={eof_at: 99})
        try:
            out = self.backup("late", "auto", address=p.address,
                              split_bytes=65536)
        finally:
            p.close()
        self.assertTrue(p.acted)
        self.assertTrue(out["ok"], out)
        r = out["result"]
        self.assertEqual(r["method"], "scan")
        self.assertIn("unknown value type 99", r["fallback"])
        self.assertEqual(r["digest"], probe["digest"])
        left = sorted(os.listdir(os.path.join(self.tmp, "store", "late")))
        self.assertEqual(len(left), r["objects"], left)  # nothing stale
        v = run_job({"op": "redis_verify", "store": self.store,
                     "manifest_key": r["manifest_key"],
                     "manifest_sha256": r["manifest_sha256"]})
        self.assertTrue(v["ok"], v)

    def test_6_bad_method(self):
        out = self.backup("bad", "fork")
        self.assertFalse(out["ok"], out)
        self.assertEqual(out["error"],
                         "redis_backup: \"method\" must be auto, rdb or scan")
        self.assert_no_backup("bad")

    def test_7_server_with_the_default_delay(self):
        # A server left at repl-diskless-sync-delay 5 forks after the wait:
        # slower, and still one snapshot taken after the job started.
        s = self.server(extra_args=["--repl-diskless-sync-delay", "5"])
        c = s.client()
        c.command("SET", "x", "1")
        c.close()
        t0 = time.time() * 1000
        out = self.backup("delay", "rdb", address=s.address)
        self.assertTrue(out["ok"], out)
        self.assertGreaterEqual(out["result"]["snapshot_time_ms"], t0 + 4000)

    def test_8_rdb_file_for_a_server_about_to_start(self):
        out = self.backup("file", "rdb")
        self.assertTrue(out["ok"], out)
        r = out["result"]
        d = tempfile.mkdtemp(prefix="rdbfile-", dir=self.tmp)
        path = os.path.join(d, "dump.rdb")
        spec = {"op": "redis_restore", "store": self.store,
                "manifest_key": r["manifest_key"],
                "manifest_sha256": r["manifest_sha256"], "rdb_file": path}
        out = run_job(spec)
        self.assertTrue(out["ok"], out)
        self.assertEqual(out["result"]["keys"], r["keys"])
        self.assertEqual(out["result"]["rdb_version"], r["rdb_version"])
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        self.assertEqual(sorted(os.listdir(d)), ["dump.rdb"])
        # A server started on it holds every key, byte for byte.
        s = self.server(extra_args=["--dir", d, "--dbfilename", "dump.rdb"])
        same_data(self, snapshot(s), snapshot(self.src))
        s.stop()
        # There already: refused unless clean; clean replaces it whole.
        before = os.stat(path).st_ino
        out = run_job(spec)
        self.assertFalse(out["ok"], out)
        self.assertEqual(out["code"], "already_exists", out)
        self.assertIn("set \"clean\" to replace it", out["error"])
        out = run_job(dict(spec, clean=True, db=3))
        self.assertTrue(out["ok"], out)
        self.assertNotEqual(os.stat(path).st_ino, before)
        s = self.server(extra_args=["--dir", d, "--dbfilename", "dump.rdb"])
        same_data(self, snapshot(s, db=3), snapshot(self.src))
        s.stop()
        # A damaged object: no file, not even half of one.
        os.unlink(path)
        objs = sorted(f for f in os.listdir(os.path.join(self.tmp, "store",
                                                          "file"))
                      if f.startswith("data-"))
        victim = os.path.join(self.tmp, "store", "file", objs[-1])
        with open(victim, "r+b") as f:
            f.seek(os.path.getsize(victim) // 2)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0x5a]))
        out = run_job(spec)
        self.assertFalse(out["ok"], out)
        self.assertEqual(out["code"], "corrupt", out)
        self.assertEqual(os.listdir(d), [])
        # Bad input: both targets, or no path.
        for bad in (dict(spec, redis=self.src.address), dict(spec, rdb_file=""),
                    dict(spec, rdb_file=7)):
            out = run_job(bad)
            self.assertFalse(out["ok"], out)
            self.assertEqual(out["code"], "invalid_argument", out)
            self.assertIn("\"rdb_file\" must be a path", out["error"])


if __name__ == "__main__":
    drtest.main()
