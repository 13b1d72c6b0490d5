"""The host ↔ harness wire format: framed requests and responses over the plugin's stdio.

Why frames rather than the chapter's JSON lines: the chapter wraps the input JSON text in a
JSON string (escaping every quote) and a host must scan each answer for a newline. Here a
request is one short header line ``<kind> <id> <length> <sent> <action>\\n`` followed by
the raw input bytes, and a response is a fixed binary header (``FRAME_HEADER``: magic ``AF``,
status code, end flag, length, id, action_ns, rss_pages, printed, answered_ns, peak_pages)
followed by the raw result bytes (``rss_pages``, the harness's resident pages, -1 without
``--report-rss``; ``peak_pages``, its most resident pages during an action of 1 ms or more;
``sent`` and the end flag: for the stderr markers, see ``channel``; ``printed``: bytes the
plugin wrote through ``sys.stdout`` since the previous frame; ``answered_ns``: when it wrote
the frame, on the monotonic clock the host reads too). The response header is binary because
the host reads one per call: ``unpack_from`` costs a tenth of splitting text and five
``int()`` (see ``docs/host-protocol.md``). Nothing is escaped or re-encoded, a 50 MB result is
read as chunks joined once, and no line-length limit applies. Ids correlate answers with
requests (answers come in request order; a mismatch is a protocol error). The chapter's request
line is derived only for display (:meth:`aro_tui.core.host.exchange.Exchange.spec_request_line`).
Full description: ``docs/host-protocol.md``.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from aro_tui.core.host.exchange import ExchangeStatus
from aro_tui.core.json_values import loads_as_python

_OK = ExchangeStatus.OK  # bound once: a member lookup costs ~100 ns on Python 3.11
MAX_ERROR_CHARS = 500

HARNESS_PROTOCOL = 2
"""The frame format the host reads, passed to the harness, which refuses another (exit 4):
a dashboard left running while aro-tui was updated on disk read the new harness's frames as
"malformed response header"."""

# Statuses the harness writes in a response header.
HARNESS_OK = "ok"
HARNESS_RAISED = "raised"
HARNESS_UNKNOWN = "unknown"
HARNESS_BADTYPE = "badtype"
HARNESS_CANCELLED = "cancelled"
HARNESS_READY = "ready"
HARNESS_IMPORT_ERROR = "import-error"
HARNESS_IMPORTED = "imported"
"""The module is imported; ``aro_plugin_info()`` runs next (then ``ready``)."""
HARNESS_STATUSES = (
    HARNESS_OK,
    HARNESS_RAISED,
    HARNESS_UNKNOWN,
    HARNESS_BADTYPE,
    HARNESS_CANCELLED,
    HARNESS_READY,
    HARNESS_IMPORT_ERROR,
    HARNESS_IMPORTED,
)
"""Indexed by the status code in a response header (the harness's ``_STATUS_CODES``)."""

FRAME_HEADER = struct.Struct("<2sBBqqqqqqq")
"""magic, status code, end flag (1: an end marker was written), body length, request id,
action_ns, rss_pages, printed bytes, answered_ns (the harness's ``time.monotonic_ns()`` as it
wrote the frame), peak_pages (-1: not read)."""
FRAME_MAGIC = b"AF"
FRAME_HEADER_BYTES = FRAME_HEADER.size


class ProtocolError(Exception):
    """The plugin's protocol stream cannot be parsed any more."""


@dataclass(slots=True)
class Frame:
    """One response from the harness."""

    request_id: int
    status: str
    body: bytes
    action_ns: int = -1
    """How long the action ran, measured in the plugin (-1: not an action call)."""
    rss_pages: int = -1
    """The harness process's resident pages when it answered (-1: not reported)."""
    end_marker: bool = True
    """Whether the harness wrote this call's end marker on stderr; False means stderr held
    nothing unread when it answered, so every line of the call was already read."""
    printed_bytes: int = 0
    """Bytes written through ``sys.stdout`` since the previous frame (for the start-up frame:
    while the module was imported)."""
    answered_ns: int = -1
    """The plugin process's monotonic clock (``CLOCK_MONOTONIC``, the host's too) when it wrote
    this frame: when the answer really left, however late the host's event loop reads it."""
    peak_pages: int = -1
    """The harness process's most resident pages during the call (VmHWM, reset after a frame
    whose peak was read or whose rss fell), for an action of 1 ms or more; -1: not read."""


@dataclass(slots=True)
class Outcome:
    """What a response frame means for its exchange."""

    status: ExchangeStatus
    response_bytes: bytes | None
    error: str | None = None
    traceback: str | None = None
    restart: bool = False
    """The process must not serve another call: a cancel stopped an import part way."""
    skipped: bool = False
    """Cancelled while queued: the plugin never started on it."""


def encode_request_header(
    kind: str, request_id: int, action: str, body_size_bytes: int, *, pipelined: bool = False
) -> bytes:
    """The header line for a request whose raw body follows; ``pipelined``: sent while another
    request was in flight (the harness then always marks where its stderr output begins and
    ends, see ``channel``)."""
    sent = "p" if pipelined else "-"
    return f"{kind} {request_id} {body_size_bytes} {sent} {action}\n".encode()


def check_action_name(action: str) -> None:
    """Raise ``ValueError`` for a name that cannot travel in a header line."""
    if not action or any(character in action for character in "\n\r\x00"):
        raise ValueError(f"invalid action name: {action!r}")


class FrameDecoder:
    """Incrementally splits the harness's stdout into frames."""

    def __init__(self) -> None:
        """Start with an empty buffer."""
        self._pending = b""
        self._body_header: tuple[int, str, int, int, int, bool, int, int, int] | None = None
        self._body_chunks: list[bytes] = []
        self._body_have_bytes = 0

    def body_remaining(self) -> int:
        """Bytes still missing from a frame body being read (0 between frames)."""
        if self._body_header is None:
            return 0
        return self._body_header[2] - self._body_have_bytes

    def feed(self, data: bytes) -> list[Frame]:
        """Consume ``data``; return the frames it completed (raise ``ProtocolError``)."""
        if self._body_header is None and not self._pending and len(data) >= FRAME_HEADER_BYTES:
            # Fast path: the chunk is exactly one whole frame (the usual small answer).
            header = _parse_header(data, 0)
            if len(data) - FRAME_HEADER_BYTES == header[2]:
                return [Frame(header[0], header[1], data[FRAME_HEADER_BYTES:], *header[3:])]
        frames: list[Frame] = []
        waiting = self._body_header
        if waiting is not None:
            need = waiting[2] - self._body_have_bytes
            if len(data) < need:
                self._body_chunks.append(data)
                self._body_have_bytes += len(data)
                return frames
            self._body_chunks.append(data[:need])
            body = b"".join(self._body_chunks)
            frames.append(Frame(waiting[0], waiting[1], body, *waiting[3:]))
            self._body_header = None
            self._body_chunks = []
            self._body_have_bytes = 0
            data = data[need:]
        buffer = self._pending + data if self._pending else data
        position = 0
        buffer_end = len(buffer)
        while position < buffer_end:
            if buffer_end - position < FRAME_HEADER_BYTES:
                if not FRAME_MAGIC.startswith(buffer[position : position + len(FRAME_MAGIC)]):
                    raise ProtocolError(f"unframed output: {buffer[position : position + 80]!r}")
                break
            header = _parse_header(buffer, position)
            length = header[2]
            body_start = position + FRAME_HEADER_BYTES
            if buffer_end - body_start >= length:
                body = buffer[body_start : body_start + length]
                frames.append(Frame(header[0], header[1], body, *header[3:]))
                position = body_start + length
                continue
            self._body_header = header
            chunk = buffer[body_start:]
            self._body_chunks = [chunk]
            self._body_have_bytes = len(chunk)
            position = buffer_end
        self._pending = buffer[position:] if position < buffer_end else b""
        return frames


_END_MARKER = (False, True)


def _parse_header(
    buffer: bytes, offset: int
) -> tuple[int, str, int, int, int, bool, int, int, int]:
    """``(request_id, status, length, action_ns, rss_pages, end_marker, printed_bytes,
    answered_ns, peak_pages)`` from the header at ``offset`` (which holds at least
    ``FRAME_HEADER_BYTES``)."""
    magic, code, end, length, request_id, action_ns, rss_pages, printed, answered_ns, peak = (
        FRAME_HEADER.unpack_from(buffer, offset)
    )
    if magic != FRAME_MAGIC:
        raise ProtocolError(f"unframed output: {buffer[offset : offset + 80]!r}")
    if code >= len(HARNESS_STATUSES) or end > 1 or length < 0 or request_id < 0:
        header = buffer[offset : offset + FRAME_HEADER_BYTES]
        raise ProtocolError(f"malformed response header: {header!r}")
    status = HARNESS_STATUSES[code]
    end_marker = _END_MARKER[end]
    return request_id, status, length, action_ns, rss_pages, end_marker, printed, answered_ns, peak


def interpret(frame: Frame, action: str, *, validate_json: bool = True) -> Outcome:
    """Classify a call's response frame as the chapter's error precedence says."""
    status = frame.status
    if status == HARNESS_OK:
        return _interpret_result(frame.body, validate_json)
    if status == HARNESS_CANCELLED:
        if not frame.body:
            error = "cancelled (KeyboardInterrupt in action)"
            return Outcome(ExchangeStatus.CANCELLED, None, error)
        details = _loads_dict(frame.body)
        if details.get("skipped"):  # cancelled while still queued: it never started
            return Outcome(ExchangeStatus.CANCELLED, None, "cancelled before it ran", skipped=True)
        module = details.get("import", "?")
        error = (
            f"cancelled while the action imported {module}: the plugin is restarted for the "
            "next call (a module stopped part way through its import breaks later imports)"
        )
        return Outcome(ExchangeStatus.CANCELLED, None, error, restart=True)
    details = _loads_dict(frame.body)
    if status == HARNESS_RAISED:
        error = str(details.get("error", "Exception"))
        response = orjson.dumps({"error": error})
        tb = details.get("traceback")
        return Outcome(ExchangeStatus.PLUGIN_ERROR, response, error, str(tb) if tb else None)
    if status == HARNESS_UNKNOWN:
        error = str(details.get("error", f"Unknown action: {action}"))
        detail = details.get("detail")
        response = orjson.dumps({"error": error})
        message = f"{error} ({detail})" if detail else error
        return Outcome(ExchangeStatus.PLUGIN_ERROR, response, message)
    if status == HARNESS_BADTYPE:
        type_name = details.get("type", "?")
        error = (
            f"{RETURNED_NOT_STR}{type_name}, expected str (JSON text): {details.get('repr', '')}"
        )
        return Outcome(ExchangeStatus.PROTOCOL_ERROR, None, error[:MAX_ERROR_CHARS])
    return Outcome(ExchangeStatus.PROTOCOL_ERROR, None, f"unexpected response status {status!r}")


def _interpret_result(body: bytes, validate_json: bool) -> Outcome:
    if not validate_json:
        if body[:1] == b"{" and b'"error"' in body[:4096]:
            return _interpret_result(body, True)
        return Outcome(ExchangeStatus.OK, body)
    status, error_text = classify_json_result(body)
    if status is not ExchangeStatus.PROTOCOL_ERROR:
        return Outcome(status, body, error_text)
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as error:
        if "UTF-8" in error.msg:
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as decode_error:
                message = f"response is not valid UTF-8 (byte {decode_error.start})"
            else:
                message = f"{RESPONSE_NOT_JSON[0]}: {error.msg}"
        elif "depth limit" in error.msg:  # orjson's 1,024 levels: it may well be JSON
            message = (
                "response nests deeper than 1,024 levels, more than aro-tui's JSON reader "
                f"(orjson) takes, so it could not be checked: {body[:80]!r}"
            )
        else:
            message = f"{RESPONSE_NOT_JSON[1]}{error.msg} at char {error.pos}): {body[:80]!r}"
        return Outcome(ExchangeStatus.PROTOCOL_ERROR, body, message)
    raise AssertionError("unreachable: orjson accepted what it rejected")


def left_running_names(payload: bytes) -> tuple[str, ...]:
    """The workers a ``running`` stderr marker names (its JSON ``{"workers": [{"kind",
    "name", "pid"?}], "count"}``, see ``docs/host-protocol.md``), each as a phrase:
    ``thread 'Thread-3 (work)'``, ``child process 'Process-1' (pid 4242)``, then ``N more``
    for those the harness counted but did not name. Empty for text that is not such JSON."""
    details = _loads_dict(payload)
    workers = details.get("workers")
    if not isinstance(workers, list):
        return ()
    names = []
    for worker in workers:
        if not isinstance(worker, dict):
            continue
        name = str(worker.get("name", "?"))
        if worker.get("kind") == "process":
            pid = worker.get("pid")
            names.append(f"child process '{name}'" + (f" (pid {pid})" if pid else ""))
        else:
            names.append(f"thread '{name}'")
    count = details.get("count")
    if isinstance(count, int) and count > len(names) and names:
        names.append(f"{count - len(names)} more")
    return tuple(names)


QUALIFIER_PREFIX = "qualifier:"
"""How the harness names a plugin's qualifiers as actions (its own ``QUALIFIER_PREFIX``)."""

RETURNED_NOT_STR = "action returned "
RESPONSE_NOT_JSON = ("response is not valid JSON text", "response is not JSON (")
"""How the protocol errors of an answer that is not JSON text begin (ARO takes it as text)."""

_OBJECT_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])
"""Validates a whole JSON document but builds only the top-level keys (values stay raw text)."""


def classify_json_result(body: bytes) -> tuple[ExchangeStatus, str | None]:
    """Validate an action's result: ``OK``, ``PLUGIN_ERROR`` with the error text (an object with
    a string ``"error"``), or ``PROTOCOL_ERROR`` (not UTF-8 JSON; :func:`interpret` says why).

    Why msgspec rather than ``orjson.loads``: the host needs a verdict, not the value. Decoding
    into ``dict[str, Raw]`` checks the whole document (nested values, trailing characters) but
    builds no nested objects and no floats: an 8 KB embedding validates in ~4 µs instead of
    ~7 µs, 1 MB in ~0.6 ms instead of ~1.2 ms. msgspec does not check UTF-8 inside raw
    values, so non-ASCII bodies are checked by ``bytes.decode`` first. Anything msgspec does not
    accept as an object (a top-level array, number or string; nesting deeper than the
    recursion limit; a document it rejects) is decided by ``orjson.loads`` exactly as before,
    so msgspec never rejects what orjson accepts; what orjson refuses is read by Python's
    ``json`` last, so a number too large for a float (``1e400``, JSON a plugin's ``json.loads``
    reads as inf) is not a protocol error. A lone surrogate escape (``"\\ud800"``) is: no
    UTF-8 text holds it.
    """
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return ExchangeStatus.PROTOCOL_ERROR, None
    try:
        fields = _OBJECT_FIELDS.decode(body)
    except (msgspec.DecodeError, RecursionError):  # ValidationError: not an object
        return _classify_with_orjson(body)
    error_raw = fields.get("error")
    if error_raw is not None:
        error_value = msgspec.json.decode(error_raw)
        if type(error_value) is str:
            return ExchangeStatus.PLUGIN_ERROR, error_value
    return _OK, None


def _classify_with_orjson(body: bytes) -> tuple[ExchangeStatus, str | None]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:  # JSON a plugin's json module writes and orjson refuses: -1e400 (read as inf)
            value = loads_as_python(body)
            orjson.dumps(value)  # a lone surrogate escape stays refused: it is no text
        except (ValueError, UnicodeDecodeError, orjson.JSONEncodeError):
            return ExchangeStatus.PROTOCOL_ERROR, None
    if type(value) is dict:
        error_value = value.get("error")
        if isinstance(error_value, str):
            return ExchangeStatus.PLUGIN_ERROR, error_value
    return ExchangeStatus.OK, None


def _loads_dict(body: bytes) -> dict[str, object]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def harness_document(body: bytes) -> Any:
    """A JSON document the harness wrote (its info, an import error), read.

    The harness writes Python's ``json`` text, which keeps a lone surrogate (a non-UTF-8 byte
    in a folder's name, which Python decodes to one, or a name a plugin built so) as a
    ``\\udcXX`` escape that orjson refuses: the start's frame raised in the host's callback,
    and the start waited for its timeout (300 s) before blaming ``aro_plugin_info()``. Such a
    text is read by Python's ``json``, each lone surrogate made U+FFFD (they cannot be written
    as UTF-8 again). ``ValueError`` when the body is not JSON at all.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return _without_surrogates(json.loads(body))


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    return value
