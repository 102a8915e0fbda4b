"""A throwaway PostgreSQL 15 server for integration tests and benchmarks.

    pg = PgServer()            # initdb + start, on 127.0.0.1 and a free port
    pg.create_db("src")
    pg.psql("src", "CREATE TABLE t (id int)")
    pg.conninfo("src")         # libpq conninfo for drnode job specs
    pg.stop()                  # pg_ctl stop -m fast, then remove the dir
    PgServer(clone=True)       # a copy of this process's first initdb

A clone skips initdb (a second or more per server, most of a test's set-up
when it makes fresh servers per case), but every clone has the same system
identifier: not for tests where two servers' WAL meet in one archive.

Runs the server as the non-root user `postgres` (runuser) when the caller
is root, directly otherwise. Python stdlib only.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import atexit

import svc_exit

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")

_template = None  # a data directory made once by initdb, for clones


def _remove_template():
    if _template is not None:
        shutil.rmtree(os.path.dirname(_template), ignore_errors=True)


atexit.register(_remove_template)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port




class PgError(Exception):
    pass


class PgMissing(PgError):
    """PostgreSQL is not installed: the only PgError a test may skip on. A
    server that is installed but fails to start is a failure, with its
    log."""


class PgServer:

    def __init__(self, start=True, settings=None, clone=False):
        if not os.path.exists(os.path.join(PG_BIN, "postgres")):
            raise PgMissing("PostgreSQL binaries not found in %s "
                            "(scripts/bootstrap: postgresql-15)" % PG_BIN)
        self.as_root = os.geteuid() == 0
        self.dir = tempfile.mkdtemp(prefix="drpg-")
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        self.log = os.path.join(self.dir, "server.log")
        os.mkdir(self.sock)
        if self.as_root:
            pw = pwd.getpwnam("postgres")
            for p in (self.dir, self.sock):
                os.chown(p, pw.pw_uid, pw.pw_gid)
            os.chmod(self.dir, 0o755)
        self.port = None
        self.proc_pid = None
        self.settings = settings or {}
        self.clone = clone
        if start:
            try:
                self.start()
            except BaseException:
                self.stop()
                raise

    # Commands run as the server's owner.
    def _argv(self, argv):
        if self.as_root:
            return ["runuser", "-u", "postgres", "--"] + argv
        return argv

    def run(self, argv, check=True, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.run(self._argv(argv), **kw)
        if check and p.returncode != 0:
            raise PgError("%s failed (%d): %s" % (
                " ".join(argv), p.returncode,
                (p.stderr or b"").decode(errors="replace")[-2000:]))
        return p

    def _initdb(self, data):
        self.run([os.path.join(PG_BIN, "initdb"), "-D", data,
                  "--auth=trust", "-U", "postgres", "-E", "UTF8",
                  "--locale=C", "--no-sync"])

    def start(self):
        global _template
        if not os.path.exists(self.data) and self.clone:
            if _template is None:
                d = tempfile.mkdtemp(prefix="drpg-template-")
                if self.as_root:
                    pw = pwd.getpwnam("postgres")
                    os.chown(d, pw.pw_uid, pw.pw_gid)
                self._initdb(os.path.join(d, "data"))
                _template = os.path.join(d, "data")
            # cp -a keeps the owner and the 0700 mode PostgreSQL demands.
            subprocess.run(["cp", "-a", _template, self.data], check=True)
        if not os.path.exists(self.data):
            self._initdb(self.data)
        # A restart after halt() keeps the port: clients keep their conninfo.
        self.port = self.port or free_port()
        opts = ["-c", "listen_addresses=127.0.0.1", "-c",
                "port=%d" % self.port, "-c",
                "unix_socket_directories=%s" % self.sock, "-c", "fsync=off",
                "-c", "max_connections=50"]
        for k, v in self.settings.items():
            opts += ["-c", "%s=%s" % (k, v)]
        # pg_ctl -w waits until the server accepts connections.
        self.run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l",
                  self.log, "-w", "-t", "60", "-o",
                  " ".join("'%s'" % o if o != "-c" else o for o in opts),
                  "start"])
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            self.proc_pid = int(f.readline().strip())
        svc_exit.track(self)
        deadline = time.time() + 30
        while True:
            p = self.run([os.path.join(PG_BIN, "pg_isready"), "-h",
                          "127.0.0.1", "-p", str(self.port)], check=False)
            if p.returncode == 0:
                break
            if time.time() > deadline:
                raise PgError("server not ready: %s" % self.log_tail())
            time.sleep(0.1)

    def log_tail(self, n=4000):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def postmaster_pid(self):
        return self.proc_pid

    def kill(self):
        """SIGKILL the postmaster we started (a crash)."""
        if self.proc_pid:
            try:
                os.kill(self.proc_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def halt(self):
        """Stop the server but keep its data: start() brings it back on
        the same port."""
        self.run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m",
                  "fast", "-w", "-t", "30", "stop"])
        self.proc_pid = None

    def stop(self):
        svc_exit.untrack(self)
        if self.proc_pid and os.path.exists(self.data):
            p = self.run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data,
                          "-m", "fast", "-w", "-t", "30", "stop"],
                         check=False)
            if p.returncode != 0 and self.proc_pid:
                try:
                    os.kill(self.proc_pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        # After a crash, backends may outlive the postmaster for a moment.
        time.sleep(0)
        self.proc_pid = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def conninfo(self, db, user="postgres"):
        return "host=127.0.0.1 port=%d dbname=%s user=%s" % (self.port, db,
                                                             user)

    def psql(self, db, sql, check=True, user="postgres"):
        """Run sql (may be several statements); return stdout as str."""
        p = self.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t",
                      "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                      str(self.port), "-U", user, "-d", db, "-f", "-"],
                     check=check, input=sql.encode())
        return p.stdout.decode()

    def psql_bytes(self, db, sql):
        p = self.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t",
                      "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                      str(self.port), "-U", "postgres", "-d", db, "-f", "-"],
                     input=sql.encode())
        return p.stdout

    def create_db(self, name):
        self.psql("postgres", 'CREATE DATABASE "%s"' % name)

    def drop_db(self, name):
        self.psql("postgres", 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)'
                  % name)
