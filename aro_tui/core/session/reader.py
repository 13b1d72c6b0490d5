"""Read a recorded session back, tolerantly: a recording cut off mid-line still opens."""

from __future__ import annotations

import bisect
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from aro_tui.core.session.records import (
    FORMAT_FAMILY,
    FORMAT_VERSION,
    RecordedBody,
    RecordedExchange,
    bodies_dir,
    decode_exchange,
)
from aro_tui.core.telemetry.model_cache import MODELS_ACTION
from aro_tui.core.user_files import os_reason

__all__ = [
    "PluginEvent",
    "Session",
    "SessionHeader",
    "SessionOutline",
    "SessionReadError",
    "StderrLine",
    "format_ranges",
    "number_ranges",
    "outline_session",
    "read_session",
    "read_session_header",
    "spilled_body_problems",
]

NumberRange = tuple[int, int]
"""``(first, last)``, both included: ``(4, 21)`` is #4 to #21."""
SpilledBody = tuple[int, str, RecordedBody]
"""``(exchange number, "request" or "response", body)`` for a body in the side folder."""


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
class _SessionReading:
    """What reading a session file learns whether it keeps the records or only counts them:
    the header, the damage, and which exchange numbers were read on which line."""

    path: Path
    header: SessionHeader
    warnings: list[str] = field(default_factory=list)
    """Lines that could not be read (with their line numbers), e.g. a cut-off last record."""
    ended_at: float | None = None
    """When the recorder closed the file; None if aro-tui stopped before it could."""
    stopped: str | None = None
    """Why the recorder stopped before aro-tui ended (a write failed), when it could say so:
    nothing after that was recorded."""
    recorded_exchange_count: int | None = None
    """How many exchanges the end record says were written (None without one)."""
    exchange_lines: dict[int, int] = field(default_factory=dict)
    """The line each exchange was read from, by number (a repeated one is named with it)."""
    cut_off_exchange: int | None = None
    """The number of the exchange the recording ends in the middle of, when what was written
    of it says."""
    _highest_number: int = field(default=0, init=False, repr=False, compare=False)

    @property
    def missing_exchange_numbers(self) -> list[NumberRange]:
        """Exchange numbers the recording should hold but does not, as ranges.

        The recorder numbers exchanges 1, 2, 3... without gaps, so a gap below the highest
        number read is a lost line (damaged, or deleted without a trace), as is a number the
        end record counts past the highest read, or the exchange the recording was cut off in
        (its last line unfinished). Ranges, since a damaged number can be huge.
        """
        read = number_ranges(self.exchange_lines)
        cut_off = self.cut_off_exchange or 0
        highest = max(self.recorded_exchange_count or 0, read[-1][1] if read else 0, cut_off)
        missing: list[NumberRange] = []
        expected = 1
        for first, last in [*read, (highest + 1, highest + 1)]:
            if first > expected:
                missing.append((expected, first - 1))
            expected = max(expected, last + 1)
        return missing

    @property
    def lost_exchanges(self) -> int:
        """How many exchanges are missing from the recording (see
        :attr:`missing_exchange_numbers`)."""
        return sum(last - first + 1 for first, last in self.missing_exchange_numbers)

    @property
    def session_id(self) -> str:
        """The session's id: its file name without ``.jsonl``, which ``open`` and ``replay``
        look up (a copy such as ``golden.jsonl`` keeps its header's id, but is ``golden``)."""
        return self.path.stem

    def _keep_exchange(self, exchange: RecordedExchange, offset: int) -> None:
        """``exchange``, read at byte ``offset``, is one of the session's (see
        :func:`_read_exchange`); ``exchange_lines`` already has it."""
        raise NotImplementedError

    def _keep_plugin_event(self, event: PluginEvent) -> None:
        raise NotImplementedError

    def _keep_stderr_line(self, line: StderrLine) -> None:
        raise NotImplementedError

    def _keep_sample(self, sample: dict[str, Any]) -> None:
        raise NotImplementedError

    def _keep_cache_event(self, event: dict[str, Any]) -> None:
        raise NotImplementedError


@dataclass
class Session(_SessionReading):
    """Everything a session file holds, in the order it was recorded."""

    exchanges: list[RecordedExchange] = field(default_factory=list)
    plugin_events: list[PluginEvent] = field(default_factory=list)
    stderr_lines: list[StderrLine] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    """Telemetry samples as written (``TelemetrySample.from_json`` reads each)."""
    cache_events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def plugins(self) -> list[str]:
        """Plugin names in order of first appearance."""
        names = [e.plugin for e in self.exchanges] + [e.plugin for e in self.plugin_events]
        return list(dict.fromkeys(names))

    @property
    def error_count(self) -> int:
        """The calls made (not aro-tui's own queries) that did not end ``ok``."""
        return sum(
            1
            for exchange in self.exchanges
            if exchange.status != "ok" and not self.is_internal(exchange)
        )

    @property
    def spilled_bodies(self) -> list[SpilledBody]:
        """The bodies kept in the side folder, by exchange number."""
        return [
            (exchange.number, kind, body)
            for exchange in self.exchanges
            for kind, body in (("request", exchange.request), ("response", exchange.response))
            if body is not None and body.path is not None
        ]

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

    def _keep_exchange(self, exchange: RecordedExchange, offset: int) -> None:
        if self.exchanges and exchange.number < self.exchanges[-1].number:
            bisect.insort(self.exchanges, exchange, key=lambda e: e.number)
        else:
            self.exchanges.append(exchange)

    def _keep_plugin_event(self, event: PluginEvent) -> None:
        self.plugin_events.append(event)

    def _keep_stderr_line(self, line: StderrLine) -> None:
        self.stderr_lines.append(line)

    def _keep_sample(self, sample: dict[str, Any]) -> None:
        self.samples.append(sample)

    def _keep_cache_event(self, event: dict[str, Any]) -> None:
        self.cache_events.append(event)


@dataclass
class SessionOutline(_SessionReading):
    """A session read through once, counting what it holds and keeping no bodies, stderr
    tails or lines: what ``open --summary`` needs of a recording too large to hold (one of
    62,482 exchanges held 800 MB). :meth:`read_exchanges` reads the exchanges again, one at
    a time, from where :func:`outline_session` found them."""

    exchange_count: int = 0
    error_count: int = 0
    """Exchanges that did not end ``ok``."""
    stderr_line_count: int = 0
    sample_count: int = 0
    cache_event_count: int = 0
    plugin_event_count: int = 0
    spilled_bodies: list[SpilledBody] = field(default_factory=list)
    """The bodies kept in the side folder, by exchange number."""
    exchange_offsets: dict[int, int] = field(default_factory=dict)
    """Where each exchange's line starts in the file (a byte offset), by number."""
    on_exchange: Callable[[RecordedExchange], None] | None = field(default=None, repr=False)
    """Called with each exchange as it is read (in the file's order), then let go."""
    _first_number_by_plugin: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _event_plugins: dict[str, None] = field(default_factory=dict, init=False, repr=False)

    @property
    def plugins(self) -> list[str]:
        """Plugin names in order of first appearance, as :attr:`Session.plugins`."""
        by_first_exchange = sorted(
            self._first_number_by_plugin, key=self._first_number_by_plugin.__getitem__
        )
        return list(dict.fromkeys([*by_first_exchange, *self._event_plugins]))

    def read_exchanges(self) -> Iterator[RecordedExchange]:
        """The exchanges by number, each read again from its line. One whose line no longer
        reads as it did (the file was changed meanwhile) is left out, with a warning."""
        try:
            with self.path.open("rb") as handle:
                for number in sorted(self.exchange_offsets):
                    handle.seek(self.exchange_offsets[number])
                    try:
                        exchange = decode_exchange(orjson.loads(handle.readline()), self.path)
                    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                        exchange = None
                    if exchange is None or exchange.number != number:
                        self.warnings.append(
                            f"line {self.exchange_lines[number]}: exchange #{number} changed "
                            "while it was read; left out"
                        )
                        continue
                    yield exchange
        except OSError as error:
            raise SessionReadError(
                f"{self.path}: cannot be read: {error.strerror or error}"
            ) from None

    def _keep_exchange(self, exchange: RecordedExchange, offset: int) -> None:
        self.exchange_count += 1
        self.error_count += exchange.status != "ok"
        first = self._first_number_by_plugin.get(exchange.plugin)
        if first is None or exchange.number < first:
            self._first_number_by_plugin[exchange.plugin] = exchange.number
        for kind, body in (("request", exchange.request), ("response", exchange.response)):
            if body is not None and body.path is not None:
                self.spilled_bodies.append((exchange.number, kind, body))
        self.exchange_offsets[exchange.number] = offset
        if self.on_exchange is not None:
            self.on_exchange(exchange)

    def _keep_plugin_event(self, event: PluginEvent) -> None:
        self.plugin_event_count += 1
        self._event_plugins.setdefault(event.plugin)

    def _keep_stderr_line(self, line: StderrLine) -> None:
        self.stderr_line_count += 1

    def _keep_sample(self, sample: dict[str, Any]) -> None:
        self.sample_count += 1

    def _keep_cache_event(self, event: dict[str, Any]) -> None:
        self.cache_event_count += 1


def number_ranges(numbers: Iterable[int]) -> list[NumberRange]:
    """``[1, 2, 4, 5, 6]`` → ``[(1, 2), (4, 6)]`` (sorted, repeats merged)."""
    ranges: list[NumberRange] = []
    for number in sorted(set(numbers)):
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], number)
        else:
            ranges.append((number, number))
    return ranges


def format_ranges(ranges: Iterable[NumberRange], mark: str = "", limit: int = 10) -> str:
    """``[(1, 2), (4, 21)]`` → ``1–2, 4–21`` (``mark="#"``: ``#1–2, #4–21``); past ``limit``
    ranges, how many more, so a recording with every other line lost still fits a line."""
    ranges = list(ranges)
    texts = [
        f"{mark}{first}" if first == last else f"{mark}{first}–{last}"
        for first, last in ranges[:limit]
    ]
    if len(ranges) > limit:
        texts.append(f"and {len(ranges) - limit} more ranges")
    return ", ".join(texts)


def session_size_bytes(path: Path) -> int:
    """Bytes used by a session file and its side folder."""
    total = path.stat().st_size if path.exists() else 0
    folder = bodies_dir(path)
    if folder.is_dir():
        total += sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    return total


def _lines(path: Path) -> Iterator[tuple[int, bytes, bool, int]]:
    """(line number, bytes, ended with a newline, byte offset) for each line of ``path``."""
    offset = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            yield number, raw, raw.endswith(b"\n"), offset
            offset += len(raw)


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
    _read_records(session)
    return session


def outline_session(
    path: Path, on_exchange: Callable[[RecordedExchange], None] | None = None
) -> SessionOutline:
    """Read a session through once, keeping counts, damage and where each exchange is, but
    no records (see :class:`SessionOutline`); ``on_exchange`` sees each exchange as it is
    read. The warnings are :func:`read_session`'s, word for word."""
    outline = SessionOutline(path, read_session_header(path), on_exchange=on_exchange)
    _read_records(outline)
    outline.spilled_bodies.sort(key=lambda spilled: spilled[0])  # exchanges out of order
    return outline


def _read_records(reading: _SessionReading) -> None:
    try:
        for number, raw, complete, offset in _lines(reading.path):
            if number == 1 or not raw.strip():
                continue
            _read_line(reading, number, raw, complete, offset)
    except OSError as error:
        raise SessionReadError(
            f"{reading.path}: cannot be read: {error.strerror or error}"
        ) from None


def _read_line(
    reading: _SessionReading, number: int, raw: bytes, complete: bool, offset: int
) -> None:
    record = _decode_line(reading, number, raw, complete, offset)
    if record is None:
        return
    problem = _record_shape_problem(record)
    if problem is not None:
        reading.warnings.append(f"line {number}: {problem}; skipped")
        return
    kind = record["type"]
    t = record.get("t")
    t = float(t) if isinstance(t, int | float) else 0.0
    try:
        if kind == "exchange":
            _read_exchange(reading, number, record, offset)
        elif kind == "plugin":
            details = {k: v for k, v in record.items() if k not in {"type", "t", "plugin", "event"}}
            event = PluginEvent(t, str(record["plugin"]), str(record["event"]), details)
            reading._keep_plugin_event(event)
        elif kind == "stderr":
            exchange_id = record.get("exchange_id")
            exchange_id = exchange_id if isinstance(exchange_id, int) else None
            line = StderrLine(t, str(record["plugin"]), exchange_id, str(record["line"]))
            reading._keep_stderr_line(line)
        elif kind == "sample":
            reading._keep_sample(dict(record["sample"]))
        elif kind == "cache":
            reading._keep_cache_event(dict(record["event"]))
        elif kind == "end":
            _read_end(reading, record, t)
        elif kind == "header":
            reading.warnings.append(f"line {number}: a second header; skipped")
        else:
            reading.warnings.append(f"line {number}: unknown record type {kind!r}; skipped")
    except (KeyError, TypeError, ValueError) as error:
        reading.warnings.append(f"line {number}: malformed {kind} record ({error!r}); skipped")


def _read_end(reading: _SessionReading, record: dict[str, Any], t: float) -> None:
    """The end record: a closed recording's counts, or why the recording stopped early."""
    reading.ended_at = t
    count = record.get("exchanges")
    reading.recorded_exchange_count = count if isinstance(count, int) else None
    stopped = record.get("stopped")
    if stopped is not None:
        reading.stopped = str(stopped)
        reading.warnings.append(
            f"recording stopped: {reading.stopped}; nothing after that was recorded"
        )


_CUT_OFF_EXCHANGE = re.compile(
    rb'\A\s*\{"type":\s*"exchange",\s*(?:"t":\s*[-+0-9.eE]+,\s*)?"number":\s*([0-9]+)\s*[,}]'
)
"""The start of an exchange record as the recorder writes it, up to its number (whole: a
comma or the end follows it), which is all a line cut off early may hold."""


def _decode_line(
    reading: _SessionReading, number: int, raw: bytes, complete: bool, offset: int
) -> Any:
    """The line's JSON value, or None after a warning (a cut-off last line is not damage,
    though the exchange it held, when it held one, is lost)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        if complete:
            reading.warnings.append(f"line {number}: {_not_json(raw, offset, error)}; skipped")
            return None
        cut_off = _CUT_OFF_EXCHANGE.match(raw)
        which = ""
        if cut_off is not None and int(cut_off[1]) >= 1:
            reading.cut_off_exchange = int(cut_off[1])
            which = f": exchange #{reading.cut_off_exchange} was cut off"
        reading.warnings.append(
            f"line {number}: the recording ends mid-record (aro-tui stopped while "
            f"writing it){which}; the last {len(raw)} bytes were ignored"
        )
        return None


def _not_json(raw: bytes, offset: int, error: orjson.JSONDecodeError) -> str:
    """What is wrong with a line that is not JSON: bytes that are not UTF-8 (random bytes
    written into the file) are named by where they are, not by orjson's "str is not valid
    UTF-8: surrogates not allowed"."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return (
            f"not UTF-8 text (byte 0x{raw[bad.start]:02x} at offset {offset + bad.start:,} of "
            f"the file, byte {bad.start + 1:,} of the line)"
        )
    return f"not JSON ({error})"


_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "true or false", type(None): "null"}  # fmt: skip


def _record_shape_problem(record: Any) -> str | None:
    """Why ``record`` is no record at all (every record is an object with a ``type``)."""
    if not isinstance(record, dict):
        return f"not a record object ({_JSON_KINDS.get(type(record), 'another JSON value')})"
    if record.get("type") is None:
        return "a record with no type"
    return None


def _read_exchange(
    reading: _SessionReading, line: int, record: dict[str, Any], offset: int
) -> None:
    """Add the exchange, unless its number was read already or is below 1.

    The recorder writes numbers 1, 2, 3... in order, so a repeat is a copied line: kept, it
    would be listed and replayed twice and shift the dashboard's numbering by one. One out of
    order (lines moved) is read in its place, with a warning: skipping it, or every line after
    a moved one numbered higher, would lose exchanges that are there.
    """
    exchange = decode_exchange(record, reading.path)
    number = exchange.number
    if number in reading.exchange_lines:
        first = reading.exchange_lines[number]
        reading.warnings.append(
            f"line {line}: exchange #{number} again (first on line {first}); skipped"
        )
        return
    if number < 1:
        reading.warnings.append(
            f"line {line}: exchange #{number}: exchanges are numbered from 1; skipped"
        )
        return
    previous = reading._highest_number
    if number < previous:
        reading.warnings.append(
            f"line {line}: exchange #{number} after #{previous} (line "
            f"{reading.exchange_lines[previous]}), out of order; read in its place"
        )
    reading._highest_number = max(previous, number)
    reading.exchange_lines[number] = line
    reading._keep_exchange(exchange, offset)


def spilled_body_problems(session: Session | SessionOutline) -> list[str]:
    """One line per spilled body whose side file was never written, is gone or is not the
    size recorded.

    ``stat`` only, so a summary of a large recording stays cheap; a whole side folder gone
    is one line, not one per body.
    """
    written = [spilled for spilled in session.spilled_bodies if spilled[2].lost is None]
    folder = bodies_dir(session.path)
    folder_missing = bool(written) and not folder.is_dir()
    problems = []
    for number, kind, body in session.spilled_bodies:
        if body.lost is not None:
            problems.append(f"exchange #{number}: its {kind} was not recorded ({body.lost})")
        elif not folder_missing and (problem := _side_file_problem(body)) is not None:
            problems.append(f"exchange #{number}: its recorded {kind} is {problem}")
    if folder_missing:
        numbers = format_ranges(number_ranges(number for number, _, _ in written), "#")
        problems.append(
            f"the side folder {folder.name} is missing: the {len(written)} spilled bodies of "
            f"exchange(s) {numbers} are lost"
        )
    return problems


def _side_file_problem(body: RecordedBody) -> str | None:
    """Why ``body``'s side file cannot give it back, or None when it looks whole."""
    assert body.path is not None
    where = f"{body.path.parent.name}/{body.path.name}"
    try:
        status = body.path.stat()
    except FileNotFoundError:
        return f"lost ({where} is missing)"
    except (OSError, ValueError) as error:  # a NUL in a damaged record's name: ValueError
        return f"lost ({where}: {os_reason(error)})"
    if not stat.S_ISREG(status.st_mode):
        return f"lost ({where} is not a file)"
    if status.st_size != body.size_bytes:
        return f"damaged ({where} holds {status.st_size} bytes, recorded {body.size_bytes})"
    return None
