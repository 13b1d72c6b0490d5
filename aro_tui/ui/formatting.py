"""Turning plugin data into safe, readable text (no Textual here, only Rich ``Text``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from rich.cells import cell_len, chop_cells
from rich.text import Text
from textual.content import Content
from textual.content import Span as ContentSpan

from aro_tui.core.json_values import loads_exact
from aro_tui.core.sanitize import sanitize, sanitize_line
from aro_tui.core.sizes import format_size as format_size  # the UI's formats all live here
from aro_tui.ui.json_layout import PACKED_LINE_CHARS as PACKED_LINE_CHARS
from aro_tui.ui.json_layout import lay_out_prefix, layout_json

FULL_PRETTY_LIMIT_BYTES = 2 * 1024 * 1024
"""Responses up to this size are parsed and re-indented whole; larger ones stream a prefix."""


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


def themed_content(text: Text) -> Content:
    """``text`` as Textual ``Content``, where a style may name the theme's colours (``"bold
    $text-error"``), taken from the theme in force whenever it is drawn; other styles keep
    their Rich meaning (``"bold cyan"``: the terminal's cyan).

    Why: a Rich style holds fixed colours, and "bold yellow" on aro-light's error card
    measured 1.6:1. Rich cannot read ``$text-error``: such a ``Text`` is drawn through this.
    """
    themed = [span for span in text.spans if isinstance(span.style, str) and "$" in span.style]
    rich = text.copy()
    rich.spans = [span for span in text.spans if span not in themed]
    content = Content.from_rich_text(rich)
    return content.add_spans([ContentSpan(s.start, s.end, str(s.style)) for s in themed])


def safe_text(text: str, style: str = "") -> Text:
    """A ``Text`` of plugin-supplied ``text``: sanitized, never parsed as markup."""
    return Text(sanitize(text), style=style)


def safe_line(text: str, style: str = "") -> Text:
    """A one-line ``Text`` (newlines shown as ``␊``)."""
    return Text(sanitize_line(text), style=style)


ERROR_SHOWN_CHARS = 1000
ERROR_SHOWN_LINES = 8


def error_excerpt(text: str) -> str:
    """A call's error message as cards and tables show it: its first ``ERROR_SHOWN_LINES``
    lines and ``ERROR_SHOWN_CHARS`` characters, and where the rest is (the response holds
    all of it; the exchange itself keeps 4 KiB). A plugin error of 7.6 MB was laid out in
    full: the dashboard froze for 13 s when it arrived, and again on each selection."""
    cut = text[:ERROR_SHOWN_CHARS]
    lines = cut.split("\n", ERROR_SHOWN_LINES)
    if len(lines) > ERROR_SHOWN_LINES:
        cut = "\n".join(lines[:ERROR_SHOWN_LINES])
    if len(cut) == len(text):
        return text
    return f"{cut}… (cut here: the response holds the whole message; x shows it)"


_FRAME_LINE = re.compile(r'^\s*File "(?P<file>.*)", line (?P<line>\d+), in (?P<function>.*)$')


def raised_where(traceback: str) -> str | None:
    """``ValueError: boom · plugin.py:37 in aro_action_raise``: the exception a traceback
    ends with and the innermost frame, where it was raised (None when neither is found).

    Why: the chapter's loop answers a raised exception as ``{"error": "Exception: boom"}``,
    which loses the type and the place; the harness keeps the traceback.
    """
    lines = traceback.rstrip("\n").splitlines()
    exception = next((line for line in reversed(lines) if line and not line[0].isspace()), None)
    frame = next((m for line in reversed(lines) if (m := _FRAME_LINE.match(line))), None)
    if exception is None or exception.startswith("Traceback ("):
        return None
    where = exception if len(exception) <= 120 else exception[:119] + "…"
    if frame is not None:
        name = frame["file"].rsplit("/", 1)[-1]
        where += f" · {name}:{frame['line']} in {frame['function']}"
    return where


def format_duration(duration_ms: float | None, deterministic: bool = False) -> str:
    """``25 µs`` / ``12.3 ms`` / ``1.50 s`` / ``1234 s`` / ``2.8 h``, at most 8 characters (the
    log's time column); ``·· ms`` in deterministic mode (no wall times on screen). Below a
    millisecond in microseconds: a fast action is not ``0.0 ms``."""
    if duration_ms is None:
        return "—"
    if deterministic:
        return "·· ms"
    if duration_ms < 0.9995:
        return f"{duration_ms * 1000:.0f} µs"
    if duration_ms < 999.95:
        return f"{duration_ms:.1f} ms"
    seconds = duration_ms / 1000
    if seconds < 99.995:
        return f"{seconds:.2f} s"
    if seconds < 9999.5:
        return f"{seconds:.0f} s"
    return f"{seconds / 3600:.1f} h"


def format_timings(
    action_duration_ms: float | None, round_trip_ms: float | None, deterministic: bool = False
) -> str:
    """``action 0.4 ms · round trip 0.6 ms``: the plugin's own time, and from sending the
    request until the plugin wrote its answer (stamped by the plugin on the monotonic clock the
    host reads, so a dashboard busy drawing does not lengthen it).
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


def plain_title(text: str) -> Content:
    """``text`` as a border title: one line, shown as it is. Textual reads a plain ``str``
    title as markup, so a plugin named ``x[/]`` raised MarkupError and took the dashboard down,
    and ``[bold]x[/bold]`` came out bold."""
    return Content(sanitize_line(text))


def stderr_title(which: str, kept_lines: int, printed_lines: int) -> str:
    """The stderr pane's title: which call (``#7``, ``· running``), and how many of its
    lines are kept.

    An exchange keeps its last lines only (``Exchange.stderr_lines``); when it printed more,
    the title says so rather than passing the kept count off as everything.
    """
    if printed_lines > kept_lines:
        return f"stderr {which} (last {kept_lines:,} of {printed_lines:,} lines)"
    return f"stderr {which} ({kept_lines:,} line{'' if kept_lines == 1 else 's'})"


@dataclass(frozen=True)
class Preview:
    """What a pane shows of a body: text, whether it is JSON, and whether it was cut."""

    text: str
    is_json: bool
    truncated: bool
    total_bytes: int
    lines_shown: int = 0
    """When the whole body was read but its laid-out text was cut: how many lines are shown
    of ``lines_total`` (laid out, a body can be longer than the limit it fits as bytes)."""
    lines_total: int = 0
    lines_cut: bool = False
    """Lines too long to draw quickly were cut into rows (see :func:`fit_to_rows`)."""
    as_sent: str | None = None
    """Why a whole body that looks like JSON is shown as the plugin sent it, not laid out
    (a number out of range for a float, text after the document...)."""


LINES_CUT_NOTE = "long lines cut to the pane's width, not highlighted"
LONG_LINE_CHARS = 10_000
"""A line longer than this is cut into rows of its pane (see :func:`fit_to_rows`)."""


def fit_to_rows(preview: Preview, line_chars: int) -> Preview:
    """``preview``, or when one of its lines is longer than ``LONG_LINE_CHARS``, ``preview``
    with its lines cut into rows of ``line_chars`` and no longer highlighted as JSON (its parser
    would see strings broken across lines).

    Why: TextArea lays out a whole line again for every screen row of it that it draws, about
    33 ns a character here, so one long string (base64 of an image, say) made each page-down
    cost ~80 ms for 60 KB and ~250 ms for 200 KB. Cut at the pane's width, the rows look as
    soft wrapping drew them; a line under the limit costs under ~15 ms a page.
    """
    if all(len(line) <= LONG_LINE_CHARS for line in preview.text.split("\n")):
        return preview
    return replace(
        preview, text=cut_long_lines(preview.text, line_chars), is_json=False, lines_cut=True
    )


def cut_long_lines(text: str, line_chars: int) -> str:
    """``text`` with every line wider than ``line_chars`` cells cut into rows that wide (see
    :func:`fit_to_rows`). By cells, not characters: a row of CJK or emoji cut by count was
    twice as wide as the pane and wrapped again, leaving every other row half empty."""
    cut: list[str] = []
    for line in text.split("\n"):
        if len(line) <= line_chars and (line.isascii() or cell_len(line) <= line_chars):
            cut.append(line)
        elif line.isascii():
            cut.extend(
                line[start : start + line_chars] for start in range(0, len(line), line_chars)
            )
        else:
            cut.extend(chop_cells(line, line_chars))
    return "\n".join(cut)


def preview_body(
    head: bytes | None, total_bytes: int, limit_bytes: int, line_chars: int = PACKED_LINE_CHARS
) -> Preview:
    """Lay out the first ``limit_bytes`` of a body (``head`` may be longer or whole) for a pane
    ``line_chars`` wide (:func:`layout_json`).

    Runs in a worker thread: parsing a few MB is too slow for the event loop.
    """
    if head is None:
        return Preview("", False, False, 0)
    whole = len(head) >= total_bytes
    if whole and total_bytes <= FULL_PRETTY_LIMIT_BYTES:
        try:
            parsed = loads_exact(head)  # integers past 64 bits shown as sent
        except ValueError as error:
            text = head.decode("utf-8", "replace")
            preview = _cut(text, limit_bytes, total_bytes, is_json=False)
            if text.lstrip()[:1] in {"{", "["}:  # it meant to be JSON: say why it is raw
                return replace(preview, as_sent=f"shown as sent, not laid out: {error}")
            return preview
        try:
            laid_out = layout_json(parsed, line_chars)
        except RecursionError:  # nested deeper than Python recurses: lay out the text instead
            laid_out = lay_out_prefix(head.decode("utf-8", "replace"), line_chars)
        return _cut(laid_out, limit_bytes, total_bytes, is_json=True)
    text = head[:limit_bytes].decode("utf-8", "replace")
    looks_json = text.lstrip()[:1] in {"{", "["}
    shown = lay_out_prefix(text, line_chars) if looks_json else text
    return Preview(sanitize(shown), looks_json, True, total_bytes)


def _cut(text: str, limit_bytes: int, total_bytes: int, *, is_json: bool) -> Preview:
    """``text`` cut after its last whole line within ``limit_bytes``; inside a line longer
    than ``LONG_LINE_CHARS`` it is cut at the limit instead (the preview of ``{"data": "<1
    MB>"}`` was once ``{`` alone), and the note then counts bytes, not lines."""
    if len(text) <= limit_bytes:
        return Preview(sanitize(text), is_json, False, total_bytes)
    cut = text.rfind("\n", 0, limit_bytes)
    if cut < limit_bytes - LONG_LINE_CHARS:
        return Preview(sanitize(text[:limit_bytes]), is_json, True, total_bytes)
    shown = text[:cut]
    lines_shown = shown.count("\n") + 1
    lines_total = text.count("\n") + 1
    return Preview(sanitize(shown), is_json, True, total_bytes, lines_shown, lines_total)
