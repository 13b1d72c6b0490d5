"""The dashboard's exchange log: small summary rows in memory, bodies in SQLite on disk.

A session can make tens of thousands of calls, some with responses of many megabytes.
Keeping only a compact summary per exchange in memory (bounded) and every request,
response and stderr tail in a SQLite file keeps memory flat however long the session runs.

Bodies are written by a thread with its own connection, so the event loop never waits for
the disk: inserting a 50 MB response took ~130 ms, which froze the dashboard for that long
as the answer arrived. Until a body is committed, reads are answered from the row waiting to
be written; a write that fails (disk full, database locked) keeps its rows in memory, tries
them again with the next write, and is reported once through ``on_write_error``.

The log's own temporary folder holds every body, so it must not outlive the dashboard. A
normal exit removes it; one killed outright (``kill -9``) cannot, so each folder holds a lock
file locked for its owner's lifetime, and the next dashboard removes the folders whose lock
nobody holds any more (:func:`remove_stale_log_folders`).
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import functools
import json
import os
import queue
import shutil
import sqlite3
import tempfile
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from aro_tui.core.host.exchange import Exchange, ExchangeStatus

__all__ = ["ExchangeLog", "LogEntry", "LogFilter", "LoggedExchange", "remove_stale_log_folders"]

MAX_ENTRIES_IN_MEMORY = 50_000
WRITE_TIMEOUT_S = 5.0
"""How long the writer waits for a lock on the database before the write counts as failed."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bodies (
    number INTEGER PRIMARY KEY,
    request BLOB NOT NULL,
    response BLOB,
    stderr TEXT NOT NULL,
    details TEXT NOT NULL
)
"""
_INSERT = "INSERT INTO bodies VALUES (?, ?, ?, ?, ?)"
_BodyRow = tuple[int, bytes, "bytes | None", str, str]
_COLUMN_INDEX = {"request": 1, "response": 2, "stderr": 3, "details": 4}
_STOP: list[_BodyRow] = []

LOG_FOLDER_PREFIX = "aro-tui-log-"
OWNER_LOCK_NAME = "owner.lock"
"""In a log's own folder: locked by the process that made it, until it ends (the kernel lets
go of a dead process's lock, so an unlocked one marks a folder nobody owns)."""
NEW_LOCK_GRACE_S = 60.0
"""A lock file this young may be one its owner has made but not locked yet."""
UNLOCKED_STALE_AGE_S = 24 * 3600.0
"""A folder without a lock file (made by an aro-tui before there was one) is taken as stale
only when nothing in it was written for this long."""


@dataclass(slots=True, frozen=True)
class LogEntry:
    """One exchange's summary row: what the log table shows and filters on."""

    number: int
    plugin: str
    action: str
    status: str
    duration_ms: float | None
    request_size_bytes: int
    response_size_bytes: int
    stderr_line_count: int
    error: str | None
    exit_code: int | None
    signal_number: int | None
    rss_before_bytes: int | None
    rss_after_bytes: int | None
    action_duration_ms: float | None = None
    """How long the action function ran, measured inside the plugin (None: no answer)."""
    runtime_notes: tuple[str, ...] = ()
    """Where the ARO runtime would have handled the call differently (``Exchange``'s)."""

    @property
    def shown_duration_ms(self) -> float | None:
        """The action's own time when the plugin measured it, else the round trip."""
        return self.duration_ms if self.action_duration_ms is None else self.action_duration_ms


@dataclass(slots=True, eq=False)
class LoggedExchange(Exchange):
    """An exchange read back from the log, with the number the dashboard shows it as (``#N``).

    Why: ``id`` is the host's request id, counted per plugin process, so several exchanges in
    one log share it; exports name the exchange by ``number``.
    """

    number: int = field(kw_only=True)
    lost_bodies: Mapping[str, str] = field(default_factory=dict, kw_only=True)
    """Bodies a reopened recording could not read back ("request", "response"), each with
    why; the exchange holds them empty (request) or None (response)."""


_STATUS_PHRASES = tuple(status.split("_") for status in ExchangeStatus if "_" in status)
"""Statuses of several words (``plugin error``), kept whole when typed as the log shows them."""


def _free_text_terms(text: str) -> tuple[str, ...]:
    """The terms a row must each contain: ``text``'s words, lower-cased, except that a status
    spelt as the log shows it stays one term (``plugin error``, not ``plugin`` and ``error``:
    every row of ``plugin-python-text`` has ``plugin``, and a protocol error ``error``)."""
    words = text.lower().split()
    terms: list[str] = []
    index = 0
    while index < len(words):
        phrase = next((p for p in _STATUS_PHRASES if words[index : index + len(p)] == p), None)
        if phrase is None:
            terms.append(words[index])
            index += 1
        else:
            terms.append(" ".join(phrase))
            index += len(phrase)
    return tuple(terms)


@dataclass(frozen=True)
class LogFilter:
    """What the log shows: rows matching the exact fields that contain every free-text term."""

    text: str = ""
    statuses: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    """Each field's values: a row matches any one of them (``plugin:a plugin:b``: either
    plugin; only the last one counted, without a word)."""

    @classmethod
    def parse(cls, query: str) -> LogFilter:
        """Read ``status:ok plugin:text action:hash free words`` into a filter."""
        exact: dict[str, list[str]] = {"status": [], "plugin": [], "action": []}
        words: list[str] = []
        for word in query.split():
            key, sep, value = word.partition(":")
            if sep and key in exact and value:
                exact[key].append(value)
            else:
                words.append(word)
        return cls(
            " ".join(words),
            tuple(exact["status"]),
            tuple(exact["plugin"]),
            tuple(exact["action"]),
        )

    @cached_property
    def terms(self) -> tuple[str, ...]:
        """The free text's terms (:func:`_free_text_terms`), read once for every row."""
        return _free_text_terms(self.text)

    @property
    def active(self) -> bool:
        """Whether anything is filtered out."""
        return bool(self.text or self.statuses or self.plugins or self.actions)

    @cached_property
    def status_words(self) -> tuple[str, ...]:
        """The statuses asked for as statuses are spelt (``plugin error`` → ``plugin_error``)."""
        return tuple(s.lower().replace(" ", "_").replace("-", "_") for s in self.statuses)

    @property
    def unknown_status(self) -> str | None:
        """A status asked for that is part of no status's name (``status:nonsense``)."""
        return next(
            (
                asked
                for asked, word in zip(self.statuses, self.status_words, strict=True)
                if not any(word in status for status in ExchangeStatus)
            ),
            None,
        )

    def matches(self, entry: LogEntry) -> bool:
        """Whether ``entry`` passes this filter (case-insensitive; a status by any part of its
        name: ``status:error`` is both plugin and protocol errors). Each free-text term is
        looked for in the number, plugin, action, status (as the log shows it, ``plugin
        error``, or as it is spelt, ``plugin_error``) and error message."""
        if self.statuses and not _any_in(self.status_words, entry.status):
            return False
        if self.plugins and not _any_in(self.plugins, entry.plugin):
            return False
        if self.actions and not _any_in(self.actions, entry.action):
            return False
        if self.terms:
            # Fields a line apart: a term of two words never joins the end of one field to
            # the start of the next.
            fields = (
                str(entry.number),
                entry.plugin,
                entry.action,
                entry.status,
                entry.status.replace("_", " "),
                entry.error or "",
            )
            haystack = "\n".join(fields).lower()
            return all(term in haystack for term in self.terms)
        return True


def _any_in(parts: tuple[str, ...], field: str) -> bool:
    """Whether any of ``parts`` is part of ``field`` (case-insensitive)."""
    lowered = field.lower()
    return any(part.lower() in lowered for part in parts)


class ExchangeLog:
    """Append-only log of exchanges, numbered from 1, bodies stored in SQLite.

    Thread-safe: bodies can be read from worker threads while the event loop appends.
    """

    def __init__(
        self,
        directory: Path | None = None,
        max_entries: int = MAX_ENTRIES_IN_MEMORY,
        *,
        on_write_error: Callable[[str], None] | None = None,
        write_timeout_s: float = WRITE_TIMEOUT_S,
    ):
        self._remove_directory: weakref.finalize[Any, Any] | None = None
        if directory is None:
            _sweep_stale_log_folders()
            directory, lock_fd = _make_own_folder()
            # A log never closed (an app built and dropped unmounted; 22 per run of one test
            # file) left its folder in /tmp: 2,865 of them, 8 GB, after a day of runs. Its own
            # folder goes when the log is collected, or at the latest when the interpreter
            # exits.
            self._remove_directory = weakref.finalize(self, _remove_own_folder, directory, lock_fd)
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "exchanges.sqlite3"
        self.on_write_error = on_write_error
        """Called on the writer thread when a write first fails (use ``call_from_thread``)."""
        self.write_error: str | None = None
        """Why the last write failed, None once a write succeeds again."""
        self._writer = sqlite3.connect(self.path, timeout=write_timeout_s, check_same_thread=False)
        self._writer.execute("PRAGMA journal_mode=WAL")
        self._writer.execute("PRAGMA synchronous=OFF")
        self._writer.execute(_SCHEMA)
        self._writer.commit()
        self._lock = threading.Lock()  # the reading connection, shared by worker threads
        self._connection = sqlite3.connect(self.path, check_same_thread=False)
        self._pending: dict[int, _BodyRow] = {}
        self._pending_lock = threading.Lock()
        self._queue: queue.Queue[list[_BodyRow]] = queue.Queue()
        self._thread = threading.Thread(target=self._write_bodies, name="exchange-log", daemon=True)
        self._thread.start()
        self._entries: deque[LogEntry] = deque(maxlen=max_entries)
        self._next_number = 1
        self._count = 0
        self._gapped = False
        """Numbered with gaps (a recording that lost lines keeps its own numbers): a number's
        place in ``_entries`` is then searched for, not computed."""

    def __len__(self) -> int:
        return self._count

    @property
    def forgotten(self) -> int:
        """How many of the oldest exchanges no longer have a summary here (past
        ``max_entries``): they cannot be shown, filtered or exported from the log."""
        return len(self) - len(self._entries)

    @property
    def entries(self) -> deque[LogEntry]:
        """The summaries kept in memory, oldest first (the newest ``max_entries``)."""
        return self._entries

    def add(self, exchange: Exchange) -> LogEntry:
        """Record a finished ``exchange``; return its summary row."""
        return self.add_many([exchange])[0]

    def add_many(
        self,
        exchanges: Iterable[Exchange],
        lost: Sequence[Mapping[str, str]] = (),
        numbers: Sequence[int] = (),
    ) -> list[LogEntry]:
        """Record several finished exchanges; their bodies are written in one transaction by
        the writer thread, and readable at once. ``lost``, per exchange: bodies a recording
        lost, with why (:attr:`LoggedExchange.lost_bodies`). ``numbers``: the numbers to give
        them (a recording's own, which skip the lines it lost, so that ``#N`` here is ``#N``
        for ``replay --exchange``), each above the last; else the next ones."""
        added: list[LogEntry] = []
        rows: list[_BodyRow] = []
        for index, exchange in enumerate(exchanges):
            number = numbers[index] if index < len(numbers) else self._next_number
            if number < self._next_number:
                raise ValueError(f"exchange #{number} after #{self._next_number - 1}")
            self._gapped = self._gapped or number != self._next_number
            entry = self._entry_for(number, exchange)
            self._next_number = number + 1
            self._count += 1
            details: dict[str, Any] = {
                "exchange_id": exchange.id,
                "started_at": exchange.started_at,
                "traceback": exchange.traceback,
                "stderr_bytes": exchange.stderr_bytes,
                "sent_monotonic_s": exchange.sent_monotonic_s,
                "head_monotonic_s": exchange.head_monotonic_s,
                "finished_monotonic_s": exchange.finished_monotonic_s,
                "action_duration_s": exchange.action_duration_s,
                "printed_bytes": exchange.printed_bytes,
                "pid": exchange.pid,
                "rss_peak_bytes": exchange.rss_peak_bytes,
                "runtime_notes": [{"code": n.code, "text": n.text} for n in exchange.runtime_notes],
            }
            if index < len(lost) and lost[index]:
                details["lost_bodies"] = dict(lost[index])
            rows.append(
                (
                    entry.number,
                    exchange.request_bytes,
                    exchange.response_bytes,
                    json.dumps(list(exchange.stderr_lines)),
                    json.dumps(details),
                )
            )
            added.append(entry)
        with self._pending_lock:
            self._pending.update((row[0], row) for row in rows)
        self._queue.put(rows)
        self._entries.extend(added)
        return added

    def flush(self) -> None:
        """Wait until every body added so far has been written (or its write has failed)."""
        self._queue.join()

    def _write_bodies(self) -> None:
        """The writer thread: one transaction per batch of rows queued meanwhile."""
        retry: list[_BodyRow] = []
        while True:
            batches = [self._queue.get()]
            while not self._queue.empty():
                batches.append(self._queue.get_nowait())
            rows = retry + [row for batch in batches for row in batch]
            if rows:
                retry = self._insert(rows)
            stop = any(batch is _STOP for batch in batches)
            for _ in range(len(batches)):
                self._queue.task_done()
            # Drop the written bodies now: the next get() may wait a long time, and these
            # names would keep them alive meanwhile (a whole reopened recording).
            del batches, rows
            if stop:
                return

    def _insert(self, rows: list[_BodyRow]) -> list[_BodyRow]:
        """Commit ``rows``; return them when the write failed (they stay readable)."""
        try:
            with self._writer:
                self._writer.executemany(_INSERT, rows)
        except Exception as error:  # sqlite3.Error above all; the thread must never die
            first = self.write_error is None
            self.write_error = f"exchange log {self.path}: {error}; bodies kept in memory"
            if first and self.on_write_error is not None:
                self.on_write_error(self.write_error)
            return rows
        self.write_error = None
        with self._pending_lock:
            for row in rows:
                del self._pending[row[0]]
        return []

    @staticmethod
    def _entry_for(number: int, exchange: Exchange) -> LogEntry:
        duration_s = exchange.duration_s
        return LogEntry(
            number=number,
            plugin=exchange.plugin,
            action=exchange.action,
            status=str(exchange.status),
            duration_ms=None if duration_s is None else duration_s * 1000,
            request_size_bytes=exchange.request_size_bytes,
            response_size_bytes=exchange.response_size_bytes,
            stderr_line_count=exchange.stderr_line_count,
            error=exchange.error,
            exit_code=exchange.exit_code,
            signal_number=exchange.signal_number,
            rss_before_bytes=exchange.rss_before_bytes,
            rss_after_bytes=exchange.rss_after_bytes,
            action_duration_ms=(
                None if exchange.action_duration_s is None else exchange.action_duration_s * 1000
            ),
            runtime_notes=tuple(note.text for note in exchange.runtime_notes),
        )

    def get(self, number: int) -> LogEntry | None:
        """The summary of exchange ``number`` while it is still held in memory."""
        index = self._index(number)
        if index < len(self._entries) and self._entries[index].number == number:
            return self._entries[index]
        return None

    def _index(self, number: int) -> int:
        """Where in ``_entries`` the first entry numbered ``number`` or more is (its length
        when there is none)."""
        entries = self._entries
        if not entries:
            return 0
        if not self._gapped:
            return max(0, min(len(entries), number - entries[0].number))
        return bisect.bisect_left(entries, number, key=lambda entry: entry.number)

    def matching(
        self, log_filter: LogFilter, limit: int | None = None, *, before: int | None = None
    ) -> list[LogEntry]:
        """The newest entries passing ``log_filter`` (at most ``limit``; with ``before``, only
        those numbered below it), oldest first."""
        entries = self._entries
        end = len(entries) if before is None else self._index(before)
        found: list[LogEntry] = []
        for index in range(end - 1, -1, -1):
            entry = entries[index]
            if log_filter.matches(entry):
                found.append(entry)
                if limit is not None and len(found) >= limit:
                    break
        found.reverse()
        return found

    def matching_after(self, log_filter: LogFilter, limit: int, after: int) -> list[LogEntry]:
        """The oldest entries numbered above ``after`` that pass ``log_filter`` (at most
        ``limit``), oldest first."""
        entries = self._entries
        start = self._index(after + 1)
        found: list[LogEntry] = []
        for index in range(start, len(entries)):
            entry = entries[index]
            if log_filter.matches(entry):
                found.append(entry)
                if len(found) >= limit:
                    break
        return found

    def _row(
        self, number: int, column: str, expression: str | None = None, part: slice = slice(None)
    ) -> Any:
        """``column`` of exchange ``number``: ``expression`` computed by SQLite on disk, or
        ``part`` of the value while the row waits to be written."""
        with self._pending_lock:
            pending = self._pending.get(number)
        if pending is not None:
            value: Any = pending[_COLUMN_INDEX[column]]
            return value if value is None else value[part]
        with self._lock:
            cursor = self._connection.execute(
                f"SELECT {expression or column} FROM bodies WHERE number = ?", (number,)
            )
            row = cursor.fetchone()
        if row is None:
            raise KeyError(number)
        return row[0]

    def request_bytes(self, number: int) -> bytes:
        """The input JSON text sent in exchange ``number``."""
        value: bytes = self._row(number, "request")
        return value

    def response_bytes(self, number: int) -> bytes | None:
        """The whole response of exchange ``number`` (None when there was none)."""
        value: bytes | None = self._row(number, "response")
        return value

    def response_head(self, number: int, limit_bytes: int) -> bytes | None:
        """The first ``limit_bytes`` of the response, read without loading the rest."""
        limit = int(limit_bytes)
        value: bytes | None = self._row(
            number, "response", f"substr(response, 1, {limit})", slice(0, limit)
        )
        return value

    def response_slice(self, number: int, offset_bytes: int, length_bytes: int) -> bytes:
        """``length_bytes`` of the response from ``offset_bytes`` (for paging a large one)."""
        return self._slice(number, "response", offset_bytes, length_bytes)

    def request_slice(self, number: int, offset_bytes: int, length_bytes: int) -> bytes:
        """``length_bytes`` of the request from ``offset_bytes`` (for paging a large one)."""
        return self._slice(number, "request", offset_bytes, length_bytes)

    def _slice(self, number: int, column: str, offset_bytes: int, length_bytes: int) -> bytes:
        offset, length = int(offset_bytes), int(length_bytes)
        value: bytes | None = self._row(
            number,
            column,
            f"substr({column}, {offset + 1}, {length})",
            slice(offset, offset + length),
        )
        return value or b""

    def stderr_lines(self, number: int) -> list[str]:
        """The stderr lines captured during exchange ``number``."""
        lines: list[str] = json.loads(self._row(number, "stderr"))
        return lines

    def details(self, number: int) -> dict[str, Any]:
        """Extra fields kept on disk: the host's exchange id, start time, traceback, the
        monotonic send/head/finish times, the action's own time, stderr and printed bytes,
        runtime notes (``[{"code", "text"}]``)."""
        details: dict[str, Any] = json.loads(self._row(number, "details"))
        return details

    def export(self, number: int) -> dict[str, Any]:
        """Exchange ``number`` as one JSON-ready object: summary, request, response, stderr."""
        entry = self.get(number)
        response = self.response_bytes(number)
        record: dict[str, Any] = {"number": number}
        if entry is not None:
            record.update(
                plugin=entry.plugin,
                action=entry.action,
                status=entry.status,
                duration_ms=entry.duration_ms,
                action_duration_ms=entry.action_duration_ms,
                request_size_bytes=entry.request_size_bytes,
                response_size_bytes=entry.response_size_bytes,
                error=entry.error,
                exit_code=entry.exit_code,
                signal=entry.signal_number,
                rss_before_bytes=entry.rss_before_bytes,
                rss_after_bytes=entry.rss_after_bytes,
            )
        record.update(self.details(number))
        record["request"] = self.request_bytes(number).decode("utf-8", "replace")
        record["response"] = None if response is None else response.decode("utf-8", "replace")
        record["stderr"] = self.stderr_lines(number)
        return record

    def close(self, timeout_s: float = 30.0) -> None:
        """Write what is queued, close the database; remove it when the log made its own
        directory."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout_s)
        if not self._thread.is_alive():
            self._writer.close()
        with self._lock:
            self._connection.close()
        if self._remove_directory is not None:
            self._remove_directory()  # once: the finalizer does nothing after this


def _make_own_folder() -> tuple[Path, int]:
    """A new temporary folder for a log, and its lock file's descriptor, locked."""
    folder = Path(tempfile.mkdtemp(prefix=LOG_FOLDER_PREFIX))
    lock_fd = os.open(folder / OWNER_LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    fcntl.flock(lock_fd, fcntl.LOCK_EX)
    return folder, lock_fd


def _remove_own_folder(folder: Path, lock_fd: int) -> None:
    """Remove a log's own folder, then let go of its lock (a sweep never sees it half gone)."""
    shutil.rmtree(folder, ignore_errors=True)
    os.close(lock_fd)


@functools.cache
def _sweep_stale_log_folders() -> threading.Thread:
    """Start, once per process, the removal of stale log folders in a thread (a folder can
    hold gigabytes; the dashboard does not wait for it)."""
    thread = threading.Thread(
        target=remove_stale_log_folders, name="exchange-log-sweep", daemon=True
    )
    thread.start()
    return thread


def remove_stale_log_folders(temp_dir: Path | None = None) -> list[Path]:
    """Remove the logs' temporary folders in ``temp_dir`` (default: the temporary folder)
    that belonged to an aro-tui that ended without removing them (``kill -9``); return them.

    Only this user's, and only those whose owner is gone: its lock file locks (a live
    aro-tui, say a second dashboard, holds its own), or, in a folder made before there was a
    lock file, nothing was written for ``UNLOCKED_STALE_AGE_S``.
    """
    folder = Path(tempfile.gettempdir()) if temp_dir is None else temp_dir
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    removed = []
    for entry in entries:
        with contextlib.suppress(OSError):
            if (
                entry.name.startswith(LOG_FOLDER_PREFIX)
                and entry.is_dir(follow_symlinks=False)
                and entry.stat(follow_symlinks=False).st_uid == os.getuid()
                and _remove_if_stale(Path(entry.path))
            ):
                removed.append(Path(entry.path))
    return removed


def _remove_if_stale(folder: Path) -> bool:
    """Remove ``folder`` if no live process owns it; whether it was removed."""
    try:
        lock_fd = os.open(folder / OWNER_LOCK_NAME, os.O_RDWR | os.O_NOFOLLOW)
    except FileNotFoundError:
        return _remove_unlocked_if_old(folder)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: owner alive
        if time.time() - os.fstat(lock_fd).st_mtime < NEW_LOCK_GRACE_S:
            return False
        _remove_lock_last(folder)
        return True
    finally:
        os.close(lock_fd)


def _remove_unlocked_if_old(folder: Path) -> bool:
    """A folder without a lock file: removed when nothing in it was written for a day (an
    empty one by its own age: a new log's folder before its lock file is made)."""
    times = [path.lstat().st_mtime for path in folder.iterdir()] or [folder.lstat().st_mtime]
    if time.time() - max(times) < UNLOCKED_STALE_AGE_S:
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True


def _remove_lock_last(folder: Path) -> None:
    """Remove ``folder`` with its lock file last, so that a removal cut short (aro-tui ending
    meanwhile) leaves a folder the next sweep still knows as stale."""
    for path in folder.iterdir():
        if path.name == OWNER_LOCK_NAME:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    (folder / OWNER_LOCK_NAME).unlink(missing_ok=True)
    folder.rmdir()
