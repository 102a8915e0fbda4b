"""A local S3 endpoint for integration tests: moto_server on loopback, with
signature checking turned on.

moto accepts any request by default. It verifies SigV4 signatures (and IAM
policies) only once its INITIAL_NO_AUTH_ACTION_COUNT is used up, and only
for access keys its IAM knows. So start() first, with auth still off,
creates an IAM user with an s3:* policy and an access key, and the bucket;
then POSTs 0 to /moto-api/reset-auth, after which every request must carry
a valid signature from that key: a wrong secret gets 403
SignatureDoesNotMatch.

    with MotoS3() as s3:
        env = dict(os.environ, **s3.env())   # AWS_ACCESS_KEY_ID, ...
        url = s3.url("backups")              # s3://BUCKET/backups?endpoint=..

stdlib plus boto3 (installed alongside moto)."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import drsecrets
import svc_exit


def _find_moto_server():
    """$MOTO_SERVER, else the one beside this interpreter (.deps/venv, built
    by scripts/bootstrap), else one on PATH."""
    if os.environ.get("MOTO_SERVER"):
        return os.environ["MOTO_SERVER"]
    here = os.path.join(os.path.dirname(sys.executable), "moto_server")
    if os.access(here, os.X_OK):
        return here
    return shutil.which("moto_server")


MOTO_SERVER = _find_moto_server()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def available():
    """Why the service cannot run here, or None."""
    if MOTO_SERVER is None:
        return "moto_server not found (scripts/bootstrap builds .deps/venv)"
    try:
        import boto3  # noqa: F401
    except ImportError:
        return "boto3 not installed (scripts/bootstrap: python3-boto3)"
    return None


class MotoS3:
    def __init__(self, bucket="drtest", region="us-east-1",
                 part_min_size=None, verify_signatures=True):
        self.bucket = bucket
        self.region = region
        self.part_min_size = part_min_size  # moto's minimum multipart size
        self.verify_signatures = verify_signatures
        self.proc = None
        self.tmp = None
        self.port = None
        self.access_key_id = None
        self.secret_access_key = None

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def url(self, prefix=""):
        return "s3://%s/%s?endpoint=%s&region=%s" % (
            self.bucket, prefix, self.endpoint, self.region)

    def env(self, secret=None):
        return {"AWS_ACCESS_KEY_ID": self.access_key_id,
                "AWS_SECRET_ACCESS_KEY": secret or self.secret_access_key}

    def write_credentials(self, path, secret=None, mode=0o600):
        with open(path, "w") as f:
            f.write("# test credentials\n[default]\n")
            f.write("access_key_id = %s\n" % self.access_key_id)
            f.write("secret_access_key = %s\n"
                    % (secret or self.secret_access_key))
        os.chmod(path, mode)
        return path

    def log(self):
        try:
            with open(os.path.join(self.tmp, "moto.log")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def start(self, timeout=30):
        self.tmp = tempfile.mkdtemp(prefix="drmoto-")
        env = dict(os.environ)
        # Nothing of the caller's AWS setup may leak into moto.
        for k in list(env):
            if k.startswith("AWS_"):
                del env[k]
        if self.part_min_size is not None:
            env["S3_UPLOAD_PART_MIN_SIZE"] = str(self.part_min_size)
        for _ in range(5):
            self.port = free_port()
            logf = open(os.path.join(self.tmp, "moto.log"), "w")
            self.proc = subprocess.Popen(
                [MOTO_SERVER, "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=logf, stderr=subprocess.STDOUT, cwd=self.tmp, env=env)
            logf.close()
            if self._wait_ready(timeout):
                break
            self._kill()
        else:
            raise RuntimeError("moto_server did not start:\n" + self.log())
        svc_exit.track(self)
        self._setup()
        return self

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=2)
                return True
            except urllib.error.HTTPError:
                return True
            except OSError:
                time.sleep(0.1)
        return False

    def _client(self, service):
        import boto3
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=self.region,
            aws_access_key_id="testing", aws_secret_access_key="testing")

    def _setup(self):
        iam = self._client("iam")
        iam.create_user(UserName="drstore")
        iam.put_user_policy(
            UserName="drstore", PolicyName="s3-all",
            PolicyDocument='{"Version": "2012-10-17", "Statement": '
                           '[{"Effect": "Allow", "Action": "s3:*", '
                           '"Resource": "*"}]}')
        key = iam.create_access_key(UserName="drstore")["AccessKey"]
        self.access_key_id = key["AccessKeyId"]
        self.secret_access_key = key["SecretAccessKey"]
        drsecrets.register_secret(self.secret_access_key)
        self._client("s3").create_bucket(Bucket=self.bucket)
        if self.verify_signatures:
            self.set_verify(True)

    def role_credentials(self, name="drnode-coordinator", action="s3:*"):
        """Temporary credentials of an assumed role allowed action, as an
        EC2 instance profile hands them out: (key id, secret, session
        token). moto checks the token with the signature."""
        self.set_verify(False)
        try:
            iam = self._client("iam")
            try:
                arn = iam.get_role(RoleName=name)["Role"]["Arn"]
            except iam.exceptions.NoSuchEntityException:
                arn = iam.create_role(
                    RoleName=name, AssumeRolePolicyDocument=(
                        '{"Version": "2012-10-17", "Statement": [{"Effect": '
                        '"Allow", "Principal": {"Service": '
                        '"ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
                    ))["Role"]["Arn"]
                iam.put_role_policy(
                    RoleName=name, PolicyName="allow",
                    PolicyDocument='{"Version": "2012-10-17", "Statement": '
                                   '[{"Effect": "Allow", "Action": "%s", '
                                   '"Resource": "*"}]}' % action)
            c = self._client("sts").assume_role(
                RoleArn=arn, RoleSessionName="i-0123456789abcdef0")
            c = c["Credentials"]
        finally:
            if self.verify_signatures:
                self.set_verify(True)
        return c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]

    def set_verify(self, on):
        """Turn signature checking on or off. moto 5.2 recomputes the
        signature over the *decoded* query string, so a request whose query
        holds an encoded '/' (a ListObjectsV2 prefix "a/b" sent as a%2Fb,
        as AWS requires) fails its check even when botocore signs it; tests
        of such listings turn checking off around them."""
        req = urllib.request.Request(
            self.endpoint + "/moto-api/reset-auth",
            data=b"0" if on else b"inf", method="POST",
            headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(req, timeout=10).read()

    def client(self):
        """A boto3 S3 client with the test user's key."""
        import boto3
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key)

    def _kill(self):
        svc_exit.terminate(self.proc)
        self.proc = None

    def stop(self):
        svc_exit.untrack(self)
        self._kill()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
