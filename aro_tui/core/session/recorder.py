"""Record a session as it happens: one JSONL file, written by a thread so the loop never blocks.

Calls on the event loop only copy a few fields and put them on a queue. The writer thread
encodes each record, writes it as one line (unbuffered: a crash of aro-tui loses at most
what was still queued), fsyncs at most every ``fsync_interval_s``, and spills bodies larger
than ``spill_bytes`` to a side folder so lines stay small and quick to read back.

A recording that cannot go on ends itself, and says why: a write that fails leaves a final
``end`` record naming the reason (``"stopped"``), a file deleted or moved away while being
written is noticed at the next fsync or body spill, and a side file that cannot be written
loses only that body (recorded as ``"lost"``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from aro_tui import __version__
from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.host.process import PluginObserver, PluginProcess, PluginState
from aro_tui.core.session.records import (
    FORMAT,
    ExchangeSnapshot,
    bodies_dir,
    encode_body,
    exchange_fields,
)

__all__ = ["RecordingObserver", "SessionRecorder", "SupportsToJson"]

DEFAULT_SPILL_BYTES = 256 * 1024
MAX_RECORDED_STDERR_LINES = 2000
MAX_RECORDED_STDERR_BYTES = 1024 * 1024
"""stderr lines recorded one by one, per call and per plugin between two calls: the rest
are counted in one record (the exchange record keeps the call's last lines and its count).
A plugin writing a million lines a second wrote 1.1 GB of records in a minute."""
MAX_RECORDED_STDERR_SESSION_BYTES = 256 * 1024 * 1024
"""And per session: a plugin logging 5,000 lines a second between calls, with a call every
second, wrote 1.1 GB an hour (each stretch between calls had its own 2,000 lines)."""
DEFAULT_FSYNC_INTERVAL_S = 2.0


class _RecordingGone(OSError):
    """The session file is no longer at its path (deleted, moved or replaced)."""


class SupportsToJson(Protocol):
    """A record with a JSON form (telemetry's ``TelemetrySample``)."""

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class _Line:
    record: dict[str, Any]


_STOP = object()


class SessionRecorder:
    """Writes one session file; every ``record_*`` method is cheap and never blocks on disk.

    Make one with :meth:`create` (or ``aro_tui.core.session.store.start_session``), attach
    :meth:`observer` to the plugin host, call :meth:`close` on exit.
    """

    def __init__(
        self,
        path: Path,
        *,
        plugins_dir: Path | None = None,
        session_id: str | None = None,
        spill_bytes: int = DEFAULT_SPILL_BYTES,
        fsync_interval_s: float = DEFAULT_FSYNC_INTERVAL_S,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self.session_id = session_id or path.stem
        self.spill_bytes = spill_bytes
        self.fsync_interval_s = fsync_interval_s
        self.on_error = on_error
        """Called once, on the writer thread, if writing fails (use ``call_from_thread``)."""
        self.on_body_lost: Callable[[str], None] | None = None
        """Called once, on the writer thread, when a body's side file first cannot be
        written: that body is recorded as lost and the recording goes on."""
        self.error: str | None = None
        """Why recording stopped, if it did (the session file keeps what was written)."""
        self.exchange_count = 0
        self.error_count = 0
        self.internal_count = 0
        self.started_at = time.time()
        self.plugins: dict[str, None] = {}
        """Plugin names seen, in order (an ordered set)."""
        self.is_internal: Callable[[Exchange], bool] | None = None
        """Whether an exchange was aro-tui's own (a model-cache query, a replay's rerun); set
        by the dashboard, recorded as ``"internal"`` so that replay can leave those out. Asked
        as the exchange ends, before its message reaches the screen."""
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._stderr_recorded: dict[tuple[str, int | None], tuple[int, int]] = {}
        """(lines, bytes) recorded one by one for each (plugin, exchange id)."""
        self._stderr_skipped: dict[tuple[str, int | None], int] = {}
        self._stderr_session_bytes = 0
        self._closed = False
        self._body_lost = False
        self._written_bytes = 0
        """The file's length up to the end of its last whole record."""
        self._writing: str = "the header"
        """What the writer thread is writing now, for the reason it stopped."""
        self._bodies_fd: int | None = None
        """The side folder, held open and locked once this recorder made it (see
        ``store.remove_orphan_bodies``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # Unbuffered: a failed write leaves nothing queued in a buffer that closing the file
        # would append after the final record.
        self._file: IO[bytes] = path.open("xb", buffering=0)
        # Held until the file is closed, or the process dies: ``aro-tui sessions`` tells a
        # session being recorded from one cut off, and pruning leaves it alone.
        fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._identity = _identity(os.fstat(self._file.fileno()))
        header = {
            "type": "header",
            "format": FORMAT,
            "aro_tui_version": __version__,
            "session_id": self.session_id,
            "started_at": self.started_at,
            "plugins_dir": None if plugins_dir is None else str(plugins_dir),
        }
        self._write(header)
        self._thread = threading.Thread(
            target=self._run, name=f"session-writer-{self.session_id}", daemon=True
        )
        self._thread.start()

    @classmethod
    def create(cls, sessions_dir: Path, **options: Any) -> SessionRecorder:
        """A recorder writing ``<sessions_dir>/<YYYYmmdd-HHMMSS>-<6 hex>.jsonl``."""
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime())
        return cls(sessions_dir / f"{stamp}-{secrets.token_hex(3)}.jsonl", **options)

    # -- what the dashboard calls (event loop) -------------------------------------------

    def record_exchange(self, exchange: Exchange) -> int:
        """Record a finished exchange; returns its number in the session (1-based)."""
        self.exchange_count += 1
        self.plugins.setdefault(exchange.plugin)
        self.end_stderr(exchange.plugin, exchange.id)
        internal = self.is_internal is not None and self.is_internal(exchange)
        self.internal_count += internal
        if exchange.status is not ExchangeStatus.OK and not internal:
            self.error_count += 1  # of the calls made: aro-tui's own queries are not counted
        snapshot = ExchangeSnapshot(
            self.exchange_count, time.time(), exchange, tuple(exchange.stderr_lines), internal
        )
        self._put(snapshot)
        return self.exchange_count

    def record_plugin_event(self, plugin: str, event: str, **details: Any) -> None:
        """A plugin ``started``, ``stopped``, ``crashed`` (details: pid, exit_code, ...)."""
        self.plugins.setdefault(plugin)
        self._put(_Line({"type": "plugin", "t": time.time(), "plugin": plugin, "event": event,
                         **details}))  # fmt: skip

    def record_stderr_line(self, plugin: str, line: str, exchange_id: int | None) -> None:
        """A line the plugin wrote on stderr (``exchange_id`` None between calls); past
        ``MAX_RECORDED_STDERR_LINES`` (or ``_BYTES``) for the call only counted."""
        key = (plugin, exchange_id)
        lines, size = self._stderr_recorded.get(key, (0, 0))
        spent = self._stderr_session_bytes >= MAX_RECORDED_STDERR_SESSION_BYTES
        if lines >= MAX_RECORDED_STDERR_LINES or size >= MAX_RECORDED_STDERR_BYTES or spent:
            self._stderr_skipped[key] = self._stderr_skipped.get(key, 0) + 1
            return
        self._stderr_recorded[key] = (lines + 1, size + len(line))
        self._stderr_session_bytes += len(line)
        record = {"type": "stderr", "t": time.time(), "plugin": plugin}
        self._put(_Line({**record, "exchange_id": exchange_id, "line": line}))

    def end_stderr(self, plugin: str, exchange_id: int | None) -> None:
        """The call (or, for None, the time between calls) is over: record how many of its
        stderr lines were left out, if any. Between calls the count starts afresh; a call
        that reached the limit keeps it (a killed plugin's last lines still come in)."""
        key = (plugin, exchange_id)
        lines, size = self._stderr_recorded.get(key, (0, 0))
        below = lines < MAX_RECORDED_STDERR_LINES and size < MAX_RECORDED_STDERR_BYTES
        if exchange_id is None or below:
            self._stderr_recorded.pop(key, None)
        skipped = self._stderr_skipped.pop(key, 0)
        if skipped:
            line = f"[aro-tui: {skipped:,} more stderr lines not recorded one by one]"
            record = {"type": "stderr", "t": time.time(), "plugin": plugin}
            self._put(_Line({**record, "exchange_id": exchange_id, "line": line,
                             "skipped": skipped}))  # fmt: skip

    def record_sample(self, sample: Mapping[str, Any] | SupportsToJson) -> None:
        """A telemetry sample (``TelemetrySample`` or its ``to_json()`` dict)."""
        data = sample if isinstance(sample, Mapping) else sample.to_json()
        self._put(_Line({"type": "sample", "t": time.time(), "sample": dict(data)}))

    def record_cache_event(self, event: Mapping[str, Any]) -> None:
        """A model-cache event (load, unload, a cache listing): opaque JSON-ready data."""
        self._put(_Line({"type": "cache", "t": time.time(), "event": dict(event)}))

    def observer(self, forward_to: PluginObserver | None = None) -> RecordingObserver:
        """A host observer that records plugin events, exchanges and stderr lines."""
        return RecordingObserver(self, forward_to)

    def close(self, timeout_s: float = 30.0) -> None:
        """Write the end record, wait for the queue to drain, fsync and close (idempotent)."""
        if self._closed:
            return
        for plugin, exchange_id in list(self._stderr_skipped):  # calls still running
            self.end_stderr(plugin, exchange_id)
        self._closed = True
        end = {
            "type": "end",
            "t": time.time(),
            "exchanges": self.exchange_count,
            "errors": self.error_count,
            "internal": self.internal_count,
            "plugins": list(self.plugins),
        }
        self._queue.put(_Line(end))
        self._queue.put(_STOP)
        self._thread.join(timeout_s)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def _put(self, item: object) -> None:
        if not self._closed and self.error is None:
            self._queue.put(item)

    # -- the writer thread ---------------------------------------------------------------

    def _run(self) -> None:
        last_sync = time.monotonic()
        dirty = False
        try:
            while True:
                try:
                    item = self._queue.get(timeout=self.fsync_interval_s if dirty else None)
                except queue.Empty:
                    item = None
                if item is _STOP:
                    break
                if item is not None:
                    self._write(self._encode(item))
                    dirty = True
                if dirty and time.monotonic() - last_sync >= self.fsync_interval_s:
                    self._check_still_there()
                    os.fsync(self._file.fileno())
                    last_sync, dirty = time.monotonic(), False
            self._check_still_there()
            os.fsync(self._file.fileno())
        except _RecordingGone as gone:
            self._stop(str(gone), final_record=False)
        except (OSError, ValueError, TypeError) as error:
            self._stop(str(error), final_record=True)
        finally:
            self._file.close()
            if self._bodies_fd is not None:
                os.close(self._bodies_fd)

    def _stop(self, reason: str, *, final_record: bool) -> None:
        """Stop recording: say why in the file (when it is still there), then to the app."""
        if final_record:
            reason = f"{reason} (writing {self._writing})"
            self._write_stop_record(reason)
        self.error = f"recording to {self.path} stopped: {reason}"
        if self.on_error is not None:
            self.on_error(self.error)

    def _write_stop_record(self, reason: str) -> None:
        """Try once to end the file with why it stopped, in place of the record that failed.

        The failed write may have left part of a line, which is cut away first: it made the
        next line unreadable, and it holds the room (a file-size limit, a full disk) that
        the small final record needs. If even that fails, the file reads as cut off.
        """
        fd = self._file.fileno()
        with contextlib.suppress(OSError):
            os.ftruncate(fd, self._written_bytes)
            os.lseek(fd, self._written_bytes, os.SEEK_SET)
            self._write({"type": "end", "t": time.time(), "stopped": reason})
            os.fsync(fd)

    def _check_still_there(self) -> None:
        """``_RecordingGone`` when the path no longer names the file being written: what is
        written after that is lost, and a spilled body would make an orphan side folder."""
        try:
            on_disk = self.path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise _RecordingGone("the file was deleted or moved away while recording") from None
        except OSError:
            return  # cannot tell (no search permission): the writes themselves still work
        if _identity(on_disk) != self._identity:
            raise _RecordingGone("another file was put in its place while recording")

    def _write(self, record: dict[str, Any]) -> None:
        line = orjson.dumps(record) + b"\n"
        fd, left = self._file.fileno(), memoryview(line)
        while left:  # a regular file takes it all in one write, unless the write fails
            left = left[os.write(fd, left) :]
        self._written_bytes += len(line)

    def _encode(self, item: object) -> dict[str, Any]:
        if isinstance(item, _Line):
            self._writing = f"the {item.record.get('type')} record"
            return item.record
        assert isinstance(item, ExchangeSnapshot)
        self._writing = f"exchange #{item.number}"
        record = exchange_fields(item)
        exchange = item.exchange
        record["request"] = self._body(exchange.request_bytes, item.number, "request")
        response = exchange.response_bytes
        record["response"] = None if response is None else self._body(response, item.number,
                                                                       "response")  # fmt: skip
        return record

    def _body(self, data: bytes, number: int, kind: str) -> dict[str, Any]:
        if len(data) <= self.spill_bytes:
            return encode_body(data, None)
        self._check_still_there()  # else the side folder is made again, beside no file
        side_file = bodies_dir(self.path) / f"{number}.{kind}"
        try:
            self._open_bodies_dir()
            return encode_body(data, side_file)
        except OSError as error:
            return self._lost_body(data, side_file, number, kind, error)

    def _open_bodies_dir(self) -> None:
        """Make the side folder and hold a lock on it while recording, so that pruning in
        another aro-tui never takes it for an orphan."""
        if self._bodies_fd is not None:
            return
        folder = bodies_dir(self.path)
        folder.mkdir(exist_ok=True)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(fd, fcntl.LOCK_SH)
        self._bodies_fd = fd

    def _lost_body(
        self, data: bytes, side_file: Path, number: int, kind: str, error: OSError
    ) -> dict[str, Any]:
        """A body whose side file could not be written: recorded as lost, with why (the
        ``file`` stays, so older readers report it missing), and the recording goes on."""
        with contextlib.suppress(OSError):
            side_file.unlink(missing_ok=True)  # a part written: not the body
        reason = str(error)
        if not self._body_lost and self.on_body_lost is not None:
            self.on_body_lost(
                f"recording to {self.path}: the {kind} of exchange #{number} could not be "
                f"written ({reason}); recorded without it, as will be any other body that "
                "cannot be written"
            )
        self._body_lost = True
        return {"size_bytes": len(data), "file": side_file.name, "lost": reason}


class RecordingObserver(PluginObserver):
    """Records what the host reports, then passes each event on to ``forward_to``."""

    def __init__(self, recorder: SessionRecorder, forward_to: PluginObserver | None = None):
        self.recorder = recorder
        self.forward_to = forward_to
        self._states: dict[str, PluginState] = {}

    def on_state_changed(self, plugin: PluginProcess, state: PluginState) -> None:
        previous = self._states.get(plugin.name)
        self._states[plugin.name] = state
        event = _plugin_event(previous, state)
        if event == "started":
            self.recorder.record_plugin_event(
                plugin.name, event, pid=plugin.pid, cold_start_s=plugin.cold_start_s
            )
        elif event is not None:
            self.recorder.record_plugin_event(
                plugin.name, event, exit_code=plugin.exit_code, signal=plugin.signal_number
            )
        if self.forward_to is not None:
            self.forward_to.on_state_changed(plugin, state)

    def on_exchange_started(self, plugin: PluginProcess, exchange: Exchange) -> None:
        self.recorder.end_stderr(plugin.name, None)  # the lines between calls end here
        if self.forward_to is not None:
            self.forward_to.on_exchange_started(plugin, exchange)

    def on_exchange_finished(self, plugin: PluginProcess, exchange: Exchange) -> None:
        self.recorder.record_exchange(exchange)
        if self.forward_to is not None:
            self.forward_to.on_exchange_finished(plugin, exchange)

    def on_stderr_line(self, plugin: PluginProcess, line: str, exchange: Exchange | None) -> None:
        self.recorder.record_stderr_line(
            plugin.name, line, None if exchange is None else exchange.id
        )
        if self.forward_to is not None:
            self.forward_to.on_stderr_line(plugin, line, exchange)

    def on_stderr_partial(
        self, plugin: PluginProcess, text: str, exchange: Exchange | None
    ) -> None:
        # Not recorded (it ends as a line, recorded then), but passed on: with a recording on,
        # a progress bar never showed while it was drawn.
        if self.forward_to is not None:
            self.forward_to.on_stderr_partial(plugin, text, exchange)


def _identity(status: os.stat_result) -> tuple[int, int]:
    """What tells one file from another: (device, inode)."""
    return status.st_dev, status.st_ino


def _plugin_event(previous: PluginState | None, state: PluginState) -> str | None:
    """Lifecycle events worth a record (ready ⇄ busy on every call is not one)."""
    if state is PluginState.STARTING:
        return "starting"
    if state is PluginState.READY and previous is PluginState.STARTING:
        return "started"
    if state is PluginState.STOPPED:
        return "stopped"
    if state is PluginState.CRASHED:
        return "crashed"
    return None
