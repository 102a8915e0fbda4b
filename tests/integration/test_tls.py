"""TLS ([tls] cert, key, ca, client_ca) on a three-region loopback cluster
whose certificates drctl certs made: the API serves HTTPS only (a plain-text
client gets no HTTP answer), and asks every client for a certificate of the
cluster CA (none, or one of another CA, is refused in the handshake).
Writes through drctl with --cacert/--cert/--key go to the leader over
HTTPS (followers redirect to https://), the nodes' own calls to the leader
(probe reports) pass, a leader kill elects another and writes go on.
SIGHUP swaps the server certificate with no request of a steady client
lost. drnode --check-config and drctl certs refuse bad files and input by
name and change nothing."""

import calendar
import http.client
import os
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
import unittest

import drtest  # noqa: E402
import drcluster  # noqa: E402
from drcluster import http_request, wait_until  # noqa: E402


def serial_of(addr, ctx):
    """The serial number of the certificate the server at addr presents."""
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname=host) as t:
            der = t.getpeercert(binary_form=True)
    p = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout",
                        "-serial"], input=der, capture_output=True,
                       check=True, timeout=10)
    return p.stdout.decode().strip()


class Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = drcluster.Cluster(name="tls", tls=True,
                                  probes={nid: {"interval_ms": 200,
                                                "timeout_ms": 100}
                                          for nid in (1, 2, 3)})
        cls.c.start_all()
        cls.c.wait_for_leader()

    @classmethod
    def tearDownClass(cls):
        cls.c.cleanup()

    def drctl(self, *args, check=True, **kw):
        return self.c.drctl_checked(self, *args, check=check, **kw)

    def test_1_writes_through_a_follower(self):
        leader = self.c.leader()
        follower = self.c.followers(leader)[0]
        r = follower.write("PUT", "/api/settings/rpo.redis_s", {"value": 120})
        self.assertEqual(r.status, 307, r)
        self.assertEqual(r.header("location"),
                         "https://%s/api/settings/rpo.redis_s" %
                         leader.api_address)
        # drctl follows the redirect over HTTPS, endpoints as host:port.
        p = self.drctl("settings", "set", "rpo.redis_s", "121",
                       nodes=[follower])
        self.assertIn(b"121", p.stdout)
        p = self.drctl("--json", "status")
        self.assertIn(b'"leader"', p.stdout)

    def test_2_nodes_call_each_other_over_https(self):
        """Followers' probe reports reach the leader (an HTTPS POST with
        the node's certificate): their ok counter grows, no failures."""
        leader = self.c.leader()

        def reports(n):
            text = n.get("/metrics").body.decode()
            out = {}
            for line in text.splitlines():
                if line.startswith("drnode_probe_reports_total{"):
                    out[line.split('"')[1]] = int(line.split()[-1])
            return out
        for f in self.c.followers(leader):
            wait_until(lambda: reports(f).get("ok", 0) >= 3, 20,
                       what="node %d's reports to reach the leader" % f.id)
            self.assertEqual(reports(f).get("failed", 0), 0,
                             f.log_tail())

    def test_3_plain_text_and_strangers_refused(self):
        n = self.c.node(1)
        # Plain HTTP: no HTTP answer at all (the TLS server drops it).
        try:
            r = http_request(n.api_address, "GET", "/api/status", tls=None,
                             timeout=5)
        except (OSError, http.client.HTTPException):
            r = None
        self.assertIsNone(r, "plain HTTP got an answer")
        # No client certificate.
        with self.assertRaises((ssl.SSLError, OSError)):
            http_request(n.api_address, "GET", "/api/status",
                         tls=self.c.client_context(), timeout=5)
        # A certificate of another CA.
        other = os.path.join(self.c.base, "other")
        for args in (["init", "--dir", other],
                     ["issue", "--dir", other, "--client", "mallory"]):
            subprocess.run([drcluster.DRCTL, "certs"] + args, check=True,
                           capture_output=True, timeout=30)
        ctx = self.c.client_context(os.path.join(other, "client-mallory.crt"),
                                    os.path.join(other, "client-mallory.key"))
        with self.assertRaises((ssl.SSLError, OSError)):
            http_request(n.api_address, "GET", "/api/status", tls=ctx,
                         timeout=5)
        # A server of another CA is refused by drctl, naming the problem.
        env = dict(os.environ, DRCTL_ENDPOINTS=n.api_address,
                   DRCTL_CACERT=os.path.join(other, "ca.crt"))
        p = subprocess.run([drcluster.DRCTL, "status"], capture_output=True,
                           env=env, timeout=60)
        self.assertEqual(p.returncode, 1, p)
        self.assertIn(b"certificate", p.stderr.lower(), p.stderr)

    def test_4_leader_killed(self):
        old = self.c.leader()
        self.c.kill(old.id)
        try:
            new = self.c.wait_for_leader(
                ids=[i for i in self.c.nodes if i != old.id])
            self.assertNotEqual(new.id, old.id)
            p = self.drctl("settings", "set", "rpo.redis_s", "122",
                           nodes=[n for n in self.c.nodes.values()
                                  if n.id != old.id])
            self.assertIn(b"122", p.stdout)
            # Many entries while it is down: it catches up over TLS.
            for v in range(123, 163):
                self.assertEqual(new.write("PUT", "/api/settings/rpo.redis_s",
                                           {"value": v}).status, 200)
        finally:
            self.c.start(old.id)
            leader = self.c.wait_for_leader()
        self.c.wait_caught_up(old.id, leader)
        r = self.c.node(old.id).get("/api/settings/rpo.redis_s", stale=True)
        self.assertIn(b"162", r.body)

    def test_5_sighup_swaps_the_certificate(self):
        """New files under the configured names, kill -HUP: new
        connections get the new certificate; a steady client loses no
        request meanwhile. A broken key then changes nothing."""
        n = self.c.node(2)
        before = serial_of(n.api_address, self.c.tls)
        lost, stop = [], threading.Event()

        def steady():
            while not stop.is_set():
                try:
                    r = n.get("/api/site", stale=True, timeout=5)
                    if r.status != 200:
                        lost.append(r.status)
                except OSError as e:
                    lost.append(repr(e))
                time.sleep(0.005)
        t = threading.Thread(target=steady)
        t.start()
        try:
            tmp = os.path.join(self.c.base, "rotate")
            os.makedirs(tmp)
            for f in ("ca.crt", "ca.key"):
                os.link(os.path.join(self.c.certs, f), os.path.join(tmp, f))
            subprocess.run([drcluster.DRCTL, "certs", "issue", "--dir", tmp,
                            "--id", "2", "--region", n.region, "--ip",
                            "127.0.0.1"], check=True, capture_output=True,
                           timeout=30)
            for ext in ("crt", "key"):
                os.replace(os.path.join(tmp, "node-2." + ext),
                           os.path.join(self.c.certs, "node-2." + ext))
            # A client connected before the reload that sends its
            # ClientHello only after it: the server starts that handshake
            # from the context of accept time, which must still be there
            # (it once was freed: a use-after-free that killed the node).
            host, port = n.api_address.rsplit(":", 1)
            early = socket.create_connection((host, int(port)), timeout=5)
            time.sleep(0.2)  # accepted by the node's loop
            os.kill(n.pid, signal.SIGHUP)
            wait_until(lambda: serial_of(n.api_address, self.c.tls) != before,
                       10, what="the new certificate to be served")
            with self.c.tls.wrap_socket(early, server_hostname=host) as e:
                e.sendall(b"GET /api/site?stale=true HTTP/1.1\r\n"
                          b"Host: x\r\nConnection: close\r\n\r\n")
                head = b""
                while len(head) < 12:
                    part = e.recv(64)
                    if not part:
                        break
                    head += part
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
            time.sleep(0.3)
        finally:
            stop.set()
            t.join()
        self.assertEqual(lost, [])
        after = serial_of(n.api_address, self.c.tls)
        key = os.path.join(self.c.certs, "node-2.key")
        with open(key, "rb") as f:
            good = f.read()
        with open(key, "wb") as f:
            f.write(b"not a key\n")
        try:
            os.kill(n.pid, signal.SIGHUP)
            wait_until(lambda: "TLS files not reloaded" in n.log_tail(200),
                       10, what="the refused reload in the log")
            self.assertEqual(serial_of(n.api_address, self.c.tls), after)
            self.assertEqual(n.get("/api/site", stale=True).status, 200)
        finally:
            with open(key, "wb") as f:
                f.write(good)

    def test_6_check_config_names_bad_files(self):
        n = self.c.node(3)
        text = self.c.config_text(n)
        tls = n.extra_sections["tls"]
        loose = os.path.join(self.c.base, "loose.key")
        with open(tls["key"], "rb") as src, open(loose, "wb") as dst:
            dst.write(src.read())
        os.chmod(loose, 0o644)
        cases = [
            (text.replace(tls["key"], loose), "may be read or written by "
             "group or others"),
            (text.replace(tls["key"], os.path.join(self.c.certs,
                                                   "node-1.key")),
             "is not the key of cert"),
            (text.replace("ca = " + tls["ca"] + "\n", ""),
             "[tls] cert needs ca"),
            (text.replace("cert = " + tls["cert"] + "\n", ""),
             "[tls] cert and key go together"),
            (text.replace("key = " + tls["key"], "key = node-3.key"),
             "must be an absolute path"),
            (text.replace(tls["cert"], tls["cert"] + ".missing"),
             "tls cert"),
        ]
        conf = os.path.join(self.c.base, "bad.conf")
        for body, why in cases:
            with open(conf, "w") as f:
                f.write(body)
            p = subprocess.run([drcluster.DRNODE, "--check-config", conf],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, (why, p))
            self.assertIn(why, p.stderr)
        with open(conf, "w") as f:
            f.write(text)
        p = subprocess.run([drcluster.DRNODE, "--check-config", conf],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p)

    def test_7_certs_bad_input(self):
        d = os.path.join(self.c.base, "certs-bad")

        def certs(*args):
            return subprocess.run([drcluster.DRCTL, "certs"] + list(args),
                                  capture_output=True, text=True, timeout=30)
        self.assertEqual(certs("init", "--dir", d).returncode, 0)
        before = sorted(os.listdir(d))
        for args, code, why in (
                (["init", "--dir", d], 1, "never overwritten"),
                (["issue", "--dir", d, "--id", "1", "--region", "r"], 2,
                 "needs --ip and/or --dns"),
                (["issue", "--dir", d, "--id", "1", "--ip", "1.2.3.4"], 2,
                 "needs --region"),
                (["issue", "--dir", d, "--id", "x", "--region", "r",
                  "--ip", "1.2.3.4"], 2, "--id"),
                (["issue", "--dir", d, "--id", "1", "--region", "r",
                  "--ip", "1.2.3"], 1, "is not an IPv4 or IPv6 address"),
                (["issue", "--dir", d, "--id", "1", "--region", "r",
                  "--dns", "a b"], 1, "is not a DNS name"),
                (["issue", "--dir", d, "--client", "../x"], 2,
                 "may hold only"),
                (["issue", "--dir", d], 2, "give either"),
                (["issue", "--dir", d, "--client", "x", "--days", "0"], 2,
                 "--days"),
                (["issue", "--dir", d + "-none", "--client", "x"], 1,
                 "CA key")):
            p = certs(*args)
            self.assertEqual(p.returncode, code, (args, p))
            self.assertIn(why, p.stderr, args)
            self.assertEqual(sorted(os.listdir(d)), before, args)
        self.assertEqual(certs("issue", "--dir", d, "--client", "ops")
                         .returncode, 0)
        p = certs("issue", "--dir", d, "--client", "ops")
        self.assertEqual(p.returncode, 1)
        self.assertIn("never overwritten", p.stderr)
        st = os.stat(os.path.join(d, "client-ops.key"))
        self.assertEqual(st.st_mode & 0o777, 0o600)

    def test_8_local_cluster_with_tls(self):
        """drctl local up --tls: DIR/env names https endpoints, the CA and
        drctl's client certificate; drctl works with it, plain HTTP gets
        no answer, and a second up restarts it with TLS still on."""
        d = os.path.join(self.c.base, "local")
        env = dict(os.environ)
        for k in ("DRCTL_ENDPOINTS", "DRCTL_TOKEN_FILE", "DRCTL_CACERT",
                  "DRCTL_CERT", "DRCTL_KEY"):
            env.pop(k, None)

        def drctl(*args):
            return subprocess.run([drcluster.DRCTL] + list(args),
                                  capture_output=True, text=True, env=env,
                                  timeout=120)
        up = ["local", "up", "--dir", d, "--no-services", "--tls",
              "--drnode", drcluster.DRNODE]
        try:
            for round_ in range(2):
                p = drctl(*up)
                self.assertEqual(p.returncode, 0, p)
                with open(os.path.join(d, "env")) as f:
                    vals = dict(line.split("=", 1)
                                for line in f.read().split())
                self.assertTrue(all(e.startswith("https://") for e in
                                    vals["DRCTL_ENDPOINTS"].split(",")),
                                vals)
                for k in ("DRCTL_CACERT", "DRCTL_CERT", "DRCTL_KEY"):
                    self.assertTrue(os.path.exists(vals[k]), k)
                run_env = dict(env, **vals)
                p = subprocess.run([drcluster.DRCTL, "--json", "status"],
                                   capture_output=True, text=True,
                                   env=run_env, timeout=60)
                self.assertEqual(p.returncode, 0, p)
                addr = vals["DRCTL_ENDPOINTS"].split(",")[0][8:]
                try:
                    r = http_request(addr, "GET", "/api/health", timeout=5)
                except (OSError, http.client.HTTPException):
                    r = None
                self.assertIsNone(r, "plain HTTP got an answer")
                self.assertEqual(drctl("local", "down", "--dir", d)
                                 .returncode, 0)
        finally:
            drctl("local", "down", "--dir", d)

    def test_9_raft_refuses_strangers(self):
        """Raft's port: after raft's own handshake (protocol, member id,
        address) the peer must complete TLS with a certificate of the
        cluster CA naming that member id. Plain bytes, no certificate, a
        certificate of another CA, and member 3's certificate claiming to
        be member 2 are refused and logged by the member they reached;
        member 2's own certificate passes. The cluster goes on."""
        n = self.c.node(1)
        host, port = n.raft_address.rsplit(":", 1)
        certs = self.c.certs
        other = os.path.join(self.c.base, "other9")
        for args in (["init", "--dir", other],
                     ["issue", "--dir", other, "--id", "2", "--region", "x",
                      "--ip", "127.0.0.1"]):
            subprocess.run([drcluster.DRCTL, "certs"] + args, check=True,
                           capture_output=True, timeout=30)

        def hello(fake_port):
            s = socket.create_connection((host, int(port)), timeout=5)
            a = ("127.0.0.1:%d" % fake_port).encode() + b"\0"
            a += b"\0" * (-len(a) % 8)
            s.sendall(struct.pack("<QQQ", 1, 2, len(a)) + a)
            return s

        def tls_try(fake_port, cert=None, key=None, ca=None):
            s = hello(fake_port)
            try:
                ctx = self.c.client_context(cert, key, ca)
                with ctx.wrap_socket(s, server_hostname=host) as t:
                    t.settimeout(3)
                    t.sendall(b"\0" * 8)
                    t.recv(1)  # the refusal arrives as an alert or EOF
            except (ssl.SSLError, OSError):
                pass
            finally:
                s.close()

        s = hello(9001)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        s.settimeout(5)
        try:
            self.assertEqual(s.recv(100), b"")  # closed, nothing said
        except OSError:
            pass
        s.close()
        tls_try(9002)
        tls_try(9003, os.path.join(other, "node-2.crt"),
                os.path.join(other, "node-2.key"))
        tls_try(9004, os.path.join(certs, "node-3.crt"),
                os.path.join(certs, "node-3.key"))
        tls_try(9005, os.path.join(certs, "node-2.crt"),
                os.path.join(certs, "node-2.key"))
        want = {
            9001: "TLS handshake failed",
            9002: "TLS handshake failed: peer did not return a certificate",
            9003: "TLS handshake failed: certificate verify failed",
            9004: "the peer's certificate (CN=drnode-3) does not name "
                  "member 2",
        }

        def logged():
            text = n.log_tail(400)
            return all("connection from 127.0.0.1:%d claiming to be member 2 "
                       "refused: %s" % (p, why) in text
                       for p, why in want.items())
        wait_until(logged, 10, what="the refusals in node 1's log:\n%s" %
                   n.log_tail(40))
        metrics = n.get("/metrics").body.decode()
        refused = [int(line.split()[-1]) for line in metrics.splitlines()
                   if line.startswith("drnode_raft_tls_refused_total ")]
        self.assertEqual(len(refused), 1, metrics[-2000:])
        self.assertGreaterEqual(refused[0], 4)
        self.assertNotIn("127.0.0.1:9005 claiming to be member 2 refused",
                         n.log_tail(400))
        p = self.drctl("settings", "set", "rpo.redis_s", "123")
        self.assertIn(b"123", p.stdout)

    def test_12_certificate_expiry_metric(self):
        """drnode_tls_cert_expiry_timestamp_seconds gives the notAfter of
        the cert and ca files each node loaded."""
        def not_after(path):
            p = subprocess.run(["openssl", "x509", "-in", path, "-noout",
                                "-enddate"], capture_output=True, text=True,
                               check=True, timeout=10)
            when = p.stdout.strip().split("=", 1)[1]
            return calendar.timegm(time.strptime(when,
                                                 "%b %d %H:%M:%S %Y GMT"))
        for nid in (1, 2):
            n = self.c.node(nid)
            found = {}
            for line in n.get("/metrics").body.decode().splitlines():
                if line.startswith("drnode_tls_cert_expiry_timestamp_seconds{"):
                    label = line.split('file="')[1].split('"')[0]
                    found[label] = int(line.split()[-1])
            self.assertEqual(found, {
                "cert": not_after(os.path.join(self.c.certs,
                                               "node-%d.crt" % nid)),
                "ca": not_after(os.path.join(self.c.certs, "ca.crt"))})
            self.assertGreater(found["cert"], time.time() + 86400)

    def test_10_no_secret_in_answers(self):
        """No token and no private key in what the API shows: /metrics,
        the history, the jobs, the members, the status page's data, nor in
        drctl's output (the logs are checked at cleanup for every
        cluster)."""
        leader = self.c.leader()
        out = []
        for path in ("/metrics", "/api/history", "/api/jobs",
                     "/api/members", "/api/status", "/api/settings",
                     "/api/regions"):
            r = leader.get(path)
            self.assertEqual(r.status, 200, (path, r))
            out.append(r.body.decode("utf-8", "replace"))
        for args in (("--json", "status"), ("history",), ("version",)):
            p = self.drctl(*args)
            out.append(p.stdout.decode() + p.stderr.decode())
        self.assertEqual(drcluster.secrets_in("\n".join(out)), [])

    def test_11_drctl_tls_options_refused(self):
        """drctl's TLS files are checked before anything is sent: a CA file
        that does not exist, a certificate without its key, a key others
        may read; each named, with usage exit codes for what the command
        line got wrong."""
        n = self.c.node(1)
        loose = os.path.join(self.c.base, "loose-client.key")
        with open(self.c.client_key, "rb") as src, open(loose, "wb") as dst:
            dst.write(src.read())
        os.chmod(loose, 0o644)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("DRCTL_")}
        env["DRCTL_ENDPOINTS"] = n.api_address
        for args, code, why in (
                (["--cacert", "/nonexistent/ca.crt"], 1,
                 "CA file /nonexistent/ca.crt: No such file or directory"),
                (["--cacert", self.c.ca, "--cert", self.c.client_cert], 2,
                 "--cert given without --key"),
                (["--cacert", self.c.ca, "--cert", self.c.client_cert,
                  "--key", loose], 2,
                 "may be read or written by group or others")):
            p = subprocess.run([drcluster.DRCTL] + args + ["status"],
                               capture_output=True, text=True, env=env,
                               timeout=60)
            self.assertEqual(p.returncode, code, (args, p))
            self.assertIn(why, p.stderr, args)


if __name__ == "__main__":
    drtest.main()
