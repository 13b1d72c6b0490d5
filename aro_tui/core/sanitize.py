"""One sanitizer for every piece of text that comes from a plugin.

Plugin output (responses, stderr, names, error messages) must never drive the terminal:
control characters are replaced with visible stand-ins before anything is drawn, and the
UI builds ``rich.text.Text`` objects from the result so square brackets stay literal.
"""

from __future__ import annotations

import re

__all__ = ["as_overwritten", "sanitize", "sanitize_line", "shorten", "shorten_start"]

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


def as_overwritten(text: str) -> str:
    """What a terminal shows of a line written with carriage returns: each part after a
    ``\\r`` overwrites the line from its start, so a progress bar redrawn a thousand times
    reads as its last state (``100%|██████| 135/135``) instead of its first, with the rest
    thousands of columns to the right. A longer earlier part shows past a shorter later one,
    as on a terminal. Linear in the line's length (built from the last part back)."""
    if "\r" not in text:
        return text
    parts = text.rstrip("\r").split("\r")
    shown = parts[-1]
    for part in reversed(parts[:-1]):
        if len(part) > len(shown):
            shown += part[len(shown) :]
    return shown


def shorten_start(text: str, limit_chars: int) -> str:
    """``text`` cut to its last ``limit_chars`` characters with a leading ``…`` when cut (a
    path keeps the part that names it)."""
    if len(text) <= limit_chars:
        return text
    return "…" + text[len(text) - max(limit_chars - 1, 0) :]


def shorten(text: str, limit_chars: int) -> str:
    """``text`` cut to ``limit_chars`` characters with a trailing ``…`` when cut."""
    if len(text) <= limit_chars:
        return text
    return text[: max(limit_chars - 1, 0)] + "…"
