"""One sanitizer for every piece of text that comes from a plugin.

Plugin output (responses, stderr, names, error messages) must never drive the terminal:
control characters are replaced with visible stand-ins before anything is drawn, and the
UI builds ``rich.text.Text`` objects from the result so square brackets stay literal.
"""

from __future__ import annotations

import re

from rich.cells import cell_len, chop_cells, get_character_cell_size

__all__ = [
    "as_overwritten",
    "sanitize",
    "sanitize_line",
    "sanitize_tabbed_line",
    "shorten",
    "shorten_start",
]

# C0 controls except \t and \n, DEL, C1 controls, the line and paragraph separators (a
# text widget breaks the line there, so a JSON string inside one was split in two), and the
# bidirectional overrides and isolates that can reorder what a reader sees.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069]")
_UNSAFE_IN_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        # U+2400..U+241F are the Unicode "control pictures" (␀, ␛, ␍ ...).
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"  # ␡
    if code <= 0x9F:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def sanitize(text: str) -> str:
    """``text`` with control characters (except newline and tab) made visible.

    ESC becomes ``␛``, CR becomes ``␍``; C1 controls and bidi overrides become escapes
    such as ``\\x9b`` or ``\\u202e``.
    """
    return _UNSAFE.sub(_visible, text)


def sanitize_line(text: str) -> str:
    """Like :func:`sanitize`, but for one-line places (table cells, titles, notifications).

    Newlines and tabs become ``␊`` and ``␉`` too, so a name cannot break a layout.
    """
    return _UNSAFE_IN_LINE.sub(_visible, text)


def sanitize_tabbed_line(text: str, tab_size: int = 8) -> str:
    """Like :func:`sanitize_line`, but each tab becomes the spaces up to the next tab stop
    (every ``tab_size`` columns, as a terminal sets them), for a pane of output lines.

    Why: ``sanitize_line`` shows a tab as ``␉``, and a plugin's tab-separated stderr lost its
    columns. The stops are counted in terminal columns, after the other control characters
    are made visible: a CJK name before a tab takes two columns a character.
    """
    if "\t" not in text:
        return sanitize_line(text)
    expanded, column = "", 0
    for index, part in enumerate(text.split("\t")):
        if index:
            spaces = tab_size - column % tab_size
            expanded += " " * spaces
            column += spaces
        part = sanitize_line(part)
        expanded += part
        column += len(part) if part.isascii() else cell_len(part)
    return expanded


def as_overwritten(text: str) -> str:
    """What a terminal shows of a line written with carriage returns: each part after a
    ``\\r`` overwrites the line from its start, so a progress bar redrawn a thousand times
    reads as its last state (``100%|██████| 135/135``) instead of its first, with the rest
    thousands of columns to the right. A longer earlier part shows past a shorter later one,
    as on a terminal, column for column: a CJK character covers two (``ABCDEFGH\r日本`` shows
    ``日本EFGH``), and one half covered shows as a space. Linear in the line's length (built
    from the last part back)."""
    if "\r" not in text:
        return text
    parts = text.rstrip("\r").split("\r")
    if text.isascii():
        shown = parts[-1]
        for part in reversed(parts[:-1]):
            if len(part) > len(shown):
                shown += part[len(shown) :]
        return shown
    shown, width = parts[-1], cell_len(parts[-1])
    for part in reversed(parts[:-1]):
        if cell_len(part) > width:
            tail = _from_column(part, width)
            shown += tail
            width += cell_len(tail)
    return shown


def _from_column(text: str, column: int) -> str:
    """What of ``text`` shows from ``column`` on: a wide character cut in half there shows
    as a space."""
    used = 0
    for index, character in enumerate(text):
        if used >= column:
            return text[index:]
        used += get_character_cell_size(character)
        if used > column:  # its right half is past the column
            return " " + text[index + 1 :]
    return ""


def shorten_start(text: str, width: int) -> str:
    """``text`` cut to its last ``width`` terminal columns with a leading ``…`` when cut (a
    path keeps the part that names it). Columns, not characters: a CJK or emoji character
    takes two, and a name cut by count overflowed its place (see :func:`shorten`)."""
    if len(text) <= width and (text.isascii() or cell_len(text) <= width):
        return text
    room, start = max(width - 1, 0), len(text)
    while start > 0 and (size := get_character_cell_size(text[start - 1])) <= room:
        room -= size
        start -= 1
    return "…" + text[start:]


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` terminal columns with a trailing ``…`` when cut.

    Columns, not characters: a CJK or emoji character takes two, so a name cut by count was
    up to twice as wide as its place, and a table cut it again itself, with no ``…``.
    """
    if len(text) <= width and (text.isascii() or cell_len(text) <= width):
        return text
    if width <= 1:
        return "…"
    return chop_cells(text, width - 1)[0] + "…"
