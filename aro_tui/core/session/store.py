"""The sessions folder: where recordings live, listing them, finding one, pruning old ones."""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from aro_tui.core.session.reader import (
    SessionReadError,
    read_session,
    read_session_header,
    session_size_bytes,
)
from aro_tui.core.session.recorder import SessionRecorder
from aro_tui.core.session.records import BODIES_SUFFIX, SUFFIX, bodies_dir
from aro_tui.core.settings import Settings, data_dir
from aro_tui.core.user_files import os_reason

__all__ = [
    "SessionInfo",
    "list_sessions",
    "prune_sessions",
    "remove_orphan_bodies",
    "resolve_session",
    "sessions_dir",
    "start_session",
    "summarize_session",
]

_TAIL_BYTES = 64 * 1024
ORPHAN_BODIES_GRACE_S = 10 * 60.0
"""A side folder without its session file is removed only once untouched this long: the
recorder makes the file before the folder, but a person moving a recording by hand moves
one and then the other."""


def sessions_dir() -> Path:
    """``$XDG_DATA_HOME/aro-tui/sessions`` (default ``~/.local/share/aro-tui/sessions``)."""
    return data_dir() / "sessions"


@dataclass(frozen=True)
class SessionInfo:
    """One line of ``aro-tui sessions``."""

    path: Path
    session_id: str
    started_at: float
    plugins: list[str]
    exchanges: int
    errors: int
    size_bytes: int
    complete: bool
    """Whether the recorder closed the file (False: aro-tui stopped while recording)."""
    problem: str | None = None
    """Why the file could not be read as a session (the other fields are then empty)."""
    internal: int = 0
    """Of ``exchanges``, how many aro-tui issued itself (model-cache queries)."""
    recording: bool = False
    """Whether a running aro-tui is still recording it (so it is not complete yet)."""
    stopped: str | None = None
    """Why the recording stopped before aro-tui ended (a write failed), when it said so."""


def being_recorded(path: Path) -> bool:
    """Whether a running aro-tui holds ``path`` open to record it (its recorder's lock)."""
    try:
        with path.open("rb") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def _check_readable(folder: Path) -> None:
    """``LookupError`` when ``folder`` is there but cannot be listed (it read as empty)."""
    try:
        listable = not folder.exists() or os.access(folder, os.R_OK | os.X_OK)
    except (OSError, ValueError) as error:
        raise LookupError(f"cannot read {folder}: {os_reason(error)}") from None
    if not listable:
        raise LookupError(f"cannot read {folder}: permission denied")


def _session_files(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.suffix == SUFFIX and p.is_file())
    except OSError:
        return []


def summarize_session(path: Path) -> SessionInfo:
    """A session's summary: from its end record when it has one, else by reading it all."""
    try:
        size = session_size_bytes(path)
        header = read_session_header(path)
        end = _end_record(path)
        if end is not None and end.get("stopped") is None:
            plugins = [str(name) for name in end.get("plugins", [])]
            exchanges, errors = int(end.get("exchanges", 0)), int(end.get("errors", 0))
            internal = int(end.get("internal", 0))  # absent in older sessions
            complete, stopped = True, None
        else:
            session = read_session(path)  # no end record, or one without counts (stopped)
            plugins, exchanges = session.plugins, len(session.exchanges)
            errors, stopped = session.error_count, session.stopped
            complete = session.ended_at is not None and stopped is None
            internal = sum(session.is_internal(exchange) for exchange in session.exchanges)
    except (SessionReadError, OSError, ValueError, TypeError) as error:
        return SessionInfo(path, path.stem, 0.0, [], 0, 0, 0, False, str(error))
    return SessionInfo(
        path,
        path.stem,  # the id ``open`` and ``replay`` look up, as Session.session_id
        header.started_at,
        plugins,
        exchanges,
        errors,
        size,
        complete,
        internal=internal,
        recording=not complete and stopped is None and being_recorded(path),
        stopped=stopped,
    )


def _end_record(path: Path) -> dict[str, Any] | None:
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - _TAIL_BYTES))
        tail = handle.read()
    last = tail.rstrip(b"\n").rpartition(b"\n")[2]
    try:
        record = orjson.loads(last)
    except orjson.JSONDecodeError:
        return None
    if isinstance(record, dict) and record.get("type") == "end":
        return record
    return None


def list_sessions(folder: Path | None = None) -> list[SessionInfo]:
    """Every session in ``folder`` (default: :func:`sessions_dir`), oldest first."""
    infos = [summarize_session(path) for path in _session_files(folder or sessions_dir())]
    return sorted(infos, key=lambda info: (info.started_at, info.session_id))


def resolve_session(reference: str, folder: Path | None = None) -> Path:
    """A session file from a path, an id, a unique id prefix or ``last``.

    Raises ``LookupError`` saying what matched (nothing, or several).
    """
    as_path = Path(reference).expanduser()
    try:
        is_file, exists = as_path.is_file(), as_path.exists()
    except (OSError, ValueError) as error:  # no search permission, a name too long...
        raise LookupError(f"cannot read {reference}: {os_reason(error)}") from None
    if is_file:
        return as_path
    if exists:
        raise LookupError(f"{reference} is not a session file")
    if "/" in reference or reference.endswith(SUFFIX):
        raise LookupError(f"no such file: {reference}")
    folder = folder or sessions_dir()
    _check_readable(folder)
    files = _session_files(folder)
    if reference == "last":
        if not files:
            raise LookupError(f"no sessions in {folder}")
        return max(files, key=lambda p: (p.stat().st_mtime, p.name))
    exact = [p for p in files if p.stem == reference]
    matches = exact or [p for p in files if p.stem.startswith(reference)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise LookupError(f"no session {reference!r} in {folder} (see `aro-tui sessions`)")
    names = ", ".join(p.stem for p in matches[:5])
    raise LookupError(f"{reference!r} matches {len(matches)} sessions: {names}")


def prune_sessions(
    folder: Path,
    max_count: int | None,
    max_total_bytes: int | None,
    keep: frozenset[Path] = frozenset(),
) -> list[Path]:
    """Delete the oldest sessions until both limits hold; returns what was deleted.

    Sessions in ``keep`` (the one being recorded) are never deleted and still count. Side
    folders whose session file is gone go first (:func:`remove_orphan_bodies`).
    """
    remove_orphan_bodies(folder)
    files = sorted(_session_files(folder), key=lambda p: (p.stat().st_mtime, p.name))
    sizes = {path: session_size_bytes(path) for path in files}
    count, total = len(files), sum(sizes.values())
    deleted: list[Path] = []
    for path in files:
        over_count = max_count is not None and count > max_count
        over_bytes = max_total_bytes is not None and total > max_total_bytes
        if not (over_count or over_bytes):
            break
        if path.resolve() in {k.resolve() for k in keep} or being_recorded(path):
            continue
        path.unlink(missing_ok=True)
        shutil.rmtree(bodies_dir(path), ignore_errors=True)
        count, total = count - 1, total - sizes[path]
        deleted.append(path)
    return deleted


def remove_orphan_bodies(folder: Path, grace_s: float = ORPHAN_BODIES_GRACE_S) -> list[Path]:
    """Remove the ``*.bodies`` side folders in ``folder`` whose session file is gone (deleted
    by hand while the rest was kept), which no listing showed and no pruning reached; returns
    what was removed.

    Left alone: a folder a live recorder holds (its lock), and one changed within
    ``grace_s``. A recording is made file first, so one just created has its file already;
    the file is looked for again, under the folder's lock, just before the removal.
    """
    try:
        folders = [path for path in folder.iterdir() if path.name.endswith(BODIES_SUFFIX)]
    except OSError:
        return []
    removed = []
    for bodies in folders:
        session_file = bodies.with_name(bodies.name.removesuffix(BODIES_SUFFIX) + SUFFIX)
        if not os.path.lexists(session_file) and _remove_unowned(bodies, session_file, grace_s):
            removed.append(bodies)
    return removed


def _remove_unowned(bodies: Path, session_file: Path, grace_s: float) -> bool:
    """Remove ``bodies`` unless a recorder holds it, it changed lately, or ``session_file``
    has appeared; whether it was removed."""
    try:
        fd = os.open(bodies, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:  # gone meanwhile, a link, not a folder
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if time.time() - os.fstat(fd).st_mtime < grace_s or os.path.lexists(session_file):
            return False
        shutil.rmtree(bodies, ignore_errors=True)
        return True
    except OSError:  # BlockingIOError: a live recorder's
        return False
    finally:
        os.close(fd)


def start_session(
    settings: Settings, plugins_dir: Path | None, folder: Path | None = None
) -> SessionRecorder:
    """Prune old sessions to the settings' limits (keeping room for one more), start recording."""
    folder = folder or sessions_dir()
    max_count = settings.sessions_max_count
    prune_sessions(
        folder,
        None if max_count is None else max(0, max_count - 1),
        settings.sessions_max_total_bytes,
    )
    return SessionRecorder.create(folder, plugins_dir=plugins_dir)
