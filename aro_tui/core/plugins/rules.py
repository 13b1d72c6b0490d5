"""The two rule sets a manifest is checked under: ARO's package manager and its runtime.

``strict`` is the package manager's checker (``aro add``/``aro plugins validate``): known
``type`` values, a lower-case hyphenated ``name``, a non-empty ``version``, at least one
``provides`` entry with a non-empty ``path``. ``runtime`` is the looser reader that loads
plugins: it skips an unknown ``type`` with a warning, but an ``actions`` object without
both ``name`` and ``verbs`` fails the whole plugin. Shape errors that would stop either
reader (a list where a mapping belongs, a missing required field) are flagged by both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from aro_tui.core.plugins.naming import ACTION_PREFIX, action_function_name, spec_function_name
from aro_tui.core.plugins.problem import (
    BOTH,
    HOST,
    MISSING,
    RUNTIME,
    STRICT,
    Problem,
    ProblemCollector,
    describe,
)

KNOWN_TYPES = (
    "aro-files",
    "aro-templates",
    "swift-plugin",
    "rust-plugin",
    "c-plugin",
    "cpp-plugin",
    "python-plugin",
)
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
MIN_VERSION_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+){0,2}$")
"""ASCII digits only: ``\\d`` takes fullwidth ones too (``３.９``), which no tool reads as 3.9."""
CONSTRAINT_PATTERN = re.compile(r"^(>=|<=|>|<|\^|~)?\d+(\.\d+){0,2}(-[0-9A-Za-z.-]+)?$")
TOP_LEVEL_FIELDS = frozenset(
    {
        "name",
        "version",
        "description",
        "author",
        "license",
        "aro-version",
        "source",
        "dependencies",
        "handle",
        "provides",
    }
)
PROVIDES_FIELDS = frozenset({"type", "path", "python", "actions"})
PYTHON_FIELDS = frozenset({"min-version", "requirements"})
SOURCE_FIELDS = frozenset({"git", "ref", "commit"})
ACTION_FIELDS = frozenset({"name", "verbs", "description", "role", "prepositions"})
OPTIONAL_TEXT_FIELDS = ("description", "author", "license", "handle")


def path_escapes(text: str) -> str | None:
    """Why ``text`` as a relative path would leave its folder, or None if it stays inside."""
    if PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute():
        return "an absolute path"
    if PureWindowsPath(text).drive:
        return "a path with a drive letter"
    depth = 0
    for part in PurePosixPath(text.replace("\\", "/")).parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return "a path that leaves the plugin folder through '..'"
        elif part not in {".", ""}:
            depth += 1
    return None


class _Checker(ProblemCollector):
    """Collects one manifest's problems; also warns about fields neither rule set knows."""

    def unknown_fields(self, data: Mapping[Any, Any], known: frozenset[str], base: str) -> None:
        """Warn about every key of ``data`` not in ``known``."""
        for key in data:
            if str(key) not in known:
                field = f"{base}.{key}" if base else str(key)
                self.add(
                    "unknown-field",
                    field,
                    describe(str(key)),
                    "one of: " + ", ".join(sorted(known)),
                    f"unknown field {describe(str(key))} (ignored)",
                    "warning",
                    BOTH,
                    at_key=True,
                )

    def text(
        self,
        data: Mapping[str, Any],
        key: str,
        field: str,
        *,
        required: bool,
        expected: str = "a string",
    ) -> str | None:
        """Check that ``data[key]`` is text; return it (numbers as their YAML text)."""
        if key not in data:
            if required:
                self.add(f"{key}-missing", field, MISSING, expected, f"{field} is required")
            return None
        value = data[key]
        if isinstance(value, str):
            return value
        if isinstance(value, dict | list) or (value is None and required):
            self.add(f"{key}-type", field, describe(value), expected, f"{field} must be a string")
            return None
        hint = "quote it"
        if value is None:
            hint = "give it a value, or leave the field out"
        elif isinstance(value, int | float) and not isinstance(value, bool):
            hint += " (YAML reads 1.10 as the number 1.1)"
        self.add(
            "not-a-string",
            field,
            describe(value),
            "a quoted string",
            f"{field} is not a string; {hint}",
            "warning",
        )
        return None if value is None else str(value)


def validate_manifest(
    data: Any, file: Path, positions: Mapping[str, tuple[int, int]]
) -> list[Problem]:
    """Every problem with the loaded manifest ``data`` under both rule sets, in order."""
    checker = _Checker(file, positions)
    if not isinstance(data, dict):
        checker.add(
            "manifest-type",
            "",
            describe(data),
            "a mapping with name, version and provides",
            "the manifest must be a mapping of fields",
        )
        return checker.problems
    _check_name(checker, data)
    version = checker.text(
        data, "version", "version", required=True, expected="a version string such as 1.0.0"
    )
    if version is not None and not version.strip():
        checker.add(
            "version-empty",
            "version",
            describe(version),
            "a non-empty version such as 1.0.0",
            "version must not be empty",
            "error",
            STRICT,
        )
    for key in OPTIONAL_TEXT_FIELDS:
        checker.text(data, key, key, required=False)
    _check_aro_version(checker, data)
    _check_source(checker, data)
    if "dependencies" in data and not isinstance(data["dependencies"], dict | list):
        checker.add(
            "dependencies-type",
            "dependencies",
            describe(data["dependencies"]),
            "a mapping or a list",
            "dependencies must be a mapping or a list",
            "error",
            STRICT,
        )
    _check_provides(checker, data)
    checker.unknown_fields(data, TOP_LEVEL_FIELDS, "")
    return checker.problems


def _check_name(checker: _Checker, data: Mapping[str, Any]) -> None:
    expected = f"a name matching {NAME_PATTERN.pattern}"
    if "name" not in data:
        checker.add("name-missing", "name", MISSING, expected, "name is required")
        return
    name = data["name"]
    if not isinstance(name, str):
        checker.add("name-type", "name", describe(name), expected, "name must be a string")
    elif not NAME_PATTERN.match(name):
        checker.add(
            "name-pattern",
            "name",
            describe(name),
            expected,
            "name must be lower-case letters, digits and '-', starting with a letter",
            "error",
            STRICT,
        )


def _check_aro_version(checker: _Checker, data: Mapping[str, Any]) -> None:
    constraint = checker.text(data, "aro-version", "aro-version", required=False)
    if constraint is None:
        return
    terms = constraint.split()
    bad = [term for term in terms if not CONSTRAINT_PATTERN.match(term)]
    if bad or not terms:
        checker.add(
            "aro-version-constraint",
            "aro-version",
            describe(constraint),
            'constraints such as ">=0.1.0", "^1.2", "~1.2.3", "1.0.0", separated by spaces',
            "aro-version is not a version constraint",
            "error",
            STRICT,
        )


def _check_source(checker: _Checker, data: Mapping[str, Any]) -> None:
    if "source" not in data:
        return
    source = data["source"]
    if not isinstance(source, dict):
        checker.add(
            "source-type",
            "source",
            describe(source),
            "a mapping with git, ref, commit",
            "source must be a mapping",
            "error",
            STRICT,
        )
        return
    for key in ("git", "ref", "commit"):
        if key in source and not isinstance(source[key], str):
            checker.add(
                "source-field-type",
                f"source.{key}",
                describe(source[key]),
                "a string",
                f"source.{key} must be a string",
                "error",
                STRICT,
            )
    checker.unknown_fields(source, SOURCE_FIELDS, "source")


def _check_provides(checker: _Checker, data: Mapping[str, Any]) -> None:
    if "provides" not in data:
        checker.add(
            "provides-missing",
            "provides",
            MISSING,
            "a list of provides entries",
            "provides is required",
        )
        return
    provides = data["provides"]
    if not isinstance(provides, list):
        checker.add(
            "provides-type",
            "provides",
            describe(provides),
            "a list of provides entries",
            "provides must be a list",
        )
        return
    if not provides:
        checker.add(
            "provides-empty",
            "provides",
            describe(provides),
            "at least one entry",
            "provides must have at least one entry",
            "error",
            STRICT,
        )
        return
    any_path = False
    for index, entry in enumerate(provides):
        field = f"provides[{index}]"
        if not isinstance(entry, dict):
            checker.add(
                "provides-entry-type",
                field,
                describe(entry),
                "a mapping with type and path",
                f"{field} must be a mapping",
            )
            continue
        any_path = _check_entry(checker, entry, field) or any_path
    if not any_path:
        checker.add(
            "provides-no-path",
            "provides",
            "no entry with a non-empty path",
            "at least one entry with a non-empty path",
            "at least one provides entry needs a path",
            "error",
            STRICT,
        )


def _check_entry(checker: _Checker, entry: Mapping[str, Any], field: str) -> bool:
    """Check one provides entry; return whether it has a non-empty string path."""
    kind = checker.text(
        entry, "type", f"{field}.type", required=True, expected="one of: " + ", ".join(KNOWN_TYPES)
    )
    if kind is not None and kind not in KNOWN_TYPES:
        expected = "one of: " + ", ".join(KNOWN_TYPES)
        checker.add(
            "provides-type-unknown",
            f"{field}.type",
            describe(kind),
            expected,
            "unknown provides type: the package manager rejects it",
            "error",
            STRICT,
        )
        checker.add(
            "provides-type-unknown",
            f"{field}.type",
            describe(kind),
            expected,
            "unknown provides type: the runtime skips this entry",
            "warning",
            RUNTIME,
        )
    has_path = _check_entry_path(checker, entry, field, kind)
    if "python" in entry:
        _check_python_block(checker, entry["python"], f"{field}.python")
    if "actions" in entry:
        _check_actions(checker, entry["actions"], f"{field}.actions")
    checker.unknown_fields(entry, PROVIDES_FIELDS, field)
    return has_path


def _check_entry_path(
    checker: _Checker, entry: Mapping[str, Any], field: str, kind: str | None
) -> bool:
    path_field = f"{field}.path"
    if "path" not in entry or entry["path"] is None or entry["path"] == "":
        if kind == "python-plugin":
            found = MISSING if "path" not in entry else describe(entry["path"])
            checker.add(
                "provides-path-missing",
                path_field,
                found,
                "a folder such as src/",
                "a python-plugin entry needs a path: the runtime looks for the module there",
                "error",
                RUNTIME,
            )
        return False
    path = entry["path"]
    if not isinstance(path, str):
        checker.add(
            "provides-path-type",
            path_field,
            describe(path),
            "a relative folder path",
            f"{path_field} must be a string",
        )
        return False
    escape = path_escapes(path)
    if escape:
        checker.add(
            "provides-path-escape",
            path_field,
            f"{describe(path)} ({escape})",
            "a folder inside the plugin folder",
            "provides.path must stay inside the plugin folder",
        )
    return True


def _check_python_block(checker: _Checker, block: Any, field: str) -> None:
    if not isinstance(block, dict):
        checker.add(
            "python-type",
            field,
            describe(block),
            "a mapping with min-version, requirements",
            f"{field} must be a mapping",
        )
        return
    min_version = checker.text(block, "min-version", f"{field}.min-version", required=False)
    if min_version is not None and not MIN_VERSION_PATTERN.match(min_version):
        checker.add(
            "min-version-format",
            f"{field}.min-version",
            describe(min_version),
            'a Python version such as "3.9" or "3.10.2"',
            "python.min-version is not a version number aro-tui can compare with the "
            "interpreter's (ARO reads it but never checks it)",
            "warning",
            HOST,
        )
    requirements = checker.text(block, "requirements", f"{field}.requirements", required=False)
    if requirements is not None:
        escape = path_escapes(requirements)
        if escape:
            checker.add(
                "requirements-escape",
                f"{field}.requirements",
                f"{describe(requirements)} ({escape})",
                "a file inside the plugin's path",
                "python.requirements must stay inside the plugin folder",
            )
    checker.unknown_fields(block, PYTHON_FIELDS, field)


def _check_actions(checker: _Checker, actions: Any, field: str) -> None:
    if not isinstance(actions, list):
        checker.add(
            "actions-type",
            field,
            describe(actions),
            "a list of action names or objects",
            f"{field} must be a list",
        )
        return
    seen: set[str] = set()
    for index, item in enumerate(actions):
        item_field = f"{field}[{index}]"
        name = _action_entry_name(checker, item, item_field)
        if name is None:
            continue
        name_field = item_field if isinstance(item, str) else f"{item_field}.name"
        _check_action_name(checker, name, name_field)
        if name in seen:
            checker.add(
                "action-duplicate",
                name_field,
                describe(name),
                "each action once",
                f"action {describe(name)} is declared twice",
                "warning",
            )
        seen.add(name)


def _action_entry_name(checker: _Checker, item: Any, field: str) -> str | None:
    if isinstance(item, str):
        return item
    if not isinstance(item, dict):
        checker.add(
            "action-entry-type",
            field,
            describe(item),
            "an action name or a mapping with name",
            f"{field} must be a string or a mapping",
        )
        return None
    verbs = item.get("verbs")
    if "verbs" not in item:
        checker.add(
            "action-verbs-missing",
            f"{field}.verbs",
            MISSING,
            "a list of verbs",
            "an action object without verbs makes the runtime fail to load the whole plugin",
            "error",
            RUNTIME,
        )
    elif not isinstance(verbs, list) or not all(isinstance(verb, str) for verb in verbs):
        checker.add(
            "action-verbs-type",
            f"{field}.verbs",
            describe(verbs),
            "a list of strings",
            f"{field}.verbs must be a list of strings",
            "error",
            RUNTIME,
        )
    checker.unknown_fields(item, ACTION_FIELDS, field)
    if "name" not in item:
        checker.add(
            "action-name-missing",
            f"{field}.name",
            MISSING,
            "an action name",
            "an action object needs a name",
        )
        return None
    name = item["name"]
    if not isinstance(name, str):
        checker.add(
            "action-name-type",
            f"{field}.name",
            describe(name),
            "a string",
            f"{field}.name must be a string",
        )
        return None
    return name


def _check_action_name(checker: _Checker, name: str, field: str) -> None:
    runtime_name = ACTION_PREFIX + action_function_name(name)
    spec_name = ACTION_PREFIX + spec_function_name(name)
    if not name or not runtime_name.isidentifier():
        checker.add(
            "action-name-invalid",
            field,
            describe(name),
            "letters, digits, '-' and '_' (a Python identifier once mapped)",
            f"no Python function can be named {describe(runtime_name)}",
        )
    elif runtime_name != spec_name:
        checker.add(
            "action-function-name-differs",
            field,
            f"{describe(name)}: runtime calls {runtime_name}, the chapter {spec_name}",
            "an action name that maps to one function under both rules (lower-case, '-')",
            "the runtime and the chapter look for different functions",
            "warning",
            RUNTIME,
        )
