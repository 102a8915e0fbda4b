"""A headless Chromium driven over the Chrome DevTools Protocol, for the
status page's tests: load a page, evaluate JavaScript in it, collect what
its console and script errors said, take screenshots.

Debian's `chromium` and `python3-websocket` (scripts/bootstrap). The browser
runs in its own process group with a throw-away profile; close() stops it
by that group's id and removes the profile.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import websocket

START_TIMEOUT_S = 30
CALL_TIMEOUT_S = 20


class BrowserMissing(Exception):
    """Chromium or the websocket client is not installed."""


def chromium_path():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise BrowserMissing("chromium is not installed (scripts/bootstrap "
                         "installs Debian's chromium)")


class Browser:
    def __init__(self, width=1280, height=1600):
        self.profile = tempfile.mkdtemp(prefix="drnode-chromium-")
        self.log_path = os.path.join(self.profile, "chromium.log")
        args = [chromium_path(), "--headless=new", "--disable-gpu",
                "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--user-data-dir=" + self.profile,
                "--window-size=%d,%d" % (width, height), "about:blank"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")  # chromium refuses root otherwise
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        self.ws = None
        self.next_id = 0
        self.events = []
        try:
            self._connect()
        except Exception:
            self.close()
            raise

    def _connect(self):
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + START_TIMEOUT_S
        port = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("chromium exited with %s: %s" % (
                    self.proc.returncode, self.log_tail()))
            try:
                with open(port_file) as f:
                    port = int(f.readline().strip())
                break
            except (OSError, ValueError):
                time.sleep(0.1)
        if port is None:
            raise RuntimeError("chromium wrote no DevToolsActivePort in %d s"
                               % START_TIMEOUT_S)
        with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port,
                                    timeout=10) as r:
            targets = json.load(r)
        page = [t for t in targets if t.get("type") == "page"]
        if not page:
            raise RuntimeError("chromium has no page target: %r" % targets)
        self.ws = websocket.create_connection(
            page[0]["webSocketDebuggerUrl"], timeout=CALL_TIMEOUT_S,
            suppress_origin=True)
        self.call("Runtime.enable")
        self.call("Log.enable")
        self.call("Page.enable")

    def log_tail(self, n=20):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def call(self, method, **params):
        """Send one command and wait for its answer; events that arrive
        meanwhile are kept in self.events."""
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method,
                                 "params": params}))
        deadline = time.monotonic() + CALL_TIMEOUT_S
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)
        raise TimeoutError("%s: no answer in %d s" % (method, CALL_TIMEOUT_S))

    def navigate(self, url, timeout=20):
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.eval("document.readyState") == "complete":
                return
            time.sleep(0.1)
        raise TimeoutError("%s did not finish loading in %d s" % (url,
                                                                   timeout))

    def eval(self, expression):
        """The value of a JavaScript expression in the page (JSON-able)."""
        r = self.call("Runtime.evaluate", expression=expression,
                      returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError("%s: %s" % (expression, r["exceptionDetails"]))
        return r["result"].get("value")

    def screenshot(self, path):
        r = self.call("Page.captureScreenshot", format="png",
                      captureBeyondViewport=True)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))
        return path

    def problems(self, network_too=True):
        """What went wrong in the page so far: script exceptions,
        console.error calls, and (network_too) failed loads."""
        out = []
        self.call("Runtime.evaluate", expression="0")  # flush pending events
        for e in self.events:
            m, p = e["method"], e.get("params", {})
            if m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append("exception: %s %s" % (
                    d.get("text"), d.get("exception", {}).get("description")))
            elif m == "Runtime.consoleAPICalled" and p.get("type") in (
                    "error", "assert"):
                out.append("console.%s: %s" % (p["type"], [
                    a.get("value", a.get("description"))
                    for a in p.get("args", [])]))
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                if network_too or p["entry"].get("source") != "network":
                    out.append("log: %s %s" % (p["entry"].get("text"),
                                               p["entry"].get("url", "")))
        return out

    def close(self):
        if self.ws is not None:
            try:
                self.ws.close()
            except Exception:
                pass
            self.ws = None
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.proc.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)
