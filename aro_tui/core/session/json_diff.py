"""Structural diff of two JSON documents: the paths that changed, were added or removed.

Paths read like JSONPath: ``$`` is the document, ``.name`` a key that is an identifier,
``["odd key"]`` any other key, ``[3]`` a list index. Lists are compared position by position
(a plugin's output lists are ordered: an embedding, a ranking), so an insertion shows as
changes at every later index plus one added at the end.

Ignore patterns use the same syntax plus ``*`` (any key; inside a key, a glob such as
``*_ms``), ``[*]`` (any index) and ``..`` (any depth, including none): ``$.timing_ms``,
``$..load_seconds``, ``$.items[*].id``. An ignored path hides its whole subtree.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "DiffEntry",
    "DiffOptions",
    "IgnorePattern",
    "IgnorePatternError",
    "JsonDiff",
    "diff_json",
    "format_path",
    "format_value",
    "format_value_pair",
]

DiffKind = Literal["changed", "added", "removed"]
_Segment = str | int
"""A key (str) or a list index (int)."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MISSING: Any = object()


class IgnorePatternError(ValueError):
    """An ``--ignore`` pattern that cannot be read; the message says where."""


@dataclass(frozen=True, slots=True)
class DiffEntry:
    """One difference: at ``path``, ``old`` became ``new`` (``None`` stands for absent).

    Values are JSON values, or ``bytes`` for a response that is not UTF-8 text.
    """

    path: str
    kind: DiffKind
    old: Any = None
    new: Any = None

    def to_json(self, max_value_chars: int | None = 200) -> dict[str, Any]:
        """A JSON-ready record; values longer than ``max_value_chars`` as truncated text;
        ``bytes`` as base64 text, with ``old_encoding``/``new_encoding`` ``"base64"``."""
        record: dict[str, Any] = {"path": self.path, "kind": self.kind}
        old, new = _json_ready(self.old), _json_ready(self.new)
        if self.kind == "changed":
            record["old"], record["new"] = _bounded_pair(old, new, max_value_chars)
        elif self.kind == "removed":
            record["old"] = _bounded(old, max_value_chars)
        else:
            record["new"] = _bounded(new, max_value_chars)
        for side, value in (("old", self.old), ("new", self.new)):
            if side in record and isinstance(value, bytes):
                record[f"{side}_encoding"] = "base64"
        return record

    def describe(self, max_value_chars: int = 60) -> str:
        """One line for people: ``$.a[0]: 1 → 2``."""
        if self.kind == "added":
            return f"+ {self.path}: {format_value(self.new, max_value_chars)}"
        if self.kind == "removed":
            return f"- {self.path}: {format_value(self.old, max_value_chars)}"
        old_text, new_text = format_value_pair(self.old, self.new, max_value_chars)
        return f"~ {self.path}: {old_text} → {new_text}"


@dataclass(frozen=True, slots=True)
class JsonDiff:
    """The differences found, the first ``max_entries`` of them kept in document order."""

    entries: tuple[DiffEntry, ...]
    total: int
    """How many differences there are in all (``entries`` may hold fewer)."""

    @property
    def equal(self) -> bool:
        """Whether the documents are the same (after ignores and tolerances)."""
        return self.total == 0

    @property
    def omitted(self) -> int:
        """Differences counted but not kept."""
        return self.total - len(self.entries)


class IgnorePattern:
    """A compiled ignore pattern (see the module docstring for the syntax)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._tokens = _parse_pattern(text)

    def __repr__(self) -> str:
        return f"IgnorePattern({self.text!r})"

    def matches(self, segments: Sequence[_Segment]) -> bool:
        """Whether the path made of ``segments`` is covered by this pattern."""
        return _match(self._tokens, 0, segments, 0)


@dataclass(frozen=True)
class DiffOptions:
    """What counts as a difference."""

    ignore: tuple[IgnorePattern, ...] = ()
    rel_tol: float = 0.0
    """Numbers within this relative tolerance (``math.isclose``) are equal."""
    abs_tol: float = 0.0
    max_entries: int = 1000
    """Keep at most this many entries (all are still counted)."""

    @classmethod
    def build(
        cls,
        ignore: Sequence[str] = (),
        rel_tol: float = 0.0,
        abs_tol: float = 0.0,
        max_entries: int = 1000,
    ) -> DiffOptions:
        """Options from pattern texts (``IgnorePatternError`` for a bad one)."""
        if rel_tol < 0 or abs_tol < 0 or not math.isfinite(rel_tol + abs_tol):
            raise ValueError("tolerances must be finite and not negative")
        patterns = tuple(IgnorePattern(text) for text in ignore)
        return cls(patterns, rel_tol, abs_tol, max_entries)


def diff_json(old: Any, new: Any, options: DiffOptions | None = None) -> JsonDiff:
    """Compare two parsed JSON values; differences in document order."""
    options = options or DiffOptions()
    entries: list[DiffEntry] = []
    total = 0

    def report(segments: tuple[_Segment, ...], kind: DiffKind, old: Any, new: Any) -> None:
        nonlocal total
        total += 1
        if len(entries) < options.max_entries:
            entries.append(DiffEntry(format_path(segments), kind, old, new))

    # An explicit stack, not recursion: a response may nest deeper than Python's stack.
    stack: list[tuple[tuple[_Segment, ...], Any, Any]] = [((), old, new)]
    while stack:
        segments, old_value, new_value = stack.pop()
        if segments and any(pattern.matches(segments) for pattern in options.ignore):
            continue
        if old_value is _MISSING:
            report(segments, "added", None, new_value)
        elif new_value is _MISSING:
            report(segments, "removed", old_value, None)
        elif isinstance(old_value, dict) and isinstance(new_value, dict):
            children = [(key, old_value[key], new_value.get(key, _MISSING)) for key in old_value]
            children += [
                (key, _MISSING, new_value[key]) for key in new_value if key not in old_value
            ]
            stack.extend(((*segments, key), a, b) for key, a, b in reversed(children))
        elif isinstance(old_value, list) and isinstance(new_value, list):
            length = max(len(old_value), len(new_value))
            for index in reversed(range(length)):
                a = old_value[index] if index < len(old_value) else _MISSING
                b = new_value[index] if index < len(new_value) else _MISSING
                stack.append(((*segments, index), a, b))
        elif not _scalars_equal(old_value, new_value, options):
            report(segments, "changed", old_value, new_value)
    return JsonDiff(tuple(entries), total)


def _scalars_equal(old: Any, new: Any, options: DiffOptions) -> bool:
    if _is_number(old) and _is_number(new):
        if old == new:
            return True
        if not (options.rel_tol or options.abs_tol):
            return False  # math.isclose compares as floats: integers past 2**53 would match
        try:
            return math.isclose(old, new, rel_tol=options.rel_tol, abs_tol=options.abs_tol)
        except OverflowError:  # an integer past a float's range: only an equal one is close
            return False
    # JSON's true is not 1; a dict or list against a scalar is a change of type.
    return type(old) is type(new) and bool(old == new)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def format_path(segments: Sequence[_Segment]) -> str:
    """``("a", 0, "b c")`` → ``$.a[0]["b c"]``."""
    parts = ["$"]
    for segment in segments:
        if isinstance(segment, int):
            parts.append(f"[{segment}]")
        elif _IDENTIFIER.match(segment):
            parts.append(f".{segment}")
        else:
            parts.append(f"[{json.dumps(segment, ensure_ascii=False)}]")
    return "".join(parts)


def format_value(value: Any, max_chars: int = 60) -> str:
    """Compact JSON text of ``value`` (``b"caf\\xe9"`` for bytes), cut to ``max_chars`` with
    ``…`` and its full size."""
    text = _json_text(value)
    if len(text) <= max_chars:
        return text
    keep = max(1, max_chars - 1)
    return f"{text[:keep]}… ({len(text)} chars)"


def format_value_pair(old: Any, new: Any, max_chars: int = 60) -> tuple[str, str]:
    """A changed value's old and new texts, each as :func:`format_value` cuts it, except
    that two strings alike for longer than fits show the stretch where they first differ.

    Cut from the start, both would read the same, ``"line1…(86 chars)"``, either side of
    the arrow.
    """
    if not (isinstance(old, str | bytes) and type(old) is type(new)):
        return format_value(old, max_chars), format_value(new, max_chars)
    old_text, new_text = _json_text(old), _json_text(new)
    first_difference = _common_prefix_length(old_text, new_text)
    if first_difference < max(1, max_chars - 1):  # the plain cut shows it on both sides
        return format_value(old, max_chars), format_value(new, max_chars)
    start = _window_start(first_difference, max(len(old_text), len(new_text)), max_chars)
    return _window(old_text, start, max_chars), _window(new_text, start, max_chars)


def _json_text(value: Any) -> str:
    if isinstance(value, bytes):
        return _bytes_text(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=True)


_BYTES_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _bytes_text(data: bytes) -> str:
    """``b"caf\\xe9"``: a body that is not UTF-8, its UTF-8 stretches as text and each other
    byte, and each control byte, as ``\\xNN``, as Python writes bytes (decoded with
    replacement characters, two changed bodies read alike; JSON's ``\\u001b`` beside
    ``\\xe9`` mixed two notations)."""
    text = data.decode("utf-8", "surrogateescape")
    return 'b"' + "".join(_byte_char(char) for char in text) + '"'


def _byte_char(char: str) -> str:
    """One character of :func:`_bytes_text`."""
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    if char in _BYTES_ESCAPES:
        return _BYTES_ESCAPES[char]
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    return char


def _json_ready(value: Any) -> Any:
    """``value`` as JSON can carry it: bytes as their base64 text."""
    return base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value


def _common_prefix_length(a: str, b: str, block: int = 4096) -> int:
    """Where ``a`` and ``b`` first differ (the shorter's length when one begins the other).

    Block by block first, so two multi-megabyte bodies alike to the end compare at C speed.
    """
    length = min(len(a), len(b))
    start = 0
    while start < length and a[start : start + block] == b[start : start + block]:
        start += block
    end = min(start + block, length)
    return next((i for i in range(start, end) if a[i] != b[i]), end)


def _window_start(first_difference: int, longest: int, max_chars: int) -> int:
    """Where both sides' windows begin: a third of the window leads up to the difference
    (enough to place it, the rest for how the two go on), or more when the texts end
    sooner; the same start on both sides keeps them aligned."""
    width = max(1, max_chars - 2)  # two "…"
    return max(1, min(first_difference - width // 3, longest - (max_chars - 1)))


def _window(text: str, start: int, max_chars: int) -> str:
    """``text`` from ``start``: whole when it fits, else ``…middle… (N chars)``."""
    if len(text) <= max_chars:
        return text
    rest = text[start:]
    if len(rest) + 1 <= max_chars:
        return f"…{rest} ({len(text)} chars)"
    return f"…{rest[: max(1, max_chars - 2)]}… ({len(text)} chars)"


def _bounded(value: Any, max_chars: int | None) -> Any:
    """``value`` itself when small, else its truncated text (so reports stay readable)."""
    if max_chars is None or isinstance(value, bool | int | float) or value is None:
        return value
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if len(text) <= max_chars:
        return value
    return format_value(value, max_chars)


def _bounded_pair(old: Any, new: Any, max_chars: int | None) -> tuple[Any, Any]:
    """:func:`_bounded` for a changed value's two sides; two long strings alike for longer
    than fits are both cut around where they differ (:func:`format_value_pair`)."""
    if max_chars is None or not (isinstance(old, str) and isinstance(new, str)):
        return _bounded(old, max_chars), _bounded(new, max_chars)
    old_text, new_text = format_value_pair(old, new, max_chars)
    return (
        old if len(_json_text(old)) <= max_chars else old_text,
        new if len(_json_text(new)) <= max_chars else new_text,
    )


# Pattern tokens: ("key", glob) · ("index", n or None for [*]) · ("deep",) for "..".
_Token = tuple[str, Any]
_TOKEN = re.compile(
    r"""
    (?P<deep>\.\.)
    | \.(?P<name>[^.\[\]]+)
    | \[(?P<index>\d+|\*)\]
    | \[(?P<quoted>"(?:[^"\\]|\\.)*")\]
    """,
    re.VERBOSE,
)


def _parse_pattern(text: str) -> list[_Token]:
    if not text.startswith("$"):
        raise IgnorePatternError(f"ignore pattern {text!r} must start with $")
    tokens: list[_Token] = []
    position = 1
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise IgnorePatternError(
                f"ignore pattern {text!r}: cannot read {text[position:]!r} "
                '(use .key, ..key, [N], [*] or ["key"])'
            )
        if match["deep"]:
            tokens.append(("deep", None))
            # "..name" is the deep marker followed by ".name" without its dot.
            name = re.match(r"[^.\[\]]+", text[match.end() :])
            if name:
                tokens.append(("key", name.group()))
                position = match.end() + name.end()
                continue
        elif match["name"] is not None:
            tokens.append(("key", match["name"]))
        elif match["index"] is not None:
            tokens.append(("index", None if match["index"] == "*" else int(match["index"])))
        else:
            tokens.append(("key", _literal_glob(json.loads(match["quoted"]))))
        position = match.end()
    if tokens and tokens[-1][0] == "deep":
        raise IgnorePatternError(f"ignore pattern {text!r} must not end with ..")
    if not tokens:
        raise IgnorePatternError(
            f"ignore pattern {text!r} is the whole response, which would hide every "
            "difference; name a part of it (e.g. $.pid, $..load_seconds)"
        )
    return tokens


def _literal_glob(key: str) -> str:
    """A quoted key matches itself only: escape the glob characters in it."""
    return re.sub(r"([*?\[])", r"[\1]", key)


def _match(tokens: list[_Token], ti: int, segments: Sequence[_Segment], si: int) -> bool:
    if ti == len(tokens):
        return si == len(segments)
    kind, value = tokens[ti]
    if kind == "deep":
        return any(_match(tokens, ti + 1, segments, start) for start in range(si, len(segments)))
    if si == len(segments):
        return False
    segment = segments[si]
    if kind == "index":
        ok = isinstance(segment, int) and (value is None or value == segment)
    else:
        ok = isinstance(segment, str) and fnmatch.fnmatchcase(segment, value)
    return ok and _match(tokens, ti + 1, segments, si + 1)
