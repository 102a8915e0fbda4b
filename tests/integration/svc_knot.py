"""A real Knot DNS authoritative server (Debian knot) for the tests: one
zone on a free loopback port, in a temporary directory, taking RFC 2136
updates signed with one TSIG key (HMAC-SHA256). Stopped at exit."""

import base64
import os
import shutil
import socket
import subprocess
import tempfile
import time

import drsecrets
import svc_exit
import svc_pdns

KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"


def available():
    """Why the server cannot run here, or None."""
    if not os.access(KNOTD, os.X_OK):
        return "knotd not found (scripts/bootstrap installs knot)"
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, \
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u.bind(("127.0.0.1", port))
        return port


class Knot:
    def __init__(self, zone, key_name="drnode-key.", secret=None):
        self.zone = zone if zone.endswith(".") else zone + "."
        self.key_name = key_name
        self.secret = secret or base64.b64encode(os.urandom(32)).decode()
        drsecrets.register_secret(self.secret)
        self.dir = None
        self.proc = None
        self.port = None

    @property
    def server(self):
        return "127.0.0.1:%d" % self.port

    def key_file(self, path, secret=None, name=None):
        """A 0600 file of nsupdate -y's form for this server's key (or
        another secret / name, for the refusals)."""
        with open(path, "w") as f:
            f.write("hmac-sha256:%s:%s\n" % (name or self.key_name,
                                             secret or self.secret))
        os.chmod(path, 0o600)
        return path

    def start(self, timeout=20):
        self.dir = tempfile.mkdtemp(prefix="drknot-")
        with open(os.path.join(self.dir, self.zone + "zone"), "w") as f:
            f.write("$ORIGIN %s\n$TTL 60\n"
                    "@ SOA ns.%s hostmaster.%s 1 3600 600 86400 60\n"
                    "@ NS ns.%s\nns A 127.0.0.1\n"
                    % (self.zone, self.zone, self.zone, self.zone))
        for _ in range(5):
            self.port = free_port()
            conf = os.path.join(self.dir, "knot.conf")
            with open(conf, "w") as f:
                f.write("""server:
    rundir: "{d}"
    listen: 127.0.0.1@{port}
log:
  - target: stderr
    any: info
database:
    storage: "{d}"
key:
  - id: {key}
    algorithm: hmac-sha256
    secret: {secret}
acl:
  - id: update
    key: {key}
    action: update
template:
  - id: default
    storage: "{d}"
    file: "%s.zone"
    zonefile-sync: -1
zone:
  - domain: {zone}
    acl: update
""".format(d=self.dir, port=self.port, key=self.key_name,
                   secret=self.secret, zone=self.zone))
            log = open(os.path.join(self.dir, "knot.log"), "w")
            self.proc = subprocess.Popen([KNOTD, "-c", conf], stdout=log,
                                         stderr=subprocess.STDOUT)
            log.close()
            if self._wait_ready(timeout):
                svc_exit.track(self)
                return self
            self._kill()
        raise RuntimeError("knotd did not start:\n" + self.log())

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if self.query("ns." + self.zone) == ["127.0.0.1"]:
                return True
            time.sleep(0.1)
        return False

    def log(self):
        try:
            with open(os.path.join(self.dir, "knot.log")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def query(self, name, rtype="A"):
        return svc_pdns.dig(self.port, name, rtype, wait_s=1)

    def _kill(self):
        svc_exit.terminate(self.proc)
        self.proc = None

    def stop(self):
        svc_exit.untrack(self)
        self._kill()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
