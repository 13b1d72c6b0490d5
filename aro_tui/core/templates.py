"""Turn an action's docstring into a starting JSON input.

ARO plugins document their input in an ``Input:`` section (the Python plugins chapter)::

    Input:
        - text: The text to analyze
        - max_length: Maximum length of generated text (default: 100)

which becomes ``{"text": "", "max_length": 100}``. Defaults are read as JSON, else as a
Python literal, else kept as a string.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from dataclasses import dataclass
from typing import Any

__all__ = ["InputField", "parse_input_fields", "render_template", "template_for"]

_SECTION = re.compile(r"^\s*(?P<title>[A-Za-z][A-Za-z ]*):\s*$")
_ITEM = re.compile(
    r"^(?P<indent>\s*)[-*]\s+`?(?P<name>[A-Za-z_][\w.-]*)`?\s*(?::\s*(?P<rest>.*))?$"
)
_DEFAULT = re.compile(r"\(\s*default\s*[:=]\s*(?P<value>.*)\)\s*\.?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class InputField:
    """One documented input: its name, description and default (``has_default``)."""

    name: str
    description: str
    default: Any = None
    has_default: bool = False


def _parse_value(text: str) -> Any:
    text = text.strip()
    if not text:
        return ""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def _field(name: str, description: str) -> InputField:
    description = " ".join(description.split())
    match = _DEFAULT.search(description)
    if match is None:
        return InputField(name, description)
    value = _parse_value(match.group("value"))
    if not _is_json_value(value):
        value = match.group("value").strip()
    return InputField(name, description[: match.start()].rstrip(), value, True)


def _is_json_value(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def parse_input_fields(docstring: str | None) -> list[InputField]:
    """The fields listed in ``docstring``'s ``Input:`` section (empty when there is none)."""
    if not docstring:
        return []
    lines = textwrap.dedent(docstring.expandtabs()).splitlines()
    fields: list[InputField] = []
    in_section = False
    section_indent = 0
    current: tuple[str, list[str], int] | None = None
    for line in lines:
        if not in_section:
            title = _SECTION.match(line)
            if title and title.group("title").strip().lower() in {"input", "inputs"}:
                in_section = True
                section_indent = len(line) - len(line.lstrip())
            continue
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent <= section_indent and _SECTION.match(line):
            break
        item = _ITEM.match(line)
        if item and (current is None or len(item.group("indent")) <= current[2]):
            if current is not None:
                fields.append(_field(current[0], " ".join(current[1])))
            current = (item.group("name"), [item.group("rest") or ""], len(item.group("indent")))
        elif current is not None and indent > current[2]:
            current[1].append(line.strip())
        elif indent <= section_indent:
            break
    if current is not None:
        fields.append(_field(current[0], " ".join(current[1])))
    return fields


def template_for(docstring: str | None) -> dict[str, Any]:
    """The JSON object an action's docstring describes: each input with its default or ""."""
    return {
        field.name: (field.default if field.has_default else "")
        for field in parse_input_fields(docstring)
    }


def render_template(docstring: str | None) -> str:
    """:func:`template_for` as indented JSON text, ready for the editor."""
    return json.dumps(template_for(docstring), indent=2, ensure_ascii=False)
