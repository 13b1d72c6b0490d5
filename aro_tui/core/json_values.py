"""Reading a plugin's JSON without changing its numbers."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from types import FrameType
from typing import Any

import msgspec

_DECODER = msgspec.json.Decoder()


def loads_exact(body: bytes | str) -> Any:
    """The JSON document in ``body``; ``ValueError`` when it is not JSON or nests deeper than
    about 1000 levels.

    Why not ``orjson.loads``, which the host uses where only speed matters: it turns integers
    past 64 bits into floats, so a pane would show, and a replay would compare, another number
    than the plugin sent (``123456789012345678901234567890`` became ``1.2345678901234568e+29``).
    msgspec keeps them exact and reads about as fast.
    """
    try:
        return _DECODER.decode(body)
    except RecursionError:
        raise ValueError("JSON nested too deeply to read") from None


def loads_as_python(body: bytes | str) -> Any:
    """The JSON document in ``body`` as a plugin's ``json.loads`` reads it; ``ValueError`` when
    it is not JSON (``NaN`` and ``Infinity`` included, which that reads and JSON lacks).

    The fallback where orjson and msgspec refuse JSON text: a number past a double's range
    (``1e999``; Python reads inf), a lone surrogate escape (``"\\ud800"``, which Python reads
    and writes). Slower than either; use it only once they have refused.
    """
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply to read") from None


@dataclass(frozen=True)
class JsonProblem:
    """Why the editor's text is not valid JSON, and where."""

    message: str
    line: int
    column: int

    def describe(self) -> str:
        """``Invalid JSON at line 3, column 5: Expecting ','``."""
        return f"Invalid JSON at line {self.line}, column {self.column}: {self.message}"


_NOT_JSON_CONSTANT = re.compile(r'"(?:\\.|[^"\\])*"|(-?Infinity|NaN)')
"""A string (skipped whole), or one of the constants Python's json reads and JSON lacks."""


class _NotJsonConstant(ValueError):
    pass


def _refuse_constant(name: str) -> None:
    raise _NotJsonConstant(name)


_BRACKETS = re.compile(r'"(?:\\.|[^"\\])*"|[\[{]|[\]}]')


def _too_deep_at(text: str, levels: int) -> int:
    """The offset of the first bracket opening level ``levels`` (0 if none)."""
    depth = 0
    for match in _BRACKETS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth >= levels:
                return match.start()
        elif token in "]}":
            depth -= 1
    return 0


def _levels_left() -> int:
    """About how many levels Python's json module could still open from here: its reader
    counts each against the recursion limit, as a call does. Where it gave up is the bracket
    that deep, give or take a few (it pointed at level 500 while 960 were read, as a guide)."""
    frame: FrameType | None = sys._getframe()
    depth = 0
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return max(1, sys.getrecursionlimit() - depth)


def _position(text: str, offset: int) -> tuple[int, int]:
    """(line, column) of ``offset``, both from 1."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


_ESCAPES = {
    "\t": ("a tab", "\\t"),
    "\n": ("a line break", "\\n"),
    "\r": ("a carriage return", "\\r"),
}
"""The control characters a pasted string most often holds: their names and JSON escapes."""


def _decode_error_message(error: json.JSONDecodeError) -> str:
    """Python's message, whole: two of them end in "at", the position they were followed by
    in ``str(error)`` (shown before them here), so the editor said "Invalid control character
    at" and stopped. The control character is named, with the escape JSON wants for it."""
    if error.msg.startswith("Invalid control character"):
        character = error.doc[error.pos]
        name, escape = _ESCAPES.get(character, ("a control character", f"\\u{ord(character):04x}"))
        return f"{name} (U+{ord(character):04X}) inside a string: JSON needs {escape}"
    if error.msg.startswith("Unterminated string"):
        return 'a string starts here and has no closing "'
    return error.msg


def check_json(text: str) -> JsonProblem | None:
    """None when ``text`` is one JSON value, else the first problem.

    Stricter than ``json.loads``: NaN and Infinity are refused (the host's check of the
    answer refuses them, so an echo of one came back a protocol error), and input nested too
    deep for Python's reader is a problem, not a RecursionError that ended the dashboard.
    """
    try:
        json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        return JsonProblem(_decode_error_message(error), error.lineno, error.colno)
    except _NotJsonConstant as error:
        match = next((m for m in _NOT_JSON_CONSTANT.finditer(text) if m.group(1)), None)
        line, column = _position(text, match.start() if match is not None else 0)
        return JsonProblem(f"{error} is not JSON (Python writes it; JSON has no such value)",
                           line, column)  # fmt: skip
    except RecursionError:
        levels = _levels_left()
        line, column = _position(text, _too_deep_at(text, levels))
        return JsonProblem(
            f"nested too deep for Python's json module to read (it gave up near level "
            f"{levels:,}; it reads about {sys.getrecursionlimit():,} at most)",
            line,
            column,
        )
    return None
