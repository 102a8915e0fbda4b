"""Servers the tests start and must not outlive the run.

A test whose setUp fails never reaches its tearDown, so each service
module tracks what it started (track/untrack) and whatever is still
running when the interpreter exits is stopped here (its stop())."""

import atexit
import subprocess

_LIVE = {}  # id -> object with stop()


def terminate(proc, timeout=10):
    """Stop a server process this test started (a Popen, or None): SIGTERM,
    SIGKILL when it has not exited after timeout seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def track(srv):
    _LIVE[id(srv)] = srv


def untrack(srv):
    _LIVE.pop(id(srv), None)


def _stop_all():
    for srv in list(_LIVE.values()):
        try:
            srv.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


atexit.register(_stop_all)
