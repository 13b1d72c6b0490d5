"""The last JSON input used for each plugin action, remembered across runs.

Stored in ``$XDG_STATE_HOME/aro-tui/inputs.json`` (``~/.local/state`` when unset), written
atomically (temporary file + rename) and bounded in entries and in bytes per input. A
missing file is an empty memory; an unreadable one too, with a ``problem`` to show, and it is
kept as ``inputs.json.unreadable`` when the next input is remembered.

Several dashboards may share the file. Each write holds ``inputs.json.lock`` (``flock``),
re-reads the file and applies only the entries this dashboard set or forgot since its last
write, so one dashboard never erases what another remembered; the last write of an action's
input wins. Reads take in the other dashboards' writes when the file changed (one ``stat``
when it did not).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aro_tui.core.user_files import os_reason, set_aside, unreadable_copy, write_atomically

__all__ = [
    "InitialInput",
    "InputMemory",
    "choose_initial_input",
    "default_memory_path",
    "state_dir",
]

MAX_ENTRIES = 200
MAX_INPUT_BYTES = 64 * 1024
MAX_THIS_RUN_ONLY = 8
"""How many inputs too large to save are kept in memory, the newest (each may be MBs)."""
_FORMAT_VERSION = 1
LOCK_SUFFIX = ".lock"

InputSource = Literal["last used", "template"]
ActionKey = tuple[str, str]
"""(plugin, action)."""
FileIdentity = tuple[int, int, int]
"""(inode, mtime in ns, size in bytes): changes with every write, atomic renames included."""


def state_dir() -> Path:
    """aro-tui's XDG state directory (not created)."""
    base = os.environ.get("XDG_STATE_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "aro-tui"


def default_memory_path() -> Path:
    """Where the input memory lives by default."""
    return state_dir() / "inputs.json"


def lock_file(path: Path) -> Path:
    """The file whose ``flock`` serialises writes to ``path``: ``<name>.lock`` beside it.

    Not ``path`` itself: every write replaces it, and a lock on the replaced file guards nothing.
    """
    return path.with_name(path.name + LOCK_SUFFIX)


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


class _Unreadable(Exception):
    """The memory file exists but cannot be used; the message says why."""


def _identity(status: os.stat_result) -> FileIdentity:
    return (status.st_ino, status.st_mtime_ns, status.st_size)


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
        self._entries: OrderedDict[ActionKey, str] = OrderedDict()
        self.problem: str | None = None
        self.save_error: str | None = None
        """Why the last save failed (``path: reason``), None once one succeeds."""
        """Why the file could not be read, when it could not (shown once, never fatal)."""
        self._unsaved_changes: OrderedDict[ActionKey, str | None] = OrderedDict()
        """Inputs set (text) or forgotten (None) here and not yet merged into the file."""
        self._this_run_only: OrderedDict[ActionKey, str] = OrderedDict()
        """Inputs run that were too large to save, newest last (a few, in memory only)."""
        self._seen_identity: FileIdentity | None = None
        """The file as this memory last read or wrote it (None: there was none)."""
        self._load()

    def __len__(self) -> int:
        self._refresh()
        return len(self._entries)

    def _load(self) -> None:
        if self.path is None:
            return
        try:
            self._entries = self._read_file()
        except _Unreadable as error:
            kept = unreadable_copy(self.path).name
            self.problem = (
                f"{self.path}: {error}; no inputs remembered from earlier runs "
                f"(when one is next remembered, this file is kept as {kept})"
            )

    def _read_file(self) -> OrderedDict[ActionKey, str]:
        """The entries in the file now, oldest first (none when it is missing).

        Records the identity of what it read, usable or not, so an unchanged file is not
        read again. Raises ``_Unreadable`` when the file exists but cannot be used.
        """
        assert self.path is not None
        try:
            with self.path.open("rb") as handle:
                identity = _identity(os.fstat(handle.fileno()))
                raw = handle.read()
        except FileNotFoundError:
            self._seen_identity = None
            return OrderedDict()
        except OSError as error:
            raise _Unreadable(f"cannot be read ({error})") from error
        self._seen_identity = identity
        try:
            data = json.loads(raw.decode("utf-8"))
        except ValueError as error:
            raise _Unreadable(f"cannot be read ({error})") from error
        if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
            raise _Unreadable("not an aro-tui inputs file (no entries list)")
        entries: OrderedDict[ActionKey, str] = OrderedDict()
        for entry in data["entries"][-self.max_entries :]:
            if not isinstance(entry, dict):
                continue
            plugin, action, text = entry.get("plugin"), entry.get("action"), entry.get("input")
            if isinstance(plugin, str) and isinstance(action, str) and isinstance(text, str):
                entries[(plugin, action)] = text
        return entries

    def _refresh(self) -> None:
        """Take in what other dashboards wrote since this memory last read or wrote the file."""
        if self.path is None:
            return
        try:
            identity: FileIdentity | None = _identity(self.path.stat())
        except FileNotFoundError:
            identity = None
        except OSError:
            return
        if identity == self._seen_identity:
            return
        # Keep what this memory holds when the file turned unreadable: the next write sets
        # that file aside and writes these entries.
        with contextlib.suppress(_Unreadable):
            self._entries = self._with_unsaved_changes(self._read_file())

    def _with_unsaved_changes(
        self, entries: OrderedDict[ActionKey, str]
    ) -> OrderedDict[ActionKey, str]:
        """``entries`` (read from the file) with this memory's unsaved changes on top, bounded."""
        for key, text in self._unsaved_changes.items():
            entries.pop(key, None)
            if text is not None:
                entries[key] = text
        while len(entries) > self.max_entries:
            entries.popitem(last=False)
        return entries

    def _record_change(self, key: ActionKey, text: str | None) -> None:
        self._unsaved_changes.pop(key, None)
        self._unsaved_changes[key] = text
        while len(self._unsaved_changes) > self.max_entries:
            self._unsaved_changes.popitem(last=False)

    def get(self, plugin: str, action: str) -> str | None:
        """The last input used for ``plugin``'s ``action``, if any (by any dashboard; one too
        large to save, from this run)."""
        key = (plugin, action)
        if key in self._this_run_only:
            return self._this_run_only[key]
        self._refresh()
        return self._entries.get(key)

    def kept_for_this_run_only(self, plugin: str, action: str) -> bool:
        """Whether ``action``'s last input was too large to save (gone when aro-tui exits)."""
        return (plugin, action) in self._this_run_only

    def remember(self, plugin: str, action: str, text: str) -> bool:
        """Keep ``text`` as the last input of ``action`` and save; False when too large to
        save: then it is kept for this run only (a 70 KB input run was simply lost)."""
        key = (plugin, action)
        if len(text.encode("utf-8", "surrogatepass")) > self.max_input_bytes:
            self._this_run_only.pop(key, None)
            self._this_run_only[key] = text
            while len(self._this_run_only) > MAX_THIS_RUN_ONLY:
                self._this_run_only.popitem(last=False)
            # An older input must not come back next run as "the last input you ran".
            if self._entries.pop(key, None) is not None:
                self._record_change(key, None)
                self.save()
            return False
        self._this_run_only.pop(key, None)
        self._entries.pop(key, None)
        self._entries[key] = text
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        self._record_change(key, text)
        self.save()
        return True

    def forget(self, plugin: str, action: str) -> None:
        """Drop what is remembered for ``action`` (the template is used next time)."""
        self._refresh()
        key = (plugin, action)
        self._this_run_only.pop(key, None)
        if self._entries.pop(key, None) is not None:
            self._record_change(key, None)
            self.save()

    def save(self) -> None:
        """Merge this memory's unsaved changes into the file as it is now, atomically.

        A failure is kept in :attr:`save_error` (memory is a convenience: nothing raises);
        the changes stay unsaved and go with the next save.
        """
        if self.path is None:
            self._unsaved_changes.clear()
            return
        try:
            with self._locked():
                try:
                    entries = self._with_unsaved_changes(self._read_file())
                except _Unreadable:
                    # A hand-edit with a typo in it is kept aside, never silently replaced.
                    set_aside(self.path)
                    entries = self._entries
                write_atomically(self.path, self._serialised(entries))
                self._seen_identity = _identity(self.path.stat())
        except FileExistsError as error:  # mkdir of its folder: a file is in the way
            self.save_error = f"{self.path}: {error.filename} is a file, not a folder"
            return
        except OSError as error:
            self.save_error = f"{self.path}: {os_reason(error)}"
            return
        self.save_error = None
        self._entries = entries
        self._unsaved_changes.clear()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the lock file exclusively: one dashboard reads, merges and writes at a time.

        A blocking wait, on the event loop: a holder keeps the lock only while it reads and
        writes this small file.
        """
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(lock_file(self.path), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            # On a file system without flock the merge still runs, unguarded but brief.
            with contextlib.suppress(OSError):
                fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # releases the lock

    @staticmethod
    def _serialised(entries: OrderedDict[ActionKey, str]) -> str:
        payload = {
            "version": _FORMAT_VERSION,
            "entries": [
                {"plugin": plugin, "action": action, "input": text}
                for (plugin, action), text in entries.items()
            ],
        }
        return json.dumps(payload, ensure_ascii=False)
