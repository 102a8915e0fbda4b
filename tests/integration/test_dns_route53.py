"""The Route 53 DNS provider (node/dns/route53.c, driven by
tests/tools/dnstool) against moto_server with every request's SigV4
signature and IAM policy checked: the name's record sets are replaced in
one change batch (DELETEs with their exact values, then CREATEs), the
change is waited for until INSYNC, and the outcome is confirmed by listing
the zone (moto serves no DNS). A wrong secret and a user without Route 53
rights fail with AWS's own code; bad input fails before any request."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import drtest  # noqa: E402

sys.dont_write_bytecode = True
import svc_s3  # noqa: E402

TOOLS = os.environ.get("DR_TOOLS") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tests")
DNSTOOL = os.path.join(TOOLS, "dnstool")
ZONE = "dr.example.com."
NAME = "app." + ZONE


def creds_file(path, key_id, secret):
    with open(path, "w") as f:
        f.write("access_key_id = %s\nsecret_access_key = %s\n"
                % (key_id, secret))
    os.chmod(path, 0o600)
    return path


@unittest.skipIf(svc_s3.available() is not None, svc_s3.available() or "")
class Route53Test(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="drr53-")
        cls.moto = svc_s3.MotoS3(bucket="unused").start()
        # Users and the zone are made with checking off, then it is on.
        cls.moto.set_verify(False)
        iam = cls.moto._client("iam")
        keys = {}
        for user, action in (("dns", "route53:*"), ("nodns", "s3:*")):
            iam.create_user(UserName=user)
            iam.put_user_policy(
                UserName=user, PolicyName="p",
                PolicyDocument='{"Version": "2012-10-17", "Statement": '
                               '[{"Effect": "Allow", "Action": "%s", '
                               '"Resource": "*"}]}' % action)
            k = iam.create_access_key(UserName=user)["AccessKey"]
            keys[user] = (k["AccessKeyId"], k["SecretAccessKey"])
        r53 = cls.moto._client("route53")
        zone = r53.create_hosted_zone(Name=ZONE, CallerReference="t")
        cls.zone_id = zone["HostedZone"]["Id"].split("/")[-1]
        cls.moto.set_verify(True)
        cls.keys = keys
        cls.creds = creds_file(os.path.join(cls.tmp, "creds"), *keys["dns"])

    @classmethod
    def tearDownClass(cls):
        cls.moto.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tool(self, *args, creds=None, zone_id=None):
        cmd = [DNSTOOL, "--provider", "route53", "--api-url",
               self.moto.endpoint, "--zone-id", zone_id or self.zone_id,
               "--aws-credentials-file", creds or self.creds,
               "--timeout-ms", "5000"]
        p = subprocess.run(cmd + list(args), capture_output=True, text=True,
                           timeout=60)
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

    def sets(self, name):
        """{type: sorted values} at name, read with boto3 (checking off)."""
        self.moto.set_verify(False)
        try:
            r = self.moto._client("route53").list_resource_record_sets(
                HostedZoneId=self.zone_id)
        finally:
            self.moto.set_verify(True)
        return {s["Type"]: sorted(v["Value"] for v in s["ResourceRecords"])
                for s in r["ResourceRecordSets"] if s["Name"] == name}

    def test_publish_replace_and_remove(self):
        self.ok("--txt", "dr-epoch=4 primary=us-east", "publish", NAME,
                "10.2.0.1,10.2.0.2")
        self.assertEqual(self.sets(NAME),
                         {"A": ["10.2.0.1", "10.2.0.2"],
                          "TXT": ['"dr-epoch=4 primary=us-east"']})
        # Another region's targets replace the set.
        self.ok("--txt", "dr-epoch=5 primary=eu-west", "publish", NAME,
                "10.1.0.1")
        self.assertEqual(self.sets(NAME),
                         {"A": ["10.1.0.1"],
                          "TXT": ['"dr-epoch=5 primary=eu-west"']})
        # A CNAME target: the A and TXT sets go in the same batch.
        self.ok("--txt", "dr-epoch=6", "publish", NAME, "lb.us-east.example")
        self.assertEqual(self.sets(NAME), {"CNAME": ["lb.us-east.example."]})
        self.ok("remove", NAME)
        self.assertEqual(self.sets(NAME), {})
        # Removing what is not there is fine.
        self.ok("remove", NAME)

    def test_refusals_name_the_reason_and_change_nothing(self):
        self.ok("publish", "keep." + ZONE, "10.9.0.1")
        bad = creds_file(os.path.join(self.tmp, "bad"), self.keys["dns"][0],
                         "wrongwrongwrongwrongwrongwrongwrongwrong")
        err = self.fails("publish", "keep." + ZONE, "10.9.0.2", creds=bad)
        self.assertIn("Route 53 answered 403", err)
        self.assertIn("SignatureDoesNotMatch", err)
        self.assertNotIn("wrongwrong", err)
        nodns = creds_file(os.path.join(self.tmp, "nodns"),
                           *self.keys["nodns"])
        err = self.fails("publish", "keep." + ZONE, "10.9.0.2", creds=nodns)
        self.assertIn("Route 53 answered 403 AccessDenied", err)
        err = self.fails("publish", "keep." + ZONE, "10.9.0.2",
                         zone_id="ZNOSUCHZONE")
        self.assertIn("Route 53 answered 404 NoSuchHostedZone", err)
        err = self.fails("publish", "keep." + ZONE, "10.9.0.2",
                         zone_id="Z1/../x")
        self.assertIn("needs dns.zone_id", err)
        err = self.fails("publish", "keep." + ZONE, "10.9.0.2,fd00::1")
        self.assertIn("dns_targets mix IPv4 and IPv6", err)
        self.assertEqual(self.sets("keep." + ZONE), {"A": ["10.9.0.1"]})


if __name__ == "__main__":
    if not os.path.exists(DNSTOOL):
        sys.exit("dnstool not found at %s (set DR_TOOLS)" % DNSTOOL)
    drtest.main()
