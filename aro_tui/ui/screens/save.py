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

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if not value:
            self.query_one("#save-hint", Static).update(Text("a path is needed", style="red"))
            return
        self.dismiss(Path(value).expanduser())

    def action_cancel(self) -> None:
        """Close without saving."""
        self.dismiss(None)
