"""The shared model of a plugin found on disk: what the manifest says and how it will run."""

from __future__ import annotations

import datetime
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from aro_tui.core.plugins.interpreter import Interpreter
from aro_tui.core.plugins.problem import Problem, RuleSet

__all__ = [
    "DiscoveredPlugin",
    "Interpreter",
    "PluginStatus",
    "declared_actions",
    "provides_counts",
    "source_host",
]

PluginStatus = Literal["valid", "invalid", "warnings"]
_SCP_LIKE = re.compile(r"^[\w.-]+@([\w.-]+):")
_URL_HOST = re.compile(r"^[a-z][a-z0-9+.-]*://(?:[^@/]*@)?([^/:?#]+)", re.IGNORECASE)


@dataclass(frozen=True)
class DiscoveredPlugin:
    """One plugin folder: its manifest, module, interpreter and every problem found."""

    name: str
    root: Path
    module_path: Path | None
    interpreter: Interpreter
    declared_actions: tuple[str, ...]
    problems: tuple[Problem, ...]
    manifest: Mapping[str, Any] | None
    name_position: tuple[int | None, int | None] = (None, None)
    """Line and column of the manifest's ``name`` (for a finding about the name)."""

    @property
    def valid(self) -> bool:
        """No error under any rule set: installable by ``aro`` *and* loadable and runnable."""
        return not any(problem.is_error for problem in self.problems)

    @property
    def runnable(self) -> bool:
        """Whether aro-tui can run it as ARO's runtime would load it: a module, and no error
        under the runtime's rules or aro-tui's own. An error only ARO's package manager
        flags (a name outside its pattern...) does not stop the runtime, nor the dashboard."""
        runs = self.valid_under("runtime") and self.valid_under("host")
        return self.module_path is not None and runs

    def valid_under(self, rule_set: RuleSet) -> bool:
        """No error flagged by ``rule_set`` alone (``strict``, ``runtime`` or ``host``)."""
        return not any(p.is_error and rule_set in p.rules for p in self.problems)

    @property
    def status(self) -> PluginStatus:
        """``invalid`` with any error, ``warnings`` with only warnings, else ``valid``."""
        if not self.valid:
            return "invalid"
        return "warnings" if self.problems else "valid"

    @property
    def manifest_file(self) -> Path:
        """The plugin's ``plugin.yaml``."""
        return self.root / "plugin.yaml"

    @property
    def version(self) -> str | None:
        """The manifest's version as text, if it has one."""
        return _text_field(self.manifest, "version")

    @property
    def description(self) -> str | None:
        """The manifest's description, if it has one."""
        return _text_field(self.manifest, "description")

    @property
    def source(self) -> str:
        """The git host of ``source.git``, or ``(local)``."""
        return source_host(self.manifest)

    @property
    def provides(self) -> dict[str, int]:
        """How many ``provides`` entries of each type the manifest declares."""
        return provides_counts(self.manifest)


def _text_field(manifest: Mapping[str, Any] | None, key: str) -> str | None:
    if manifest is None or key not in manifest:
        return None
    value = manifest[key]
    # Plain scalars only: YAML's !!binary and !!set gave b'1.0.0' and a set in varying order.
    scalar = isinstance(value, str | int | float | datetime.date)
    return str(value) if scalar else None


def source_host(manifest: Mapping[str, Any] | None) -> str:
    """``github.com`` for ``https://github.com/a/b.git`` or ``git@github.com:a/b``."""
    source = manifest.get("source") if manifest else None
    git = source.get("git") if isinstance(source, dict) else None
    if not isinstance(git, str) or not git.strip():
        return "(local)"
    match = _URL_HOST.match(git.strip()) or _SCP_LIKE.match(git.strip())
    return match.group(1).lower() if match else git.strip()


def provides_counts(manifest: Mapping[str, Any] | None) -> dict[str, int]:
    """Entries per ``type`` (``?`` for an entry without a readable type), in first-seen order."""
    provides = manifest.get("provides") if manifest else None
    if not isinstance(provides, list):
        return {}
    kinds = Counter(
        str(entry["type"]) if isinstance(entry, dict) and "type" in entry else "?"
        for entry in provides
    )
    return dict(kinds)


def declared_actions(manifest: Mapping[str, Any] | None) -> tuple[str, ...]:
    """Action names from every ``provides[].actions`` (strings or objects with ``name``)."""
    provides = manifest.get("provides") if manifest else None
    names: dict[str, None] = {}
    for entry in provides if isinstance(provides, list) else ():
        actions = entry.get("actions") if isinstance(entry, dict) else None
        for item in actions if isinstance(actions, list) else ():
            name = item.get("name") if isinstance(item, dict) else item
            if isinstance(name, str) and name:
                names[name] = None
    return tuple(names)
