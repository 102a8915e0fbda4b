"""A real redis-server for integration tests (Python 3 stdlib only).

RedisServer starts `redis-server` on 127.0.0.1 on a free port, in a temp dir,
with persistence off (--save '' --appendonly no), waits (bounded) for PING,
and stops it by PID (SIGTERM, then SIGKILL) removing the temp dir. A small
RESP client (bytes in, bytes out) lets tests set up and compare binary keys
and DUMP payloads exactly; redis-cli is not needed.

Environment: REDIS_SERVER (default redis-server), DRCLUSTER_KEEP=1 keeps
temp dirs.
"""

import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import drsecrets

REDIS_SERVER = os.environ.get("REDIS_SERVER") or "redis-server"
START_WAIT_S = 10.0
STOP_WAIT_S = 10.0

_LIVE = {}  # pid -> RedisServer, killed by kill_all() at exit


def _die_with_parent():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # best effort
        pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class RedisError(Exception):
    pass


class Client:
    """Blocking RESP2 client: command(*args) -> bytes, int, list, None, or
    raises RedisError for an error reply."""

    def __init__(self, port, password=None, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout)
        self.buf = b""
        if password is not None:
            self.command("AUTH", password)

    def close(self):
        self.sock.close()

    @staticmethod
    def _enc(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif isinstance(a, (int, float)):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("redis closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest
        if t == b"-":
            return RedisError(rest.decode(errors="replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._read() for _ in range(n)]
        raise RedisError("bad reply %r" % line)

    def pipeline(self, cmds):
        """Send many commands, return their replies (errors as objects)."""
        out = []
        for i in range(0, len(cmds), 1000):
            part = cmds[i:i + 1000]
            self.sock.sendall(b"".join(self._enc(c) for c in part))
            out.extend(self._read() for _ in part)
        return out

    def command(self, *args):
        r = self.pipeline([args])[0]
        if isinstance(r, RedisError):
            raise r
        return r

    def all_keys(self):
        keys, cursor = set(), b"0"
        while True:
            cursor, page = self.command("SCAN", cursor, "COUNT", 1000)
            keys.update(page)
            if cursor == b"0":
                return keys


class RedisServer:
    def __init__(self, password=None, extra_args=()):
        self.password = password
        drsecrets.register_secret(password)
        self.extra_args = list(extra_args)
        self.port = None
        self.proc = None
        self.dir = None

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self):
        # A restart after halt() keeps the port and the directory.
        self.dir = self.dir or tempfile.mkdtemp(prefix="dr-redis-")
        self.port = self.port or free_port()
        conf = os.path.join(self.dir, "redis.conf")
        with open(conf, "w") as f:
            # The password goes in a 0600 file, never on a command line.
            os.fchmod(f.fileno(), 0o600)
            if self.password is not None:
                f.write("requirepass %s\n" % self.password)
        args = [REDIS_SERVER, conf, "--port", str(self.port),
                "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", self.dir, "--daemonize", "no",
                "--enable-debug-command", "yes",
                # Snapshots through SYNC start at once; a server left at
                # the default waits 5 s for more replicas first.
                "--repl-diskless-sync-delay", "0",
                "--logfile", os.path.join(self.dir, "redis.log")]
        args += self.extra_args
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL,
                                     preexec_fn=_die_with_parent)
        _LIVE[self.proc.pid] = self
        deadline = time.monotonic() + START_WAIT_S
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited (%s); log: %s" % (
                    self.proc.returncode, self.log()))
            try:
                c = self.client()
                if c.command("PING") == b"PONG":
                    c.close()
                    return self
            except (OSError, RedisError) as e:
                last = e
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not answer PING within %.0f s "
                           "(%r)" % (START_WAIT_S, last))

    def client(self, timeout=10.0):
        return Client(self.port, self.password, timeout)

    def log(self):
        try:
            with open(os.path.join(self.dir, "redis.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(STOP_WAIT_S)

    def halt(self):
        """SIGTERM the server, keep its port and directory for start()."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(STOP_WAIT_S)
        if self.proc is not None:
            _LIVE.pop(self.proc.pid, None)
        self.proc = None

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(STOP_WAIT_S)
                except subprocess.TimeoutExpired:
                    os.kill(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(STOP_WAIT_S)
            _LIVE.pop(self.proc.pid, None)
            self.proc = None
        if self.dir and not os.environ.get("DRCLUSTER_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


def kill_all():
    for srv in list(_LIVE.values()):
        try:
            srv.kill9()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
        srv.stop()


# A test whose setUp failed never reaches its tearDown: no server of it
# outlives the run.
atexit.register(kill_all)
