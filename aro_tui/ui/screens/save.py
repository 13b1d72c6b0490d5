"""A small dialog asking where to save, with a default path filled in."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from aro_tui.core.sanitize import sanitize_line


class SaveDialog(ModalScreen[Path | None]):
    """Returns the chosen path (Enter), or None (Escape)."""

    CSS_PATH = "save.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="save.cancel"),
    ]

    def __init__(self, title: str, default_path: Path) -> None:
        super().__init__()
        self.title_text = title
        self.default_path = default_path

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
        value = event.value.strip()
        if not value:
            self._hint("a path is needed", "red")
            return
        path = Path(value).expanduser()
        if path.is_dir():
            self._hint(f"{path} is a folder: name a file in it", "red")
            return
        if value.endswith("/"):  # Path drops the slash: "bfile/" would replace the file bfile
            what = "a file, not a folder" if path.exists() else "a folder: name a file in it"
            self._hint(f"{value} names {what}", "red")
            return
        blocking = _file_in_the_way(path)
        if blocking is not None:  # mkdir would say only "File exists"
            self._hint(f"{blocking} is a file, not a folder", "red")
            return
        if path.exists() and path != self._confirmed:
            self._confirmed = path
            self._hint(f"{path.name} exists · enter: replace it · escape: cancel", "yellow")
            return
        self.dismiss(path)

    def on_input_changed(self) -> None:
        if self._confirmed is not None:
            self._confirmed = None
            self._hint("enter: save · escape: cancel", "dim")

    def _hint(self, text: str, style: str) -> None:
        self.query_one("#save-hint", Static).update(Text(sanitize_line(text), style=style))

    def action_cancel(self) -> None:
        """Close without saving."""
        self.dismiss(None)


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest existing folder above ``path`` that is not a folder, if any."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None
