"""scripts/check-layering: the tree as it is passes; each kind of
forbidden include fails it, naming the file and line."""

import os
import subprocess
import sys
import tempfile
import unittest

import drtest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(ROOT, "scripts", "check-layering")


def run(root):
    return subprocess.run([sys.executable, SCRIPT, root],
                          capture_output=True, text=True, timeout=60)


class LayeringTest(unittest.TestCase):
    def test_the_tree_passes(self):
        p = run(ROOT)
        self.assertEqual(p.returncode, 0, p.stderr)

    def tree(self, files):
        d = tempfile.mkdtemp(prefix="drnode-layering-")
        self.addCleanup(subprocess.run, ["rm", "-rf", d])
        for rel, text in files.items():
            path = os.path.join(d, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        return d

    def assertRefused(self, files, where, what):
        p = run(self.tree(files))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(where, p.stderr)
        self.assertIn(what, p.stderr)

    def test_pure_core_including_an_adapter(self):
        self.assertRefused(
            {"node/fsm/a.c": '#include "fsm/fsm.h"\n#include "raft/raftnode.h"\n'},
            "node/fsm/a.c:2:", 'fsm may not include "raft/raftnode.h"')

    def test_pure_core_including_a_clock_or_libuv(self):
        self.assertRefused({"node/fsm/a.c": "#include <uv.h>\n"},
                           "node/fsm/a.c:1:", "may not include <uv.h>")
        self.assertRefused({"node/common/a.c": "#include <time.h>\n"},
                           "node/common/a.c:1:", "<time.h>")

    def test_adapters_including_each_other(self):
        self.assertRefused({"node/store/a.c": '#include "http/httpc.h"\n'},
                           "node/store/a.c:1:",
                           'store may not include "http/httpc.h"')

    def test_protobuf_outside_the_codec(self):
        self.assertRefused({"node/api/a.c": '#include "dr.pb-c.h"\n'},
                           "node/api/a.c:1:", "only codec may include")

    def test_cli_including_the_daemon(self):
        self.assertRefused({"cluster/a.c": '#include "raft/raftnode.h"\n'},
                           "cluster/a.c:1:",
                           'cluster may not include "raft/raftnode.h"')

    def test_a_module_missing_from_the_table(self):
        self.assertRefused({"node/pitr/a.c": "int x;\n"}, "node/pitr/a.c",
                           "module pitr is not in")


if __name__ == "__main__":
    drtest.main()
