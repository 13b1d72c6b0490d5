"""Checks of a plugin folder against its manifest: paths inside it, the module, requirements."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from aro_tui.core.plugins.naming import locate_module, module_candidates
from aro_tui.core.plugins.problem import (
    HOST,
    RUNTIME,
    STRICT,
    Problem,
    ProblemCollector,
    describe,
)
from aro_tui.core.plugins.rules import path_escapes


@dataclass(frozen=True)
class Requirement:
    """One plain requirement line of a requirements file."""

    line: int
    text: str
    """As written, less its comment and options."""
    name: str
    """The distribution name."""
    marker: str
    """The environment marker (``python_version < "3.12"``), or ``""``."""


@dataclass(frozen=True)
class PythonEntry:
    """What the first usable ``python-plugin`` entry says about running the plugin."""

    index: int
    source_dir: Path
    module_path: Path | None
    min_version: str | None
    requirements_file: Path | None = None
    """``python.requirements`` where it is (in ``path``, else beside plugin.yaml), if it is."""
    requirements: tuple[Requirement, ...] = ()
    """Its plain requirement lines (:func:`plain_requirements`)."""


def _inside(target: Path, root_real: Path) -> bool:
    return target == root_real or target.is_relative_to(root_real)


def _resolved(path: Path) -> Path | None:
    """``path`` with every link followed, or None for a symbolic link loop."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a link loop before Python 3.13
        return None


def check_layout(
    manifest: Mapping[str, Any],
    root: Path,
    plugin_name: str,
    file: Path,
    positions: Mapping[str, tuple[int, int]],
) -> tuple[PythonEntry | None, list[Problem]]:
    """Resolve every ``provides`` path under ``root``; locate the first python module."""
    findings = ProblemCollector(file, positions)
    provides = manifest.get("provides")
    if not isinstance(provides, list):
        return None, findings.problems
    root_real = root.resolve()
    first: PythonEntry | None = None
    for index, entry in enumerate(provides):
        if not isinstance(entry, dict):
            continue
        path = entry.get("path")
        if not isinstance(path, str) or not path or path_escapes(path):
            continue
        field = f"provides[{index}].path"
        source_dir = root / path
        real = _resolved(source_dir)
        if real is None:
            findings.add(
                "provides-path-loop",
                field,
                f"{describe(path)} (a symbolic link loop)",
                "a folder inside the plugin folder",
                "provides.path is a symbolic link that points back at itself",
            )
            continue
        broken = source_dir.is_symlink() and not source_dir.exists()  # said as such below
        if not broken and not _inside(real, root_real):
            findings.add(
                "provides-path-escape",
                field,
                f"{describe(path)} (a symbolic link leading outside the plugin folder)",
                "a folder inside the plugin folder",
                f"provides.path must stay inside the plugin folder; it resolves to {real}",
            )
            continue
        if entry.get("type") != "python-plugin":
            continue
        python_entry = _check_python_entry(
            findings, entry, index, source_dir, root_real, plugin_name
        )
        if first is None:
            first = python_entry
    return first, findings.problems


def _check_python_entry(
    findings: ProblemCollector,
    entry: Mapping[str, Any],
    index: int,
    source_dir: Path,
    root_real: Path,
    plugin_name: str,
) -> PythonEntry:
    field = f"provides[{index}].path"
    block = entry.get("python")
    block = block if isinstance(block, dict) else {}
    min_version = block.get("min-version")
    min_text = (
        None if min_version is None or isinstance(min_version, dict | list) else str(min_version)
    )
    if not source_dir.is_dir():
        what = "no such folder" if not os.path.lexists(source_dir) else _what_is(source_dir)
        what = "a file, not a folder" if what == "a file" else what
        findings.add(
            "provides-path-not-found",
            field,
            f"{describe(str(entry['path']))} ({what})",
            "an existing folder holding the plugin module",
            "the python-plugin folder does not exist",
            "error",
            RUNTIME,
        )
        return PythonEntry(index, source_dir, None, min_text)
    module = locate_module(source_dir, plugin_name)
    if module is None:
        found = f"none of {', '.join(module_candidates(plugin_name))}"
        odd = [
            f"{name} is {_what_is(source_dir / name)}"
            for name in module_candidates(plugin_name)
            if os.path.lexists(source_dir / name)
        ]
        findings.add(
            "module-not-found",
            field,
            f"{found} ({'; '.join(odd)})" if odd else found,
            f"one of those files in {describe(str(entry['path']))}",
            "the runtime finds no module file for this plugin",
            "error",
            RUNTIME,
        )
    elif not os.access(module, os.R_OK):  # found, but the import would fail
        findings.add(
            "module-unreadable",
            field,
            f"{describe(module.name)} (no read permission)",
            "a module file the plugin's user can read",
            "the plugin module cannot be read, so it cannot be imported",
            "error",
            RUNTIME,
        )
        module = None
    elif not _inside(_resolved(module) or module, root_real):
        named = module.parent != source_dir  # the name-based candidate held a "/"
        how = "the plugin's name makes it a path" if named else "a symbolic link"
        findings.add(
            "module-escape",
            field,
            f"{describe(module.name)} ({how} leading outside the plugin folder)",
            "a module file inside the plugin folder",
            f"the plugin module must stay inside the plugin folder; it resolves to "
            f"{module.resolve()}",
        )
        module = None
    if module is not None and module.stem in sys.stdlib_module_names:
        findings.add(
            "module-shadows-stdlib",
            field,
            describe(module.name),
            "a module name the standard library does not use",
            f"ARO imports the plugin module by its name (from {module.stem} import "
            f"aro_action_…), and gets the standard library's {module.stem} where that was "
            "imported first, so the call fails; aro-tui loads the file by its path",
            "warning",
            HOST,
        )
    shadowing = stdlib_shadows(source_dir, module)
    if shadowing:
        findings.add(
            "shadows-stdlib",
            field,
            ", ".join(shadowing),
            "module names the standard library does not use",
            "named like standard-library modules: an import of one gets the plugin's file or "
            "the standard module depending on what the interpreter imported before the plugin, "
            "which differs between aro-tui's harness and ARO's driver; rename them",
            "warning",
            HOST,
        )
    requirements = block.get("requirements")
    requirements_file: Path | None = None
    if isinstance(requirements, str) and requirements and not path_escapes(requirements):
        requirements_field = f"provides[{index}].python.requirements"
        target = source_dir / requirements
        relative = str(PurePosixPath(str(entry["path"])) / requirements)
        target_real = _resolved(target)
        if target_real is not None and not _inside(target_real, root_real):
            findings.add(
                "requirements-escape",
                requirements_field,
                f"{describe(requirements)} (a symbolic link leading outside the plugin folder)",
                "a file inside the plugin's path",
                f"python.requirements must stay inside the plugin folder; it resolves to "
                f"{target_real}",
            )
        elif target.is_file():
            requirements_file = target
        elif (root_real / requirements).is_file():
            requirements_file = findings.file.parent / requirements  # as found: links kept
            # The chapter's own layout: requirements.txt beside plugin.yaml, code in src/.
            findings.add(
                "requirements-location",
                requirements_field,
                f"{describe(requirements)} beside plugin.yaml, not in {entry['path']}",
                f"the file {describe(relative)}",
                "ARO's installer runs pip3 install -r <plugin>/<provides.path>/<requirements>; "
                "the chapter's layout keeps the file at the plugin root, which it will not find",
                "warning",
                STRICT,
            )
        else:
            findings.add(
                "requirements-not-found",
                requirements_field,
                f"{describe(requirements)} ({'a folder' if target.is_dir() else 'no such file'})",
                f"the file {describe(relative)}",
                "installing runs pip3 install -r on this file, which does not exist",
                "error",
                STRICT,
            )
    requirements_found = plain_requirements(requirements_file) if requirements_file else []
    return PythonEntry(
        index, source_dir, module, min_text, requirements_file, tuple(requirements_found)
    )


MAX_REQUIREMENTS_BYTES = 1024 * 1024
"""How much of a requirements file is read for :func:`plain_requirements`."""
# A name (PEP 508), extras, then version specifiers and a marker, or nothing: `tabulate`,
# `Foo.Bar[x]>=1,<2 ; python_version < "3.12"`. A URL, a path, `name @ url`: no match.
_PLAIN_REQUIREMENT = re.compile(
    r"(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?\s*"
    r"(?:\(?\s*[<>=!~][^;@]*)?(?:;(?P<marker>.*))?"
)
_ARCHIVE_NAME = re.compile(r".*\.(whl|zip|tar\.gz|tgz|tar\.bz2)", re.IGNORECASE)
_OPTIONS = re.compile(r"\s--?[A-Za-z]")
"""Where per-requirement options (``--hash=…``) begin on a line."""


def plain_requirements(file: Path) -> list[Requirement]:
    """The plain requirement lines of ``file`` (a name, extras, versions, a marker), the way
    pip reads them: comments and ``\\`` continuations; ``-r``, ``-e``, options, URLs and
    paths left out (what they install has no name to look for); [] when it cannot be read."""
    try:
        with file.open("rb") as stream:
            text = stream.read(MAX_REQUIREMENTS_BYTES).decode("utf-8", "replace")
    except OSError:
        return []
    found: list[Requirement] = []
    pending, first_line = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            first_line = number
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        line, pending = pending + raw, ""
        line = re.sub(r"(^|\s)#.*", "", line).strip()
        options = _OPTIONS.search(line)
        line = line[: options.start()].strip() if options else line
        match = _PLAIN_REQUIREMENT.fullmatch(line)
        if match is None or line.startswith("-") or _ARCHIVE_NAME.fullmatch(match["name"]):
            continue
        marker = (match["marker"] or "").strip()
        found.append(Requirement(first_line, line, match["name"], marker))
    return found


MAX_NAMED_SHADOWS = 5
"""How many of a plugin's files named like standard-library modules a finding names."""


def stdlib_shadows(source_dir: Path, module: Path | None) -> list[str]:
    """The files and packages in ``source_dir`` (which is first on the plugin's
    ``sys.path``) named like a standard-library module, the plugin module itself aside.

    Why: ``import signal`` then finds whichever was imported first. aro-tui's harness has
    imported ``signal`` before the plugin; ARO's driver has imported ``base64`` instead. A
    plugin's ``src/signal.py`` is its own module under ARO and the standard one here.
    """
    names: list[str] = []
    try:
        with os.scandir(source_dir) as entries:
            for entry in entries:
                stem, is_file = entry.name.removesuffix(".py"), entry.name.endswith(".py")
                if stem not in sys.stdlib_module_names or stem.startswith("_"):
                    continue
                if module is not None and entry.name == module.name:
                    continue
                if is_file or (Path(entry.path) / "__init__.py").is_file():
                    names.append(entry.name + ("" if is_file else "/"))
    except OSError:
        return []
    names.sort()
    if len(names) > MAX_NAMED_SHADOWS:
        names[MAX_NAMED_SHADOWS:] = [f"and {len(names) - MAX_NAMED_SHADOWS} more"]
    return names


def _what_is(path: Path) -> str:
    """What is at ``path`` (which exists or is a link): a folder, a file, a broken link, or a
    special file (a pipe, a socket, a device), for a finding's "found"."""
    if not path.exists():
        return "a broken link"
    if path.is_dir():
        return "a folder"
    if path.is_file():
        return "a file"
    return "not a regular file (a pipe, a socket or a device)"
