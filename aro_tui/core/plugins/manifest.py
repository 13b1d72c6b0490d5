"""Reading ``plugin.yaml`` safely: size cap, strict UTF-8, no YAML aliases, positions kept.

Validation of the loaded data lives in :mod:`aro_tui.core.plugins.rules`; this module turns a file
into data plus the line/column of every field, or into problems saying why it could not.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aro_tui.core.plugins.problem import (
    BOTH,
    HOST,
    KEY_POSITION,
    MISSING,
    Problem,
    clean_text,
    describe,
)
from aro_tui.core.plugins.rules import validate_manifest

__all__ = [
    "MANIFEST_NAME",
    "MAX_MANIFEST_BYTES",
    "Manifest",
    "Problem",
    "load_manifest",
    "read_manifest",
]

MANIFEST_NAME = "plugin.yaml"
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_YAML_EVENTS = 50_000
MAX_YAML_DEPTH = 64

# The C loader is several times faster; both compose the same node graph.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Positions = dict[str, tuple[int, int]]


@dataclass(frozen=True)
class Manifest:
    """A manifest file as read: its data (a mapping, or None), positions and problems."""

    file: Path
    data: Mapping[str, Any] | None
    problems: tuple[Problem, ...]
    positions: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def loaded(self) -> bool:
        """Whether the file parsed into a mapping that validation could look at."""
        return self.data is not None


class _LoadFailure(Exception):
    """Raised inside loading to stop at the first fatal problem."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


SAFETY_LIMITS = frozenset(
    {"manifest-too-large", "yaml-alias", "yaml-too-deep", "yaml-too-many-nodes"}
)
"""aro-tui's own limits on what it parses (not rules of ARO's): flagged under ``host``."""


def _fatal(
    file: Path,
    code: str,
    found: str,
    expected: str,
    message: str,
    line: int | None = None,
    column: int | None = None,
) -> _LoadFailure:
    rules = HOST if code in SAFETY_LIMITS else BOTH
    return _LoadFailure(
        Problem(code, file, "", found, expected, message, "error", rules, line, column)
    )


def _read_text(file: Path) -> str:
    try:
        info = file.stat()
    except FileNotFoundError as error:
        found = "a broken link" if file.is_symlink() else MISSING
        raise _fatal(
            file, "manifest-missing", found, "a plugin.yaml file", "the manifest does not exist"
        ) from error
    except OSError as error:
        raise _unreadable(file, error) from error
    if stat.S_ISDIR(info.st_mode):
        raise _fatal(
            file,
            "manifest-not-a-file",
            "a directory",
            "a regular file",
            "plugin.yaml is a directory, not a file",
        )
    if not stat.S_ISREG(info.st_mode):
        raise _fatal(
            file,
            "manifest-not-a-file",
            "a special file",
            "a regular file",
            "plugin.yaml is not a regular file",
        )
    if info.st_size > MAX_MANIFEST_BYTES:
        raise _too_large(file, info.st_size)
    try:
        with file.open("rb") as stream:
            raw = stream.read(MAX_MANIFEST_BYTES + 1)
    except OSError as error:
        raise _unreadable(file, error) from error
    if len(raw) > MAX_MANIFEST_BYTES:
        raise _too_large(file, len(raw))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        before = raw[: error.start]
        line = before.count(b"\n") + 1
        column = error.start - (before.rfind(b"\n") + 1) + 1
        raise _fatal(
            file,
            "manifest-encoding",
            f"byte 0x{raw[error.start]:02x} at offset {error.start}",
            "UTF-8 text",
            f"the manifest is not valid UTF-8 (line {line}, column {column})",
            line,
            column,
        ) from error


def _unreadable(file: Path, error: OSError) -> _LoadFailure:
    reason = error.strerror or str(error)
    return _fatal(
        file,
        "manifest-unreadable",
        clean_text(reason),
        "a readable file",
        f"cannot read the manifest: {reason}",
    )


def _too_large(file: Path, size_bytes: int) -> _LoadFailure:
    return _fatal(
        file,
        "manifest-too-large",
        f"{size_bytes} bytes",
        f"at most {MAX_MANIFEST_BYTES} bytes (1 MiB)",
        "the manifest is too large to read",
    )


def _mark_position(mark: Any) -> tuple[int | None, int | None]:
    """A YAML mark as 1-based (line, column), or (None, None) when there is none."""
    if mark is None:
        return None, None
    return int(mark.line) + 1, int(mark.column) + 1


def _offset_position(text: str, offset: int) -> tuple[int, int]:
    """The 1-based (line, column) of character ``offset`` in ``text``."""
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _screen_events(file: Path, text: str) -> None:
    """Refuse aliases (the "billion laughs" trick), runaway nesting and huge documents."""
    try:
        _screen(file, text)
    except yaml.MarkedYAMLError as error:
        # The scanner reads a flow collection's brackets ahead of the events, and stops
        # itself at 1,000 levels: the same fault as ours, at its own limit.
        if "nesting depth" not in str(error.problem):
            raise
        raise _too_deep(file, *_mark_position(error.problem_mark)) from None


def _opened_there(error: yaml.MarkedYAMLError, text: str) -> bool:
    """Whether ``error`` is best placed where its context opened: an unclosed quote or flow
    bracket, or anything found only at the end of the file. A block mapping's context is
    where the mapping began, far from a bad line in it, so not that."""
    problem, context = error.problem_mark, error.context_mark
    if context is None or problem is None or problem.index <= context.index:
        return False
    if not text[problem.index :].strip():
        return True
    return any(word in (error.context or "") for word in ("flow", "quoted scalar"))


def _too_deep(file: Path, line: int | None, column: int | None) -> _LoadFailure:
    return _fatal(
        file,
        "yaml-too-deep",
        f"nesting deeper than {MAX_YAML_DEPTH}",
        f"at most {MAX_YAML_DEPTH} levels",
        "the manifest is nested too deeply",
        line,
        column,
    )


def _screen(file: Path, text: str) -> None:
    depth = 0
    for events, event in enumerate(yaml.parse(text, Loader=_Loader), start=1):
        line, column = _mark_position(event.start_mark)
        if isinstance(event, yaml.AliasEvent):
            raise _fatal(
                file,
                "yaml-alias",
                f"alias *{clean_text(str(event.anchor))}",
                "plain values (no YAML aliases)",
                "YAML aliases are not allowed in plugin.yaml (they can expand without bound)",
                line,
                column,
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise _too_deep(file, line, column)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if events > MAX_YAML_EVENTS:
            raise _fatal(
                file,
                "yaml-too-many-nodes",
                f"more than {MAX_YAML_EVENTS} YAML nodes",
                f"at most {MAX_YAML_EVENTS}",
                "the manifest has too many YAML nodes",
            )


def _child_path(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _collect_positions(root: yaml.Node) -> tuple[Positions, list[tuple[str, yaml.Node]]]:
    """Map every field path to its value's 1-based (line, column), and the path with
    :data:`KEY_POSITION` after it to its key's; list duplicate keys."""
    positions: Positions = {"": (root.start_mark.line + 1, root.start_mark.column + 1)}
    duplicates: list[tuple[str, yaml.Node]] = []
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, yaml.MappingNode):
            kept: dict[str, yaml.Node] = {}  # the later of a duplicate key's values wins
            for key_node, value_node in node.value:
                key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
                if key in kept:
                    duplicates.append((_child_path(path, key), key_node))
                kept[key] = value_node
            key_nodes = {str(k.value): k for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
            for key, value_node in kept.items():
                child = _child_path(path, key)
                mark = value_node.start_mark
                positions[child] = (mark.line + 1, mark.column + 1)
                if (key_node := key_nodes.get(key)) is not None:
                    key_mark = key_node.start_mark
                    positions[child + KEY_POSITION] = (key_mark.line + 1, key_mark.column + 1)
                stack.append((value_node, child))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                child = f"{path}[{index}]"
                positions[child] = (item.start_mark.line + 1, item.start_mark.column + 1)
                stack.append((item, child))
    return positions, duplicates


def load_manifest(file: Path) -> tuple[Any, Positions, list[Problem]]:
    """Load ``file`` as YAML data; on a fatal problem the data is None and it is listed."""
    text = ""
    try:
        text = _read_text(file)
        _screen_events(file, text)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise _fatal(
                    file,
                    "manifest-empty",
                    "an empty document",
                    "a mapping with name, version and provides",
                    "the manifest is empty",
                )
            positions, duplicates = _collect_positions(node)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except _LoadFailure as failure:
        return None, {}, [failure.problem]
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        found_at = ""
        if _opened_there(error, text):
            # An unclosed quote or bracket is found where the parser gave up (the end of the
            # file, a later line); where it opened is where the mistake is.
            if mark is not None and text[mark.index :].strip():
                found_at = f" (at line {mark.line + 1}, column {mark.column + 1})"
            mark = error.context_mark
        line, column = _mark_position(mark)
        # Both halves: "expected a single document in the stream, but found another document".
        said = ", ".join(part for part in (error.context, error.problem) if part)
        what = clean_text(said or "invalid YAML") + found_at
        if mark is not None and text[mark.index : mark.index + 1] == "\t":
            what += " (a tab: YAML indents with spaces only)"
        where = f" at line {line}, column {column}" if line else ""
        problem = Problem(
            "yaml-syntax",
            file,
            "",
            what,
            "valid YAML",
            f"YAML syntax error{where}",  # what it is, once: in found
            "error",
            BOTH,
            line,
            column,
        )
        return None, {}, [problem]
    except yaml.reader.ReaderError as error:
        line, column = _offset_position(text, error.position)
        character = error.character
        code_point = ord(character) if isinstance(character, str) else int(character)
        what = f"character #x{code_point:04x} ({clean_text(str(error.reason))})"
        problem = Problem(
            "yaml-syntax",
            file,
            "",
            what,
            "printable YAML text",
            f"YAML syntax error at line {line}, column {column}",
            "error",
            BOTH,
            line,
            column,
        )
        return None, {}, [problem]
    except (yaml.YAMLError, RecursionError, ValueError) as error:
        problem = Problem(
            "yaml-syntax",
            file,
            "",
            clean_text(str(error))[:200],
            "valid YAML",
            "YAML error",
            "error",
            BOTH,
        )
        return None, {}, [problem]
    problems = [
        Problem(
            "duplicate-key",
            file,
            path,
            f"key {describe(path.rsplit('.', 1)[-1])} again",
            "each key once",
            "duplicate key: the later value wins",
            "warning",
            BOTH,
            node.start_mark.line + 1,
            node.start_mark.column + 1,
        )
        for path, node in duplicates
    ]
    return data, positions, problems


def read_manifest(file: Path) -> Manifest:
    """Load and validate ``file`` under both rule sets; never raises for bad input."""
    data, positions, problems = load_manifest(file)
    if any(problem.is_error for problem in problems):
        return Manifest(file, None, tuple(problems), positions)
    problems.extend(validate_manifest(data, file, positions))
    mapping = data if isinstance(data, dict) else None
    return Manifest(file, mapping, tuple(problems), positions)
