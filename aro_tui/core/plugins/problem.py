"""The one shape every manifest, discovery and interpreter finding is reported in."""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Severity = Literal["error", "warning"]
RuleSet = Literal["strict", "runtime", "host"]

STRICT: tuple[RuleSet, ...] = ("strict",)
RUNTIME: tuple[RuleSet, ...] = ("runtime",)
BOTH: tuple[RuleSet, ...] = ("strict", "runtime")
HOST: tuple[RuleSet, ...] = ("host",)

MISSING = "(missing)"
KEY_POSITION = "#key"
"""After a field's path in a manifest's positions: where its key is (the path alone: its
value), so that an unknown field is pointed at by its name."""
# Controls, and what reorders or hides text on a terminal: bidirectional overrides and
# isolates, zero-width characters, the byte-order mark.
_INVISIBLE = "\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff"
_CONTROL_CHARS = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{_INVISIBLE}]")
_LINE_CONTROL_CHARS = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f\u2028\u2029{_INVISIBLE}]")
_DESCRIBE_LIMIT_CHARS = 80


@dataclass(frozen=True)
class Problem:
    """One finding: where it is, what was found, what was expected, and who objects.

    ``rules`` names the rule sets that flag it: ``strict`` (ARO's package manager),
    ``runtime`` (ARO's looser runtime reader) and ``host`` (aro-tui's own checks of how it
    will run the plugin: interpreter and ``python.min-version``).
    """

    code: str
    file: Path
    field: str
    found: str
    expected: str
    message: str
    severity: Severity
    rules: tuple[RuleSet, ...]
    line: int | None = None
    column: int | None = None

    @property
    def is_error(self) -> bool:
        """Whether this problem makes the plugin invalid."""
        return self.severity == "error"

    def location(self) -> str:
        """``file:line:column`` (or less, when the position is unknown)."""
        text = str(self.file)
        if self.line is not None:
            text += f":{self.line}"
            if self.column is not None:
                text += f":{self.column}"
        return text

    def one_line(self) -> str:
        """``field: message, found …`` (the file is the plugin's, where this is shown)."""
        where = f"{self.field}: " if self.field else ""
        return f"{where}{self.message}, found {self.found}"

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form (docs/json-output.md, "problem")."""
        return {
            "code": self.code,
            "severity": self.severity,
            "rules": list(self.rules),
            "file": str(self.file),
            "field": self.field,
            "line": self.line,
            "column": self.column,
            "found": self.found,
            "expected": self.expected,
            "message": self.message,
        }


def clean_text(text: str) -> str:
    """``text`` with terminal control characters shown as ``\\xNN`` escapes."""
    return _CONTROL_CHARS.sub(_escape, text)


def clean_line(text: str) -> str:
    """:func:`clean_text` for one line: newlines and tabs become escapes too (a folder
    named with a newline split ``check``'s lines)."""
    return _LINE_CONTROL_CHARS.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def describe(value: Any) -> str:
    """A short, printable description of a YAML value for a problem's ``found``."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int | float):
        return f"{value!r} (a number)"
    if value is None:
        return "null"
    if isinstance(value, str):
        shown = (
            value if len(value) <= _DESCRIBE_LIMIT_CHARS else value[:_DESCRIBE_LIMIT_CHARS] + "…"
        )
        return '"' + clean_text(shown).replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return f"a mapping with {len(value)} key(s)"
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    if isinstance(value, set | frozenset):  # YAML's !!set: sorted, so the text is stable
        shown = ", ".join(sorted(map(str, value)))
        return f"a set of {len(value)} item(s) ({clean_text(shown)[:_DESCRIBE_LIMIT_CHARS]})"
    if isinstance(value, bytes):  # YAML's !!binary
        return f"binary data of {len(value)} byte(s)"
    if isinstance(value, datetime.date):  # an unquoted 2024-01-01 is a date in YAML
        return f"{value.isoformat()} (a date)"
    return f"a {type(value).__name__} ({clean_text(str(value))[:_DESCRIBE_LIMIT_CHARS]})"


class ProblemCollector:
    """Collects problems for one file, placing each at its field's line and column."""

    def __init__(self, file: Path, positions: Mapping[str, tuple[int, int]]) -> None:
        self.file = file
        self.positions = positions
        self.problems: list[Problem] = []

    def add(
        self,
        code: str,
        field: str,
        found: str,
        expected: str,
        message: str,
        severity: Severity = "error",
        rules: tuple[RuleSet, ...] = BOTH,
        *,
        at_key: bool = False,
    ) -> None:
        """Record a problem at ``field`` (or at its nearest ancestor that has a position);
        ``at_key``: at the field's key rather than its value (an unknown field's name)."""
        line, column = self._position(field)
        if at_key:
            line, column = self.positions.get(field + KEY_POSITION, (line, column))
        self.problems.append(
            Problem(code, self.file, field, found, expected, message, severity, rules, line, column)
        )

    def _position(self, field: str) -> tuple[int | None, int | None]:
        path = field
        while True:
            if path in self.positions:
                return self.positions[path]
            if not path:
                return None, None
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
