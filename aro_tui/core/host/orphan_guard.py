"""A guard process that cleans up after an aro-tui that died without stopping its plugins.

aro-tui stops every plugin's process tree when it exits, on ctrl+q, SIGTERM or SIGHUP; each
harness also asks Linux to kill it when aro-tui dies. Neither covers ``kill -9`` of aro-tui
(or an OOM kill): the harnesses die, but the processes a plugin started (a model server, a
``multiprocessing`` pool, a double-forked daemon) were left running for good.

So the first plugin started from an aro-tui process also starts this file as a script, in a
session of its own, with the read end of a pipe as its stdin. aro-tui holds the write end
until it exits, however it exits; the guard then reads end-of-file and kills every process
whose environment carries this aro-tui's owner marker, which every plugin process inherits
(``OWNER_ENV``; a process that clears its environment escapes, as it escapes the host's own
tree kill). After a clean exit there is nothing left to kill and the guard just ends.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

OWNER_ENV = "ARO_TUI_OWNER"
"""The environment variable naming the aro-tui process a plugin process belongs to."""
KILL_ROUNDS = 5
"""How often the guard looks again: a process may start another while its tree is killed."""

_started: tuple[int, str, int] | None = None
"""(the pid that started the guard, its marker, the write end of the guard's stdin)."""


def owner_marker() -> str:
    """This aro-tui's marker for its plugin processes (``OWNER_ENV``); the first call starts
    the guard. A forked child of aro-tui gets a guard of its own."""
    global _started
    if _started is not None and _started[0] == os.getpid():
        return _started[1]
    marker = secrets.token_hex(8)
    read_fd, write_fd = os.pipe()  # not inheritable: no plugin process holds the write end
    try:
        env = {key: value for key, value in os.environ.items() if key != OWNER_ENV}
        subprocess.Popen(
            # -I: not its own folder first on sys.path, where types.py would hide the stdlib one.
            [sys.executable, "-I", "-S", str(Path(__file__).resolve()), OWNER_ENV, marker],
            stdin=read_fd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # outlives a signal sent to aro-tui's process group
            env=env,
        )
    except OSError:
        os.close(write_fd)  # no guard: plugins still carry the marker, nothing watches it
        write_fd = -1
    finally:
        os.close(read_fd)
    _started = (os.getpid(), marker, write_fd)
    return marker


def marked_pids(key: str, value: str) -> list[int]:
    """Processes (other than this one) whose environment holds ``key=value``."""
    needle = b"\0" + f"{key}={value}".encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = b"\0" + (entry / "environ").read_bytes() + b"\0"
        except OSError:  # gone, or not ours to read
            continue
        if needle in environ:
            found.append(int(entry.name))
    return found


def main(argv: list[str]) -> int:
    """Wait for aro-tui to go, then kill what it left."""
    key, value = argv[1], argv[2]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ctrl+c in the terminal is aro-tui's
    while os.read(0, 65536):
        pass  # nothing is ever written: end-of-file is the message
    for _ in range(KILL_ROUNDS):
        pids = marked_pids(key, value)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(OSError):  # gone already
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
