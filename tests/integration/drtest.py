"""How every integration test file ends: drtest.main() instead of
unittest.main().

unittest exits 0 when tests skip, so a file whose tests all skipped looked
like a pass. Here a skip fails the file unless the person running the suite
asked for skips with DR_ALLOW_SKIPS=1; then the file exits 77, which ctest
(SKIP_RETURN_CODE) shows as "Skipped". Either way each skipped test is
named with its reason.

Only a missing install may skip (raise unittest.SkipTest naming what to
install); a service that is installed but fails to start is a failure."""

import json
import os
import subprocess
import sys
import unittest

SKIP_EXIT = 77

# Programs the tests start (drctl local up's moto_server, chaos/run's
# python3) come from the same environment as this interpreter
# (.deps/venv when ctest runs us).
_bindir = os.path.dirname(sys.executable)
if _bindir not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bindir + os.pathsep + os.environ.get("PATH", "")


# Tests stay on loopback: no process they start may ask the real EC2
# instance metadata (link-local) for credentials. The IMDS tests point
# AWS_EC2_METADATA_SERVICE_ENDPOINT at a stand-in and clear this.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


def skips_allowed():
    return os.environ.get("DR_ALLOW_SKIPS", "") == "1"


def shard_suite(spec):
    """The tests of __main__ in shard K of N (spec "K/N", 1 <= K <= N):
    every Nth by name, so ctest can run a long file as N tests side by
    side (tests/CMakeLists.txt)."""
    try:
        k, n = (int(x) for x in spec.split("/"))
    except ValueError:
        k = n = 0
    if not 1 <= k <= n:
        sys.stderr.write("DR_TEST_SHARD=%r: want K/N with 1 <= K <= N\n"
                         % spec)
        sys.exit(2)
    suite = unittest.defaultTestLoader.loadTestsFromModule(
        sys.modules["__main__"])

    def flat(s):
        for t in s:
            if isinstance(t, unittest.TestSuite):
                yield from flat(t)
            else:
                yield t
    tests = sorted(flat(suite), key=lambda t: t.id())
    mine = tests[k - 1::n]
    if not mine:
        sys.stderr.write("DR_TEST_SHARD=%s: no tests in this shard (%d "
                         "in all)\n" % (spec, len(tests)))
        sys.exit(1)
    return unittest.TestSuite(mine)


def main():
    shard = os.environ.get("DR_TEST_SHARD")
    if shard and len(sys.argv) == 1:
        result = unittest.TextTestRunner(verbosity=2).run(shard_suite(shard))
    else:
        result = unittest.main(verbosity=2, exit=False).result
    for test, reason in result.skipped:
        sys.stderr.write("SKIPPED %s: %s\n" % (test.id(), reason))
    if not result.wasSuccessful():
        sys.exit(1)
    if result.skipped:
        if skips_allowed():
            sys.stderr.write("%d test(s) skipped (DR_ALLOW_SKIPS=1)\n" %
                             len(result.skipped))
            sys.exit(SKIP_EXIT)
        sys.stderr.write(
            "FAILED: %d test(s) skipped; run scripts/bootstrap to install "
            "what they need, or set DR_ALLOW_SKIPS=1 to allow skips\n" %
            len(result.skipped))
        sys.exit(1)
    sys.exit(0)


def drnode():
    """The drnode under test: $DRNODE, else build/node/drnode."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    return os.environ.get("DRNODE") or os.path.join(root, "build", "node",
                                                    "drnode")


def tools():
    """The test tools (storetool, dnstool...): $DR_TOOLS, else build/tests."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    return os.environ.get("DR_TOOLS") or os.path.join(root, "build", "tests")


def run_job(spec, timeout=120.0):
    """`drnode --run-job` on spec: its JSON result line. A sanitizer report,
    an exit code other than 0 or 1, or one that disagrees with "ok" fails."""
    p = subprocess.run([drnode(), "--run-job"],
                       input=json.dumps(spec).encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    err = p.stderr.decode(errors="replace")
    assert "Sanitizer" not in err and "runtime error" not in err, err
    assert p.returncode in (0, 1), (p.returncode, err)
    lines = p.stdout.decode().strip().splitlines()
    assert lines, "no output from --run-job (rc %d, stderr %r)" % (
        p.returncode, err)
    out = json.loads(lines[-1])
    assert (p.returncode == 0) == out["ok"], (p.returncode, out)
    return out
