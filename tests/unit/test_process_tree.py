"""``ProcessTree``: resident memory of a plugin's process tree, read with real processes."""

from __future__ import annotations

import subprocess
import sys
import time

from aro_tui.core.host import process_tree
from aro_tui.core.host.process_tree import ProcessTree

HOLD_BYTES = 64 * 1024**2


def test_the_reading_before_a_request_does_not_look_for_new_processes() -> None:
    """The reading taken just before a request is written scanned /proc for new
    descendants once a second had passed (about 2 ms): a call sent after a pause showed a
    1.7 ms round trip for a 0.05 ms action. It reads the processes known; the reading after
    the call finds the new one."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            f"child = subprocess.Popen([sys.executable, '-c', 'b = bytearray({HOLD_BYTES}); "
            "print(1, flush=True); import time; time.sleep(60)'], stdout=subprocess.PIPE)\n"
            "child.stdout.readline()\n"
            "print(1, flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        start_new_session=True,  # the tree's kill signals its group
    )
    try:
        tree = ProcessTree(parent.pid)
        tree.refresh()  # before the child exists: the root alone is known
        assert parent.stdout is not None
        parent.stdout.readline()  # the child holds its 64 MiB now
        time.sleep(process_tree.TREE_REFRESH_INTERVAL_S + 0.1)  # a look at /proc is due
        known = tree.known_rss_bytes()
        assert known is not None and known < HOLD_BYTES  # the child is not looked for
        whole = tree.rss_bytes()
        assert whole is not None and whole - known >= HOLD_BYTES  # this one found it
    finally:
        tree.kill()
        parent.wait(5)
