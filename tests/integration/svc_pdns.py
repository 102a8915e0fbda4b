"""A real PowerDNS Authoritative server for integration tests: pdns_server
with its sqlite3 backend on 127.0.0.1, a free DNS port (UDP and TCP) and a
free API port, in a temp dir, caches off (an answer reflects the zone at
once), stopped by PID. Python 3 stdlib only.

    with PowerDns(zone="dr.test.") as dns:
        dns.set("app.dr.test.", "A", ["127.0.0.11"])
        dns.query("app.dr.test.", "A")      # ['127.0.0.11'] (dig)
        dns.api_url, dns.server, dns.key_file

Environment: PDNS_SERVER (default /usr/sbin/pdns_server)."""

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import drsecrets
import svc_exit

PDNS_SERVER = os.environ.get("PDNS_SERVER") or "/usr/sbin/pdns_server"
SCHEMA = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"


def available():
    """Why PowerDNS cannot run here, or None."""
    if not os.access(PDNS_SERVER, os.X_OK):
        return "pdns_server not found (Debian pdns-server)"
    if not os.path.exists(SCHEMA):
        return "the sqlite3 schema is missing (Debian pdns-backend-sqlite3)"
    if shutil.which("dig") is None:
        return "dig not found (Debian dnsutils)"
    return None


def free_port(address="127.0.0.1"):
    """A port free for both UDP and TCP on address."""
    for _ in range(50):
        t = socket.socket()
        t.bind((address, 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind((address, port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no free port")


def dig(port, name, rtype="A", wait_s=2):
    """What the server on 127.0.0.1:port answers for name, authoritatively,
    sorted (dig +short)."""
    p = subprocess.run(["dig", "+short", "+norecurse", "+time=%d" % wait_s,
                        "+tries=1", "-p", str(port), "@127.0.0.1", name,
                        rtype], capture_output=True, text=True, timeout=10)
    return sorted(x for x in p.stdout.split() if x)


class PowerDns:
    """address: where it listens (DNS and API); allow_from: who may use
    its API (a CIDR)."""

    def __init__(self, zone="dr.test.", address="127.0.0.1",
                 allow_from="127.0.0.0/8"):
        self.zone = zone
        self.address = address
        self.allow_from = allow_from
        self.dir = tempfile.mkdtemp(prefix="drpdns-")
        self.key = os.urandom(12).hex()
        drsecrets.register_secret(self.key)
        self.key_file = os.path.join(self.dir, "api-key")
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.key + "\n")
        self.proc = None
        self.port = None
        self.api_port = None

    @property
    def api_url(self):
        return "http://%s:%d" % (self.address, self.api_port)

    @property
    def server(self):
        return "%s:%d" % (self.address, self.port)

    def start(self, timeout=20):
        db = os.path.join(self.dir, "pdns.sqlite3")
        with open(SCHEMA) as f:
            c = sqlite3.connect(db)
            c.executescript(f.read())
            c.commit()
            c.close()
        self.port = free_port(self.address)
        self.api_port = free_port(self.address)
        log = open(os.path.join(self.dir, "pdns.log"), "w")
        self.proc = subprocess.Popen(
            [PDNS_SERVER, "--config-dir=" + self.dir,
             "--socket-dir=" + self.dir, "--daemon=no", "--guardian=no",
             "--disable-syslog", "--write-pid=no",
             "--local-address=" + self.address,
             "--local-port=%d" % self.port,
             "--launch=gsqlite3", "--gsqlite3-database=" + db,
             "--api=yes", "--api-key=" + self.key, "--webserver=yes",
             "--webserver-address=" + self.address,
             "--webserver-port=%d" % self.api_port,
             "--webserver-allow-from=" + self.allow_from,
             "--cache-ttl=0", "--query-cache-ttl=0",
             "--negquery-cache-ttl=0", "--zone-cache-refresh-interval=0"],
            stdout=log, stderr=subprocess.STDOUT)
        svc_exit.track(self)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.api("POST", "/api/v1/servers/localhost/zones",
                         {"name": self.zone, "kind": "Native",
                          "nameservers": ["ns1." + self.zone]})
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                if self.proc.poll() is not None or \
                        time.monotonic() > deadline:
                    raise RuntimeError("pdns_server did not start:\n" +
                                       self.log())
                time.sleep(0.1)

    def log(self):
        try:
            with open(os.path.join(self.dir, "pdns.log")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def api(self, method, path, body=None):
        req = urllib.request.Request(
            self.api_url + path, method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"X-API-Key": self.key,
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            data = r.read()
            return json.loads(data) if data else None

    def set(self, name, rtype, contents, ttl=30):
        self.api("PATCH", "/api/v1/servers/localhost/zones/" + self.zone,
                 {"rrsets": [{"name": name, "type": rtype, "ttl": ttl,
                              "changetype": "REPLACE",
                              "records": [{"content": c, "disabled": False}
                                          for c in contents]}]})

    def query(self, name, rtype="A"):
        return dig(self.port, name, rtype)

    def stop(self):
        svc_exit.untrack(self)
        svc_exit.terminate(self.proc)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
