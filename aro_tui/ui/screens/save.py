"""A small dialog asking where to save, with a default path filled in; it writes the file
itself, so that a failed write is said in it with the typed path kept."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from aro_tui.core.sanitize import sanitize_line
from aro_tui.ui.formatting import themed_content


class SaveFailed(Exception):
    """What a writer raises, besides ``OSError``, when there is nothing left to save."""


Writer = Callable[[Path], str]
"""Writes the file at the path given (in a worker thread); returns what to tell the user, or
raises ``OSError`` or ``SaveFailed``."""


class SaveDialog(ModalScreen[str | None]):
    """Asks for a path and writes it with ``write``; returns what the writer said (saved), or
    None (Escape).

    Why the dialog writes: when it closed first, a failed write (a folder not writable) was a
    toast, the path typed was lost, and the keys typed next landed in the dashboard.
    """

    CSS_PATH = "save.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="save.cancel"),
    ]

    def __init__(self, title: str, default_path: Path, write: Writer) -> None:
        super().__init__()
        self.title_text = title
        self.default_path = default_path
        self._write = write
        self._writing = False

    def compose(self) -> ComposeResult:
        with Vertical(id="save-panel"):
            yield Static(Text(sanitize_line(self.title_text), style="bold"))
            yield Input(str(self.default_path), id="save-path")
            yield Static(Text("enter: save · escape: cancel", style="dim"), id="save-hint")

    def on_mount(self) -> None:
        self.query_one("#save-path", Input).focus()

    _confirmed: Path | None = None
    """A path that exists, which the user has been told about: Enter again replaces it."""

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self._writing:
            return
        value = event.value.strip()
        if not value:
            self._hint("a path is needed", "$text-error")
            return
        path = Path(value).expanduser()
        try:
            refusal = self._refusal(path, value)
        except OSError as error:  # a name too long for the file system: exists() raises
            self._hint(f"could not save: {_why(error, path)}", "$text-error")
            return
        if refusal is not None:
            self._hint(*refusal)
            return
        self._writing = True
        self.query_one("#save-path", Input).disabled = True
        self._hint(f"saving to {path}…", "dim")
        self._write_in_thread(path)

    def _refusal(self, path: Path, value: str) -> tuple[str, str] | None:
        """Why ``path`` (typed as ``value``) is not written yet, and in what style; None to
        write it."""
        if path.is_dir():
            return f"{path} is a folder: name a file in it", "$text-error"
        if value.endswith("/"):  # Path drops the slash: "bfile/" would replace the file bfile
            what = "a file, not a folder" if path.exists() else "a folder: name a file in it"
            return f"{value} names {what}", "$text-error"
        blocking = _file_in_the_way(path)
        if blocking is not None:  # mkdir would say only "File exists"
            return f"{blocking} is a file, not a folder", "$text-error"
        if path.exists() and path != self._confirmed:
            self._confirmed = path
            return f"{_what_is_there(path)} · escape: cancel", "$text-warning"
        return None

    @work(thread=True, group="save")
    def _write_in_thread(self, path: Path) -> None:
        try:
            message = self._write(path)
        except OSError as error:
            self.app.call_from_thread(self._failed, _why(error, path))
        except SaveFailed as error:
            self.app.call_from_thread(self._failed, str(error))
        else:
            self.app.call_from_thread(self._saved, message)

    def _saved(self, message: str) -> None:
        if self.is_current:
            self.dismiss(message)
        else:  # escape was pressed while it wrote
            self.app.notify(message, markup=False)

    def _failed(self, why: str) -> None:
        if not self.is_current:
            self.app.notify(f"Could not save: {why}", severity="error", markup=False)
            return
        self._writing = False
        self._confirmed = None
        field = self.query_one("#save-path", Input)
        field.disabled = False
        field.focus()
        self._hint(f"could not save: {why} · fix the path, or escape: cancel", "$text-error")

    def on_input_changed(self) -> None:
        """A changed path: what was said of the one before no longer holds."""
        if not self._writing:
            self._confirmed = None
            self._hint("enter: save · escape: cancel", "dim")

    def _hint(self, text: str, style: str) -> None:
        hint = Text.assemble((sanitize_line(text), style))  # a span: themed_content reads it
        self.query_one("#save-hint", Static).update(themed_content(hint))

    def action_cancel(self) -> None:
        """Close without saving (a write under way still finishes, and says how it went)."""
        self.dismiss(None)


def _why(error: OSError, path: Path) -> str:
    """An ``OSError`` of a save in words that name the place: ``[Errno 2] No such file or
    directory: '/proc/x.json'`` said the file was missing, when the folder refuses new files."""
    place = Path(error.filename) if isinstance(error.filename, str) else path
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"no permission to write {place}"
    if error.errno == errno.EROFS:
        return f"{place} is on a read-only file system"
    if error.errno == errno.ENOSPC:
        return f"no space left for {place}"
    if error.errno == errno.ENOENT and place.parent.is_dir():
        return f"{place.parent} takes no new files"
    return f"{error.strerror or error} ({place})"


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest existing folder above ``path`` that is not a folder, if any."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def _what_is_there(path: Path) -> str:
    """What writing to existing ``path`` will do (:func:`~aro_tui.core.user_files.replacing`):
    replace a file, replace a link's target, or write into a device or pipe."""
    if path.is_symlink():
        return f"{path.name} links to {Path(os.path.realpath(path))} · enter: replace that file"
    if not path.is_file():
        return f"{path.name} is a device or a pipe, not a file · enter: write into it"
    return f"{path.name} exists · enter: replace it"
