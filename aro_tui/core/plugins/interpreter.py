"""Which Python a plugin runs under, and that interpreter's version (probed once, cached).

Order: the plugin's own ``.venv`` (``.venv/bin/python``, else ``python3``, else the newest
``python3.X``: what an activated venv runs), else a configured interpreter, else the
dashboard's ``sys.executable``. The version comes from running the interpreter with ``-c``
(never plugin code), cached in memory by path + mtime and on disk under
``$XDG_CACHE_HOME/aro-tui/`` so repeated ``aro-tui check`` runs skip the probe. Every probe
is bounded (a timeout, then its whole process group killed) and may run in parallel
(:meth:`VersionProbe.map`), so a hanging interpreter costs one timeout, not one per plugin.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from aro_tui.core.user_files import write_atomically

InterpreterOrigin = Literal["plugin-venv", "configured", "dashboard"]
Version = tuple[int, int, int]
_Item = TypeVar("_Item")
_Result = TypeVar("_Result")

PROBE_TIMEOUT_S = 10.0
PROBE_WORKERS = 8
"""How many probes (and plugin folders being read) run at once."""
VENV_DIR = ".venv"
CACHE_FILE_NAME = "interpreters.json"
CACHE_SCHEMA = "aro-tui/interpreter-cache/1"
_PROBE_CODE = "import sys; print('%d.%d.%d' % tuple(sys.version_info[:3]))"
_VERSIONED_PYTHON = re.compile(r"python3\.(\d+)")
_PROBE_LINE_CHARS = 120
CANNOT_TELL_EXIT = 3
"""The installed-packages probe's exit status where the interpreter has no importlib.metadata."""
# Runs in the plugin's interpreter, with its environment and site-packages as the harness
# gets them (no -E, no -S), the plugin's source folder first on sys.path; Python 3.7 syntax.
# argv: the source folder, then [[name, marker], ...] as JSON; prints the names not installed
# (PEP 503 names compared); a requirement whose marker is false here, or cannot be read, is
# not needed.
_INSTALLED_CODE = """\
import json, re, sys
try:
    from importlib.metadata import distributions
except ImportError:
    sys.exit(3)
def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()
def needed(marker):
    if not marker:
        return True
    for module in ("packaging.markers", "pip._vendor.packaging.markers"):
        try:
            return bool(__import__(module, fromlist=["Marker"]).Marker(marker).evaluate())
        except ImportError:
            continue
        except Exception:
            return False
    return False
sys.path[0] = sys.argv[1]
have = set(norm(d.metadata["Name"] or "") for d in distributions())
wanted = json.loads(sys.argv[2])
print(json.dumps([name for name, marker in wanted if needed(marker) and norm(name) not in have]))
"""


@dataclass(frozen=True)
class Interpreter:
    """The Python executable a plugin will run under, and its version if it could run."""

    path: Path
    origin: str
    version: Version | None
    error: str | None

    @property
    def version_text(self) -> str:
        """``3.11.7``, or ``?`` when the version is unknown."""
        return ".".join(map(str, self.version)) if self.version else "?"


def venv_python(plugin_root: Path) -> Path:
    """Where a plugin's own virtual environment keeps its interpreter."""
    if os.name == "nt":
        return plugin_root / VENV_DIR / "Scripts" / "python.exe"
    return plugin_root / VENV_DIR / "bin" / "python"


def venv_interpreter(plugin_root: Path) -> Path | None:
    """The interpreter of the plugin's ``.venv``: ``bin/python``, else ``bin/python3``, else
    the newest ``bin/python3.X``; None when it holds none.

    Why the others: a venv whose ``python`` was removed still runs as that venv from
    ``python3`` (``pyvenv.cfg`` beside ``bin/`` makes it so), and that is what ``python3``
    runs once the venv is activated; skipping the venv ran the plugin without its packages.
    A link that leads nowhere is still the one chosen, so that it is reported as unusable.
    """
    python = venv_python(plugin_root)
    if os.path.lexists(python):
        return python
    if os.name == "nt" or not os.path.lexists(plugin_root / VENV_DIR):  # the usual case
        return None
    python3 = python.with_name("python3")
    if os.path.lexists(python3):
        return python3
    try:
        with os.scandir(python.parent) as entries:
            names = [entry.name for entry in entries]
    except OSError:
        return None
    minors = [int(m.group(1)) for n in names if (m := _VERSIONED_PYTHON.fullmatch(n))]
    return python.with_name(f"python3.{max(minors)}") if minors else None


ORIGIN_TEXT: dict[str, str] = {
    "plugin-venv": f"its own {VENV_DIR}",
    "configured": "--python",
    "dashboard": f"aro-tui's own Python, the plugin has no {VENV_DIR}",
}
"""Whose interpreter runs a plugin, by :data:`InterpreterOrigin`, as a failed start says it
(``PluginLaunch.interpreter_origin``): a package installed in another one is "not found"."""


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/aro-tui`` (``~/.cache/aro-tui`` when the variable is unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aro-tui"


def parse_version(text: str) -> Version | None:
    """``"3.9"`` → ``(3, 9, 0)``; None when ``text`` is not a dotted version."""
    parts = text.strip().split(".")
    # ASCII digits: str.isdigit() takes "⁹" and "①" too, which int() refuses.
    if not 1 <= len(parts) <= 3 or not all(part.isascii() and part.isdigit() for part in parts):
        return None
    numbers = [int(part) for part in parts] + [0] * (3 - len(parts))
    return (numbers[0], numbers[1], numbers[2])


class VersionProbe:
    """Runs interpreters to learn their versions (and which requirements they lack);
    remembers versions in memory and on disk.

    Each run is bounded: its own session, a timeout, then its whole process group killed. A
    probe runs with no lock held, so probes of different interpreters overlap; one asked for
    while the same interpreter is being probed waits for that answer.
    """

    def __init__(self, cache_path: Path | None = None, timeout_s: float = PROBE_TIMEOUT_S):
        self._cache_path = cache_path
        self._timeout_s = timeout_s
        self._memory: dict[str, Version] = {}
        self._failures: dict[str, str] = {}
        self._in_flight: dict[str, Future[tuple[Version | None, str | None]]] = {}
        self._disk: dict[str, Version] | None = None
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()
        self._stopping = False
        self.probes_run = 0

    @property
    def cache_path(self) -> Path:
        """The on-disk cache file (decided at first use, so tests can set the env first)."""
        return self._cache_path or cache_dir() / CACHE_FILE_NAME

    def version_of(self, executable: Path) -> tuple[Version | None, str | None]:
        """``(version, None)``, or ``(None, why)`` when ``executable`` cannot be run."""
        try:
            info = executable.stat()
        except FileNotFoundError:
            return None, f"{executable} does not exist (or is a broken link)"
        except OSError as error:
            return None, f"cannot stat {executable}: {error.strerror or error}"
        if not os.access(executable, os.X_OK) or executable.is_dir():
            return None, f"{executable} is not an executable file"
        key = f"{executable}|{os.path.realpath(executable)}|{info.st_mtime_ns}|{info.st_size}"
        with self._lock:
            if key in self._memory:
                return self._memory[key], None
            if key in self._failures:
                return None, self._failures[key]
            disk = self._load_disk()
            if key in disk:
                self._memory[key] = disk[key]
                return disk[key], None
            waiting = self._in_flight.get(key)
            if waiting is None:
                answer: Future[tuple[Version | None, str | None]] = Future()
                self._in_flight[key] = answer
        if waiting is not None:
            return waiting.result()
        try:
            version, failure = self._probe_version(executable)
        except BaseException as error:
            answer.set_exception(error)
            raise
        finally:
            with self._lock:
                del self._in_flight[key]
        with self._lock:
            if failure is not None and not self._stopping:
                # Remembered for this process only: a failure may be transient.
                self._failures[key] = failure
            if version is not None:
                self._memory[key] = version
                disk = self._load_disk()
                disk[key] = version
                self._save_disk(disk)
        answer.set_result((version, failure))
        return version, failure

    def missing_requirements(
        self, executable: Path, source_dir: Path, wanted: Sequence[tuple[str, str]]
    ) -> list[str] | None:
        """Of ``wanted`` (distribution name, environment marker or ``""``), the names
        ``executable`` has not installed, by ``importlib.metadata`` with the plugin's
        ``source_dir`` first on ``sys.path``, as it runs; None when that cannot be told (no
        ``importlib.metadata`` before Python 3.8, the probe failed or took too long).

        Never cached: ``pip install`` changes the answer and nothing the cache keys on.
        """
        if not wanted:
            return []
        argv = [str(executable), "-c", _INSTALLED_CODE, str(source_dir), json.dumps(wanted)]
        outcome = self._run_bounded(argv)
        if isinstance(outcome, str) or outcome.returncode != 0:
            return None
        try:
            missing = json.loads(outcome.stdout)
        except ValueError:
            return None
        if not isinstance(missing, list) or not all(isinstance(n, str) for n in missing):
            return None
        return list(missing)

    def map(self, work: Callable[[_Item], _Result], items: Sequence[_Item]) -> list[_Result]:
        """``[work(item) for item in items]`` on up to :data:`PROBE_WORKERS` threads, for
        work that probes interpreters: three hanging interpreters cost one timeout, not three.

        An interrupt (ctrl+c) while waiting kills every probe running and starts no other
        until the workers are done, so nothing is left running; then it is raised.
        """
        if len(items) < 2:
            return [work(item) for item in items]
        pool = ThreadPoolExecutor(min(PROBE_WORKERS, len(items)), "aro-tui-probe")
        try:
            futures = [pool.submit(work, item) for item in items]
            return [future.result() for future in futures]
        except BaseException:
            self._stop_all()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            with self._lock:
                self._stopping = False

    def _stop_all(self) -> None:
        """Kill the probes running now and refuse new ones (until :meth:`map` ends)."""
        with self._lock:
            self._stopping = True
            for process in self._running:
                if process.returncode is None:  # not reaped yet: its pid is still its own
                    _kill_group(process)

    def _interrupted(self) -> bool:
        """Whether :meth:`map` is stopping every probe (an answer got then is not kept)."""
        with self._lock:
            return self._stopping

    def _probe_version(self, executable: Path) -> tuple[Version | None, str | None]:
        with self._lock:
            self.probes_run += 1
        outcome = self._run_bounded([str(executable), "-E", "-S", "-c", _PROBE_CODE])
        if isinstance(outcome, str):
            return None, outcome
        output = outcome.stdout.strip()
        version = parse_version(output) if outcome.returncode == 0 else None
        if version is None:
            said = _first_and_last(outcome.stderr) or output[:_PROBE_LINE_CHARS] or "no output"
            return None, f"{executable} failed (exit {outcome.returncode}): {said}"
        return version, None

    def _run_bounded(self, argv: list[str]) -> subprocess.CompletedProcess[str] | str:
        """Run ``argv`` (an interpreter, never plugin code) for at most the timeout: its
        output, or why there is none.

        Its own session: on a timeout or an interrupt the whole group goes, not only the first
        process (a wrapper script's ``sleep`` was left running under init); and a ctrl+c
        meant for aro-tui does not reach it, so it is killed here, then the interrupt goes on.
        """
        executable = argv[0]
        with self._lock:
            if self._stopping:
                return f"{executable} was not probed: interrupted"
            try:
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                )
            except OSError as error:
                return f"cannot run {executable}: {error.strerror or error}"
            self._running.add(process)
        try:
            stdout, stderr = process.communicate(timeout=self._timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            process.communicate()
            return f"{executable} did not answer within {self._timeout_s:g} s"
        except BaseException:
            _kill_group(process)
            process.wait()
            raise
        finally:
            with self._lock:
                self._running.discard(process)
        if self._interrupted():
            return f"{executable} was not probed: interrupted"
        return subprocess.CompletedProcess(
            argv,
            process.returncode,
            stdout.decode("utf-8", "replace"),
            stderr.decode("utf-8", "replace"),
        )

    def _load_disk(self) -> dict[str, Version]:
        if self._disk is not None:
            return self._disk
        self._disk = {}
        try:
            stored = json.loads(self.cache_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return self._disk
        if isinstance(stored, dict) and stored.get("schema") == CACHE_SCHEMA:
            for key, value in dict(stored.get("versions", {})).items():
                if isinstance(value, list) and [type(part) for part in value] == [int] * 3:
                    self._disk[str(key)] = (value[0], value[1], value[2])
        return self._disk

    def _save_disk(self, disk: dict[str, Version]) -> None:
        """Write the cache atomically; a read-only cache folder only costs speed."""
        payload = {"schema": CACHE_SCHEMA, "versions": {k: list(v) for k, v in disk.items()}}
        with contextlib.suppress(OSError):
            write_atomically(self.cache_path, json.dumps(payload, indent=1))


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``process``'s whole process group (it leads one: its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _first_and_last(text: str) -> str:
    """The first non-empty line of ``text``, and its last when that is another, each cut
    short: pyenv's shim says what failed first and a hint last, Python's own start-up errors
    name the cause last."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    first, last = lines[0][:_PROBE_LINE_CHARS], lines[-1][:_PROBE_LINE_CHARS]
    return first if first == last else f"{first} … {last}"


_default_probe = VersionProbe()


def default_probe() -> VersionProbe:
    """The process-wide probe (its memory cache lives as long as the process)."""
    return _default_probe


def resolve_interpreter(
    plugin_root: Path,
    *,
    configured: Path | None = None,
    probe: VersionProbe | None = None,
) -> Interpreter:
    """The interpreter ``plugin_root`` will run under, with its version or why it has none."""
    return with_version(choose_interpreter(plugin_root, configured=configured), probe)


def choose_interpreter(plugin_root: Path, *, configured: Path | None = None) -> Interpreter:
    """The interpreter ``plugin_root`` will run under, not run yet (no version): a file
    look-up only, so that the runs of many plugins' interpreters can overlap after it."""
    own = venv_interpreter(plugin_root)
    origin: InterpreterOrigin
    if own is not None:
        path, origin = own, "plugin-venv"
    elif configured is not None:
        path, origin = configured, "configured"
    else:
        path, origin = Path(sys.executable), "dashboard"
    if not path.is_absolute():
        # A bare name (--python python3) is looked up on PATH, as a shell would; else the
        # path is taken from the current folder.
        bare = path.parent == Path()
        found = shutil.which(str(path)) if bare else None
        local = Path.cwd() / path
        if bare and found is None and not os.path.lexists(local):
            missing = f"{path} is not on PATH, nor in the current folder"
            return Interpreter(path=local, origin=origin, version=None, error=missing)
        path = Path(found) if found is not None else local
    return Interpreter(path=path, origin=origin, version=None, error=None)


def with_version(chosen: Interpreter, probe: VersionProbe | None = None) -> Interpreter:
    """``chosen`` (from :func:`choose_interpreter`) with its version, or why it has none."""
    if chosen.error is not None:
        return chosen
    version, error = (probe or _default_probe).version_of(chosen.path)
    return dataclasses.replace(chosen, version=version, error=error)
