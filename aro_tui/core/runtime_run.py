"""Run one action the way the public ARO runtime does: a new ``python3 -c`` process per call.

aro-tui's host keeps plugins alive and frames their stdio; the runtime does neither (see
``docs/aro-runtime.md``). This reproduces its call path so an author can see what ARO would
get: the driver script below (the plugin's source folder first on ``sys.path``, ``from
<module> import aro_action_<name>`` with the runtime's naming rule, the input as base64 inside
the script, ``print(result)``, exceptions printed as ``{"error", "traceback"}``); stdout and
stderr read only after the process exits, so more than a pipe's worth of output blocks it
until the timeout; on timeout SIGTERM, 0.1 s, SIGINT, as the runtime does. The answer is then
classified with the runtime's precedence: a non-zero exit makes stderr the error, a JSON object
with a string ``"error"`` is a failure, other JSON is a result, anything else a plain-text
result. Unlike the runtime, aro-tui finally kills whatever is left, so no process survives:
on a timeout, when something the plugin started keeps its output open, when the caller is
interrupted, and through :func:`kill_all` when aro-tui exits.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from aro_tui.core.host.channel import INSTANCE_ENV
from aro_tui.core.host.orphan_guard import OWNER_ENV, owner_marker
from aro_tui.core.host.process_tree import ProcessTree
from aro_tui.core.plugins.naming import full_function_name

__all__ = [
    "RUNTIME_TIMEOUT_S",
    "RuntimeOutcome",
    "driver_script",
    "kill_all",
    "other_interpreter_note",
    "run_like_runtime",
    "runtime_interpreter",
]

RUNTIME_TIMEOUT_S = 30.0
FALLBACK_INTERPRETERS = ("/usr/bin/python3", "/usr/local/bin/python3", "/opt/homebrew/bin/python3")
"""Where the runtime looks when ``python3`` is not on ``PATH``."""
CANCEL_POLL_S = 0.05
"""How often a call that can be cancelled looks at its cancel event while it waits."""
COLLECT_TIMEOUT_S = 1.0
"""How long to wait for end of file on stdout/stderr once the process has exited."""

_running: set[ProcessTree] = set()
_running_lock = threading.Lock()


@dataclass(frozen=True)
class RuntimeOutcome:
    """What the runtime would have made of one call.

    ``kind``: ``result`` (JSON), ``text`` (stdout was not JSON: the runtime passes it on as a
    plain string), ``error`` (a JSON error object, or a non-zero exit with stderr as the
    message), ``timeout`` (still running after the timeout), ``cancelled`` (stopped from
    aro-tui before it ended) or ``not_started`` (the process could not be spawned, e.g. an
    argument over Linux's 128 KiB limit).
    """

    kind: str
    answer: bytes
    """stdout, trimmed (the runtime's answer)."""
    error: str | None
    exit_code: int | None
    stderr: bytes
    duration_s: float
    left_running: bool = False
    """The runtime's own timeout (no SIGKILL) would have left the process running."""
    interpreter: str = ""

    @property
    def got_answer(self) -> bool:
        """Whether the runtime would have had an answer (result, text or error)."""
        return self.kind in ("result", "text", "error")

    def verdict(self) -> str:
        """One sentence: what the ARO runtime would have made of the call."""
        took = f"{self.duration_s:.2f} s in a new {self.interpreter} process"
        if self.kind == "result":
            return f"the ARO runtime would get this JSON result ({took})"
        if self.kind == "text":
            return (
                f"the ARO runtime would get a plain-text result, not JSON ({took}): stdout held "
                "more than the action's answer, or the action returned something else"
            )
        if self.kind == "error":
            ended = f"; the process {self.ended_how()}" if self.exited_badly else ""
            return f"the ARO runtime would report an error ({took}{ended}): {self.error}"
        if self.kind == "cancelled":
            return (
                f"cancelled after {self.duration_s:.2f} s, before the process ended: no verdict "
                "(aro-tui killed its process tree)"
            )
        if self.kind == "timeout":
            left = "; it sends no SIGKILL, so the process would have kept running"
            return f"the ARO runtime would time out: {self.error}" + (left * self.left_running)
        return f"the ARO runtime could not run this call: {self.error}"

    @property
    def exited_badly(self) -> bool:
        """The process ended with a non-zero exit status or by a signal: a crash."""
        return self.exit_code is not None and self.exit_code != 0

    def ended_how(self) -> str:
        """``exited with code 5`` or ``was killed by SIGKILL``."""
        code = self.exit_code
        if code is None or code >= 0:
            return f"exited with code {code}"
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"

    def report(self) -> bytes:
        """The verdict, then stdout and stderr as the runtime would have read them."""
        parts = [
            self.verdict().encode(),
            b"",
            b"--- stdout, trimmed (what the runtime takes as the answer) ---",
            self.answer or b"(empty)",
            b"",
            b"--- stderr (the runtime reads it only after a non-zero exit) ---",
            self.stderr.rstrip() or b"(empty)",
        ]
        return b"\n".join(parts) + b"\n"


def runtime_interpreter() -> str | None:
    """The interpreter the runtime picks: ``python3`` on ``PATH``, then fixed system paths."""
    found = shutil.which("python3")
    if found is not None:
        return found
    for candidate in FALLBACK_INTERPRETERS:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def other_interpreter_note(runtime: str, plugin_interpreter: Path) -> str | None:
    """Why the runtime's run may differ from aro-tui's: ``runtime`` (its ``python3``) lives in
    another environment than the interpreter aro-tui runs the plugin with (a plugin venv's
    packages, torch say, are then missing there). None when they share a bin folder; links
    are not resolved, since a venv's python may be a link to the base interpreter."""
    if Path(runtime).absolute().parent == plugin_interpreter.absolute().parent:
        return None
    return (
        f"{runtime} is the runtime's choice (python3 on PATH); aro-tui runs this plugin with "
        f"{plugin_interpreter}"
    )


def driver_script(source_dir: Path, module_name: str, action: str, input_bytes: bytes) -> str:
    """The ``-c`` script the runtime generates for one call."""
    function = full_function_name(action, rule="runtime")
    path = str(source_dir).replace("'", "\\'")
    encoded = base64.b64encode(input_bytes).decode("ascii")
    return f"""import sys
import json
import base64
sys.path.insert(0, '{path}')
try:
    from {module_name} import {function}
    input_json = base64.b64decode('{encoded}').decode('utf-8')
    result = {function}(input_json)
    print(result)
except Exception as e:
    import traceback
    print(json.dumps({{"error": str(e), "traceback": traceback.format_exc()}}))
"""


def kill_all() -> None:
    """SIGKILL every runtime-mode call still running (their process groups), e.g. on exit."""
    with _running_lock:
        trees = list(_running)
    for tree in trees:
        tree.kill()


def run_like_runtime(
    interpreter: str,
    module_path: Path,
    action: str,
    input_bytes: bytes,
    *,
    timeout_s: float = RUNTIME_TIMEOUT_S,
    cancel: threading.Event | None = None,
) -> RuntimeOutcome:
    """Run ``action`` once as the runtime would (blocking; at most ``timeout_s`` + ~1 s);
    setting ``cancel`` kills the call's process tree and ends it ``cancelled``."""
    script = driver_script(module_path.parent, module_path.stem, action, input_bytes)
    token = secrets.token_hex(8)  # marks its processes, to find any that leave its group
    started_s = time.monotonic()
    try:
        process = subprocess.Popen(
            [interpreter, "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env={**os.environ, INSTANCE_ENV: token, OWNER_ENV: owner_marker()},
        )
    except OSError as error:
        reason = str(error)
        if error.errno == errno.E2BIG:
            reason = f"the script is one argument of {len(script):,} bytes, over Linux's 128 KiB"
        message = f"could not start {interpreter}: {reason}"
        return RuntimeOutcome("not_started", b"", message, None, b"", 0.0, False, interpreter)
    tree = ProcessTree(process.pid, (INSTANCE_ENV, token))
    with _running_lock:
        _running.add(tree)
    try:
        if not _waited(process, started_s + timeout_s, cancel):
            if cancel is not None and cancel.is_set():
                tree.kill()
                stdout, stderr, _ = _collect(process, tree)
                duration_s = time.monotonic() - started_s
                return RuntimeOutcome(
                    "cancelled", stdout.strip(), "cancelled", None, stderr, duration_s,
                    interpreter=interpreter,
                )  # fmt: skip
            return _timed_out(process, tree, started_s, timeout_s, interpreter)
        duration_s = time.monotonic() - started_s
        stdout, stderr, held_open = _collect(process, tree)
        if held_open:
            message = (
                "the process exited, but a process it started kept its output open: the "
                "runtime would block reading it"
            )
            return RuntimeOutcome(
                "timeout", stdout.strip(), message, None, stderr, duration_s, True, interpreter
            )
        answer, exit_code = stdout.strip(), process.returncode
        kind, error_text = _classify(answer, stderr, exit_code)
        return RuntimeOutcome(
            kind, answer, error_text, exit_code, stderr, duration_s, interpreter=interpreter
        )
    finally:
        with _running_lock:
            _running.discard(tree)
        tree.kill()  # anything it left behind (and all of it if we were interrupted)
        tree.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.communicate(timeout=COLLECT_TIMEOUT_S)  # reap it, close the pipes


def _waited(
    process: subprocess.Popen[bytes], deadline_s: float, cancel: threading.Event | None
) -> bool:
    """Wait for the exit (like the runtime: no reading until then); False at the deadline
    or once ``cancel`` is set."""
    while True:
        left_s = deadline_s - time.monotonic()
        if left_s <= 0 or (cancel is not None and cancel.is_set()):
            return False
        try:
            process.wait(timeout=left_s if cancel is None else min(left_s, CANCEL_POLL_S))
            return True
        except subprocess.TimeoutExpired:
            continue


def _collect(process: subprocess.Popen[bytes], tree: ProcessTree) -> tuple[bytes, bytes, bool]:
    """stdout and stderr to end of file, and whether something the process started held them
    open (then its whole tree is killed to get there)."""
    try:
        stdout, stderr = process.communicate(timeout=COLLECT_TIMEOUT_S)
        return stdout, stderr, False
    except subprocess.TimeoutExpired:
        tree.kill()
    try:
        stdout, stderr = process.communicate(timeout=COLLECT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        stdout = stderr = b""
    return stdout, stderr, True


def _timed_out(
    process: subprocess.Popen[bytes],
    tree: ProcessTree,
    started_s: float,
    timeout_s: float,
    interpreter: str,
) -> RuntimeOutcome:
    """SIGTERM, 0.1 s, SIGINT (the runtime's sequence), then what aro-tui adds: SIGKILL."""
    full = _full_pipes(process)  # before the signals: a dying process may drain nothing
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=1.0)
        left_running = False
    except subprocess.TimeoutExpired:
        left_running = True
    tree.kill()
    stdout, stderr, _ = _collect(process, tree)
    return RuntimeOutcome(
        "timeout",
        stdout.strip(),
        f"no exit within {timeout_s:g} s: the runtime stops the call (SIGTERM, then SIGINT)"
        + (
            f"; it was blocked writing: its {' and '.join(full)} pipe was full, which the "
            "runtime reads only after the process exits"
            if full
            else ""
        ),
        None,
        stderr,
        time.monotonic() - started_s,
        left_running,
        interpreter,
    )


def _full_pipes(process: subprocess.Popen[bytes]) -> list[str]:
    """Which of ``stdout`` and ``stderr`` hold as much unread as their pipe can (Linux): a
    process that wrote more than that waits for a reader the runtime never is before exit."""
    try:
        import fcntl
        import termios
    except ImportError:
        return []
    full = []
    for name, stream in (("stdout", process.stdout), ("stderr", process.stderr)):
        if stream is None:
            continue
        try:
            unread = int.from_bytes(
                fcntl.ioctl(stream.fileno(), termios.FIONREAD, b"\0\0\0\0"), "little"
            )
            capacity = fcntl.fcntl(stream.fileno(), F_GETPIPE_SZ)
        except (OSError, ValueError):
            continue
        # Full to within a page: a pipe fills by pages, so small writes leave some unused.
        if capacity > 0 and unread > capacity - PIPE_PAGE_BYTES:
            full.append(f"{name} ({capacity // 1024} KiB)")
    return full


PIPE_PAGE_BYTES = 4096
F_GETPIPE_SZ = 1032
"""Linux's fcntl command for a pipe's capacity (``fcntl.F_GETPIPE_SZ`` from Python 3.10)."""


def _classify(answer: bytes, stderr: bytes, exit_code: int) -> tuple[str, str | None]:
    """The runtime's precedence: ``(kind, error)``."""
    if exit_code != 0:
        return "error", stderr.decode("utf-8", "replace").strip() or f"exit status {exit_code}"
    try:
        value = orjson.loads(answer)
    except orjson.JSONDecodeError:
        return "text", None
    if isinstance(value, dict) and isinstance(value.get("error"), str):
        return "error", value["error"]
    return "result", None
