"""The RFC 2136 DNS provider (node/dns, driven by tests/tools/dnstool)
against a real Knot DNS on loopback: a TSIG-signed update replaces the
name's records, the server's signed answer is verified, and the records are
confirmed by querying; a wrong secret, an unknown key, a name outside the
zone and an unreachable server each fail with the reason."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import drtest  # noqa: E402

sys.dont_write_bytecode = True
import svc_knot  # noqa: E402

TOOLS = os.environ.get("DR_TOOLS") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tests")
DNSTOOL = os.path.join(TOOLS, "dnstool")
ZONE = "dr.test."
NAME = "app." + ZONE


@unittest.skipIf(svc_knot.available() is not None,
                 svc_knot.available() or "")
class Rfc2136Test(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.knot = svc_knot.Knot(ZONE).start()
        cls.tmp = tempfile.mkdtemp(prefix="drdns-")
        cls.key = cls.knot.key_file(os.path.join(cls.tmp, "key"))

    @classmethod
    def tearDownClass(cls):
        cls.knot.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tool(self, *args, key=None, server=None):
        cmd = [DNSTOOL, "--provider", "rfc2136", "--zone", ZONE,
               "--update-server", server or self.knot.server,
               "--tsig-key-file", key or self.key,
               "--servers", self.knot.server, "--timeout-ms", "3000"]
        p = subprocess.run(cmd + list(args), capture_output=True, text=True,
                           timeout=30)
        return p.returncode, p.stdout, p.stderr

    def ok(self, *args, **kw):
        rc, out, err = self.tool(*args, **kw)
        self.assertEqual(rc, 0, err)
        return out

    def fails(self, *args, **kw):
        rc, out, err = self.tool(*args, **kw)
        self.assertEqual(rc, 1, out + err)
        self.assertTrue(err.startswith("dnstool: "), err)
        return err

    def test_publish_replace_and_remove(self):
        self.ok("--txt", "dr-epoch=7 primary=us-east", "publish", NAME,
                "127.0.0.12,127.0.0.13")
        self.assertEqual(self.knot.query(NAME), ["127.0.0.12", "127.0.0.13"])
        self.assertEqual(self.knot.query(NAME, "TXT"),
                         ['"dr-epoch=7', 'primary=us-east"'])
        # A second update replaces, never adds.
        self.ok("--txt", "dr-epoch=8 primary=eu-west", "publish", NAME,
                "127.0.0.11")
        self.assertEqual(self.knot.query(NAME), ["127.0.0.11"])
        self.assertEqual(self.knot.query(NAME, "TXT"),
                         ['"dr-epoch=8', 'primary=eu-west"'])
        # IPv6, then a CNAME that stands alone (the TXT goes with the A).
        self.ok("publish", "v6." + ZONE, "fd00::12,fd00::13")
        self.assertEqual(self.knot.query("v6." + ZONE, "AAAA"),
                         ["fd00::12", "fd00::13"])
        self.ok("--txt", "ignored beside a CNAME", "publish", NAME,
                "us-east.example.net")
        self.assertEqual(self.knot.query(NAME, "CNAME"),
                         ["us-east.example.net."])
        # (A TXT query there is answered with the CNAME alone.)
        self.assertEqual(self.knot.query(NAME, "TXT"),
                         ["us-east.example.net."])
        self.ok("remove", NAME)
        self.assertEqual(self.knot.query(NAME, "CNAME"), [])
        self.assertEqual(self.knot.query(NAME), [])

    def test_refusals_name_the_reason_and_change_nothing(self):
        self.ok("publish", "keep." + ZONE, "127.0.0.21")
        bad = self.knot.key_file(os.path.join(self.tmp, "bad"),
                                 secret="A" * 43 + "=")
        err = self.fails("publish", "keep." + ZONE, "127.0.0.99", key=bad)
        self.assertIn("TSIG BADSIG (wrong secret)", err)
        self.assertNotIn(self.knot.secret, err)
        other = self.knot.key_file(os.path.join(self.tmp, "other"),
                                   name="other-key.")
        err = self.fails("publish", "keep." + ZONE, "127.0.0.99", key=other)
        self.assertIn("TSIG BADKEY (unknown key name)", err)
        err = self.fails("publish", "app.elsewhere.test.", "127.0.0.99")
        self.assertIn("refused: rcode 10 NOTZONE", err)
        self.assertEqual(self.knot.query("keep." + ZONE), ["127.0.0.21"])
        # Nobody answers: the update is sent again, then it gives up.
        err = self.fails("publish", "keep." + ZONE, "127.0.0.99",
                         server="127.0.0.1:%d" % svc_knot.free_port())
        self.assertIn("did not answer the update of keep.%s within 3000 ms"
                      % ZONE, err)
        # Bad input, before anything is sent.
        err = self.fails("publish", "keep." + ZONE, "127.0.0.1,fd00::1")
        self.assertIn("dns_targets mix IPv4 and IPv6 addresses", err)
        err = self.fails("publish", "keep." + ZONE, "127.0.0.1",
                         server="localhost")
        self.assertIn("is not an IPv4 host:port", err)
        with open(os.path.join(self.tmp, "junk"), "w") as f:
            f.write("hmac-md5:k.:c2VjcmV0\n")
        rc, _, err = self.tool("publish", NAME, "127.0.0.1",
                               key=os.path.join(self.tmp, "junk"))
        self.assertEqual(rc, 1)
        self.assertIn('algorithm "hmac-md5" is not supported', err)
        self.assertEqual(self.knot.query("keep." + ZONE), ["127.0.0.21"])


if __name__ == "__main__":
    if not os.path.exists(DNSTOOL):
        sys.exit("dnstool not found at %s (set DR_TOOLS)" % DNSTOOL)
    drtest.main()
