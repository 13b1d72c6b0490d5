"""Action names to Python function names, and where the runtime finds a plugin's module.

Two rules exist. The chapter's: ``aro_action_`` + the action with ``-`` turned into ``_``.
The public ARO runtime's: ``-`` becomes ``_``, ``_`` goes before every capital letter (but
not the first character), then everything is lower-cased. They agree on lower-case,
hyphenated names (``to-html`` → ``to_html``) and differ as soon as a capital appears
(``ExtractURLs`` → ``extract_u_r_ls`` for the runtime, ``ExtractURLs`` for the chapter).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

ACTION_PREFIX = "aro_action_"
NamingRule = Literal["runtime", "spec"]


def action_function_name(action: str, *, rule: NamingRule = "runtime") -> str:
    """The function-name suffix for ``action`` (after ``aro_action_``) under ``rule``."""
    if rule == "spec":
        return spec_function_name(action)
    pieces: list[str] = []
    for index, character in enumerate(action):
        if character == "-":
            pieces.append("_")
        elif character.isupper() and index > 0:
            pieces.append("_" + character.lower())
        else:
            pieces.append(character.lower())
    return "".join(pieces)


def spec_function_name(action: str) -> str:
    """The chapter's rule: ``-`` becomes ``_`` and nothing else changes."""
    return action.replace("-", "_")


def full_function_name(action: str, *, rule: NamingRule = "runtime") -> str:
    """``aro_action_`` + :func:`action_function_name`."""
    return ACTION_PREFIX + action_function_name(action, rule=rule)


def module_candidates(plugin_name: str) -> tuple[str, ...]:
    """The file names the runtime tries inside ``<plugin>/<provides.path>/``, in order."""
    names = ("plugin.py", f"{plugin_name.replace('-', '_')}.py", "__init__.py", "main.py")
    return tuple(dict.fromkeys(names))


def locate_module(source_dir: Path, plugin_name: str) -> Path | None:
    """The first candidate module file in ``source_dir`` that is a file, or None."""
    for candidate in module_candidates(plugin_name):
        path = source_dir / candidate
        if path.is_file():
            return path
    return None
