"""Export exchanges as JSON documents, and an exchange as an ``aro-tui call`` command line.

The documents' schema is in ``docs/json-output.md`` (``aro-tui/exchange/1``,
``aro-tui/exchange-log/1``).
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from aro_tui.core.exchange_log import LoggedExchange
from aro_tui.core.host.exchange import Exchange
from aro_tui.core.runtime_notes import MAX_ARGUMENT_BYTES

if TYPE_CHECKING:
    from aro_tui.core.telemetry.exchange_memory import ExchangeMemory

__all__ = [
    "EXCHANGE_LOG_SCHEMA",
    "EXCHANGE_SCHEMA",
    "call_command_line",
    "exchange_to_json",
    "log_to_json",
    "write_log_json",
]

EXCHANGE_SCHEMA = "aro-tui/exchange/1"
EXCHANGE_LOG_SCHEMA = "aro-tui/exchange-log/1"


def _body(data: bytes | None) -> tuple[str | None, str | None]:
    """(text, encoding): UTF-8 text as itself, anything else base64."""
    if data is None:
        return None, None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


ExportDetails = tuple["ExchangeMemory | None", Sequence[Mapping[str, Any]]]
"""What the dashboard adds to an exported exchange: its memory as the log shows it (the GPU
figures come from the samples around it) and the model-cache events it caused."""


def _exchange_record(exchange: Exchange, details: ExportDetails | None = None) -> dict[str, Any]:
    summary = exchange.summary()
    request, request_encoding = _body(exchange.request_bytes)
    response, response_encoding = _body(exchange.response_bytes)
    latency_s = exchange.latency_s
    return {
        "number": exchange.number if isinstance(exchange, LoggedExchange) else None,
        "id": exchange.id,
        "plugin": exchange.plugin,
        "action": exchange.action,
        "status": str(exchange.status),
        "started_at": exchange.started_at,
        "duration_ms": summary["duration_ms"],
        "action_ms": summary["action_ms"],
        "latency_ms": None if latency_s is None else round(latency_s * 1000, 3),
        "sent_monotonic_s": exchange.sent_monotonic_s,
        "head_monotonic_s": exchange.head_monotonic_s,
        "finished_monotonic_s": exchange.finished_monotonic_s,
        "request": request,
        "request_encoding": request_encoding,
        "response": response,
        "response_encoding": response_encoding,
        "request_size_bytes": exchange.request_size_bytes,
        "response_size_bytes": exchange.response_size_bytes,
        "error": exchange.error,
        "traceback": exchange.traceback,
        "exit_code": exchange.exit_code,
        "signal": exchange.signal_number,
        "stderr_line_count": exchange.stderr_line_count,
        "stderr_bytes": exchange.stderr_bytes,
        "stderr_tail": list(exchange.stderr_lines),
        "rss_before_bytes": exchange.rss_before_bytes,
        "rss_after_bytes": exchange.rss_after_bytes,
        "rss_peak_bytes": exchange.rss_peak_bytes,
        "printed_bytes": exchange.printed_bytes,
        "runtime_notes": [{"code": n.code, "text": n.text} for n in exchange.runtime_notes],
        **_lost_bodies(exchange),
        **_details(details),
    }


def _details(details: ExportDetails | None) -> dict[str, Any]:
    """The GPU figures and cache events of an exchange, when the exporter knows them."""
    if details is None:
        return {}
    memory, cache_events = details
    return {
        "gpu_before_bytes": None if memory is None else memory.gpu_before_bytes,
        "gpu_peak_bytes": None if memory is None else memory.gpu_peak_bytes,
        "gpu_after_bytes": None if memory is None else memory.gpu_after_bytes,
        "cache_events": list(cache_events),
    }


def _lost_bodies(exchange: Exchange) -> dict[str, Any]:
    """``{"lost_bodies": {"response": why}}`` for an exchange a reopened recording could not
    read all of (its request then reads "" and its response null), else nothing."""
    lost = exchange.lost_bodies if isinstance(exchange, LoggedExchange) else None
    return {"lost_bodies": dict(lost)} if lost else {}


def exchange_to_json(exchange: Exchange, details: ExportDetails | None = None) -> dict[str, Any]:
    """One exchange as an ``aro-tui/exchange/1`` document (``orjson.dumps`` it); its
    ``number`` is the log's for a :class:`LoggedExchange`, else null."""
    return {"schema": EXCHANGE_SCHEMA, **_exchange_record(exchange, details)}


def log_to_json(exchanges: Iterable[Exchange]) -> dict[str, Any]:
    """Exchanges, in the order given, as an ``aro-tui/exchange-log/1`` document."""
    records = [_exchange_record(exchange) for exchange in exchanges]
    return {"schema": EXCHANGE_LOG_SCHEMA, "count": len(records), "exchanges": records}


def write_log_json(
    exchanges: Iterable[Exchange],
    count: int,
    out: IO[bytes],
    details: Callable[[Exchange], ExportDetails] | None = None,
) -> int:
    """Write the ``count`` exchanges as ``orjson.dumps(log_to_json(exchanges),
    option=OPT_INDENT_2)`` would, one exchange at a time; return the bytes written.

    Why: the whole document in memory took twice its size at the peak (a 420 MiB export of
    400 answers of 1 MB peaked at 876 MiB), so exporting a long session of large answers
    could exhaust memory. ``ValueError`` if ``exchanges`` holds another number of them.
    """
    head = orjson.dumps({"schema": EXCHANGE_LOG_SCHEMA, "count": count}, option=orjson.OPT_INDENT_2)
    if count == 0:
        return out.write(head[:-2] + b',\n  "exchanges": []\n}')
    written = out.write(head[:-2] + b',\n  "exchanges": [')
    seen = 0
    for exchange in exchanges:
        known = None if details is None else details(exchange)
        record = orjson.dumps(_exchange_record(exchange, known), option=orjson.OPT_INDENT_2)
        # Nested two levels deep: every line moves right by four spaces. JSON strings hold
        # no raw line breaks, so each b"\n" is one between tokens.
        separator = b"\n    " if seen == 0 else b",\n    "
        written += out.write(separator + record.replace(b"\n", b"\n    "))
        seen += 1
    if seen != count:
        raise ValueError(f"{seen} exchanges written, {count} announced")
    return written + out.write(b"\n  ]\n}")


def call_command_line(
    exchange: Exchange,
    plugins_dir: Path | None,
    *,
    python: Path | None = None,
    program: Sequence[str] = ("aro-tui",),
) -> str:
    """The ``aro-tui call`` command line that sends this exchange's request again.

    ``python`` is the dashboard's ``--python`` (for plugins without a venv of their own);
    ``program`` is how to run aro-tui.

    Every argument goes through ``shlex.quote`` (quotes, newlines, ``$``, non-ASCII are
    safe in a POSIX shell); ``--`` stops an input such as ``-1`` being read as an option.
    A request too long for one argument (Linux takes 128 KiB) goes on stdin instead, as a
    quoted here-document (``-``; ``call`` strips the newline it ends with). Raises
    ``ValueError`` for a request that is not UTF-8 or holds a NUL byte (no shell argument can
    carry it), and for one a reopened recording lost.
    """
    lost = exchange.lost_bodies if isinstance(exchange, LoggedExchange) else {}
    if "request" in lost:
        raise ValueError(f"its recorded request is lost ({lost['request']})")
    try:
        request = exchange.request_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the request is not UTF-8 text; it cannot go on a command line") from None
    if "\x00" in request:
        raise ValueError("the request holds a NUL byte; it cannot go on a command line")
    arguments = [*program, "call"]
    # Absolute: a dashboard started with ../plugins copied a line that failed elsewhere.
    if plugins_dir is not None:
        arguments += ["--plugins-dir", str(plugins_dir.absolute())]
    if python is not None:
        arguments += [
            "--python",
            str(python.absolute()) if python.parent != Path() else str(python),
        ]
    arguments += ["--", exchange.plugin, exchange.action]
    if len(exchange.request_bytes) < MAX_ARGUMENT_BYTES:  # the kernel counts its NUL too
        return shlex.join([*arguments, request])
    lines = set(request.splitlines())
    delimiter = next(d for n in range(len(lines) + 1) if (d := f"ARO_INPUT_{n}") not in lines)
    return f"{shlex.join([*arguments, '-'])} <<'{delimiter}'\n{request}\n{delimiter}"
