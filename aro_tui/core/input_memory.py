"""The last JSON input used for each plugin action, remembered across runs.

Stored in ``$XDG_STATE_HOME/aro-tui/inputs.json`` (``~/.local/state`` when unset), written
atomically (temporary file + rename) and bounded in entries and in bytes per input. A
missing file is an empty memory; an unreadable one too, with a ``problem`` to show, and it is
kept as ``inputs.json.unreadable`` when the next input is remembered.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aro_tui.core.user_files import set_aside, unreadable_copy, write_atomically

__all__ = [
    "InitialInput",
    "InputMemory",
    "choose_initial_input",
    "default_memory_path",
    "state_dir",
]

MAX_ENTRIES = 200
MAX_INPUT_BYTES = 64 * 1024
_FORMAT_VERSION = 1

InputSource = Literal["last used", "template"]


def state_dir() -> Path:
    """aro-tui's XDG state directory (not created)."""
    base = os.environ.get("XDG_STATE_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "aro-tui"


def default_memory_path() -> Path:
    """Where the input memory lives by default."""
    return state_dir() / "inputs.json"


@dataclass(frozen=True)
class InitialInput:
    """The text the editor starts with for an action, and where it came from."""

    text: str
    source: InputSource


def choose_initial_input(remembered: str | None, template: str) -> InitialInput:
    """The last used input when there is one, else the docstring template.

    The last input wins because it is what the author was working on; the template is
    always one palette command away (``Reset input to template``).
    """
    if remembered is not None and remembered.strip():
        return InitialInput(remembered, "last used")
    return InitialInput(template, "template")


class InputMemory:
    """A bounded, most-recently-used map from (plugin, action) to input text."""

    def __init__(
        self,
        path: Path | None,
        max_entries: int = MAX_ENTRIES,
        max_input_bytes: int = MAX_INPUT_BYTES,
    ) -> None:
        self.path = path
        self.max_entries = max_entries
        self.max_input_bytes = max_input_bytes
        self._entries: OrderedDict[tuple[str, str], str] = OrderedDict()
        self.problem: str | None = None
        """Why the file could not be read, when it could not (shown once, never fatal)."""
        self._set_aside_first = False
        self._load()

    def __len__(self) -> int:
        return len(self._entries)

    def _load(self) -> None:
        if self.path is None:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as error:
            self._unreadable(f"cannot be read ({error})")
            return
        if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
            self._unreadable("not an aro-tui inputs file (no entries list)")
            return
        for entry in data["entries"][-self.max_entries :]:
            if not isinstance(entry, dict):
                continue
            plugin, action, text = entry.get("plugin"), entry.get("action"), entry.get("input")
            if isinstance(plugin, str) and isinstance(action, str) and isinstance(text, str):
                self._entries[(plugin, action)] = text

    def _unreadable(self, why: str) -> None:
        assert self.path is not None
        kept = unreadable_copy(self.path).name
        self._set_aside_first = True
        self.problem = (
            f"{self.path}: {why}; no inputs remembered from earlier runs "
            f"(when one is next remembered, this file is kept as {kept})"
        )

    def get(self, plugin: str, action: str) -> str | None:
        """The last input used for ``plugin``'s ``action``, if any."""
        return self._entries.get((plugin, action))

    def remember(self, plugin: str, action: str, text: str) -> bool:
        """Keep ``text`` as the last input of ``action`` and save; False when too large."""
        if len(text.encode("utf-8", "surrogatepass")) > self.max_input_bytes:
            return False
        key = (plugin, action)
        self._entries.pop(key, None)
        self._entries[key] = text
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        self.save()
        return True

    def forget(self, plugin: str, action: str) -> None:
        """Drop what is remembered for ``action`` (the template is used next time)."""
        if self._entries.pop((plugin, action), None) is not None:
            self.save()

    def save(self) -> None:
        """Write the memory atomically; failures are ignored (memory is a convenience)."""
        if self.path is None:
            return
        payload = {
            "version": _FORMAT_VERSION,
            "entries": [
                {"plugin": plugin, "action": action, "input": text}
                for (plugin, action), text in self._entries.items()
            ],
        }
        try:
            if self._set_aside_first:
                set_aside(self.path)
                self._set_aside_first = False
            write_atomically(self.path, json.dumps(payload, ensure_ascii=False))
        except OSError:
            return
