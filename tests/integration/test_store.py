"""The object-store layer through storetool: s3:// against moto_server (with
signature checking on), fake S3 servers for retries, resumes and timeouts,
the SigV4 signer against botocore, and the file:// backend."""

import hashlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import drtest  # noqa: E402
from concurrent.futures import ThreadPoolExecutor

sys.dont_write_bytecode = True  # keep the source tree clean
import svc_imds  # noqa: E402
import svc_s3  # noqa: E402

TOOLS = os.environ.get("DR_TOOLS") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tests")
STORETOOL = os.path.join(TOOLS, "storetool")
MiB = 1 << 20


def run(args, env=None, timeout=120):
    """storetool args -> (exit code, stdout bytes, stderr text)."""
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("AWS_"):
            del e[k]
    # Never the real instance metadata (link-local, off loopback): the IMDS
    # tests point AWS_EC2_METADATA_SERVICE_ENDPOINT at a stand-in instead.
    e["AWS_EC2_METADATA_DISABLED"] = "true"
    e.update(env or {})
    p = subprocess.run([STORETOOL] + list(args), env=e, capture_output=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def sha(data):
    return hashlib.sha256(data).hexdigest()


class ToolCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="drstore-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def file(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def ok(self, args, env=None):
        rc, out, err = run(args, env)
        self.assertEqual(rc, 0, "storetool %s: %s" % (" ".join(args), err))
        return out

    def fails(self, args, code, env=None, timeout=120):
        rc, out, err = run(args, env, timeout)
        self.assertEqual(rc, 1, "storetool %s should fail: rc %d out %r err "
                         "%s" % (" ".join(args), rc, out[:200], err))
        self.assertTrue(err.startswith("storetool: %s: " % code), err)
        self.assertEqual(err.count("\n"), 1, err)
        return err

    def round_trip(self, url, env, key, data, extra=()):
        path = self.file("in", data)
        out = self.ok(list(extra) + [url, "put", key, path], env).decode()
        self.assertEqual(out, "%s %d\n" % (sha(data), len(data)))
        dst = os.path.join(self.tmp, "out")
        self.ok([url, "get", key, sha(data), dst], env)
        with open(dst, "rb") as f:
            self.assertEqual(f.read(), data)
        head = json.loads(self.ok([url, "head", key], env))
        self.assertEqual(head["key"], key)
        self.assertEqual(head["size"], len(data))
        self.assertGreater(head["mtime_ms"], 1500000000000)
        self.assertEqual(self.ok([url, "sha", key], env).decode(),
                         "%s %d\n" % (sha(data), len(data)))

    def zio_round_trip(self, url, env, key, data):
        path = self.file("zin", data)
        st = json.loads(self.ok([url, "zput", key, path], env))
        self.assertEqual(st["raw_bytes"], len(data))
        self.assertEqual(st["raw_sha256"], sha(data))
        dst = os.path.join(self.tmp, "zout")
        rc, _, err = run([url, "zget", key, st["stored_sha256"], dst], env)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(err), st)
        with open(dst, "rb") as f:
            self.assertEqual(f.read(), data)
        return st


@unittest.skipIf(svc_s3.available() is not None, svc_s3.available() or "")
class TestS3Moto(ToolCase):
    @classmethod
    def setUpClass(cls):
        # Parts of 1 MiB keep the multipart path quick to exercise.
        cls.s3 = svc_s3.MotoS3(part_min_size=MiB).start()
        cls.env = cls.s3.env()

    @classmethod
    def tearDownClass(cls):
        cls.s3.stop()

    def test_round_trip_small(self):
        url = self.s3.url("small")
        self.round_trip(url, self.env, "a/b/hello.txt", b"hello, world\n")
        self.round_trip(url, self.env, "empty", b"")
        # The prefix is part of the real key.
        head = self.s3.client().head_object(Bucket=self.s3.bucket,
                                            Key="small/a/b/hello.txt")
        self.assertEqual(head["ContentLength"], 13)

    def test_round_trip_multipart(self):
        url = self.s3.url("mp")
        data = os.urandom(3 * MiB + 12345)
        self.round_trip(url, self.env, "big.bin", data,
                        extra=["--part-bytes", str(MiB)])
        etag = self.s3.client().head_object(Bucket=self.s3.bucket,
                                            Key="mp/big.bin")["ETag"]
        self.assertTrue(etag.endswith('-4"'), etag)  # four parts
        # Exactly one part's worth: a single PUT.
        data = os.urandom(MiB)
        self.round_trip(url, self.env, "one.bin", data,
                        extra=["--part-bytes", str(MiB)])
        etag = self.s3.client().head_object(Bucket=self.s3.bucket,
                                            Key="mp/one.bin")["ETag"]
        self.assertNotIn("-", etag)
        # No multipart upload is left behind.
        ups = self.s3.client().list_multipart_uploads(Bucket=self.s3.bucket)
        self.assertEqual(ups.get("Uploads", []), [])

    def test_zio(self):
        data = b"".join(b"row %d,agent-%d,ok\n" % (i, i % 7)
                        for i in range(200000))
        st = self.zio_round_trip(self.s3.url("z"), self.env, "t.zst", data)
        self.assertLess(st["stored_bytes"], len(data) // 4)
        err = self.fails([self.s3.url("z"), "zget", "t.zst", "0" * 64,
                          os.path.join(self.tmp, "x")], "corrupt", self.env)
        self.assertIn("object t.zst: SHA-256 mismatch (expected 000", err)

    def test_sha_mismatch(self):
        url = self.s3.url("mm")
        self.ok([url, "put", "k", self.file("k", b"original")], self.env)
        err = self.fails([url, "get", "k", sha(b"other"), os.devnull],
                         "corrupt", self.env)
        self.assertIn("object k: SHA-256 mismatch (expected %s, got %s)"
                      % (sha(b"other"), sha(b"original")), err)

    def test_not_found_and_delete(self):
        url = self.s3.url("del")
        self.ok([url, "put", "x/y", self.file("y", b"y")], self.env)
        self.ok([url, "delete", "x/y"], self.env)
        err = self.fails([url, "head", "x/y"], "not_found", self.env)
        self.assertIn("object x/y: not found in s3://drtest/del", err)
        err = self.fails([url, "get", "x/y"], "not_found", self.env)
        self.assertIn("object x/y: not found", err)
        self.ok([url, "delete", "x/y"], self.env)  # absent: fine
        err = self.fails(["s3://nosuchbucket/p?endpoint=%s" % self.s3.endpoint,
                          "get", "k"], "not_found", self.env)
        self.assertIn("bucket nosuchbucket not found", err)

    def test_list_pagination_over_1000(self):
        # A store at the bucket's root with flat keys: no '/' in the query
        # (see MotoS3.set_verify), so moto checks every signature.
        c = self.s3.client()
        keys = ["many-%05d" % i for i in range(1005)]
        with ThreadPoolExecutor(8) as ex:
            list(ex.map(lambda k: c.put_object(Bucket=self.s3.bucket, Key=k,
                                               Body=k.encode()), keys))
        url = "s3://%s?endpoint=%s" % (self.s3.bucket, self.s3.endpoint)
        rc, out, err = run([url, "list", "many-"], self.env)
        self.assertEqual(rc, 0, err)
        lines = out.decode().splitlines()
        self.assertEqual(lines, ["%s 10" % k for k in keys])
        self.assertIn("pages 2", err)
        rc, out, err = run([url, "list", "many-0000", "3"], self.env)
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(out.decode().splitlines()), 10)
        self.assertIn("pages 4", err)

    def test_list_under_prefix(self):
        url = self.s3.url("lst/deep")
        keys = sorted(["a/1", "a/2", "a-b", "a.c", "b/x/y", "c"])
        for k in keys:
            self.ok([url, "put", k, self.file("f", k.encode())], self.env)
        self.s3.set_verify(False)  # '/' in the list query: moto limitation
        try:
            for page in ("1", "2", "1000"):
                rc, out, err = run([url, "list", "", page], self.env)
                self.assertEqual(rc, 0, err)
                self.assertEqual([ln.split()[0] for ln in
                                  out.decode().splitlines()], keys)
            rc, out, err = run([url, "list", "a/", "1"], self.env)
            self.assertEqual(out.decode().splitlines(), ["a/1 3", "a/2 3"])
        finally:
            self.s3.set_verify(True)

    def test_wrong_secret(self):
        url = self.s3.url("auth")
        self.ok([url, "put", "k", self.file("k", b"v")], self.env)
        bad = "wrongwrongwrongwrongwrongwrongwrongwrong"
        env = self.s3.env(secret=bad)
        for args in (["get", "k"], ["put", "k2", self.file("k2", b"v")],
                     ["list", ""]):
            err = self.fails([url] + args, "unauthorized", env)
            self.assertIn("access denied: HTTP 403 SignatureDoesNotMatch",
                          err)
            self.assertNotIn(bad, err)
            self.assertNotIn(self.s3.secret_access_key, err)
        err = self.fails([url, "head", "k"], "unauthorized", env)
        self.assertIn("object k in s3://drtest/auth: access denied: HTTP 403",
                      err)
        # An unknown key id is refused too.
        env = {"AWS_ACCESS_KEY_ID": "AKIANOTKNOWN0000000",
               "AWS_SECRET_ACCESS_KEY": bad}
        err = self.fails([url, "get", "k"], "unauthorized", env)
        self.assertIn("InvalidAccessKeyId", err)

    def test_credentials_file(self):
        url = self.s3.url("cred")
        path = self.s3.write_credentials(os.path.join(self.tmp, "creds"))
        self.ok(["--credentials", path, url, "put", "k",
                 self.file("k", b"v")])
        self.assertEqual(self.ok(["--credentials", path, url, "get", "k"]),
                         b"v")
        os.chmod(path, 0o640)
        err = self.fails(["--credentials", path, url, "get", "k"],
                         "invalid_argument")
        self.assertIn("credentials file %s: readable by group or others"
                      % path, err)
        bad = self.s3.write_credentials(os.path.join(self.tmp, "bad"),
                                        secret="nope" * 10)
        err = self.fails(["--credentials", bad, url, "get", "k"],
                         "unauthorized")
        self.assertIn("SignatureDoesNotMatch", err)
        err = self.fails([url, "get", "k"], "unauthorized", {})
        self.assertIn("no S3 credentials: give a credentials file or set "
                      "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", err)

    def test_server_side_copy(self):
        src = self.s3.url("cp-src")
        data = os.urandom(300000)
        self.ok([src, "put", "b/1/data.zst", self.file("d", data)], self.env)
        c = self.s3.client()
        c.create_bucket(Bucket="drtest-other")
        for dst in (self.s3.url("cp-dst"),
                    "s3://drtest-other/x?endpoint=%s&region=%s"
                    % (self.s3.endpoint, self.s3.region)):
            self.ok([dst, "copy", src, "b/1/data.zst", sha(data),
                     str(len(data))], self.env)
            # One PUT with x-amz-copy-source: moto copied and hashed it,
            # and nothing was read back through us.
            last = self.s3.log().strip().splitlines()[-1]
            self.assertRegex(last, r'"PUT /drtest[^ ]*/b/1/data.zst HTTP')
            self.assertEqual(self.ok([dst, "sha", "b/1/data.zst"], self.env)
                             .decode(), "%s %d\n" % (sha(data), len(data)))
        got = c.get_object(Bucket="drtest-other", Key="x/b/1/data.zst",
                           ChecksumMode="ENABLED")
        self.assertEqual(got["Body"].read(), data)
        # An empty object too.
        self.ok([src, "put", "empty", self.file("e", b"")], self.env)
        self.ok([self.s3.url("cp-dst"), "copy", src, "empty", sha(b""), "0"],
                self.env)

    def test_server_side_copy_in_parts(self):
        src = self.s3.url("cpp-src")
        dst = self.s3.url("cpp-dst")
        data = os.urandom(2 * MiB + 777)
        self.ok([src, "put", "big", self.file("b", data)], self.env)
        self.ok(["--copy-max", str(MiB), dst, "copy", src, "big", sha(data),
                 str(len(data))], self.env)
        etag = self.s3.client().head_object(Bucket=self.s3.bucket,
                                            Key="cpp-dst/big")["ETag"]
        self.assertTrue(etag.endswith('-3"'), etag)  # three UploadPartCopy
        self.assertEqual(self.ok([dst, "get", "big", sha(data)], self.env),
                         data)
        ups = self.s3.client().list_multipart_uploads(Bucket=self.s3.bucket)
        self.assertEqual(ups.get("Uploads", []), [])

    def test_server_side_copy_refuses_a_different_object(self):
        src = self.s3.url("cpx-src")
        dst = self.s3.url("cpx-dst")
        self.ok([src, "put", "k", self.file("k", b"changed since")], self.env)
        want = sha(b"what the manifest says")
        err = self.fails([dst, "copy", src, "k", want, "13"], "corrupt",
                         self.env)
        self.assertIn("object k: the copy in s3://drtest/cpx-dst has SHA-256 "
                      "%s... (13 bytes), not %s... (13 bytes): deleted"
                      % (sha(b"changed since")[:16], want[:16]), err)
        self.fails([dst, "head", "k"], "not_found", self.env)
        # In parts, the copy is read back: the same verdict.
        big = os.urandom(2 * MiB)
        self.ok([src, "put", "big", self.file("b", big)], self.env)
        err = self.fails(["--copy-max", str(MiB), dst, "copy", src, "big",
                          want, str(2 * MiB)], "corrupt", self.env)
        self.assertIn("object big: the copy in s3://drtest/cpx-dst has "
                      "SHA-256 %s..." % sha(big)[:16], err)
        self.fails([dst, "head", "big"], "not_found", self.env)
        err = self.fails([dst, "copy", src, "absent", want, "1"], "not_found",
                         self.env)
        self.assertIn("absent", err)
        # A file store and an s3 store cannot copy by themselves.
        err = self.fails(["file://" + self.tmp, "copy", src, "k", want, "13"],
                         "invalid_argument", self.env)
        self.assertIn("cannot copy from s3://drtest/cpx-src by itself", err)
        # Nor can two endpoints.
        other = "s3://drtest/cpx-dst?endpoint=http://127.0.0.2:%d" % (
            self.s3.port)
        err = self.fails([other, "copy", src, "k", want, "13"],
                         "invalid_argument", self.env)
        self.assertIn("by itself", err)

    def test_writer_told_the_hash(self):
        url = self.s3.url("known")
        data = b"x" * 1000
        out = self.ok([url, "putknown", "k", self.file("k", data), sha(data),
                       "1000"], self.env)
        self.assertEqual(out.decode(), "%s 1000\n" % sha(data))
        err = self.fails([url, "putknown", "short", self.file("s", data),
                          sha(data), "1001"], "corrupt", self.env)
        self.assertIn("1000 bytes written, 1001 expected: not committed", err)
        self.fails([url, "head", "short"], "not_found", self.env)
        err = self.fails([url, "putknown", "k2", self.file("s", data),
                          "nothex", "1000"], "invalid_argument", self.env)

    def test_bad_key_and_url(self):
        url = self.s3.url("bad")
        err = self.fails([url, "put", "../x", self.file("x", b"x")],
                         "invalid_argument", self.env)
        self.assertIn('invalid object key "../x"', err)
        err = self.fails(["s3://b/p?endpoint=ftp://x", "head", "k"],
                         "invalid_argument", self.env)
        self.assertIn("endpoint must start with http:// or https://", err)
        err = self.fails(["s3://b/p?secret=1", "head", "k"],
                         "invalid_argument", self.env)
        self.assertIn('unknown parameter "secret"', err)


class FakeS3(http.server.BaseHTTPRequestHandler):
    """Scripted answers; the server object carries .script(handler) and
    records the requests."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        self.server.requests.append((self.command, self.path,
                                     dict(self.headers)))
        self.server.script(self)

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = do_any


class FakeServer:
    def __init__(self, script):
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeS3)
        self.srv.script = script
        self.srv.requests = []
        self.srv.daemon_threads = True
        self.thread = threading.Thread(target=self.srv.serve_forever,
                                       daemon=True)

    @property
    def requests(self):
        return self.srv.requests

    def url(self):
        return "s3://bkt/p?endpoint=http://127.0.0.1:%d" % \
            self.srv.server_address[1]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.srv.shutdown()
        self.srv.server_close()


ENV = {"AWS_ACCESS_KEY_ID": "AKIAFAKE", "AWS_SECRET_ACCESS_KEY": "fake"}


class TestInstanceRole(ToolCase):
    """No file, no AWS_* keys: the instance role's credentials through
    IMDSv2 (a stand-in on loopback), against moto with signatures checked.
    """

    @classmethod
    def setUpClass(cls):
        why = svc_s3.available()
        if why:
            raise unittest.SkipTest(why)
        cls.s3 = svc_s3.MotoS3(part_min_size=MiB).start()

    @classmethod
    def tearDownClass(cls):
        cls.s3.stop()

    def imds(self, **kw):
        akid, secret, token = self.s3.role_credentials()
        kw.setdefault("akid", akid)
        kw.setdefault("secret", secret)
        kw.setdefault("token", token)
        return svc_imds.Imds(**kw)

    def env(self, imds):
        return {"AWS_EC2_METADATA_DISABLED": "",
                "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.endpoint}

    def test_role_credentials_sign_requests(self):
        url = self.s3.url("imds")
        with self.imds() as imds:
            self.ok([url, "put", "k", self.file("k", b"role")],
                    self.env(imds))
            self.assertEqual(self.ok([url, "get", "k"], self.env(imds)),
                             b"role")
            # IMDSv2: a session token first, then the role, then its keys,
            # every GET with the token; once per process.
            self.assertEqual([(m, p) for m, p, _ in imds.calls[:3]], [
                ("PUT", "/latest/api/token"),
                ("GET", "/latest/meta-data/iam/security-credentials/"),
                ("GET", "/latest/meta-data/iam/security-credentials/"
                        "drnode-coordinator")])
            self.assertTrue(all(v for _, _, v in imds.calls), imds.calls)
            self.assertEqual(imds.creds_fetches(), 2)  # two processes
        # The keys from IMDS are the ones that sign: a wrong secret there
        # is refused by S3.
        with self.imds(secret="not-the-secret" * 3) as imds:
            err = self.fails([url, "get", "k"], "unauthorized",
                             self.env(imds))
            self.assertIn("SignatureDoesNotMatch", err)
            self.assertNotIn("not-the-secret", err)

    def test_environment_first(self):
        url = self.s3.url("imds-env")
        with self.imds() as imds:
            env = dict(self.env(imds), **self.s3.env())
            self.ok([url, "put", "k", self.file("k", b"env")], env)
            self.assertEqual(imds.calls, [])

    def test_expiring_credentials_fetched_again(self):
        """Role credentials within 5 minutes of their expiry are fetched
        again before a request: a multipart upload asks more than once."""
        url = self.s3.url("imds-exp")
        data = os.urandom(3 * MiB)
        with self.imds(expires_in_s=120) as imds:
            self.ok(["--part-bytes", str(MiB), url, "put", "big",
                     self.file("big", data)], self.env(imds))
            self.assertGreaterEqual(imds.creds_fetches(), 3)
        with self.imds() as imds:
            self.ok(["--part-bytes", str(MiB), url, "put", "big2",
                     self.file("big2", data)], self.env(imds))
            self.assertEqual(imds.creds_fetches(), 1)

    def test_no_role_unreachable_disabled(self):
        url = self.s3.url("imds-none")
        with self.imds(role=None) as imds:
            err = self.fails([url, "get", "k"], "unauthorized",
                             self.env(imds))
            self.assertIn("no S3 credentials: no credentials file, no "
                          "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, and "
                          "instance metadata at %s: no IAM role attached"
                          % imds.endpoint, err)
        port = svc_s3.free_port()  # nothing listens there
        err = self.fails([url, "get", "k"], "unauthorized", {
            "AWS_EC2_METADATA_DISABLED": "",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:%d" % port})
        self.assertIn("instance metadata at http://127.0.0.1:%d: " % port, err)
        err = self.fails([url, "get", "k"], "unauthorized")
        self.assertIn("instance metadata not asked: "
                      "AWS_EC2_METADATA_DISABLED", err)


class TestS3Faults(ToolCase):
    def test_5xx_retried_then_unavailable(self):
        def script(h):
            body = (b"<Error><Code>SlowDown</Code><Message>Reduce your "
                    b"request rate.</Message></Error>")
            h.send_response(503)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        with FakeServer(script) as srv:
            t = time.monotonic()
            err = self.fails(["--retries", "2", srv.url(), "put", "k",
                              self.file("k", b"v")], "unavailable", ENV)
            self.assertIn("HTTP 503 SlowDown: Reduce your request rate.",
                          err)
            self.assertEqual(len(srv.requests), 3)
            self.assertLess(time.monotonic() - t, 10)
            # Every request was signed, with the payload's hash, no Expect.
            m, path, hdrs = srv.requests[0]
            self.assertEqual((m, path), ("PUT", "/bkt/p/k"))
            self.assertTrue(hdrs["Authorization"].startswith(
                "AWS4-HMAC-SHA256 Credential=AKIAFAKE/"))
            self.assertEqual(hdrs["X-Amz-Content-SHA256"], sha(b"v"))
            self.assertNotIn("Expect", hdrs)

    def test_5xx_then_success(self):
        calls = []

        def script(h):
            calls.append(1)
            if len(calls) < 3:
                h.send_response(500)
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            h.send_response(200)
            h.send_header("Content-Length", "2")
            h.end_headers()
            h.wfile.write(b"ok")
        with FakeServer(script) as srv:
            self.assertEqual(self.ok([srv.url(), "get", "k"], ENV), b"ok")
            self.assertEqual(len(srv.requests), 3)

    def test_get_resumes_after_a_cut(self):
        data = os.urandom(300000)

        def script(h):
            rng = h.headers.get("Range")
            if rng is None:
                h.send_response(200)
                h.send_header("Content-Length", str(len(data)))
                h.send_header("ETag", '"v1"')
                h.end_headers()
                h.wfile.write(data[:100000])
                h.wfile.flush()
                h.close_connection = True
                h.connection.shutdown(socket.SHUT_RDWR)
                return
            start = int(rng.split("=")[1].rstrip("-"))
            assert h.headers.get("If-Match") == '"v1"'
            h.send_response(206)
            h.send_header("Content-Length", str(len(data) - start))
            h.end_headers()
            h.wfile.write(data[start:])
        with FakeServer(script) as srv:
            out = self.ok([srv.url(), "get", "k", sha(data)], ENV)
            self.assertEqual(out, data)
            self.assertEqual(len(srv.requests), 2)
            self.assertIn("range", srv.requests[1][2]["Authorization"])

    def test_unreachable_endpoint(self):
        port = svc_s3.free_port()  # nothing listens there
        url = "s3://bkt/p?endpoint=http://127.0.0.1:%d" % port
        t = time.monotonic()
        err = self.fails(["--retries", "3", url, "get", "k"], "unavailable",
                         ENV, timeout=60)
        self.assertLess(time.monotonic() - t, 15)
        self.assertIn("object k in s3://bkt/p: cannot reach "
                      "http://127.0.0.1:%d" % port, err)
        self.assertIn("(4 attempts)", err)

    def test_silent_endpoint_times_out(self):
        lsn = socket.socket()
        lsn.bind(("127.0.0.1", 0))
        lsn.listen(16)  # accepts (in the backlog), never answers
        try:
            url = "s3://bkt/p?endpoint=http://127.0.0.1:%d" % \
                lsn.getsockname()[1]
            for cmd in (["get", "k"], ["head", "k"]):
                t = time.monotonic()
                err = self.fails(["--timeout-ms", "1500", url] + cmd,
                                 "timeout", ENV, timeout=60)
                self.assertLess(time.monotonic() - t, 10)
                self.assertIn("1500 ms", err)
        finally:
            lsn.close()


class TestSignerVsBotocore(unittest.TestCase):
    CASES = [
        ("GET", "/bkt/p/a/b.zst", "", {}),
        ("PUT", "/bkt/p/a/b.zst", "partNumber=3&uploadId=AbC%2Bd%3D",
         {"Content-Type": "application/octet-stream"}),
        ("POST", "/bkt/p/big", "uploads", {}),
        ("GET", "/bkt", "list-type=2&prefix=p%2Fa&start-after=p%2Fa%2Fb"
         "&max-keys=1000", {"X-Amz-Security-Token": "tok/en+=="}),
        ("GET", "/bkt/p/k", "", {"Range": "bytes=100-", "If-Match": '"e1"'}),
        ("DELETE", "/bkt/p/k", "uploadId=xyz", {}),
    ]

    def test_matches_botocore(self):
        try:
            from botocore.auth import S3SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials
        except ImportError:
            self.skipTest("botocore not installed")
        akid, secret = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
        date = "20240229T235959Z"
        for method, path, query, extra in self.CASES:
            for payload in (hashlib.sha256(b"").hexdigest(),
                            "UNSIGNED-PAYLOAD"):
                headers = {"Host": "127.0.0.1:9000", "X-Amz-Date": date,
                           "X-Amz-Content-SHA256": payload}
                headers.update(extra)
                url = "http://127.0.0.1:9000" + path + \
                    ("?" + query if query else "")
                req = AWSRequest(method=method, url=url, headers=headers)
                req.context["timestamp"] = date
                auth = S3SigV4Auth(Credentials(akid, secret), "s3",
                                   "eu-west-1")
                canon = auth.canonical_request(req)
                sts = auth.string_to_sign(req, canon)
                sig = auth.signature(sts, req)
                rc, out, err = run(
                    ["sign", method, path, query, date, "eu-west-1", payload]
                    + ["Expect:"]  # never signed
                    + ["%s:%s" % kv for kv in headers.items()],
                    {"AWS_ACCESS_KEY_ID": akid,
                     "AWS_SECRET_ACCESS_KEY": secret})
                self.assertEqual(rc, 0, err)
                got = json.loads(out)
                self.assertEqual(got["canonical_request"], canon)
                self.assertEqual(got["string_to_sign"], sts)
                self.assertTrue(got["authorization"].endswith(
                    "Signature=" + sig), (got, sig))


class TestFileStore(ToolCase):
    def test_file_backend(self):
        url = "file://" + os.path.join(self.tmp, "store")
        self.round_trip(url, None, "pg/1/base.bin", os.urandom(200000))
        self.round_trip(url, None, "empty", b"")
        self.zio_round_trip(url, None, "pg/1/t.zst", b"abc" * 100000)
        for i in range(12):
            self.ok([url, "put", "l/k%02d" % i, self.file("x", b"x")])
        rc, out, err = run([url, "list", "l/", "5"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.decode().splitlines(),
                         ["l/k%02d 1" % i for i in range(12)])
        self.assertIn("pages 3", err)
        err = self.fails([url, "get", "pg/1/base.bin", "0" * 64, os.devnull],
                         "corrupt")
        self.assertIn("object pg/1/base.bin: SHA-256 mismatch", err)
        # A flipped byte in a compressed object.
        st = json.loads(self.ok([url, "zput", "z", self.file(
            "z", b"hello " * 50000)]))
        path = os.path.join(self.tmp, "store", "z")
        with open(path, "r+b") as f:
            f.seek(st["stored_bytes"] // 2)
            b = f.read(1)
            f.seek(st["stored_bytes"] // 2)
            f.write(bytes([b[0] ^ 1]))
        err = self.fails([url, "zget", "z", st["stored_sha256"], os.devnull],
                         "corrupt")
        self.assertIn("object z: ", err)
        self.ok([url, "delete", "pg/1/base.bin"])
        self.fails([url, "head", "pg/1/base.bin"], "not_found")
        err = self.fails([url, "put", "a//b", self.file("x", b"x")],
                         "invalid_argument")
        self.assertIn('invalid object key "a//b": empty path segment', err)
        err = self.fails(["file://relative", "head", "k"], "invalid_argument")
        self.assertIn("want file:///absolute/dir", err)

    def test_file_to_file_copy(self):
        """Between two file stores the kernel copies and the bytes that
        landed are hashed: a copy that differs is never committed."""
        src = "file://" + os.path.join(self.tmp, "a")
        dst = "file://" + os.path.join(self.tmp, "b")
        data = os.urandom(20 * MiB + 3)  # several copy_file_range chunks
        self.ok([src, "put", "b/1/data", self.file("d", data)])
        self.ok([dst, "copy", src, "b/1/data", sha(data), str(len(data))])
        self.assertEqual(self.ok([dst, "get", "b/1/data", sha(data)]), data)
        self.ok([src, "put", "empty", self.file("e", b"")])
        self.ok([dst, "copy", src, "empty", sha(b""), "0"])
        # The manifest says other bytes: nothing under the key, no
        # temporary file left behind.
        other = sha(b"something else")
        err = self.fails([dst, "copy", src, "b/1/data", other,
                          str(len(data))], "corrupt")
        self.assertIn("has SHA-256 %s... (%d bytes), not %s...: not "
                      "committed" % (sha(data)[:16], len(data), other[:16]),
                      err)
        # (The earlier good copy of the key stays as it was.)
        self.assertEqual(self.ok([dst, "get", "b/1/data", sha(data)]), data)
        err = self.fails([dst, "copy", src, "b/2/x", other, "5"], "not_found")
        self.assertIn("object b/2/x: not found", err)
        self.fails([dst, "head", "b/2/x"], "not_found")
        err = self.fails([dst, "copy", src, "empty", sha(b""), "7"],
                         "corrupt")
        self.assertIn("has 0 bytes, the manifest says 7", err)
        self.assertEqual(os.listdir(os.path.join(
            self.tmp, "b", "#tmp-%d" % os.geteuid())), [])


if __name__ == "__main__":
    if not os.path.exists(STORETOOL):
        sys.exit("storetool not found at %s (set DR_TOOLS)" % STORETOOL)
    drtest.main()
