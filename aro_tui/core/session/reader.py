"""Read a recorded session back, tolerantly: a recording cut off mid-line still opens."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from aro_tui.core.session.records import (
    FORMAT_FAMILY,
    FORMAT_VERSION,
    RecordedExchange,
    bodies_dir,
    decode_exchange,
)
from aro_tui.core.telemetry.model_cache import MODELS_ACTION

__all__ = [
    "PluginEvent",
    "Session",
    "SessionHeader",
    "SessionReadError",
    "StderrLine",
    "read_session",
    "read_session_header",
]


class SessionReadError(Exception):
    """The file is not a session aro-tui can read (missing, empty, not a session, too new)."""


@dataclass(frozen=True)
class SessionHeader:
    """The first record: what wrote the session, and when."""

    format: str
    aro_tui_version: str
    session_id: str
    started_at: float
    plugins_dir: Path | None


@dataclass(frozen=True, slots=True)
class PluginEvent:
    """A plugin started, stopped or crashed (``details``: pid, exit_code, signal...)."""

    t: float
    plugin: str
    event: str
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StderrLine:
    """One line a plugin wrote on stderr; ``exchange_id`` None between calls."""

    t: float
    plugin: str
    exchange_id: int | None
    line: str


@dataclass
class Session:
    """Everything a session file holds, in the order it was recorded."""

    path: Path
    header: SessionHeader
    exchanges: list[RecordedExchange] = field(default_factory=list)
    plugin_events: list[PluginEvent] = field(default_factory=list)
    stderr_lines: list[StderrLine] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    """Telemetry samples as written (``TelemetrySample.from_json`` reads each)."""
    cache_events: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """Lines that could not be read (with their line numbers), e.g. a cut-off last record."""
    ended_at: float | None = None
    """When the recorder closed the file; None if aro-tui stopped before it could."""
    recorded_exchange_count: int | None = None
    """How many exchanges the end record says were written (None without one)."""

    @property
    def lost_exchanges(self) -> int:
        """Exchanges the end record counts that could not be read back (damaged lines)."""
        if self.recorded_exchange_count is None:
            return 0
        return max(0, self.recorded_exchange_count - len(self.exchanges))

    @property
    def session_id(self) -> str:
        """The session's id: its file name without ``.jsonl``, which ``open`` and ``replay``
        look up (a copy such as ``golden.jsonl`` keeps its header's id, but is ``golden``)."""
        return self.path.stem

    @property
    def plugins(self) -> list[str]:
        """Plugin names in order of first appearance."""
        names = [e.plugin for e in self.exchanges] + [e.plugin for e in self.plugin_events]
        return list(dict.fromkeys(names))

    @property
    def error_count(self) -> int:
        """Exchanges that did not end ``ok``."""
        return sum(1 for exchange in self.exchanges if exchange.status != "ok")

    def is_internal(self, exchange: RecordedExchange) -> bool:
        """Whether aro-tui issued ``exchange`` itself (a model-cache query), not the user.

        Sessions record it; in ones written before they did, it is read off the session: a
        ``models`` call to a plugin whose cache events the session holds.
        """
        recorded = exchange.record.get("internal")
        if isinstance(recorded, bool):
            return recorded
        if exchange.action != MODELS_ACTION:
            return False
        return any(event.get("plugin") == exchange.plugin for event in self.cache_events)

    def exchange(self, number: int) -> RecordedExchange:
        """The exchange numbered ``number`` (``KeyError`` if there is none)."""
        for exchange in self.exchanges:
            if exchange.number == number:
                return exchange
        raise KeyError(number)

    def size_bytes(self) -> int:
        """The session file plus its spilled bodies, on disk."""
        return session_size_bytes(self.path)


def session_size_bytes(path: Path) -> int:
    """Bytes used by a session file and its side folder."""
    total = path.stat().st_size if path.exists() else 0
    folder = bodies_dir(path)
    if folder.is_dir():
        total += sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    return total


def _lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, bytes, ended with a newline) for each line of ``path``."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            yield number, raw, raw.endswith(b"\n")


def _parse_header(record: Any, path: Path) -> SessionHeader:
    if not isinstance(record, dict) or record.get("type") != "header":
        raise SessionReadError(f"{path}: not an aro-tui session (no header on line 1)")
    format_name = str(record.get("format", ""))
    if not format_name.startswith(FORMAT_FAMILY):
        raise SessionReadError(f"{path}: unknown format {format_name!r}")
    version = format_name.removeprefix(FORMAT_FAMILY)
    if not version.isdigit() or int(version) > FORMAT_VERSION:
        raise SessionReadError(
            f"{path}: written in format {format_name!r}, newer than this aro-tui reads "
            f"(up to {FORMAT_FAMILY}{FORMAT_VERSION}); upgrade aro-tui"
        )
    plugins_dir = record.get("plugins_dir")
    return SessionHeader(
        format=format_name,
        aro_tui_version=str(record.get("aro_tui_version", "")),
        session_id=str(record.get("session_id") or path.stem),
        started_at=float(record.get("started_at") or 0.0),
        plugins_dir=Path(plugins_dir) if isinstance(plugins_dir, str) else None,
    )


def read_session_header(path: Path) -> SessionHeader:
    """Only the header (``SessionReadError`` if the file is not a session)."""
    try:
        with path.open("rb") as handle:
            first = handle.readline()
    except OSError as error:
        raise SessionReadError(f"{path}: cannot be read: {error.strerror or error}") from None
    if not first.strip():
        raise SessionReadError(f"{path}: empty file, not a session")
    try:
        record = orjson.loads(first)
    except orjson.JSONDecodeError:
        raise SessionReadError(f"{path}: not an aro-tui session (line 1 is not JSON)") from None
    return _parse_header(record, path)


def read_session(path: Path) -> Session:
    """Read a whole session; unreadable lines become :attr:`Session.warnings`, not errors."""
    session = Session(path, read_session_header(path))
    try:
        for number, raw, complete in _lines(path):
            if number == 1 or not raw.strip():
                continue
            _read_line(session, number, raw, complete)
    except OSError as error:
        raise SessionReadError(f"{path}: cannot be read: {error.strerror or error}") from None
    return session


def _read_line(session: Session, number: int, raw: bytes, complete: bool) -> None:
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        if complete:
            session.warnings.append(f"line {number}: not JSON ({error}); skipped")
        else:
            session.warnings.append(
                f"line {number}: the recording ends mid-record (aro-tui stopped while "
                f"writing it); the last {len(raw)} bytes were ignored"
            )
        return
    kind = record.get("type") if isinstance(record, dict) else None
    t = record.get("t") if isinstance(record, dict) else None
    t = float(t) if isinstance(t, int | float) else 0.0
    try:
        if kind == "exchange":
            session.exchanges.append(decode_exchange(record, session.path))
        elif kind == "plugin":
            details = {k: v for k, v in record.items() if k not in {"type", "t", "plugin", "event"}}
            event = PluginEvent(t, str(record["plugin"]), str(record["event"]), details)
            session.plugin_events.append(event)
        elif kind == "stderr":
            exchange_id = record.get("exchange_id")
            exchange_id = exchange_id if isinstance(exchange_id, int) else None
            line = StderrLine(t, str(record["plugin"]), exchange_id, str(record["line"]))
            session.stderr_lines.append(line)
        elif kind == "sample":
            session.samples.append(dict(record["sample"]))
        elif kind == "cache":
            session.cache_events.append(dict(record["event"]))
        elif kind == "end":
            session.ended_at = t
            count = record.get("exchanges")
            session.recorded_exchange_count = count if isinstance(count, int) else None
        else:
            session.warnings.append(f"line {number}: unknown record type {kind!r}; skipped")
    except (KeyError, TypeError, ValueError) as error:
        session.warnings.append(f"line {number}: malformed {kind} record ({error!r}); skipped")
