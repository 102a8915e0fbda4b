"""redis_backup / redis_restore / redis_verify through `drnode --run-job`
against real redis-servers on loopback: a round trip of every key type
(byte-exact DUMP, TTLs), and the faults: damaged, missing and truncated
objects, an undecodable manifest, Redis dying or hanging mid-backup, a wrong
password, an unreachable Redis."""

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import drtest  # noqa: E402

sys.dont_write_bytecode = True  # keep the source tree clean
import svc_redis  # noqa: E402
from svc_redis import RedisServer  # noqa: E402

DRNODE = drtest.drnode()
JOB_WAIT_S = 60.0
TTL_TOLERANCE_MS = 5000


def run_job(spec, timeout=JOB_WAIT_S):
    return drtest.run_job(spec, timeout)


class RedisBackupCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dr-redis-backup-")
        cls.store = "file://" + os.path.join(cls.tmp, "store")
        os.mkdir(os.path.join(cls.tmp, "store"))
        cls.src = RedisServer().start()
        cls.dst = RedisServer().start()
        cls.populate(cls.src.client())
        # One backup that the fault tests damage copies of.
        out = run_job({"op": "redis_backup", "redis": cls.src.address,
                       "prefix": "base", "store": cls.store,
                       "split_bytes": 1 << 20})
        assert out["ok"], out
        cls.base = out["result"]
        cls.shas = {"base": cls.base["manifest_sha256"]}

    @classmethod
    def tearDownClass(cls):
        cls.src.stop()
        cls.dst.stop()
        svc_redis.kill_all()
        if not os.environ.get("DRCLUSTER_KEEP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # Data

    BIG = random.Random(7).randbytes(3 << 20)

    @classmethod
    def populate(cls, c):
        cmds = [("SET", "k:%05d" % i, "v%d" % i) for i in range(50000)]
        cmds += [
            ("SET", "str", "hello"),
            ("SET", "ttl:str", "soon", "PX", 600000),
            ("HSET", "hash", "f1", "v1", "f2", b"\x00\xff\x00"),
            ("RPUSH", "list", "a", "b", "c", b"\x00"),
            ("SADD", "set", "x", "y", "z"),
            ("ZADD", "zset", 1, "one", 2.5, "two"),
            ("HSET", "ttl:hash", "f", "v"),
            ("PEXPIRE", "ttl:hash", 900000),
            ("XADD", "stream", "1-1", "field", "value"),
            ("XADD", "stream", "2-1", "field", b"\xc3\x28"),
            ("XADD", "stream", "3-1", "n", "3"),
            ("XGROUP", "CREATE", "stream", "grp", "0"),
            ("XREADGROUP", "GROUP", "grp", "consumer", "COUNT", 1, "STREAMS",
             "stream", ">"),
            ("SET", b"bin\x00key\xff\xfe", b"val\x00ue\x80\x81"),
            ("SET", b"\xff", b""),
            ("SET", "big", cls.BIG),
            ("SADD", "bigset", *range(1000)),
            ("HSET", "bighash", *[x for i in range(2000)
                                  for x in ("f%d" % i, "v" * 50)]),
        ]
        for r in c.pipeline(cmds):
            assert not isinstance(r, svc_redis.RedisError), r
        c.close()

    def snapshot(self, server):
        """key -> (DUMP payload, PTTL) for every key. Hash-table encoded
        sets and hashes (RDB types 2 and 4) DUMP their members in table
        order, which differs between servers: those compare by content."""
        c = server.client()
        keys = sorted(c.all_keys())
        replies = c.pipeline([x for k in keys
                              for x in (("DUMP", k), ("PTTL", k))])
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

    def assert_same(self, want, got, apart_ms=0):
        """got as want, a TTL apart by at most the time between the two
        reads (apart_ms: a restore on a loaded machine can take longer
        than the tolerance) plus TTL_TOLERANCE_MS."""
        self.assertEqual(sorted(want), sorted(got))
        for k, (payload, ttl) in want.items():
            self.assertEqual(got[k][0], payload, "DUMP of %r differs" % k)
            if ttl < 0:
                self.assertEqual(got[k][1], ttl, "TTL of %r" % k)
            else:
                self.assertLess(abs(got[k][1] - ttl),
                                TTL_TOLERANCE_MS + apart_ms,
                                "TTL of %r: %d vs %d" % (k, got[k][1], ttl))

    def backup_copy(self, name):
        """A fresh backup of src under prefix name (manifests name their
        objects by full key, so a copied directory would not do)."""
        out = run_job({"op": "redis_backup", "redis": self.src.address,
                       "prefix": name, "store": self.store,
                       "split_bytes": 1 << 20})
        self.assertTrue(out["ok"], out)
        self.shas[name] = out["result"]["manifest_sha256"]
        return os.path.join(self.tmp, "store", name)

    def spec(self, op, prefix, sha=None, **kw):
        s = {"op": op, "manifest_key": prefix + "/manifest.pb",
             "manifest_sha256": sha or self.shas[prefix],
             "store": self.store}
        s.update(kw)
        return s

    def fill_dst_sentinel(self):
        c = self.dst.client()
        c.command("FLUSHALL")
        c.command("SET", "sentinel", "untouched")
        c.close()

    def assert_dst_sentinel_only(self):
        c = self.dst.client()
        self.assertEqual(c.all_keys(), {b"sentinel"})
        self.assertEqual(c.command("GET", "sentinel"), b"untouched")
        c.close()

    # Tests

    def test_round_trip(self):
        r = self.base
        self.assertEqual(r["keys"], 50000 + 13)
        self.assertEqual(r["types"], {"string": 50005, "hash": 3, "list": 1,
                                      "set": 2, "zset": 1, "stream": 1})
        self.assertEqual(r["expiring_keys"], 2)
        self.assertGreater(r["objects"], 3, "split_bytes should split")
        self.assertEqual(len(r["manifest_sha256"]), 64)
        t_want = time.monotonic()
        want = self.snapshot(self.src)

        c = self.dst.client()
        c.command("FLUSHALL")
        c.command("SET", "left-over", "x")
        c.close()
        out = run_job(self.spec("redis_restore", "base",
                                redis=self.dst.address, clean=True))
        self.assertTrue(out["ok"], out)
        self.assertEqual(out["result"]["keys"], r["keys"])
        v = out["result"]["verify"]
        self.assertEqual((v["matched"], v["mismatched"], v["missing"],
                          v["extra"]), (r["keys"], 0, 0, 0))
        got = self.snapshot(self.dst)
        self.assert_same(want, got, (time.monotonic() - t_want) * 1000)

        out = run_job(self.spec("redis_verify", "base",
                                redis=self.dst.address))
        self.assertTrue(out["ok"], out)
        res = out["result"]
        self.assertEqual(res["keys"], r["keys"])
        self.assertEqual(res["digest"], r["digest"])
        self.assertTrue(all(o["ok"] for o in res["objects"]))
        self.assertEqual(len(res["objects"]), r["objects"] - 1)

        # A backup of the restored copy has the same digest.
        out = run_job({"op": "redis_backup", "redis": self.dst.address,
                       "prefix": "again", "store": self.store})
        self.assertTrue(out["ok"], out)
        self.assertEqual(out["result"]["digest"], r["digest"])

        # Verify names what differs, what is missing and what is extra.
        c = self.dst.client()
        c.command("SET", "k:00007", "changed")
        c.command("DEL", b"bin\x00key\xff\xfe")
        c.command("SET", "new-key", "x")
        c.close()
        out = run_job(self.spec("redis_verify", "base",
                                redis=self.dst.address))
        self.assertFalse(out["ok"])
        self.assertEqual(out["code"], "corrupt")
        self.assertIn("1 keys differ, 1 missing, 1 extra", out["error"])
        res = out["result"]
        self.assertEqual(res["mismatched_keys"], ["k:00007"])
        self.assertEqual(res["missing_keys"], ["bin\\x00key\\xff\\xfe"])
        self.assertEqual(res["extra_keys"], ["new-key"])

        # A non-empty target is refused unless clean, and left alone.
        out = run_job(self.spec("redis_restore", "base",
                                redis=self.dst.address))
        self.assertEqual(out["code"], "conflict", out)
        self.assertIn("holds %d keys" % r["keys"], out["error"])
        c = self.dst.client()
        self.assertEqual(c.command("GET", "k:00007"), b"changed")
        c.close()

    def test_verify_without_redis(self):
        out = run_job(self.spec("redis_verify", "base"))
        self.assertTrue(out["ok"], out)
        self.assertNotIn("mismatched_keys", out["result"])

    def damaged(self, name, damage):
        d = self.backup_copy(name)
        data = sorted(f for f in os.listdir(d) if f.startswith("data-"))
        path = os.path.join(d, data[1])
        damage(path)
        return name, "%s/%s" % (name, data[1])

    def assert_refused(self, prefix, obj, code, text):
        out = run_job(self.spec("redis_verify", prefix))
        self.assertFalse(out["ok"])
        self.assertEqual(out["code"], code, out)
        self.assertIn("object %s: %s" % (obj, text), out["error"])
        bad = [o for o in out["result"]["objects"] if not o["ok"]]
        self.assertEqual([o["key"] for o in bad], [obj], out)
        self.fill_dst_sentinel()
        out = run_job(self.spec("redis_restore", prefix,
                                redis=self.dst.address, clean=True))
        self.assertFalse(out["ok"])
        self.assertEqual(out["code"], code, out)
        self.assertIn("object %s: %s" % (obj, text), out["error"])
        self.assert_dst_sentinel_only()

    def test_flipped_byte(self):
        def flip(path):
            with open(path, "r+b") as f:
                f.seek(os.path.getsize(path) // 2)
                b = f.read(1)
                f.seek(-1, 1)
                f.write(bytes([b[0] ^ 0x01]))
        prefix, obj = self.damaged("flipped", flip)
        self.assert_refused(prefix, obj, "corrupt", "SHA-256 mismatch")

    def test_truncated_object(self):
        def truncate(path):
            os.truncate(path, os.path.getsize(path) - 100)
        prefix, obj = self.damaged("truncated", truncate)
        self.assert_refused(prefix, obj, "corrupt", "SHA-256 mismatch")

    def test_missing_object(self):
        prefix, obj = self.damaged("missing", os.unlink)
        self.assert_refused(prefix, obj, "not_found", "not found")

    def test_missing_key_index(self):
        d = self.backup_copy("noindex")
        os.unlink(os.path.join(d, "keys.zst"))
        self.assert_refused("noindex", "noindex/keys.zst", "not_found",
                            "not found")

    def test_bad_manifest(self):
        d = self.backup_copy("badmanifest")
        garbage = b"\x0a\xff\xff\xff\xff\x0fnot a manifest"
        with open(os.path.join(d, "manifest.pb"), "wb") as f:
            f.write(garbage)
        import hashlib
        sha = hashlib.sha256(garbage).hexdigest()
        for op in ("redis_verify", "redis_restore"):
            self.fill_dst_sentinel()
            out = run_job(self.spec(op, "badmanifest", sha=sha,
                                    redis=self.dst.address, clean=True))
            self.assertEqual(out["code"], "malformed", out)
            self.assertIn("manifest: not a Redis snapshot manifest",
                          out["error"])
            self.assert_dst_sentinel_only()
        # The right bytes with the wrong expected SHA-256.
        out = run_job(self.spec("redis_restore", "base", sha="0" * 64,
                                redis=self.dst.address, clean=True))
        self.assertEqual(out["code"], "corrupt", out)
        self.assertIn("base/manifest.pb", out["error"])
        self.assert_dst_sentinel_only()

    def test_existing_backup_not_overwritten(self):
        out = run_job({"op": "redis_backup", "redis": self.src.address,
                       "prefix": "base", "store": self.store})
        self.assertEqual(out["code"], "already_exists", out)
        self.assertIn("base/manifest.pb: a backup already exists",
                      out["error"])

    def test_empty_database(self):
        out = run_job({"op": "redis_backup", "redis": self.src.address,
                       "db": 5, "prefix": "empty", "store": self.store})
        self.assertTrue(out["ok"], out)
        self.assertEqual(out["result"]["keys"], 0)
        out = run_job(self.spec("redis_verify", "empty",
                                sha=out["result"]["manifest_sha256"],
                                redis=self.src.address))
        self.assertTrue(out["ok"], out)
        self.assertEqual(out["result"]["keys"], 0)


class RedisFaultCase(unittest.TestCase):
    """Redis itself misbehaving: each test has its own server."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="dr-redis-fault-")
        os.mkdir(os.path.join(self.tmp, "store"))
        self.store = "file://" + os.path.join(self.tmp, "store")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        if not os.environ.get("DRCLUSTER_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def server(self, **kw):
        s = RedisServer(**kw).start()
        self.servers.append(s)
        return s

    def assert_no_backup(self, prefix):
        d = os.path.join(self.tmp, "store", prefix)
        left = os.listdir(d) if os.path.isdir(d) else []
        self.assertNotIn("manifest.pb", left)
        self.assertEqual([f for f in left if not f.startswith(".")], [],
                         "objects left behind: %r" % left)

    def test_redis_killed_mid_backup(self):
        s = self.server()
        c = s.client()
        c.command("DEBUG", "POPULATE", 400000, "key", 300)
        # SCAN + DUMP (test_redis_rdb.py cuts an RDB transfer short).
        spec = {"op": "redis_backup", "redis": s.address, "prefix": "dies",
                "store": self.store, "split_bytes": 8 << 20,
                "method": "scan"}
        p = subprocess.Popen([DRNODE, "--run-job"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
        p.stdin.write(json.dumps(spec).encode())
        p.stdin.close()
        # Wait until the job is dumping keys, then kill -9 the server.
        deadline = time.monotonic() + 10
        busy = False
        while time.monotonic() < deadline and not busy:
            for line in c.command("CLIENT", "LIST").decode().splitlines():
                f = dict(kv.split("=", 1) for kv in line.split(" ")
                         if "=" in kv)
                if f.get("cmd") in ("dump", "pttl", "scan") and \
                        f.get("id") != str(c.command("CLIENT", "ID")):
                    busy = True
            if not busy:
                time.sleep(0.005)
        self.assertTrue(busy, "the backup never reached DUMP")
        t0 = time.monotonic()
        s.kill9()
        p.wait(timeout=JOB_WAIT_S)
        out = p.stdout.read()
        p.stdout.close()
        self.assertEqual(p.returncode, 1, out)
        self.assertLess(time.monotonic() - t0, 5)
        res = json.loads(out)
        self.assertEqual(res["code"], "unavailable", res)
        self.assertRegex(res["error"], r"^redis_backup: redis %s: "
                         r"(DUMP|PTTL|SCAN): (connection closed by the "
                         r"server|Connection reset by peer)" % s.address)
        self.assert_no_backup("dies")
        c.close()

    def test_redis_hangs(self):
        s = self.server()
        c = s.client()
        c.command("SET", "a", "b")
        c.command("CLIENT", "PAUSE", 4000, "ALL")
        t0 = time.monotonic()
        out = run_job({"op": "redis_backup", "redis": s.address,
                       "prefix": "hang", "store": self.store,
                       "timeout_ms": 500})
        took = time.monotonic() - t0
        self.assertEqual(out["code"], "timeout", out)
        self.assertRegex(out["error"], r"^redis_backup: redis %s: \w+: timed "
                         r"out after 500 ms$" % s.address)
        self.assertLess(took, 3.0)
        self.assert_no_backup("hang")
        c.close()

    def test_password(self):
        s = self.server(password="s3cret-pw")
        good = os.path.join(self.tmp, "good")
        bad = os.path.join(self.tmp, "bad")
        for path, pw in ((good, "s3cret-pw\n"), (bad, "wrong-pw")):
            with open(path, "w") as f:
                os.fchmod(f.fileno(), 0o600)
                f.write(pw)
        spec = {"op": "redis_backup", "redis": s.address, "prefix": "pw",
                "store": self.store}
        out = run_job(spec)
        self.assertEqual(out["code"], "unauthorized", out)
        self.assertIn("NOAUTH", out["error"])
        out = run_job(dict(spec, redis_password_file=bad))
        self.assertEqual(out["code"], "unauthorized", out)
        self.assertRegex(out["error"], r"^redis_backup: redis %s: AUTH: "
                         r"WRONGPASS" % s.address)
        self.assertNotIn("wrong-pw", json.dumps(out))
        os.chmod(good, 0o640)
        out = run_job(dict(spec, redis_password_file=good))
        self.assertEqual(out["code"], "invalid_argument", out)
        self.assertIn("readable by group or others", out["error"])
        os.chmod(good, 0o600)
        out = run_job(dict(spec, redis_password_file=good))
        self.assertTrue(out["ok"], out)
        self.assertNotIn("s3cret", json.dumps(out))

    def test_unreachable(self):
        port = svc_redis.free_port()
        t0 = time.monotonic()
        out = run_job({"op": "redis_backup", "redis": "127.0.0.1:%d" % port,
                       "prefix": "closed", "store": self.store})
        self.assertLess(time.monotonic() - t0, 3.0)
        self.assertEqual(out["code"], "unavailable", out)
        self.assertEqual(out["error"], "redis_backup: redis 127.0.0.1:%d: "
                         "connect: Connection refused" % port)
        out = run_job({"op": "redis_backup", "redis": "localhost:6379",
                       "prefix": "dns", "store": self.store})
        self.assertEqual(out["code"], "invalid_argument", out)
        self.assertIn("host must be an IP address", out["error"])
        self.assert_no_backup("closed")


if __name__ == "__main__":
    drtest.main()
