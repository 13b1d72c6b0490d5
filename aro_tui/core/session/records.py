"""The session file's records: how an exchange and its bodies are written and read back.

One JSON object per line, each with a ``"type"``; ``docs/sessions.md`` documents them all.
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aro_tui.core.host.exchange import MAX_EXCHANGE_STDERR_LINES, Exchange, ExchangeStatus
from aro_tui.core.runtime_notes import RuntimeNote

FORMAT = "aro-tui/session/1"
FORMAT_FAMILY = "aro-tui/session/"
FORMAT_VERSION = 1
SUFFIX = ".jsonl"
BODIES_SUFFIX = ".bodies"
"""Bodies above the spill size go to ``<session stem>.bodies/<number>.<request|response>``."""


def bodies_dir(session_path: Path) -> Path:
    """The side folder for a session's spilled bodies."""
    return session_path.with_name(session_path.stem + BODIES_SUFFIX)


@dataclass(frozen=True, slots=True)
class ExchangeSnapshot:
    """An exchange's fields copied on the event loop; the writer thread encodes it."""

    number: int
    recorded_at: float
    exchange: Exchange
    stderr_tail: tuple[str, ...]
    internal: bool = False
    """Issued by aro-tui itself (a model-cache query), not by the user."""


def exchange_fields(snapshot: ExchangeSnapshot) -> dict[str, Any]:
    """An exchange record without its bodies (cheap; the bodies are added by the writer)."""
    exchange = snapshot.exchange
    summary = exchange.summary()
    latency_s = exchange.latency_s
    return {
        "type": "exchange",
        "t": snapshot.recorded_at,
        "number": snapshot.number,
        "id": exchange.id,
        "plugin": exchange.plugin,
        "action": exchange.action,
        "internal": snapshot.internal,
        "status": str(exchange.status),
        "error": exchange.error,
        "traceback": exchange.traceback,
        "started_at": exchange.started_at,
        "duration_ms": summary["duration_ms"],
        "action_ms": summary["action_ms"],
        "latency_ms": None if latency_s is None else round(latency_s * 1000, 3),
        "sent_monotonic_s": exchange.sent_monotonic_s,
        "head_monotonic_s": exchange.head_monotonic_s,
        "finished_monotonic_s": exchange.finished_monotonic_s,
        "action_duration_s": exchange.action_duration_s,
        "pid": exchange.pid,
        "rss_before_bytes": exchange.rss_before_bytes,
        "rss_after_bytes": exchange.rss_after_bytes,
        "rss_peak_bytes": exchange.rss_peak_bytes,
        "exit_code": exchange.exit_code,
        "signal": exchange.signal_number,
        "stderr_line_count": exchange.stderr_line_count,
        "stderr_bytes": exchange.stderr_bytes,
        "printed_bytes": exchange.printed_bytes,
        "runtime_notes": [{"code": n.code, "text": n.text} for n in exchange.runtime_notes],
        "stderr_tail": list(snapshot.stderr_tail),
    }


def encode_body(data: bytes, spill_to: Path | None) -> dict[str, Any]:
    """``{"size_bytes", "text"|"base64"|"file"}``; written to ``spill_to`` when given."""
    if spill_to is not None:
        spill_to.write_bytes(data)
        return {"size_bytes": len(data), "file": spill_to.name}
    try:
        return {"size_bytes": len(data), "text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"size_bytes": len(data), "base64": base64.b64encode(data).decode("ascii")}


@dataclass(frozen=True, slots=True)
class RecordedBody:
    """A request or response body: inline, or in the session's side folder (read on demand)."""

    size_bytes: int
    data: bytes | None = None
    path: Path | None = None
    lost: str | None = None
    """Why the side file was never written (the recorder could not), if it was not."""

    def read(self) -> bytes:
        """The body's bytes (``OSError`` if its side file was never written, is gone, holds
        another number of bytes than was recorded, or its recorded name is not one a file can
        have: a NUL)."""
        if self.data is not None:
            return self.data
        if self.lost is not None:
            raise OSError(f"not recorded: {self.lost}")
        assert self.path is not None
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            raise OSError(f"{self.path} is missing") from None
        except ValueError as error:  # "embedded null byte": a damaged record
            raise OSError(f"not a file name: {error}") from None
        if self.size_bytes and len(data) != self.size_bytes:
            # Emptied or cut short (a copy interrupted, a full disk): not the recorded body,
            # which a replay would otherwise call a regression.
            raise OSError(
                f"{self.path} holds {len(data):,} bytes where {self.size_bytes:,} were "
                "recorded: the file is damaged"
            )
        return data


def decode_body(record: Any, session_path: Path) -> RecordedBody | None:
    """Read a body written by :func:`encode_body` (``ValueError`` if malformed)."""
    if record is None:
        return None
    if not isinstance(record, Mapping):
        raise ValueError("a body must be an object")
    size = int(record.get("size_bytes", 0))
    if isinstance(record.get("text"), str):
        return RecordedBody(size, data=record["text"].encode("utf-8"))
    if isinstance(record.get("base64"), str):
        return RecordedBody(size, data=base64.b64decode(record["base64"]))
    name = record.get("file")
    if isinstance(name, str) and "/" not in name and name not in {"", ".", ".."}:
        lost = record.get("lost")
        lost = None if lost is None else str(lost)
        return RecordedBody(size, path=bodies_dir(session_path) / name, lost=lost)
    raise ValueError("a body needs text, base64 or file")


@dataclass(frozen=True)
class RecordedExchange:
    """One exchange as recorded; :meth:`to_exchange` rebuilds the host's record."""

    number: int
    """1-based position among the session's exchanges (``replay --exchange N``)."""
    recorded_at: float
    id: int
    plugin: str
    action: str
    status: ExchangeStatus
    request: RecordedBody
    response: RecordedBody | None
    record: Mapping[str, Any]
    """The whole record as read (timings, memory, stderr: see ``docs/sessions.md``)."""

    @property
    def started_at(self) -> float:
        """Wall-clock time the call started (when it was recorded, in old sessions)."""
        return float(self.record.get("started_at") or self.recorded_at)

    @property
    def duration_ms(self) -> float | None:
        """Service time in the plugin as seen by the host."""
        return _optional_float(self.record.get("duration_ms"))

    @property
    def shown_duration_ms(self) -> float | None:
        """The time the dashboard's log shows: the action's own, else the service time."""
        action_ms = _optional_float(self.record.get("action_ms"))
        return action_ms if action_ms is not None else self.duration_ms

    @property
    def rss_before_bytes(self) -> int | None:
        """Resident memory of the plugin's tree before the call."""
        return _optional_int(self.record.get("rss_before_bytes"))

    @property
    def rss_after_bytes(self) -> int | None:
        """Resident memory of the plugin's tree after the call."""
        return _optional_int(self.record.get("rss_after_bytes"))

    @property
    def error(self) -> str | None:
        """The one-line summary when the exchange did not succeed."""
        error = self.record.get("error")
        return error if isinstance(error, str) else None

    @property
    def stderr_tail(self) -> list[str]:
        """The last stderr lines printed during the call."""
        tail = self.record.get("stderr_tail")
        return [str(line) for line in tail] if isinstance(tail, list) else []

    def to_exchange(self) -> Exchange:
        """The host's :class:`Exchange` as it ended (reads spilled bodies from disk;
        ``OSError`` when one is lost)."""
        response = None if self.response is None else self.response.read()
        return self._exchange(self.request.read(), response)

    def salvage(self) -> tuple[Exchange, dict[str, str]]:
        """:meth:`to_exchange`, keeping what is left when a body is lost: the lost one reads
        empty (request) or None (response), and the second value says why, by body name
        (``{"response": "… holds 0 bytes where 1,500,012 were recorded …"}``)."""
        lost: dict[str, str] = {}
        bodies: dict[str, bytes | None] = {}
        for name, body in (("request", self.request), ("response", self.response)):
            try:
                bodies[name] = None if body is None else body.read()
            except OSError as error:
                lost[name] = str(error)
                bodies[name] = b"" if name == "request" else None
        return self._exchange(bodies["request"] or b"", bodies["response"]), lost

    def _exchange(self, request: bytes, response: bytes | None) -> Exchange:
        record = self.record
        return Exchange(
            id=self.id,
            plugin=self.plugin,
            action=self.action,
            request_bytes=request,
            started_at=self.started_at,
            sent_monotonic_s=float(record.get("sent_monotonic_s") or 0.0),
            head_monotonic_s=float(record.get("head_monotonic_s") or 0.0),
            finished_monotonic_s=_optional_float(record.get("finished_monotonic_s")),
            action_duration_s=_optional_float(record.get("action_duration_s")),
            status=self.status,
            response_bytes=response,
            error=self.error,
            traceback=record.get("traceback") if isinstance(record.get("traceback"), str) else None,
            exit_code=_optional_int(record.get("exit_code")),
            signal_number=_optional_int(record.get("signal")),
            stderr_lines=deque(self.stderr_tail, maxlen=MAX_EXCHANGE_STDERR_LINES),
            stderr_line_count=_optional_int(record.get("stderr_line_count")) or 0,
            stderr_bytes=_optional_int(record.get("stderr_bytes")) or 0,
            printed_bytes=_optional_int(record.get("printed_bytes")) or 0,
            pid=_optional_int(record.get("pid")),
            rss_before_bytes=self.rss_before_bytes,
            rss_after_bytes=self.rss_after_bytes,
            rss_peak_bytes=_optional_int(record.get("rss_peak_bytes")),
            runtime_notes=_runtime_notes(record.get("runtime_notes")),
        )


def decode_exchange(record: Mapping[str, Any], session_path: Path) -> RecordedExchange:
    """Read an exchange record (``ValueError``/``KeyError``/``TypeError`` if malformed)."""
    request = decode_body(record["request"], session_path)
    if request is None:
        raise ValueError("an exchange needs a request")
    return RecordedExchange(
        number=int(record["number"]),
        recorded_at=float(record.get("t") or 0.0),
        id=int(record["id"]),
        plugin=str(record["plugin"]),
        action=str(record["action"]),
        status=ExchangeStatus(record["status"]),
        request=request,
        response=decode_body(record.get("response"), session_path),
        record=record,
    )


def _optional_int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _optional_float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _runtime_notes(value: object) -> tuple[RuntimeNote, ...]:
    """Notes as recorded (absent in sessions recorded before they existed)."""
    if not isinstance(value, list):
        return ()
    return tuple(
        RuntimeNote(str(item.get("code", "")), str(item.get("text", "")))
        for item in value
        if isinstance(item, dict)
    )
