"""Which Python a plugin runs under, and that interpreter's version (probed once, cached).

Order: the plugin's own ``.venv`` (``.venv/bin/python``), else a configured interpreter,
else the dashboard's ``sys.executable``. The version comes from running the interpreter
with ``-c`` (never plugin code), cached in memory by path + mtime and on disk under
``$XDG_CACHE_HOME/aro-tui/`` so repeated ``aro-tui check`` runs skip the probe.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aro_tui.core.user_files import write_atomically

InterpreterOrigin = Literal["plugin-venv", "configured", "dashboard"]
Version = tuple[int, int, int]

PROBE_TIMEOUT_S = 10.0
CACHE_FILE_NAME = "interpreters.json"
CACHE_SCHEMA = "aro-tui/interpreter-cache/1"
_PROBE_CODE = "import sys; print('%d.%d.%d' % tuple(sys.version_info[:3]))"


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
        return plugin_root / ".venv" / "Scripts" / "python.exe"
    return plugin_root / ".venv" / "bin" / "python"


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
    """Runs interpreters to learn their versions; remembers answers in memory and on disk."""

    def __init__(self, cache_path: Path | None = None, timeout_s: float = PROBE_TIMEOUT_S):
        self._cache_path = cache_path
        self._timeout_s = timeout_s
        self._memory: dict[str, Version] = {}
        self._failures: dict[str, str] = {}
        self._disk: dict[str, Version] | None = None
        self._lock = threading.Lock()
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
            version, failure = self._run(executable)
            if failure is not None:
                # Remembered for this process only: a failure may be transient.
                self._failures[key] = failure
            if version is not None:
                self._memory[key] = version
                disk[key] = version
                self._save_disk(disk)
            return version, failure

    def _run(self, executable: Path) -> tuple[Version | None, str | None]:
        self.probes_run += 1
        try:
            # Its own session: on a timeout the whole group goes, not only the first process
            # (a wrapper script's `sleep` was left running under init).
            process = subprocess.Popen(
                [str(executable), "-E", "-S", "-c", _PROBE_CODE],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as error:
            return None, f"cannot run {executable}: {error.strerror or error}"
        try:
            stdout, stderr = process.communicate(timeout=self._timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return None, f"{executable} did not answer within {self._timeout_s:g} s"
        output = stdout.decode("utf-8", "replace").strip()
        version = parse_version(output) if process.returncode == 0 else None
        if version is None:
            detail = stderr.decode("utf-8", "replace").strip().splitlines()
            last = detail[-1] if detail else output or "no output"
            return None, f"{executable} failed (exit {process.returncode}): {last[:200]}"
        return version, None

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
    own = venv_python(plugin_root)
    origin: InterpreterOrigin
    if os.path.lexists(own):
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
    version, error = (probe or _default_probe).version_of(path)
    return Interpreter(path=path, origin=origin, version=version, error=error)
