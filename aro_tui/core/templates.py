"""Turn an action's docstring into a starting JSON input.

ARO plugins document their input in an ``Input:`` section (the Python plugins chapter)::

    Input:
        - text: The text to analyze
        - max_length: Maximum length of generated text (default: 100)

which becomes ``{"text": "", "max_length": 100}``. Defaults are read as JSON, else as a
Python literal, else kept as a string. Markdown's ``- name: ...`` items at the title's own
indent are read too, up to a blank line or a line that is no such item.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "InputField",
    "has_input_section",
    "input_example",
    "parse_input_fields",
    "render_template",
    "template_for",
]

_SECTION = re.compile(r"^\s*(?P<title>[A-Za-z][A-Za-z ]*):\s*$")
_NAME = (
    r"(?:\"(?P<dq>[^\"]+)\"|'(?P<sq>[^']+)'|`(?P<bq>[^`]+)`|(?P<bare>[^\W\d][\w.-]*))"
    r"(?:\s*\((?P<type>[^)]*)\))?"  # a Google-style type: ``text (str): ...``
)
_ITEM = re.compile(r"^(?P<indent>\s*)[-*]\s+" + _NAME + r"\s*(?::\s*(?P<rest>.*))?$")
"""``- name: description``: a name starts with a letter (any script) or ``_``; in quotes or
backquotes it may hold anything else (``- "two words": ...``)."""
_BARE_ITEM = re.compile(r"^(?P<indent>\s*)" + _NAME + r"\s*:\s*(?P<rest>.*)$")
"""``name: description`` with no dash: items so when the section's first item is so."""


def _item_name(item: re.Match[str]) -> str:
    return str(item.group("dq") or item.group("sq") or item.group("bq") or item.group("bare"))


_LIST_TYPE = re.compile(r"^\s*(?:list|tuple|sequence|array|List|Tuple|Sequence)\b", re.IGNORECASE)
_OBJECT_TYPE = re.compile(r"^\s*(?:dict|mapping|object|Dict|Mapping)\b", re.IGNORECASE)
_SCALAR_TYPES = {"int": 0, "integer": 0, "float": 0.0, "number": 0.0, "bool": False}
_OPTIONAL_TYPE = re.compile(r"^(?:Optional\[.*\]|.*\|\s*None|None\s*\|.*)$")


def _empty_of(type_text: str | None) -> Any:
    """What an input without a default starts as: ``[]`` for a list type, ``{}`` for a
    dict, 0 / 0.0 / false for int, float, bool (``- count (int): ...``, ``int, optional``
    too), null for ``Optional[int]`` or ``int | None``, else ""
    (``- texts (list): ...`` as "" was refused by the action once filled in as a string)."""
    text = (type_text or "").strip()
    if _OPTIONAL_TYPE.match(text):  # Optional[int], int | None: not given is null
        return None
    if _LIST_TYPE.match(text):
        return []
    if _OBJECT_TYPE.match(text):
        return {}
    scalar = text.split(",")[0].strip().lower()
    return _SCALAR_TYPES.get(scalar, "")


_DEFAULT = re.compile(r"\(\s*default\s*[:=]\s*(?P<value>.*)\)\s*\.?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class InputField:
    """One documented input: its name, description and default (``has_default``); an input
    whose items are listed under it (indented) is an object of those ``children``. A default
    in words (``(default: sentiment analysis model)``) is ``prose_default``: the action picks
    something the docstring only describes, so the template leaves the input out."""

    name: str
    description: str
    default: Any = None
    has_default: bool = False
    children: tuple[InputField, ...] = ()
    prose_default: bool = False
    type_name: str | None = None
    """A Google-style type (``- texts (list): ...``), as written."""

    @property
    def value(self) -> Any:
        """What the template puts for it: its children as an object, its default, or ""."""
        if self.children:
            return _object_of(self.children)
        return self.default if self.has_default else _empty_of(self.type_name)


def _object_of(fields: Iterable[InputField]) -> dict[str, Any]:
    """The template's object for ``fields``: those with a default in words are left out,
    since sending the words would replace the default the action picks by itself."""
    return {field.name: field.value for field in fields if not field.prose_default}


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


def _field(
    name: str, description: str, children: tuple[InputField, ...] = (), type_name: str | None = None
) -> InputField:
    description = " ".join(description.split())
    match = _DEFAULT.search(description)
    if match is None:
        return InputField(name, description, children=children, type_name=type_name)
    text = match.group("value").strip()
    value = _parse_value(text)
    if not _is_json_value(value):
        value = text
    # Unquoted words that are no literal: a description of the default, not a value of it.
    prose = value == text and text[:1].isalpha() and len(text.split()) > 1
    description = description[: match.start()].rstrip()
    return InputField(name, description, value, True, children, prose, type_name)


@dataclass
class _Item:
    """An item while its section is read: where it starts, its text, the items under it."""

    indent: int
    name: str
    text: list[str]
    children: list[_Item]
    type_name: str | None = None

    def field(self) -> InputField:
        children = tuple(child.field() for child in self.children)
        return _field(self.name, " ".join(self.text), children, self.type_name)


def _is_json_value(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def parse_input_fields(docstring: str | None) -> list[InputField]:
    """The fields listed in ``docstring``'s ``Input:`` section (empty when there is none);
    items indented under an item are its children (an object in the template).

    The section is what is indented under its title, or, when its first item is a ``- name``
    at the title's own indent (markdown), the run of such items up to a blank line or a line
    that is none: at that indent ``Output:`` or the docstring's text follow without one."""
    if not docstring:
        return []
    lines = textwrap.dedent(docstring.expandtabs()).splitlines()
    top: list[_Item] = []
    open_items: list[_Item] = []  # the item being read and those it is nested in
    in_section = False
    section_indent = 0
    flush: bool | None = None  # items at the title's own indent (markdown); by the first item
    dashless: bool | None = None  # decided by the section's first item
    dashless_indent = 0
    for line in lines:
        if not in_section:
            title = _SECTION.match(line)
            if title and title.group("title").strip().lower() in {"input", "inputs"}:
                in_section = True
                section_indent = len(line) - len(line.lstrip())
            continue
        if not line.strip():
            if flush:
                break  # a flush list ends at a blank line: what follows is the text again
            continue
        indent = len(line) - len(line.lstrip())
        item = _ITEM.match(line)
        if flush is None:
            flush = indent == section_indent and item is not None
        if indent < section_indent or (indent == section_indent and not (flush and item)):
            break  # the next section (``Output:``), or the docstring's text again
        if item is None and dashless is not False:
            bare = _BARE_ITEM.match(line)
            # Dash-less items only when the section's first item has none, and at its indent.
            if bare is not None and (dashless is None or indent == dashless_indent):
                item, dashless, dashless_indent = bare, True, indent
        elif item is not None and dashless is None:
            dashless = False
        if item is not None:
            new = _Item(
                len(item.group("indent")),
                _item_name(item),
                [item.group("rest") or ""],
                [],
                item.group("type"),
            )
            while open_items and open_items[-1].indent >= new.indent:
                open_items.pop()
            (open_items[-1].children if open_items else top).append(new)
            open_items.append(new)
        elif open_items:
            open_items[-1].text.append(line.strip())  # a description's next line
    return [item.field() for item in top]


_INLINE = re.compile(r"^(?P<indent>\s*)inputs?\s*:\s*(?P<json>\{.*)$", re.IGNORECASE)
"""``Input: {"text": "hello"}``: the example object on the section's own line."""
MAX_EXAMPLE_LINES = 200


def input_example(docstring: str | None) -> dict[str, Any] | None:
    """The JSON object an ``Input:`` section holds instead of items, on its title's line
    (``Input: {"text": "hello", "n": 1}``) or indented under it; None when there is none."""
    if not docstring:
        return None
    lines = textwrap.dedent(docstring.expandtabs()).splitlines()
    for index, line in enumerate(lines):
        inline = _INLINE.match(line)
        title = _SECTION.match(line)
        if inline is not None:
            first = inline.group("json")
        elif title is not None and title.group("title").strip().lower() in {"input", "inputs"}:
            first = ""
        else:
            continue
        indent = len(line) - len(line.lstrip())
        body = [first]
        for following in lines[index + 1 : index + 1 + MAX_EXAMPLE_LINES]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        text = "\n".join(body).strip()
        if not text.startswith("{"):
            return None
        value = _parse_value(text)  # as defaults: JSON, else a Python literal ({'a': True})
        return value if isinstance(value, dict) and _is_json_value(value) else None
    return None


def has_input_section(docstring: str | None) -> bool:
    """Whether ``docstring`` has an ``Input:`` section at all (a title line, or the inline
    ``Input: ...`` form), usable or not."""
    if not docstring:
        return False
    for line in textwrap.dedent(docstring.expandtabs()).splitlines():
        title = _SECTION.match(line) or _INLINE_ANY.match(line)
        if title is not None and title.group("title").strip().lower() in {"input", "inputs"}:
            return True
    return False


_INLINE_ANY = re.compile(r"^\s*(?P<title>inputs?)\s*:\s*\S", re.IGNORECASE)


def template_for(docstring: str | None) -> dict[str, Any]:
    """The JSON object an action's docstring describes: each input with its default or "",
    or the example object its ``Input:`` section holds."""
    example = input_example(docstring)
    return example if example is not None else _object_of(parse_input_fields(docstring))


def render_template(docstring: str | None) -> str:
    """:func:`template_for` as indented JSON text, ready for the editor."""
    return json.dumps(template_for(docstring), indent=2, ensure_ascii=False)
