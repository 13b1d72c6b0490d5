"""Turning plugin data into safe, readable text (no Textual here, only Rich ``Text``)."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import orjson
from rich.text import Text

from aro_tui.core.sanitize import sanitize, sanitize_line
from aro_tui.core.sizes import format_size as format_size  # the UI's formats all live here

FULL_PRETTY_LIMIT_BYTES = 2 * 1024 * 1024
"""Responses up to this size are parsed and re-indented whole; larger ones stream a prefix."""

PACKED_LINE_CHARS = 60
"""How wide a line of packed numbers grows (indent included) when the pane's width is not
known: the response pane's at 140 columns. A narrower pane wraps the line at a space."""
_NUMBER_LINE = re.compile(r"( +)(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(,?)")
"""One item of an array that ``orjson.OPT_INDENT_2`` wrote one to a line, when it is a number."""

STATUS_STYLES = {
    "ok": "green",
    "plugin_error": "yellow",
    "timeout": "red",
    "crashed": "bold red",
    "protocol_error": "red",
    "cancelled": "dim",
    "pending": "cyan",
}


STATUS_VARIABLES = {
    "ok": "status-ok",
    "plugin_error": "status-error",
    "timeout": "status-timeout",
    "crashed": "status-crashed",
    "protocol_error": "status-error",
    "cancelled": "status-timeout",
    "pending": "status-running",
}
"""Each exchange status's theme variable (themes/README.md, "Dashboard colours")."""


def themed_status_styles(variables: dict[str, str]) -> dict[str, str]:
    """Rich styles for each status from a theme's variables (``STATUS_STYLES`` if unset)."""
    styles: dict[str, str] = {}
    for status, fallback in STATUS_STYLES.items():
        colour = variables.get(STATUS_VARIABLES[status])
        bold = "bold " if status == "crashed" else ""
        styles[status] = f"{bold}{colour}" if colour else fallback
    return styles


def safe_text(text: str, style: str = "") -> Text:
    """A ``Text`` of plugin-supplied ``text``: sanitized, never parsed as markup."""
    return Text(sanitize(text), style=style)


def safe_line(text: str, style: str = "") -> Text:
    """A one-line ``Text`` (newlines shown as ``␊``)."""
    return Text(sanitize_line(text), style=style)


def format_duration(duration_ms: float | None, deterministic: bool = False) -> str:
    """``25 µs`` / ``12.3 ms`` / ``1.50 s``; ``·· ms`` in deterministic mode (no wall times on
    screen). Below a millisecond in microseconds: a fast action is not ``0.0 ms``."""
    if duration_ms is None:
        return "—"
    if deterministic:
        return "·· ms"
    if duration_ms < 0.9995:
        return f"{duration_ms * 1000:.0f} µs"
    if duration_ms < 1000:
        return f"{duration_ms:.1f} ms"
    return f"{duration_ms / 1000:.2f} s"


def format_timings(
    action_duration_ms: float | None, round_trip_ms: float | None, deterministic: bool = False
) -> str:
    """``action 0.4 ms · round trip 9.8 ms``: the plugin's own time and what aro-tui saw.

    The round trip includes the dashboard's event loop getting round to the answer, so it
    can be far longer than the action on a busy screen; the action time is the plugin's.
    """
    parts = []
    if action_duration_ms is not None:
        parts.append(f"action {format_duration(action_duration_ms, deterministic)}")
    if round_trip_ms is not None:
        parts.append(f"round trip {format_duration(round_trip_ms, deterministic)}")
    return " · ".join(parts)


def format_memory(rss_bytes: int | None, deterministic: bool = False) -> str:
    """Resident memory, or a placeholder in deterministic mode."""
    if deterministic and rss_bytes is not None:
        return "·· MiB"
    return format_size(rss_bytes)


def _indent_prefix(raw: str) -> str:
    """Re-indent (possibly truncated) JSON text without parsing it as a whole."""
    out: list[str] = []
    depth = 0
    in_string = False
    escaped = False
    for char in raw:
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            out.append(char)
        elif char in "{[":
            depth += 1
            out.append(char + "\n" + "  " * depth)
        elif char in "}]":
            depth = max(depth - 1, 0)
            out.append("\n" + "  " * depth + char)
        elif char == ",":
            out.append(",\n" + "  " * depth)
        elif char == ":":
            out.append(": ")
        elif char not in " \t\r\n":
            out.append(char)
    return "".join(out)


@dataclass(frozen=True)
class Preview:
    """What a pane shows of a body: text, whether it is JSON, and whether it was cut."""

    text: str
    is_json: bool
    truncated: bool
    total_bytes: int


def preview_body(
    head: bytes | None, total_bytes: int, limit_bytes: int, line_chars: int = PACKED_LINE_CHARS
) -> Preview:
    """Pretty-print the first ``limit_bytes`` of a body (``head`` may be longer or whole);
    arrays of numbers are packed into lines of up to ``line_chars``.

    Runs in a worker thread: parsing a few MB is too slow for the event loop.
    """
    if head is None:
        return Preview("", False, False, 0)
    whole = len(head) >= total_bytes
    if whole and total_bytes <= FULL_PRETTY_LIMIT_BYTES:
        try:
            parsed = orjson.loads(head)
        except orjson.JSONDecodeError:
            text = head.decode("utf-8", "replace")
            return _cut(text, limit_bytes, total_bytes, is_json=False)
        pretty = orjson.dumps(parsed, option=orjson.OPT_INDENT_2).decode("utf-8")
        return _cut(pack_number_arrays(pretty, line_chars), limit_bytes, total_bytes, is_json=True)
    text = head[:limit_bytes].decode("utf-8", "replace")
    looks_json = text.lstrip()[:1] in {"{", "["}
    shown = _indent_prefix(text) if looks_json else text
    return Preview(sanitize(shown), looks_json, True, total_bytes)


def pack_number_arrays(pretty: str, line_chars: int = PACKED_LINE_CHARS) -> str:
    """Put arrays of numbers (an embedding, token ids, scores) several to a line.

    Indented one number a line, a 384-float embedding is 384 lines, and a batch of them
    hides its shape; packed, 19-digit floats go two a line in a 60-column pane (three or more
    in a wider one), token ids about ten a line. An array that fits on its key's line stays
    there: ``"shape": [2, 384]``.

    ``pretty`` is ``orjson.OPT_INDENT_2`` output, where a line ending in ``[`` opens an array
    (a string value never does: it ends in a quote). Why a loop over lines, not one regular
    expression over the text: this runs in a worker thread while the UI waits for the GIL;
    one match over a 100,000-number array held it for 47-56 ms, the loop lets the UI in
    every few milliseconds (worst wait measured: 12 ms).
    """
    lines = pretty.split("\n")
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        numbers = _numbers_after(lines, index) if line.endswith("[") else None
        if numbers is None:
            out.append(line)
            continue
        indent, items = numbers
        close = lines[index + len(items)]
        out.extend(_packed(line, indent, items, close, line_chars))
        index += len(items) + 1
    return "\n".join(out)


def _numbers_after(lines: list[str], start: int) -> tuple[str, list[str]] | None:
    """The indent and the numbers of the array whose items start at ``lines[start]``, or None
    when one of its items is not a number."""
    items: list[str] = []
    indent = ""
    for line in itertools.islice(lines, start, None):
        match = _NUMBER_LINE.fullmatch(line)
        if match is None or (items and match[1] != indent):
            return None
        indent = match[1]
        items.append(match[2])
        if not match[3]:  # no comma: the last item, and the next line closes the array
            closing = start + len(items)
            close = lines[closing] if closing < len(lines) else ""
            return (indent, items) if close in (indent[2:] + "]", indent[2:] + "],") else None
    return None


def _packed(opening: str, indent: str, numbers: list[str], close: str, width: int) -> list[str]:
    inline = opening + ", ".join(numbers) + close.lstrip()
    if len(inline) <= width:
        return [inline]
    lines = [opening]
    line = ""
    for number in numbers:
        if line and len(indent) + len(line) + len(number) + 2 > width:
            lines.append(indent + line)
            line = ""
        line = f"{line} {number}," if line else f"{number},"
    lines.append(indent + line[:-1])
    lines.append(close)
    return lines


def _cut(text: str, limit_bytes: int, total_bytes: int, *, is_json: bool) -> Preview:
    if len(text) <= limit_bytes:
        return Preview(sanitize(text), is_json, False, total_bytes)
    cut = text.rfind("\n", 0, limit_bytes)
    shown = text[: cut if cut > 0 else limit_bytes]
    return Preview(sanitize(shown), is_json, True, total_bytes)
