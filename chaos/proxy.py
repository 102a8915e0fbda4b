"""Userspace TCP proxy between drnode nodes: latency and directional cuts.

One listener per ordered pair (i, j) of nodes; net.Topology routes node i's
connections to node j's raft address to it. Canonical raft sends each
message on a connection opened by the sender, so a pair's listener carries
exactly the messages from i to j, and cutting (i, j) is a one-way cut.

A cut link is a black hole, as when packets are dropped: open connections
stop forwarding (the bytes already read are thrown away, the upstream side is
closed), and new connections are accepted but never forwarded. When the
link heals, the black-holed connections are closed so that raft reconnects
on a clean stream. Latency delays every chunk by the link's delay (plus up
to 10 % jitter), preserving order.

The proxy runs its own asyncio loop on a daemon thread; every public method
is thread-safe and returns once the change is in effect.
"""

import asyncio
import concurrent.futures
import threading
import time

CHUNK = 65536


class _Conn:
    def __init__(self, pair, reader, writer):
        self.pair = pair
        self.reader = reader
        self.writer = writer
        self.up_writer = None
        self.tasks = []
        self.holed = False

    def close(self):
        for w in (self.writer, self.up_writer):
            if w is not None:
                try:
                    w.transport.abort()
                except Exception:  # noqa: BLE001 - already closed
                    pass
        for t in self.tasks:
            t.cancel()


class Proxy:
    """Listeners on host for every ordered pair of node ids.

    targets: node id -> (ip, port) of its real raft address."""

    def __init__(self, host, targets, rng):
        self.host = host
        self.targets = dict(targets)
        self.rng = rng  # jitter only; the schedule has its own generator
        self.ports = {}         # (i, j) -> listening port
        self.delay_ms = {}      # (i, j) -> base one-way delay
        self.cut = set()        # (i, j) pairs whose messages are dropped
        self.conns = set()
        self.servers = []
        self.bytes = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name="chaos-proxy")
        self.thread.start()
        self._call(self._listen_all())

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def _call(self, coro, timeout=30.0):
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise RuntimeError("proxy did not answer within %.0f s" %
                               timeout)

    async def _listen_all(self):
        for i in self.targets:
            for j in self.targets:
                if i == j:
                    continue
                pair = (i, j)
                srv = await asyncio.start_server(
                    lambda r, w, p=pair: self._accept(p, r, w),
                    host=self.host, port=0)
                self.servers.append(srv)
                self.ports[pair] = srv.sockets[0].getsockname()[1]

    async def _accept(self, pair, reader, writer):
        c = _Conn(pair, reader, writer)
        self.conns.add(c)
        try:
            if pair in self.cut:
                await self._black_hole(c)
                return
            try:
                up_r, up_w = await asyncio.wait_for(
                    asyncio.open_connection(*self.targets[pair[1]]), 5.0)
            except (OSError, asyncio.TimeoutError):
                return
            c.up_writer = up_w
            if pair in self.cut:  # cut while connecting
                await self._black_hole(c)
                return
            t1 = asyncio.ensure_future(self._pump(c, reader, up_w, pair))
            t2 = asyncio.ensure_future(
                self._pump(c, up_r, writer, (pair[1], pair[0])))
            c.tasks = [t1, t2]
            await asyncio.wait(c.tasks, return_when=asyncio.FIRST_COMPLETED)
            if c.holed:
                await self._black_hole(c)
        except asyncio.CancelledError:
            pass
        finally:
            c.close()
            self.conns.discard(c)

    async def _black_hole(self, c):
        """Read and drop everything from the sender until the link heals."""
        c.holed = True
        if c.up_writer is not None:
            c.up_writer.transport.abort()
            c.up_writer = None
        try:
            while c.pair in self.cut:
                try:
                    data = await asyncio.wait_for(c.reader.read(CHUNK), 0.2)
                except asyncio.TimeoutError:
                    continue
                if not data:
                    return
        except (OSError, asyncio.CancelledError):
            return

    async def _pump(self, c, reader, writer, link):
        """Copy reader to writer, delaying each chunk by link's latency;
        stops (marking the connection holed) when c's pair is cut."""
        last_due = 0.0
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data or c.pair in self.cut:
                    c.holed = c.pair in self.cut
                    return
                base = self.delay_ms.get(link, 0.0)
                if base > 0:
                    d = base * (1.0 + 0.1 * self.rng.random()) / 1000.0
                    due = max(time.monotonic() + d, last_due)
                    last_due = due
                    wait = due - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    if c.pair in self.cut:
                        c.holed = True
                        return
                writer.write(data)
                self.bytes += len(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            return

    # Thread-safe controls.
    def set_delay(self, delays):
        """Replace every link's base one-way delay: dict (i, j) -> ms."""
        async def f():
            self.delay_ms = dict(delays)
        self._call(f())

    def set_cut(self, pairs):
        """Replace the set of cut (i, j) links; healed links' black-holed
        connections are closed."""
        async def f():
            new = set(pairs)
            healed = self.cut - new
            self.cut = new
            for c in list(self.conns):
                if c.pair in new and not c.holed:
                    c.holed = True  # _accept black-holes it
                    for t in c.tasks:
                        t.cancel()
                elif c.pair in healed and c.holed:
                    c.close()
        self._call(f())

    def close(self):
        async def f():
            for s in self.servers:
                s.close()
            for c in list(self.conns):
                c.close()
        try:
            self._call(f(), timeout=10.0)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10.0)
